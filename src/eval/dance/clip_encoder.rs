//! The clip encoder of the offline dance networks: what `fvd_dance`
//! compares (issue 12, item 3; FVD's I3D stand-in). A (2+1)D conv net
//! trained by entprog (`train.rs`) on clips of the TRAIN split:
//!
//! - per frame, shared weights: `conv0` (stride 1), `conv1`, `conv2`
//!   (stride 2), ReLU: `[b * t, w2, h / 4, w / 4]`;
//! - `temporal`: a kernel-3 conv over each location's sequence of frames
//!   (ReLU, added to its input), then the mean over time: the net sees
//!   motion, not just a bag of frames;
//! - `conv3` (stride 2, ReLU) and the spatial mean: the feature `[b, w3]`;
//! - heads on the feature: the training video (appearance), in order
//!   against shuffled in time (smooth motion), and each keypoint's
//!   displacement from the first to the last frame (what moved).

use candle_core::{Result, Tensor, D};
use candle_nn::{conv1d, conv2d, linear, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, Linear, Module, VarBuilder};

use super::config::ClipEncoderConfig;
use crate::data::pose::KEYPOINTS;

/// The clip encoder.
#[derive(Debug, Clone)]
pub struct ClipEncoder {
    conv0: Conv2d,
    conv1: Conv2d,
    conv2: Conv2d,
    temporal: Conv1d,
    conv3: Conv2d,
    identity: Linear,
    order: Linear,
    motion: Linear,
}

/// What one forward pass computes.
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// `[b, widths[3]]` (`fvd_dance`'s features).
    pub features: Tensor,
    /// `[b, classes]`: video-identity logits.
    pub identity: Tensor,
    /// `[b]`: logit of "the frames are in order".
    pub order: Tensor,
    /// `[b, 18, 2]`: keypoint displacement, last frame minus first, unit coordinates.
    pub motion: Tensor,
}

fn conv(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    conv2d(cin, cout, 3, cfg, vb)
}

impl ClipEncoder {
    /// Builds the encoder for `classes` training videos.
    pub fn new(cfg: &ClipEncoderConfig, classes: usize, vb: VarBuilder) -> Result<Self> {
        let w = cfg.widths;
        let tcfg = Conv1dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Self {
            conv0: conv(3, w[0], 1, vb.pp("conv0"))?,
            conv1: conv(w[0], w[1], 2, vb.pp("conv1"))?,
            conv2: conv(w[1], w[2], 2, vb.pp("conv2"))?,
            temporal: conv1d(w[2], w[2], 3, tcfg, vb.pp("temporal"))?,
            conv3: conv(w[2], w[3], 2, vb.pp("conv3"))?,
            identity: linear(w[3], classes, vb.pp("identity"))?,
            order: linear(w[3], 1, vb.pp("order"))?,
            motion: linear(w[3], 2 * KEYPOINTS, vb.pp("motion"))?,
        })
    }

    /// Encodes clips `[b, t, 3, h, w]` in [-1, 1] (h and w divisible by 8).
    pub fn forward(&self, x: &Tensor) -> Result<ClipOutput> {
        let (b, t, c, h, w) = x.dims5()?;
        let f = x.reshape((b * t, c, h, w))?;
        let f = self.conv0.forward(&f)?.relu()?;
        let f = self.conv1.forward(&f)?.relu()?;
        let f = self.conv2.forward(&f)?.relu()?;
        let (_, ch, hh, ww) = f.dims4()?;
        // [b * t, ch, hh, ww] -> [b * hh * ww, ch, t]
        let seq = f
            .reshape((b, t, ch, hh * ww))?
            .permute((0, 3, 2, 1))?
            .reshape((b * hh * ww, ch, t))?;
        let mixed = (&seq + self.temporal.forward(&seq)?.relu()?)?.mean(D::Minus1)?;
        // [b * hh * ww, ch] -> [b, ch, hh, ww]
        let pooled = mixed
            .reshape((b, hh * ww, ch))?
            .transpose(1, 2)?
            .reshape((b, ch, hh, ww))?;
        let last = self.conv3.forward(&pooled)?.relu()?;
        let features = last.mean(D::Minus1)?.mean(D::Minus1)?;
        Ok(ClipOutput {
            identity: self.identity.forward(&features)?,
            order: self.order.forward(&features)?.squeeze(1)?,
            motion: self.motion.forward(&features)?.reshape((b, KEYPOINTS, 2))?,
            features,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn shapes_follow_the_config_for_any_clip_length() {
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let cfg = ClipEncoderConfig::default();
        let enc = ClipEncoder::new(&cfg, 4, vb).unwrap();
        for t in [1, 3, 8] {
            let x = Tensor::zeros((2, t, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
            let out = enc.forward(&x).unwrap();
            assert_eq!(out.features.dims(), &[2, cfg.widths[3]]);
            assert_eq!(out.order.dims(), &[2]);
            assert_eq!(out.motion.dims(), &[2, KEYPOINTS, 2]);
        }
    }
}
