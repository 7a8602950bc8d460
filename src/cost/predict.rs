//! The cost model's entry point: what a step of a scenario costs in FLOPs
//! (the same analytic count the trainer records, `model/flops.rs`), peak
//! memory by kind ([`super::memory`]) and, given a calibration, wall time
//! ([`super::time`]); and the candidates of a schedule (top-m blocks in a
//! priority order) as scenarios.

use crate::experiment::train::ActivationCheckpointing;
use crate::experiment::ExperimentConfig;
use crate::model::{step_flops_with, step_units, BlockId, GateError, ModelError, StepFlops};

use super::memory::{step_memory, stored_scalars, StepMemory};
use super::params::ParamCounts;
use super::scenario::{Precision, Scenario};
use super::time::{step_time, Calibration, StepTime, StepWork};

/// Everything predicted for one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCost {
    /// FLOPs by phase (equal to the trainer's `StepRecord::flops`).
    pub flops: StepFlops,
    /// Scalars AdamW updates.
    pub updated_params: u64,
    /// Peak bytes by kind.
    pub memory: StepMemory,
    /// Seconds, when a calibration was given.
    pub time: Option<StepTime>,
}

/// The cost of one step of `s`, timed with `calibration` when given.
pub fn predict(s: &Scenario, calibration: Option<&Calibration>) -> Result<StepCost, ModelError> {
    let counts = ParamCounts::of(s)?;
    let updated = counts.updated(s);
    let recompute = s.checkpointing == ActivationCheckpointing::Blocks;
    let flops = step_flops_with(
        &s.model,
        &s.gates,
        s.given,
        s.batch,
        s.frames,
        updated as usize,
        recompute,
    );
    let memory = step_memory(s, &counts);
    let time = calibration.map(|c| step_time(&work(s, flops, updated), c));
    Ok(StepCost {
        flops,
        updated_params: updated,
        memory,
        time,
    })
}

/// The step's work by kind of operation (for the time model).
pub fn work(s: &Scenario, flops: StepFlops, updated: u64) -> StepWork {
    let recompute = s.checkpointing == ActivationCheckpointing::Blocks;
    let n = s.model.tokens();
    let (mut attention, mut weighted, mut bytes, mut ops) = (0u64, 0f64, 0u64, 0u64);
    for u in step_units(&s.model, &s.gates, s.given, s.batch, s.frames) {
        let name = u.cost.unit.as_str();
        let main = name.starts_with("spatial.") || name.starts_with("temporal.");
        let again = u.graph && recompute && main;
        let times = 1 + 2 * u64::from(u.graph) + u64::from(again);
        let a = u.cost.attention * times;
        let keys = if name.starts_with("temporal.") { s.frames } else { n };
        attention += a;
        weighted += a as f64 * keys as f64;
        // Each tensor written and read in forward; in backward its gradient
        // written, a zero tensor, and the sum (candle's accumulation).
        let volume = stored_scalars(&u, s) * s.precision.bytes();
        bytes += volume * (2 + 6 * u64::from(u.graph) + 2 * u64::from(again));
        let per = if name.starts_with("spatial.") { 14 } else { 8 };
        ops += per * (1 + 2 * u64::from(u.graph) + u64::from(again));
    }
    StepWork {
        flops,
        attention_flops: attention,
        attention_tokens: if attention > 0 {
            (weighted / attention as f64).round() as usize
        } else {
            n
        },
        dim: s.model.dim,
        elementwise_bytes: bytes,
        ops,
        updated,
    }
}

/// A priority order of the schedulable blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// The input side first (`depth_in`).
    InputSide,
    /// The output side first (`depth_out`).
    OutputSide,
    /// Highest score first (a ranking file's values, e.g. CEI's).
    Scores(Vec<(BlockId, f64)>),
    /// Exactly these blocks, whatever m says.
    Blocks(Vec<BlockId>),
}

/// One candidate: its label, m and trained blocks, and its scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `full`, or `m=3`, or `blocks`.
    pub label: String,
    pub m: usize,
    pub blocks: Vec<BlockId>,
    pub scenario: Scenario,
}

/// The candidates of `cfg`'s stage: full training first, then the top `m`
/// of the schedulable blocks by `order` for each `m` (or the explicit
/// blocks), under `checkpointing` and `precision`.
pub fn candidates(
    cfg: &ExperimentConfig,
    ms: &[usize],
    order: &Order,
    checkpointing: ActivationCheckpointing,
    precision: Precision,
) -> Result<Vec<Candidate>, GateError> {
    let base = Scenario {
        checkpointing,
        precision,
        ..Scenario::of(cfg)?
    };
    Ok(candidates_of(&base, ms, order, cfg.schedule.skip_inactive))
}

/// [`candidates`] of a scenario: full training (as `base` trains), then the
/// top `m` of `base`'s schedulable blocks by `order` for each `m` (or the
/// explicit blocks); inactive blocks frozen, or skipped when `skip`.
pub fn candidates_of(base: &Scenario, ms: &[usize], order: &Order, skip: bool) -> Vec<Candidate> {
    let ids = base.schedulable();
    let ranked: Vec<BlockId> = match order {
        Order::InputSide | Order::Blocks(_) => ids.clone(),
        Order::OutputSide => ids.iter().rev().copied().collect(),
        Order::Scores(scores) => {
            let values: Vec<f64> = ids
                .iter()
                .map(|id| scores.iter().find(|(b, _)| b == id).map_or(f64::NAN, |s| s.1))
                .collect();
            crate::entprog::rank::order_by_score(&values)
                .into_iter()
                .map(|i| ids[i])
                .collect()
        }
    };
    let mut out = vec![Candidate {
        label: "full".into(),
        m: ids.len(),
        blocks: ids.clone(),
        scenario: base.clone(),
    }];
    if let Order::Blocks(blocks) = order {
        out.push(Candidate {
            label: "blocks".into(),
            m: blocks.len(),
            blocks: blocks.clone(),
            scenario: base.training(blocks, skip),
        });
        return out;
    }
    for &m in ms {
        let blocks: Vec<BlockId> = ranked.iter().take(m).copied().collect();
        out.push(Candidate {
            label: format!("m={m}"),
            m,
            scenario: base.training(&blocks, skip),
            blocks,
        });
    }
    out
}
