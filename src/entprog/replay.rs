//! Replay (issue: every decision auditable from the files alone): rebuild
//! the schedule of a finished run from its `config.toml`, `blocks.parquet`,
//! `supernet.parquet` and `steps.parquet`, and check it against what ran.
//!
//! From the config: the plan (stages, lengths, candidate sets) and the
//! supernet's chunk layout (seeded). From `supernet.parquet`: CE of every
//! candidate, recomputed from the held-out losses and the clock, and its
//! argmax. From `blocks.parquet`: the priority ranks. The replay derives
//! each stage's m and trainable set and each step's phase and m, and lists
//! every place the files disagree with it.

use std::path::Path;

use polars::prelude::*;

use super::schedule::{admissible, Clock, Plan, StageBlocks};
use super::supernet::{choose, chunks, convergence_efficiency, Chunk};
use crate::config::ExperimentConfig;

/// One stage as the replay derives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedStage {
    pub index: usize,
    pub start: u64,
    pub steps: u64,
    /// Unfrozen blocks after the stage's supernet (if any).
    pub m: usize,
    /// CE per candidate, recomputed from `supernet.parquet` (empty for a fixed stage).
    pub ce: Vec<(usize, Option<f64>)>,
    /// The unfrozen blocks, highest priority first.
    pub trainable: Vec<String>,
}

/// The rebuilt schedule and every disagreement with the files.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub stages: Vec<ReplayedStage>,
    pub mismatches: Vec<String>,
}

/// Errors reading a run folder.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {message}")]
    File { path: std::path::PathBuf, message: String },
    #[error("{path}: column `{column}`: {message}")]
    Column {
        path: std::path::PathBuf,
        column: String,
        message: String,
    },
}

fn read(dir: &Path, name: &str) -> Result<Option<DataFrame>, ReplayError> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let file = std::fs::File::open(&path).map_err(|e| ReplayError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    ParquetReader::new(file)
        .finish()
        .map(Some)
        .map_err(|e| ReplayError::File {
            path,
            message: e.to_string(),
        })
}

/// Typed column access with a located error.
struct Cols<'a> {
    df: &'a DataFrame,
    path: std::path::PathBuf,
}

impl Cols<'_> {
    fn err(&self, column: &str, message: impl ToString) -> ReplayError {
        ReplayError::Column {
            path: self.path.clone(),
            column: column.into(),
            message: message.to_string(),
        }
    }
    fn str(&self, c: &str) -> Result<Vec<String>, ReplayError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.str()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }
    fn u64(&self, c: &str) -> Result<Vec<u64>, ReplayError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        let s = s.cast(&DataType::UInt64).map_err(|e| self.err(c, e))?;
        Ok(s.u64()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or(u64::MAX))
            .collect())
    }
    fn f64(&self, c: &str) -> Result<Vec<Option<f64>>, ReplayError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.f64().map_err(|e| self.err(c, e))?.iter().collect())
    }
    fn bool(&self, c: &str) -> Result<Vec<bool>, ReplayError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.bool()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect())
    }
}

