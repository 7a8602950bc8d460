//! `entprog sample <checkpoint> --dataset D --video N`: a generated clip
//! beside the ground truth and the poses, as a GIF.

use std::path::PathBuf;

use anyhow::Result;

use entprog::diffusion::SamplerKind;
use entprog::eval::clip::{sample_clip, ClipRequest};

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint written by `entprog train` (last.safetensors), or a Hub
    /// reference hf://<org>/<name>[@<revision>]/<path>.
    checkpoint: PathBuf,
    /// Dataset name (under --root).
    #[arg(long)]
    dataset: String,
    /// Folder of dataset profiles and built datasets.
    #[arg(long, default_value = "datasets")]
    root: PathBuf,
    /// Video id (as in the dataset's manifest), from either split.
    #[arg(long)]
    video: u32,
    /// Frames to generate (1 = one image).
    #[arg(long, default_value_t = 8)]
    frames: usize,
    /// Output GIF: ground truth | pose | generated, per frame.
    #[arg(long, default_value = "clip.gif")]
    out: PathBuf,
    /// Sampling steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// Sampler.
    #[arg(long, value_enum, default_value = "ddpm")]
    sampler: SamplerArg,
    /// Use the EMA weights when the checkpoint has them.
    #[arg(long)]
    ema: bool,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Sampler choice on the command line.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum SamplerArg {
    /// Ancestral DDPM (IDDPM respacing).
    Ddpm,
    /// Deterministic DDIM.
    Ddim,
}

impl From<SamplerArg> for SamplerKind {
    fn from(s: SamplerArg) -> Self {
        match s {
            SamplerArg::Ddpm => SamplerKind::Ddpm,
            SamplerArg::Ddim => SamplerKind::Ddim,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let req = ClipRequest {
        checkpoint: args.checkpoint,
        dataset: args.dataset,
        root: args.root,
        video: args.video,
        frames: args.frames,
        out: args.out.clone(),
        steps: args.steps,
        guidance: args.guidance,
        sampler: args.sampler.into(),
        ema: args.ema,
        seed: args.seed,
    };
    let t = sample_clip(&req)?;
    println!(
        "wrote {} ({t} frames: ground truth | pose | generated)",
        args.out.display()
    );
    Ok(())
}
