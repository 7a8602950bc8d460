//! One training step and the state it updates: draw a batch and the
//! diffusion noise, predict, take the loss of the prediction target (eps or v), backpropagate through what
//! the gates allow, clip, update AdamW and the EMA.
//!
//! This file is one step and the state it updates; the loop that asks the
//! policy, records, evaluates and checkpoints is `run.rs`. IO stays
//! outside: batches come from a [`BatchSource`].
//! Peak memory comes from the crate's counting allocator.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::diffusion::{add_noise, draw_training_noise, prediction_loss, target, DiffusionConfig, NoiseSchedule};
use crate::model::{step_flops_with, Conditions, Denoiser, GateError, Inputs, ModelError, StepFlops, Tape};

use super::adamw::{clip_scale, grad_norm, AdamW};
use super::ema::Ema;
use super::lr::lr_at;
use crate::experiment::train::{ActivationCheckpointing, TrainConfig};
use crate::results::checkpoint::{self, CheckpointError, LoadReport, TrainState};

/// One training batch (the data loader's `Batch` without its bookkeeping).
#[derive(Debug, Clone)]
pub struct TrainBatch {
    /// Reference images `[b, 3, H, W]` in [-1, 1].
    pub reference: Tensor,
    /// Target clips `[b, t, 3, H, W]` in [-1, 1] (images: t = 1).
    pub frames: Tensor,
    /// Pose maps `[b, t, 3, H, W]` in [-1, 1].
    pub poses: Tensor,
}

/// Where batches come from: a pure function of the step, so resume replays them.
pub trait BatchSource {
    /// The batch of step `step`.
    fn batch(&mut self, step: u64, device: &Device) -> Result<TrainBatch, String>;
}

impl<F: FnMut(u64, &Device) -> Result<TrainBatch, String>> BatchSource for F {
    fn batch(&mut self, step: u64, device: &Device) -> Result<TrainBatch, String> {
        self(step, device)
    }
}

/// What one step did and cost (a row of `steps.parquet`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    /// 0-based step index.
    pub step: u64,
    /// MSE of the prediction target (eps or v).
    pub loss: f32,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Wall seconds of the step (batch loading excluded).
    pub wall_s: f64,
    /// Analytic FLOPs of what ran.
    pub flops: StepFlops,
    /// Peak heap bytes of the whole process during the step.
    pub peak_bytes: u64,
    /// Peak heap bytes above the level at the step's start (what the step itself needed).
    pub step_peak_bytes: u64,
    /// Scalars updated this step (trainable and reached by a gradient).
    pub trainable_params: usize,
    /// Index of the schedule stage the step belongs to (0 without a schedule).
    #[serde(default)]
    pub stage: usize,
    /// Whether a supernet or a regular training step.
    #[serde(default)]
    pub phase: Phase,
    /// Unfrozen blocks m of a scheduled step.
    #[serde(default)]
    pub m: Option<u32>,
}

pub use crate::entprog::progressive::Phase;

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model refused its inputs or failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A gate plan names units the model lacks.
    #[error("gate plan: {0}")]
    Gate(#[from] GateError),
    /// A tensor operation failed outside the model.
    #[error("step {step}: {source}")]
    Tensor { step: u64, source: candle_core::Error },
    /// The loss or gradient became NaN or infinite; no update was applied.
    #[error("step {step}: the {what} is {value}; stopping (last good checkpoint: {})", last_checkpoint.as_ref().map_or("none".into(), |p| p.display().to_string()))]
    NonFinite {
        step: u64,
        what: &'static str,
        value: f64,
        last_checkpoint: Option<PathBuf>,
    },
    /// Reading or writing a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint belongs to another run.
    #[error("checkpoint {path} was written with seed {found}, this run has seed {expected}")]
    SeedMismatch { path: PathBuf, found: u64, expected: u64 },
    /// The batch source failed.
    #[error("step {step}: data: {message}")]
    Data { step: u64, message: String },
}

impl TrainError {
    /// A non-finite stop names `last_good` as the checkpoint to go back to;
    /// other errors pass through.
    pub fn naming_checkpoint(self, last_good: &Option<PathBuf>) -> Self {
        match self {
            TrainError::NonFinite { step, what, value, .. } => TrainError::NonFinite {
                step,
                what,
                value,
                last_checkpoint: last_good.clone(),
            },
            other => other,
        }
    }
}

/// Whether to checkpoint after `done` completed steps: every
/// `checkpoint_every` steps and always at the end.
pub fn should_checkpoint(done: u64, cfg: &TrainConfig) -> bool {
    done == cfg.steps || (cfg.checkpoint_every > 0 && done.is_multiple_of(cfg.checkpoint_every))
}

/// Whether to evaluate after `done` completed steps: every `eval_every`
/// steps (0 = never) and at the end of a run that evaluates at all.
pub fn should_evaluate(done: u64, cfg: &TrainConfig) -> bool {
    cfg.eval_every > 0 && (done == cfg.steps || done.is_multiple_of(cfg.eval_every))
}

