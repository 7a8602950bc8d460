//! Progressive training under a schedule (PAPER.md §2, §4): the driver that
//! turns a [`Plan`] into gates step by step, scores blocks, runs the Nested
//! Diffusion Supernet and records every decision.
//!
//! The schedulable blocks are the blocks the stage's gate plan leaves
//! trainable (stage 2: the spatial and reference blocks; stage 3: the
//! temporal blocks). A stage with m unfrozen blocks makes the top-m of the
//! priority order trainable and the rest frozen (or skipped, with
//! `schedule.skip_inactive`, the nested sub-network ablation).
//!
//! Every decision is a pure function of files in the run folder, so a killed
//! run resumes to the same schedule: `decisions.jsonl` holds the priority
//! order of each stage (`order` events, stamped with the step they were made
//! at) and the supernet's held-out losses at its chunk boundaries (`heldout`
//! events); the cost of each chunk comes from `steps.jsonl`. On resume both
//! logs are cut back to the checkpoint's step and the rest runs again.
//!
//! Supernet steps are optimizer steps of the run (they count in its step
//! budget and totals) and are marked `phase = supernet` in `steps.parquet`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use super::decisions::{read_decisions, Decision};
use super::heldout::HeldOut;
use super::schedule::{admissible, Clock, Plan, PlanError, StageBlocks};
use super::score::ScoreError;
use super::scorers::{needs_cei, needs_heldout, score, Evidence};
use super::supernet::{choose, chunks, convergence_efficiency, Chunk, ChunkSpan};
use crate::config::ExperimentConfig;
use crate::model::{BlockId, Blocks, Denoiser, Gate};
use crate::results::{BlockRow, StepRow, SupernetRow};
use crate::train::trainer::{should_checkpoint, BatchSource, Phase, StepRecord, StepSink, TrainError, Trainer};

/// Errors of a scheduled run.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Train(#[from] Box<TrainError>),
    #[error("block scoring: {0}")]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("schedule: the stage's gate plan leaves no block trainable, nothing to schedule")]
    NoBlocks,
    #[error(
        "schedule: stage {stage}'s supernet needs {need} steps (supernet_rounds x candidates x supernet_steps) \
         but the stage has {have}; expected fewer, so the chosen m trains at least one step"
    )]
    SupernetTooLong { stage: usize, need: u64, have: u64 },
    #[error("{}: {message}", path.display())]
    Log { path: PathBuf, message: String },
    #[error("schedule state: {0}")]
    State(String),
}

impl From<TrainError> for ScheduleError {
    fn from(e: TrainError) -> Self {
        ScheduleError::Train(Box::new(e))
    }
}

/// The schedulable blocks of `cfg` on `model` and the plan over them,
/// checked (every supernet phase leaves its stage at least one step).
/// Schedulable = trainable under the stage's gate plan (not the model's
/// current gates: a resumed model carries the gates of its last step).
pub fn layout(cfg: &ExperimentConfig, model: &Denoiser) -> Result<(Vec<BlockId>, Plan), ScheduleError> {
    let plan_gates = cfg
        .train
        .gates
        .apply(model.gates().names())
        .map_err(|e| ScheduleError::Train(Box::new(e.into())))?;
    let ids: Vec<BlockId> = model
        .blocks()
        .into_iter()
        .map(|b| b.id)
        .filter(|&id| plan_gates.block(id) == Gate::Trainable)
        .collect();
    if ids.is_empty() {
        return Err(ScheduleError::NoBlocks);
    }
    let plan = Plan::new(&cfg.schedule, ids.len(), cfg.train.steps)?;
    let sc = &cfg.schedule;
    for s in &plan.stages {
        if let StageBlocks::Candidates(c) = &s.blocks {
            let need = (sc.supernet_rounds * c.len() * sc.supernet_steps) as u64;
            if need >= s.steps {
                return Err(ScheduleError::SupernetTooLong {
                    stage: s.index,
                    need,
                    have: s.steps,
                });
            }
        }
    }
    Ok((ids, plan))
}

