//! Progressive training under a schedule (PAPER.md §2, §4), as a policy:
//! told the step and the run's history, [`Progressive::next`] says what
//! the step trains (stage, phase, m and the gate of every schedulable
//! block), or first asks for the evidence its decision needs: a priority
//! order of the blocks (a scoring pass) or the held-out loss of the model
//! as it is now (the Nested Diffusion Supernet's measurements). The run
//! code performs what is asked, records it in the history as a
//! [`Decision`] and asks again. The policy does no file IO and never sees
//! the model: everything it decides is a pure function of the plan, the
//! seed and the history, so a killed run resumes to the same schedule and
//! `entprog replay` can recompute it from the files.
//!
//! The schedulable blocks are the blocks the stage's gate plan leaves
//! trainable (stage 2: the spatial and reference blocks; stage 3: the
//! temporal blocks); [`schedulable`] reads them off any model through the
//! [`Blocks`] trait. A stage with m unfrozen blocks makes the top-m of the
//! priority order trainable and the rest frozen (or skipped, with
//! `schedule.skip_inactive`, the nested sub-network ablation).
//!
//! Supernet steps are optimizer steps of the run (they count in its step
//! budget and totals) and are marked `phase = supernet` in `steps.parquet`.

pub use super::decisions::Decision;
use super::schedule::{admissible, Clock, Plan, PlanError, ScheduleConfig, ScheduleStage, StageBlocks};
use super::scorers::{Scorer, Scores};
use super::supernet::{choose, chunks, convergence_efficiency, Chunk, ChunkSpan};
use crate::model::{BlockId, Blocks, Gate};
use crate::results::{BlockRow, SupernetRow};

/// Errors of a schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("schedule: the stage's gate plan leaves no block trainable, nothing to schedule")]
    NoBlocks,
    #[error(
        "schedule: stage {stage}'s supernet needs {need} steps (supernet_rounds x candidates x supernet_steps) \
         but the stage has {have}; expected fewer, so the chosen m trains at least one step"
    )]
    SupernetTooLong { stage: usize, need: u64, have: u64 },
    #[error("schedule state: {0}")]
    State(String),
}

/// What kind of step a step is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Regular training.
    #[default]
    Train,
    /// A Nested Diffusion Supernet step (PAPER.md §4).
    Supernet,
}

impl Phase {
    /// The name written to `steps.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Train => "train",
            Phase::Supernet => "supernet",
        }
    }
}

/// What the policy knows of one finished step: its cost on both clocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCost {
    pub step: u64,
    /// Analytic FLOPs of what ran.
    pub flops: f64,
    /// Wall seconds of the step.
    pub wall_s: f64,
}

/// The history a decision may look at: the finished steps (in step order)
/// and the decisions recorded so far.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    pub steps: &'a [StepCost],
    pub decisions: &'a [Decision],
}

/// What one step trains.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    /// Index of the schedule stage.
    pub stage: usize,
    pub phase: Phase,
    /// Unfrozen blocks m.
    pub m: usize,
    /// The gate of every schedulable block.
    pub gates: Vec<(BlockId, Gate)>,
}

/// The policy's answer for a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Rank the blocks of stage `stage` first: score them with `scorer`
    /// (`None`: every stage trains every block, so no ranking is needed or
    /// paid for) and record [`Progressive::ranked`]'s decision.
    Score { stage: usize, scorer: Option<Scorer> },
    /// Measure the held-out loss of the model as it is now and record it as
    /// a [`Decision::HeldOut`] of this step and `stage`.
    HeldOut { stage: usize },
    /// Train the step.
    Train(StepPlan),
}

/// The supernet's settings, validated with the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SupernetSettings {
    /// Rounds per stage; each trains every candidate once.
    pub rounds: usize,
    /// Optimizer steps per candidate per round.
    pub steps: usize,
    /// Clock of CE(m) = loss drop / cost.
    pub clock: Clock,
    /// Whether a stage may choose fewer blocks than the previous one.
    pub allow_decrease: bool,
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

/// The schedulable blocks of `model` under its current gates (call it with
/// the stage's gate plan applied): the trainable ones, in forward order.
pub fn schedulable<M: Blocks>(model: &M) -> Vec<BlockId> {
    model
        .blocks()
        .into_iter()
        .map(|b| b.id)
        .filter(|&id| model.block_gate(id) == Gate::Trainable)
        .collect()
}

/// One supernet chunk with its cost on the other clock than the decision's.
pub type ChunkCost = (ChunkSpan, Chunk, f64);

/// Per candidate of a stage: m, CE, and its chunks with their costs.
pub type CandidateCe = (usize, Option<f64>, Vec<ChunkCost>);

