//! The pose-guided video denoiser (docs/paper.md §1, docs/design.md#model): DiT-style
//! spatial blocks with adaLN-zero, a reference encoder, a pose guider,
//! temporal blocks, and a gate on every unit.

pub mod attention;
pub mod block;
pub mod config;
pub mod dit;
mod dit_blocks;
mod dit_forward;
pub mod embed;
mod final_layer;
pub mod flops;
pub mod frozen_linear;
pub mod layers;
pub mod ops;
pub mod params;
pub mod pose_guider;
pub mod reference;
pub mod sample;
mod spatial;
pub mod tape;
pub mod temporal;

pub use block::{BlockId, BlockInfo, BlockKind, Blocks, Gate, GateError, Gates, PARTS};
pub use config::ModelConfig;
pub use dit::{Denoiser, Inputs};
pub use flops::{step_flops, step_flops_with, step_units, Conditions, StepFlops, UnitStep};
pub use params::{Init, Param};
pub use sample::{sample_clips, Conditioned};
pub use tape::Tape;

/// Errors of building or running the denoiser.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model config failed validation.
    #[error("invalid model config: {0}")]
    Config(String),
    /// An input tensor has the wrong shape.
    #[error("input `{name}` has shape {got:?}, expected {expected}")]
    Input {
        name: String,
        got: Vec<usize>,
        expected: String,
    },
    /// A gate change was refused.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// A tensor operation failed.
    #[error("{context}: {source}")]
    Tensor {
        context: String,
        source: candle_core::Error,
    },
}
