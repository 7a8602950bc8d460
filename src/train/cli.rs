//! Command-line entry points of the training module (main.rs only parses
//! and dispatches).

use clap::Args;

use crate::bench::step_time::time_steps;
use crate::model::{Gate, ModelConfig};

use super::config::{GatePlan, TrainingStage};
use super::trainer::TrainError;

/// `entprog bench-step`: median training-step time of a preset as leading
/// blocks freeze.
#[derive(Args, Debug, Clone)]
pub struct BenchStepArgs {
    /// Model preset (`tiny`, `default`, `paper`).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Override the number of spatial blocks L.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Clips per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Frames per clip (1 = image step).
    #[arg(long, default_value_t = 1)]
    pub frames: usize,
    /// Timed steps (after 2 warmup steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Numbers of leading spatial+temporal block pairs to freeze, comma separated
    /// (parts upstream of the blocks are frozen whenever this is > 0).
    #[arg(long, default_value = "0", value_delimiter = ',')]
    pub freeze_leading: Vec<usize>,
    /// Skip the frozen blocks instead (the nested sub-network).
    #[arg(long)]
    pub skip: bool,
    /// Use the plain candle compositions instead of the fused kernels.
    #[arg(long)]
    pub plain: bool,
}

/// The gate plan that freezes (or skips) the first `k` block pairs and the
/// conditioning parts upstream of them.
pub fn leading_plan(k: usize, skip: bool) -> GatePlan {
    let mut plan = GatePlan::default();
    if k == 0 {
        return plan;
    }
    plan.frozen = ["embed", "time", "pose", "reference.*"].map(String::from).to_vec();
    let list = if skip { &mut plan.skipped } else { &mut plan.frozen };
    for i in 0..k {
        list.push(format!("spatial.{i:02}"));
        list.push(format!("temporal.{i:02}"));
    }
    plan
}

/// Runs `bench-step` and prints one line per setting.
pub fn bench_step(args: &BenchStepArgs) -> Result<(), TrainError> {
    let mut model = ModelConfig::preset(&args.preset)
        .ok_or_else(|| crate::model::ModelError::Config(format!("unknown preset `{}`", args.preset)))?;
    if let Some(d) = args.depth {
        model.depth = d;
    }
    if args.plain {
        model.kernels = crate::model::ops::Kernels::Plain;
    }
    let stage = if args.frames > 1 {
        TrainingStage::Video
    } else {
        TrainingStage::Pose
    };
    println!(
        "preset {} depth {} batch {}x{} frames, {:?} kernels ({} threads)",
        model.preset,
        model.depth,
        args.batch,
        args.frames,
        model.kernels,
        candle_core::utils::get_num_threads()
    );
    let mut base = None;
    for &k in &args.freeze_leading {
        let t = time_steps(
            &model,
            leading_plan(k, args.skip),
            stage,
            args.batch,
            args.frames,
            2,
            args.steps,
        )?;
        let b = *base.get_or_insert(t.median_s);
        let state = if args.skip { Gate::Skipped } else { Gate::Frozen };
        println!(
            "{k:>3} leading pairs {:<7} median {:.4} s (min {:.4}, {:.2}x of first)  {:.2} GFLOP/step  {:.1} GFLOP/s  {} trainable",
            state.as_str(),
            t.median_s,
            t.min_s,
            t.median_s / b,
            t.flops as f64 / 1e9,
            t.flops as f64 / 1e9 / t.median_s,
            t.trainable_params
        );
    }
    Ok(())
}

