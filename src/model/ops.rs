//! The hot-path tensor operations, each behind one small function with a
//! [`Kernels`] switch: `Fused` runs the crate's fused CPU kernels
//! (`crate::kernels`), `Plain` the candle composition they were checked
//! against. Non-CPU devices always take the plain path. Shapes are in the
//! comments.

use candle_core::{DType, Result, Tensor, D};
use serde::{Deserialize, Serialize};

use super::frozen_linear::frozen_matmul;
use crate::kernels;

/// Which implementation the hot-path ops use.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// Candle compositions (any device; keeps attention weights for backward).
    Plain,
    /// The fused CPU kernels of `crate::kernels` (attention recomputes its
    /// weights in backward, so peak memory is lower too).
    #[default]
    Fused,
}

impl Kernels {
    fn fused_on(self, x: &Tensor) -> bool {
        self == Kernels::Fused && x.device().is_cpu() && x.dtype() == DType::F32
    }
}

/// y = x W^T + b for x `[..., k]`, W `[n, k]`, b `[n]`.
///
/// `trainable = false` means W and b are constants (detached): with
/// `frozen_op` the input gradient is the only one computed (see
/// `frozen_linear.rs`; the fused linear kernel does the same); without it
/// candle's matmul also computes a weight gradient that is thrown away.
pub fn linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    trainable: bool,
    frozen_op: bool,
    k: Kernels,
) -> Result<Tensor> {
    if k.fused_on(x) && (trainable || frozen_op) {
        return kernels::linear(x, w, b);
    }
    let y = if !trainable && frozen_op {
        frozen_matmul(x, w)?
    } else {
        x.broadcast_matmul(&w.t()?)?
    };
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// GELU(x) W^T + b (the MLP's second layer with its activation), shapes as
/// [`linear`]; the fused kernel never stores GELU(x).
pub fn gelu_linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    trainable: bool,
    frozen_op: bool,
    k: Kernels,
) -> Result<Tensor> {
    if k.fused_on(x) && (trainable || frozen_op) {
        return kernels::gelu_linear(x, w, b);
    }
    linear(&gelu(x, k)?, w, b, trainable, frozen_op, k)
}

/// r + x W^T + b, a projection added to the residual stream r `[..., n]`;
/// one fused op when there is no bias.
#[allow(clippy::too_many_arguments)]
pub fn linear_residual(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    r: &Tensor,
    trainable: bool,
    frozen_op: bool,
    k: Kernels,
) -> Result<Tensor> {
    if k.fused_on(x) && (trainable || frozen_op) && b.is_none() {
        return kernels::linear_residual(x, w, r);
    }
    residual(r, &linear(x, w, b, trainable, frozen_op, k)?, k)
}

/// GELU (erf form, as candle's `gelu_erf`).
pub fn gelu(x: &Tensor, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) {
        kernels::gelu_erf(x)
    } else {
        x.gelu_erf()
    }
}

/// SiLU, x * sigmoid(x), composed so that it has a backward pass.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    x.silu()
}

/// Layer norm over the last dimension without affine parameters (DiT's
/// `elementwise_affine=False`). x `[..., d]`.
pub fn layer_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    centered.broadcast_div(&(var + eps)?.sqrt()?)
}

/// Layer norm (no affine) of x `[b, n, d]`, through the fused kernel when on.
pub fn norm(x: &Tensor, eps: f64, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) && x.rank() == 3 {
        let zeros = Tensor::zeros((x.dim(0)?, x.dim(2)?), DType::F32, x.device())?;
        kernels::modulated_layer_norm(x, &zeros, &zeros, eps)
    } else {
        layer_norm(x, eps)
    }
}

/// adaLN modulation: LN(x) (1 + scale) + shift, x `[b, n, d]`, shift and scale `[b, d]`.
pub fn modulated_norm(x: &Tensor, shift: &Tensor, scale: &Tensor, eps: f64, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) {
        return kernels::modulated_layer_norm(x, shift, scale, eps);
    }
    let normed = layer_norm(x, eps)?;
    normed
        .broadcast_mul(&(scale.unsqueeze(1)? + 1.0)?)?
        .broadcast_add(&shift.unsqueeze(1)?)
}

