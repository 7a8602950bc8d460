//! Progressive schedules (docs/paper.md §2, §4): which blocks train in which part
//! of a run. Pure policy: a [`ScheduleConfig`] and the number of blocks L
//! become a [`Plan`] of stages, each with its step range and either a fixed
//! number m of unfrozen blocks or a candidate set M_k for the supernet to
//! choose from. Blocks are taken from a priority order (CEI or another
//! scorer): stage k trains the top-m_k.
//!
//! Kinds:
//! - `full`: one stage, m = L.
//! - `freeze`: one stage, m = L - frozen (which ones: the scorer's order, or depth).
//! - `fixed`: explicit m_1..m_K, stage lengths explicit or equal.
//! - `linear`: m grows uniformly to L over K stages: m_k = ceil(L k / K).
//! - `adaptive`: K stages; stage k chooses m from M_k with the Nested
//!   Diffusion Supernet (`supernet.rs`); default M_k = {m_k^linear .. L} on
//!   the linear grid, so sets are non-decreasing across stages.

pub use super::schedule_config::{Clock, ScheduleConfig, ScheduleKind};

/// How many blocks a stage unfreezes.
#[derive(Debug, Clone, PartialEq)]
pub enum StageBlocks {
    /// A fixed m.
    Fixed(usize),
    /// Chosen by the supernet among these candidates (sorted, distinct).
    Candidates(Vec<usize>),
}

/// One stage of a plan: steps `[start, start + steps)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStage {
    pub index: usize,
    pub start: u64,
    pub steps: u64,
    pub blocks: StageBlocks,
}

/// A schedule laid out over a run of `total_steps` with `blocks` blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stages: Vec<ScheduleStage>,
    pub blocks: usize,
    pub total_steps: u64,
}

/// Why a schedule cannot be laid out for this model and budget.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("schedule.{key}: {value} is out of range for a model with {blocks} blocks, expected 1..={blocks}")]
    BlocksOutOfRange {
        key: &'static str,
        value: usize,
        blocks: usize,
    },
    #[error("schedule.stage_steps: lengths sum to {sum}, expected the run's {total} steps")]
    LengthsMismatch { sum: u64, total: u64 },
    #[error("schedule.stages: {stages} stages do not fit {total} steps")]
    TooManyStages { stages: usize, total: u64 },
    #[error("schedule.candidates: stage {stage} offers nothing at or above the previous stage's {previous} blocks")]
    NoCandidate { stage: usize, previous: usize },
}

/// Splits `total` into `k` near-equal lengths (earlier stages get the remainder).
pub fn equal_split(total: u64, k: usize) -> Vec<u64> {
    let k64 = k as u64;
    (0..k64).map(|i| total / k64 + u64::from(i < total % k64)).collect()
}

/// m_k of the linear schedule: ceil(L (k + 1) / K) for k = 0..K.
pub fn linear_m(blocks: usize, stages: usize) -> Vec<usize> {
    (1..=stages).map(|k| (blocks * k).div_ceil(stages).max(1)).collect()
}

impl Plan {
    /// Lays out `cfg` for a model of `blocks` blocks over `total_steps`.
    pub fn new(cfg: &ScheduleConfig, blocks: usize, total_steps: u64) -> Result<Plan, PlanError> {
        let (ms, lengths) = stage_blocks(cfg, blocks, total_steps)?;
        let sum: u64 = lengths.iter().sum();
        if sum != total_steps {
            return Err(PlanError::LengthsMismatch {
                sum,
                total: total_steps,
            });
        }
        if lengths.contains(&0) {
            return Err(PlanError::TooManyStages {
                stages: lengths.len(),
                total: total_steps,
            });
        }
        let mut start = 0;
        let stages = ms
            .into_iter()
            .zip(lengths)
            .enumerate()
            .map(|(index, (blocks, steps))| {
                let s = ScheduleStage {
                    index,
                    start,
                    steps,
                    blocks,
                };
                start += steps;
                s
            })
            .collect();
        Ok(Plan {
            stages,
            blocks,
            total_steps,
        })
    }

