//! Figure 1b-c probe (docs/paper.md §5): skip k randomly chosen schedulable
//! blocks of the experiment's starting model at once, over seeded trials,
//! and measure the held-out loss and the entropy inflation (CEI of the
//! skipped set against the full model). The paper skips 8..23 of 28 blocks;
//! entprog scales that range to the model's L (k from round(8 L / 28) to
//! round(23 L / 28)). Rows go to `probe_skip.parquet`; the spread across
//! trials at each k is the figure's point.

use std::path::PathBuf;

use rand::seq::SliceRandom;

use super::cei::CeiError;
use super::starting_model;
use crate::entprog::cei::{condition_cei, estimate};
use crate::entprog::progressive::schedulable;
use crate::entprog::score::predictions;
use crate::entprog::scorers::forward_only;
use crate::experiment::Experiment;
use crate::model::{Blocks, Gate};
use crate::results::{write_table, Opened, ProbeSkipRow, RunDir};
use crate::seed::stream;
use crate::train::evidence::{cei_samples, heldout};

/// The paper's 8..23 of 28 skipped blocks, scaled to `l` blocks (at least 1, at most l - 1).
pub fn scaled_range(l: usize) -> std::ops::RangeInclusive<usize> {
    let at = |x: usize| ((x * l) as f64 / 28.0).round().clamp(1.0, (l.max(2) - 1) as f64) as usize;
    at(8)..=at(23)
}

/// The run folder of the probe of `exp` with `trials` trials per k.
pub fn spec(exp: &Experiment, trials: usize) -> crate::results::RunSpec {
    exp.run_spec("probe-skip", Some(&format!("t{trials}")))
}

/// Runs the probe with `trials` trials per k; returns the folder of `probe_skip.parquet`.
pub fn skip_probe(exp: &Experiment, trials: usize) -> Result<(PathBuf, bool), CeiError> {
    // A hub `init_from` is pinned to its commit before the config hash is used.
    let exp = &crate::experiment::pin_experiment(exp).map_err(Box::new)?;
    let cfg = &exp.config;
    let spec = spec(exp, trials);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => return Ok((dir, true)),
        Opened::Fresh(rd) => rd,
    };
    let (mut model, schedule) = starting_model(cfg, &mut rd).map_err(Box::new)?;
    let ids = schedulable(&model);
    let batches = cei_samples(cfg, &schedule)?;
    let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
    let heldout = heldout(cfg, &schedule, cfg.schedule.heldout_batches)?;
    let c = &cfg.cei;
    let run = spec.run_id();
    let model_err = CeiError::Model;
    // Forward passes only: every unit runs frozen, so no backward graph is recorded.
    let rows = forward_only(&mut model, &ids, |model| -> Result<Vec<ProbeSkipRow>, CeiError> {
        let base_loss = heldout.loss(model).map_err(model_err)?;
        let (base, dim) = predictions(model, &inputs, c.draws)?;
        let mut rows = Vec::new();
        for k in scaled_range(ids.len()) {
            for trial in 0..trials {
                // `ids` is in forward order, and so is the sorted pick.
                let mut idx: Vec<usize> = (0..ids.len()).collect();
                idx.shuffle(&mut stream(cfg.seed, "probe-skip", (k * 1000 + trial) as u64));
                let mut idx = idx[..k].to_vec();
                idx.sort_unstable();
                let pick: Vec<_> = idx.iter().map(|&i| ids[i]).collect();
                for &id in &pick {
                    model
                        .set_block_gate(id, Gate::Skipped)
                        .map_err(|e| model_err(e.into()))?;
                }
                let measured = heldout
                    .loss(model)
                    .map_err(model_err)
                    .and_then(|l| Ok((l, predictions(model, &inputs, c.draws)?)));
                for &id in &pick {
                    model
                        .set_block_gate(id, Gate::Frozen)
                        .map_err(|e| model_err(e.into()))?;
                }
                let (loss, (skipped, _)) = measured?;
                let per: Vec<f64> = base
                    .iter()
                    .zip(&skipped)
                    .map(|(b, s)| condition_cei(b, s, dim))
                    .collect();
                let e = estimate(per, c.resamples, cfg.seed, (k * 1000 + trial) as u64);
                rows.push(ProbeSkipRow {
                    run: run.clone(),
                    k: k as u32,
                    trial: trial as u32,
                    skipped: pick.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","),
                    heldout_loss: loss,
                    base_loss,
                    cei: e.mean,
                    cei_se: e.se,
                });
            }
        }
        Ok(rows)
    })?;
    write_table(rd.path(), rows)?;
    let dir = rd.path().to_path_buf();
    rd.complete(&["probe_skip.parquet"])?;
    Ok((dir, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_range_scales_to_the_model() {
        assert_eq!(scaled_range(28), 8..=23);
        assert_eq!(scaled_range(12), 3..=10);
        assert_eq!(scaled_range(9), 3..=7);
        assert_eq!(scaled_range(2), 1..=1);
    }
}