/// The gate of the block at priority position `rank` when `m` are unfrozen.
pub fn gate_at(rank: usize, m: usize, skip_inactive: bool) -> Gate {
    if rank < m {
        Gate::Trainable
    } else if skip_inactive {
        Gate::Skipped
    } else {
        Gate::Frozen
    }
}

/// Scores, held-out set and decision log of a scheduled run.
pub struct Scheduler<'a> {
    cfg: &'a ExperimentConfig,
    pub plan: Plan,
    pub ids: Vec<BlockId>,
    needs_order: bool,
    decisions: Vec<Decision>,
    log_path: PathBuf,
    log: std::fs::File,
    heldout: Option<HeldOut>,
    choices: Vec<Option<usize>>,
}

impl<'a> Scheduler<'a> {
    /// Lays out the schedule of `cfg` for `trainer`'s model (gates already
    /// set by the stage's gate plan) and opens `decisions.jsonl` in `dir`,
    /// keeping the decisions made up to the trainer's step.
    pub fn new(cfg: &'a ExperimentConfig, trainer: &Trainer, dir: &Path) -> Result<Self, ScheduleError> {
        let (ids, plan) = layout(cfg, &trainer.model)?;
        let l = ids.len();
        let needs_order = plan.stages.iter().any(|s| match &s.blocks {
            StageBlocks::Fixed(m) => *m < l,
            StageBlocks::Candidates(c) => c.iter().any(|&m| m < l),
        });
        let log_path = dir.join("decisions.jsonl");
        let decisions = read_decisions(&log_path, trainer.step)?;
        let log = crate::results::jsonl::rewrite(&log_path, &decisions).map_err(|message| ScheduleError::Log {
            path: log_path.clone(),
            message,
        })?;
        let stages = plan.stages.len();
        Ok(Self {
            cfg,
            plan,
            ids,
            needs_order,
            decisions,
            log_path,
            log,
            heldout: None,
            choices: vec![None; stages],
        })
    }

