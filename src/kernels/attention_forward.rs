//! The forward pass of fused attention: per block of query rows,
//! P = softmax(q k^T / sqrt(d)) and o = P v.

use candle_core::Result;
use rayon::prelude::*;

use super::attention_plan::{Dims, Inputs, Plan, BLOCK};
use super::matmul::{gemm, Mat, MatMut};
use super::min_len;
use super::simd::{self, multiversion};

/// `f` folded over `x` in eight interleaved lanes (so the loop vectorises
/// without reassociating floats behind the compiler's back), then across lanes.
#[inline(always)]
fn fold8(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] = f(acc[i], c[i]);
        }
    }
    let mut r = acc.into_iter().fold(init, &f);
    for &v in rest {
        r = f(r, v);
    }
    r
}

/// Softmax of each `m`-wide row of `s` in place.
#[inline(always)]
fn softmax_rows(s: &mut [f32], m: usize) {
    for row in s.chunks_exact_mut(m) {
        let max = fold8(row, f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
        for p in row.iter_mut() {
            *p = simd::exp(*p - max);
        }
        let inv = 1.0 / fold8(row, 0.0, |a, b| a + b);
        for p in row.iter_mut() {
            *p *= inv;
        }
    }
}

multiversion!(fn softmax_rows_mv(s: &mut [f32], m: usize) => softmax_rows);

/// P = softmax(q k^T * scale) for rows `r0..r0 + rows` of (batch, head), into `s`.
///
/// # Safety
/// The plan must have passed [`Plan::check`] for `inp`.
pub(super) unsafe fn probs(
    plan: &Plan,
    inp: &Inputs,
    (batch, head, r0, rows): (usize, usize, usize, usize),
    s: &mut [f32],
) {
    let Dims { frames, m, d, .. } = plan.dims;
    let q = plan.q.mat(inp.base(plan.q), d, batch, r0, head);
    let k = plan.k.mat(inp.base(plan.k), d, batch / frames, 0, head);
    gemm((rows, m, d), MatMut::rows(s, m), false, q, k.t(), plan.scale(), 1);
    softmax_rows_mv(&mut s[..rows * m], m);
}

/// Output rows `[n, h, d]` of query batch `batch` times `alpha`, written
/// into `out` or, when `accumulate`, added to it.
pub(super) fn forward_batch(
    plan: &Plan,
    inp: &Inputs,
    batch: usize,
    (alpha, accumulate): (f32, bool),
    out: &mut [f32],
) {
    let Dims { frames, n, m, h, d, .. } = plan.dims;
    let mut s = vec![0f32; BLOCK.min(n) * m];
    for head in 0..h {
        for r0 in (0..n).step_by(BLOCK) {
            let rows = BLOCK.min(n - r0);
            // SAFETY: the plan was checked against the inputs; `out` is this
            // batch's [n, h, d] rows, and o below stays inside it.
            unsafe {
                probs(plan, inp, (batch, head, r0, rows), &mut s);
                let v = plan.v.mat(inp.base(plan.v), d, batch / frames, 0, head);
                let o = MatMut {
                    ptr: out.as_mut_ptr().add((r0 * h + head) * d),
                    rs: (h * d) as isize,
                    cs: 1,
                };
                gemm((rows, d, m), o, accumulate, Mat::rows(&s, m), v, alpha, 1);
            }
        }
    }
}

pub(super) fn forward(plan: &Plan, inp: &Inputs) -> Result<Vec<f32>> {
    plan.check(&inp.0.iter().map(|s| s.len()).collect::<Vec<_>>())?;
    let Dims { b, n, m, h, d, .. } = plan.dims;
    let mut out = vec![0f32; b * n * h * d];
    out.par_chunks_mut(n * h * d)
        .enumerate()
        .with_min_len(min_len(n * m * h * d / 8))
        .for_each(|(batch, o)| forward_batch(plan, inp, batch, (1.0, false), o));
    Ok(out)
}
