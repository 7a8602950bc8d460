//! Block priority scorers (PAPER.md §3, and §7 question 2: is CEI better than
//! simpler scores?). Every scorer gives one value per block, higher = more
//! important = unfrozen first; `rank.rs` turns values into an order.
//!
//! - `cei`, `abs_cei`, `knn_cei`: the entropy inflation of `score.rs`
//!   (signed, absolute, and the Kozachenko-Leonenko estimate).
//! - `random`: uniform values from the `scorer-random` stream (a seeded order).
//! - `depth_in` / `depth_out`: input-side or output-side blocks first.
//! - `grad_norm`: L2 norm of the block's gradient of the held-out loss,
//!   averaged over the held-out batches.
//! - `fisher`: trace of the block's empirical Fisher information, the mean
//!   over held-out clips of the squared norm of the per-clip gradient.
//! - `loss_skip`: held-out loss with the block skipped minus the loss with it.
//!
//! The gradient scorers make the blocks trainable for the pass and restore
//! their gates afterwards; no weight changes.

use rand::Rng;

use super::heldout::{HeldOut, HeldOutBatch};
use super::score::{score_blocks, BlockScore, DenoiserSamples, ScoreError, ScoreSettings};
use crate::diffusion::eps_loss;
use crate::model::{BlockId, Blocks, Denoiser, Gate};
use crate::seed::stream;

/// Scores of a set of blocks under one scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub scorer: String,
    pub ids: Vec<BlockId>,
    pub values: Vec<f64>,
    /// Bootstrap standard errors, where the scorer estimates one.
    pub se: Vec<Option<f64>>,
}

impl Scores {
    /// Indices into `ids`, highest priority first.
    pub fn order(&self) -> Vec<usize> {
        super::rank::order_by_score(&self.values)
    }
}

/// What the scorers may look at. CEI samples are built only for the CEI
/// scorers and the held-out set only for the loss and gradient scorers.
pub struct Evidence<'a> {
    pub cei: Option<&'a [DenoiserSamples]>,
    pub heldout: Option<&'a HeldOut>,
    pub settings: ScoreSettings,
}

/// Whether `scorer` needs CEI samples.
pub fn needs_cei(scorer: &str) -> bool {
    matches!(scorer, "cei" | "abs_cei" | "knn_cei")
}

/// Whether `scorer` needs the held-out set.
pub fn needs_heldout(scorer: &str) -> bool {
    matches!(scorer, "grad_norm" | "fisher" | "loss_skip")
}

fn missing(what: &str, scorer: &str) -> ScoreError {
    ScoreError::Model(format!("scorer `{scorer}` needs {what}, none given").into())
}

/// Scores `ids` of `model` with `scorer`; `key` separates the random
/// streams of different scorings in one run (e.g. the stage index).
pub fn score(
    scorer: &str,
    model: &mut Denoiser,
    ids: &[BlockId],
    ev: &Evidence,
    key: u64,
) -> Result<Scores, ScoreError> {
    let n = ids.len();
    let plain = |values: Vec<f64>| (values, vec![None; n]);
    let (values, se) = match scorer {
        "cei" | "abs_cei" | "knn_cei" => {
            let batches = ev.cei.ok_or_else(|| missing("CEI samples", scorer))?;
            let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
            let mut settings = ev.settings.clone();
            if scorer != "knn_cei" {
                settings.knn_dims = 0;
            }
            let scores = forward_only(model, ids, |m| score_blocks(m, &inputs, ids, &settings))?;
            // knn_cei without a kNN estimate (cei.knn_dims = 0) scores NaN.
            match cei_scores(ids, &scores).into_iter().find(|s| s.scorer == scorer) {
                Some(picked) => (picked.values, picked.se),
                None => (vec![f64::NAN; n], vec![None; n]),
            }
        }
        "random" => {
            let mut rng = stream(ev.settings.seed, "scorer-random", key);
            plain((0..n).map(|_| rng.random::<f64>()).collect())
        }
        "depth_in" | "depth_out" => {
            let forward: Vec<BlockId> = model.blocks().into_iter().map(|b| b.id).collect();
            let pos = |id: &BlockId| forward.iter().position(|f| f == id).unwrap_or(0) as f64;
            let sign = if scorer == "depth_in" { -1.0 } else { 1.0 };
            plain(ids.iter().map(|id| sign * pos(id)).collect())
        }
        "loss_skip" => {
            let heldout = ev.heldout.ok_or_else(|| missing("a held-out set", scorer))?;
            let (base, skipped) = forward_only(model, ids, |m| {
                Ok::<_, ScoreError>((
                    model_err(heldout.loss(m))?,
                    model_err(heldout.loss_each_skipped(m, ids))?,
                ))
            })?;
            plain(skipped.into_iter().map(|l| l - base).collect())
        }
        "grad_norm" | "fisher" => {
            let heldout = ev.heldout.ok_or_else(|| missing("a held-out set", scorer))?;
            let per_clip = scorer == "fisher";
            plain(with_blocks_active(model, ids, |m| {
                gradient_scores(m, ids, heldout, per_clip)
            })?)
        }
        other => return Err(ScoreError::Model(format!("unknown scorer `{other}`").into())),
    };
    Ok(Scores {
        scorer: scorer.into(),
        ids: ids.to_vec(),
        values,
        se,
    })
}