/// A model, its optimizer and EMA, and the run's position.
pub struct Trainer {
    /// The denoiser being trained.
    pub model: Denoiser,
    /// Optimizer with saveable state.
    pub opt: AdamW,
    /// Weight average, when enabled.
    pub ema: Option<Ema>,
    /// Training settings.
    pub train: TrainConfig,
    /// Diffusion settings.
    pub diffusion: DiffusionConfig,
    /// Root seed of the run.
    pub seed: u64,
    /// Completed steps.
    pub step: u64,
    /// Hash of the resolved experiment config, stored in checkpoints.
    pub config_hash: Option<String>,
    /// Backward one block at a time through a [`Tape`] (the default): the
    /// same gradients bit for bit as one whole-graph backward, with each
    /// block's activations freed as soon as its gradients are through. Off
    /// only to measure what it saves (`entprog bench train-step`, `-whole`).
    pub taped_backward: bool,
    schedule: NoiseSchedule,
}

impl Trainer {
    /// Applies the stage's gate plan to `model` and sets up the optimizer.
    pub fn new(
        mut model: Denoiser,
        train: TrainConfig,
        diffusion: DiffusionConfig,
        seed: u64,
    ) -> Result<Self, TrainError> {
        model.set_gates(train.gates.apply(model.gates().names())?)?;
        let ema = if train.ema_decay > 0.0 {
            Some(Ema::new(train.ema_decay, model.params()).map_err(|source| TrainError::Tensor { step: 0, source })?)
        } else {
            None
        };
        let schedule = diffusion.build();
        Ok(Self {
            opt: AdamW::new(train.adamw()).with_fused(model.config().kernels == crate::model::ops::Kernels::Fused),
            model,
            ema,
            train,
            diffusion,
            seed,
            step: 0,
            config_hash: None,
            taped_backward: true,
            schedule,
        })
    }

    /// The noise schedule in use.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// Starts from the weights of a previous stage's checkpoint (optimizer
    /// state and step are not carried over; new parameters keep their init
    /// and are listed in the report). A checkpoint of another architecture
    /// is refused, naming the first mismatch.
    pub fn init_from(&mut self, path: &Path) -> Result<LoadReport, TrainError> {
        let report = checkpoint::init_weights(path, &self.model)?;
        if let Some(ema) = &mut self.ema {
            *ema = Ema::new(ema.decay, self.model.params()).map_err(|source| TrainError::Tensor { step: 0, source })?;
        }
        Ok(report)
    }

    /// Continues an interrupted run: weights, AdamW state, EMA, step and gates.
    pub fn resume(&mut self, path: &Path) -> Result<(), TrainError> {
        let ck = checkpoint::load(path, self.model.device())?;
        if ck.state.seed != self.seed {
            return Err(TrainError::SeedMismatch {
                path: path.into(),
                found: ck.state.seed,
                expected: self.seed,
            });
        }
        checkpoint::load_fitting(path, &self.model, &ck, true)?;
        self.opt.set_state(ck.moments);
        if let Some(ema) = &mut self.ema {
            *ema = Ema::from_weights(ema.decay, ck.ema);
        }
        self.model.set_gates(ck.state.gates)?;
        self.step = ck.state.step;
        Ok(())
    }

    /// Writes a checkpoint of the current state.
    pub fn save(&self, path: &Path, last_loss: Option<f32>) -> Result<(), TrainError> {
        let streams = ["data", "noise", "timesteps", "cond_dropout"]
            .iter()
            .map(|s| (s.to_string(), self.step))
            .collect();
        let state = TrainState {
            step: self.step,
            seed: self.seed,
            streams,
            adam_steps: self.opt.state().iter().map(|(n, m)| (n.clone(), m.step)).collect(),
            gates: self.model.gates().clone(),
            last_loss,
            config_hash: self.config_hash.clone(),
            model: Some(self.model.config().clone()),
            diffusion: Some(self.diffusion.clone()),
        };
        checkpoint::save(
            path,
            &self.model,
            self.opt.state(),
            self.ema.as_ref().map(|e| e.weights()),
            &state,
        )?;
        Ok(())
    }

    /// Fetches the batch of the current step from `data` and trains on it.
    pub fn next_step(&mut self, data: &mut impl BatchSource) -> Result<StepRecord, TrainError> {
        let step = self.step;
        let batch = data
            .batch(step, self.model.device())
            .map_err(|message| TrainError::Data { step, message })?;
        self.train_step(&batch)
    }

