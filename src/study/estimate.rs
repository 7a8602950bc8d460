//! How long a cell takes on this machine, estimated from the analytic FLOP
//! count and the measured rate of the development machine: what `--dry-run`
//! prints, the ETA of the progress board, and a Slurm job's `--time`.

use super::cells::{Cell, CellKind, Study};
use super::reproduce::eval_settings;
use crate::eval::dance::{DanceNetsConfig, Net};
use crate::model::dit::block_ids;
use crate::model::flops::unit_costs;
use crate::model::{Gate, Gates, ModelConfig, PARTS};

/// FLOPs per second of a `default` training step on the 2-core development
/// machine: `default-video-full` (2 clips x 8 frames, every unit trainable)
/// took a median 0.239 s in `bench/compare.jsonl` (commit 7e015df, docs/results/speed-vs-pytorch.md).
fn machine_rate() -> f64 {
    step_flops(&ModelConfig::default_preset(), 2, 8) / 0.239
}

/// Analytic FLOPs of one fully trainable step (forward x 3 for backward).
fn step_flops(model: &ModelConfig, batch: usize, frames: usize) -> f64 {
    let units = PARTS
        .iter()
        .map(|p| p.to_string())
        .chain(block_ids(model).into_iter().map(|b| b.to_string()));
    let gates = Gates::all(units, Gate::Trainable);
    3.0 * unit_costs(model, &gates, batch, frames)
        .iter()
        .map(|u| u.forward() as f64)
        .sum::<f64>()
}

/// Estimated seconds of a cell on this machine (training cells: steps at
/// full-training cost, an upper bound for progressive runs; evaluations:
/// sampler steps as forward passes).
pub fn estimate_s(study: &Study, cell: &Cell) -> f64 {
    let c = &cell.exp.config;
    let (b, t) = (c.train.batch_size, c.data.clip_frames);
    match cell.kind {
        CellKind::Eval { .. } => {
            let s = eval_settings(study, cell);
            // Two forward passes per sampler step with guidance.
            let per = step_flops(&c.model, s.clips, t) / 3.0 * 2.0;
            per * s.sample_steps as f64 / machine_rate()
        }
        CellKind::Ranking => {
            // N samples through the whole model, then each block skipped in
            // turn from its place on (about half the model per block).
            let n = (c.cei.conditions * c.cei.draws) as f64;
            let blocks = block_ids(&c.model).len() as f64;
            let forward = step_flops(&c.model, 1, t) / 3.0;
            n * forward * (1.0 + blocks / 4.0) / machine_rate()
        }
        CellKind::Probe { trials } => {
            // Per k and trial: the held-out batches and the CEI samples
            // forward through the model with k blocks skipped (k over the
            // range of a depth-L stack: the temporal blocks stage 3 probes).
            let ks = super::probe::scaled_range(c.model.depth).count() as f64;
            let n = (c.cei.conditions * c.cei.draws) as f64 / b.max(1) as f64 + c.schedule.heldout_batches as f64;
            let forward = step_flops(&c.model, b, t) / 3.0;
            (1.0 + ks * trials as f64) * n * forward / machine_rate()
        }
        CellKind::CeiSamples => {
            // Every ranking's samples through the model, each block skipped
            // in turn from its place on (as a ranking cell).
            let cs = study.target.config.cei_samples.clone().unwrap_or_default();
            let conditions = cs.conditions.iter().sum::<usize>() as u64 * cs.seeds + cs.reference as u64;
            let n = (conditions * c.cei.draws as u64) as f64;
            let blocks = block_ids(&c.model).len() as f64;
            n * step_flops(&c.model, 1, t) / 3.0 * (1.0 + blocks / 4.0) / machine_rate()
        }
        _ => c.train.steps as f64 * step_flops(&c.model, b, t) / machine_rate(),
    }
}

/// `1h 02m`, `3m 20s`, `12s`.
pub fn human(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Estimated seconds of training an offline network: its conv layers'
/// analytic FLOPs (forward x 3 for backward) per frame at the datasets'
/// resolution, at a fifth of the denoiser's rate (candle's CPU convolutions
/// run slower than the fused matmul kernels; measured on the smoke nets).
pub fn nets_estimate_s(cfg: &DanceNetsConfig, net: Net) -> f64 {
    // The largest frame side of the networks' datasets (32 when unknown).
    let side = cfg
        .datasets
        .iter()
        .filter_map(|d| crate::data::config::frame_size(&cfg.root, d))
        .map(|(h, w, _)| h.max(w) as f64)
        .reduce(f64::max)
        .unwrap_or(32.0);
    let conv = |w: [usize; 4], extra: f64| -> f64 {
        let mut cin = 3.0;
        let mut total = extra;
        for (i, &c) in w.iter().enumerate() {
            let s = side / 2f64.powi(i.min(3) as i32);
            total += 2.0 * s * s * 9.0 * cin * c as f64;
            cin = c as f64;
        }
        total
    };
    let (per_step, steps) = match net {
        Net::Frame => {
            let f = &cfg.frame;
            let head = 2.0 * (side / 2.0).powi(2) * 9.0 * (f.widths[1] + f.widths[2]) as f64 * f.head_width as f64;
            (conv(f.widths, head) * f.batch_size as f64, f.steps)
        }
        Net::Clip => {
            let c = &cfg.clip;
            (conv(c.widths, 0.0) * (c.batch_size * c.clip_frames) as f64, c.steps)
        }
    };
    3.0 * per_step * steps as f64 / (machine_rate() / 5.0)
}