fn model_err<T>(r: Result<T, crate::model::ModelError>) -> Result<T, ScoreError> {
    r.map_err(|e| ScoreError::Model(Box::new(e)))
}

/// Runs `f` with the blocks of `ids` in state `gate` (un-skipped) and, with
/// `freeze_rest`, every other trainable unit frozen; then restores every gate.
fn with_gates<T, E: From<ScoreError>>(
    model: &mut Denoiser,
    ids: &[BlockId],
    gate: Gate,
    freeze_rest: bool,
    f: impl FnOnce(&mut Denoiser) -> Result<T, E>,
) -> Result<T, E> {
    let before = model.gates().clone();
    if freeze_rest {
        for (unit, g) in before.iter() {
            if g == Gate::Trainable {
                model_err(model.set_gate(unit, Gate::Frozen).map_err(Into::into))?;
            }
        }
    }
    for &id in ids {
        model_err(model.set_block_gate(id, gate).map_err(Into::into))?;
    }
    let out = f(model);
    model_err(model.set_gates(before).map_err(Into::into))?;
    out
}

/// Runs `f` with every block of `ids` trainable (so it runs and takes
/// gradients), then restores the gates.
fn with_blocks_active<T>(
    model: &mut Denoiser,
    ids: &[BlockId],
    f: impl FnOnce(&mut Denoiser) -> Result<T, ScoreError>,
) -> Result<T, ScoreError> {
    with_gates(model, ids, Gate::Trainable, false, f)
}

/// Runs `f` with every unit that runs frozen (the blocks of `ids` included,
/// un-skipped), so forward passes record no backward graph, then restores
/// every gate. For the forward-only passes: predictions are the same
/// whether a unit is trainable or frozen.
pub fn forward_only<T, E: From<ScoreError>>(
    model: &mut Denoiser,
    ids: &[BlockId],
    f: impl FnOnce(&mut Denoiser) -> Result<T, E>,
) -> Result<T, E> {
    with_gates(model, ids, Gate::Frozen, true, f)
}

/// The `cei`, `abs_cei` and (when estimated) `knn_cei` scores of one CEI pass.
pub fn cei_scores(ids: &[BlockId], scores: &[BlockScore]) -> Vec<Scores> {
    let make = |scorer: &str, pick: &dyn Fn(&BlockScore) -> (f64, Option<f64>)| {
        let (values, se) = scores.iter().map(pick).unzip();
        Scores {
            scorer: scorer.into(),
            ids: ids.to_vec(),
            values,
            se,
        }
    };
    let mut out = vec![
        make("cei", &|s| (s.cei.mean, Some(s.cei.se))),
        make("abs_cei", &|s| (s.cei.mean.abs(), Some(s.cei.se))),
    ];
    if scores.iter().all(|s| s.knn.is_some()) {
        out.push(make("knn_cei", &|s| {
            s.knn.as_ref().map_or((f64::NAN, None), |k| (k.mean, Some(k.se)))
        }));
    }
    out
}

/// Squared L2 norm of the gradient of each block of `ids` for one batch.
fn block_sq_norms(model: &Denoiser, ids: &[BlockId], b: &HeldOutBatch) -> Result<Vec<f64>, ScoreError> {
    let pred = model_err(model.forward(&b.inputs()))?;
    let grads = eps_loss(&pred, &b.noise)?.backward()?;
    let mut out = vec![0.0; ids.len()];
    for (slot, id) in out.iter_mut().zip(ids) {
        let unit = id.to_string();
        for p in model.params().iter().filter(|p| p.unit == unit) {
            if let Some(g) = grads.get(p.var.as_tensor()) {
                *slot += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
    }
    Ok(out)
}

/// `grad_norm`: mean over held-out batches of the block's gradient norm;
/// `fisher` (`per_clip`): mean over held-out clips of the squared norm of
/// the per-clip gradient (the trace of the empirical Fisher information).
fn gradient_scores(
    model: &mut Denoiser,
    ids: &[BlockId],
    heldout: &HeldOut,
    per_clip: bool,
) -> Result<Vec<f64>, ScoreError> {
    let mut sums = vec![0.0; ids.len()];
    let mut count = 0usize;
    for b in &heldout.batches {
        if per_clip {
            for j in 0..b.len() {
                let sq = block_sq_norms(model, ids, &b.sample(j)?)?;
                sums.iter_mut().zip(sq).for_each(|(s, v)| *s += v);
                count += 1;
            }
        } else {
            let sq = block_sq_norms(model, ids, b)?;
            sums.iter_mut().zip(sq).for_each(|(s, v)| *s += v.sqrt());
            count += 1;
        }
    }
    Ok(sums.into_iter().map(|s| s / count.max(1) as f64).collect())
}
