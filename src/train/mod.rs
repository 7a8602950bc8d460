//! Training: AdamW with saveable state, learning-rate schedule, EMA,
//! safetensors checkpoints with RNG positions, and the resumable loop.

pub mod adamw;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod ema;
pub mod gif;
pub mod lr;
pub mod run;
pub mod trainer;

pub use adamw::{AdamW, AdamWParams};
pub use checkpoint::{Checkpoint, CheckpointError, LoadReport, TrainState};
pub use config::{GatePlan, Stage, TrainConfig};
pub use run::{run_experiment, run_with_data, RunError, RunOutcome};
pub use trainer::{should_checkpoint, BatchSource, StepRecord, StepSink, TrainBatch, TrainError, Trainer};
