//! The metrics the offline dance networks make (names say the network;
//! not comparable with published FID / FVD / LPIPS, which use Inception,
//! I3D and AlexNet/VGG on real video):
//!
//! - `fid_dance`: the Frechet distance (`crate::eval::frechet`) between the
//!   frame encoder's features of the scored frames and those of every
//!   frame of the dataset's TEST split;
//! - `fvd_dance`: the same with the clip encoder's features of the scored
//!   clips against every non-overlapping T-frame clip of the TEST split;
//! - `lpips_dance`: LPIPS-style (Zhang et al. 2018, the "baseline" variant
//!   without learned linear weights): per frame, for each of the frame
//!   encoder's four layers, the features unit-normalised over channels at
//!   each location, the squared difference summed over channels and
//!   averaged over locations; summed over layers, averaged over frames;
//! - `pck_dance`, `kp_error_px_dance`: `crate::eval::pose` with the frame
//!   encoder's keypoint head.
//!
//! Each value carries n (frames or clips) and, for the Frechet distances,
//! the feature dimension; with n < dim the covariance is rank-deficient and
//! the value depends strongly on n (a warning says so).

use candle_core::{Device, Tensor, D};

use super::cell::DanceNets;
use super::DanceError;
use crate::data::{Dataset, Split};
use crate::eval::frechet::{frechet_distance, FeatureStats};
use crate::eval::pose::{pose_scores, PoseScores};

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct DanceMetric {
    pub metric: &'static str,
    /// `dance-frame` or `dance-clip`.
    pub network: &'static str,
    pub value: f64,
    /// Frames or clips the value is over.
    pub n: usize,
    /// Feature dimension (Frechet distances).
    pub dim: Option<usize>,
    /// Set when n < dim.
    pub warning: Option<String>,
}

/// Feature statistics of a dataset's TEST split: the reference set of
/// `fid_dance` and `fvd_dance`.
#[derive(Debug, Clone)]
pub struct DanceReference {
    pub frames: FeatureStats,
    pub clips: FeatureStats,
}

fn rows(t: &Tensor) -> Result<Vec<f64>, DanceError> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
}

impl DanceNets {
    /// Frame features `[n, d]` of frames `[n, 3, h, w]`, as f64 rows.
    fn frame_features(&self, frames: &Tensor) -> Result<(Vec<f64>, usize), DanceError> {
        let mut out = Vec::new();
        let mut dim = 0;
        for o in self.encode_frames(frames)? {
            dim = o.features.dim(1)?;
            out.extend(rows(&o.features)?);
        }
        Ok((out, dim))
    }

    /// Clip features of clips `[n, t, 3, h, w]`, in chunks of 16.
    fn clip_features(&self, clips: &Tensor) -> Result<(Vec<f64>, usize), DanceError> {
        let n = clips.dim(0)?;
        let (mut out, mut dim) = (Vec::new(), 0);
        for s in (0..n).step_by(16) {
            let f = self.clip.forward(&clips.narrow(0, s, 16.min(n - s))?)?.features;
            dim = f.dim(1)?;
            out.extend(rows(&f)?);
        }
        Ok((out, dim))
    }

    /// The reference statistics of `ds`'s TEST split, clips of `t` frames.
    pub fn reference(&self, ds: &Dataset, t: usize) -> Result<DanceReference, DanceError> {
        let (h, w) = ds.resolution();
        let to_unit = |v: &[u8]| v.iter().map(|&p| p as f32 / 127.5 - 1.0).collect::<Vec<f32>>();
        let mut frames = Vec::new();
        let mut clips = Vec::new();
        let mut n_clips = 0;
        for v in ds.videos(Split::Test) {
            for f in 0..v.frames() {
                frames.extend(to_unit(v.rgb(f)));
            }
            for start in (0..(v.frames() + 1).saturating_sub(t)).step_by(t.max(1)) {
                for f in start..start + t {
                    clips.extend(to_unit(v.rgb(f)));
                }
                n_clips += 1;
            }
        }
        let n_frames = frames.len() / (3 * h * w);
        let frames = Tensor::from_vec(frames, (n_frames, 3, h, w), &Device::Cpu)?;
        let clips = Tensor::from_vec(clips, (n_clips, t, 3, h, w), &Device::Cpu)?;
        let (f, fd) = self.frame_features(&frames)?;
        let (c, cd) = self.clip_features(&clips)?;
        Ok(DanceReference {
            frames: FeatureStats::from_rows(&f, fd)?,
            clips: FeatureStats::from_rows(&c, cd)?,
        })
    }

