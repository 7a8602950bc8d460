//! One generated clip from a checkpoint for a dataset video, written as a
//! GIF beside the ground truth and the poses (`entprog sample`). The
//! reference is the video's last frame, outside the generated clip.

use std::path::PathBuf;

use candle_core::{Device, Tensor};

use crate::data::{DataConfig, Split};
use crate::diffusion::{DiffusionConfig, SamplerKind};

/// What to generate, and where to write it.
#[derive(Debug, Clone)]
pub struct ClipRequest {
    /// A checkpoint written by `entprog train`, or a Hub reference.
    pub checkpoint: PathBuf,
    /// Dataset name under `root`.
    pub dataset: String,
    pub root: PathBuf,
    /// Video id (as in the dataset's manifest), from either split.
    pub video: u32,
    /// Frames to generate (1 = one image).
    pub frames: usize,
    /// Output GIF: ground truth | pose | generated, per frame.
    pub out: PathBuf,
    /// Sampler steps, guidance scale and sampler.
    pub steps: usize,
    pub guidance: f64,
    pub sampler: SamplerKind,
    /// Use the EMA weights when the checkpoint has them.
    pub ema: bool,
    /// Seed of the sampling noise.
    pub seed: u64,
}

/// Why a clip could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Checkpoint(#[from] crate::results::checkpoint::CheckpointError),
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Sample(#[from] crate::diffusion::SampleError),
    #[error(transparent)]
    Gif(#[from] crate::results::gif::GifError),
    /// A request that cannot be served (bad video id, old checkpoint).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Tensor(#[from] candle_core::Error),
}

/// `[1, t, 3, h, w]` in [-1, 1] from u8 frames.
fn frames_tensor(frames: &[&[u8]], h: usize, w: usize) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = frames
        .iter()
        .flat_map(|f| f.iter().map(|&x| x as f32 / 127.5 - 1.0))
        .collect();
    Tensor::from_vec(v, (1, frames.len(), 3, h, w), &Device::Cpu)
}

/// Generates the clip and writes the GIF; returns the frames generated.
pub fn sample_clip(req: &ClipRequest) -> Result<usize, ClipError> {
    let device = Device::Cpu;
    // A hub reference is pulled into (or, offline, served from) the Hub cache.
    let checkpoint = crate::hub::checkpoint(&req.checkpoint)?.path;
    let ck = crate::results::checkpoint::load(&checkpoint, &device)?;
    let model_cfg = ck
        .state
        .model
        .clone()
        .ok_or_else(|| ClipError::Usage(format!("{}: no model config in the checkpoint", checkpoint.display())))?;
    let model = model_cfg.build(0, &device)?;
    let weights = if req.ema && !ck.ema.is_empty() {
        &ck.ema
    } else {
        &ck.weights
    };
    crate::results::checkpoint::load_weights(&checkpoint, &model, weights)?;
    let ds = DataConfig {
        dataset: req.dataset.clone(),
        root: req.root.clone(),
        ..DataConfig::default()
    }
    .open()?;
    let video = [Split::Train, Split::Test]
        .iter()
        .flat_map(|&s| ds.videos(s))
        .find(|v| v.id() == req.video)
        .ok_or_else(|| ClipError::Usage(format!("dataset {} has no video {}", req.dataset, req.video)))?;
    let t = req.frames.clamp(1, video.frames().saturating_sub(1).max(1));
    let (h, w) = ds.resolution();
    let rgb: Vec<&[u8]> = (0..t).map(|f| video.rgb(f)).collect();
    let pose: Vec<&[u8]> = (0..t).map(|f| video.pose(f)).collect();
    let truth = frames_tensor(&rgb, h, w)?;
    let poses = frames_tensor(&pose, h, w)?;
    let reference = frames_tensor(&[video.rgb(video.frames() - 1)], h, w)?.squeeze(0)?;
    let diff = DiffusionConfig {
        sample_steps: req.steps,
        guidance: req.guidance,
        sampler: req.sampler,
        ..ck.state.diffusion.clone().unwrap_or_default()
    };
    let schedule = diff.build();
    let generated = crate::model::sample_clips(
        &model,
        Some(&reference),
        Some(&poses),
        truth.dims(),
        &diff,
        &schedule,
        req.seed,
    )?;
    crate::results::gif::write_clip(
        &req.out,
        &[truth.squeeze(0)?, poses.squeeze(0)?, generated.squeeze(0)?],
        4,
        8,
    )?;
    Ok(t)
}
