//! A small fixed held-out set (docs/paper.md §4: "fixed tau, fixed noise"): the
//! first test-split batches of the experiment's dataset, each with its own
//! diffusion draw from the `heldout` streams and every condition kept. Its
//! mean training loss (eps or v MSE) is what the supernet's convergence efficiency compares,
//! and what the loss-on-skip and gradient scorers measure.

use candle_core::{Device, Tensor};

use super::score::DenoiserSamples;
use crate::data::{Loader, Split};
use crate::diffusion::{add_noise, draw_training_noise, prediction_loss, target, NoiseSchedule, Prediction};
use crate::model::{Denoiser, Inputs, ModelError};
use crate::seed::derive_seed;

/// One held-out batch: model inputs and the network's target for them (the
/// noise they were made with, or v; `diffusion.prediction`).
#[derive(Debug, Clone)]
pub struct HeldOutBatch {
    pub samples: DenoiserSamples,
    pub target: Tensor,
}

impl HeldOutBatch {
    /// The model inputs of this batch (conditions always kept).
    pub fn inputs(&self) -> Inputs<'_> {
        self.samples.inputs()
    }

    /// Clips in the batch.
    pub fn len(&self) -> usize {
        self.samples.timesteps.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The held-out set.
#[derive(Debug, Clone)]
pub struct HeldOut {
    pub batches: Vec<HeldOutBatch>,
}

impl HeldOut {
    /// `n` fixed test batches of `loader`, noised with the `heldout` streams
    /// of `seed`; `(reference, pose)` says which conditions the stage feeds;
    /// targets of `prediction`.
    pub fn new(
        loader: &Loader,
        n: usize,
        schedule: &NoiseSchedule,
        prediction: Prediction,
        (with_reference, with_pose): (bool, bool),
        seed: u64,
        device: &Device,
    ) -> Result<Self, crate::data::DataError> {
        let seed = derive_seed(seed, "heldout", 0);
        let mut batches = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let b = loader.fixed_batch_from(Split::Test, i, device)?;
            let build = || -> candle_core::Result<HeldOutBatch> {
                let draw = draw_training_noise(seed, i, b.frames.dims(), schedule, 0.0, device)?;
                let target = target(&b.frames, &draw.noise, &draw.timesteps, schedule, prediction)?;
                Ok(HeldOutBatch {
                    samples: DenoiserSamples {
                        x_t: add_noise(&b.frames, &draw.noise, &draw.timesteps, schedule)?,
                        timesteps: draw.timesteps,
                        reference: with_reference.then(|| b.reference.clone()),
                        poses: with_pose.then(|| b.poses.clone()),
                    },
                    target,
                })
            };
            batches.push(build()?);
        }
        Ok(Self { batches })
    }

    /// The set as the scorers take it: model inputs and their targets.
    pub fn inputs(&self) -> Vec<(Inputs<'_>, Tensor)> {
        self.batches.iter().map(|b| (b.inputs(), b.target.clone())).collect()
    }

    /// Mean prediction loss of `model` over the set (each batch weighs the same).
    pub fn loss(&self, model: &Denoiser) -> Result<f64, ModelError> {
        let mut sum = 0.0;
        for b in &self.batches {
            let pred = model.forward(&b.inputs())?;
            sum += batch_loss(&pred, &b.target)?;
        }
        Ok(sum / self.batches.len().max(1) as f64)
    }
}

fn batch_loss(pred: &Tensor, target: &Tensor) -> Result<f64, ModelError> {
    let tensor = |source| ModelError::Tensor {
        context: "held-out loss".into(),
        source,
    };
    Ok(prediction_loss(pred, target)
        .and_then(|l| l.to_scalar::<f32>())
        .map_err(tensor)? as f64)
}
