//! The Kinetics-400 I3D (Carreira & Zisserman 2017) behind FVD
//! (Unterthiner et al. 2018), as the StyleGAN-V code computes it
//! (universome/stylegan-v `src/metrics/frechet_video_distance.py`): its
//! TorchScript port of the TF-Hub I3D called with `rescale=True,
//! resize=True, return_features=True`, on 16-frame clips (`fvd2048_16f`).
//!
//! Preprocessing: 8-bit RGB clips `[b, 3, t, h, w]` in [0, 255]; rescaled to
//! [-1, 1] (`x / 127.5 - 1`) and resized to 224 x 224 per frame
//! (`F.interpolate(mode="trilinear", align_corners=False)` to `(t, 224,
//! 224)`, which leaves time as is). Output: the 400 logits before the
//! softmax, averaged over time (TF's `averaged_logits`).
//!
//! Tensor names follow the best-known PyTorch port, piergiaj/pytorch-i3d's
//! `InceptionI3d` (also DisCo's `tool/metrics/inception3d.py`):
//! `Conv3d_1a_7x7.conv3d.weight`, `Conv3d_1a_7x7.bn.running_mean`,
//! `Mixed_3b.b0.conv3d.weight`, `Mixed_3b.b1a`, `.b1b`, `.b2a`, `.b2b`,
//! `.b3b` (after the `b3a` max pool), and `logits.conv3d.weight` / `.bias`.
//! Every `Unit3D` is a bias-free 3D convolution with TensorFlow's "SAME"
//! padding (the extra cell after), batch norm with eps 0.001 and a ReLU; the
//! "SAME" max pools pad with zeros, as that port does. StyleGAN-V's
//! TorchScript file holds TF-Hub's weights (which differ from the DeepMind
//! release that piergiaj converted and DisCo loads as
//! `i3d_pretrained_400.pt`); `tools/convert_weights.py` converts a state
//! dict with these names, and does not yet map the TorchScript file, so
//! `fvd_i3d` matches StyleGAN-V's numbers only once that mapping exists.

use candle_core::{Result, Tensor};

use super::layers::BatchNorm;
use super::layers3d::{max_pool3d_nonneg, Conv3d, Conv3dSpec, Pad3};
use super::weights::{NetError, Weights};

/// Feature dimension (the Kinetics-400 logits).
pub const I3D_DIM: usize = 400;
/// Frames per sample (StyleGAN-V's `fvd2048_16f`).
pub const I3D_FRAMES: usize = 16;
/// Side the frames are resized to.
pub const I3D_SIZE: usize = 224;

/// TensorFlow "SAME" padding `(before, after)` of one axis.
fn same_pad(size: usize, k: usize, stride: usize) -> (usize, usize) {
    let total = match size % stride {
        0 => k.saturating_sub(stride),
        r => k.saturating_sub(r),
    };
    (total / 2, total - total / 2)
}

fn same_pad3(x: &Tensor, kernel: (usize, usize, usize), stride: (usize, usize)) -> Result<Pad3> {
    let (_, t, _, h, w) = x.dims5()?;
    Ok([
        same_pad(t, kernel.0, stride.0),
        same_pad(h, kernel.1, stride.1),
        same_pad(w, kernel.2, stride.1),
    ])
}

/// piergiaj's `Unit3D`: "SAME"-padded conv, batch norm, ReLU.
#[derive(Debug, Clone)]
struct Unit3d {
    conv: Conv3d,
    bn: BatchNorm,
}

impl Unit3d {
    fn new(c_in: usize, c_out: usize, k: usize, stride: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        let spec = Conv3dSpec {
            c_in,
            c_out,
            kernel: (k, k, k),
            stride: (stride, stride),
            bias: false,
        };
        Ok(Self {
            conv: Conv3d::new(spec, &w.pp("conv3d"))?,
            bn: BatchNorm::new(c_out, 1e-3, &w.pp("bn"))?,
        })
    }

    /// `[b, t, c_in, h, w] -> [b, t', c_out, h', w']`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = self.conv.spec();
        let pad = same_pad3(x, s.kernel, s.stride)?;
        self.bn.forward(&self.conv.forward(x, pad)?, 2)?.relu()
    }
}

/// A "SAME" max pool with zero padding (piergiaj's `MaxPool3dSamePadding`).
fn pool(x: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    let pad = same_pad3(x, (kernel.0, kernel.1, kernel.1), stride)?;
    max_pool3d_nonneg(x, kernel, stride, pad)
}

/// An Inception module: 1x1; 1x1 then 3x3x3; 1x1 then 3x3x3; pool then 1x1.
#[derive(Debug, Clone)]
struct Mixed {
    b0: Unit3d,
    b1: [Unit3d; 2],
    b2: [Unit3d; 2],
    b3b: Unit3d,
}

