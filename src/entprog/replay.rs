//! Replay (every decision auditable from the files alone): rebuild the
//! schedule of a finished run from the columns of its `config.toml`,
//! `blocks.parquet`, `supernet.parquet` and `steps.parquet`, handed in as
//! [`ReplayInput`] (`crate::train::replay` reads them from a run folder),
//! and check it against what ran. No file IO here.
//!
//! From the config: the plan (stages, lengths, candidate sets) and the
//! supernet's chunk layout (seeded). From `supernet.parquet`: CE of every
//! candidate, recomputed from the held-out losses and the clock, and its
//! argmax. From `blocks.parquet`: the priority ranks. The replay derives
//! each stage's m and trainable set and each step's phase and m, and lists
//! every place the files disagree with it.

use super::schedule::{admissible, Clock, Plan, ScheduleConfig, StageBlocks};
use super::supernet::{choose, chunks, convergence_efficiency, Chunk, ChunkSpan};

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

/// `blocks.parquet`'s columns the replay reads, one entry per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockColumns {
    pub stage: Vec<String>,
    pub block_id: Vec<String>,
    pub rank: Vec<u64>,
    pub state: Vec<String>,
}

/// `steps.parquet`'s columns the replay reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepColumns {
    pub step: Vec<u64>,
    pub phase: Vec<String>,
    pub m: Vec<u64>,
}

/// `supernet.parquet`'s columns the replay reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SupernetColumns {
    pub stage: Vec<String>,
    pub candidate_m: Vec<u64>,
    pub step_start: Vec<u64>,
    pub step_end: Vec<u64>,
    pub loss_before: Vec<Option<f64>>,
    pub heldout_loss: Vec<Option<f64>>,
    pub clock_flops: Vec<Option<f64>>,
    pub clock_wall_s: Vec<Option<f64>>,
    pub chosen: Vec<bool>,
}

/// What a run's files say: its schedule settings and the three tables.
#[derive(Debug, Clone)]
pub struct ReplayInput<'a> {
    /// `[schedule]` of the run's `config.toml`.
    pub schedule: &'a ScheduleConfig,
    /// The run's root seed (the supernet's chunk layout is seeded).
    pub seed: u64,
    /// `train.steps`.
    pub train_steps: u64,
    pub blocks: BlockColumns,
    pub steps: StepColumns,
    /// `None` when the run wrote no `supernet.parquet`.
    pub supernet: Option<SupernetColumns>,
}

/// Why the schedule could not be rebuilt.
#[derive(Debug, thiserror::Error)]
#[error("config.toml: {0}")]
pub struct ReplayError(pub String);

/// Rebuilds the schedule of a finished run from its files' columns.
pub fn replay(input: &ReplayInput) -> Result<Replay, ReplayError> {
    let l = priority_order(&input.blocks, 0).len();
    let plan = Plan::new(input.schedule, l, input.train_steps).map_err(|e| ReplayError(e.to_string()))?;
    let s = input.schedule;
    let mut mismatches = Vec::new();
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
                let spans = chunks(input.seed, k, st.start, &cands, s.supernet_rounds, s.supernet_steps);
                let Some(sn) = &input.supernet else {
                    mismatches.push(format!("{label}: adaptive stage but no supernet.parquet"));
                    continue;
                };
                let (m, ce) = supernet_choice(sn, &label, &cands, &spans, s.clock, &mut mismatches);
                (m, ce, spans)
            }
        };
        previous = Some(m);
        check_gates(&input.blocks, &label, m, s.skip_inactive, &mut mismatches);
        for step in st.start..st.start + st.steps {
            match spans.iter().find(|c| (c.start..c.end()).contains(&step)) {
                Some(c) => expected_steps.push((step, "supernet", c.m)),
                None => expected_steps.push((step, "train", m)),
            }
        }
        let order = priority_order(&input.blocks, if s.rerank { k } else { 0 });
        stages.push(ReplayedStage {
            index: k,
            start: st.start,
            steps: st.steps,
            m,
            ce,
            trainable: order.into_iter().take(m).collect(),
        });
    }
    check_steps(&input.steps, &expected_steps, &mut mismatches);
    Ok(Replay { stages, mismatches })
}

