//! `entprog reproduce <target> [--profile P] [--seeds N] [--dry-run]`: lays
//! out the target's cells (`cells.rs`), reuses the finished ones, resumes
//! interrupted ones, runs the rest in order with an overall bar (cells
//! done of total, ETA) above each cell's own progress
//! ([`crate::progress::Board`]). The `reproduce` command then writes the
//! report and its plots from the files on disk (`crate::report`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::cells::{Cell, CellKind, Study, StudyError};
pub use super::estimate::{estimate_s, human, nets_estimate_s};
use super::evaluate::{evaluate, EvalError, EvalSettings};
use super::graph::{find, task_estimate_s, task_state, tasks, Task, TaskKind};
use crate::config::ConfigError;
use crate::eval::dance::Net;
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
    Probe {
        cell: String,
        source: Box<super::cei::CeiError>,
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
    /// `--cell` names no cell of the study.
    #[error("--cell: {0}")]
    Cell(String),
    /// `--cell` names a cell whose input is not finished.
    #[error("cell {cell}: its input {input:?} is not finished (run it first, or the whole study)")]
    Input { cell: String, input: String },
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

pub(super) fn eval_settings(study: &Study, cell: &Cell) -> EvalSettings {
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
        CellKind::Probe { trials } => super::probe::spec(&cell.exp, trials),
        CellKind::CeiSamples => {
            let c = study.target.config.cei_samples.clone().unwrap_or_default();
            super::cei_samples::spec(&cell.exp, &c.conditions, c.reference, c.seeds)
        }
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
        // A cell that repeats an earlier one is done by the time it runs.
        let twin = super::graph::duplicate_of(study, i - nets.len());
        let st = state(study, cell);
        let est = if twin.is_some() { 0.0 } else { estimate_s(study, cell) };
        if st != CellState::Done {
            left += est;
        }
        out.push_str(&format!(
            "{:>3}  {:<40} {:<8} ~{:>8}  {}\n",
            i + 1,
            cell.label,
            if twin.is_some() && st != CellState::Done {
                "shared"
            } else {
                st.as_str()
            },
            human(est),
            spec_of(study, cell).dir().display()
        ));
    }
    if (0..study.cells.len()).any(|i| super::graph::duplicate_of(study, i).is_some()) {
        out.push_str("shared: the same config and folder as an earlier cell, trained once\n");
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

/// Runs every task of `study` that is not finished, in order, reusing the
/// finished ones and resuming interrupted ones.
pub fn run(study: &Study, opt: &Options) -> Result<(), ReproduceError> {
    confirm(study, opt)?;
    let tasks = tasks(study);
    let mode = ProgressMode::detect(opt.quiet, Duration::from_secs_f64(10.0));
    let start = Instant::now();
    let board = Board::new(tasks.len() as u64, mode);
    let mut spent_est = 0.0;
    for (i, task) in tasks.iter().enumerate() {
        let st = task_state(study, task);
        if st != CellState::Done {
            // ETA: the measured pace against the estimates so far.
            let pace = if spent_est > 0.0 {
                start.elapsed().as_secs_f64() / spent_est
            } else {
                1.0
            };
            let remaining: f64 = tasks[i..]
                .iter()
                .filter(|t| task_state(study, t) != CellState::Done)
                .map(|t| task_estimate_s(study, t))
                .sum();
            board.start(i, &task.label, st.as_str(), &human(remaining * pace));
        }
        run_task(study, task, &board, st == CellState::Done)?;
        board.done();
        if st != CellState::Done {
            spent_est += task_estimate_s(study, task);
        }
    }
    board.finish();
    Ok(())
}

/// Refuses a profile that asks for confirmation (`confirm = true`, the
/// paper's sizes on a CPU) unless `--yes`, when any cell is left to run.
pub fn confirm(study: &Study, opt: &Options) -> Result<(), ReproduceError> {
    let left: Vec<f64> = study
        .cells
        .iter()
        .filter(|c| state(study, c) != CellState::Done)
        .map(|c| estimate_s(study, c))
        .collect();
    if study.profile.confirm && !opt.yes && !left.is_empty() {
        return Err(ReproduceError::NeedsConfirmation {
            profile: study.profile_name.clone(),
            estimate: human(left.iter().sum()),
        });
    }
    Ok(())
}

/// Runs the one task labelled `label` (`reproduce --cell`, what `--jobs`
/// and Slurm jobs run): its inputs must be finished.
pub fn run_one(study: &Study, label: &str, quiet: bool) -> Result<(), ReproduceError> {
    let tasks = tasks(study);
    let (_, task) = find(&tasks, label).map_err(ReproduceError::Cell)?;
    if let Some(&d) = task
        .deps
        .iter()
        .find(|&&d| task_state(study, &tasks[d]) != CellState::Done)
    {
        return Err(ReproduceError::Input {
            cell: task.label.clone(),
            input: tasks[d].label.clone(),
        });
    }
    let board = Board::new(1, ProgressMode::detect(quiet, Duration::from_secs_f64(10.0)));
    let st = task_state(study, task);
    board.start(0, &task.label, st.as_str(), &human(task_estimate_s(study, task)));
    run_task(study, task, &board, st == CellState::Done)?;
    board.done();
    board.finish();
    Ok(())
}

/// Runs one task in this process under `board` (a finished cell is opened
/// and reused; a finished network is skipped).
fn run_task(study: &Study, task: &Task, board: &Board, done: bool) -> Result<(), ReproduceError> {
    match (task.kind, &study.nets) {
        (TaskKind::Net(_), _) if done => Ok(()),
        (TaskKind::Net(net), Some(cfg)) => run_net(cfg, net, &task.label, board),
        (TaskKind::Net(_), None) => Ok(()),
        (TaskKind::Cell(i), _) => run_cell(study, &study.cells[i], board, done),
    }
}

fn run_net(
    cfg: &crate::eval::dance::DanceNetsConfig,
    net: Net,
    label: &str,
    board: &Board,
) -> Result<(), ReproduceError> {
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
    Ok(())
}

fn run_cell(study: &Study, cell: &Cell, board: &Board, done: bool) -> Result<(), ReproduceError> {
    let spinner = (!done
        && matches!(
            cell.kind,
            CellKind::Eval { .. } | CellKind::Ranking | CellKind::Probe { .. }
        ))
    .then(|| board.spinner(&format!("  {}", cell.label)))
    .flatten();
    match cell.kind {
        CellKind::Ranking => {
            super::ranking::run_ranking(&cell.exp).map_err(|e| ReproduceError::Ranking {
                cell: cell.label.clone(),
                source: Box::new(e),
            })?;
        }
        CellKind::Probe { trials } => {
            super::probe::skip_probe(&cell.exp, trials).map_err(|e| ReproduceError::Probe {
                cell: cell.label.clone(),
                source: Box::new(e),
            })?;
        }
        CellKind::CeiSamples => {
            let c = study.target.config.cei_samples.clone().unwrap_or_default();
            super::cei_samples::run(&cell.exp, &c.conditions, c.reference, c.seeds).map_err(|e| {
                ReproduceError::Probe {
                    cell: cell.label.clone(),
                    source: Box::new(e),
                }
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