/// An Ent-Prog schedule over a run's schedulable blocks.
#[derive(Debug, Clone)]
pub struct Progressive {
    pub plan: Plan,
    /// Schedulable block ids, in forward order.
    pub ids: Vec<BlockId>,
    seed: u64,
    scorer: Scorer,
    rerank: bool,
    reverse: bool,
    skip_inactive: bool,
    supernet: SupernetSettings,
    needs_order: bool,
    choices: Vec<Option<usize>>,
}

impl Progressive {
    /// Lays out `cfg` over `total_steps` steps of a run with root seed
    /// `seed` and schedulable blocks `ids`, checked (every supernet phase
    /// leaves its stage at least one step).
    pub fn new(cfg: &ScheduleConfig, seed: u64, total_steps: u64, ids: Vec<BlockId>) -> Result<Self, ScheduleError> {
        if ids.is_empty() {
            return Err(ScheduleError::NoBlocks);
        }
        let plan = Plan::new(cfg, ids.len(), total_steps)?;
        for s in &plan.stages {
            if let StageBlocks::Candidates(c) = &s.blocks {
                let need = (cfg.supernet_rounds * c.len() * cfg.supernet_steps) as u64;
                if need >= s.steps {
                    return Err(ScheduleError::SupernetTooLong {
                        stage: s.index,
                        need,
                        have: s.steps,
                    });
                }
            }
        }
        let l = ids.len();
        let needs_order = plan.stages.iter().any(|s| match &s.blocks {
            StageBlocks::Fixed(m) => *m < l,
            StageBlocks::Candidates(c) => c.iter().any(|&m| m < l),
        });
        let stages = plan.stages.len();
        Ok(Self {
            plan,
            ids,
            seed,
            scorer: cfg.scorer,
            rerank: cfg.rerank,
            reverse: cfg.reverse,
            skip_inactive: cfg.skip_inactive,
            supernet: SupernetSettings {
                rounds: cfg.supernet_rounds,
                steps: cfg.supernet_steps,
                clock: cfg.clock,
                allow_decrease: cfg.allow_decrease,
            },
            needs_order,
            choices: vec![None; stages],
        })
    }

