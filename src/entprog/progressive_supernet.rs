//! The Nested Diffusion Supernet inside a progressive schedule (docs/paper.md
//! §4): the candidates of an adaptive stage, their chunks, the convergence
//! efficiency each earned from the recorded held-out losses, and the m the
//! stage continues with.

use super::decisions::Decision;
use super::progressive::Progressive;
use super::progressive_step::{History, ScheduleError};
use super::schedule::{admissible, Clock, PlanError, StageBlocks};
use super::supernet::{choose, chunks, convergence_efficiency, Chunk, ChunkSpan};

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

/// One supernet chunk with its cost on the other clock than the decision's.
pub type ChunkCost = (ChunkSpan, Chunk, f64);

/// Per candidate of a stage: m, CE, and its chunks with their costs.
pub type CandidateCe = (usize, Option<f64>, Vec<ChunkCost>);

impl Progressive {
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
}

/// The held-out loss recorded after `step` completed steps.
pub(super) fn heldout_at(decisions: &[Decision], step: u64) -> Option<f64> {
    decisions.iter().find_map(|d| match d {
        Decision::HeldOut { step: s, loss, .. } if *s == step => Some(*loss),
        _ => None,
    })
}