    /// The model inputs of `batch` at noise level x_t, for this stage.
    fn inputs<'a>(
        &self,
        batch: &'a TrainBatch,
        x_t: &'a Tensor,
        timesteps: &'a [usize],
        keep: &'a [f32],
    ) -> Inputs<'a> {
        let (reference, pose) = self.train.stage.conditions();
        Inputs {
            x_t,
            timesteps,
            reference: reference.then_some(&batch.reference),
            poses: pose.then_some(&batch.poses),
            cond_keep: Some(keep),
        }
    }

    /// One optimizer step on `batch` (step index `self.step`).
    pub fn train_step(&mut self, batch: &TrainBatch) -> Result<StepRecord, TrainError> {
        crate::kernels::in_pool(|| self.train_step_in_pool(batch))
    }

    fn train_step_in_pool(&mut self, batch: &TrainBatch) -> Result<StepRecord, TrainError> {
        let step = self.step;
        let tensor = |source| TrainError::Tensor { step, source };
        let memory = crate::memory::PeakScope::start();
        let start = Instant::now();
        let lr = lr_at(step, self.train.lr, self.train.warmup_steps);
        let dims = batch.frames.dims().to_vec();
        // `fixed_draws` (debugging): every step reuses step 0's draws.
        let draw_step = if self.train.fixed_draws { 0 } else { step };
        let draw = draw_training_noise(
            self.seed,
            draw_step,
            &dims,
            &self.schedule,
            self.diffusion.cond_dropout,
            self.model.device(),
        )
        .map_err(tensor)?;
        let x_t = add_noise(&batch.frames, &draw.noise, &draw.timesteps, &self.schedule).map_err(tensor)?;
        let inputs = self.inputs(batch, &x_t, &draw.timesteps, &draw.cond_keep);
        let checkpointing = self.train.activation_checkpointing == ActivationCheckpointing::Blocks;
        let mut tape = if self.taped_backward {
            Tape::new().recomputing(checkpointing)
        } else {
            Tape::whole()
        };
        let pred = self.model.forward_taped(&inputs, &mut tape)?;
        let target = target(
            &batch.frames,
            &draw.noise,
            &draw.timesteps,
            &self.schedule,
            self.diffusion.prediction,
        )
        .map_err(tensor)?;
        let loss = prediction_loss(&pred, &target).map_err(tensor)?;
        drop(pred);
        let loss_value = loss.to_scalar::<f32>().map_err(tensor)?;
        if !loss_value.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: "loss",
                value: loss_value as f64,
                last_checkpoint: None,
            });
        }
        let grads = tape.backward(loss).map_err(tensor)?;
        let params = self.model.trainable_params();
        let norm = grad_norm(&params, &grads).map_err(tensor)?;
        if !norm.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: "gradient norm",
                value: norm,
                last_checkpoint: None,
            });
        }
        self.opt
            .step(&params, &grads, lr, clip_scale(norm, self.train.grad_clip))
            .map_err(tensor)?;
        if let Some(ema) = &mut self.ema {
            ema.update(&params).map_err(tensor)?;
        }
        // Count what was updated: a trainable unit's parameter that the stage
        // never reaches (a pose projection without poses) has no gradient.
        let trainable_params = params
            .iter()
            .filter(|p| grads.get(p.var.as_tensor()).is_some())
            .map(|p| p.var.elem_count())
            .sum();
        drop(grads);
        let (reference, pose) = self.train.stage.conditions();
        let flops = step_flops_with(
            self.model.config(),
            self.model.gates(),
            Conditions { pose, reference },
            dims[0],
            dims[1],
            trainable_params,
            checkpointing && self.taped_backward,
        );
        self.step += 1;
        Ok(StepRecord {
            step,
            loss: loss_value,
            lr,
            grad_norm: norm,
            wall_s: start.elapsed().as_secs_f64(),
            flops,
            peak_bytes: memory.peak() as u64,
            step_peak_bytes: memory.peak_above_start() as u64,
            trainable_params,
            stage: 0,
            phase: Phase::Train,
            m: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluations_fall_on_the_interval_and_at_the_end_only_when_asked() {
        let cfg = TrainConfig {
            steps: 25,
            eval_every: 10,
            ..TrainConfig::default()
        };
        let at: Vec<u64> = (1..=25).filter(|&d| should_evaluate(d, &cfg)).collect();
        assert_eq!(at, vec![10, 20, 25]);
        let never = TrainConfig { eval_every: 0, ..cfg };
        assert!((1..=25).all(|d| !should_evaluate(d, &never)));
    }

    #[test]
    fn checkpoints_fall_on_the_interval_and_at_the_end() {
        let cfg = TrainConfig {
            steps: 25,
            checkpoint_every: 10,
            ..TrainConfig::default()
        };
        let at: Vec<u64> = (1..=25).filter(|&d| should_checkpoint(d, &cfg)).collect();
        assert_eq!(at, vec![10, 20, 25]);
        let end_only = TrainConfig {
            checkpoint_every: 0,
            ..cfg
        };
        assert_eq!((1..=25).filter(|&d| should_checkpoint(d, &end_only)).count(), 1);
    }
}