    /// Every dance metric of predicted clips `pred` against the truth
    /// `truth` (both `[b, t, 3, h, w]` in [-1, 1]) and the conditioning
    /// keypoints `keypoints` `[b, t, 18, 2]` (unit coordinates) with
    /// `visible` `[b, t, 18]`.
    pub fn score(
        &self,
        reference: &DanceReference,
        pred: &Tensor,
        truth: &Tensor,
        keypoints: &Tensor,
        visible: &Tensor,
    ) -> Result<Vec<DanceMetric>, DanceError> {
        let (b, t, c, h, w) = pred.dims5()?;
        let frames = pred.reshape((b * t, c, h, w))?;
        let truth_frames = truth.reshape((b * t, c, h, w))?;
        let mut out = Vec::new();
        let frechet = |features: &[f64], dim: usize, against: &FeatureStats, metric, network| {
            let n = features.len() / dim.max(1);
            let value = if n >= 2 {
                let stats = FeatureStats::from_rows(features, dim)?;
                frechet_distance(&stats, against)?.value
            } else {
                f64::NAN
            };
            Ok::<_, DanceError>(DanceMetric {
                metric,
                network,
                value,
                n,
                dim: Some(dim),
                warning: (n < dim).then(|| {
                    format!(
                        "{metric} ({network}): {n} samples < feature dimension {dim}: the covariance is \
                         rank-deficient and the value depends strongly on n"
                    )
                }),
            })
        };
        let (ff, fd) = self.frame_features(&frames)?;
        out.push(frechet(&ff, fd, &reference.frames, "fid_dance", "dance-frame")?);
        let (cf, cd) = self.clip_features(pred)?;
        out.push(frechet(&cf, cd, &reference.clips, "fvd_dance", "dance-clip")?);
        // LPIPS-style distance and keypoints, frame by frame in chunks.
        let (mut lpips_sum, mut pose) = (0.0, PoseScores::default());
        let kps = keypoints.reshape((b * t, keypoints.dim(2)?, 2))?;
        let vis = visible.reshape((b * t, visible.dim(2)?))?;
        let (p_out, t_out) = (self.encode_frames(&frames)?, self.encode_frames(&truth_frames)?);
        let mut at = 0;
        for (p, q) in p_out.iter().zip(&t_out) {
            let n = p.features.dim(0)?;
            for (a, z) in p.layers.iter().zip(&q.layers) {
                lpips_sum += layer_distance(a, z)?.sum_all()?.to_scalar::<f32>()? as f64;
            }
            pose.add(&pose_scores(
                &p.keypoints,
                &kps.narrow(0, at, n)?,
                &vis.narrow(0, at, n)?,
                (h, w),
            )?);
            at += n;
        }
        let n = b * t;
        let frame_metric = |metric, value| DanceMetric {
            metric,
            network: "dance-frame",
            value,
            n,
            dim: None,
            warning: None,
        };
        out.push(frame_metric("lpips_dance", lpips_sum / n as f64));
        out.push(frame_metric("pck_dance", pose.pck()));
        out.push(frame_metric("kp_error_px_dance", pose.error_px()));
        Ok(out)
    }
}

/// Per frame (`[n]`): the mean over locations of the squared distance of
/// channel-unit-normalised features `[n, c, h, w]` (LPIPS's
/// `normalize_tensor`, eps 1e-10).
pub fn layer_distance(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let unit = |x: &Tensor| -> candle_core::Result<Tensor> {
        let norm = (x.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-10)?;
        x.broadcast_div(&norm)
    };
    (unit(a)? - unit(b)?)?.sqr()?.sum(1)?.mean(D::Minus1)?.mean(D::Minus1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_distance_is_zero_on_itself_and_scale_free() {
        let dev = Device::Cpu;
        let a = Tensor::arange(0f32, 24.0, &dev).unwrap().reshape((1, 3, 2, 4)).unwrap();
        let b = (a.clone() * 3.0).unwrap();
        let d: Vec<f32> = layer_distance(&a, &b).unwrap().to_vec1().unwrap();
        assert!(d[0].abs() < 1e-6, "{d:?}");
        // Opposite unit vectors at every location: squared distance 4.
        let c = (a.clone() + 1.0).unwrap();
        let d: Vec<f32> = layer_distance(&c, &c.neg().unwrap()).unwrap().to_vec1().unwrap();
        assert!((d[0] - 4.0).abs() < 1e-5, "{d:?}");
    }
}
