//! The offline dance feature networks (issue 12, item 3): a frame encoder
//! and a clip encoder trained deterministically by entprog on the TRAIN
//! split of the synthetic dance datasets, standing in for Inception, I3D
//! and LPIPS's networks where those weights are absent. Their metrics are
//! named for them (`fid_dance`, `fvd_dance`, `lpips_dance`, `pck_dance`,
//! `kp_error_px_dance`) and are not comparable with published numbers.
//!
//! Files, one concept each:
//! - [`config`]: `experiments/nets/dance.toml`, validated, and the two cache keys.
//! - [`data`]: labelled frames and clips of one split, seeded batch order.
//! - [`frame_encoder`]: the conv frame encoder with keypoint, visibility and identity heads.
//! - [`clip_encoder`]: the (2+1)D clip encoder with identity, order and motion heads.
//! - [`train`]: seeded initialisation and the two training loops.
//! - [`cell`]: the networks as cached result cells; loading them.
//! - [`metrics`]: the metrics the networks make.
//! - [`train_all`]: both networks trained or reused, with their checks (`entprog nets train`).

pub mod cell;
pub mod clip_encoder;
pub mod config;
pub mod data;
pub mod frame_encoder;
pub mod metrics;
pub mod train;
pub mod train_all;

use std::path::PathBuf;

pub use cell::{ensure, DanceNets, Net, NetCell, NetStepRow};
pub use config::{ClipEncoderConfig, DanceNetsConfig, FrameEncoderConfig, NETS_VERSION};
pub use metrics::{DanceMetric, DanceReference};

/// Why a network could not be trained, loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum DanceError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    RunDir(#[from] crate::results::RunDirError),
    #[error(transparent)]
    Table(#[from] crate::results::TableError),
    #[error("dance networks: tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{path}: cannot read the network's weights: {source}")]
    Weights { path: PathBuf, source: candle_core::Error },
    #[error("{dir}: the network is not trained (run `entprog nets train` or `entprog reproduce` first)")]
    NotTrained { dir: PathBuf },
    #[error("dance metrics: {0}")]
    Frechet(#[from] crate::eval::frechet::FrechetError),
}

/// Loads `experiments/nets/dance.toml` (or another file) with `--set`
/// flags; the `ENTPROG_*` environment is for experiments and not read here.
pub fn load_config(path: &std::path::Path, sets: &[String]) -> Result<DanceNetsConfig, DanceError> {
    Ok(crate::config::load::load_with_env::<DanceNetsConfig, _>(path, sets, Vec::new())?.config)
}
