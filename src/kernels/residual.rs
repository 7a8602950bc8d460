//! The gated residual of adaLN-zero blocks: out = x + gate * y, with x, y
//! `[b, n, c]` and gate `[b, c]`, in one pass (candle would broadcast the
//! gate into a full-size temporary, multiply, then add).
//!
//! Backward: dx = g (the incoming gradient itself, no copy), dy = g * gate,
//! dgate = sum_n g * y.
//!
//! Also the plain residual x + y ([`add`]), split over the rayon pool like
//! the other kernels rather than candle's own thread pool, whose callers
//! spin-wait for its worker (costly on a loaded 2-core machine); its
//! backward hands the incoming gradient to both inputs, no copies.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::multiversion;
use super::{data, min_len, slice, split, tensor_like, CHUNK};

#[inline(always)]
fn fwd_sample(x: &[f32], y: &[f32], gate: &[f32], out: &mut [f32]) {
    let c = gate.len();
    for ((o, x), y) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(y.chunks_exact(c)) {
        for i in 0..c {
            o[i] = x[i] + gate[i] * y[i];
        }
    }
}

multiversion!(fn fwd_sample_mv(x: &[f32], y: &[f32], gate: &[f32], out: &mut [f32]) => fwd_sample);

#[inline(always)]
fn bwd_sample(g: &[f32], y: &[f32], gate: &[f32], dy: &mut [f32], dgate: &mut [f32]) {
    let c = gate.len();
    for (r, (gr, yr)) in g.chunks_exact(c).zip(y.chunks_exact(c)).enumerate() {
        if !dy.is_empty() {
            let dyr = &mut dy[r * c..(r + 1) * c];
            for i in 0..c {
                dyr[i] = gr[i] * gate[i];
            }
        }
        if !dgate.is_empty() {
            for i in 0..c {
                dgate[i] += gr[i] * yr[i];
            }
        }
    }
}

multiversion!(fn bwd_sample_mv(g: &[f32], y: &[f32], gate: &[f32], dy: &mut [f32], dgate: &mut [f32]) => bwd_sample);

struct GatedResidual;

fn check(x: &Layout, y: &Layout, gate: &Layout) -> Result<(usize, usize)> {
    let (xd, yd, gd) = (x.dims(), y.dims(), gate.dims());
    if xd.len() != 3 || xd != yd || gd != [xd[0], xd[2]] {
        bail!("fused-gated-residual: expected x, y [b, n, c] and gate [b, c], got {xd:?}, {yd:?}, {gd:?}")
    }
    Ok((xd[1], xd[2]))
}

impl CustomOp3 for GatedResidual {
    fn name(&self) -> &'static str {
        "fused-gated-residual"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c) = check(xl, yl, gl)?;
        let (x, y, gate) = (
            slice(xs, xl, self.name())?,
            slice(ys, yl, self.name())?,
            slice(gs, gl, self.name())?,
        );
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n * c)
            .zip(x.par_chunks(n * c).zip(y.par_chunks(n * c)))
            .zip(gate.par_chunks(c))
            .with_min_len(min_len(n * c))
            .for_each(|((o, (x, y)), g)| fwd_sample_mv(x, y, g, o));
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        y: &Tensor,
        gate: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (want_x, want_y, want_gate) = (x.track_op(), y.track_op(), gate.track_op());
        // Contiguous once (a no-op when it already is), so later ops see plain strides.
        let grad = grad.contiguous()?;
        let dx = want_x.then(|| grad.clone());
        if !want_y && !want_gate {
            return Ok((dx, None, None));
        }
        let (n, c) = check(x.layout(), y.layout(), gate.layout())?;
        let name = self.name();
        let (ys, yl) = y.storage_and_layout();
        let (gs, gl) = gate.storage_and_layout();
        let (rs, rl) = grad.storage_and_layout();
        let (yd, gd, rd) = (data(&ys, yl, name)?, data(&gs, gl, name)?, data(&rs, rl, name)?);
        let b = yd.len() / (n * c);
        let mut dy = vec![0f32; if want_y { yd.len() } else { 0 }];
        let mut dgate = vec![0f32; if want_gate { b * c } else { 0 }];
        let dy_chunks = split(&mut dy, if want_y { n * c } else { 0 }, b);
        let dg_chunks = split(&mut dgate, if want_gate { c } else { 0 }, b);
        (0..b)
            .into_par_iter()
            .zip(dy_chunks.into_par_iter().zip(dg_chunks.into_par_iter()))
            .with_min_len(min_len(n * c))
            .for_each(|(i, (dy, dg))| {
                let span = i * n * c..(i + 1) * n * c;
                bwd_sample_mv(&rd[span.clone()], &yd[span], &gd[i * c..(i + 1) * c], dy, dg);
            });
        let dy = want_y.then(|| tensor_like(dy, y)).transpose()?;
        let dgate = want_gate.then(|| tensor_like(dgate, gate)).transpose()?;
        Ok((dx, dy, dgate))
    }
}

/// x + gate * y for x, y `[b, n, c]` and gate `[b, c]` (f32, CPU).
pub fn gated_residual(x: &Tensor, y: &Tensor, gate: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&y.contiguous()?, &gate.contiguous()?, GatedResidual)
}

#[inline(always)]
fn add_slices(x: &[f32], y: &[f32], out: &mut [f32]) {
    for ((o, x), y) in out.iter_mut().zip(x).zip(y) {
        *o = x + y;
    }
}

multiversion!(fn add_slices_mv(x: &[f32], y: &[f32], out: &mut [f32]) => add_slices);

struct Add;

impl CustomOp2 for Add {
    fn name(&self) -> &'static str {
        "fused-add"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, ys: &CpuStorage, yl: &Layout) -> Result<(CpuStorage, Shape)> {
        if xl.dims() != yl.dims() {
            bail!("fused-add: shapes {:?} and {:?} differ", xl.dims(), yl.dims())
        }
        let (x, y) = (slice(xs, xl, self.name())?, slice(ys, yl, self.name())?);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(|(o, (x, y))| add_slices_mv(x, y, o));
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let pass = |t: &Tensor| t.track_op().then(|| grad.clone());
        Ok((pass(x), pass(y)))
    }
}

/// x + y for x and y of one shape (f32, CPU).
pub fn add(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&y.contiguous()?, Add)
}
