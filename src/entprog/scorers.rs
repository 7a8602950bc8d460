//! Block priority scorers (docs/paper.md §3, and §7 question 2: is CEI better than
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
//!
//! Every scorer works on any model through the [`Blocks`] trait and the few
//! more things [`ScorableModel`] asks for (freezing everything for a
//! forward-only pass, per-block gradient norms); the denoiser implements
//! both. Scorer names are one enum, [`Scorer`], parsed once.

use std::str::FromStr;

use candle_core::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::score::{score_blocks, BlockScore, ScoreError, ScoreSettings};
use crate::diffusion::prediction_loss;
use crate::model::{BlockId, Blocks, Denoiser, Gate, GateError, Gates, Inputs, ModelError};
use crate::seed::stream;

/// A block priority scorer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    Cei,
    AbsCei,
    KnnCei,
    Random,
    DepthIn,
    DepthOut,
    GradNorm,
    Fisher,
    LossSkip,
}

impl Scorer {
    /// Every scorer, CEI first.
    pub const ALL: [Scorer; 9] = [
        Scorer::Cei,
        Scorer::AbsCei,
        Scorer::KnnCei,
        Scorer::Random,
        Scorer::DepthIn,
        Scorer::DepthOut,
        Scorer::GradNorm,
        Scorer::Fisher,
        Scorer::LossSkip,
    ];

    /// The name in configs, files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Scorer::Cei => "cei",
            Scorer::AbsCei => "abs_cei",
            Scorer::KnnCei => "knn_cei",
            Scorer::Random => "random",
            Scorer::DepthIn => "depth_in",
            Scorer::DepthOut => "depth_out",
            Scorer::GradNorm => "grad_norm",
            Scorer::Fisher => "fisher",
            Scorer::LossSkip => "loss_skip",
        }
    }

    /// Whether the scorer needs CEI samples.
    pub fn needs_cei(self) -> bool {
        matches!(self, Scorer::Cei | Scorer::AbsCei | Scorer::KnnCei)
    }

    /// Whether the scorer needs the held-out set.
    pub fn needs_heldout(self) -> bool {
        matches!(self, Scorer::GradNorm | Scorer::Fisher | Scorer::LossSkip)
    }

    /// The valid names, comma-separated (for error messages).
    pub fn names() -> String {
        Self::ALL.map(Scorer::as_str).join(", ")
    }
}

impl std::fmt::Display for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scorer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown scorer {s:?}, expected one of: {}", Self::names()))
    }
}

/// Scores of a set of blocks under one scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub scorer: Scorer,
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

/// What the scorers need of a model beyond its [`Blocks`]: a way to run
/// everything frozen (forward passes then record no backward graph) and
/// back, and the gradient norms of its blocks.
pub trait ScorableModel: Blocks<Error: From<GateError>> {
    /// Every gate of the model, saved.
    type SavedGates;
    fn save_gates(&self) -> Self::SavedGates;
    fn restore_gates(&mut self, saved: Self::SavedGates) -> Result<(), GateError>;
    /// Freezes every trainable unit, blocks or not.
    fn freeze_all(&mut self) -> Result<(), GateError>;
    /// Squared L2 norm of the gradient of the training loss of `input` against
    /// `target` for each block of `ids` (`[1][ids]`), or (`per_sample`) of
    /// each sample of the batch on its own (`[b][ids]`).
    fn block_grad_sq_norms(
        &self,
        input: &Self::Input<'_>,
        target: &Tensor,
        ids: &[BlockId],
        per_sample: bool,
    ) -> Result<Vec<Vec<f64>>, Self::Error>;
}

/// A held-out set as the scorers see it: model inputs and the target each
/// was made for (the noise, or v; fixed tau and noise).
pub type HeldOutInputs<'a, M> = [(<M as Blocks>::Input<'a>, Tensor)];

/// What the scorers may look at. CEI samples are built only for the CEI
/// scorers and the held-out set only for the loss and gradient scorers.
pub struct Evidence<'a, 'b, M: Blocks> {
    pub cei: Option<&'a [M::Input<'b>]>,
    pub heldout: Option<&'a HeldOutInputs<'b, M>>,
    pub settings: ScoreSettings,
}

fn missing(what: &str, scorer: Scorer) -> ScoreError {
    ScoreError::Model(format!("scorer `{scorer}` needs {what}, none given").into())
}

fn model_err<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T, ScoreError> {
    r.map_err(|e| ScoreError::Model(Box::new(e)))
}

