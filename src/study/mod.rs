//! Studies: the `reproduce` targets (`target.rs`), their cell graph under a
//! profile (`cells.rs`), the runner (`reproduce.rs`) and the evaluation
//! cell (`evaluate.rs`); and the cells that are not a training run: the
//! scoring pass of `entprog cei` (block priorities of a stage's starting
//! model, with every scorer), the ranking cell a study's runs share
//! (`ranking.rs`) and the Figure 1b-c skip probe.

pub mod all;
pub mod blocks;
mod build;
pub mod cei;
pub mod cei_samples;
pub mod cells;
pub mod estimate;
pub mod eval_run;
pub mod evaluate;
pub mod graph;
pub mod include;
pub mod local;
pub mod probe;
pub mod ranking;
pub mod reproduce;
pub mod slurm;
pub mod target;

use candle_core::Device;

use crate::diffusion::NoiseSchedule;
use crate::experiment::ExperimentConfig;
use crate::model::Denoiser;
use crate::results::checkpoint::{init_weights, CheckpointError};
use crate::results::{RunDir, RunDirError};

/// Why the starting model could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("train.gates: {0}")]
    Gate(#[from] crate::model::GateError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
}

/// The stage's starting model and noise schedule: built from the seed,
/// gates from the stage's plan, then the weights of `train.init_from`
/// (recorded as an input of `rd`; a hub reference, pinned by the caller
/// with [`crate::experiment::pin_experiment`] before it opened `rd`, is pulled).
pub fn starting_model(cfg: &ExperimentConfig, rd: &mut RunDir) -> Result<(Denoiser, NoiseSchedule), StartError> {
    let mut model = cfg.model.build(cfg.seed, &Device::Cpu)?;
    model.set_gates(cfg.train.gates.apply(model.gates().names())?)?;
    if let Some(configured) = &cfg.train.init_from {
        let base = crate::hub::checkpoint(configured)?;
        rd.add_input_from(&base.path, base.source)?;
        init_weights(&base.path, &model)?;
    }
    Ok((model, cfg.diffusion.build()))
}