    /// The decisions so far.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn push(&mut self, d: Decision) -> Result<(), ScheduleError> {
        let line = serde_json::to_string(&d).expect("decisions serialise");
        writeln!(self.log, "{line}")
            .and_then(|_| self.log.flush())
            .map_err(|e| ScheduleError::Log {
                path: self.log_path.clone(),
                message: e.to_string(),
            })?;
        self.decisions.push(d);
        Ok(())
    }

    fn heldout(&mut self, trainer: &Trainer) -> Result<&HeldOut, ScheduleError> {
        if self.heldout.is_none() {
            self.heldout = Some(super::evidence::heldout(self.cfg, trainer.schedule())?);
        }
        Ok(self.heldout.as_ref().expect("just built"))
    }

    /// The priority order of `stage` (indices into `ids`), scoring the
    /// current model when the order is due now and not yet in the log.
    fn order(&mut self, stage: usize, step: u64, trainer: &mut Trainer) -> Result<Vec<usize>, ScheduleError> {
        let owner = if self.cfg.schedule.rerank { stage } else { 0 };
        let found = self.decisions.iter().find_map(|d| match d {
            Decision::Order { stage, order, .. } if *stage == owner => Some(order.clone()),
            _ => None,
        });
        if let Some(order) = found {
            return Ok(order);
        }
        if step != self.plan.stages[owner].start {
            return Err(ScheduleError::State(format!(
                "{}: no priority order for stage {owner} at step {step} (it is made at the stage's first step)",
                self.log_path.display()
            )));
        }
        let start = Instant::now();
        let scorer = if self.needs_order {
            self.cfg.schedule.scorer.clone()
        } else {
            // Every stage trains every block: no ranking is needed or paid for.
            "none".to_string()
        };
        let (values, se) = if scorer == "none" {
            (vec![0.0; self.ids.len()], vec![None; self.ids.len()])
        } else {
            // Built for this scoring and dropped after it: N = 256 8-frame
            // clips with their poses are 54 MB, which a run that kept them
            // carried through every later step (its peak 166 MB against 112
            // MB for full training). A rerank rebuilds the same samples from
            // their seeded streams.
            let cei = if needs_cei(&scorer) {
                Some(super::evidence::cei_samples(self.cfg, trainer.schedule())?)
            } else {
                None
            };
            if needs_heldout(&scorer) {
                self.heldout(trainer)?;
            }
            let ev = Evidence {
                cei: cei.as_deref(),
                heldout: self.heldout.as_ref(),
                settings: super::evidence::settings(self.cfg),
            };
            let s = score(&scorer, &mut trainer.model, &self.ids, &ev, owner as u64)?;
            (s.values, s.se)
        };
        let mut order = super::rank::order_by_score(&values);
        if self.cfg.schedule.reverse {
            order.reverse();
        }
        self.push(Decision::Order {
            step,
            stage: owner,
            scorer,
            ids: self.ids.iter().map(|i| i.to_string()).collect(),
            values: values.iter().map(|v| v.is_finite().then_some(*v)).collect(),
            se,
            order: order.clone(),
            wall_s: start.elapsed().as_secs_f64(),
        })?;
        Ok(order)
    }

    /// Candidates stage `k` may choose from, given the previous stage's m.
    fn candidates(&mut self, k: usize, records: &[StepRecord]) -> Result<Vec<usize>, ScheduleError> {
        let StageBlocks::Candidates(set) = self.plan.stages[k].blocks.clone() else {
            return Ok(Vec::new());
        };
        let previous = if k == 0 { None } else { Some(self.m_of(k - 1, records)?) };
        let c = admissible(&set, previous, self.cfg.schedule.allow_decrease);
        if c.is_empty() {
            return Err(PlanError::NoCandidate {
                stage: k,
                previous: previous.unwrap_or(0),
            }
            .into());
        }
        Ok(c)
    }

    /// The supernet chunks of stage `k` (empty for a fixed stage).
    pub fn chunks_of(&mut self, k: usize, records: &[StepRecord]) -> Result<Vec<ChunkSpan>, ScheduleError> {
        let c = self.candidates(k, records)?;
        let sc = &self.cfg.schedule;
        Ok(chunks(
            self.cfg.seed,
            k,
            self.plan.stages[k].start,
            &c,
            sc.supernet_rounds,
            sc.supernet_steps,
        ))
    }

    /// The m stage `k` trains with after its supernet (the fixed m of a fixed stage).
    pub fn m_of(&mut self, k: usize, records: &[StepRecord]) -> Result<usize, ScheduleError> {
        if let StageBlocks::Fixed(m) = self.plan.stages[k].blocks {
            return Ok(m);
        }
        if let Some(m) = self.choices[k] {
            return Ok(m);
        }
        let ce = self.ce_of(k, records)?;
        let m = choose(&ce.iter().map(|(m, ce, _)| (*m, *ce)).collect::<Vec<_>>())
            .ok_or_else(|| ScheduleError::State(format!("stage {k}: no candidate")))?;
        self.choices[k] = Some(m);
        Ok(m)
    }

    fn heldout_at(&self, step: u64) -> Option<f64> {
        self.decisions.iter().find_map(|d| match d {
            Decision::HeldOut { step: s, loss, .. } if *s == step => Some(*loss),
            _ => None,
        })
    }

    /// Per candidate of stage `k`: CE and its chunks (held-out loss before
    /// and after, FLOPs and wall cost), from the decision and step logs.
    #[allow(clippy::type_complexity)]
    pub fn ce_of(
        &mut self,
        k: usize,
        records: &[StepRecord],
    ) -> Result<Vec<(usize, Option<f64>, Vec<(ChunkSpan, Chunk, f64)>)>, ScheduleError> {
        let spans = self.chunks_of(k, records)?;
        let clock = self.cfg.schedule.clock;
        let mut per: Vec<(usize, Vec<(ChunkSpan, Chunk, f64)>)> = Vec::new();
        for span in spans {
            let (Some(before), Some(after)) = (self.heldout_at(span.start), self.heldout_at(span.end())) else {
                return Err(ScheduleError::State(format!(
                    "stage {k}: no held-out loss at steps {} and {} in {}",
                    span.start,
                    span.end(),
                    self.log_path.display()
                )));
            };
            let steps: Vec<&StepRecord> = records
                .iter()
                .filter(|r| (span.start..span.end()).contains(&r.step))
                .collect();
            let flops: f64 = steps.iter().map(|r| r.flops.total() as f64).sum();
            let wall: f64 = steps.iter().map(|r| r.wall_s).sum();
            let cost = match clock {
                Clock::Flops => flops,
                Clock::Wall => wall,
            };
            let chunk = Chunk {
                loss_before: before,
                loss_after: after,
                cost,
            };
            let other = match clock {
                Clock::Flops => wall,
                Clock::Wall => flops,
            };
            match per.iter_mut().find(|(m, _)| *m == span.m) {
                Some((_, v)) => v.push((span, chunk, other)),
                None => per.push((span.m, vec![(span, chunk, other)])),
            }
        }
        per.sort_by_key(|(m, _)| *m);
        Ok(per
            .into_iter()
            .map(|(m, v)| {
                let ce = convergence_efficiency(&v.iter().map(|(_, c, _)| *c).collect::<Vec<_>>());
                (m, ce, v)
            })
            .collect())
    }

    fn ensure_heldout(&mut self, stage: usize, step: u64, trainer: &Trainer) -> Result<(), ScheduleError> {
        if self.heldout_at(step).is_some() {
            return Ok(());
        }
        let start = Instant::now();
        let loss = self
            .heldout(trainer)?
            .loss(&trainer.model)
            .map_err(|e| ScheduleError::Train(Box::new(e.into())))?;
        self.push(Decision::HeldOut {
            step,
            stage,
            loss,
            wall_s: start.elapsed().as_secs_f64(),
        })
    }

    /// Sets the gates of the schedulable blocks for `m` unfrozen blocks of `order`.
    fn apply(&self, trainer: &mut Trainer, order: &[usize], m: usize) -> Result<(), ScheduleError> {
        for (rank, &i) in order.iter().enumerate() {
            trainer
                .model
                .set_block_gate(self.ids[i], gate_at(rank, m, self.cfg.schedule.skip_inactive))
                .map_err(|e| ScheduleError::Train(Box::new(e.into())))?;
        }
        Ok(())
    }

    /// Runs the schedule from the trainer's step to the end. `records` holds
    /// the steps already done (a resumed run); new records are appended to
    /// it and handed to `sink`.
    pub fn run(
        &mut self,
        trainer: &mut Trainer,
        data: &mut impl BatchSource,
        sink: &mut impl StepSink,
        records: &mut Vec<StepRecord>,
        checkpoint: &Path,
    ) -> Result<(), ScheduleError> {
        let mut last_good: Option<PathBuf> = None;
        while trainer.step < self.plan.total_steps {
            let step = trainer.step;
            let stage = self.plan.stage_at(step).clone();
            let order = self.order(stage.index, step, trainer)?;
            let (phase, m) = match &stage.blocks {
                StageBlocks::Fixed(m) => (Phase::Train, *m),
                StageBlocks::Candidates(_) => {
                    let spans = self.chunks_of(stage.index, records)?;
                    let end = spans.last().map_or(stage.start, |c| c.end());
                    if spans.iter().any(|c| c.start == step) || step == end {
                        self.ensure_heldout(stage.index, step, trainer)?;
                    }
                    match spans.iter().find(|c| (c.start..c.end()).contains(&step)) {
                        Some(c) => (Phase::Supernet, c.m),
                        None => (Phase::Train, self.m_of(stage.index, records)?),
                    }
                }
            };
            self.apply(trainer, &order, m)?;
            let mut record = trainer.next_step(data).map_err(|e| e.naming_checkpoint(&last_good))?;
            record.stage = stage.index;
            record.phase = phase;
            record.m = Some(m as u32);
            sink.record(&record)
                .map_err(|message| TrainError::Sink { step, message })?;
            records.push(record.clone());
            if should_checkpoint(trainer.step, &trainer.train) {
                trainer.save(checkpoint, Some(record.loss))?;
                last_good = Some(checkpoint.to_path_buf());
            }
        }
        Ok(())
    }

    /// `blocks.parquet` rows: per stage, every schedulable block with the
    /// score and rank of the order the stage used and its state in the
    /// stage (after the supernet, for an adaptive stage).
    pub fn block_rows(&mut self, run: &str, records: &[StepRecord]) -> Result<Vec<BlockRow>, ScheduleError> {
        let mut rows = Vec::new();
        for k in 0..self.plan.stages.len() {
            let owner = if self.cfg.schedule.rerank { k } else { 0 };
            let Some(Decision::Order {
                scorer,
                ids,
                values,
                se,
                order,
                ..
            }) = self
                .decisions
                .iter()
                .find(|d| matches!(d, Decision::Order { stage, .. } if *stage == owner))
                .cloned()
            else {
                return Err(ScheduleError::State(format!("no priority order for stage {owner}")));
            };
            let m = self.m_of(k, records)?;
            let rank = super::rank::ranks(&order);
            for (i, id) in ids.iter().enumerate() {
                let kind = id.split('.').next().unwrap_or_default().to_string();
                rows.push(BlockRow {
                    run: run.into(),
                    stage: format!("k{k}"),
                    block_id: id.clone(),
                    kind,
                    scorer: scorer.clone(),
                    score: values[i].unwrap_or(f64::NAN),
                    score_se: se[i],
                    rank: rank[i] as u32,
                    state: gate_at(rank[i], m, self.cfg.schedule.skip_inactive).as_str().into(),
                });
            }
        }
        Ok(rows)
    }

    /// `supernet.parquet` rows: every candidate's chunks with held-out
    /// losses, cumulative clocks, CE and the choice.
    pub fn supernet_rows(&mut self, run: &str, records: &[StepRecord]) -> Result<Vec<SupernetRow>, ScheduleError> {
        let mut rows = Vec::new();
        let clock = self.cfg.schedule.clock;
        for k in 0..self.plan.stages.len() {
            if matches!(self.plan.stages[k].blocks, StageBlocks::Fixed(_)) {
                continue;
            }
            let chosen = self.m_of(k, records)?;
            for (m, ce, chunks) in self.ce_of(k, records)? {
                let (mut flops, mut wall) = (0.0, 0.0);
                for (s, (span, c, other)) in chunks.iter().enumerate() {
                    let (f, w) = match clock {
                        Clock::Flops => (c.cost, *other),
                        Clock::Wall => (*other, c.cost),
                    };
                    flops += f;
                    wall += w;
                    rows.push(SupernetRow {
                        run: run.into(),
                        stage: format!("k{k}"),
                        candidate_m: m as u32,
                        eval_point: s as u32 + 1,
                        step_start: span.start,
                        step_end: span.end(),
                        loss_before: c.loss_before,
                        heldout_loss: c.loss_after,
                        clock_flops: flops,
                        clock_wall_s: wall,
                        ce,
                        chosen: m == chosen,
                    });
                }
            }
        }
        Ok(rows)
    }
}

/// `steps.parquet` rows of scheduled steps.
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
