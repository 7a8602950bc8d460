//! `entprog reproduce <target> [--profile P] [--seeds N] [--dry-run]`: lays
//! out the target's cells (`cells.rs`), reuses the finished ones, resumes
//! interrupted ones, runs the rest in order with an overall bar (cells
//! done of total, ETA) above each cell's own progress
//! ([`crate::progress::Board`]). The `reproduce` command then writes the
//! report and its plots from the files on disk (`crate::report`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::cells::{Cell, CellKind, Study, StudyError};
use super::evaluate::{evaluate, EvalError, EvalSettings};
use crate::config::ConfigError;
use crate::eval::dance::{DanceNetsConfig, Net};
use crate::model::dit::block_ids;
use crate::model::flops::unit_costs;
use crate::model::{Gate, Gates, ModelConfig, PARTS};
use crate::progress::{Board, ProgressMode};
use crate::results::{RunManifest, RunStatus};

/// Errors of `entprog reproduce`.
#[derive(Debug, thiserror::Error)]
pub enum ReproduceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Study(#[from] StudyError),
    #[error("cell {cell}: {source}")]
    Train {
        cell: String,
        source: Box<crate::train::RunError>,
    },
    #[error("cell {cell}: {source}")]
    Eval { cell: String, source: Box<EvalError> },
    #[error("cell {cell}: {source}")]
    Ranking {
        cell: String,
        source: Box<super::ranking::RankCellError>,
    },
    #[error("cell {cell}: {source}")]
    Nets {
        cell: String,
        source: Box<crate::eval::dance::DanceError>,
    },
    #[error(
        "profile {profile} needs about {estimate} on this machine; rerun with --yes to start it anyway \
         (or --dry-run to see every cell)"
    )]
    NeedsConfirmation { profile: String, estimate: String },
}

/// A cell's state on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    Done,
    /// An interrupted run of the same config: resumes from its checkpoint.
    Partial,
    Todo,
}

impl CellState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CellState::Done => "done",
            CellState::Partial => "resumes",
            CellState::Todo => "to run",
        }
    }
}

fn eval_settings(study: &Study, cell: &Cell) -> EvalSettings {
    let mut s = EvalSettings::from_diffusion(
        &cell.exp.config.diffusion,
        study.profile.eval_clips.max(1),
        study.nets.clone(),
    );
    if study.profile.eval_sample_steps > 0 {
        s.sample_steps = study.profile.eval_sample_steps;
    }
    if study.profile.eval_guidance > 0.0 {
        s.guidance = study.profile.eval_guidance;
    }
    if let Some(sampler) = study.profile.eval_sampler {
        s.sampler = sampler;
    }
    s
}

/// The run folder spec of a cell (an evaluation: its own `eval` folder).
pub fn spec_of(study: &Study, cell: &Cell) -> crate::results::RunSpec {
    match cell.kind {
        CellKind::Eval { .. } => {
            let s = eval_settings(study, cell);
            cell.exp.run_spec("eval", Some(&s.variant()))
        }
        CellKind::Ranking => cell.exp.run_spec("ranking", None),
        _ => cell.exp.run_spec("train", None),
    }
}

/// The folder of an evaluation cell.
pub fn eval_dir(study: &Study, cell: &Cell) -> PathBuf {
    spec_of(study, cell).dir()
}

/// Whether `cell` is finished, resumable or to run.
pub fn state(study: &Study, cell: &Cell) -> CellState {
    let spec = spec_of(study, cell);
    let dir = spec.dir();
    match RunManifest::read(&dir.join("manifest.json")) {
        Some(m) if m.config_hash == spec.config_hash && m.status == RunStatus::Complete => CellState::Done,
        Some(m) if m.config_hash == spec.config_hash && dir.join("last.safetensors").exists() => CellState::Partial,
        _ => CellState::Todo,
    }
}

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

/// The plan `--dry-run` prints: every cell with its state and estimate.
pub fn plan(study: &Study) -> String {
    let nets: Vec<(Net, bool)> = match &study.nets {
        Some(n) => [Net::Frame, Net::Clip].into_iter().map(|k| (k, n.is_done(k))).collect(),
        None => Vec::new(),
    };
    let mut out = format!(
        "{} ({}), profile {}, {} seed(s): {} cells\n",
        study.target.config.title,
        study.target.name,
        study.profile_name,
        study.seeds,
        study.cells.len() + nets.len()
    );
    let mut left = 0.0;
    if let Some(cfg) = &study.nets {
        for (i, &(net, done)) in nets.iter().enumerate() {
            let est = nets_estimate_s(cfg, net);
            if !done {
                left += est;
            }
            out.push_str(&format!(
                "{:>3}  {:<40} {:<8} ~{:>8}  {}\n",
                i + 1,
                format!("network {}", net.network()),
                if done { "done" } else { "to run" },
                human(est),
                cfg.spec(net).dir().display()
            ));
        }
    }
    for (i, cell) in study.cells.iter().enumerate() {
        let i = i + nets.len();
        let st = state(study, cell);
        let est = estimate_s(study, cell);
        if st != CellState::Done {
            left += est;
        }
        out.push_str(&format!(
            "{:>3}  {:<40} {:<8} ~{:>8}  {}\n",
            i + 1,
            cell.label,
            st.as_str(),
            human(est),
            spec_of(study, cell).dir().display()
        ));
    }
    out.push_str(&format!("estimated time left: {}\n", human(left)));
    out
}

