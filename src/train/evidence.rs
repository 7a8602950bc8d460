//! What the scoring passes of an experiment look at, built the same way by
//! `entprog cei`, the schedules and the probes: the CEI samples, the
//! held-out set and the scoring settings, all from the experiment's config.

use candle_core::Device;

use crate::data::Split;
use crate::diffusion::NoiseSchedule;
use crate::entprog::heldout::HeldOut;
use crate::entprog::score::{denoiser_samples, DenoiserSamples, ScoreError, ScoreSettings};
use crate::experiment::ExperimentConfig;

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

/// A held-out set of `cfg`: `batches` fixed test batches of `train.batch_size`
/// (the supernet's uses `schedule.heldout_batches`, the periodic evaluation
/// `data.eval_batches`).
pub fn heldout(
    cfg: &ExperimentConfig,
    schedule: &NoiseSchedule,
    batches: usize,
) -> Result<HeldOut, crate::data::DataError> {
    let loader = cfg
        .data
        .loader(cfg.data.open()?, Split::Test, cfg.train.batch_size, cfg.seed);
    HeldOut::new(
        &loader,
        batches,
        schedule,
        cfg.diffusion.prediction,
        cfg.train.stage.conditions(),
        cfg.seed,
        &Device::Cpu,
    )
}
