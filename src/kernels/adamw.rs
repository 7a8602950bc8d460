//! One fused AdamW update per parameter tensor: reads w, g, m, v once and
//! writes the new w, m, v, instead of the ~14 candle ops (each a full pass and
//! an allocation) of the composition in `train/adamw.rs`. The arithmetic is
//! the composition's, in the same order and in f32:
//!
//!   m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2
//!   w' = w (1 - lr wd) - lr (m' / bc1) / (sqrt(v' / bc2) + eps)

use candle_core::{bail, Result, Tensor};
use rayon::prelude::*;

use super::simd::multiversion;
use super::{data, tensor_like, CHUNK};

/// The scalars of one update (bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t).
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Multiplies the gradient first (gradient clipping).
    pub grad_scale: f64,
    pub bc1: f64,
    pub bc2: f64,
}

#[derive(Clone, Copy)]
struct F32s {
    b1: f32,
    one_b1: f32,
    b2: f32,
    one_b2: f32,
    bc1: f32,
    bc2: f32,
    eps: f32,
    decay: f32,
    lr: f32,
    gs: f32,
    scale_grad: bool,
}

#[inline(always)]
fn body(w: &[f32], g: &[f32], m: &[f32], v: &[f32], k: F32s, out: &mut [[f32; 3]]) {
    for i in 0..w.len() {
        let g = if k.scale_grad { g[i] * k.gs } else { g[i] };
        let m1 = m[i] * k.b1 + g * k.one_b1;
        let v1 = v[i] * k.b2 + g * g * k.one_b2;
        let update = (m1 / k.bc1) / ((v1 / k.bc2).sqrt() + k.eps);
        out[i] = [w[i] * k.decay - update * k.lr, m1, v1];
    }
}

multiversion!(fn body_mv(w: &[f32], g: &[f32], m: &[f32], v: &[f32], k: F32s, out: &mut [[f32; 3]]) => body);

/// New (w, m, v) after one AdamW step; all four inputs f32 on the CPU, same shape.
pub fn adamw_update(w: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, s: AdamWStep) -> Result<(Tensor, Tensor, Tensor)> {
    if w.dims() != g.dims() || w.dims() != m.dims() || w.dims() != v.dims() {
        bail!(
            "fused-adamw: shapes differ: w {:?}, g {:?}, m {:?}, v {:?}",
            w.dims(),
            g.dims(),
            m.dims(),
            v.dims()
        )
    }
    let (w, g, m, v) = (w.contiguous()?, g.contiguous()?, m.contiguous()?, v.contiguous()?);
    let k = F32s {
        b1: s.beta1 as f32,
        one_b1: (1.0 - s.beta1) as f32,
        b2: s.beta2 as f32,
        one_b2: (1.0 - s.beta2) as f32,
        bc1: s.bc1 as f32,
        bc2: s.bc2 as f32,
        eps: s.eps as f32,
        decay: (1.0 - s.lr * s.weight_decay) as f32,
        lr: s.lr as f32,
        gs: s.grad_scale as f32,
        scale_grad: s.grad_scale != 1.0,
    };
    let name = "fused-adamw";
    let (ws, wl) = w.storage_and_layout();
    let (gs, gl) = g.storage_and_layout();
    let (ms, ml) = m.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (wd, gd, md, vd) = (
        data(&ws, wl, name)?,
        data(&gs, gl, name)?,
        data(&ms, ml, name)?,
        data(&vs, vl, name)?,
    );
    let mut out = vec![[0f32; 3]; wd.len()];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
        let r = c * CHUNK..c * CHUNK + o.len();
        body_mv(&wd[r.clone()], &gd[r.clone()], &md[r.clone()], &vd[r], k, o);
    });
    let split = |j: usize| out.iter().map(|t| t[j]).collect::<Vec<f32>>();
    Ok((
        tensor_like(split(0), &w)?,
        tensor_like(split(1), &w)?,
        tensor_like(split(2), &w)?,
    ))
}
