//! `entprog eval <run-dir>`: evaluates a finished training run's checkpoint
//! the way the study's evaluation cell does, at one or more sampler
//! settings, and prints one table of the results read back from the
//! `eval.parquet` files (`entprog::study::eval_run`).

use std::path::PathBuf;

use anyhow::Result;

use entprog::study::eval_run::{eval, EvalRequest};

use super::sample::SamplerArg;

#[derive(clap::Args)]
pub struct Args {
    /// A finished training run's folder (results/<experiment>/train/seed-<n>/).
    run_dir: PathBuf,
    /// Checkpoint to evaluate (default: the folder's last.safetensors).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Test clips to generate (one fixed test batch; the first clips of the split's fixed order).
    #[arg(long, default_value_t = 8)]
    clips: usize,
    /// Sampler steps; a comma-separated list evaluates each (default: the run's diffusion.sample_steps).
    #[arg(long, value_delimiter = ',')]
    steps: Vec<usize>,
    /// Classifier-free guidance scales; a comma-separated list evaluates each (default: the run's diffusion.guidance).
    #[arg(long, value_delimiter = ',')]
    guidance: Vec<f64>,
    /// Sampler (default: the run's diffusion.sampler).
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Sample with the checkpoint's EMA weights.
    #[arg(long)]
    ema: bool,
    /// Sampling-noise stream (derived from the run's seed): another value, other noise for the same clips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Offline feature networks (a file under experiments/), trained or
    /// reused first: LPIPS, FID, FVD and pose adherence; `none` skips them.
    #[arg(long, default_value = "nets/dance.toml")]
    features: String,
    /// `--set` flags for the feature networks' file (e.g. `frame.steps=100`).
    #[arg(long = "features-set")]
    features_set: Vec<String>,
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    let req = EvalRequest {
        run_dir: args.run_dir,
        checkpoint: args.checkpoint,
        clips: args.clips,
        steps: args.steps,
        guidance: args.guidance,
        sampler: args.sampler.map(Into::into),
        ema: args.ema,
        seed: args.seed,
        features: args.features,
        features_set: args.features_set,
    };
    print!("{}", eval(&req, quiet)?);
    Ok(())
}