/// adaLN-zero residual: x + gate y, x and y `[b, n, d]`, gate `[b, d]`.
pub fn gated_residual(x: &Tensor, y: &Tensor, gate: &Tensor, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) {
        return kernels::gated_residual(x, y, gate);
    }
    x + y.broadcast_mul(&gate.unsqueeze(1)?)?
}

/// The residual x + y (same shapes).
pub fn residual(x: &Tensor, y: &Tensor, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) {
        return kernels::add(x, y);
    }
    x + y
}

/// Layer norm (no affine) of x `[b, n, d]` plus a per-sample shift `[b, d]`
/// (temporal blocks' frame positions), through the fused kernel when on.
pub fn norm_shift(x: &Tensor, shift: &Tensor, eps: f64, k: Kernels) -> Result<Tensor> {
    if k.fused_on(x) {
        return kernels::modulated_layer_norm(x, shift, &shift.zeros_like()?, eps);
    }
    layer_norm(x, eps)?.broadcast_add(&shift.unsqueeze(1)?)
}

/// Softmax over the last dimension, numerically stable, with a backward pass.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Scaled dot-product attention, token-major: q `[b, nq, h, dh]`, k and v
/// `[b, nk, h, dh]` -> `[b, nq, h, dh]`. The plain path keeps the
/// `[nq, nk]` weights for backward; the fused kernel recomputes them.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, kern: Kernels) -> Result<Tensor> {
    if kern.fused_on(q) {
        return kernels::attention(q, k, v);
    }
    let head_major = |t: &Tensor| t.transpose(1, 2)?.contiguous();
    let (q, k, v) = (head_major(q)?, head_major(k)?, head_major(v)?);
    let dh = q.dim(D::Minus1)?;
    let scores = q.matmul(&k.t()?.contiguous()?)?.affine(1.0 / (dh as f64).sqrt(), 0.0)?;
    softmax_last(&scores)?.matmul(&v)?.transpose(1, 2)
}

/// Fixed 1-D sinusoidal embedding of `positions` (`[n]` f32) into `[n, dim]`
/// (Vaswani et al.; DiT's timestep embedding with max period 10000).
pub fn sinusoidal(positions: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), positions.device())?;
    let args = positions.to_dtype(DType::F32)?.unsqueeze(1)?.broadcast_mul(&freqs)?;
    let emb = Tensor::cat(&[args.cos()?, args.sin()?], 1)?;
    if dim % 2 == 1 {
        Tensor::cat(
            &[&emb, &Tensor::zeros((emb.dim(0)?, 1), DType::F32, positions.device())?],
            1,
        )
    } else {
        Ok(emb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn softmax_rows_sum_to_one_and_attention_averages_values() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1f32, 2., 3.], [1000., 1000., 1000.]], &dev).unwrap();
        let s = softmax_last(&x).unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-6));
        // Equal keys give uniform weights, so the output is the mean of the values.
        let q = Tensor::ones((1, 2, 1, 4), DType::F32, &dev).unwrap();
        let k = Tensor::ones((1, 3, 1, 4), DType::F32, &dev).unwrap();
        let v = Tensor::arange(0f32, 12., &dev).unwrap().reshape((1, 3, 1, 4)).unwrap();
        for kern in [Kernels::Plain, Kernels::Fused] {
            let o = attention(&q, &k, &v, kern)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert!(
                o[..4].iter().zip([4f32, 5., 6., 7.]).all(|(a, b)| (a - b).abs() < 1e-5),
                "{kern:?}: {o:?}"
            );
        }
    }

    #[test]
    fn layer_norm_has_zero_mean_unit_variance() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1f32, 2., 3., 6.]], &dev).unwrap();
        let y = layer_norm(&x, 1e-6).unwrap().to_vec2::<f32>().unwrap();
        let mean: f32 = y[0].iter().sum::<f32>() / 4.0;
        let var: f32 = y[0].iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4);
    }
}
