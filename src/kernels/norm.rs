//! LayerNorm without affine parameters followed by the adaLN modulation of
//! DiT: y = (x - mean) / sqrt(var + eps) * (1 + scale) + shift, with x
//! `[b, n, c]` and shift, scale `[b, c]` (one per sample, from the timestep
//! embedding). One pass forward, one backward; mean and 1/std are recomputed
//! in backward rather than stored.
//!
//! Backward, with xh = (x - mean) * rstd and g' = g (1 + scale):
//!   dx = rstd (g' - mean(g') - xh mean(g' xh)),  dscale = sum_n g xh,  dshift = sum_n g

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::multiversion;
use super::{data, min_len, slice, split, tensor_like};

#[inline(always)]
fn stats(x: &[f32], eps: f32) -> (f32, f32) {
    let c = x.len() as f32;
    let mean = x.iter().sum::<f32>() / c;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c;
    (mean, 1.0 / (var + eps).sqrt())
}

#[inline(always)]
fn fwd_sample(x: &[f32], shift: &[f32], scale: &[f32], eps: f32, y: &mut [f32]) {
    let c = shift.len();
    for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
        let (mean, rstd) = stats(xr, eps);
        for i in 0..c {
            yr[i] = (xr[i] - mean) * rstd * (1.0 + scale[i]) + shift[i];
        }
    }
}

multiversion!(fn fwd_sample_mv(x: &[f32], shift: &[f32], scale: &[f32], eps: f32, y: &mut [f32]) => fwd_sample);

/// Backward of one sample: fills `dx` when given, and `dscale`, `dshift`.
#[inline(always)]
fn bwd_sample(x: &[f32], g: &[f32], scale: &[f32], eps: f32, dx: &mut [f32], dscale: &mut [f32], dshift: &mut [f32]) {
    let c = scale.len();
    let want_dx = !dx.is_empty();
    let want_mod = !dscale.is_empty();
    for (r, (xr, gr)) in x.chunks_exact(c).zip(g.chunks_exact(c)).enumerate() {
        let (mean, rstd) = stats(xr, eps);
        if want_mod {
            for i in 0..c {
                dscale[i] += gr[i] * (xr[i] - mean) * rstd;
                dshift[i] += gr[i];
            }
        }
        if want_dx {
            let (mut mg, mut mgx) = (0f32, 0f32);
            for i in 0..c {
                let gp = gr[i] * (1.0 + scale[i]);
                mg += gp;
                mgx += gp * (xr[i] - mean) * rstd;
            }
            let (mg, mgx) = (mg / c as f32, mgx / c as f32);
            let dxr = &mut dx[r * c..(r + 1) * c];
            for i in 0..c {
                let xh = (xr[i] - mean) * rstd;
                dxr[i] = rstd * (gr[i] * (1.0 + scale[i]) - mg - xh * mgx);
            }
        }
    }
}

multiversion!(fn bwd_sample_mv(x: &[f32], g: &[f32], scale: &[f32], eps: f32, dx: &mut [f32], dscale: &mut [f32], dshift: &mut [f32]) => bwd_sample);

struct ModulatedLayerNorm {
    eps: f32,
}

fn check(x: &Layout, shift: &Layout, scale: &Layout) -> Result<(usize, usize)> {
    let (xd, sd, cd) = (x.dims(), shift.dims(), scale.dims());
    if xd.len() != 3 || sd != [xd[0], xd[2]] || cd != sd {
        bail!("fused-modulated-layer-norm: expected x [b, n, c], shift and scale [b, c], got {xd:?}, {sd:?}, {cd:?}")
    }
    Ok((xd[1], xd[2]))
}

impl CustomOp3 for ModulatedLayerNorm {
    fn name(&self) -> &'static str {
        "fused-modulated-layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c) = check(xl, sl, cl)?;
        let (x, shift, scale) = (
            slice(xs, xl, self.name())?,
            slice(ss, sl, self.name())?,
            slice(cs, cl, self.name())?,
        );
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(n * c)
            .zip(x.par_chunks(n * c))
            .zip(shift.par_chunks(c).zip(scale.par_chunks(c)))
            .with_min_len(min_len(n * c))
            .for_each(|((y, x), (sh, sc))| fwd_sample_mv(x, sh, sc, self.eps, y));
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        shift: &Tensor,
        scale: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let want_dx = x.track_op();
        let want_mod = shift.track_op() || scale.track_op();
        if !want_dx && !want_mod {
            return Ok((None, None, None));
        }
        let grad = grad.contiguous()?;
        let (n, c) = check(x.layout(), shift.layout(), scale.layout())?;
        let name = self.name();
        let (xs, xl) = x.storage_and_layout();
        let (cs, cl) = scale.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (xd, cd, gd) = (data(&xs, xl, name)?, data(&cs, cl, name)?, data(&gs, gl, name)?);
        let b = xd.len() / (n * c);
        let mut dx = vec![0f32; if want_dx { xd.len() } else { 0 }];
        let mut dscale = vec![0f32; if want_mod { b * c } else { 0 }];
        let mut dshift = vec![0f32; if want_mod { b * c } else { 0 }];
        let dx_chunk = if want_dx { n * c } else { 0 };
        let mod_chunk = if want_mod { c } else { 0 };
        (0..b)
            .into_par_iter()
            .zip(split(&mut dx, dx_chunk, b).into_par_iter())
            .zip(
                split(&mut dscale, mod_chunk, b)
                    .into_par_iter()
                    .zip(split(&mut dshift, mod_chunk, b).into_par_iter()),
            )
            .with_min_len(min_len(n * c))
            .for_each(|((i, dx), (dsc, dsh))| {
                let xs = &xd[i * n * c..(i + 1) * n * c];
                let gs = &gd[i * n * c..(i + 1) * n * c];
                bwd_sample_mv(xs, gs, &cd[i * c..(i + 1) * c], self.eps, dx, dsc, dsh);
            });
        let dx = want_dx.then(|| tensor_like(dx, x)).transpose()?;
        let (dshift, dscale) = if want_mod {
            (Some(tensor_like(dshift, shift)?), Some(tensor_like(dscale, scale)?))
        } else {
            (None, None)
        };
        Ok((dx, dshift, dscale))
    }
}

/// LayerNorm (epsilon `eps`; DiT uses 1e-6) of `x` `[b, n, c]` modulated by
/// `shift`, `scale` `[b, c]` (f32, CPU).
pub fn modulated_layer_norm(x: &Tensor, shift: &Tensor, scale: &Tensor, eps: f64) -> Result<Tensor> {
    let op = ModulatedLayerNorm { eps: eps as f32 };
    x.contiguous()?
        .apply_op3(&shift.contiguous()?, &scale.contiguous()?, op)
}
