//! `decisions.jsonl`: the log of a scheduled run's decisions (priority
//! orders and the supernet's held-out losses), one JSON object per line,
//! each stamped with the number of completed steps it was made after, so a
//! resumed run keeps exactly the decisions its checkpoint had seen.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::progressive::ScheduleError;

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

/// Reads the decisions made at or before step `until`.
pub fn read_decisions(path: &Path, until: u64) -> Result<Vec<Decision>, ScheduleError> {
    crate::results::jsonl::read(path, |d: &Decision| d.step() <= until).map_err(|message| ScheduleError::Log {
        path: path.into(),
        message,
    })
}
