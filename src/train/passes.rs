//! The model passes a run performs for its policy and its evaluations: a
//! scoring pass when the schedule asks for a priority order, the held-out
//! loss when the supernet asks for one, and the periodic held-out
//! evaluation. The evidence (CEI samples, held-out sets) is built from the
//! experiment's config on first use; CEI samples are dropped after each
//! scoring (N = 256 8-frame clips with their poses are 54 MB, which a run
//! that kept them carried through every later step).

use std::time::Instant;

use crate::config::ExperimentConfig;
use crate::entprog::decisions::Decision;
use crate::entprog::evidence;
use crate::entprog::heldout::HeldOut;
use crate::entprog::progressive::Progressive;
use crate::entprog::scorers::{score, Evidence, Scorer};
use crate::model::Denoiser;

use super::trainer::{TrainError, Trainer};

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("block scoring: {0}")]
    Score(#[from] crate::entprog::score::ScoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Train(#[from] Box<TrainError>),
}

/// The evidence of one run, built on first use.
pub struct Passes<'a> {
    cfg: &'a ExperimentConfig,
    /// The supernet's held-out set (`schedule.heldout_batches` batches).
    heldout: Option<HeldOut>,
    /// The periodic evaluation's held-out set (`data.eval_batches` batches).
    eval: Option<HeldOut>,
}

impl<'a> Passes<'a> {
    pub fn new(cfg: &'a ExperimentConfig) -> Self {
        Self {
            cfg,
            heldout: None,
            eval: None,
        }
    }

    fn heldout(&mut self, trainer: &Trainer) -> Result<&HeldOut, PassError> {
        if self.heldout.is_none() {
            self.heldout = Some(evidence::heldout(
                self.cfg,
                trainer.schedule(),
                self.cfg.schedule.heldout_batches,
            )?);
        }
        Ok(self.heldout.as_ref().expect("just built"))
    }

    /// Scores the policy's blocks with `scorer` (none: no ranking) and
    /// returns the decision that records the priority order of `stage`.
    pub fn rank(
        &mut self,
        policy: &Progressive,
        scorer: Option<Scorer>,
        stage: usize,
        step: u64,
        trainer: &mut Trainer,
    ) -> Result<Decision, PassError> {
        let start = Instant::now();
        let scores = match scorer {
            None => None,
            Some(scorer) => {
                let cei = if scorer.needs_cei() {
                    Some(evidence::cei_samples(self.cfg, trainer.schedule())?)
                } else {
                    None
                };
                let cei_inputs: Option<Vec<_>> = cei.as_ref().map(|c| c.iter().map(|s| s.inputs()).collect());
                if scorer.needs_heldout() {
                    self.heldout(trainer)?;
                }
                let heldout = self.heldout.as_ref().map(HeldOut::inputs);
                let ev = Evidence::<Denoiser> {
                    cei: cei_inputs.as_deref(),
                    heldout: heldout.as_deref(),
                    settings: evidence::settings(self.cfg),
                };
                Some(score(scorer, &mut trainer.model, &policy.ids, &ev, stage as u64)?)
            }
        };
        Ok(policy.ranked(step, stage, scores.as_ref(), start.elapsed().as_secs_f64()))
    }

    /// The supernet's held-out loss of the model as it is now, as the
    /// decision of `stage` after `step` completed steps.
    pub fn heldout_loss(&mut self, stage: usize, step: u64, trainer: &Trainer) -> Result<Decision, PassError> {
        let start = Instant::now();
        let loss = self
            .heldout(trainer)?
            .loss(&trainer.model)
            .map_err(|e| Box::new(TrainError::from(e)))?;
        Ok(Decision::HeldOut {
            step,
            stage,
            loss,
            wall_s: start.elapsed().as_secs_f64(),
        })
    }

    /// The periodic evaluation: the held-out loss on `data.eval_batches`
    /// fixed test batches (fixed tau and noise), and the clips it covers.
    pub fn evaluate(&mut self, trainer: &Trainer) -> Result<(f64, usize), PassError> {
        if self.eval.is_none() {
            self.eval = Some(evidence::heldout(
                self.cfg,
                trainer.schedule(),
                self.cfg.data.eval_batches,
            )?);
        }
        let set = self.eval.as_ref().expect("just built");
        let loss = set.loss(&trainer.model).map_err(|e| Box::new(TrainError::from(e)))?;
        Ok((loss, set.batches.iter().map(|b| b.len()).sum()))
    }
}
