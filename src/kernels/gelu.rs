//! tanh-approximated GELU (the DiT MLP activation), forward and backward in
//! one pass each over the data, vectorised and split across cores.
//!
//! y = 0.5 x (1 + tanh(u)),  u = c (x + 0.044715 x^3),  c = sqrt(2 / pi)
//! dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, multiversion};
use super::{data, slice, tensor_like, CHUNK};

const C: f32 = 0.797_884_6; // sqrt(2 / pi)
const A: f32 = 0.044_715;

#[inline(always)]
fn fwd_body(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        let t = simd::tanh(C * (x + A * x * x * x));
        *y = 0.5 * x * (1.0 + t);
    }
}

#[inline(always)]
fn bwd_body(x: &[f32], g: &[f32], dx: &mut [f32]) {
    for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        let t = simd::tanh(C * (x + A * x * x * x));
        let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * A * x * x);
        *dx = g * d;
    }
}

multiversion!(fn fwd_chunk(x: &[f32], y: &mut [f32]) => fwd_body);
multiversion!(fn bwd_chunk(x: &[f32], g: &[f32], dx: &mut [f32]) => bwd_body);

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| fwd_chunk(x, y));
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
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(dx, (x, g))| bwd_chunk(x, g, dx));
        Ok(Some(tensor_like(dx, arg)?))
    }
}

/// tanh-GELU of `x` (any shape, f32, CPU).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}
