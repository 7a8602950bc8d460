//! Training: THE loop (`run.rs`) that asks a policy what each step trains,
//! one step (`trainer.rs`), AdamW with saveable state, learning-rate
//! schedule, EMA, safetensors checkpoints with RNG positions, the run's logs.

pub mod adamw;
pub mod ema;
pub mod evidence;
pub mod log;
pub mod lr;
mod outputs;
pub mod passes;
pub mod ranking;
pub mod replay;
pub mod run;
pub mod trainer;

pub use crate::experiment::train::{GatePlan, TrainConfig, TrainingStage};
pub use crate::results::checkpoint::{Checkpoint, CheckpointError, LoadReport, TrainState};
pub use adamw::{AdamW, AdamWParams};
pub use run::{run_experiment, run_with_data, RunError, RunOutcome};
pub use trainer::{
    should_checkpoint, should_evaluate, BatchSource, Phase, StepRecord, TrainBatch, TrainError, Trainer,
};