    /// The stage that contains `step`.
    pub fn stage_at(&self, step: u64) -> &ScheduleStage {
        self.stages
            .iter()
            .rev()
            .find(|s| s.start <= step)
            .expect("plans start at step 0")
    }
}

/// Per stage of `cfg` for a model of `blocks` blocks over `total_steps`:
/// the blocks it unfreezes and its length in steps.
fn stage_blocks(
    cfg: &ScheduleConfig,
    blocks: usize,
    total_steps: u64,
) -> Result<(Vec<StageBlocks>, Vec<u64>), PlanError> {
    let in_range = |key: &'static str, value: usize| {
        if (1..=blocks).contains(&value) {
            Ok(value)
        } else {
            Err(PlanError::BlocksOutOfRange { key, value, blocks })
        }
    };
    Ok(match cfg.kind {
        ScheduleKind::Full => (vec![StageBlocks::Fixed(blocks)], vec![total_steps]),
        ScheduleKind::Freeze => {
            let m = blocks
                .checked_sub(cfg.frozen)
                .filter(|&m| m >= 1)
                .ok_or(PlanError::BlocksOutOfRange {
                    key: "frozen",
                    value: cfg.frozen,
                    blocks: blocks.saturating_sub(1),
                })?;
            (vec![StageBlocks::Fixed(m)], vec![total_steps])
        }
        ScheduleKind::Fixed => {
            let ms = cfg
                .m
                .iter()
                .map(|&m| in_range("m", m).map(StageBlocks::Fixed))
                .collect::<Result<_, _>>()?;
            let lengths = if cfg.stage_steps.is_empty() {
                equal_split(total_steps, cfg.m.len())
            } else {
                cfg.stage_steps.clone()
            };
            (ms, lengths)
        }
        ScheduleKind::Linear => {
            let ms = linear_m(blocks, cfg.stages)
                .into_iter()
                .map(StageBlocks::Fixed)
                .collect();
            (ms, equal_split(total_steps, cfg.stages))
        }
        ScheduleKind::Adaptive => {
            let sets: Vec<Vec<usize>> = if cfg.candidates.is_empty() {
                let grid = linear_m(blocks, cfg.stages);
                (0..cfg.stages).map(|k| grid[k..].to_vec()).collect()
            } else {
                cfg.candidates.clone()
            };
            let mut out = Vec::with_capacity(sets.len());
            for set in sets {
                let mut set = set
                    .into_iter()
                    .map(|m| in_range("candidates", m))
                    .collect::<Result<Vec<_>, _>>()?;
                set.sort_unstable();
                set.dedup();
                out.push(StageBlocks::Candidates(set));
            }
            (out, equal_split(total_steps, cfg.stages))
        }
    })
}

/// The candidates stage `k` may choose from given the previous choice:
/// sets are non-decreasing unless `allow_decrease`.
pub fn admissible(set: &[usize], previous: Option<usize>, allow_decrease: bool) -> Vec<usize> {
    match previous {
        Some(p) if !allow_decrease => set.iter().copied().filter(|&m| m >= p).collect(),
        _ => set.to_vec(),
    }
}

