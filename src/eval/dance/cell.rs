//! The two networks as cells of the results folder:
//! `<results_dir>/<name>/{frame,clip}/seed-<seed>/` with `config.toml` and
//! the manifest first (`crate::results::RunDir`), then
//! `weights.safetensors`, `net_steps.parquet` (every step's losses, long
//! format; the training time is the sum of its `wall_s`) and `eval.parquet`
//! (what the network achieves on the TEST split of the same datasets: its
//! keypoint head's PCK and pixel error, the clip encoder's in-order
//! accuracy). A finished cell with the same
//! cache key ([`DanceNetsConfig::frame_hash`] / `clip_hash`) is reused by
//! every study and evaluation that names the same settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::clip_encoder::ClipEncoder;
use super::config::DanceNetsConfig;
use super::data::DanceFrames;
use super::frame_encoder::FrameEncoder;
use super::train::{shuffled_order, train_clip_encoder, train_frame_encoder, NetStep};
use super::DanceError;
use crate::data::{Dataset, Split};
use crate::eval::pose::{pose_scores, PoseScores};
use crate::results::{write_table, EvalRow, Opened, RunDir, RunSpec};
use crate::table;

table! {
    /// `net_steps.parquet`: one row per training step and loss term of an offline network.
    pub struct NetStepRow in "net_steps" version 1 {
        run: String,
        /// `dance-frame` or `dance-clip`.
        network: String,
        step: u64,
        /// `total` (what was minimised) or a term: `keypoints`, `visibility`,
        /// `identity` (frame); `identity`, `order`, `motion` (clip).
        term: String,
        value: f64,
        /// Wall seconds of the step (same on every term of a step).
        wall_s: f64,
    }
}

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Frame,
    Clip,
}

impl Net {
    /// The cell folder name: `frame` or `clip`.
    pub fn cell(self) -> &'static str {
        match self {
            Net::Frame => "frame",
            Net::Clip => "clip",
        }
    }

    /// The network name in metric rows: `dance-frame` or `dance-clip`.
    pub fn network(self) -> &'static str {
        match self {
            Net::Frame => "dance-frame",
            Net::Clip => "dance-clip",
        }
    }

    fn terms(self) -> [&'static str; 3] {
        match self {
            Net::Frame => ["keypoints", "visibility", "identity"],
            Net::Clip => ["identity", "order", "motion"],
        }
    }
}

/// What building (or reusing) a network's cell found.
#[derive(Debug, Clone)]
pub struct NetCell {
    pub dir: PathBuf,
    pub cached: bool,
    /// Training wall seconds (0 when reused).
    pub train_s: f64,
}

impl DanceNetsConfig {
    /// The run folder spec of `net`'s cell.
    pub fn spec(&self, net: Net) -> RunSpec {
        RunSpec {
            results_dir: self.results_dir.clone(),
            experiment: self.name.clone(),
            cell: net.cell().into(),
            seed: self.seed,
            config_hash: match net {
                Net::Frame => self.frame_hash(),
                Net::Clip => self.clip_hash(),
            },
            config_toml: self.to_toml(),
        }
    }

    /// Opens every dataset of [`Self::datasets`] (building it on first use).
    pub fn open(&self) -> Result<Vec<Arc<Dataset>>, DanceError> {
        self.datasets
            .iter()
            .map(|d| {
                let dir = crate::data::ensure_built(&self.root, d)?;
                Ok(Arc::new(Dataset::open(&dir)?))
            })
            .collect()
    }

    /// Whether `net`'s cell is finished for this config.
    pub fn is_done(&self, net: Net) -> bool {
        let spec = self.spec(net);
        crate::results::RunManifest::read(&spec.dir().join("manifest.json"))
            .is_some_and(|m| m.config_hash == spec.config_hash && m.status == crate::results::RunStatus::Complete)
    }
}

