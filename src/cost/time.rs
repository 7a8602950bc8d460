//! Wall time of a step from a calibration file: the step's work split by the
//! kind of operation that does it, each divided by the throughput this
//! machine measured for that kind (`entprog cost --calibrate`).
//!
//! - products with a weight operand (linear layers, all three phases and
//!   any recompute): FLOPs / the GEMM rate measured at the model's width
//!   (interpolated in log width between calibrated widths, clamped at the ends);
//! - attention products: FLOPs / the fused attention rate (forward and
//!   backward measured together) at the nearest calibrated key count;
//! - elementwise work (norms, residuals, activations, copies, the gradient
//!   accumulation of candle's autograd): bytes / the measured bandwidth,
//!   taking each stored tensor as written and read once in forward and three
//!   times in backward;
//! - AdamW: updated scalars x the measured seconds per scalar;
//! - a fixed cost per op launched (dispatch, allocation), times the ops of
//!   what ran.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::StepFlops;

/// One measured GEMM shape: y [m, n] = x [m, k] W^T.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmRate {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub gflops: f64,
}

/// One measured attention shape (forward + backward of the fused op).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionRate {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence (queries = keys).
    pub tokens: usize,
    /// Model width d.
    pub dim: usize,
    pub heads: usize,
    pub gflops: f64,
}

/// Per-operation throughput of one machine (`entprog cost --calibrate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Free text: where it was measured.
    pub machine: String,
    /// Worker threads the kernels used.
    pub threads: usize,
    pub gemm: Vec<GemmRate>,
    pub attention: Vec<AttentionRate>,
    /// Elementwise bandwidth, GB/s (bytes read + written by a fused add).
    pub bandwidth_gbs: f64,
    /// Fused AdamW, nanoseconds per updated scalar.
    pub adamw_ns_per_param: f64,
    /// Microseconds per tiny op through autograd (dispatch, allocation, graph walk).
    pub op_overhead_us: f64,
}

/// A calibration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CalibrationError {
    pub path: PathBuf,
    pub message: String,
}

impl Calibration {
    /// Reads a calibration file (JSON).
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let bad = |message: String| CalibrationError {
            path: path.into(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let c: Calibration = serde_json::from_str(&text).map_err(|e| bad(format!("not a calibration file: {e}")))?;
        if c.gemm.is_empty() || c.attention.is_empty() {
            return Err(bad("no gemm or attention rates".into()));
        }
        let rates = c
            .gemm
            .iter()
            .map(|g| g.gflops)
            .chain(c.attention.iter().map(|a| a.gflops));
        if !rates
            .chain([c.bandwidth_gbs, c.adamw_ns_per_param, c.op_overhead_us])
            .all(|v| v.is_finite() && v > 0.0)
        {
            return Err(bad("every rate must be a finite number > 0".into()));
        }
        Ok(c)
    }

    /// Writes the file atomically (JSON).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("calibrations serialise");
        crate::results::atomic::write_atomic(path, text.as_bytes())
    }

    /// GEMM GFLOP/s at width `d`: the mean over calibrated shapes of each
    /// width, interpolated in log width.
    pub fn gemm_gflops(&self, d: usize) -> f64 {
        let mut widths: Vec<(f64, f64)> = Vec::new();
        let mut ks: Vec<usize> = self.gemm.iter().map(|g| g.k.min(g.n)).collect();
        ks.sort_unstable();
        ks.dedup();
        for k in ks {
            let at: Vec<f64> = self
                .gemm
                .iter()
                .filter(|g| g.k.min(g.n) == k)
                .map(|g| g.gflops)
                .collect();
            widths.push(((k as f64).ln(), at.iter().sum::<f64>() / at.len() as f64));
        }
        interpolate(&widths, (d as f64).ln())
    }

    /// Attention GFLOP/s (forward + backward) for `tokens` keys per query.
    pub fn attention_gflops(&self, tokens: usize) -> f64 {
        let mut pts: Vec<(f64, f64)> = self
            .attention
            .iter()
            .map(|a| ((a.tokens as f64).ln(), a.gflops))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        interpolate(&pts, (tokens.max(1) as f64).ln())
    }
}

/// Piecewise-linear through sorted points, flat beyond the ends.
fn interpolate(pts: &[(f64, f64)], x: f64) -> f64 {
    match pts {
        [] => f64::NAN,
        [only] => only.1,
        _ if x <= pts[0].0 => pts[0].1,
        _ if x >= pts[pts.len() - 1].0 => pts[pts.len() - 1].1,
        _ => {
            let i = pts.iter().position(|p| p.0 >= x).expect("inside the range");
            let (a, b) = (pts[i - 1], pts[i]);
            a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
        }
    }
}

/// The work of one step, by the kind of operation that does it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepWork {
    /// The step's FLOPs by phase.
    pub flops: StepFlops,
    /// Of those, attention products (forward, backward, recompute).
    pub attention_flops: u64,
    /// Keys per attention query, averaged over attention FLOPs.
    pub attention_tokens: usize,
    /// Model width d.
    pub dim: usize,
    /// Bytes of elementwise traffic.
    pub elementwise_bytes: u64,
    /// Ops launched.
    pub ops: u64,
    /// Scalars AdamW updates.
    pub updated: u64,
}

/// Predicted seconds of a step, split like [`StepWork`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct StepTime {
    pub linear_s: f64,
    pub attention_s: f64,
    pub elementwise_s: f64,
    pub optimizer_s: f64,
    pub overhead_s: f64,
}

impl StepTime {
    /// Sum of all parts.
    pub fn total(&self) -> f64 {
        self.linear_s + self.attention_s + self.elementwise_s + self.optimizer_s + self.overhead_s
    }
}

/// The predicted time of `work` on the calibrated machine.
pub fn step_time(work: &StepWork, c: &Calibration) -> StepTime {
    let f = &work.flops;
    let matmul = f.forward + f.backward_input + f.backward_weight + f.recompute;
    let linear = matmul.saturating_sub(work.attention_flops);
    StepTime {
        linear_s: linear as f64 / (c.gemm_gflops(work.dim) * 1e9),
        attention_s: work.attention_flops as f64 / (c.attention_gflops(work.attention_tokens) * 1e9),
        elementwise_s: work.elementwise_bytes as f64 / (c.bandwidth_gbs * 1e9),
        optimizer_s: work.updated as f64 * c.adamw_ns_per_param * 1e-9,
        overhead_s: work.ops as f64 * c.op_overhead_us * 1e-6,
    }
}
