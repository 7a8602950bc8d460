//! The decisions of a scheduled run (priority orders and the supernet's
//! held-out losses), each stamped with the number of completed steps it was
//! made after, so a resumed run keeps exactly the decisions its checkpoint
//! had seen. The run code logs them to `decisions.jsonl` (`train/log.rs`).

use serde::{Deserialize, Serialize};

/// One line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Decision {
    /// The priority order a stage uses, made after `step` completed steps.
    Order {
        step: u64,
        stage: usize,
        scorer: String,
        /// Schedulable block ids, in forward order.
        ids: Vec<String>,
        /// Score per id (`None`: not finite).
        values: Vec<Option<f64>>,
        se: Vec<Option<f64>>,
        /// Indices into `ids`, highest priority first.
        order: Vec<usize>,
        /// Wall seconds the scoring took.
        wall_s: f64,
    },
    /// The supernet's held-out loss after `step` completed steps.
    HeldOut {
        step: u64,
        stage: usize,
        loss: f64,
        wall_s: f64,
    },
}

impl Decision {
    /// Completed steps when the decision was made.
    pub fn step(&self) -> u64 {
        match self {
            Decision::Order { step, .. } | Decision::HeldOut { step, .. } => *step,
        }
    }
}
