//! The standard feature-network metrics of two folders of PNG frames (what
//! `entprog metrics --weights DIR` adds): `fid_inception`, `lpips_alex` and
//! `fid_vid_r3d50`, each computed only when its weights file is in the
//! weights folder (names in [`WEIGHT_FILES`]); an absent file leaves the
//! metric `None` (JSON `null`).
//!
//! - `fid_inception`: the Frechet distance between the Inception pool
//!   features of every predicted and every truth frame (pytorch-fid).
//! - `lpips_alex`: the LPIPS distance of each pair, averaged over pairs.
//! - `fid_vid_r3d50`: the Frechet distance between the R3D-50 features of
//!   every run of 16 consecutive frames of each clip subfolder (DisCo's
//!   sliding windows); `None` for flat folders or clips under 16 frames.
//! - `fvd_i3d`: the Frechet distance between the I3D logits of the first 16
//!   frames of each clip subfolder (StyleGAN-V takes one 16-frame clip per
//!   video: at offset 0 for generated videos, at a random offset for real
//!   ones; here offset 0 for both, so the metric is deterministic).
//!
//! The numbers are comparable with published ones only with the official
//! weights (docs/metrics.md, "Standard feature networks").

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::folder::{read_frame, FramePair, MetricsError, Pairing};
use super::frame::Frame;
use super::frechet::{frechet_distance, FeatureStats, FrechetDistance};
use super::nets::i3d::I3D_SIZE;
use super::nets::r3d50::{R3D50_MEAN, R3D50_SIZE};
use super::nets::{
    resize_bicubic_pil, I3d, InceptionFid, LpipsAlex, NetError, R3d50, Weights, I3D_DIM, I3D_FRAMES, R3D50_DIM,
    R3D50_FRAMES,
};

/// The weights file of each network in the weights folder.
pub const WEIGHT_FILES: [(&str, &str); 4] = [
    ("fid_inception", "inception-fid.safetensors"),
    ("lpips_alex", "lpips-alex.safetensors"),
    ("fid_vid_r3d50", "r3d50-kinetics.safetensors"),
    ("fvd_i3d", "i3d-fvd.safetensors"),
];

/// The smallest side AlexNet's five layers accept: conv1 (11, stride 4)
/// must leave 7 cells for the two 3x3 stride-2 max pools.
pub const LPIPS_MIN_SIDE: usize = 31;

/// Frames per forward pass of the image networks.
const BATCH: usize = 8;

/// The standard networks whose weights were found.
#[derive(Debug, Clone, Default)]
pub struct StandardNets {
    pub inception: Option<InceptionFid>,
    pub lpips: Option<LpipsAlex>,
    pub r3d50: Option<R3d50>,
    pub i3d: Option<I3d>,
}

impl StandardNets {
    /// Loads every network whose file is in `dir` (an absent file is no
    /// network; a present but broken one is an error).
    pub fn load(dir: &Path) -> Result<Self, MetricsError> {
        if !dir.is_dir() {
            return Err(MetricsError::NoWeights { path: dir.into() });
        }
        let open = |file: &str| -> Result<Option<Weights>, NetError> {
            let path = dir.join(file);
            path.exists().then(|| Weights::open(&path)).transpose()
        };
        let [(_, i), (_, l), (_, r), (_, v)] = WEIGHT_FILES;
        Ok(Self {
            inception: open(i)?.map(|w| InceptionFid::new(&w)).transpose()?,
            lpips: open(l)?.map(|w| LpipsAlex::new(&w)).transpose()?,
            r3d50: open(r)?.map(|w| R3d50::new(&w)).transpose()?,
            i3d: open(v)?.map(|w| I3d::new(&w)).transpose()?,
        })
    }

    /// True when no weights were found.
    pub fn is_empty(&self) -> bool {
        self.inception.is_none() && self.lpips.is_none() && self.r3d50.is_none() && self.i3d.is_none()
    }
}

/// The feature-network metrics; `None` where the weights are absent (or,
/// for the video metric, no clip is long enough).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct NetScores {
    pub fid_inception: Option<FrechetDistance>,
    pub lpips_alex: Option<f64>,
    pub fid_vid_r3d50: Option<FrechetDistance>,
    pub fvd_i3d: Option<FrechetDistance>,
}

impl NetScores {
    /// Every Frechet distance present, by metric name.
    pub fn distances(&self) -> Vec<(&'static str, FrechetDistance)> {
        [
            ("fid_inception", self.fid_inception),
            ("fid_vid_r3d50", self.fid_vid_r3d50),
        ]
        .into_iter()
        .filter_map(|(n, d)| Some((n, d?)))
        .collect()
    }
}

