//! Block scoring passes over a model, through the `Blocks` trait (docs/paper.md
//! §3): one baseline pass and one pass per skipped block over the same
//! seeded samples, predictions grouped by condition, then the CEI estimator
//! of `cei.rs` (and its kNN counterpart of `knn.rs`) per block.
//!
//! Samples: C conditions (a reference image, a pose and its frame, from the
//! dataset's test split) x K draws of (tau, noise) each, N = C K in all. A
//! batch holds whole conditions: sample j of a batch belongs to condition
//! j / K. Every pass sees the same batches, so the skip/baseline ratio is
//! paired. Skipped passes reuse the forward prefix before the skipped block,
//! and the baseline comes from the same pass
//! ([`Blocks::predict_with_each_skipped`]).

use candle_core::{Device, Tensor};
use rand::Rng;

use super::cei::{condition_cei, estimate, Estimate};
use super::knn::{condition_knn_cei, projection};
use crate::data::{Loader, Split};
use crate::diffusion::loss::{add_noise, normal_vec};
use crate::diffusion::schedule::NoiseSchedule;
use crate::model::{BlockId, Blocks, Gate, Inputs};
use crate::seed::stream;

/// Errors of a scoring pass.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("model forward pass: {0}")]
    Model(Box<dyn std::error::Error + Send + Sync>),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("data: {0}")]
    Data(#[from] crate::data::DataError),
    #[error(
        "the model's predictions have no spread for condition {condition} (an untrained, zero-initialised \
         output layer predicts 0 everywhere): CEI is undefined; score a trained model (train.init_from)"
    )]
    NoSpread { condition: usize },
    #[error("batch of {batch} samples does not hold whole conditions of {draws} draws")]
    Ragged { batch: usize, draws: usize },
}

/// Sampling settings of a scoring pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSettings {
    /// Draws of (tau, noise) per condition, K.
    pub draws: usize,
    /// Bootstrap resamples for the standard error.
    pub resamples: usize,
    /// Dimensions of the kNN projection (0 = no kNN estimate).
    pub knn_dims: usize,
    /// k of the kNN estimator.
    pub knn_k: usize,
    /// Root seed (bootstrap and projection streams).
    pub seed: u64,
}

/// The scores of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockScore {
    pub id: BlockId,
    /// Gaussian CEI, log(sigma_skip / sigma) per dimension.
    pub cei: Estimate,
    /// Kozachenko-Leonenko estimate of the same entropy difference.
    pub knn: Option<Estimate>,
}

/// `pred` `[b, ...]` grouped by condition: `[b / draws][draws * dim]`.
fn by_condition(pred: &Tensor, draws: usize) -> Result<(Vec<Vec<f32>>, usize), ScoreError> {
    let b = pred.dim(0)?;
    if b % draws != 0 {
        return Err(ScoreError::Ragged { batch: b, draws });
    }
    let dim = pred.elem_count() / b;
    let v = pred.flatten_all()?.to_vec1::<f32>()?;
    Ok((v.chunks(draws * dim).map(|c| c.to_vec()).collect(), dim))
}