/// Trains `net` in its cell, or reuses a finished cell of the same key;
/// `on_step` sees every training step.
pub fn ensure(cfg: &DanceNetsConfig, net: Net, on_step: &mut dyn FnMut(&NetStep)) -> Result<NetCell, DanceError> {
    let spec = cfg.spec(net);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            return Ok(NetCell {
                dir,
                cached: true,
                train_s: 0.0,
            })
        }
        Opened::Fresh(rd) => rd,
    };
    let result = (|| -> Result<f64, DanceError> {
        if cfg.threads > 0 {
            crate::experiment::RunConfig { threads: cfg.threads }.apply();
        }
        let datasets = cfg.open()?;
        for d in &datasets {
            rd.add_input(&d.dir().join("manifest.json"))?;
        }
        let train = DanceFrames::new(datasets.clone(), &cfg.datasets, Split::Train)?;
        let test = DanceFrames::new(datasets, &cfg.datasets, Split::Test)?;
        let run = spec.run_id();
        let mut rows = Vec::new();
        let mut log = |s: &NetStep| {
            for (term, value) in std::iter::once("total")
                .chain(net.terms())
                .zip(std::iter::once(s.loss).chain(s.parts))
            {
                rows.push(NetStepRow {
                    run: run.clone(),
                    network: net.network().into(),
                    step: s.step,
                    term: term.into(),
                    value,
                    wall_s: s.wall_s,
                });
            }
            on_step(s);
        };
        let start = Instant::now();
        let (vm, checks, train_s) = match net {
            Net::Frame => {
                let (vm, enc) = train_frame_encoder(&cfg.frame, &train, cfg.seed, &mut log)?;
                let secs = start.elapsed().as_secs_f64();
                (vm, frame_checks(&enc, &test)?, secs)
            }
            Net::Clip => {
                let (vm, enc) = train_clip_encoder(&cfg.clip, &train, cfg.seed, &mut log)?;
                let secs = start.elapsed().as_secs_f64();
                (vm, clip_checks(&enc, &test, cfg.clip.clip_frames, cfg.seed)?, secs)
            }
        };
        vm.save(rd.path().join("weights.safetensors"))?;
        write_table(rd.path(), rows)?;
        let evals = checks
            .into_iter()
            .map(|(metric, value, n)| EvalRow {
                run: run.clone(),
                step: match net {
                    Net::Frame => cfg.frame.steps,
                    Net::Clip => cfg.clip.steps,
                },
                subject: "test_split".into(),
                metric: metric.into(),
                network: net.network().into(),
                value,
                n: n as u64,
                dim: None,
            })
            .collect();
        write_table(rd.path(), evals)?;
        Ok(train_s)
    })();
    let dir = rd.path().to_path_buf();
    match result {
        Ok(train_s) => {
            rd.complete(&["weights.safetensors", "net_steps.parquet", "eval.parquet"])?;
            Ok(NetCell {
                dir,
                cached: false,
                train_s,
            })
        }
        Err(e) => {
            rd.fail(&e.to_string())?;
            Err(e)
        }
    }
}

/// The frame encoder on every TEST frame: PCK and pixel error of its
/// keypoint head against the renderer's keypoints, visibility accuracy,
fn frame_checks(enc: &FrameEncoder, test: &DanceFrames) -> Result<Vec<(&'static str, f64, usize)>, DanceError> {
    let items = test.items(1);
    let (h, w) = test.resolution();
    let mut scores = PoseScores::default();
    let (mut vis_right, mut vis_total) = (0usize, 0usize);
    for chunk in items.chunks(64) {
        let b = test.batch(chunk, 1, &[], &Device::Cpu)?;
        let n = chunk.len();
        let out = enc.forward(&b.pixels.reshape((n, 3, h, w))?)?;
        scores.add(&pose_scores(
            &out.keypoints,
            &b.keypoints.squeeze(1)?,
            &b.visible.squeeze(1)?,
            (h, w),
        )?);
        let pred: Vec<f32> = out.visibility.flatten_all()?.to_vec1()?;
        let truth: Vec<f32> = b.visible.flatten_all()?.to_vec1()?;
        vis_right += pred
            .iter()
            .zip(&truth)
            .filter(|(p, t)| (**p > 0.0) == (**t > 0.5))
            .count();
        vis_total += truth.len();
    }
    Ok(vec![
        ("pck_dance", scores.pck(), scores.frames),
        ("kp_error_px_dance", scores.error_px(), scores.frames),
        (
            "visibility_accuracy_dance",
            vis_right as f64 / vis_total.max(1) as f64,
            scores.frames,
        ),
    ])
}

