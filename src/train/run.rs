//! One training run of an experiment on disk (STYLE.md §5, §8): open the
//! run folder (config and manifest first), resume from its checkpoint or
//! start from the previous stage's, train, log every step to `steps.jsonl`
//! as it happens, and at the end write `steps.parquet` and mark the run
//! complete. A finished run with the same config hash is reused.
//!
//! Resume: the folder of an interrupted run with the same config keeps
//! `last.safetensors` and `steps.jsonl`; the log is cut back to the
//! checkpoint's step and the steps after it run again (bit-identically).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Experiment;
use crate::entprog::progressive::{step_rows, ScheduleError, Scheduler};
use crate::results::{write_table, Opened, RunDir, RunDirError, TableError};

use super::trainer::{BatchSource, StepRecord, StepSink, TrainError, Trainer};

/// Errors of a run on disk.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run folder could not be opened or updated.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Training stopped.
    #[error("{dir}: {source}")]
    Train { dir: PathBuf, source: Box<TrainError> },
    /// The step log could not be read or written.
    #[error("{path}: {message}")]
    Log { path: PathBuf, message: String },
    /// The schedule could not be laid out or a decision failed.
    #[error("{dir}: {source}")]
    Schedule { dir: PathBuf, source: Box<ScheduleError> },
    /// The dataset could not be opened.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Writing a Parquet table failed.
    #[error(transparent)]
    Table(#[from] TableError),
}

/// What a call to [`run_experiment`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// True when a complete run with the same config was reused.
    pub cached: bool,
    /// Step the run resumed at (0 for a fresh run).
    pub resumed_at: u64,
}

/// Appends each step record to `steps.jsonl`, flushed per line, and tells `on_step`.
struct JsonlSink<'a> {
    path: PathBuf,
    file: std::fs::File,
    on_step: &'a mut dyn FnMut(&StepRecord),
}

impl StepSink for JsonlSink<'_> {
    fn record(&mut self, r: &StepRecord) -> Result<(), String> {
        (self.on_step)(r);
        let line = serde_json::to_string(r).map_err(|e| e.to_string())?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The records of `steps.jsonl` before step `until`.
fn read_log(path: &Path, until: u64) -> Result<Vec<StepRecord>, RunError> {
    crate::results::jsonl::read(path, |r: &StepRecord| r.step < until).map_err(|message| RunError::Log {
        path: path.into(),
        message,
    })
}

/// Rewrites `steps.jsonl` with `records` and opens it for appending.
fn open_log<'a>(
    path: &Path,
    records: &[StepRecord],
    on_step: &'a mut dyn FnMut(&StepRecord),
) -> Result<JsonlSink<'a>, RunError> {
    let file = crate::results::jsonl::rewrite(path, records).map_err(|message| RunError::Log {
        path: path.into(),
        message,
    })?;
    Ok(JsonlSink {
        path: path.into(),
        file,
        on_step,
    })
}