impl Mixed {
    /// `out` as piergiaj's `InceptionModule(in_channels, out_channels)`.
    fn new(c: usize, out: [usize; 6], w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b0: Unit3d::new(c, out[0], 1, 1, &w.pp("b0"))?,
            b1: [
                Unit3d::new(c, out[1], 1, 1, &w.pp("b1a"))?,
                Unit3d::new(out[1], out[2], 3, 1, &w.pp("b1b"))?,
            ],
            b2: [
                Unit3d::new(c, out[3], 1, 1, &w.pp("b2a"))?,
                Unit3d::new(out[3], out[4], 3, 1, &w.pp("b2b"))?,
            ],
            b3b: Unit3d::new(c, out[5], 1, 1, &w.pp("b3b"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b1 = self.b1[1].forward(&self.b1[0].forward(x)?)?;
        let b2 = self.b2[1].forward(&self.b2[0].forward(x)?)?;
        let b3 = self.b3b.forward(&pool(x, (3, 3), (1, 1))?)?;
        // Channels are axis 2 of [b, t, c, h, w].
        Tensor::cat(&[self.b0.forward(x)?, b1, b2, b3], 2)
    }
}

/// The Kinetics-400 I3D up to its time-averaged logits (module doc).
#[derive(Debug, Clone)]
pub struct I3d {
    stem: [Unit3d; 3],
    mixed_3: [Mixed; 2],
    mixed_4: [Mixed; 5],
    mixed_5: [Mixed; 2],
    /// The logits' 1x1x1 convolution, with bias.
    logits: Conv3d,
}

impl I3d {
    /// Builds the network from piergiaj's `InceptionI3d` names under `w`.
    pub fn new(w: &Weights) -> std::result::Result<Self, NetError> {
        let m = |name: &str, c: usize, out: [usize; 6]| Mixed::new(c, out, &w.pp(name));
        let logits = Conv3dSpec {
            c_in: 1024,
            c_out: I3D_DIM,
            kernel: (1, 1, 1),
            stride: (1, 1),
            bias: true,
        };
        Ok(Self {
            stem: [
                Unit3d::new(3, 64, 7, 2, &w.pp("Conv3d_1a_7x7"))?,
                Unit3d::new(64, 64, 1, 1, &w.pp("Conv3d_2b_1x1"))?,
                Unit3d::new(64, 192, 3, 1, &w.pp("Conv3d_2c_3x3"))?,
            ],
            mixed_3: [
                m("Mixed_3b", 192, [64, 96, 128, 16, 32, 32])?,
                m("Mixed_3c", 256, [128, 128, 192, 32, 96, 64])?,
            ],
            mixed_4: [
                m("Mixed_4b", 480, [192, 96, 208, 16, 48, 64])?,
                m("Mixed_4c", 512, [160, 112, 224, 24, 64, 64])?,
                m("Mixed_4d", 512, [128, 128, 256, 24, 64, 64])?,
                m("Mixed_4e", 512, [112, 144, 288, 32, 64, 64])?,
                m("Mixed_4f", 528, [256, 160, 320, 32, 128, 128])?,
            ],
            mixed_5: [
                m("Mixed_5b", 832, [256, 160, 320, 32, 128, 128])?,
                m("Mixed_5c", 832, [384, 192, 384, 48, 128, 128])?,
            ],
            logits: Conv3d::new(logits, &w.pp("logits").pp("conv3d"))?,
        })
    }

    /// Logits of preprocessed clips: `[b, 3, t, h, w]` (PyTorch's layout,
    /// values in [-1, 1], 224 x 224) -> `[b, 400]`.
    pub fn features(&self, clips: &Tensor) -> std::result::Result<Tensor, NetError> {
        self.forward(clips).map_err(NetError::forward("i3d-fvd"))
    }

    fn forward(&self, clips: &Tensor) -> Result<Tensor> {
        // [b, 3, t, h, w] -> [b, t, 3, h, w]
        let x = clips.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let [c1, c2, c3] = &self.stem;
        let x = pool(&c1.forward(&x)?, (1, 3), (1, 2))?;
        let x = pool(&c3.forward(&c2.forward(&x)?)?, (1, 3), (1, 2))?;
        let x = self.mixed_3.iter().try_fold(x, |x, m| m.forward(&x))?;
        let x = pool(&x, (3, 3), (2, 2))?;
        let x = self.mixed_4.iter().try_fold(x, |x, m| m.forward(&x))?;
        let x = pool(&x, (2, 2), (2, 2))?;
        let x = self.mixed_5.iter().try_fold(x, |x, m| m.forward(&x))?;
        // The [1, 7, 7] average pool covers the whole map of a 224 input:
        // [b, t', 1024, h', w'] -> [b, t', 1024, 1, 1], then the logits per
        // time step, averaged over time.
        let x = x.mean_keepdim(4)?.mean_keepdim(3)?;
        let logits = self.logits.forward(&x, [(0, 0); 3])?;
        logits.squeeze(4)?.squeeze(3)?.mean(1)
    }
}

#[cfg(test)]
mod tests {
    use super::same_pad;

    #[test]
    fn same_padding_puts_the_extra_cell_after() {
        // TF: out = ceil(n / s), pad = max((out - 1) s + k - n, 0).
        for (n, k, s) in [(16, 7, 2), (224, 7, 2), (15, 7, 2), (8, 3, 1), (7, 2, 2), (5, 1, 1)] {
            let (a, b) = same_pad(n, k, s);
            let out = n.div_ceil(s);
            assert_eq!(a + b, ((out - 1) * s + k).saturating_sub(n), "{n} {k} {s}");
            assert!(b == a || b == a + 1);
        }
    }
}
