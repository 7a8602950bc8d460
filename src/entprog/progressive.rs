//! Progressive training under a schedule (docs/paper.md §2, §4), as a policy:
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
//!
//! [`Blocks`]: crate::model::Blocks

pub use super::decisions::Decision;
pub use super::progressive_step::{gate_at, schedulable, History, Phase, ScheduleError, StepCost};
use super::progressive_supernet::heldout_at;
pub use super::progressive_supernet::{CandidateCe, ChunkCost, SupernetSettings};
use super::schedule::{Plan, ScheduleConfig, ScheduleStage, StageBlocks};
use super::scorers::{Scorer, Scores};
use crate::model::{BlockId, Gate};

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

/// An Ent-Prog schedule over a run's schedulable blocks.
#[derive(Debug, Clone)]
pub struct Progressive {
    pub plan: Plan,
    /// Schedulable block ids, in forward order.
    pub ids: Vec<BlockId>,
    pub(super) seed: u64,
    pub(super) scorer: Scorer,
    pub(super) rerank: bool,
    pub(super) reverse: bool,
    pub(super) skip_inactive: bool,
    pub(super) supernet: SupernetSettings,
    pub(super) needs_order: bool,
    pub(super) choices: Vec<Option<usize>>,
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
    pub(super) fn owner(&self, k: usize) -> usize {
        if self.rerank {
            k
        } else {
            0
        }
    }

    /// The gates of the schedulable blocks for `m` unfrozen blocks of `order`.
    pub(super) fn gates(&self, order: &[usize], m: usize) -> Vec<(BlockId, Gate)> {
        order
            .iter()
            .enumerate()
            .map(|(rank, &i)| (self.ids[i], gate_at(rank, m, self.skip_inactive)))
            .collect()
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