/// Trains experiment `exp` on batches from `data` in its run folder, calling
/// `on_step` after every step (progress display).
pub fn run_experiment(
    exp: &Experiment,
    data: &mut impl BatchSource,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<RunOutcome, RunError> {
    let cfg = &exp.config;
    let spec = exp.run_spec("train", None);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            return Ok(RunOutcome {
                dir,
                cached: true,
                resumed_at: 0,
            })
        }
        Opened::Fresh(rd) => rd,
    };
    let dir = rd.path().to_path_buf();
    let train_err = |source: TrainError| RunError::Train {
        dir: dir.clone(),
        source: Box::new(source),
    };
    let sched_err = |source: ScheduleError| match source {
        ScheduleError::Train(t) => RunError::Train {
            dir: dir.clone(),
            source: t,
        },
        other => RunError::Schedule {
            dir: dir.clone(),
            source: Box::new(other),
        },
    };
    let result: Result<u64, RunError> = (|| {
        let model = cfg
            .model
            .build(cfg.seed, &candle_core::Device::Cpu)
            .map_err(|e| train_err(e.into()))?;
        let mut trainer = Trainer::new(model, cfg.train.clone(), cfg.diffusion.clone(), cfg.seed).map_err(train_err)?;
        trainer.config_hash = Some(exp.hash.clone());
        let ckpt = dir.join("last.safetensors");
        if rd.resumable && ckpt.exists() {
            trainer.resume(&ckpt).map_err(train_err)?;
        } else if let Some(base) = &cfg.train.init_from {
            rd.add_input(base)?;
            trainer.init_from(base).map_err(train_err)?;
        }
        let resumed_at = trainer.step;
        let log = dir.join("steps.jsonl");
        let mut records = read_log(&log, resumed_at)?;
        let mut sink = open_log(&log, &records, on_step)?;
        let mut scheduler = Scheduler::new(cfg, &trainer, &dir).map_err(sched_err)?;
        scheduler
            .run(&mut trainer, data, &mut sink, &mut records, &ckpt)
            .map_err(sched_err)?;
        let run = spec.run_id();
        write_table(&dir, step_rows(&run, &records))?;
        write_table(&dir, scheduler.block_rows(&run, &records).map_err(sched_err)?)?;
        let supernet = scheduler.supernet_rows(&run, &records).map_err(sched_err)?;
        if !supernet.is_empty() {
            write_table(&dir, supernet)?;
        }
        Ok(resumed_at)
    })();
    match result {
        Ok(resumed_at) => {
            let mut outputs = vec![
                "steps.parquet",
                "blocks.parquet",
                "last.safetensors",
                "steps.jsonl",
                "decisions.jsonl",
            ];
            if dir.join("supernet.parquet").exists() {
                outputs.push("supernet.parquet");
            }
            rd.complete(&outputs)?;
            Ok(RunOutcome {
                dir,
                cached: false,
                resumed_at,
            })
        }
        Err(e) => {
            rd.fail(&e.to_string())?;
            Err(e)
        }
    }
}

/// Trains experiment `exp` on its own dataset (`[data]`, training split),
/// as `entprog train` does.
pub fn run_with_data(exp: &Experiment, on_step: &mut dyn FnMut(&StepRecord)) -> Result<RunOutcome, RunError> {
    let cfg = &exp.config;
    let loader = cfg
        .data
        .mixed_loader(crate::data::Split::Train, cfg.train.batch_size, cfg.seed)?;
    let mut source = |step: u64, device: &candle_core::Device| {
        let b = loader.batch(step, device).map_err(|e| e.to_string())?;
        Ok(super::trainer::TrainBatch {
            reference: b.reference,
            frames: b.frames,
            poses: b.poses,
        })
    };
    run_experiment(exp, &mut source, on_step)
}

/// A few lines on a finished run: steps and seconds per phase, the scoring
/// cost and the supernet's share, each stage's m (from `steps.jsonl` and
/// `decisions.jsonl`).
pub fn summary(dir: &Path) -> Result<String, RunError> {
    use super::trainer::Phase;
    use crate::entprog::progressive::{read_decisions, Decision};
    let records = read_log(&dir.join("steps.jsonl"), u64::MAX)?;
    let decisions = read_decisions(&dir.join("decisions.jsonl"), u64::MAX).map_err(|e| RunError::Log {
        path: dir.join("decisions.jsonl"),
        message: e.to_string(),
    })?;
    // `+ 0.0`: an empty f64 sum is -0.0.
    let wall = |p: Phase| records.iter().filter(|r| r.phase == p).map(|r| r.wall_s).sum::<f64>() + 0.0;
    let count = |p: Phase| records.iter().filter(|r| r.phase == p).count();
    let scoring: f64 = decisions
        .iter()
        .map(|d| match d {
            Decision::Order { wall_s, .. } | Decision::HeldOut { wall_s, .. } => *wall_s,
        })
        .sum::<f64>()
        + 0.0;
    let (train, sup) = (wall(Phase::Train), wall(Phase::Supernet));
    let total = train + sup + scoring;
    let mut out = format!(
        "steps: {} train ({train:.1} s) + {} supernet ({sup:.1} s); scoring and held-out evals {scoring:.1} s; \
         supernet + scoring = {:.1}% of {total:.1} s\n",
        count(Phase::Train),
        count(Phase::Supernet),
        100.0 * (sup + scoring) / total.max(1e-12)
    );
    let mut stage = usize::MAX;
    for r in records.iter().filter(|r| r.phase == Phase::Train) {
        if r.stage != stage {
            stage = r.stage;
            out.push_str(&format!(
                "  k{stage}: trains from step {} with m = {}\n",
                r.step,
                r.m.map_or("-".into(), |m| m.to_string())
            ));
        }
    }
    Ok(out)
}
