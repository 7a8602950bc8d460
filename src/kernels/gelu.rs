//! GELU, forward and backward in one pass each over the data, vectorised
//! and split across cores, in both forms:
//!
//! erf form (exact GELU):  y = 0.5 x (1 + erf(x / sqrt 2)),
//!   dy/dx = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
//! tanh form (DiT's approximation):  y = 0.5 x (1 + tanh(u)),  u = c (x + 0.044715 x^3),  c = sqrt(2 / pi),
//!   dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, multiversion};
use super::{data, slice, tensor_like, CHUNK};

const C: f32 = 0.797_884_6; // sqrt(2 / pi)
const A: f32 = 0.044_715;
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

#[inline(always)]
fn tanh_fwd(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        let t = simd::tanh(C * (x + A * x * x * x));
        *y = 0.5 * x * (1.0 + t);
    }
}

#[inline(always)]
fn tanh_bwd(x: &[f32], g: &[f32], dx: &mut [f32]) {
    for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        let t = simd::tanh(C * (x + A * x * x * x));
        let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * A * x * x);
        *dx = g * d;
    }
}

#[inline(always)]
fn erf_fwd(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = 0.5 * x * (1.0 + simd::erf(x * FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn erf_bwd(x: &[f32], g: &[f32], dx: &mut [f32]) {
    for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        let d = 0.5 * (1.0 + simd::erf(x * FRAC_1_SQRT_2)) + x * simd::exp(-0.5 * x * x) * FRAC_1_SQRT_2PI;
        *dx = g * d;
    }
}

multiversion!(fn tanh_fwd_mv(x: &[f32], y: &mut [f32]) => tanh_fwd);
multiversion!(fn tanh_bwd_mv(x: &[f32], g: &[f32], dx: &mut [f32]) => tanh_bwd);
multiversion!(pub(super) fn erf_fwd_mv(x: &[f32], y: &mut [f32]) => erf_fwd);
multiversion!(pub(super) fn erf_bwd_mv(x: &[f32], g: &[f32], dx: &mut [f32]) => erf_bwd);

#[derive(Clone, Copy)]
enum Form {
    Erf,
    Tanh,
}

struct Gelu(Form);

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        match self.0 {
            Form::Erf => "fused-gelu-erf",
            Form::Tanh => "fused-gelu-tanh",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        let f = match self.0 {
            Form::Erf => erf_fwd_mv,
            Form::Tanh => tanh_fwd_mv,
        };
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| f(x, y));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !arg.track_op() {
            return Ok(None);
        }
        let grad = grad.contiguous()?;
        let (xs, xl) = arg.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (x, g) = (data(&xs, xl, self.name())?, data(&gs, gl, self.name())?);
        let f = match self.0 {
            Form::Erf => erf_bwd_mv,
            Form::Tanh => tanh_bwd_mv,
        };
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(dx, (x, g))| f(x, g, dx));
        Ok(Some(tensor_like(dx, arg)?))
    }
}

/// Exact (erf) GELU of `x` (any shape, f32, CPU): candle's `gelu_erf`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu(Form::Erf))
}

/// tanh-approximated GELU of `x` (any shape, f32, CPU): candle's `gelu`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu(Form::Tanh))
}
