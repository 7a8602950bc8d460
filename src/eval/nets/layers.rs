//! The layers the feature networks share, in inference form: a 2D
//! convolution with per-axis padding, batch normalisation folded into a
//! per-channel affine map, and the pools candle lacks (PyTorch's
//! `count_include_pad=False` average pool, padded max pools).
//!
//! Every function takes and returns candle tensors; shapes are in the doc.

use candle_core::{Result, Tensor, D};

use super::weights::{NetError, Weights};

/// A 2D convolution `[n, c_in, h, w] -> [n, c_out, h', w']`, PyTorch's
/// `nn.Conv2d` with `padding = (ph, pw)` and a square stride.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// `[c_out, c_in, kh, kw]`.
    weight: Tensor,
    /// `[c_out]`, or none (`bias=False`).
    bias: Option<Tensor>,
    stride: usize,
    padding: (usize, usize),
}

/// The shape of one [`Conv2d`]: channels, kernel, stride, padding, bias.
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    pub c_in: usize,
    pub c_out: usize,
    /// `(kh, kw)`.
    pub kernel: (usize, usize),
    pub stride: usize,
    /// `(ph, pw)`, zeros on both sides.
    pub padding: (usize, usize),
    pub bias: bool,
}

impl ConvSpec {
    /// A square `k x k` kernel, `stride`, padding `pad`, no bias.
    pub fn square(c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize) -> Self {
        Self {
            c_in,
            c_out,
            kernel: (k, k),
            stride,
            padding: (pad, pad),
            bias: false,
        }
    }

    /// The same convolution with a bias.
    pub fn with_bias(self) -> Self {
        Self { bias: true, ..self }
    }
}

impl Conv2d {
    /// Reads `weight` (and `bias`) under `w`.
    pub fn new(spec: ConvSpec, w: &Weights) -> std::result::Result<Self, NetError> {
        let weight = w.get(&[spec.c_out, spec.c_in, spec.kernel.0, spec.kernel.1], "weight")?;
        let bias = match spec.bias {
            true => Some(w.get(&[spec.c_out], "bias")?),
            false => None,
        };
        Ok(Self {
            weight,
            bias,
            stride: spec.stride,
            padding: spec.padding,
        })
    }

    /// `[n, c_in, h, w] -> [n, c_out, h', w']`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (ph, pw) = self.padding;
        let y = if ph == pw {
            x.conv2d(&self.weight, ph, self.stride, 1, 1)?
        } else {
            x.pad_with_zeros(2, ph, ph)?
                .pad_with_zeros(3, pw, pw)?
                .conv2d(&self.weight, 0, self.stride, 1, 1)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(y),
        }
    }

    /// The kernel `[c_out, c_in, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

/// Batch normalisation at inference: `(x - mean) / sqrt(var + eps) * gamma + beta`
/// as one per-channel `x * scale + shift`.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    /// `[c]`.
    scale: Tensor,
    /// `[c]`.
    shift: Tensor,
}

impl BatchNorm {
    /// Reads `weight`, `bias`, `running_mean`, `running_var` (each `[c]`) under `w`.
    pub fn new(c: usize, eps: f64, w: &Weights) -> std::result::Result<Self, NetError> {
        let gamma = w.get(&[c], "weight")?;
        let beta = w.get(&[c], "bias")?;
        let mean = w.get(&[c], "running_mean")?;
        let var = w.get(&[c], "running_var")?;
        let fold = || -> Result<(Tensor, Tensor)> {
            let scale = gamma.broadcast_div(&(var + eps)?.sqrt()?)?;
            let shift = (beta - mean.mul(&scale)?)?;
            Ok((scale, shift))
        };
        let (scale, shift) = fold().map_err(NetError::forward("batch norm"))?;
        Ok(Self { scale, shift })
    }

    /// Normalises channel axis `axis` of `x` (any rank).
    pub fn forward(&self, x: &Tensor, axis: usize) -> Result<Tensor> {
        let mut shape = vec![1; x.rank()];
        shape[axis] = self.scale.dims1()?;
        x.broadcast_mul(&self.scale.reshape(shape.as_slice())?)?
            .broadcast_add(&self.shift.reshape(shape.as_slice())?)
    }
}

/// PyTorch's `F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)`
/// on `[n, c, h, w]`: the mean over the window's cells inside the image
/// (9 inside, 6 on an edge, 4 in a corner).
pub fn avg_pool_3x3_exclude_pad(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let sum = (x
        .pad_with_zeros(2, 1, 1)?
        .pad_with_zeros(3, 1, 1)?
        .avg_pool2d_with_stride(3, 1)?
        * 9.0)?;
    let span = |i: usize, n: usize| (1 + usize::from(i > 0) + usize::from(i + 1 < n)) as f32;
    let count: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| 1.0 / (span(y, h) * span(x, w))))
        .collect();
    let inv = Tensor::from_vec(count, (1, 1, h, w), x.device())?;
    sum.broadcast_mul(&inv)
}

/// `F.max_pool2d(x, k, stride, padding=pad)` for `x >= 0` (after a ReLU):
/// zeros pad the border, which a window's maximum never picks over a
/// non-negative cell inside it, so the result equals PyTorch's -inf padding.
pub fn max_pool_nonneg(x: &Tensor, k: usize, stride: usize, pad: usize) -> Result<Tensor> {
    let x = match pad {
        0 => x.clone(),
        p => x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?,
    };
    x.max_pool2d_with_stride(k, stride)
}

/// The mean over the last two axes: `[n, c, h, w] -> [n, c]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    x.mean(D::Minus1)?.mean(D::Minus1)
}
