//! CEI rank stability against the number of samples (docs/paper.md §7
//! question 1: how stable is the ranking with 1,000 samples?). One cell per
//! dataset ranks the schedulable blocks of the chain's last checkpoint by
//! CEI at each N = conditions x draws of a list, with several seeds (each
//! draws its own conditions and noise), and compares each ranking with one
//! at a large reference N drawn with a seed of its own: Kendall's tau-b,
//! Spearman's rho, whether the top block agrees, and the wall time of each
//! ranking. Rows go to `cei_samples.parquet`; a target's `# why` for its
//! `cei.conditions` can then name the smallest N whose tau is high enough.

use std::path::PathBuf;
use std::time::Instant;

use super::cei::CeiError;
use super::starting_model;
use crate::entprog::rank::{kendall, order_by_score, spearman};
use crate::entprog::score::{active_blocks, score_blocks};
use crate::entprog::scorers::forward_only;
use crate::experiment::Experiment;
use crate::results::{write_table, CeiSamplesRow, Opened, RunDir, RunSpec};
use crate::train::evidence::{cei_samples, settings};

/// The seed the reference ranking's samples are drawn with (apart from the compared seeds).
pub const REFERENCE_SEED: u64 = 1000;

/// The run folder of the study: the list of N, the reference and the seeds in its name.
pub fn spec(exp: &Experiment, conditions: &[usize], reference: usize, seeds: u64) -> RunSpec {
    let list: Vec<String> = conditions.iter().map(|c| c.to_string()).collect();
    exp.run_spec(
        "cei-samples",
        Some(&format!("n{}-ref{reference}-s{seeds}", list.join("_"))),
    )
}

/// Runs (or reuses) the study; returns its folder and whether it was reused.
pub fn run(exp: &Experiment, conditions: &[usize], reference: usize, seeds: u64) -> Result<(PathBuf, bool), CeiError> {
    let exp = &crate::experiment::pin_experiment(exp).map_err(Box::new)?;
    let spec = spec(exp, conditions, reference, seeds);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => return Ok((dir, true)),
        Opened::Fresh(rd) => rd,
    };
    let (mut model, schedule) = starting_model(&exp.config, &mut rd).map_err(Box::new)?;
    let ids = active_blocks(&model);
    let run_id = spec.run_id();
    // The CEI of every block at `n` conditions with samples of `seed`, and its seconds.
    let mut rank_at = |n: usize, seed: u64| -> Result<(Vec<f64>, f64), CeiError> {
        let mut cfg = exp.config.clone();
        cfg.cei.conditions = n;
        cfg.seed = seed;
        let start = Instant::now();
        let batches = cei_samples(&cfg, &schedule)?;
        let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
        let s = settings(&cfg);
        let scores = forward_only(&mut model, &ids, |m| score_blocks(m, &inputs, &ids, &s))?;
        Ok((
            scores.iter().map(|b| b.cei.mean).collect(),
            start.elapsed().as_secs_f64(),
        ))
    };
    let (reference_cei, _) = rank_at(reference, REFERENCE_SEED)?;
    let top = order_by_score(&reference_cei).first().copied();
    let draws = exp.config.cei.draws;
    let mut rows = Vec::new();
    for &n in conditions {
        for seed in 0..seeds {
            let (cei, wall_s) = rank_at(n, seed)?;
            rows.push(CeiSamplesRow {
                run: run_id.clone(),
                conditions: n as u32,
                samples: (n * draws) as u32,
                seed,
                kendall: kendall(&cei, &reference_cei),
                spearman: spearman(&cei, &reference_cei),
                same_top: order_by_score(&cei).first().copied() == top,
                wall_s,
            });
        }
    }
    write_table(rd.path(), rows)?;
    let dir = rd.path().to_path_buf();
    rd.complete(&["cei_samples.parquet"])?;
    Ok((dir, false))
}
