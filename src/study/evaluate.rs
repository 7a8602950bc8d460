//! The evaluation cell of a training run: its final weights generate
//! `eval_clips` clips of the test split from their reference frames and
//! pose sequences (seeded sampler), scored against the ground truth frame
//! by frame with `crate::eval`'s metrics (SSIM, PSNR, L1, and DisCo's
//! `ssim_disco` / `psnr_disco`); the same metrics for the baselines `truth` (the ground truth
//! against itself: the ceiling) and `reference_copy` (the reference frame
//! repeated: what a model that ignores the pose scores); and the held-out
//! loss (eps or v, as `diffusion.prediction` says) on `data.eval_batches` fixed test batches. With the offline
//! dance networks (`crate::eval::dance`, trained or reused first): their
//! `fid_dance`, `fvd_dance`, `lpips_dance` and the pose adherence
//! `pck_dance` / `kp_error_px_dance` against the conditioning keypoints,
//! for the model and both baselines; and the conditioning gap
//! (`crate::eval::conditioning`, model only, no sampling). Rows go to
//! `eval.parquet` and the first clip (truth, pose, generated rows) to
//! `samples.png` in the cell's own folder (`<experiment>/eval/seed-<n>/`),
//! cached by the run's config hash and the evaluation settings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::data::Split;
use crate::diffusion::{DiffusionConfig, SamplerKind};
use crate::eval::dance::{DanceNets, DanceNetsConfig, Net};
use crate::eval::sampled;
use crate::experiment::Experiment;
use crate::results::checkpoint;
use crate::results::{write_table, EvalRow, Opened, RunDir, RunSpec};

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    RunDir(#[from] crate::results::RunDirError),
    #[error(transparent)]
    Table(#[from] crate::results::TableError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointErrorBox),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("sampling: {0}")]
    Sample(#[from] crate::diffusion::SampleError),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{0}: the checkpoint has no EMA weights (trained with train.ema_decay = 0); drop --ema")]
    NoEma(PathBuf),
    #[error("sample sheet: {0}")]
    Sheet(String),
    #[error(transparent)]
    Sampled(#[from] crate::eval::sampled::SampledError),
    #[error(transparent)]
    Nets(#[from] Box<crate::eval::dance::DanceError>),
    #[error(transparent)]
    Gap(#[from] Box<crate::eval::conditioning::GapError>),
}

/// A boxed checkpoint error (keeps [`EvalError`] small).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CheckpointErrorBox(#[from] Box<checkpoint::CheckpointError>);

/// Version of what an evaluation cell measures: part of its cache key, so a
/// build that measures more (new metrics) re-evaluates instead of reusing a
/// cell that lacks them. Bump it when the rows of `eval.parquet` change.
pub const EVAL_VERSION: u32 = 5;

/// Test clips (at least) of the conditioning gap (issue 12: >= 192).
pub const GAP_SAMPLES: usize = 192;

/// Evaluation settings of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    /// Test clips generated.
    pub clips: usize,
    /// Sampler steps per clip.
    pub sample_steps: usize,
    /// Sampler.
    pub sampler: SamplerKind,
    /// Classifier-free guidance scale (1 = none).
    pub guidance: f64,
    /// Sample with the checkpoint's EMA weights (an error when it has none).
    pub ema: bool,
    /// Index of the sampling-noise stream (`eval-sample`, derived from the
    /// run's seed): another index draws other noise for the same clips.
    pub sample_seed: u64,
    /// The offline feature networks (none: no feature-network metrics).
    pub nets: Option<DanceNetsConfig>,
}

impl EvalSettings {
    /// `clips` clips with the sampler, steps and guidance of `diffusion`
    /// (the run's `[diffusion]` section), raw weights, noise stream 0.
    pub fn from_diffusion(diffusion: &DiffusionConfig, clips: usize, nets: Option<DanceNetsConfig>) -> Self {
        Self {
            clips,
            sample_steps: diffusion.sample_steps,
            sampler: diffusion.sampler,
            guidance: diffusion.guidance,
            ema: false,
            sample_seed: 0,
            nets,
        }
    }

    /// The sampling part of [`Self::variant`], readable: `ddpm100-g4`,
    /// `ddim50-g1.5-ema-r2` (the noise stream only when it is not 0).
    pub fn sampling(&self) -> String {
        let sampler = match self.sampler {
            SamplerKind::Ddpm => "ddpm",
            SamplerKind::Ddim => "ddim",
        };
        format!(
            "{sampler}{}-g{}{}{}",
            self.sample_steps,
            self.guidance,
            if self.ema { "-ema" } else { "" },
            if self.sample_seed == 0 {
                String::new()
            } else {
                format!("-r{}", self.sample_seed)
            }
        )
    }

    /// The cache key the settings add to the run's config hash (the
    /// networks' own cache keys included).
    pub fn variant(&self) -> String {
        let nets = self.nets.as_ref().map_or(String::new(), |n| {
            format!("-n{}{}", &n.frame_hash()[..8], &n.clip_hash()[..8])
        });
        format!("c{}-{}-v{EVAL_VERSION}{nets}", self.clips, self.sampling())
    }
}

pub use crate::eval::sampled::frame_metrics;

/// The conditioning keypoints of a batch's frames (the renderer's keypoints
/// of the frames the pose maps were drawn from), `[b, t, 18, 2]` in unit
/// coordinates and `[b, t, 18]` visibility (0 where the dataset has none).
fn conditioning_keypoints(
    ds: &crate::data::Dataset,
    batch: &crate::data::Batch,
    device: &Device,
) -> Result<(Tensor, Tensor), EvalError> {
    use crate::data::pose::KEYPOINTS;
    let (h, w) = ds.resolution();
    let videos = ds.videos(Split::Test);
    let (mut kps, mut vis) = (Vec::new(), Vec::new());
    for (id, frames) in batch.video_ids.iter().zip(&batch.frame_idx) {
        let video = videos.iter().find(|v| v.id() == *id);
        for &f in frames {
            match video.and_then(|v| v.keypoints(f as usize)) {
                Some(kp) => {
                    for (i, p) in kp.0.iter().enumerate() {
                        kps.extend([p[0] / w as f32, p[1] / h as f32]);
                        vis.push(if kp.visible(i) { 1f32 } else { 0.0 });
                    }
                }
                None => {
                    kps.extend(std::iter::repeat_n(0f32, 2 * KEYPOINTS));
                    vis.extend(std::iter::repeat_n(0f32, KEYPOINTS));
                }
            }
        }
    }
    let (b, t) = (batch.video_ids.len(), batch.frame_idx.first().map_or(0, |f| f.len()));
    Ok((
        Tensor::from_vec(kps, (b, t, KEYPOINTS, 2), device)?,
        Tensor::from_vec(vis, (b, t, KEYPOINTS), device)?,
    ))
}

/// Runs (or reuses) the evaluation cell of `exp`'s finished training run:
/// its `last.safetensors`, into `<experiment>/eval/seed-<n>/`.
pub fn evaluate(exp: &Experiment, settings: EvalSettings) -> Result<(PathBuf, bool), EvalError> {
    let spec = exp.run_spec("eval", Some(&settings.variant()));
    let ckpt = exp.run_spec("train", None).dir().join("last.safetensors");
    evaluate_checkpoint(exp, &ckpt, &spec, &settings)
}

/// Runs (or reuses, when `spec`'s folder holds a complete result of the
/// same config hash) the evaluation of checkpoint `ckpt` of `exp`'s run,
/// writing `eval.parquet`, `samples.png` and `samples.gif` into `spec`'s
/// folder. Returns the folder and whether it was reused.
pub fn evaluate_checkpoint(
    exp: &Experiment,
    ckpt: &Path,
    spec: &RunSpec,
    settings: &EvalSettings,
) -> Result<(PathBuf, bool), EvalError> {
    let mut rd = match RunDir::open(spec)? {
        Opened::Cached { dir, .. } => return Ok((dir, true)),
        Opened::Fresh(rd) => rd,
    };
    let result = (|| -> Result<(), EvalError> {
        let cfg = &exp.config;
        let device = Device::Cpu;
        rd.add_input(ckpt)?;
        let mut ck = checkpoint::load(ckpt, &device).map_err(|e| CheckpointErrorBox(Box::new(e)))?;
        if settings.ema {
            if ck.ema.is_empty() {
                return Err(EvalError::NoEma(ckpt.to_path_buf()));
            }
            ck.weights = std::mem::take(&mut ck.ema);
        }
        let model = cfg.model.build(cfg.seed, &device)?;
        checkpoint::load_fitting(ckpt, &model, &ck, false).map_err(|e| CheckpointErrorBox(Box::new(e)))?;
        let run = spec.run_id();
        let step = ck.state.step;
        let mut rows = Vec::new();
        let mut push_with = |subject: &str, metric: &str, network: &str, value: f64, n: usize, dim: Option<usize>| {
            rows.push(EvalRow {
                run: run.clone(),
                step,
                subject: subject.into(),
                metric: metric.into(),
                network: network.into(),
                value,
                n: n as u64,
                dim: dim.map(|d| d as u64),
            })
        };
        let schedule = cfg.diffusion.build();
        let start = Instant::now();
        let heldout = crate::train::evidence::heldout(cfg, &schedule, cfg.data.eval_batches)?;
        let clips_heldout: usize = heldout.batches.iter().map(|b| b.len()).sum();
        let mut push =
            |subject: &str, metric: &str, value: f64, n: usize| push_with(subject, metric, "", value, n, None);
        push("model", "heldout_loss", heldout.loss(&model)?, clips_heldout);
        // Generated clips: one fixed test batch of `clips` clips.
        let batch = sampled::test_batch(cfg, settings.clips, &device)?;
        let diffusion = DiffusionConfig {
            sample_steps: settings.sample_steps,
            sampler: settings.sampler,
            guidance: settings.guidance,
            ..cfg.diffusion.clone()
        };
        let generated = sampled::generate(cfg, &model, &batch, &diffusion, settings.sample_seed)?;
        let to_unit = sampled::to_unit;
        let truth = to_unit(&batch.frames)?;
        let frames = batch.frames.dims()[1];
        let copy = batch.reference.unsqueeze(1)?.repeat((1, frames, 1, 1, 1))?;
        let n = batch.frames.dim(0)?;
        for (subject, pred) in [
            ("model", &generated),
            ("truth", &batch.frames),
            ("reference_copy", &copy),
        ] {
            for (metric, value) in frame_metrics(&to_unit(pred)?, &truth)? {
                push(subject, metric, value, n);
            }
        }
        if let Some(nets_cfg) = &settings.nets {
            for net in [Net::Frame, Net::Clip] {
                crate::eval::dance::ensure(nets_cfg, net, &mut |_| {}).map_err(Box::new)?;
            }
            let nets = DanceNets::load(nets_cfg).map_err(Box::new)?;
            let ds = cfg.data.open()?;
            let reference = nets.reference(&ds, frames).map_err(Box::new)?;
            let (keypoints, visible) = conditioning_keypoints(&ds, &batch, &device)?;
            for (subject, pred) in [
                ("model", &generated),
                ("truth", &batch.frames),
                ("reference_copy", &copy),
            ] {
                let scored = nets
                    .score(&reference, pred, &batch.frames, &keypoints, &visible)
                    .map_err(Box::new)?;
                for m in scored {
                    if let (Some(w), "model") = (&m.warning, subject) {
                        eprintln!("warning: {}: {w}", exp.name);
                    }
                    push_with(subject, m.metric, m.network, m.value, m.n, m.dim);
                }
            }
        }
        let (with_reference, with_pose) = cfg.train.stage.conditions();
        if with_reference || with_pose {
            let gap = crate::eval::conditioning::conditioning_gap(cfg, &model, GAP_SAMPLES).map_err(Box::new)?;
            for (metric, value) in [
                ("conditioning_gap", gap.gap()),
                ("heldout_loss_true_pairs", gap.true_loss),
                ("heldout_loss_shuffled_pairs", gap.shuffled_loss),
            ] {
                push_with("model", metric, "", value, gap.samples, None);
            }
        }
        push_with("model", "eval_wall_s", "", start.elapsed().as_secs_f64(), n, None);
        write_table(rd.path(), rows)?;
        // The sample sheet: truth, pose and generated frames of the first
        // clips (up to 4), three rows per clip; the GIF animates the first.
        let shown = n.min(4);
        let mut panels = Vec::with_capacity(3 * shown);
        for i in 0..shown {
            panels.extend([batch.frames.get(i)?, batch.poses.get(i)?, generated.get(i)?]);
        }
        let sheet = |e: crate::results::gif::GifError| EvalError::Sheet(e.to_string());
        crate::results::gif::write_clip_sheet(&rd.path().join("samples.png"), &panels, 4).map_err(sheet)?;
        crate::results::gif::write_clip_gif(&rd.path().join("samples.gif"), &panels[..3], 4, 4).map_err(sheet)?;
        Ok(())
    })();
    let dir = rd.path().to_path_buf();
    match result {
        Ok(()) => {
            rd.complete(&["eval.parquet", "samples.png", "samples.gif"])?;
            Ok((dir, false))
        }
        Err(e) => {
            rd.fail(&e.to_string())?;
            Err(e)
        }
    }
}
