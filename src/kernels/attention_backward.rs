//! The backward pass of fused attention: each block of probabilities is
//! recomputed from q and k, then dS = P (dP - D) / sqrt(d) gives dq, dk and
//! dv; tasks split over key/value batches.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use super::attention_forward::probs;
use super::attention_plan::{Dims, Inputs, Plan, BLOCK};
use super::matmul::{gemm, Mat, MatMut};
use super::simd::multiversion;
use super::{data, min_len};

/// dS = P (dP - D_row) * scale, in place in `dp`, rows `m` wide.
#[inline(always)]
fn softmax_grad_rows(p: &[f32], dp: &mut [f32], big_d: &[f32], m: usize, scale: f32) {
    for ((pr, dr), &di) in p.chunks_exact(m).zip(dp.chunks_exact_mut(m)).zip(big_d) {
        for (d, &p) in dr.iter_mut().zip(pr) {
            *d = p * (*d - di) * scale;
        }
    }
}

multiversion!(fn softmax_grad_rows_mv(p: &[f32], dp: &mut [f32], big_d: &[f32], m: usize, scale: f32) => softmax_grad_rows);

/// Gradient buffers, one per input (null where that input wants none).
#[derive(Clone, Copy)]
pub(super) struct GradPtrs(pub(super) [*mut f32; 3]);

// SAFETY: tasks write disjoint regions of these buffers (see `backward`).
unsafe impl Send for GradPtrs {}
unsafe impl Sync for GradPtrs {}

/// One block of query rows: (batch, head, first row, rows).
type Block = (usize, usize, usize, usize);

/// Backward of one block whose probabilities are in `p`, for the output
/// gradient `g_alpha * g` and D_i = (g_alpha g_i) . o_i in `big_d`: dq is
/// written (or added, `dq_add`), dk and dv are added to.
///
/// # Safety
/// As for [`backward_kv_batch`]; `ds` must hold `rows * m` values.
#[allow(clippy::too_many_arguments)]
unsafe fn backward_block(
    plan: &Plan,
    inp: &Inputs,
    grads: GradPtrs,
    (batch, head, r0, rows): Block,
    (g, g_alpha): (Mat, f32),
    p: &[f32],
    ds: &mut [f32],
    big_d: &[f32],
    dq_add: bool,
) {
    let Dims { frames, m, d, .. } = plan.dims;
    let kvb = batch / frames;
    let (dq, dk, dv) = (grads.0[plan.q.src], grads.0[plan.k.src], grads.0[plan.v.src]);
    let k = plan.k.mat(inp.base(plan.k), d, kvb, 0, head);
    let v = plan.v.mat(inp.base(plan.v), d, kvb, 0, head);
    // dP = do v^T, then dS in place.
    gemm((rows, m, d), MatMut::rows(ds, m), false, g, v.t(), g_alpha, 1);
    softmax_grad_rows_mv(&p[..rows * m], &mut ds[..rows * m], &big_d[..rows], m, plan.scale());
    let (p_blk, ds_blk) = (Mat::rows(p, m), Mat::rows(ds, m));
    if !dq.is_null() {
        let dst = plan.q.mat_mut(dq, d, batch, r0, head);
        gemm((rows, d, m), dst, dq_add, ds_blk, k, 1.0, 1);
    }
    if !dk.is_null() {
        let q = plan.q.mat(inp.base(plan.q), d, batch, r0, head);
        let dst = plan.k.mat_mut(dk, d, kvb, 0, head);
        gemm((m, d, rows), dst, true, ds_blk.t(), q, 1.0, 1);
    }
    if !dv.is_null() {
        let dst = plan.v.mat_mut(dv, d, kvb, 0, head);
        gemm((m, d, rows), dst, true, p_blk.t(), g, g_alpha, 1);
    }
}

/// d-wide dot product of rows `a` and `b`.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The backward of key/value batch `kvb`: rows of dq for its `frames` query
/// batches, and its rows of dk and dv.
///
/// # Safety
/// The plan must have passed [`Plan::check`]; `grads` must be zeroed buffers
/// of the inputs' lengths (or null) that no other task writes in the rows of
/// `kvb`; `o` and `g` are the `[b, n, h, d]` output and its gradient.
unsafe fn backward_kv_batch(plan: &Plan, inp: &Inputs, o: &[f32], g: &[f32], grads: GradPtrs, kvb: usize) {
    let Dims { frames, n, m, h, d, .. } = plan.dims;
    let br = BLOCK.min(n);
    let (mut p, mut ds, mut big_d) = (vec![0f32; br * m], vec![0f32; br * m], vec![0f32; br]);
    let hd = h * d;
    for batch in kvb * frames..(kvb + 1) * frames {
        for head in 0..h {
            for r0 in (0..n).step_by(BLOCK) {
                let rows = br.min(n - r0);
                probs(plan, inp, (batch, head, r0, rows), &mut p);
                let row0 = (batch * n + r0) * hd + head * d;
                for (i, di) in big_d[..rows].iter_mut().enumerate() {
                    let at = row0 + i * hd;
                    *di = dot(&g[at..at + d], &o[at..at + d]);
                }
                let g_blk = Mat::rows(&g[row0..], hd);
                let blk = (batch, head, r0, rows);
                backward_block(plan, inp, grads, blk, (g_blk, 1.0), &p, &mut ds, &big_d, false);
            }
        }
    }
}