/// Errors of `entprog train` and `entprog sample`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The experiment config did not load.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The dataset did not open.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The run failed.
    #[error(transparent)]
    Run(#[from] super::run::RunError),
    /// The checkpoint did not load.
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    /// A Hub reference did not resolve or pull.
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// Sampling failed.
    #[error(transparent)]
    Sample(#[from] crate::diffusion::SampleError),
    /// Writing the GIF failed.
    #[error(transparent)]
    Gif(#[from] super::gif::GifError),
    /// A request that cannot be served (bad video id, old checkpoint).
    #[error("{0}")]
    Usage(String),
    /// A tensor operation failed.
    #[error("{0}")]
    Tensor(#[from] candle_core::Error),
}

/// `entprog train <experiment>`: trains one stage in its run folder.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Experiment file, or a name under experiments/.
    pub experiment: String,
    /// Override a key: --set train.steps=100 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Runs `entprog train`.
pub fn train(args: &TrainArgs, quiet: bool) -> Result<(), CliError> {
    use crate::progress::{Progress, ProgressMode};
    let exp = crate::config::Experiment::load(&args.experiment, &args.sets)?;
    let cfg = &exp.config;
    cfg.run.apply();
    let mode = ProgressMode::detect(quiet, std::time::Duration::from_secs_f64(cfg.output.log_every_s));
    let mut progress = Progress::new(format!("train {}", exp.name), cfg.train.steps, mode);
    let mut on_step = |r: &super::trainer::StepRecord| {
        progress.set_message(format!("loss {:.4} {:.2}s/step", r.loss, r.wall_s));
        progress.inc(1);
    };
    let out = super::run::run_with_data(&exp, &mut on_step)?;
    progress.finish();
    let what = if out.cached { "reused" } else { "finished" };
    println!(
        "{what}: {} (steps.parquet, blocks.parquet, last.safetensors)",
        out.dir.display()
    );
    if let Ok(summary) = super::run::summary(&out.dir) {
        print!("{summary}");
    }
    Ok(())
}

/// `entprog sample <checkpoint>`: a generated clip beside the ground truth and poses.
#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// Checkpoint written by `entprog train` (last.safetensors), or a Hub
    /// reference hf://<org>/<name>[@<revision>]/<path>.
    pub checkpoint: std::path::PathBuf,
    /// Dataset name (under --root).
    #[arg(long)]
    pub dataset: String,
    /// Folder of dataset profiles and built datasets.
    #[arg(long, default_value = "datasets")]
    pub root: std::path::PathBuf,
    /// Video id (as in the dataset's manifest), from either split.
    #[arg(long)]
    pub video: u32,
    /// Frames to generate (1 = one image).
    #[arg(long, default_value_t = 8)]
    pub frames: usize,
    /// Output GIF: ground truth | pose | generated, per frame.
    #[arg(long, default_value = "clip.gif")]
    pub out: std::path::PathBuf,
    /// Sampling steps.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 1.0)]
    pub guidance: f64,
    /// Sampler.
    #[arg(long, value_enum, default_value = "ddpm")]
    pub sampler: SamplerArg,
    /// Use the EMA weights when the checkpoint has them.
    #[arg(long)]
    pub ema: bool,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Sampler choice on the command line.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum SamplerArg {
    /// Ancestral DDPM (IDDPM respacing).
    Ddpm,
    /// Deterministic DDIM.
    Ddim,
}

/// `[1, t, 3, h, w]` in [-1, 1] from u8 frames.
fn frames_tensor(frames: &[&[u8]], h: usize, w: usize) -> candle_core::Result<candle_core::Tensor> {
    let v: Vec<f32> = frames
        .iter()
        .flat_map(|f| f.iter().map(|&x| x as f32 / 127.5 - 1.0))
        .collect();
    candle_core::Tensor::from_vec(v, (1, frames.len(), 3, h, w), &candle_core::Device::Cpu)
}

/// Runs `entprog sample`.
pub fn sample(args: &SampleArgs) -> Result<(), CliError> {
    use crate::data::{DataConfig, Split};
    use crate::diffusion::{DiffusionConfig, SamplerKind};
    let device = candle_core::Device::Cpu;
    // A hub reference is pulled into (or, offline, served from) the Hub cache.
    let checkpoint = crate::hub::checkpoint(&args.checkpoint)?.path;
    let ck = super::checkpoint::load(&checkpoint, &device)?;
    let model_cfg = ck
        .state
        .model
        .clone()
        .ok_or_else(|| CliError::Usage(format!("{}: no model config in the checkpoint", checkpoint.display())))?;
    let model = model_cfg.build(0, &device)?;
    let weights = if args.ema && !ck.ema.is_empty() {
        &ck.ema
    } else {
        &ck.weights
    };
    super::checkpoint::load_weights(&checkpoint, &model, weights)?;
    let ds = DataConfig {
        dataset: args.dataset.clone(),
        root: args.root.clone(),
        ..DataConfig::default()
    }
    .open()?;
    let video = [Split::Train, Split::Test]
        .iter()
        .flat_map(|&s| ds.videos(s))
        .find(|v| v.id() == args.video)
        .ok_or_else(|| CliError::Usage(format!("dataset {} has no video {}", args.dataset, args.video)))?;
    let t = args.frames.clamp(1, video.frames().saturating_sub(1).max(1));
    let (h, w) = ds.resolution();
    let rgb: Vec<&[u8]> = (0..t).map(|f| video.rgb(f)).collect();
    let pose: Vec<&[u8]> = (0..t).map(|f| video.pose(f)).collect();
    let truth = frames_tensor(&rgb, h, w)?;
    let poses = frames_tensor(&pose, h, w)?;
    // The reference is the video's last frame, outside the generated clip.
    let reference = frames_tensor(&[video.rgb(video.frames() - 1)], h, w)?.squeeze(0)?;
    let sampler = match args.sampler {
        SamplerArg::Ddpm => SamplerKind::Ddpm,
        SamplerArg::Ddim => SamplerKind::Ddim,
    };
    let diff = DiffusionConfig {
        sample_steps: args.steps,
        guidance: args.guidance,
        sampler,
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
        args.seed,
    )?;
    super::gif::write_clip(
        &args.out,
        &[truth.squeeze(0)?, poses.squeeze(0)?, generated.squeeze(0)?],
        4,
        8,
    )?;
    println!(
        "wrote {} ({t} frames: ground truth | pose | generated)",
        args.out.display()
    );
    Ok(())
}