/// Scores the matched frames with every loaded network (module doc).
pub fn score_networks(nets: &StandardNets, pairing: &Pairing) -> Result<NetScores, MetricsError> {
    let mut scores = NetScores::default();
    if nets.inception.is_some() || nets.lpips.is_some() {
        let mut feats = [Vec::new(), Vec::new()];
        let mut lpips = Vec::new();
        for chunk in pairing.pairs.chunks(BATCH) {
            let (truth, pred) = read_pairs(chunk)?;
            if nets.lpips.is_some() {
                check_lpips_size(chunk, &truth)?;
            }
            for (t, p) in runs_of_one_size(&truth, &pred) {
                if let Some(net) = &nets.inception {
                    feats[0].extend(rows(&net.features(&p)?)?);
                    feats[1].extend(rows(&net.features(&t)?)?);
                }
                if let Some(net) = &nets.lpips {
                    lpips.extend(net.distance(&p, &t)?.to_vec1::<f32>().map_err(candle("lpips-alex"))?);
                }
            }
        }
        if nets.inception.is_some() {
            scores.fid_inception = fd(&feats, super::nets::INCEPTION_DIM)?;
        }
        if nets.lpips.is_some() {
            scores.lpips_alex = Some(lpips.iter().map(|&v| f64::from(v)).sum::<f64>() / lpips.len() as f64);
        }
    }
    if let Some(net) = &nets.r3d50 {
        let clip = |frames: &[Frame]| {
            let v: Vec<f32> = frames.iter().flat_map(r3d50_frame).collect();
            Tensor::from_vec(v, (R3D50_FRAMES, 3, R3D50_SIZE, R3D50_SIZE), &Device::Cpu)
        };
        let forward = |x: &Tensor| net.features(x);
        scores.fid_vid_r3d50 = clip_fd(pairing, Windows::Sliding(R3D50_FRAMES), &clip, &forward, R3D50_DIM)?;
    }
    if let Some(net) = &nets.i3d {
        let clip = |frames: &[Frame]| i3d_clip(frames);
        let forward = |x: &Tensor| net.features(x);
        scores.fvd_i3d = clip_fd(pairing, Windows::First(I3D_FRAMES), &clip, &forward, I3D_DIM)?;
    }
    Ok(scores)
}

fn check_lpips_size(pairs: &[FramePair], truth: &[Frame]) -> Result<(), MetricsError> {
    match pairs
        .iter()
        .zip(truth)
        .find(|(_, f)| f.height().min(f.width()) < LPIPS_MIN_SIDE)
    {
        Some((p, f)) => Err(MetricsError::TooSmall {
            path: p.truth.clone(),
            size: (f.width(), f.height()),
            metric: "lpips_alex",
            min: LPIPS_MIN_SIDE,
        }),
        None => Ok(()),
    }
}

fn candle(what: &'static str) -> impl Fn(candle_core::Error) -> MetricsError {
    move |e| MetricsError::Net(NetError::forward(what)(e))
}

/// The Frechet distance of predicted (`feats[0]`) against truth features; `None` under 2 samples each.
fn fd(feats: &[Vec<f64>; 2], dim: usize) -> Result<Option<FrechetDistance>, MetricsError> {
    if feats.iter().any(|f| f.len() < 2 * dim) {
        return Ok(None);
    }
    let stats = |f: &[f64]| FeatureStats::from_rows(f, dim).map_err(MetricsError::Frechet);
    Ok(Some(
        frechet_distance(&stats(&feats[0])?, &stats(&feats[1])?).map_err(MetricsError::Frechet)?,
    ))
}

fn rows(t: &Tensor) -> Result<Vec<f64>, MetricsError> {
    let v = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(candle("features"))?;
    Ok(v.into_iter().map(f64::from).collect())
}

fn read_pairs(pairs: &[FramePair]) -> Result<(Vec<Frame>, Vec<Frame>), MetricsError> {
    let mut out = (Vec::new(), Vec::new());
    for p in pairs {
        let (t, q) = (read_frame(&p.truth)?, read_frame(&p.pred)?);
        if (t.height(), t.width()) != (q.height(), q.width()) {
            return Err(MetricsError::Size {
                pred: p.pred.clone(),
                truth: p.truth.clone(),
                pred_size: (q.width(), q.height()),
                truth_size: (t.width(), t.height()),
            });
        }
        out.0.push(t);
        out.1.push(q);
    }
    Ok(out)
}

/// `[n, 3, h, w]` tensors in [0, 1] of consecutive pairs of one size.
fn runs_of_one_size(truth: &[Frame], pred: &[Frame]) -> Vec<(Tensor, Tensor)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < truth.len() {
        let size = |f: &Frame| (f.height(), f.width());
        let end = (start..truth.len())
            .find(|&i| size(&truth[i]) != size(&truth[start]))
            .unwrap_or(truth.len());
        out.push((chw(&truth[start..end]), chw(&pred[start..end])));
        start = end;
    }
    out
}