/// Scores `ids` of `model` with `scorer`; `key` separates the random
/// streams of different scorings in one run (e.g. the stage index).
pub fn score<M: ScorableModel>(
    scorer: Scorer,
    model: &mut M,
    ids: &[BlockId],
    ev: &Evidence<'_, '_, M>,
    key: u64,
) -> Result<Scores, ScoreError> {
    let n = ids.len();
    let plain = |values: Vec<f64>| (values, vec![None; n]);
    let (values, se) = match scorer {
        Scorer::Cei | Scorer::AbsCei | Scorer::KnnCei => {
            let inputs = ev.cei.ok_or_else(|| missing("CEI samples", scorer))?;
            let mut settings = ev.settings.clone();
            if scorer != Scorer::KnnCei {
                settings.knn_dims = 0;
            }
            let scores = forward_only(model, ids, |m| score_blocks(m, inputs, ids, &settings))?;
            // knn_cei without a kNN estimate (cei.knn_dims = 0) scores NaN.
            match cei_scores(ids, &scores).into_iter().find(|s| s.scorer == scorer) {
                Some(picked) => (picked.values, picked.se),
                None => (vec![f64::NAN; n], vec![None; n]),
            }
        }
        Scorer::Random => {
            let mut rng = stream(ev.settings.seed, "scorer-random", key);
            plain((0..n).map(|_| rng.random::<f64>()).collect())
        }
        Scorer::DepthIn | Scorer::DepthOut => {
            let forward: Vec<BlockId> = model.blocks().into_iter().map(|b| b.id).collect();
            let pos = |id: &BlockId| forward.iter().position(|f| f == id).unwrap_or(0) as f64;
            let sign = if scorer == Scorer::DepthIn { -1.0 } else { 1.0 };
            plain(ids.iter().map(|id| sign * pos(id)).collect())
        }
        Scorer::LossSkip => {
            let heldout = ev.heldout.ok_or_else(|| missing("a held-out set", scorer))?;
            let (base, skipped) = forward_only(model, ids, |m| {
                Ok::<_, ScoreError>((heldout_loss(m, heldout)?, heldout_loss_each_skipped(m, heldout, ids)?))
            })?;
            plain(skipped.into_iter().map(|l| l - base).collect())
        }
        Scorer::GradNorm | Scorer::Fisher => {
            let heldout = ev.heldout.ok_or_else(|| missing("a held-out set", scorer))?;
            let per_sample = scorer == Scorer::Fisher;
            plain(with_gates(model, ids, Gate::Trainable, false, |m| {
                gradient_scores(m, ids, heldout, per_sample)
            })?)
        }
    };
    Ok(Scores {
        scorer,
        ids: ids.to_vec(),
        values,
        se,
    })
}

/// Mean training loss (eps or v MSE) of `model` over a held-out set (each batch weighs the same).
pub fn heldout_loss<M: Blocks>(model: &M, heldout: &HeldOutInputs<'_, M>) -> Result<f64, ScoreError> {
    let mut sum = 0.0;
    for (input, target) in heldout {
        sum += batch_loss(&model_err(model.predict(input))?, target)?;
    }
    Ok(sum / heldout.len().max(1) as f64)
}

/// Mean training loss (eps or v MSE) over a held-out set with each of `ids` skipped in turn (prefix reuse).
pub fn heldout_loss_each_skipped<M: Blocks<Error: From<GateError>>>(
    model: &mut M,
    heldout: &HeldOutInputs<'_, M>,
    ids: &[BlockId],
) -> Result<Vec<f64>, ScoreError> {
    let mut sums = vec![0.0; ids.len()];
    for (input, target) in heldout {
        let preds = model_err(model.predict_each_skipped(input, ids))?;
        for (s, p) in sums.iter_mut().zip(&preds) {
            *s += batch_loss(p, target)?;
        }
    }
    Ok(sums.into_iter().map(|s| s / heldout.len().max(1) as f64).collect())
}

fn batch_loss(pred: &Tensor, target: &Tensor) -> Result<f64, ScoreError> {
    Ok(prediction_loss(pred, target)?.to_scalar::<f32>()? as f64)
}

/// Runs `f` with the blocks of `ids` in state `gate` (un-skipped) and, with
/// `freeze_rest`, every other trainable unit frozen; then restores every gate.
fn with_gates<M: ScorableModel, T, E: From<ScoreError>>(
    model: &mut M,
    ids: &[BlockId],
    gate: Gate,
    freeze_rest: bool,
    f: impl FnOnce(&mut M) -> Result<T, E>,
) -> Result<T, E> {
    let before = model.save_gates();
    if freeze_rest {
        model_err(model.freeze_all())?;
    }
    for &id in ids {
        model_err(model.set_block_gate(id, gate))?;
    }
    let out = f(model);
    model_err(model.restore_gates(before))?;
    out
}

/// Runs `f` with every unit that runs frozen (the blocks of `ids` included,
/// un-skipped), so forward passes record no backward graph, then restores
/// every gate. For the forward-only passes: predictions are the same
/// whether a unit is trainable or frozen.
pub fn forward_only<M: ScorableModel, T, E: From<ScoreError>>(
    model: &mut M,
    ids: &[BlockId],
    f: impl FnOnce(&mut M) -> Result<T, E>,
) -> Result<T, E> {
    with_gates(model, ids, Gate::Frozen, true, f)
}