/// Rebuilds the schedule of the finished run in `dir`.
pub fn replay(dir: &Path) -> Result<Replay, ReplayError> {
    let cfg_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| ReplayError::File {
        path: cfg_path.clone(),
        message: e.to_string(),
    })?;
    let cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| ReplayError::File {
        path: cfg_path.clone(),
        message: e.to_string(),
    })?;
    let missing = |name: &str| ReplayError::File {
        path: dir.join(name),
        message: "missing (the run did not finish?)".into(),
    };
    let blocks = read(dir, "blocks.parquet")?.ok_or_else(|| missing("blocks.parquet"))?;
    let steps = read(dir, "steps.parquet")?.ok_or_else(|| missing("steps.parquet"))?;
    let supernet = read(dir, "supernet.parquet")?;
    let bc = Cols {
        df: &blocks,
        path: dir.join("blocks.parquet"),
    };
    let (b_stage, b_id, b_rank, b_state) = (bc.str("stage")?, bc.str("block_id")?, bc.u64("rank")?, bc.str("state")?);
    let sc = Cols {
        df: &steps,
        path: dir.join("steps.parquet"),
    };
    let (s_step, s_phase, s_m) = (sc.u64("step")?, sc.str("phase")?, sc.u64("m")?);

    let mut mismatches = Vec::new();
    // Priority order of each stage from the ranks.
    let order_of = |k: usize| -> Vec<String> {
        let mut rows: Vec<(u64, String)> = (0..b_stage.len())
            .filter(|&i| b_stage[i] == format!("k{k}"))
            .map(|i| (b_rank[i], b_id[i].clone()))
            .collect();
        rows.sort();
        rows.into_iter().map(|(_, id)| id).collect()
    };
    let l = order_of(0).len();
    let plan = Plan::new(&cfg.schedule, l, cfg.train.steps).map_err(|e| ReplayError::File {
        path: cfg_path.clone(),
        message: e.to_string(),
    })?;
    let sn = match &supernet {
        Some(df) => {
            let c = Cols {
                df,
                path: dir.join("supernet.parquet"),
            };
            Some((
                c.str("stage")?,
                c.u64("candidate_m")?,
                c.u64("step_start")?,
                c.u64("step_end")?,
                c.f64("loss_before")?,
                c.f64("heldout_loss")?,
                c.f64("clock_flops")?,
                c.f64("clock_wall_s")?,
                c.bool("chosen")?,
            ))
        }
        None => None,
    };

    let s = &cfg.schedule;
    let mut stages = Vec::new();
    let mut expected_steps: Vec<(u64, &'static str, usize)> = Vec::new();
    let mut previous = None;
    for st in &plan.stages {
        let k = st.index;
        let label = format!("k{k}");
        let (m, ce, spans) = match &st.blocks {
            StageBlocks::Fixed(m) => (*m, Vec::new(), Vec::new()),
            StageBlocks::Candidates(set) => {
                let cands = admissible(set, previous, s.allow_decrease);
                let spans = chunks(cfg.seed, k, st.start, &cands, s.supernet_rounds, s.supernet_steps);
                let Some((stage, cm, start, end, before, after, flops, wall, chosen)) = &sn else {
                    mismatches.push(format!("{label}: adaptive stage but no supernet.parquet"));
                    continue;
                };
                let mut ce = Vec::new();
                let mut chosen_in_file = None;
                for &m in &cands {
                    let rows: Vec<usize> = (0..stage.len())
                        .filter(|&i| stage[i] == label && cm[i] == m as u64)
                        .collect();
                    let want: Vec<(u64, u64)> = spans.iter().filter(|c| c.m == m).map(|c| (c.start, c.end())).collect();
                    let got: Vec<(u64, u64)> = rows.iter().map(|&i| (start[i], end[i])).collect();
                    if got != want {
                        mismatches.push(format!(
                            "{label}: candidate {m} trained steps {got:?}, the layout says {want:?}"
                        ));
                    }
                    let mut last_cost = 0.0;
                    let chunks: Vec<Chunk> = rows
                        .iter()
                        .map(|&i| {
                            let cum = match s.clock {
                                Clock::Flops => flops[i],
                                Clock::Wall => wall[i],
                            }
                            .unwrap_or(f64::NAN);
                            let c = Chunk {
                                loss_before: before[i].unwrap_or(f64::NAN),
                                loss_after: after[i].unwrap_or(f64::NAN),
                                cost: cum - last_cost,
                            };
                            last_cost = cum;
                            c
                        })
                        .collect();
                    ce.push((m, convergence_efficiency(&chunks)));
                    if rows.iter().any(|&i| chosen[i]) {
                        chosen_in_file = Some(m);
                    }
                }
                let m = choose(&ce).unwrap_or(0);
                if chosen_in_file != Some(m) {
                    mismatches.push(format!(
                        "{label}: supernet.parquet marks {chosen_in_file:?} chosen, argmax CE is {m}"
                    ));
                }
                (m, ce, spans)
            }
        };
        previous = Some(m);
        let order = order_of(if s.rerank { k } else { 0 });
        for i in (0..b_stage.len()).filter(|&i| b_stage[i] == label) {
            let rank = b_rank[i] as usize;
            let want = super::progressive::gate_at(rank, m, s.skip_inactive).as_str();
            if b_state[i] != want {
                mismatches.push(format!("{label}: {} is {}, replay says {want}", b_id[i], b_state[i]));
            }
        }
        for step in st.start..st.start + st.steps {
            match spans.iter().find(|c| (c.start..c.end()).contains(&step)) {
                Some(c) => expected_steps.push((step, "supernet", c.m)),
                None => expected_steps.push((step, "train", m)),
            }
        }
        stages.push(ReplayedStage {
            index: k,
            start: st.start,
            steps: st.steps,
            m,
            ce,
            trainable: order.into_iter().take(m).collect(),
        });
    }
    let ran: Vec<(u64, String, u64)> = (0..s_step.len())
        .map(|i| (s_step[i], s_phase[i].clone(), s_m[i]))
        .collect();
    if ran.len() != expected_steps.len() {
        mismatches.push(format!(
            "steps.parquet has {} steps, the plan {}",
            ran.len(),
            expected_steps.len()
        ));
    }
    for ((step, phase, m), (want_step, want_phase, want_m)) in ran.iter().zip(&expected_steps) {
        if step != want_step || phase != want_phase || *m != *want_m as u64 {
            mismatches.push(format!(
                "step {step}: ran {phase} with m = {m}, replay says step {want_step} {want_phase} with m = {want_m}"
            ));
            if mismatches.len() > 20 {
                break;
            }
        }
    }
    Ok(Replay { stages, mismatches })
}
