//! What the scoring passes of an experiment look at, built the same way by
//! `entprog cei`, the schedules and the probes: the stage's starting model,
//! the CEI samples, the held-out set and the scoring settings, all from the
//! experiment's config.

use candle_core::Device;

use super::heldout::HeldOut;
use super::score::{denoiser_samples, DenoiserSamples, ScoreError, ScoreSettings};
use crate::config::ExperimentConfig;
use crate::data::Split;
use crate::diffusion::NoiseSchedule;
use crate::results::{RunDir, RunDirError};
use crate::train::trainer::{TrainError, Trainer};

/// The stage's starting model: built from the seed, then the weights of
/// `train.init_from` (recorded as an input of `rd`), gates from the stage's plan.
pub fn starting_trainer(cfg: &ExperimentConfig, rd: &mut RunDir) -> Result<Trainer, StartError> {
    let model = cfg.model.build(cfg.seed, &Device::Cpu).map_err(TrainError::from)?;
    let mut trainer = Trainer::new(model, cfg.train.clone(), cfg.diffusion.clone(), cfg.seed)?;
    if let Some(base) = &cfg.train.init_from {
        rd.add_input(base)?;
        trainer.init_from(base)?;
    }
    Ok(trainer)
}

/// Why the starting model could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("{0}")]
    Train(Box<TrainError>),
}

impl From<TrainError> for StartError {
    fn from(e: TrainError) -> Self {
        StartError::Train(Box::new(e))
    }
}

/// The `[cei]` settings of `cfg` as scoring settings.
pub fn settings(cfg: &ExperimentConfig) -> ScoreSettings {
    let c = &cfg.cei;
    ScoreSettings {
        draws: c.draws,
        resamples: c.resamples,
        knn_dims: c.knn_dims,
        knn_k: c.knn_k,
        seed: cfg.seed,
    }
}

/// The CEI samples of `cfg` (`[cei]` conditions x draws from the test split).
pub fn cei_samples(cfg: &ExperimentConfig, schedule: &NoiseSchedule) -> Result<Vec<DenoiserSamples>, ScoreError> {
    let c = &cfg.cei;
    let loader = cfg
        .data
        .loader(cfg.data.open()?, Split::Test, c.batch_conditions, cfg.seed);
    denoiser_samples(
        &loader,
        schedule,
        c.conditions,
        c.draws,
        c.batch_conditions,
        cfg.train.stage.conditions(),
        cfg.seed,
        &Device::Cpu,
    )
}

/// The held-out set of `cfg` (`schedule.heldout_batches` test batches of `train.batch_size`).
pub fn heldout(cfg: &ExperimentConfig, schedule: &NoiseSchedule) -> Result<HeldOut, crate::data::DataError> {
    let loader = cfg
        .data
        .loader(cfg.data.open()?, Split::Test, cfg.train.batch_size, cfg.seed);
    HeldOut::new(
        &loader,
        cfg.schedule.heldout_batches,
        schedule,
        cfg.train.stage.conditions(),
        cfg.seed,
        &Device::Cpu,
    )
}
