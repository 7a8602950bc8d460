//! Generating clips with the denoiser: the model as a [`Denoise`] for the
//! samplers, conditioned on a reference image and a pose sequence, with the
//! unconditional branch of classifier-free guidance given by dropping both
//! (cond_keep = 0, exactly what condition dropout trained). A v-predicting
//! network's output is turned into the eps the samplers take.

use candle_core::Tensor;

use crate::diffusion::{output_to_eps, sample, Denoise, DiffusionConfig, NoiseSchedule, Prediction, SampleError};

use super::dit::{Denoiser, Inputs};

/// A denoiser bound to one batch of conditions.
pub struct Conditioned<'a> {
    /// The model (any gates; sampling never builds a graph for frozen units).
    pub model: &'a Denoiser,
    /// Reference images `[b, 3, H, W]`, or none.
    pub reference: Option<&'a Tensor>,
    /// Pose maps `[b, t, 3, H, W]`, or none.
    pub poses: Option<&'a Tensor>,
    /// The training schedule (converts a v output to eps).
    pub schedule: &'a NoiseSchedule,
    /// What the network predicts.
    pub prediction: Prediction,
}

impl Denoise for Conditioned<'_> {
    fn eps(&mut self, x: &Tensor, t: usize, conditional: bool) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        let timesteps = vec![t; b];
        let keep = vec![if conditional { 1.0 } else { 0.0 }; b];
        let inputs = Inputs {
            x_t: x,
            timesteps: &timesteps,
            reference: self.reference,
            poses: self.poses,
            cond_keep: Some(&keep),
        };
        // Sampling needs no gradients: detach so no graph is kept between steps.
        let out = self
            .model
            .forward(&inputs)
            .map(|e| e.detach())
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        output_to_eps(&out, x, t, self.schedule, self.prediction)
    }
}

/// Samples clips `[b, t, 3, H, W]` in [-1, 1] for the given conditions.
pub fn sample_clips(
    model: &Denoiser,
    reference: Option<&Tensor>,
    poses: Option<&Tensor>,
    dims: &[usize],
    cfg: &DiffusionConfig,
    schedule: &NoiseSchedule,
    seed: u64,
) -> Result<Tensor, SampleError> {
    let mut den = Conditioned {
        model,
        reference,
        poses,
        schedule,
        prediction: cfg.prediction,
    };
    sample(&mut den, cfg, schedule, dims, seed, model.device())
}