    /// Steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        self.plan.total_steps
    }

    /// What step `step` trains, or the evidence needed first.
    pub fn next(&mut self, step: u64, h: &History) -> Result<Next, ScheduleError> {
        let stage = self.plan.stage_at(step).clone();
        let owner = self.owner(stage.index);
        let Some(order) = order_of(h.decisions, owner) else {
            if step != self.plan.stages[owner].start {
                return Err(ScheduleError::State(format!(
                    "no priority order for stage {owner} at step {step} (it is made at the stage's first step)"
                )));
            }
            let scorer = self.needs_order.then_some(self.scorer);
            return Ok(Next::Score { stage: owner, scorer });
        };
        let (phase, m) = match &stage.blocks {
            StageBlocks::Fixed(m) => (Phase::Train, *m),
            StageBlocks::Candidates(_) => {
                let spans = self.chunks_of(stage.index, h)?;
                let end = spans.last().map_or(stage.start, |c| c.end());
                let boundary = spans.iter().any(|c| c.start == step) || step == end;
                if boundary && heldout_at(h.decisions, step).is_none() {
                    return Ok(Next::HeldOut { stage: stage.index });
                }
                match spans.iter().find(|c| (c.start..c.end()).contains(&step)) {
                    Some(c) => (Phase::Supernet, c.m),
                    None => (Phase::Train, self.m_of(stage.index, h)?),
                }
            }
        };
        Ok(Next::Train(StepPlan {
            stage: stage.index,
            phase,
            m,
            gates: self.gates(&order, m),
        }))
    }

    /// The decision that records a scoring pass asked for by [`Next::Score`]:
    /// the priority order of `stage` by `scores` (all zeros without a
    /// scorer), made after `step` completed steps in `wall_s` seconds.
    pub fn ranked(&self, step: u64, stage: usize, scores: Option<&Scores>, wall_s: f64) -> Decision {
        let n = self.ids.len();
        let (scorer, values, se) = match scores {
            Some(s) => (s.scorer.as_str().to_string(), s.values.clone(), s.se.clone()),
            None => ("none".to_string(), vec![0.0; n], vec![None; n]),
        };
        let mut order = super::rank::order_by_score(&values);
        if self.reverse {
            order.reverse();
        }
        Decision::Order {
            step,
            stage,
            scorer,
            ids: self.ids.iter().map(|i| i.to_string()).collect(),
            values: values.iter().map(|v| v.is_finite().then_some(*v)).collect(),
            se,
            order,
            wall_s,
        }
    }

    /// The stage whose priority order stage `k` uses.
    fn owner(&self, k: usize) -> usize {
        if self.rerank {
            k
        } else {
            0
        }
    }

    /// The gates of the schedulable blocks for `m` unfrozen blocks of `order`.
    fn gates(&self, order: &[usize], m: usize) -> Vec<(BlockId, Gate)> {
        order
            .iter()
            .enumerate()
            .map(|(rank, &i)| (self.ids[i], gate_at(rank, m, self.skip_inactive)))
            .collect()
    }

    /// Candidates stage `k` may choose from, given the previous stage's m.
    fn candidates(&mut self, k: usize, h: &History) -> Result<Vec<usize>, ScheduleError> {
        let StageBlocks::Candidates(set) = self.plan.stages[k].blocks.clone() else {
            return Ok(Vec::new());
        };
        let previous = if k == 0 { None } else { Some(self.m_of(k - 1, h)?) };
        let c = admissible(&set, previous, self.supernet.allow_decrease);
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
    pub fn chunks_of(&mut self, k: usize, h: &History) -> Result<Vec<ChunkSpan>, ScheduleError> {
        let c = self.candidates(k, h)?;
        let s = &self.supernet;
        Ok(chunks(self.seed, k, self.plan.stages[k].start, &c, s.rounds, s.steps))
    }

    /// The m stage `k` trains with after its supernet (the fixed m of a fixed stage).
    pub fn m_of(&mut self, k: usize, h: &History) -> Result<usize, ScheduleError> {
        if let StageBlocks::Fixed(m) = self.plan.stages[k].blocks {
            return Ok(m);
        }
        if let Some(m) = self.choices[k] {
            return Ok(m);
        }
        let ce = self.ce_of(k, h)?;
        let m = choose(&ce.iter().map(|(m, ce, _)| (*m, *ce)).collect::<Vec<_>>())
            .ok_or_else(|| ScheduleError::State(format!("stage {k}: no candidate")))?;
        self.choices[k] = Some(m);
        Ok(m)
    }

    /// Per candidate of stage `k`: CE and its chunks (held-out loss before
    /// and after, FLOPs and wall cost), from the history.
    pub fn ce_of(&mut self, k: usize, h: &History) -> Result<Vec<CandidateCe>, ScheduleError> {
        let spans = self.chunks_of(k, h)?;
        let clock = self.supernet.clock;
        let mut per: Vec<(usize, Vec<ChunkCost>)> = Vec::new();
        for span in spans {
            let (Some(before), Some(after)) =
                (heldout_at(h.decisions, span.start), heldout_at(h.decisions, span.end()))
            else {
                return Err(ScheduleError::State(format!(
                    "stage {k}: no held-out loss at steps {} and {} in the decisions",
                    span.start,
                    span.end(),
                )));
            };
            let steps = h.steps.iter().filter(|r| (span.start..span.end()).contains(&r.step));
            let (flops, wall) = steps.fold((0.0, 0.0), |(f, w), r| (f + r.flops, w + r.wall_s));
            let (cost, other) = match clock {
                Clock::Flops => (flops, wall),
                Clock::Wall => (wall, flops),
            };
            let chunk = Chunk {
                loss_before: before,
                loss_after: after,
                cost,
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

    /// `blocks.parquet` rows: per stage, every schedulable block with the
    /// score and rank of the order the stage used and its state in the
    /// stage (after the supernet, for an adaptive stage).
    pub fn block_rows(&mut self, run: &str, h: &History) -> Result<Vec<BlockRow>, ScheduleError> {
        let mut rows = Vec::new();
        for k in 0..self.plan.stages.len() {
            let owner = self.owner(k);
            let Some(Decision::Order {
                scorer,
                ids,
                values,
                se,
                order,
                ..
            }) = h
                .decisions
                .iter()
                .find(|d| matches!(d, Decision::Order { stage, .. } if *stage == owner))
                .cloned()
            else {
                return Err(ScheduleError::State(format!("no priority order for stage {owner}")));
            };
            let m = self.m_of(k, h)?;
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
                    state: gate_at(rank[i], m, self.skip_inactive).as_str().into(),
                });
            }
        }
        Ok(rows)
    }

    /// `supernet.parquet` rows: every candidate's chunks with held-out
    /// losses, cumulative clocks, CE and the choice.
    pub fn supernet_rows(&mut self, run: &str, h: &History) -> Result<Vec<SupernetRow>, ScheduleError> {
        let mut rows = Vec::new();
        let clock = self.supernet.clock;
        for k in 0..self.plan.stages.len() {
            if matches!(self.plan.stages[k].blocks, StageBlocks::Fixed(_)) {
                continue;
            }
            let chosen = self.m_of(k, h)?;
            for (m, ce, chunks) in self.ce_of(k, h)? {
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

    /// The stages of the plan.
    pub fn stages(&self) -> &[ScheduleStage] {
        &self.plan.stages
    }
}

/// The recorded priority order of stage `owner`.
fn order_of(decisions: &[Decision], owner: usize) -> Option<Vec<usize>> {
    decisions.iter().find_map(|d| match d {
        Decision::Order { stage, order, .. } if *stage == owner => Some(order.clone()),
        _ => None,
    })
}

/// The held-out loss recorded after `step` completed steps.
fn heldout_at(decisions: &[Decision], step: u64) -> Option<f64> {
    decisions.iter().find_map(|d| match d {
        Decision::HeldOut { step: s, loss, .. } if *s == step => Some(*loss),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entprog::ScheduleKind;
    use crate::model::BlockKind;

    fn ids(n: usize) -> Vec<BlockId> {
        (0..n).map(|i| BlockId::new(BlockKind::Temporal, i)).collect()
    }

    /// Drives the policy as the run code does, answering scoring with a
    /// fixed score per block and held-out requests with a loss that falls
    /// faster for larger m, and charging m FLOPs per step.
    fn drive(cfg: &ScheduleConfig, total: u64, l: usize) -> (Vec<StepPlan>, Vec<Decision>) {
        let mut p = Progressive::new(cfg, 7, total, ids(l)).unwrap();
        let (mut steps, mut decisions, mut plans) = (Vec::new(), Vec::new(), Vec::new());
        let mut loss = 1.0;
        let mut step = 0;
        while step < total {
            let h = History {
                steps: &steps,
                decisions: &decisions,
            };
            match p.next(step, &h).unwrap() {
                Next::Score { stage, scorer } => {
                    let scores = scorer.map(|s| Scores {
                        scorer: s,
                        ids: ids(l),
                        values: (0..l).map(|i| i as f64).collect(),
                        se: vec![None; l],
                    });
                    decisions.push(p.ranked(step, stage, scores.as_ref(), 0.0));
                }
                Next::HeldOut { stage } => decisions.push(Decision::HeldOut {
                    step,
                    stage,
                    loss,
                    wall_s: 0.0,
                }),
                Next::Train(plan) => {
                    loss -= 0.001 * (plan.m * plan.m) as f64;
                    steps.push(StepCost {
                        step,
                        flops: plan.m as f64,
                        wall_s: 0.0,
                    });
                    plans.push(plan);
                    step += 1;
                }
            }
        }
        (plans, decisions)
    }

    #[test]
    fn full_training_asks_for_no_ranking_and_trains_every_block() {
        let (plans, decisions) = drive(&ScheduleConfig::default(), 5, 4);
        assert!(plans
            .iter()
            .all(|p| p.m == 4 && p.gates.iter().all(|(_, g)| *g == Gate::Trainable)));
        assert!(matches!(&decisions[..], [Decision::Order { scorer, .. }] if scorer == "none"));
    }

    #[test]
    fn a_linear_schedule_trains_the_top_of_the_order() {
        let cfg = ScheduleConfig {
            kind: ScheduleKind::Linear,
            stages: 2,
            ..Default::default()
        };
        let (plans, _) = drive(&cfg, 4, 4);
        assert_eq!(plans.iter().map(|p| p.m).collect::<Vec<_>>(), vec![2, 2, 4, 4]);
        // Scores rise with the index, so the last two blocks are the top-2.
        let trainable: Vec<usize> = plans[0]
            .gates
            .iter()
            .filter(|(_, g)| *g == Gate::Trainable)
            .map(|(id, _)| id.index)
            .collect();
        assert_eq!(trainable, vec![3, 2]);
    }

    #[test]
    fn the_supernet_measures_every_chunk_and_continues_with_the_argmax() {
        let cfg = ScheduleConfig {
            kind: ScheduleKind::Adaptive,
            stages: 1,
            supernet_rounds: 2,
            supernet_steps: 1,
            ..Default::default()
        };
        let (plans, decisions) = drive(&cfg, 12, 4);
        // Candidates {1..4} of the linear grid at K = 1: {4}; use K = 2 for a real choice.
        assert_eq!(plans.iter().filter(|p| p.phase == Phase::Supernet).count(), 2);
        assert!(
            decisions
                .iter()
                .filter(|d| matches!(d, Decision::HeldOut { .. }))
                .count()
                >= 3
        );
        let cfg2 = ScheduleConfig { stages: 2, ..cfg };
        let (plans, _) = drive(&cfg2, 20, 4);
        let sup = plans
            .iter()
            .filter(|p| p.phase == Phase::Supernet && p.stage == 0)
            .count();
        assert_eq!(sup, 4, "2 rounds x candidates {{2, 4}} x 1 step");
        // The loss falls by 0.001 m^2 per step at m FLOPs: CE = 0.001 m, so m = 4 wins.
        assert!(plans
            .iter()
            .filter(|p| p.stage == 0 && p.phase == Phase::Train)
            .all(|p| p.m == 4));
    }
}
