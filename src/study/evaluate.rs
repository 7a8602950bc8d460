//! The evaluation cell of a training run: its final weights generate
//! `eval_clips` clips of the test split from their reference frames and
//! pose sequences (seeded sampler), scored against the ground truth frame
//! by frame with `crate::eval`'s metrics (SSIM, PSNR, L1, and DisCo's
//! `ssim_disco` / `psnr_disco`); the same metrics for the baselines `truth` (the ground truth
//! against itself: the ceiling) and `reference_copy` (the reference frame
//! repeated: what a model that ignores the pose scores); and the held-out
//! eps loss on `data.eval_batches` fixed test batches. With the offline
//! dance networks (`crate::eval::dance`, trained or reused first): their
//! `fid_dance`, `fvd_dance`, `lpips_dance` and the pose adherence
//! `pck_dance` / `kp_error_px_dance` against the conditioning keypoints,
//! for the model and both baselines; and the conditioning gap
//! (`crate::eval::conditioning`, model only, no sampling). Rows go to
//! `eval.parquet` and the first clip (truth, pose, generated rows) to
//! `samples.png` in the cell's own folder (`<experiment>/eval/seed-<n>/`),
//! cached by the run's config hash and the evaluation settings.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::config::Experiment;
use crate::data::Split;
use crate::diffusion::DiffusionConfig;
use crate::eval::dance::{DanceNets, DanceNetsConfig, Net};
use crate::eval::frame::Frame;
use crate::model::sample_clips;
use crate::results::{write_table, EvalRow, Opened, RunDir};
use crate::train::checkpoint;

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
    #[error("sample sheet: {0}")]
    Sheet(String),
    #[error("frame metrics: {0}")]
    Frame(#[from] crate::eval::frame::FrameError),
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
pub const EVAL_VERSION: u32 = 4;

/// Test clips (at least) of the conditioning gap (issue 12: >= 192).
pub const GAP_SAMPLES: usize = 192;

/// Evaluation settings of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    /// Test clips generated.
    pub clips: usize,
    /// Sampler steps per clip.
    pub sample_steps: usize,
    /// The offline feature networks (none: no feature-network metrics).
    pub nets: Option<DanceNetsConfig>,
}

impl EvalSettings {
    /// The cache key the settings add to the run's config hash (the
    /// networks' own cache keys included).
    pub fn variant(&self) -> String {
        let nets = self.nets.as_ref().map_or(String::new(), |n| {
            format!("-n{}{}", &n.frame_hash()[..8], &n.clip_hash()[..8])
        });
        format!("c{}-s{}-v{EVAL_VERSION}{nets}", self.clips, self.sample_steps)
    }
}

/// The frame metrics of `crate::eval` (SSIM, PSNR, L1 and DisCo's
/// variants) of a prediction against the truth, both `[n, 3, h, w]` in
/// [0, 1], per frame then averaged. Frames are quantised to 8 bits first,
/// as they would be saved to PNG and scored by `entprog metrics`.
pub fn frame_metrics(pred: &Tensor, truth: &Tensor) -> Result<Vec<(&'static str, f64)>, EvalError> {
    let frames = |t: &Tensor| -> Result<Vec<Frame>, EvalError> {
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
                Frame::new(h, w, data).map_err(EvalError::Frame)
            })
            .collect()
    };
    let (pred, truth) = (frames(pred)?, frames(truth)?);
    let n = pred.len().max(1) as f64;
    let mut out = Vec::new();
    type Metric = fn(&Frame, &Frame) -> Result<f64, crate::eval::frame::FrameError>;
    let metrics: [(&str, Metric); 5] = [
        ("ssim", crate::eval::ssim::ssim),
        ("psnr", crate::eval::frame::psnr),
        ("l1", crate::eval::frame::l1),
        ("ssim_disco", crate::eval::ssim::ssim_disco),
        ("psnr_disco", crate::eval::frame::psnr_disco),
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

/// Runs (or reuses) the evaluation of `exp`'s finished training run.
pub fn evaluate(exp: &Experiment, settings: EvalSettings) -> Result<(PathBuf, bool), EvalError> {
    let variant = settings.variant();
    let spec = exp.run_spec("eval", Some(&variant));
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => return Ok((dir, true)),
        Opened::Fresh(rd) => rd,
    };
    let result = (|| -> Result<(), EvalError> {
        let cfg = &exp.config;
        let device = Device::Cpu;
        let ckpt = exp.run_spec("train", None).dir().join("last.safetensors");
        rd.add_input(&ckpt)?;
        let ck = checkpoint::load(&ckpt, &device).map_err(|e| CheckpointErrorBox(Box::new(e)))?;
        let model = cfg.model.build(cfg.seed, &device)?;
        checkpoint::load_fitting(&ckpt, &model, &ck, false).map_err(|e| CheckpointErrorBox(Box::new(e)))?;
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
        let heldout = crate::entprog::evidence::heldout(cfg, &schedule, cfg.data.eval_batches)?;
        let clips_heldout: usize = heldout.batches.iter().map(|b| b.len()).sum();
        let mut push =
            |subject: &str, metric: &str, value: f64, n: usize| push_with(subject, metric, "", value, n, None);
        push("model", "heldout_loss", heldout.loss(&model)?, clips_heldout);
        // Generated clips: one fixed test batch of `clips` clips.
        let loader = cfg.data.loader(cfg.data.open()?, Split::Test, settings.clips, cfg.seed);
        let batch = loader.fixed_batch_from(Split::Test, 0, &device)?;
        let (reference, pose) = cfg.train.stage.conditions();
        let diffusion = DiffusionConfig {
            sample_steps: settings.sample_steps,
            ..cfg.diffusion.clone()
        };
        let generated = sample_clips(
            &model,
            reference.then_some(&batch.reference),
            pose.then_some(&batch.poses),
            batch.frames.dims(),
            &diffusion,
            &schedule,
            crate::seed::derive_seed(cfg.seed, "eval-sample", 0),
        )?;
        let to_unit =
            |t: &Tensor| -> candle_core::Result<Tensor> { ((t.flatten_to(1)? + 1.0)? / 2.0)?.clamp(0.0, 1.0) };
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
        // The sample sheet: truth, pose and generated frames of the first clip, one row each.
        let first = |t: &Tensor| t.get(0);
        crate::train::gif::write_clip_sheet(
            &rd.path().join("samples.png"),
            &[first(&batch.frames)?, first(&batch.poses)?, first(&generated)?],
            4,
        )
        .map_err(|e| EvalError::Sheet(e.to_string()))?;
        Ok(())
    })();
    let dir = rd.path().to_path_buf();
    match result {
        Ok(()) => {
            rd.complete(&["eval.parquet", "samples.png"])?;
            Ok((dir, false))
        }
        Err(e) => {
            rd.fail(&e.to_string())?;
            Err(e)
        }
    }
}
