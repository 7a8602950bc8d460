//! Video layers on `[b, t, c, h, w]` tensors (time before channels, so a
//! frame stack is a batch of images for candle's conv2d): a 3D convolution
//! as a sum over the temporal kernel of 2D convolutions on frame slices, and
//! a 3D max pool as a spatial max pool followed by a max over time windows.
//!
//! Padding is `(before, after)` per axis, so TensorFlow's asymmetric "SAME"
//! padding (I3D) and PyTorch's symmetric padding (ResNet) are both one call.

use candle_core::{Result, Tensor};

use super::weights::{NetError, Weights};

/// Zero padding `(before, after)` on the t, h and w axes.
pub type Pad3 = [(usize, usize); 3];

/// The shape of one [`Conv3d`].
#[derive(Debug, Clone, Copy)]
pub struct Conv3dSpec {
    pub c_in: usize,
    pub c_out: usize,
    /// `(kt, kh, kw)`.
    pub kernel: (usize, usize, usize),
    /// `(st, s)`: temporal and spatial stride.
    pub stride: (usize, usize),
    pub bias: bool,
}

/// PyTorch's `nn.Conv3d` (weight `[c_out, c_in, kt, kh, kw]`) on `[b, t, c, h, w]`.
#[derive(Debug, Clone)]
pub struct Conv3d {
    /// One `[c_out, c_in, kh, kw]` kernel per temporal offset.
    slices: Vec<Tensor>,
    /// `[c_out]`.
    bias: Option<Tensor>,
    spec: Conv3dSpec,
}

impl Conv3d {
    /// Reads `weight` (and `bias`) under `w`.
    pub fn new(spec: Conv3dSpec, w: &Weights) -> std::result::Result<Self, NetError> {
        let (kt, kh, kw) = spec.kernel;
        let weight = w.get(&[spec.c_out, spec.c_in, kt, kh, kw], "weight")?;
        let slices = (0..kt)
            .map(|dt| weight.narrow(2, dt, 1)?.squeeze(2)?.contiguous())
            .collect::<Result<Vec<_>>>()
            .map_err(NetError::forward("conv3d"))?;
        let bias = match spec.bias {
            true => Some(w.get(&[spec.c_out], "bias")?),
            false => None,
        };
        Ok(Self { slices, bias, spec })
    }

    /// `[b, t, c_in, h, w] -> [b, t', c_out, h', w']` with zero padding `pad`.
    pub fn forward(&self, x: &Tensor, pad: Pad3) -> Result<Tensor> {
        let (b, t, c, _, _) = x.dims5()?;
        let [(t0, t1), (h0, h1), (w0, w1)] = pad;
        let (st, s) = self.spec.stride;
        let kt = self.slices.len();
        let t_out = (t + t0 + t1 - kt) / st + 1;
        // Spatial padding once, symmetric padding inside conv2d where it can.
        let (x, p) = match h0 == h1 && w0 == w1 && h0 == w0 {
            true => (x.clone(), h0),
            false => (x.pad_with_zeros(3, h0, h1)?.pad_with_zeros(4, w0, w1)?, 0),
        };
        let x = x.pad_with_zeros(1, t0, t1)?;
        let (hp, wp) = (x.dim(3)?, x.dim(4)?);
        let mut sum: Option<Tensor> = None;
        for (dt, kernel) in self.slices.iter().enumerate() {
            // Input frames dt, dt + st, ... feed output frames 0, 1, ...
            let idx: Vec<u32> = (0..t_out).map(|j| (dt + j * st) as u32).collect();
            let idx = Tensor::new(idx.as_slice(), x.device())?;
            let frames = x.index_select(&idx, 1)?.reshape((b * t_out, c, hp, wp))?;
            let y = frames.conv2d(kernel, p, s, 1, 1)?;
            sum = Some(match sum {
                Some(acc) => (acc + y)?,
                None => y,
            });
        }
        let y = sum.expect("kt >= 1");
        let (_, co, ho, wo) = y.dims4()?;
        let y = y.reshape((b, t_out, co, ho, wo))?;
        match &self.bias {
            Some(bias) => y.broadcast_add(&bias.reshape((1, 1, co, 1, 1))?),
            None => Ok(y),
        }
    }

    /// The kernel `(kt, kh, kw)` and stride `(st, s)`.
    pub fn spec(&self) -> Conv3dSpec {
        self.spec
    }
}

/// `nn.MaxPool3d(kernel=(kt, k, k), stride=(st, s))` with zero padding
/// `pad` on `[b, t, c, h, w]` with `x >= 0` (after a ReLU): a window's
/// maximum never picks a padded zero over a non-negative cell inside it, so
/// this equals PyTorch's -inf padding (and is what I3D's zero-padded
/// "SAME" pool computes).
pub fn max_pool3d_nonneg(x: &Tensor, kernel: (usize, usize), stride: (usize, usize), pad: Pad3) -> Result<Tensor> {
    let (kt, k) = kernel;
    let (st, s) = stride;
    let [(t0, t1), (h0, h1), (w0, w1)] = pad;
    let x = x.pad_with_zeros(3, h0, h1)?.pad_with_zeros(4, w0, w1)?;
    let (b, t, c, h, w) = x.dims5()?;
    let y = x.reshape((b * t, c, h, w))?.max_pool2d_with_stride(k, s)?;
    let (_, _, ho, wo) = y.dims4()?;
    let y = y.reshape((b, t, c, ho, wo))?.pad_with_zeros(1, t0, t1)?;
    if kt == 1 && st == 1 {
        return Ok(y);
    }
    let t_out = (t + t0 + t1 - kt) / st + 1;
    let windows = (0..t_out)
        .map(|j| y.narrow(1, j * st, kt)?.max_keepdim(1))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&windows, 1)
}