/// Gradients of the inputs (by `View::src`) that `want` them.
fn backward(plan: &Plan, inp: &Inputs, o: &[f32], g: &[f32], want: &[bool]) -> Result<Vec<Option<Vec<f32>>>> {
    plan.check(&inp.0.iter().map(|s| s.len()).collect::<Vec<_>>())?;
    let mut bufs: Vec<Option<Vec<f32>>> = inp
        .0
        .iter()
        .zip(want)
        .map(|(s, &w)| w.then(|| vec![0f32; s.len()]))
        .collect();
    let mut ptrs = [std::ptr::null_mut(); 3];
    for (p, buf) in ptrs.iter_mut().zip(bufs.iter_mut()) {
        if let Some(buf) = buf {
            *p = buf.as_mut_ptr();
        }
    }
    let ptrs = GradPtrs(ptrs);
    let Dims { b, frames, n, m, h, d } = plan.dims;
    (0..b / frames)
        .into_par_iter()
        .with_min_len(min_len(frames * n * m * h * d / 8))
        // SAFETY: the plan is checked; task kvb writes only dq rows of query
        // batches kvb * frames.. and dk, dv rows of key/value batch kvb, which
        // no other task touches (every view is batch-major).
        .for_each(|kvb| unsafe { backward_kv_batch(plan, inp, o, g, ptrs, kvb) });
    Ok(bufs)
}

/// The gradients of `args` for the op's output `res` and incoming `grad`.
pub(super) fn grads_of(plan: &Plan, args: &[&Tensor], res: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let want: Vec<bool> = args.iter().map(|t| t.track_op()).collect();
    if !want.iter().any(|&w| w) {
        return Ok(vec![None; args.len()]);
    }
    let name = "fused-attention";
    let grad = grad.contiguous()?;
    let guards: Vec<_> = args.iter().map(|t| t.storage_and_layout()).collect();
    let slices = guards
        .iter()
        .map(|(s, l)| data(s, l, name))
        .collect::<Result<Vec<_>>>()?;
    let (os, ol) = res.storage_and_layout();
    let (gs, gl) = grad.storage_and_layout();
    let (od, gd) = (data(&os, ol, name)?, data(&gs, gl, name)?);
    let bufs = backward(plan, &Inputs(slices), od, gd, &want)?;
    bufs.into_iter()
        .zip(args)
        .map(|(buf, t)| buf.map(|v| Tensor::from_vec(v, t.shape(), t.device())).transpose())
        .collect()
}

/// The backward of clip `clip` (its `frames` query batches) for both parts;
/// returns the clip's scale gradients.
///
/// # Safety
/// As for [`backward_kv_batch`], for both plans; `o` is the op's output.
pub(super) unsafe fn backward_clip(
    (own, other): (&Plan, &Plan),
    inp: &Inputs,
    (o, g, scale): (&[f32], &[f32], &[f32]),
    grads: GradPtrs,
    clip: usize,
) -> Vec<f32> {
    let Dims { frames, n, m, h, d, .. } = other.dims;
    let br = BLOCK.min(n);
    let (mut p_own, mut p_ref) = (vec![0f32; br * n], vec![0f32; br * m]);
    let mut ds = vec![0f32; br * n.max(m)];
    let (mut o_ref, mut d_own, mut d_ref) = (vec![0f32; br * d], vec![0f32; br], vec![0f32; br]);
    let hd = h * d;
    let mut dscale = vec![0f32; frames];
    for (f, batch) in (clip * frames..(clip + 1) * frames).enumerate() {
        let s = scale[batch];
        for head in 0..h {
            for r0 in (0..n).step_by(BLOCK) {
                let rows = br.min(n - r0);
                let blk = (batch, head, r0, rows);
                // The reference part's own output, recomputed: D of both parts
                // and the scale's gradient need it.
                probs(other, inp, blk, &mut p_ref);
                let v = other.v.mat(inp.base(other.v), d, clip, 0, head);
                gemm(
                    (rows, d, m),
                    MatMut::rows(&mut o_ref, d),
                    false,
                    Mat::rows(&p_ref, m),
                    v,
                    1.0,
                    1,
                );
                let row0 = (batch * n + r0) * hd + head * d;
                for i in 0..rows {
                    let at = row0 + i * hd;
                    let (gi, oi) = (&g[at..at + d], &o[at..at + d]);
                    let g_ref = dot(gi, &o_ref[i * d..(i + 1) * d]);
                    dscale[f] += g_ref;
                    d_ref[i] = s * g_ref;
                    d_own[i] = dot(gi, oi) - s * g_ref;
                }
                let g_blk = Mat::rows(&g[row0..], hd);
                probs(own, inp, blk, &mut p_own);
                backward_block(own, inp, grads, blk, (g_blk, 1.0), &p_own, &mut ds, &d_own, false);
                backward_block(other, inp, grads, blk, (g_blk, s), &p_ref, &mut ds, &d_ref, true);
            }
        }
    }
    dscale
}
