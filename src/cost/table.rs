//! `cost.parquet` and the printed table of `entprog cost`: one row per
//! candidate and checkpointing policy, with ratios to full training under
//! the same policy.

use std::path::{Path, PathBuf};

use crate::results::parquet::{write_table, TableError};
use crate::table;

use super::predict::{Candidate, StepCost};

table! {
    /// `cost.parquet`: the predicted cost of one training step per candidate.
    pub struct CostRow in "cost" version 1 {
        /// Experiment name.
        experiment: String,
        /// `full`, `m=<m>` or `blocks`.
        candidate: String,
        /// Blocks trained.
        m: u32,
        /// The trained blocks, comma-separated, in priority order.
        blocks: String,
        /// `none` or `blocks`.
        checkpointing: String,
        /// `f32` or `bf16`.
        precision: String,
        flops_forward: u64,
        flops_backward_input: u64,
        flops_backward_weight: u64,
        flops_optimizer: u64,
        /// Forward of checkpointed blocks run again in backward.
        flops_recompute: u64,
        flops_total: u64,
        /// Peak bytes by kind, at the moment of the peak.
        bytes_parameters: u64,
        bytes_gradients: u64,
        bytes_optimizer: u64,
        bytes_activations: u64,
        bytes_workspace: u64,
        bytes_total: u64,
        /// `forward`, `backward` or `optimizer`.
        peak_at: String,
        /// Predicted seconds per step (with a calibration file).
        step_s: Option<f64>,
        /// Ratios to full training under the same policy and precision.
        flops_ratio: f64,
        memory_ratio: f64,
        time_ratio: Option<f64>,
    }
}

/// The row of `candidate`'s `cost`, against `full`'s.
pub fn row(experiment: &str, c: &Candidate, cost: &StepCost, full: &StepCost) -> CostRow {
    let f = cost.flops;
    let time = cost.time.map(|t| t.total());
    CostRow {
        experiment: experiment.into(),
        candidate: c.label.clone(),
        m: c.m as u32,
        blocks: c.blocks.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(","),
        checkpointing: c.scenario.checkpointing.as_str().into(),
        precision: c.scenario.precision.as_str().into(),
        flops_forward: f.forward,
        flops_backward_input: f.backward_input,
        flops_backward_weight: f.backward_weight,
        flops_optimizer: f.optimizer,
        flops_recompute: f.recompute,
        flops_total: f.total(),
        bytes_parameters: cost.memory.parameters,
        bytes_gradients: cost.memory.gradients,
        bytes_optimizer: cost.memory.optimizer,
        bytes_activations: cost.memory.activations,
        bytes_workspace: cost.memory.workspace,
        bytes_total: cost.memory.total(),
        peak_at: cost.memory.at.into(),
        step_s: time,
        flops_ratio: f.total() as f64 / full.flops.total() as f64,
        memory_ratio: cost.memory.total() as f64 / full.memory.total() as f64,
        time_ratio: time.zip(full.time).map(|(a, b)| a / b.total()),
    }
}

/// Writes `rows` to `path` atomically (through a `cost.parquet.tmp` beside it).
pub fn write(path: &Path, rows: Vec<CostRow>) -> Result<PathBuf, TableError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |source| TableError::Io {
        path: path.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // A private folder, so the fixed name `cost.parquet` never clobbers a neighbour.
    let staging = dir.join(format!(".cost-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(io)?;
    let written = write_table(&staging, rows)?;
    std::fs::rename(&written, path).map_err(io)?;
    std::fs::remove_dir(&staging).map_err(io)?;
    Ok(path.into())
}

fn gib(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

fn g(f: u64) -> String {
    format!("{:.3}", f as f64 / 1e9)
}

/// The printed table: FLOPs (GFLOP) by phase, peak memory by kind, time and ratios.
pub fn render(rows: &[CostRow]) -> String {
    let mut out = String::from(
        "| candidate | ckpt | GFLOP fwd | bwd-in | bwd-w | opt | recomp | total | params | grads | optim | activ | work | peak | at | step s | x flops | x mem | x time |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} |\n",
            r.candidate,
            r.checkpointing,
            g(r.flops_forward),
            g(r.flops_backward_input),
            g(r.flops_backward_weight),
            g(r.flops_optimizer),
            g(r.flops_recompute),
            g(r.flops_total),
            gib(r.bytes_parameters),
            gib(r.bytes_gradients),
            gib(r.bytes_optimizer),
            gib(r.bytes_activations),
            gib(r.bytes_workspace),
            gib(r.bytes_total),
            r.peak_at,
            r.step_s.map_or("-".into(), |s| format!("{s:.4}")),
            r.flops_ratio,
            r.memory_ratio,
            r.time_ratio.map_or("-".into(), |t| format!("{t:.3}")),
        ));
    }
    out
}