/// Options of a reproduce run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Go on with a profile that asks for confirmation.
    pub yes: bool,
    pub quiet: bool,
}

/// Runs every cell of `study` that is not finished, in order, reusing the
/// finished ones and resuming interrupted ones.
pub fn run(study: &Study, opt: &Options) -> Result<(), ReproduceError> {
    let todo: Vec<usize> = (0..study.cells.len())
        .filter(|&i| state(study, &study.cells[i]) != CellState::Done)
        .collect();
    let left: f64 = todo.iter().map(|&i| estimate_s(study, &study.cells[i])).sum();
    if study.profile.confirm && !opt.yes && !todo.is_empty() {
        return Err(ReproduceError::NeedsConfirmation {
            profile: study.profile_name.clone(),
            estimate: human(left),
        });
    }
    let mode = ProgressMode::detect(opt.quiet, Duration::from_secs_f64(10.0));
    let start = Instant::now();
    let nets = usize::from(study.nets.is_some()) * 2;
    let board = Board::new((study.cells.len() + nets) as u64, mode);
    let mut spent_est = 0.0;
    if let Some(cfg) = &study.nets {
        for (i, net) in [Net::Frame, Net::Clip].into_iter().enumerate() {
            if !cfg.is_done(net) {
                let label = format!("network {}", net.network());
                board.start(i, &label, "to run", &human(nets_estimate_s(cfg, net)));
                let steps = match net {
                    Net::Frame => cfg.frame.steps,
                    Net::Clip => cfg.clip.steps,
                };
                let mut bar = board.cell(format!("  {label}"), steps);
                crate::eval::dance::ensure(cfg, net, &mut |s| {
                    bar.set_message(format!("loss {:.4}", s.loss));
                    bar.inc(1);
                })
                .map_err(|e| ReproduceError::Nets {
                    cell: net.network().into(),
                    source: Box::new(e),
                })?;
                bar.finish_and_clear();
            }
            board.done();
        }
    }
    for (k, cell) in study.cells.iter().enumerate() {
        let i = k + nets;
        let est = estimate_s(study, cell);
        let st = state(study, cell);
        if st != CellState::Done {
            // ETA: the measured pace against the estimates so far.
            let pace = if spent_est > 0.0 {
                start.elapsed().as_secs_f64() / spent_est
            } else {
                1.0
            };
            let remaining: f64 = study.cells[k..]
                .iter()
                .filter(|c| state(study, c) != CellState::Done)
                .map(|c| estimate_s(study, c))
                .sum();
            board.start(i, &cell.label, st.as_str(), &human(remaining * pace));
        }
        run_cell(study, cell, &board, st == CellState::Done)?;
        board.done();
        if st != CellState::Done {
            spent_est += est;
        }
    }
    board.finish();
    Ok(())
}

fn run_cell(study: &Study, cell: &Cell, board: &Board, done: bool) -> Result<(), ReproduceError> {
    let spinner = (!done && matches!(cell.kind, CellKind::Eval { .. } | CellKind::Ranking))
        .then(|| board.spinner(&format!("  {}", cell.label)))
        .flatten();
    match cell.kind {
        CellKind::Ranking => {
            super::ranking::run_ranking(&cell.exp).map_err(|e| ReproduceError::Ranking {
                cell: cell.label.clone(),
                source: Box::new(e),
            })?;
        }
        CellKind::Chain | CellKind::Arm => {
            let train = |on_step: &mut dyn FnMut(&crate::train::StepRecord)| {
                crate::train::run_with_data(&cell.exp, on_step).map_err(|e| ReproduceError::Train {
                    cell: cell.label.clone(),
                    source: Box::new(e),
                })
            };
            if done {
                // Reused: opening the folder checks it and prints nothing.
                train(&mut |_| {})?;
            } else {
                let mut bar = board.cell(format!("  {}", cell.label), cell.exp.config.train.steps);
                train(&mut |r| {
                    bar.set_message(format!("loss {:.4}", r.loss));
                    // A resumed run starts at its checkpoint's step.
                    bar.inc((r.step + 1).saturating_sub(bar.position()));
                })?;
                bar.finish_and_clear();
            }
        }
        CellKind::Eval { .. } => {
            evaluate(&cell.exp, eval_settings(study, cell)).map_err(|e| ReproduceError::Eval {
                cell: cell.label.clone(),
                source: Box::new(e),
            })?;
        }
    }
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(())
}