/// Stage `k`'s blocks in priority order, from their ranks.
fn priority_order(blocks: &BlockColumns, k: usize) -> Vec<String> {
    let label = format!("k{k}");
    let mut rows: Vec<(u64, String)> = (0..blocks.stage.len())
        .filter(|&i| blocks.stage[i] == label)
        .map(|i| (blocks.rank[i], blocks.block_id[i].clone()))
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, id)| id).collect()
}

/// CE of each candidate recomputed from the supernet's rows of stage
/// `label`, and its argmax; notes where the rows' step spans differ from the
/// seeded layout `spans`, or another candidate is marked chosen.
fn supernet_choice(
    sn: &SupernetColumns,
    label: &str,
    cands: &[usize],
    spans: &[ChunkSpan],
    clock: Clock,
    mismatches: &mut Vec<String>,
) -> (usize, Vec<(usize, Option<f64>)>) {
    let mut ce = Vec::new();
    let mut chosen_in_file = None;
    for &m in cands {
        let rows: Vec<usize> = (0..sn.stage.len())
            .filter(|&i| sn.stage[i] == label && sn.candidate_m[i] == m as u64)
            .collect();
        let want: Vec<(u64, u64)> = spans.iter().filter(|c| c.m == m).map(|c| (c.start, c.end())).collect();
        let got: Vec<(u64, u64)> = rows.iter().map(|&i| (sn.step_start[i], sn.step_end[i])).collect();
        if got != want {
            mismatches.push(format!(
                "{label}: candidate {m} trained steps {got:?}, the layout says {want:?}"
            ));
        }
        ce.push((m, convergence_efficiency(&candidate_chunks(sn, &rows, clock))));
        if rows.iter().any(|&i| sn.chosen[i]) {
            chosen_in_file = Some(m);
        }
    }
    let m = choose(&ce).unwrap_or(0);
    if chosen_in_file != Some(m) {
        mismatches.push(format!(
            "{label}: supernet.parquet marks {chosen_in_file:?} chosen, argmax CE is {m}"
        ));
    }
    (m, ce)
}

/// One candidate's chunks: held-out loss before and after each, and the
/// cost of each on `clock` (the file holds the cumulative clock).
fn candidate_chunks(sn: &SupernetColumns, rows: &[usize], clock: Clock) -> Vec<Chunk> {
    let mut last_cost = 0.0;
    rows.iter()
        .map(|&i| {
            let cum = match clock {
                Clock::Flops => sn.clock_flops[i],
                Clock::Wall => sn.clock_wall_s[i],
            }
            .unwrap_or(f64::NAN);
            let c = Chunk {
                loss_before: sn.loss_before[i].unwrap_or(f64::NAN),
                loss_after: sn.heldout_loss[i].unwrap_or(f64::NAN),
                cost: cum - last_cost,
            };
            last_cost = cum;
            c
        })
        .collect()
}

/// Notes every block of stage `label` whose recorded state is not the gate
/// its rank gives with `m` blocks unfrozen.
fn check_gates(blocks: &BlockColumns, label: &str, m: usize, skip_inactive: bool, mismatches: &mut Vec<String>) {
    for i in (0..blocks.stage.len()).filter(|&i| blocks.stage[i] == label) {
        let want = super::progressive::gate_at(blocks.rank[i] as usize, m, skip_inactive).as_str();
        if blocks.state[i] != want {
            mismatches.push(format!(
                "{label}: {} is {}, replay says {want}",
                blocks.block_id[i], blocks.state[i]
            ));
        }
    }
}

/// Notes where the steps that ran differ from the replayed plan (at most ~20).
fn check_steps(ran: &StepColumns, expected: &[(u64, &'static str, usize)], mismatches: &mut Vec<String>) {
    if ran.step.len() != expected.len() {
        mismatches.push(format!(
            "steps.parquet has {} steps, the plan {}",
            ran.step.len(),
            expected.len()
        ));
    }
    for (i, (want_step, want_phase, want_m)) in expected.iter().enumerate().take(ran.step.len()) {
        let (step, phase, m) = (ran.step[i], &ran.phase[i], ran.m[i]);
        if step != *want_step || phase != want_phase || m != *want_m as u64 {
            mismatches.push(format!(
                "step {step}: ran {phase} with m = {m}, replay says step {want_step} {want_phase} with m = {want_m}"
            ));
            if mismatches.len() > 20 {
                break;
            }
        }
    }
}
