//! What a progressive schedule is told of a run and its errors: the kind of
//! a step, the finished steps' costs and the history, and which blocks it
//! schedules and how it gates them.

use super::decisions::Decision;
use super::schedule::PlanError;
use crate::model::{BlockId, Blocks, Gate};

/// Errors of a schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("schedule: the stage's gate plan leaves no block trainable, nothing to schedule")]
    NoBlocks,
    #[error(
        "schedule: stage {stage}'s supernet needs {need} steps (supernet_rounds x candidates x supernet_steps) \
         but the stage has {have}; expected fewer, so the chosen m trains at least one step"
    )]
    SupernetTooLong { stage: usize, need: u64, have: u64 },
    #[error("schedule state: {0}")]
    State(String),
}

/// What kind of step a step is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Regular training.
    #[default]
    Train,
    /// A Nested Diffusion Supernet step (docs/paper.md §4).
    Supernet,
}

impl Phase {
    /// The name written to `steps.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Train => "train",
            Phase::Supernet => "supernet",
        }
    }
}

/// What the policy knows of one finished step: its cost on both clocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCost {
    pub step: u64,
    /// Analytic FLOPs of what ran.
    pub flops: f64,
    /// Wall seconds of the step.
    pub wall_s: f64,
}

/// The history a decision may look at: the finished steps (in step order)
/// and the decisions recorded so far.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    pub steps: &'a [StepCost],
    pub decisions: &'a [Decision],
}

/// The gate of the block at priority position `rank` when `m` are unfrozen.
pub fn gate_at(rank: usize, m: usize, skip_inactive: bool) -> Gate {
    if rank < m {
        Gate::Trainable
    } else if skip_inactive {
        Gate::Skipped
    } else {
        Gate::Frozen
    }
}

/// The schedulable blocks of `model` under its current gates (call it with
/// the stage's gate plan applied): the trainable ones, in forward order.
pub fn schedulable<M: Blocks>(model: &M) -> Vec<BlockId> {
    model
        .blocks()
        .into_iter()
        .map(|b| b.id)
        .filter(|&id| model.block_gate(id) == Gate::Trainable)
        .collect()
}
