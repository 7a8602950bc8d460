//! The frame encoder of the offline dance networks: what `fid_dance` and
//! `lpips_dance` compare and what the pose-adherence metrics read
//! keypoints with (issue 12, items 3 and 4). A small conv net trained by
//! entprog (`train.rs`) on the TRAIN split of the synthetic datasets:
//!
//! - layers `conv0..conv3`: 3x3 convolutions with ReLU, `conv1..conv3`
//!   with stride 2 (`[b, w_i, h / 2^i, w / 2^i]`, i >= 1);
//! - the feature (FID's "pool" features): the spatial mean of `conv3`,
//!   `[b, widths[3]]`;
//! - the keypoint head: `conv2` upsampled to `conv1`'s size and
//!   concatenated with it, a 3x3 conv, then one heatmap per keypoint
//!   (1x1 conv) whose soft-argmax is the keypoint (unit coordinates: x / w,
//!   y / h), as in integral pose regression (Sun et al. 2018);
//! - a visibility head and a video-identity head on the feature.
//!
//! Tensor names are the Rust field paths (`conv0.weight`, `keypoint_out.bias`).

use candle_core::{DType, Result, Tensor, D};
use candle_nn::{conv2d, linear, Conv2d, Conv2dConfig, Linear, Module, VarBuilder};

use super::config::FrameEncoderConfig;
use crate::data::pose::KEYPOINTS;

/// The frame encoder.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    conv0: Conv2d,
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    keypoint_hidden: Conv2d,
    keypoint_out: Conv2d,
    visibility: Linear,
    identity: Linear,
}

/// What one forward pass computes.
#[derive(Debug, Clone)]
pub struct FrameOutput {
    /// The four conv layers' activations (`lpips_dance` compares them).
    pub layers: Vec<Tensor>,
    /// `[b, widths[3]]`: the spatial mean of the last layer (`fid_dance`'s features).
    pub features: Tensor,
    /// `[b, 18, 2]`: keypoints as (x / w, y / h).
    pub keypoints: Tensor,
    /// `[b, 18]`: visibility logits.
    pub visibility: Tensor,
    /// `[b, classes]`: video-identity logits.
    pub identity: Tensor,
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: k / 2,
        stride,
        ..Default::default()
    };
    conv2d(cin, cout, k, cfg, vb)
}

impl FrameEncoder {
    /// Builds the encoder for `classes` training videos.
    pub fn new(cfg: &FrameEncoderConfig, classes: usize, vb: VarBuilder) -> Result<Self> {
        let w = cfg.widths;
        Ok(Self {
            conv0: conv(3, w[0], 3, 1, vb.pp("conv0"))?,
            conv1: conv(w[0], w[1], 3, 2, vb.pp("conv1"))?,
            conv2: conv(w[1], w[2], 3, 2, vb.pp("conv2"))?,
            conv3: conv(w[2], w[3], 3, 2, vb.pp("conv3"))?,
            keypoint_hidden: conv(w[1] + w[2], cfg.head_width, 3, 1, vb.pp("keypoint_hidden"))?,
            keypoint_out: conv(cfg.head_width, KEYPOINTS, 1, 1, vb.pp("keypoint_out"))?,
            visibility: linear(w[3], KEYPOINTS, vb.pp("visibility"))?,
            identity: linear(w[3], classes, vb.pp("identity"))?,
        })
    }

    /// Encodes frames `[b, 3, h, w]` in [-1, 1] (h and w divisible by 8).
    pub fn forward(&self, x: &Tensor) -> Result<FrameOutput> {
        let l0 = self.conv0.forward(x)?.relu()?;
        let l1 = self.conv1.forward(&l0)?.relu()?;
        let l2 = self.conv2.forward(&l1)?.relu()?;
        let l3 = self.conv3.forward(&l2)?.relu()?;
        let features = l3.mean(D::Minus1)?.mean(D::Minus1)?;
        let (_, _, h1, w1) = l1.dims4()?;
        let up = l2.upsample_nearest2d(h1, w1)?;
        let hidden = self.keypoint_hidden.forward(&Tensor::cat(&[&l1, &up], 1)?)?.relu()?;
        let heat = self.keypoint_out.forward(&hidden)?;
        let keypoints = soft_argmax(&heat)?;
        Ok(FrameOutput {
            visibility: self.visibility.forward(&features)?,
            identity: self.identity.forward(&features)?,
            layers: vec![l0, l1, l2, l3],
            features,
            keypoints,
        })
    }
}

/// The expected position under each heatmap's softmax: `[b, k, h, w]`
/// logits to `[b, k, 2]` unit coordinates (x, y) of cell centres.
pub fn soft_argmax(heat: &Tensor) -> Result<Tensor> {
    let (b, k, h, w) = heat.dims4()?;
    // The composed softmax: `softmax_last_dim`'s fused op has no backward.
    let p = candle_nn::ops::softmax(&heat.reshape((b * k, h * w))?, D::Minus1)?;
    let mut grid = Vec::with_capacity(h * w * 2);
    for i in 0..h {
        for j in 0..w {
            grid.push((j as f32 + 0.5) / w as f32);
            grid.push((i as f32 + 0.5) / h as f32);
        }
    }
    let grid = Tensor::from_vec(grid, (h * w, 2), heat.device())?.to_dtype(DType::F32)?;
    p.matmul(&grid)?.reshape((b, k, 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_peaked_heatmap_gives_its_cell_centre() {
        // One keypoint, a 4x4 heatmap peaked at row 1, column 2.
        let mut v = vec![-50f32; 16];
        v[4 + 2] = 50.0;
        let heat = Tensor::from_vec(v, (1, 1, 4, 4), &Device::Cpu).unwrap();
        let xy: Vec<f32> = soft_argmax(&heat).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(
            (xy[0] - 2.5 / 4.0).abs() < 1e-6 && (xy[1] - 1.5 / 4.0).abs() < 1e-6,
            "{xy:?}"
        );
    }

    #[test]
    fn shapes_follow_the_config() {
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let cfg = FrameEncoderConfig::default();
        let enc = FrameEncoder::new(&cfg, 5, vb).unwrap();
        let x = Tensor::zeros((2, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
        let out = enc.forward(&x).unwrap();
        assert_eq!(out.features.dims(), &[2, cfg.widths[3]]);
        assert_eq!(out.keypoints.dims(), &[2, KEYPOINTS, 2]);
        assert_eq!(out.identity.dims(), &[2, 5]);
        assert_eq!(out.layers[3].dims(), &[2, cfg.widths[3], 2, 2]);
    }
}
