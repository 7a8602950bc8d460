//! Sampled evaluation: generated test clips scored frame by frame, the one
//! code path of the evaluation cell (`crate::study::evaluate`), of
//! `entprog eval`, and of the periodic evaluation during training (the
//! `[eval]` section, for convergence curves like the paper's Fig. 6).
//!
//! The clips are the first `clips` of the test split's fixed order (one
//! fixed batch), their sampling noise the stream `eval-sample` of the run's
//! seed, so a run's last periodic evaluation and an evaluation of its final
//! checkpoint at the same settings give the same numbers.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{check, key, ExperimentConfig, Invalid, Validate};
use crate::data::{Batch, Split};
use crate::diffusion::DiffusionConfig;
use crate::model::{sample_clips, Denoiser};

use super::frame::{Frame, FrameError};

/// `[eval]`: sampled evaluation during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Generate and score test clips every this many steps and at the end
    /// (0 = never). Rows go to the run's `eval.parquet` with their wall
    /// time, which is kept out of the training-time columns.
    pub every: u64,
    /// Test clips generated at each evaluation.
    pub clips: usize,
    /// Sampler steps (0 = `diffusion.sample_steps`); the sampler and
    /// guidance are `[diffusion]`'s.
    pub sample_steps: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 0,
            clips: 4,
            sample_steps: 0,
        }
    }
}

impl Validate for EvalConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            (1..=256).contains(&self.clips),
            key(prefix, "clips"),
            format!("{} is out of range, expected 1 to 256 clips", self.clips),
        );
        check(
            out,
            self.sample_steps <= 10_000,
            key(prefix, "sample_steps"),
            format!(
                "{} is out of range, expected 0 (diffusion.sample_steps) to 10000",
                self.sample_steps
            ),
        );
    }
}

impl EvalConfig {
    /// Whether a sampled evaluation is due after `done` of `steps` steps.
    pub fn due(&self, done: u64, steps: u64) -> bool {
        self.every > 0 && (done == steps || done.is_multiple_of(self.every))
    }
}

/// Why a sampled evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum SampledError {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("sampling: {0}")]
    Sample(#[from] crate::diffusion::SampleError),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("frame metrics: {0}")]
    Frame(#[from] FrameError),
}

/// The fixed test batch of `clips` clips that every sampled evaluation of
/// `cfg`'s run generates.
pub fn test_batch(cfg: &ExperimentConfig, clips: usize, device: &Device) -> Result<Batch, SampledError> {
    let loader = cfg.data.loader(cfg.data.open()?, Split::Test, clips, cfg.seed);
    Ok(loader.fixed_batch_from(Split::Test, 0, device)?)
}

/// Generates `batch`'s clips with `model` from their reference frames and
/// pose sequences (those the stage conditions on) with `diffusion`'s
/// sampler, noise stream `eval-sample` index `stream` of `cfg.seed`.
pub fn generate(
    cfg: &ExperimentConfig,
    model: &Denoiser,
    batch: &Batch,
    diffusion: &DiffusionConfig,
    stream: u64,
) -> Result<Tensor, SampledError> {
    let (reference, pose) = cfg.train.stage.conditions();
    Ok(sample_clips(
        model,
        reference.then_some(&batch.reference),
        pose.then_some(&batch.poses),
        batch.frames.dims(),
        diffusion,
        &diffusion.build(),
        crate::seed::derive_seed(cfg.seed, "eval-sample", stream),
    )?)
}

/// Clips `[b, t, 3, H, W]` (or frames `[n, 3, H, W]`) in [-1, 1] as frames `[n, 3, H, W]` in [0, 1].
pub fn to_unit(t: &Tensor) -> candle_core::Result<Tensor> {
    let t = if t.rank() == 5 { t.flatten_to(1)? } else { t.clone() };
    ((t + 1.0)? / 2.0)?.clamp(0.0, 1.0)
}

/// The frame metrics of `crate::eval` (SSIM, PSNR, L1 and DisCo's
/// variants) of a prediction against the truth, both `[n, 3, h, w]` in
/// [0, 1], per frame then averaged. Frames are quantised to 8 bits first,
/// as they would be saved to PNG and scored by `entprog metrics`.
pub fn frame_metrics(pred: &Tensor, truth: &Tensor) -> Result<Vec<(&'static str, f64)>, SampledError> {
    let frames = |t: &Tensor| -> Result<Vec<Frame>, SampledError> {
        let (n, _, h, w) = t.dims4()?;
        // [n, h, w, 3] bytes.
        let bytes: Vec<u8> = (t.permute((0, 2, 3, 1))?.contiguous()? * 255.0)?
            .round()?
            .clamp(0.0, 255.0)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| v as u8)
            .collect();
        (0..n)
            .map(|i| {
                let data = bytes[i * h * w * 3..(i + 1) * h * w * 3]
                    .iter()
                    .map(|&b| f64::from(b) / 255.0)
                    .collect();
                Frame::new(h, w, data).map_err(SampledError::Frame)
            })
            .collect()
    };
    let (pred, truth) = (frames(pred)?, frames(truth)?);
    let n = pred.len().max(1) as f64;
    let mut out = Vec::new();
    type Metric = fn(&Frame, &Frame) -> Result<f64, FrameError>;
    let metrics: [(&str, Metric); 5] = [
        ("ssim", super::ssim::ssim),
        ("psnr", super::frame::psnr),
        ("l1", super::frame::l1),
        ("ssim_disco", super::ssim::ssim_disco),
        ("psnr_disco", super::frame::psnr_disco),
    ];
    for (name, f) in metrics {
        let mut sum = 0.0;
        for (t, p) in truth.iter().zip(&pred) {
            sum += f(t, p)?;
        }
        out.push((name, sum / n));
    }
    Ok(out)
}

/// One periodic evaluation: `batch`'s clips generated by `model` with the
/// run's sampler at `[eval]`'s step count, noise stream 0, scored.
pub fn periodic(
    cfg: &ExperimentConfig,
    model: &Denoiser,
    batch: &Batch,
) -> Result<Vec<(&'static str, f64)>, SampledError> {
    let diffusion = DiffusionConfig {
        sample_steps: if cfg.eval.sample_steps > 0 {
            cfg.eval.sample_steps
        } else {
            cfg.diffusion.sample_steps
        },
        ..cfg.diffusion.clone()
    };
    let generated = generate(cfg, model, batch, &diffusion, 0)?;
    frame_metrics(&to_unit(&generated)?, &to_unit(&batch.frames)?)
}