/// The clip encoder on non-overlapping TEST clips, each shown in order and
/// shuffled (stream `dance-clip-check`): the accuracy of its in-order head.
fn clip_checks(
    enc: &ClipEncoder,
    test: &DanceFrames,
    t: usize,
    seed: u64,
) -> Result<Vec<(&'static str, f64, usize)>, DanceError> {
    let items: Vec<(usize, usize)> = test.items(t).into_iter().filter(|(_, s)| s % t == 0).collect();
    let (mut right, mut total) = (0usize, 0usize);
    for (c, chunk) in items.chunks(16).enumerate() {
        let shuffled: Vec<Option<Vec<usize>>> = (0..chunk.len())
            .map(|k| {
                Some(shuffled_order(
                    t,
                    crate::seed::derive_seed(seed, "dance-clip-check", 0),
                    (c * 16 + k) as u64,
                ))
            })
            .collect();
        for (order, label) in [(Vec::new(), true), (shuffled, false)] {
            let b = test.batch(chunk, t, &order, &Device::Cpu)?;
            let logits: Vec<f32> = enc.forward(&b.pixels)?.order.to_vec1()?;
            right += logits.iter().filter(|z| (**z > 0.0) == label).count();
            total += logits.len();
        }
    }
    Ok(vec![(
        "order_accuracy_dance",
        right as f64 / total.max(1) as f64,
        total,
    )])
}

/// Both trained networks, loaded from their finished cells.
#[derive(Debug, Clone)]
pub struct DanceNets {
    pub frame: FrameEncoder,
    pub clip: ClipEncoder,
    /// The two cells' cache keys.
    pub frame_hash: String,
    pub clip_hash: String,
}

fn load_weights(cfg: &DanceNetsConfig, net: Net) -> Result<VarBuilder<'static>, DanceError> {
    let dir = cfg.spec(net).dir();
    if !cfg.is_done(net) {
        return Err(DanceError::NotTrained { dir });
    }
    let path = dir.join("weights.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|source| DanceError::Weights {
        path: path.clone(),
        source,
    })?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
}

impl DanceNets {
    /// Loads both networks of `cfg` from their cells (which must be finished).
    pub fn load(cfg: &DanceNetsConfig) -> Result<Self, DanceError> {
        // The class count is the identity head's shape in the file.
        let classes = |vb: &VarBuilder| -> Result<usize, DanceError> {
            Ok(vb
                .get_unchecked_dtype("identity.bias", DType::F32)
                .map_err(DanceError::Tensor)?
                .dim(0)?)
        };
        let vb = load_weights(cfg, Net::Frame)?;
        let frame = FrameEncoder::new(&cfg.frame, classes(&vb)?, vb)?;
        let vb = load_weights(cfg, Net::Clip)?;
        let clip = ClipEncoder::new(&cfg.clip, classes(&vb)?, vb)?;
        Ok(Self {
            frame,
            clip,
            frame_hash: cfg.frame_hash(),
            clip_hash: cfg.clip_hash(),
        })
    }

    /// The frame encoder's outputs for `[n, 3, h, w]` frames, in chunks of 64.
    pub fn encode_frames(&self, frames: &Tensor) -> Result<Vec<super::frame_encoder::FrameOutput>, DanceError> {
        let n = frames.dim(0)?;
        let mut out = Vec::new();
        for s in (0..n).step_by(64) {
            out.push(self.frame.forward(&frames.narrow(0, s, 64.min(n - s))?)?);
        }
        Ok(out)
    }
}