/// Predictions under the current gates, grouped by condition:
/// `[conditions][draws * dim]`.
pub fn predictions<M: Blocks>(
    model: &M,
    batches: &[M::Input<'_>],
    draws: usize,
) -> Result<(Vec<Vec<f32>>, usize), ScoreError> {
    let mut out = Vec::new();
    let mut dim = 0;
    for input in batches {
        let pred = model.predict(input).map_err(|e| ScoreError::Model(Box::new(e)))?;
        let (groups, d) = by_condition(&pred, draws)?;
        dim = d;
        out.extend(groups);
    }
    Ok((out, dim))
}

/// The blocks [`score_blocks`] scores by default: every block not already skipped.
pub fn active_blocks<M: Blocks>(model: &M) -> Vec<BlockId> {
    model
        .blocks()
        .into_iter()
        .map(|b| b.id)
        .filter(|&id| model.block_gate(id) != Gate::Skipped)
        .collect()
}

/// CEI (and kNN CEI) of each block of `ids`, in that order. Per batch: the
/// baseline prediction and every block skipped in turn, from one pass
/// through [`Blocks::predict_with_each_skipped`] (which reuses the forward
/// prefix); the per-condition values are kept, the predictions dropped.
pub fn score_blocks<M: Blocks>(
    model: &mut M,
    batches: &[M::Input<'_>],
    ids: &[BlockId],
    s: &ScoreSettings,
) -> Result<Vec<BlockScore>, ScoreError>
where
    M::Error: From<crate::model::GateError>,
{
    let order: Vec<BlockId> = model.blocks().into_iter().map(|b| b.id).collect();
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); ids.len()];
    let mut per_knn: Vec<Vec<f64>> = vec![Vec::new(); ids.len()];
    let mut proj = None;
    let mut first_condition = 0;
    for input in batches {
        let (pred, skipped) = model
            .predict_with_each_skipped(input, ids)
            .map_err(|e| ScoreError::Model(Box::new(e)))?;
        let (base, dim) = by_condition(&pred, s.draws)?;
        if let Some(c) = base.iter().position(|p| !super::cei::log_sigma(p, dim).is_finite()) {
            return Err(ScoreError::NoSpread {
                condition: first_condition + c,
            });
        }
        first_condition += base.len();
        let proj = proj.get_or_insert_with(|| (s.knn_dims > 0).then(|| projection(dim, s.knn_dims, s.seed)));
        for (i, pred) in skipped.iter().enumerate() {
            let (skipped, _) = by_condition(pred, s.draws)?;
            for (b, k) in base.iter().zip(&skipped) {
                per[i].push(condition_cei(b, k, dim));
                if let Some(p) = proj {
                    per_knn[i].push(condition_knn_cei(b, k, dim, p, s.knn_dims, s.knn_k));
                }
            }
        }
    }
    Ok(ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            // Bootstrap keys follow the block's place in the model, so a
            // block's estimate does not depend on which others are scored.
            let key = order.iter().position(|&o| o == id).unwrap_or(i) as u64;
            BlockScore {
                id,
                cei: estimate(std::mem::take(&mut per[i]), s.resamples, s.seed, key),
                knn: (s.knn_dims > 0)
                    .then(|| estimate(std::mem::take(&mut per_knn[i]), s.resamples, s.seed, (1 << 32) | key)),
            }
        })
        .collect())
}

/// Owned tensors of one scoring batch of the denoiser (see [`Inputs`]).
#[derive(Debug, Clone)]
pub struct DenoiserSamples {
    pub x_t: Tensor,
    pub timesteps: Vec<usize>,
    pub reference: Option<Tensor>,
    pub poses: Option<Tensor>,
}

impl DenoiserSamples {
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            x_t: &self.x_t,
            timesteps: &self.timesteps,
            reference: self.reference.as_ref(),
            poses: self.poses.as_ref(),
            cond_keep: None,
        }
    }
}

/// Scoring batches for the denoiser: `conditions` conditions from fixed test
/// batches of `loader`, each repeated `draws` times with its own tau and
/// noise from `stream(seed, "cei-draws", condition)`; `per_batch` conditions
/// per batch. `(reference, pose)` says which conditions the stage feeds.
#[allow(clippy::too_many_arguments)]
pub fn denoiser_samples(
    loader: &Loader,
    schedule: &NoiseSchedule,
    conditions: usize,
    draws: usize,
    per_batch: usize,
    (with_reference, with_pose): (bool, bool),
    seed: u64,
    device: &Device,
) -> Result<Vec<DenoiserSamples>, ScoreError> {
    // The conditions, in order, from consecutive fixed test batches; then
    // grouped into scoring batches, so batching never changes the samples.
    let mut conds: Vec<(Tensor, Tensor, Tensor)> = Vec::with_capacity(conditions);
    let mut fixed = 0u64;
    while conds.len() < conditions {
        let b = loader.fixed_batch_from(Split::Test, fixed, device)?;
        fixed += 1;
        for j in 0..b.frames.dim(0)?.min(conditions - conds.len()) {
            conds.push((b.frames.get(j)?, b.reference.get(j)?, b.poses.get(j)?));
        }
    }
    let mut out = Vec::new();
    for (g, group) in conds.chunks(per_batch.max(1)).enumerate() {
        let (mut xs, mut ts, mut refs, mut poses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (j, (frame, reference, pose)) in group.iter().enumerate() {
            let mut rng = stream(seed, "cei-draws", (g * per_batch.max(1) + j) as u64);
            for _ in 0..draws {
                let tau = rng.random_range(0..schedule.len());
                let noise = Tensor::from_vec(normal_vec(&mut rng, frame.elem_count()), frame.dims(), device)?;
                xs.push(add_noise(&frame.unsqueeze(0)?, &noise.unsqueeze(0)?, &[tau], schedule)?);
                ts.push(tau);
                refs.push(reference.unsqueeze(0)?);
                poses.push(pose.unsqueeze(0)?);
            }
        }
        out.push(DenoiserSamples {
            x_t: Tensor::cat(&xs, 0)?,
            timesteps: ts,
            reference: with_reference.then(|| Tensor::cat(&refs, 0)).transpose()?,
            poses: with_pose.then(|| Tensor::cat(&poses, 0)).transpose()?,
        });
    }
    Ok(out)
}
