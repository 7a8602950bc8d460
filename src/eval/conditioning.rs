//! The conditioning gap (issue 12, item 5; beyond the paper): how much the
//! model's prediction (eps or v, as `diffusion.prediction` says) depends on its condition, without sampling.
//! On fixed test clips with fixed tau and noise (streams
//! `conditioning-gap`), the held-out loss with every clip's
//! (reference, pose) pair handed to another clip (the next one in the
//! fixed order that comes from a different video) minus the loss with the
//! true pairs. A model that ignores its condition scores 0; the larger the
//! gap, the more the condition is used. The plain held-out loss hides this
//! (docs/design.md: shuffling raised a prototype's loss by only ~15%).

use candle_core::{Device, Tensor};

use crate::data::Split;
use crate::diffusion::{add_noise, draw_training_noise, prediction_loss, target};
use crate::experiment::ExperimentConfig;
use crate::model::{Denoiser, Inputs};
use crate::seed::derive_seed;

/// Clips per forward pass.
const BATCH: usize = 8;

/// The two losses and their difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConditioningGap {
    /// Mean training loss with the true (reference, pose) pairs.
    pub true_loss: f64,
    /// Mean training loss with the pairs of other clips.
    pub shuffled_loss: f64,
    /// Clips scored.
    pub samples: usize,
}

impl ConditioningGap {
    /// `shuffled_loss - true_loss`.
    pub fn gap(&self) -> f64 {
        self.shuffled_loss - self.true_loss
    }
}

/// Why the gap could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum GapError {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("conditioning gap: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// For each sample, the first later sample (cyclically) of another video:
/// whose condition it is given. Falls back to the next sample when every
/// sample comes from one video.
pub fn partners(videos: &[u32]) -> Vec<usize> {
    let n = videos.len();
    (0..n)
        .map(|j| {
            (1..n)
                .map(|d| (j + d) % n)
                .find(|&k| videos[k] != videos[j])
                .unwrap_or((j + 1) % n.max(1))
        })
        .collect()
}

/// Measures the gap of `model` on at least `samples` fixed test clips of
/// `cfg`'s dataset (rounded up to whole batches of 8).
pub fn conditioning_gap(cfg: &ExperimentConfig, model: &Denoiser, samples: usize) -> Result<ConditioningGap, GapError> {
    let device = Device::Cpu;
    let (with_reference, with_pose) = cfg.train.stage.conditions();
    let schedule = cfg.diffusion.build();
    let loader = cfg.data.loader(cfg.data.open()?, Split::Test, BATCH, cfg.seed);
    let seed = derive_seed(cfg.seed, "conditioning-gap", 0);
    let batches: Vec<_> = (0..samples.div_ceil(BATCH) as u64)
        .map(|i| loader.fixed_batch_from(Split::Test, i, &device))
        .collect::<Result<_, _>>()?;
    let videos: Vec<u32> = batches.iter().flat_map(|b| b.video_ids.clone()).collect();
    let partner = partners(&videos);
    let all_refs: Vec<Tensor> = batches.iter().map(|b| b.reference.clone()).collect();
    let all_poses: Vec<Tensor> = batches.iter().map(|b| b.poses.clone()).collect();
    let (refs, poses) = (Tensor::cat(&all_refs, 0)?, Tensor::cat(&all_poses, 0)?);
    let (mut true_sum, mut shuffled_sum) = (0.0, 0.0);
    for (i, b) in batches.iter().enumerate() {
        let draw = draw_training_noise(seed, i as u64, b.frames.dims(), &schedule, 0.0, &device)?;
        let x_t = add_noise(&b.frames, &draw.noise, &draw.timesteps, &schedule)?;
        let want = target(
            &b.frames,
            &draw.noise,
            &draw.timesteps,
            &schedule,
            cfg.diffusion.prediction,
        )?;
        let ids: Vec<u32> = (0..BATCH).map(|k| partner[i * BATCH + k] as u32).collect();
        let ids = Tensor::from_vec(ids, BATCH, &device)?;
        let other_ref = refs.index_select(&ids, 0)?;
        let other_pose = poses.index_select(&ids, 0)?;
        for (reference, pose, sum) in [
            (&b.reference, &b.poses, &mut true_sum),
            (&other_ref, &other_pose, &mut shuffled_sum),
        ] {
            let pred = model.forward(&Inputs {
                x_t: &x_t,
                timesteps: &draw.timesteps,
                reference: with_reference.then_some(reference),
                poses: with_pose.then_some(pose),
                cond_keep: None,
            })?;
            *sum += prediction_loss(&pred, &want)?.to_scalar::<f32>()? as f64;
        }
    }
    let k = batches.len().max(1) as f64;
    Ok(ConditioningGap {
        true_loss: true_sum / k,
        shuffled_loss: shuffled_sum / k,
        samples: batches.len() * BATCH,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partners_come_from_another_video_when_there_is_one() {
        let p = partners(&[1, 1, 2, 1, 3]);
        assert_eq!(p, [2, 2, 3, 4, 0]);
        assert_eq!(partners(&[5, 5, 5]), [1, 2, 0]);
    }
}