/// The top-`m` blocks of a priority order (indices into the model's block list).
pub fn top_m(order: &[usize], m: usize) -> Vec<usize> {
    order.iter().copied().take(m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: ScheduleKind) -> ScheduleConfig {
        ScheduleConfig {
            kind,
            ..Default::default()
        }
    }

    /// Plan invariants: stages tile [0, total), every m in [1, L].
    fn assert_invariants(p: &Plan) {
        assert_eq!(p.stages.iter().map(|s| s.steps).sum::<u64>(), p.total_steps);
        let mut next = 0;
        for s in &p.stages {
            assert_eq!(s.start, next);
            next += s.steps;
            match &s.blocks {
                StageBlocks::Fixed(m) => assert!((1..=p.blocks).contains(m)),
                StageBlocks::Candidates(c) => assert!(c.iter().all(|m| (1..=p.blocks).contains(m))),
            }
        }
    }

    #[test]
    fn linear_grows_uniformly_to_all_blocks_and_is_non_decreasing() {
        // Property over a grid of model sizes, stage counts and budgets.
        for blocks in 1..=30 {
            for stages in 1..=8 {
                for total in [stages as u64, 97, 1000] {
                    let p = Plan::new(
                        &ScheduleConfig {
                            stages,
                            ..cfg(ScheduleKind::Linear)
                        },
                        blocks,
                        total,
                    )
                    .unwrap();
                    assert_invariants(&p);
                    let ms: Vec<usize> = p
                        .stages
                        .iter()
                        .map(|s| match s.blocks {
                            StageBlocks::Fixed(m) => m,
                            _ => unreachable!(),
                        })
                        .collect();
                    assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{ms:?}");
                    assert_eq!(*ms.last().unwrap(), blocks);
                }
            }
        }
    }

    #[test]
    fn adaptive_default_candidates_are_nested_and_non_decreasing() {
        for blocks in 2..=28 {
            for stages in 1..=6 {
                let p = Plan::new(
                    &ScheduleConfig {
                        stages,
                        ..cfg(ScheduleKind::Adaptive)
                    },
                    blocks,
                    600,
                )
                .unwrap();
                assert_invariants(&p);
                let sets: Vec<&Vec<usize>> = p
                    .stages
                    .iter()
                    .map(|s| match &s.blocks {
                        StageBlocks::Candidates(c) => c,
                        _ => unreachable!(),
                    })
                    .collect();
                for w in sets.windows(2) {
                    assert!(w[0].iter().min() <= w[1].iter().min());
                    assert!(w[1].iter().all(|m| w[0].contains(m)), "later sets are subsets: {w:?}");
                }
                assert!(sets.iter().all(|s| s.contains(&blocks)));
            }
        }
    }

    #[test]
    fn fixed_lengths_must_sum_to_the_budget() {
        let c = ScheduleConfig {
            m: vec![2, 4],
            stage_steps: vec![10, 20],
            ..cfg(ScheduleKind::Fixed)
        };
        assert_eq!(
            Plan::new(&c, 6, 31),
            Err(PlanError::LengthsMismatch { sum: 30, total: 31 })
        );
        let p = Plan::new(&c, 6, 30).unwrap();
        assert_eq!(p.stage_at(9).index, 0);
        assert_eq!(p.stage_at(10).index, 1);
        assert_eq!(
            Plan::new(&c, 3, 30),
            Err(PlanError::BlocksOutOfRange {
                key: "m",
                value: 4,
                blocks: 3
            })
        );
    }

    #[test]
    fn freeze_keeps_at_least_one_block_trainable() {
        let c = ScheduleConfig {
            frozen: 5,
            ..cfg(ScheduleKind::Freeze)
        };
        assert_eq!(Plan::new(&c, 6, 10).unwrap().stages[0].blocks, StageBlocks::Fixed(1));
        assert!(Plan::new(&c, 5, 10).is_err());
    }

    #[test]
    fn admissible_candidates_never_decrease_unless_allowed() {
        assert_eq!(admissible(&[2, 4, 6], Some(4), false), vec![4, 6]);
        assert_eq!(admissible(&[2, 4, 6], Some(4), true), vec![2, 4, 6]);
        assert_eq!(admissible(&[2, 4, 6], None, false), vec![2, 4, 6]);
    }

    #[test]
    fn equal_split_sums_and_differs_by_at_most_one() {
        for total in 0..50u64 {
            for k in 1..7 {
                let s = equal_split(total, k);
                assert_eq!(s.iter().sum::<u64>(), total);
                assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
            }
        }
    }
}