/// The `cei`, `abs_cei` and (when estimated) `knn_cei` scores of one CEI pass.
pub fn cei_scores(ids: &[BlockId], scores: &[BlockScore]) -> Vec<Scores> {
    let make = |scorer: Scorer, pick: &dyn Fn(&BlockScore) -> (f64, Option<f64>)| {
        let (values, se) = scores.iter().map(pick).unzip();
        Scores {
            scorer,
            ids: ids.to_vec(),
            values,
            se,
        }
    };
    let mut out = vec![
        make(Scorer::Cei, &|s| (s.cei.mean, Some(s.cei.se))),
        make(Scorer::AbsCei, &|s| (s.cei.mean.abs(), Some(s.cei.se))),
    ];
    if scores.iter().all(|s| s.knn.is_some()) {
        out.push(make(Scorer::KnnCei, &|s| {
            s.knn.as_ref().map_or((f64::NAN, None), |k| (k.mean, Some(k.se)))
        }));
    }
    out
}

/// `grad_norm`: mean over held-out batches of the block's gradient norm;
/// `fisher` (`per_sample`): mean over held-out clips of the squared norm of
/// the per-clip gradient (the trace of the empirical Fisher information).
fn gradient_scores<M: ScorableModel>(
    model: &mut M,
    ids: &[BlockId],
    heldout: &HeldOutInputs<'_, M>,
    per_sample: bool,
) -> Result<Vec<f64>, ScoreError> {
    let mut sums = vec![0.0; ids.len()];
    let mut count = 0usize;
    for (input, target) in heldout {
        for sq in model_err(model.block_grad_sq_norms(input, target, ids, per_sample))? {
            if per_sample {
                sums.iter_mut().zip(sq).for_each(|(s, v)| *s += v);
            } else {
                sums.iter_mut().zip(sq).for_each(|(s, v)| *s += v.sqrt());
            }
            count += 1;
        }
    }
    Ok(sums.into_iter().map(|s| s / count.max(1) as f64).collect())
}

impl ScorableModel for Denoiser {
    type SavedGates = Gates;

    fn save_gates(&self) -> Gates {
        self.gates().clone()
    }

    fn restore_gates(&mut self, saved: Gates) -> Result<(), GateError> {
        self.set_gates(saved)
    }

    fn freeze_all(&mut self) -> Result<(), GateError> {
        let trainable: Vec<String> = self
            .gates()
            .iter()
            .filter(|(_, g)| *g == Gate::Trainable)
            .map(|(u, _)| u.to_string())
            .collect();
        for unit in trainable {
            self.set_gate(&unit, Gate::Frozen)?;
        }
        Ok(())
    }

    fn block_grad_sq_norms(
        &self,
        input: &Inputs<'_>,
        target: &Tensor,
        ids: &[BlockId],
        per_sample: bool,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        let tensor = |source| ModelError::Tensor {
            context: "block gradient norms".into(),
            source,
        };
        if !per_sample {
            return Ok(vec![self.sq_norms_of(input, target, ids)?]);
        }
        let mut out = Vec::with_capacity(input.timesteps.len());
        for j in 0..input.timesteps.len() {
            let one = |t: &Tensor| t.narrow(0, j, 1);
            let (x_t, noise) = (one(input.x_t).map_err(tensor)?, one(target).map_err(tensor)?);
            let reference = input.reference.map(one).transpose().map_err(tensor)?;
            let poses = input.poses.map(one).transpose().map_err(tensor)?;
            let single = Inputs {
                x_t: &x_t,
                timesteps: &input.timesteps[j..j + 1],
                reference: reference.as_ref(),
                poses: poses.as_ref(),
                cond_keep: input.cond_keep.map(|k| &k[j..j + 1]),
            };
            out.push(self.sq_norms_of(&single, &noise, ids)?);
        }
        Ok(out)
    }
}

impl Denoiser {
    /// Squared gradient norm of each block of `ids` for one batch.
    fn sq_norms_of(&self, input: &Inputs<'_>, target: &Tensor, ids: &[BlockId]) -> Result<Vec<f64>, ModelError> {
        let tensor = |source| ModelError::Tensor {
            context: "block gradient norms".into(),
            source,
        };
        let pred = self.forward(input)?;
        let grads = prediction_loss(&pred, target)
            .and_then(|l| l.backward())
            .map_err(tensor)?;
        let mut out = vec![0.0; ids.len()];
        for (slot, id) in out.iter_mut().zip(ids) {
            let unit = id.to_string();
            for p in self.params().iter().filter(|p| p.unit == unit) {
                if let Some(g) = grads.get(p.var.as_tensor()) {
                    *slot += g
                        .sqr()
                        .and_then(|g| g.sum_all())
                        .and_then(|g| g.to_scalar::<f32>())
                        .map_err(tensor)? as f64;
                }
            }
        }
        Ok(out)
    }
}
