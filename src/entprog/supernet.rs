//! The Nested Diffusion Supernet's decision rule (docs/paper.md §4), as pure
//! functions: the order candidates train in, their convergence efficiency,
//! and the choice.
//!
//! The paper samples m from M_k at each supernet step and records, for each
//! candidate, the time of its steps and its loss on a fixed held-out set.
//! With one set of shared weights, a held-out loss measured at one moment is
//! the same for every candidate, so the loss change has to be credited to the
//! candidate whose steps caused it. entprog runs the supernet in rounds: in
//! each round every candidate trains `supernet_steps` steps, in an order
//! drawn from the run's seed, and the held-out loss is measured before and
//! after each candidate's chunk. Candidate m's eval point s is its s-th
//! chunk: l_m^(s-1) = loss before it, l_m^(s) = loss after, T_m^(s) = its cost.
//!
//!   CE(m) = - sum_s (l_m^(s) - l_m^(s-1)) / sum_s T_m^(s)
//!
//! The argmax continues the stage; ties go to the cheaper (smaller) m.

use rand::seq::SliceRandom;

use crate::seed::stream;

/// One candidate's chunk of supernet steps and its held-out losses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    pub loss_before: f64,
    pub loss_after: f64,
    /// Cost of the chunk's steps under the decision clock (FLOPs or seconds).
    pub cost: f64,
}

/// The order candidates train in during `round` of `stage`: a seeded
/// permutation, so no candidate always trains first (on the freshest loss).
pub fn round_order(seed: u64, stage: usize, round: usize, candidates: &[usize]) -> Vec<usize> {
    let mut order = candidates.to_vec();
    let mut rng = stream(seed, "supernet-order", ((stage as u64) << 32) | round as u64);
    order.shuffle(&mut rng);
    order
}

/// CE(m): held-out loss drop per unit of cost over the candidate's chunks.
/// `None` when the chunks cost nothing (no evidence).
pub fn convergence_efficiency(chunks: &[Chunk]) -> Option<f64> {
    let drop: f64 = chunks.iter().map(|c| c.loss_before - c.loss_after).sum();
    let cost: f64 = chunks.iter().map(|c| c.cost).sum();
    (cost > 0.0 && drop.is_finite()).then(|| drop / cost)
}

/// The candidate with the highest CE; ties (and candidates without a CE) go
/// to the smaller m. Returns `None` for an empty list.
pub fn choose(ce: &[(usize, Option<f64>)]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    let mut sorted = ce.to_vec();
    sorted.sort_by_key(|(m, _)| *m);
    for (m, v) in sorted {
        let v = v.unwrap_or(f64::NEG_INFINITY);
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((m, v));
        }
    }
    best.map(|(m, _)| m)
}

/// One candidate's chunk of supernet steps: steps `[start, start + len)` of
/// the run, round `round`, training the top-`m` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub m: usize,
    pub round: usize,
    pub start: u64,
    pub len: u64,
}

impl ChunkSpan {
    /// First step after the chunk.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The supernet phase of a stage starting at step `start`: `rounds` rounds,
/// each training every candidate for `steps` steps in the seeded
/// [`round_order`]. A pure function of the config and seed, so a resumed or
/// replayed run lays it out identically.
pub fn chunks(
    seed: u64,
    stage: usize,
    start: u64,
    candidates: &[usize],
    rounds: usize,
    steps: usize,
) -> Vec<ChunkSpan> {
    let mut out = Vec::with_capacity(rounds * candidates.len());
    let mut at = start;
    for round in 0..rounds {
        for m in round_order(seed, stage, round, candidates) {
            out.push(ChunkSpan {
                m,
                round,
                start: at,
                len: steps as u64,
            });
            at += steps as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ce_is_loss_drop_per_cost() {
        let chunks = [
            Chunk {
                loss_before: 1.0,
                loss_after: 0.8,
                cost: 2.0,
            },
            Chunk {
                loss_before: 0.9,
                loss_after: 0.8,
                cost: 2.0,
            },
        ];
        assert!((convergence_efficiency(&chunks).unwrap() - 0.075).abs() < 1e-12);
        assert_eq!(convergence_efficiency(&[]), None);
    }

    #[test]
    fn choice_is_the_argmax_with_ties_to_the_cheaper_candidate() {
        assert_eq!(choose(&[(8, Some(0.1)), (4, Some(0.3)), (12, Some(0.2))]), Some(4));
        assert_eq!(choose(&[(8, Some(0.3)), (4, Some(0.3))]), Some(4));
        assert_eq!(choose(&[(8, None), (4, None)]), Some(4));
        assert_eq!(choose(&[(8, Some(-0.1)), (4, None)]), Some(8));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn chunks_tile_the_phase_and_train_every_candidate_every_round() {
        let c = chunks(5, 2, 100, &[3, 6, 9], 4, 2);
        assert_eq!(c.len(), 12);
        assert_eq!(c[0].start, 100);
        assert!(c.windows(2).all(|w| w[0].end() == w[1].start));
        for r in 0..4 {
            let mut ms: Vec<usize> = c.iter().filter(|x| x.round == r).map(|x| x.m).collect();
            ms.sort();
            assert_eq!(ms, vec![3, 6, 9]);
        }
        assert_eq!(c, chunks(5, 2, 100, &[3, 6, 9], 4, 2));
    }

    #[test]
    fn round_order_is_a_seeded_permutation() {
        let c = [2, 4, 6, 8, 10];
        let a = round_order(3, 1, 0, &c);
        assert_eq!(a, round_order(3, 1, 0, &c));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, c);
        let rounds: Vec<Vec<usize>> = (0..8).map(|r| round_order(3, 1, r, &c)).collect();
        assert!(rounds.iter().any(|r| r != &a), "orders vary across rounds");
    }
}
