//! One training run of an experiment on disk (STYLE.md §5, §8): open the
//! run folder (config and manifest first), resume from its checkpoint or
//! start from the previous stage's, train, log every step to `steps.jsonl`
//! as it happens, and at the end write `steps.parquet` and mark the run
//! complete. A finished run with the same config hash is reused.
//!
//! Resume: the folder of an interrupted run with the same config keeps
//! `last.safetensors` and `steps.jsonl`; the log is cut back to the
//! checkpoint's step and the steps after it run again (bit-identically).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::config::Experiment;
use crate::results::{write_table, Opened, RunDir, RunDirError, RunSpec, StepRow, TableError};

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
    let err = |message: String| RunError::Log {
        path: path.into(),
        message,
    };
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| err(e.to_string()))?;
        let r: StepRecord = serde_json::from_str(&line).map_err(|e| err(e.to_string()))?;
        if r.step < until {
            out.push(r);
        }
    }
    Ok(out)
}

/// Rewrites `steps.jsonl` with `records` and opens it for appending.
fn open_log<'a>(
    path: &Path,
    records: &[StepRecord],
    on_step: &'a mut dyn FnMut(&StepRecord),
) -> Result<JsonlSink<'a>, RunError> {
    let err = |e: std::io::Error| RunError::Log {
        path: path.into(),
        message: e.to_string(),
    };
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).map_err(|e| RunError::Log {
            path: path.into(),
            message: e.to_string(),
        })?);
        text.push('\n');
    }
    crate::results::write_atomic(path, text.as_bytes()).map_err(err)?;
    let file = std::fs::OpenOptions::new().append(true).open(path).map_err(err)?;
    Ok(JsonlSink {
        path: path.into(),
        file,
        on_step,
    })
}

/// `steps.parquet` rows of a run.
fn step_rows(run: &str, stage: &str, records: &[StepRecord]) -> Vec<StepRow> {
    records
        .iter()
        .map(|r| StepRow {
            run: run.into(),
            stage: stage.into(),
            phase: "train".into(),
            step: r.step,
            m: None,
            loss: r.loss as f64,
            lr: r.lr,
            wall_s: r.wall_s,
            flops: r.flops.total() as f64,
            peak_bytes: r.peak_bytes,
        })
        .collect()
}

/// Trains experiment `exp` on batches from `data` in its run folder, calling
/// `on_step` after every step (progress display).
pub fn run_experiment(
    exp: &Experiment,
    data: &mut impl BatchSource,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<RunOutcome, RunError> {
    let cfg = &exp.config;
    let spec = RunSpec {
        results_dir: cfg.output.results_dir.clone(),
        experiment: exp.name.clone(),
        cell: "train".into(),
        seed: cfg.seed,
        config_hash: exp.hash.clone(),
        config_toml: exp.to_toml(),
    };
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
        let mut sink = open_log(&log, &read_log(&log, resumed_at)?, on_step)?;
        trainer.run(data, &mut sink, Some(&ckpt)).map_err(train_err)?;
        let stage = serde_json::to_value(cfg.train.stage)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        write_table(&dir, step_rows(&spec.run_id(), &stage, &read_log(&log, u64::MAX)?))?;
        Ok(resumed_at)
    })();
    match result {
        Ok(resumed_at) => {
            rd.complete(&["steps.parquet", "last.safetensors", "steps.jsonl"])?;
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
