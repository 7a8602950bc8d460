//! A run's logs, one JSON object per line, flushed as they happen:
//! `steps.jsonl` (every step's record), `decisions.jsonl` (the schedule's
//! priority orders and supernet held-out losses, each stamped with the
//! completed steps it was made after) and `eval.jsonl` (periodic
//! evaluations). Opening a log for a run that resumes at step s keeps what
//! its checkpoint had seen (steps before s, decisions and evaluations at or
//! before s) and cuts the rest, which the resumed run makes again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run::RunError;
use super::trainer::StepRecord;
use crate::entprog::decisions::Decision;
use crate::entprog::progressive::StepCost;
use crate::results::{jsonl, StepRow};

/// One periodic evaluation (a line of `eval.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Completed steps when evaluated.
    pub step: u64,
    /// Long unique metric name (`heldout_loss`).
    pub metric: String,
    pub value: f64,
    /// Samples (clips) the value is over.
    pub n: usize,
    /// Wall seconds the evaluation took.
    #[serde(default)]
    pub wall_s: f64,
}

/// One appendable log file.
struct Appender {
    path: PathBuf,
    file: Option<File>,
}

impl Appender {
    /// Rewrites `path` with `kept` (when `write`); a `lazy` log that has
    /// nothing yet and no file is only created by its first entry.
    fn open<T: Serialize>(path: PathBuf, kept: &[T], write: bool, lazy: bool) -> Result<Self, RunError> {
        let file = if write && !(lazy && kept.is_empty() && !path.exists()) {
            Some(jsonl::rewrite(&path, kept).map_err(|message| RunError::Log {
                path: path.clone(),
                message,
            })?)
        } else {
            None
        };
        Ok(Self { path, file })
    }

    fn append<T: Serialize>(&mut self, entry: &T) -> Result<(), RunError> {
        let line = serde_json::to_string(entry).expect("log entries serialise");
        if self.file.is_none() {
            let created = jsonl::rewrite::<T>(&self.path, &[]).map_err(|message| RunError::Log {
                path: self.path.clone(),
                message,
            })?;
            self.file = Some(created);
        }
        let file = self.file.as_mut().expect("just opened");
        writeln!(file, "{line}")
            .and_then(|_| file.flush())
            .map_err(|e| RunError::Log {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path, keep: impl Fn(&T) -> bool) -> Result<Vec<T>, RunError> {
    jsonl::read(path, keep).map_err(|message| RunError::Log {
        path: path.into(),
        message,
    })
}

/// The three logs of a run folder and what they hold so far.
pub struct RunLog {
    records: Vec<StepRecord>,
    costs: Vec<StepCost>,
    decisions: Vec<Decision>,
    evals: Vec<EvalRecord>,
    steps_log: Appender,
    decisions_log: Appender,
    evals_log: Appender,
}

fn cost(r: &StepRecord) -> StepCost {
    StepCost {
        step: r.step,
        flops: r.flops.total() as f64,
        wall_s: r.wall_s,
    }
}

impl RunLog {
    /// Opens the logs of `dir` for a run resuming at step `resumed_at`.
    pub fn open(dir: &Path, resumed_at: u64) -> Result<Self, RunError> {
        Self::load(dir, resumed_at, true)
    }

    /// Reads the logs of a finished run.
    pub fn open_read_only(dir: &Path) -> Result<Self, RunError> {
        Self::load(dir, u64::MAX, false)
    }

    fn load(dir: &Path, until: u64, write: bool) -> Result<Self, RunError> {
        let (steps, decisions, evals) = (
            dir.join("steps.jsonl"),
            dir.join("decisions.jsonl"),
            dir.join("eval.jsonl"),
        );
        let records: Vec<StepRecord> = read(&steps, |r: &StepRecord| r.step < until)?;
        let kept_decisions: Vec<Decision> = read(&decisions, |d: &Decision| d.step() <= until)?;
        let kept_evals: Vec<EvalRecord> = read(&evals, |e: &EvalRecord| e.step <= until)?;
        Ok(Self {
            costs: records.iter().map(cost).collect(),
            steps_log: Appender::open(steps, &records, write, false)?,
            decisions_log: Appender::open(decisions, &kept_decisions, write, false)?,
            evals_log: Appender::open(evals, &kept_evals, write, true)?,
            records,
            decisions: kept_decisions,
            evals: kept_evals,
        })
    }

    /// Records a finished step.
    pub fn step(&mut self, record: &StepRecord) -> Result<(), RunError> {
        self.steps_log.append(record)?;
        self.costs.push(cost(record));
        self.records.push(record.clone());
        Ok(())
    }

    /// Records a decision of the policy.
    pub fn decide(&mut self, decision: Decision) -> Result<(), RunError> {
        self.decisions_log.append(&decision)?;
        self.decisions.push(decision);
        Ok(())
    }

    /// Records an evaluation after `step` completed steps.
    pub fn evaluate(&mut self, step: u64, metric: &str, value: f64, n: usize, wall_s: f64) -> Result<(), RunError> {
        let e = EvalRecord {
            step,
            metric: metric.into(),
            value,
            n,
            wall_s,
        };
        self.evals_log.append(&e)?;
        self.evals.push(e);
        Ok(())
    }

    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    pub fn costs(&self) -> &[StepCost] {
        &self.costs
    }

    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    pub fn evals(&self) -> &[EvalRecord] {
        &self.evals
    }
}

/// `steps.parquet` rows.
pub fn step_rows(run: &str, records: &[StepRecord]) -> Vec<StepRow> {
    records
        .iter()
        .map(|r| StepRow {
            run: run.into(),
            stage: format!("k{}", r.stage),
            phase: r.phase.as_str().into(),
            step: r.step,
            m: r.m,
            loss: r.loss as f64,
            lr: r.lr,
            wall_s: r.wall_s,
            flops: r.flops.total() as f64,
            peak_bytes: r.peak_bytes,
        })
        .collect()
}