/// Frames as one `[n, 3, h, w]` f32 tensor.
fn chw(frames: &[Frame]) -> Tensor {
    let (h, w) = (frames[0].height(), frames[0].width());
    let mut data = Vec::with_capacity(frames.len() * 3 * h * w);
    for f in frames {
        for c in 0..3 {
            data.extend(f.channel(c).into_iter().map(|v| v as f32));
        }
    }
    Tensor::from_vec(data, (frames.len(), 3, h, w), &Device::Cpu).expect("n * 3 * h * w values")
}

/// The frames of each clip folder, in path order: `(clip, [truth], [pred])`.
fn clips(pairing: &Pairing) -> Vec<(PathBuf, Vec<&FramePair>)> {
    let mut out: Vec<(PathBuf, Vec<&FramePair>)> = Vec::new();
    for p in &pairing.pairs {
        let clip = p.rel.parent().map(Path::to_path_buf).unwrap_or_default();
        match out.last_mut() {
            Some((c, v)) if *c == clip => v.push(p),
            _ => out.push((clip, vec![p])),
        }
    }
    out
}

/// Which runs of consecutive frames of a clip are samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Windows {
    /// Every run of n frames (DisCo's FID-VID).
    Sliding(usize),
    /// The first n frames (StyleGAN-V's FVD, offset 0).
    First(usize),
}

/// The Frechet distance of clip features: `clip` turns `frames` consecutive
/// frames into `[t, 3, h, w]`, `forward` maps `[1, 3, t, h, w]` to `[1, dim]`.
fn clip_fd(
    pairing: &Pairing,
    windows: Windows,
    clip: &dyn Fn(&[Frame]) -> candle_core::Result<Tensor>,
    forward: &dyn Fn(&Tensor) -> Result<Tensor, NetError>,
    dim: usize,
) -> Result<Option<FrechetDistance>, MetricsError> {
    if pairing.clips == 0 {
        return Ok(None);
    }
    let frames = match windows {
        Windows::Sliding(n) | Windows::First(n) => n,
    };
    let mut feats = [Vec::new(), Vec::new()];
    for (_, pairs) in clips(pairing) {
        if pairs.len() < frames {
            continue;
        }
        let (truth, pred) = read_pairs(&pairs.iter().map(|p| (*p).clone()).collect::<Vec<_>>())?;
        for (k, video) in [pred, truth].iter().enumerate() {
            let starts = match windows {
                Windows::Sliding(_) => video.len() - frames + 1,
                Windows::First(_) => 1,
            };
            for s in 0..starts {
                let x = clip(&video[s..s + frames])
                    .and_then(|t| t.permute((1, 0, 2, 3))?.unsqueeze(0))
                    .map_err(candle("clip"))?;
                feats[k].extend(rows(&forward(&x)?)?);
            }
        }
    }
    fd(&feats, dim)
}

/// Frames as StyleGAN-V feeds its I3D: 8-bit RGB rescaled to [-1, 1]
/// (`x / 127.5 - 1`), resized bilinearly (PyTorch, `align_corners=False`)
/// to 224 x 224; `[t, 3, 224, 224]`.
pub fn i3d_clip(frames: &[Frame]) -> candle_core::Result<Tensor> {
    let (h, w) = (frames[0].height(), frames[0].width());
    let mut v = Vec::with_capacity(frames.len() * 3 * h * w);
    for f in frames {
        let bytes = f.to_rgb8();
        for c in 0..3 {
            v.extend(bytes.iter().skip(c).step_by(3).map(|&b| f32::from(b) / 127.5 - 1.0));
        }
    }
    Tensor::from_vec(v, (frames.len(), 3, h, w), &Device::Cpu)?.upsample_bilinear2d(I3D_SIZE, I3D_SIZE, false)
}

/// One frame as DisCo feeds the R3D-50: 8-bit RGB as floats in [0, 255],
/// PIL-bicubic resized to 112 x 112 per channel, less the Kinetics mean;
/// `[3, 112, 112]` values.
pub fn r3d50_frame(frame: &Frame) -> Vec<f32> {
    let (h, w) = (frame.height(), frame.width());
    let bytes = frame.to_rgb8();
    let mut out = Vec::with_capacity(3 * R3D50_SIZE * R3D50_SIZE);
    for (c, mean) in R3D50_MEAN.iter().enumerate() {
        let plane: Vec<f32> = bytes.iter().skip(c).step_by(3).map(|&b| f32::from(b)).collect();
        let resized = resize_bicubic_pil(&plane, (h, w), (R3D50_SIZE, R3D50_SIZE));
        out.extend(resized.into_iter().map(|v| v - mean));
    }
    out
}
