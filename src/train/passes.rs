//! The model passes a run performs for its policy and its evaluations: a
//! scoring pass when the schedule asks for a priority order (or, with
//! `schedule.ranking`, the checked precomputed order of `ranking.rs` for
//! the first stage, so runs that start from one checkpoint share one
//! scoring pass), the held-out
//! loss when the supernet asks for one, and the periodic held-out
//! evaluation. The evidence (CEI samples, held-out sets) is built from the
//! experiment's config on first use; CEI samples are dropped after each
//! scoring (N = 256 8-frame clips with their poses are 54 MB, which a run
//! that kept them carried through every later step).

use std::time::Instant;

use super::evidence;
use crate::entprog::decisions::Decision;
use crate::entprog::heldout::HeldOut;
use crate::entprog::progressive::Progressive;
use crate::entprog::scorers::{score, Evidence, Scorer};
use crate::experiment::ExperimentConfig;
use crate::model::Denoiser;

use super::ranking::{Expected, Ranking};
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
    #[error(transparent)]
    Ranking(#[from] super::ranking::RankingError),
    #[error("train.init_from = {path}: {message}")]
    Checkpoint { path: std::path::PathBuf, message: String },
}

/// Scores `ids` of `model` with `scorer` from the evidence of `cfg`: CEI
/// samples built (and dropped) here, the held-out set `heldout` where the
/// scorer needs one. The one scoring code path of a run and of a ranking
/// cell, so a shared ranking equals the one a run would make itself.
pub fn score_with(
    cfg: &ExperimentConfig,
    schedule: &crate::diffusion::NoiseSchedule,
    model: &mut Denoiser,
    ids: &[crate::model::BlockId],
    scorer: Scorer,
    key: u64,
    heldout: Option<&HeldOut>,
) -> Result<crate::entprog::scorers::Scores, PassError> {
    let cei = if scorer.needs_cei() {
        Some(evidence::cei_samples(cfg, schedule)?)
    } else {
        None
    };
    let cei_inputs: Option<Vec<_>> = cei.as_ref().map(|c| c.iter().map(|s| s.inputs()).collect());
    let heldout = heldout.map(HeldOut::inputs);
    let ev = Evidence::<Denoiser> {
        cei: cei_inputs.as_deref(),
        heldout: heldout.as_deref(),
        settings: evidence::settings(cfg),
    };
    Ok(score(scorer, model, ids, &ev, key)?)
}

/// The SHA-256 of the checkpoint `train.init_from` resolves to (none without one).
pub fn init_checkpoint(cfg: &ExperimentConfig) -> Result<Option<(std::path::PathBuf, String)>, PassError> {
    let Some(configured) = &cfg.train.init_from else {
        return Ok(None);
    };
    let fail = |message: String| PassError::Checkpoint {
        path: configured.clone(),
        message,
    };
    let base = crate::hub::checkpoint(configured).map_err(|e| fail(e.to_string()))?;
    let sha = crate::config::hash::file_sha256(&base.path).map_err(|e| fail(e.to_string()))?;
    Ok(Some((base.path, sha)))
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
        let scores = match (scorer, &self.cfg.schedule.ranking) {
            (None, _) => None,
            // The first stage's order, precomputed: checked, then taken as scored.
            (Some(scorer), Some(path)) if stage == 0 => Some(self.given_ranking(path, scorer, &policy.ids)?),
            (Some(scorer), _) => {
                if scorer.needs_heldout() {
                    self.heldout(trainer)?;
                }
                let (schedule, heldout) = (trainer.schedule().clone(), self.heldout.as_ref());
                Some(score_with(
                    self.cfg,
                    &schedule,
                    &mut trainer.model,
                    &policy.ids,
                    scorer,
                    stage as u64,
                    heldout,
                )?)
            }
        };
        Ok(policy.ranked(step, stage, scores.as_ref(), start.elapsed().as_secs_f64()))
    }

    /// The ranking at `path`, checked against this run: its blocks `ids`,
    /// `scorer`, starting checkpoint, dataset and `[cei]` settings.
    fn given_ranking(
        &self,
        path: &std::path::Path,
        scorer: Scorer,
        ids: &[crate::model::BlockId],
    ) -> Result<crate::entprog::scorers::Scores, PassError> {
        let (file, ranking) = Ranking::load(path)?;
        if let Some(hash) = &self.cfg.schedule.ranking_hash {
            let dir = file.parent().unwrap_or(std::path::Path::new("."));
            crate::results::manifest::check_producer(dir, hash).map_err(super::ranking::RankingError::Producer)?;
        }
        let checkpoint = init_checkpoint(self.cfg)?;
        ranking.check(
            &file,
            &Expected {
                scorer,
                ids,
                init_from: self.cfg.train.init_from.as_deref(),
                checkpoint_sha256: checkpoint.map(|c| c.1),
                dataset: &self.cfg.data.dataset,
                cei: &self.cfg.cei,
                sampling: super::ranking::sampling_settings(self.cfg),
            },
        )?;
        Ok(ranking.scores(scorer, ids))
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
