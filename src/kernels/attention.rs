//! Fused multi-head attention, softmax(q k^T / sqrt(d)) v, that never keeps
//! the N x M probability matrix for backward: backward recomputes each block
//! of probabilities from q and k (as FlashAttention does), so what stays
//! alive between forward and backward grows with N + M, not N * M.
//!
//! Per (batch, head) unit and block of up to [`BLOCK`] query rows, with
//! S = q k^T / sqrt(d) and P = softmax(S), the work is five small GEMMs and
//! two row passes:
//!   forward:  S = q k^T / sqrt(d);  P = softmax(S);  o = P v
//!   backward: dP = do v^T;  D_i = do_i . o_i;  dS = P (dP - D) / sqrt(d);
//!             dq = dS k;  dk += dS^T q;  dv += P^T do
//!
//! q, k and v are strided views, so three layouts share one kernel without
//! copies: separate q `[b, n, h, d]`, k and v `[b, m, h, d]`
//! ([`attention`]); the packed output of a qkv projection `[b, n, 3 h d]`
//! ([`self_attention_packed`], output `[b, n, h d]`, no reshapes on either
//! side); and queries of one packed projection against
//! the keys and values of another whose batch is shared by `frames`
//! consecutive query batches ([`cross_attention_packed`]: every frame of a
//! clip attends to its clip's reference tokens, with no repeat copies).
//! Gradients come back in the layout of the inputs.
//!
//! Forward splits over query batches; backward over key/value batches (each
//! task owns the gradient rows of its keys and values and of the queries
//! that attend to them), so results do not depend on scheduling.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::matmul::{gemm, Mat, MatMut};
use super::simd::{self, multiversion};
use super::{data, min_len, slice};

/// Query rows per block: the scratch is two `[BLOCK, m]` matrices per task.
const BLOCK: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Dims {
    /// Query batches.
    b: usize,
    /// Query batches per key/value batch.
    frames: usize,
    n: usize,
    m: usize,
    h: usize,
    d: usize,
}

/// Where q, k or v lives: element (batch, row, head, i) is input `src` at
/// `off + batch * bs + row * rs + head * d + i`.
#[derive(Clone, Copy, Debug)]
struct View {
    src: usize,
    off: usize,
    rs: usize,
    bs: usize,
}

impl View {
    /// The `[rows, d]` matrix of (batch, first row, head) in `base`.
    fn mat(&self, base: *const f32, d: usize, batch: usize, row: usize, head: usize) -> Mat {
        let off = self.off + batch * self.bs + row * self.rs + head * d;
        // SAFETY (of the callers' later reads): the plan was checked against
        // the input lengths in `Plan::check`.
        Mat {
            ptr: base.wrapping_add(off),
            rs: self.rs as isize,
            cs: 1,
        }
    }

    fn mat_mut(&self, base: *mut f32, d: usize, batch: usize, row: usize, head: usize) -> MatMut {
        let off = self.off + batch * self.bs + row * self.rs + head * d;
        MatMut {
            ptr: base.wrapping_add(off),
            rs: self.rs as isize,
            cs: 1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    dims: Dims,
    q: View,
    k: View,
    v: View,
}

impl Plan {
    fn scale(&self) -> f32 {
        1.0 / (self.dims.d as f32).sqrt()
    }

    /// Fails unless every element the plan reads lies inside its input.
    fn check(&self, lens: &[usize]) -> Result<()> {
        let Dims { b, frames, n, m, h, d } = self.dims;
        let kv_b = b / frames;
        for (view, batches, rows) in [(self.q, b, n), (self.k, kv_b, m), (self.v, kv_b, m)] {
            let end = |batches: usize, rows: usize| view.off + (batches - 1) * view.bs + (rows - 1) * view.rs + h * d;
            if batches == 0 || rows == 0 || end(batches, rows) > lens[view.src] {
                bail!(
                    "fused-attention: view {view:?} of {:?} exceeds input of {} elements",
                    self.dims,
                    lens[view.src]
                )
            }
        }
        Ok(())
    }
}

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

/// The inputs' base pointers, indexed by `View::src`.
struct Inputs<'a>(Vec<&'a [f32]>);

impl Inputs<'_> {
    fn base(&self, v: View) -> *const f32 {
        self.0[v.src].as_ptr()
    }
}

/// P = softmax(q k^T * scale) for rows `r0..r0 + rows` of (batch, head), into `s`.
///
/// # Safety
/// The plan must have passed [`Plan::check`] for `inp`.
unsafe fn probs(plan: &Plan, inp: &Inputs, (batch, head, r0, rows): (usize, usize, usize, usize), s: &mut [f32]) {
    let Dims { frames, m, d, .. } = plan.dims;
    let q = plan.q.mat(inp.base(plan.q), d, batch, r0, head);
    let k = plan.k.mat(inp.base(plan.k), d, batch / frames, 0, head);
    gemm((rows, m, d), MatMut::rows(s, m), false, q, k.t(), plan.scale(), 1);
    softmax_rows_mv(&mut s[..rows * m], m);
}

/// Output rows `[n, h, d]` of query batch `batch` times `alpha`, written
/// into `out` or, when `accumulate`, added to it.
fn forward_batch(plan: &Plan, inp: &Inputs, batch: usize, (alpha, accumulate): (f32, bool), out: &mut [f32]) {
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

fn forward(plan: &Plan, inp: &Inputs) -> Result<Vec<f32>> {
    plan.check(&inp.0.iter().map(|s| s.len()).collect::<Vec<_>>())?;
    let Dims { b, n, m, h, d, .. } = plan.dims;
    let mut out = vec![0f32; b * n * h * d];
    out.par_chunks_mut(n * h * d)
        .enumerate()
        .with_min_len(min_len(n * m * h * d / 8))
        .for_each(|(batch, o)| forward_batch(plan, inp, batch, (1.0, false), o));
    Ok(out)
}

/// Gradient buffers, one per input (null where that input wants none).
#[derive(Clone, Copy)]
struct GradPtrs([*mut f32; 3]);

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
fn grads_of(plan: &Plan, args: &[&Tensor], res: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
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

/// `[b, rows, 3 h d]` -> (b, rows, h, d).
fn packed_dims(l: &Layout, h: usize) -> Result<(usize, usize, usize, usize)> {
    match l.dims() {
        &[b, rows, w] if h > 0 && w % (3 * h) == 0 => Ok((b, rows, h, w / (3 * h))),
        other => bail!("fused-attention: expected a packed qkv [b, n, 3 * {h} * d], got {other:?}"),
    }
}

/// View of part `i` (0 q, 1 k, 2 v) of input `src`, a packed `[_, rows, 3, h, d]`.
fn packed_view(src: usize, i: usize, rows: usize, h: usize, d: usize) -> View {
    View {
        src,
        off: i * h * d,
        rs: 3 * h * d,
        bs: rows * 3 * h * d,
    }
}

/// Self-attention of a packed qkv `[b, n, 3 h d]` over `.0` heads.
struct SelfPacked(usize);

impl SelfPacked {
    fn plan(&self, l: &Layout) -> Result<Plan> {
        let (b, n, h, d) = packed_dims(l, self.0)?;
        Ok(Plan {
            dims: Dims {
                b,
                frames: 1,
                n,
                m: n,
                h,
                d,
            },
            q: packed_view(0, 0, n, h, d),
            k: packed_view(0, 1, n, h, d),
            v: packed_view(0, 2, n, h, d),
        })
    }
}

impl CustomOp1 for SelfPacked {
    fn name(&self) -> &'static str {
        "fused-self-attention-packed"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let plan = self.plan(l)?;
        let out = forward(&plan, &Inputs(vec![slice(s, l, self.name())?]))?;
        let Dims { b, n, h, d, .. } = plan.dims;
        Ok((CpuStorage::F32(out), Shape::from((b, n, h * d))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let plan = self.plan(arg.layout())?;
        Ok(grads_of(&plan, &[arg], res, grad)?.pop().flatten())
    }
}

/// Queries of a packed qkv `[b, n, 3 h d]` against keys and values of a
/// packed `[b / frames, m, 3 h d]`, over `.0` heads.
struct CrossPacked(usize);

impl CrossPacked {
    fn plan(&self, ql: &Layout, kvl: &Layout) -> Result<Plan> {
        let ((b, n, h, d), (kv_b, m, h2, d2)) = (packed_dims(ql, self.0)?, packed_dims(kvl, self.0)?);
        if h != h2 || d != d2 || kv_b == 0 || b % kv_b != 0 {
            bail!(
                "fused-attention: queries {:?} do not fit keys {:?}",
                ql.dims(),
                kvl.dims()
            )
        }
        Ok(Plan {
            dims: Dims {
                b,
                frames: b / kv_b,
                n,
                m,
                h,
                d,
            },
            q: packed_view(0, 0, n, h, d),
            k: packed_view(1, 1, m, h, d),
            v: packed_view(1, 2, m, h, d),
        })
    }
}

impl CustomOp2 for CrossPacked {
    fn name(&self) -> &'static str {
        "fused-cross-attention-packed"
    }

    fn cpu_fwd(&self, qs: &CpuStorage, ql: &Layout, ks: &CpuStorage, kl: &Layout) -> Result<(CpuStorage, Shape)> {
        let plan = self.plan(ql, kl)?;
        let inp = Inputs(vec![slice(qs, ql, self.name())?, slice(ks, kl, self.name())?]);
        let out = forward(&plan, &inp)?;
        let Dims { b, n, h, d, .. } = plan.dims;
        Ok((CpuStorage::F32(out), Shape::from((b, n, h * d))))
    }

    fn bwd(&self, q: &Tensor, kv: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let plan = self.plan(q.layout(), kv.layout())?;
        let mut g = grads_of(&plan, &[q, kv], res, grad)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten()))
    }
}

/// Self-attention of a packed qkv `[b, n, 3 h d]` plus its queries'
/// attention over a packed `[b / frames, m, 3 h d]` times `scale` `[b]`,
/// over `.0` heads.
struct SelfAndReference(usize);

impl SelfAndReference {
    fn plans(&self, ql: &Layout, kvl: &Layout, sl: &Layout) -> Result<(Plan, Plan)> {
        let (own, other) = (SelfPacked(self.0).plan(ql)?, CrossPacked(self.0).plan(ql, kvl)?);
        if sl.dims() != [own.dims.b] {
            bail!(
                "fused-attention: scale {:?} does not match queries {:?}",
                sl.dims(),
                ql.dims()
            )
        }
        Ok((own, other))
    }
}

/// The backward of clip `clip` (its `frames` query batches) for both parts;
/// returns the clip's scale gradients.
///
/// # Safety
/// As for [`backward_kv_batch`], for both plans; `o` is the op's output.
unsafe fn backward_clip(
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

impl CustomOp3 for SelfAndReference {
    fn name(&self) -> &'static str {
        "fused-self-and-reference-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (own, other) = self.plans(ql, kl, sl)?;
        let name = self.name();
        let inp = Inputs(vec![slice(qs, ql, name)?, slice(ks, kl, name)?]);
        let scale = slice(ss, sl, name)?;
        let lens: Vec<usize> = inp.0.iter().map(|s| s.len()).collect();
        own.check(&lens)?;
        other.check(&lens)?;
        let Dims { b, n, m, h, d, .. } = other.dims;
        let mut out = vec![0f32; b * n * h * d];
        out.par_chunks_mut(n * h * d)
            .enumerate()
            .with_min_len(min_len(n * (n + m) * h * d / 8))
            .for_each(|(batch, o)| {
                forward_batch(&own, &inp, batch, (1.0, false), o);
                forward_batch(&other, &inp, batch, (scale[batch], true), o);
            });
        Ok((CpuStorage::F32(out), Shape::from((b, n, h * d))))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        kv: &Tensor,
        scale: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (want_qkv, want_kv, want_scale) = (qkv.track_op(), kv.track_op(), scale.track_op());
        if !(want_qkv || want_kv || want_scale) {
            return Ok((None, None, None));
        }
        let name = self.name();
        let (own, other) = self.plans(qkv.layout(), kv.layout(), scale.layout())?;
        let grad = grad.contiguous()?;
        let guards = [
            qkv.storage_and_layout(),
            kv.storage_and_layout(),
            scale.storage_and_layout(),
        ];
        let [qd, kd, sd] = [0, 1, 2].map(|i| data(&guards[i].0, guards[i].1, name));
        let inp = Inputs(vec![qd?, kd?]);
        let lens: Vec<usize> = inp.0.iter().map(|s| s.len()).collect();
        own.check(&lens)?;
        other.check(&lens)?;
        let (os, ol) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (od, gd, sd) = (data(&os, ol, name)?, data(&gs, gl, name)?, sd?);
        let mut dqkv = want_qkv.then(|| vec![0f32; lens[0]]);
        let mut dkv = want_kv.then(|| vec![0f32; lens[1]]);
        let ptr = |b: &mut Option<Vec<f32>>| b.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr());
        let grads = GradPtrs([ptr(&mut dqkv), ptr(&mut dkv), std::ptr::null_mut()]);
        let Dims { b, frames, n, m, h, d } = other.dims;
        let dscale: Vec<Vec<f32>> = (0..b / frames)
            .into_par_iter()
            .with_min_len(min_len(frames * n * (n + m) * h * d / 8))
            // SAFETY: both plans are checked; clip c writes only the qkv
            // gradient rows of its own frames and the kv gradient rows of clip c.
            .map(|clip| unsafe { backward_clip((&own, &other), &inp, (od, gd, sd), grads, clip) })
            .collect();
        let to_tensor = |v: Option<Vec<f32>>, like: &Tensor| {
            v.map(|v| Tensor::from_vec(v, like.shape(), like.device())).transpose()
        };
        let dscale = want_scale.then(|| dscale.concat());
        Ok((to_tensor(dqkv, qkv)?, to_tensor(dkv, kv)?, to_tensor(dscale, scale)?))
    }
}

/// Separate q `[b, n, h, d]`, k and v `[b, m, h, d]`.
struct Separate;

impl Separate {
    fn plan(q: &Layout, k: &Layout, v: &Layout) -> Result<Plan> {
        let (qd, kd, vd) = (q.dims(), k.dims(), v.dims());
        if qd.len() != 4 || kd != vd || kd.len() != 4 || qd[0] != kd[0] || qd[2] != kd[2] || qd[3] != kd[3] {
            bail!("fused-attention: expected q [b, n, h, d] and k, v [b, m, h, d], got {qd:?}, {kd:?}, {vd:?}")
        }
        let (b, n, m, h, d) = (qd[0], qd[1], kd[1], qd[2], qd[3]);
        let view = |src, rows: usize| View {
            src,
            off: 0,
            rs: h * d,
            bs: rows * h * d,
        };
        Ok(Plan {
            dims: Dims {
                b,
                frames: 1,
                n,
                m,
                h,
                d,
            },
            q: view(0, n),
            k: view(1, m),
            v: view(2, m),
        })
    }
}

impl CustomOp3 for Separate {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let plan = Self::plan(ql, kl, vl)?;
        let inp = Inputs(vec![
            slice(qs, ql, self.name())?,
            slice(ks, kl, self.name())?,
            slice(vs, vl, self.name())?,
        ]);
        Ok((CpuStorage::F32(forward(&plan, &inp)?), ql.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let plan = Self::plan(q.layout(), k.layout(), v.layout())?;
        let mut g = grads_of(&plan, &[q, k, v], res, grad)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten(), g.next().flatten()))
    }
}

/// softmax(q k^T / sqrt(d)) v for q `[b, n, h, d]`, k and v `[b, m, h, d]`
/// (f32, CPU); returns `[b, n, h, d]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Separate)
}

/// Self-attention over `heads` heads of the packed output of a qkv
/// projection, `[b, n, 3 h d]` (q, k, v, each head-major); returns the heads
/// side by side, `[b, n, h d]`, as the output projection takes them.
pub fn self_attention_packed(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(SelfPacked(heads))
}

/// Attention of the queries of `qkv` `[b, n, 3 h d]` over the keys and
/// values of `kv` `[b / t, m, 3 h d]` (its query part is ignored and gets a
/// zero gradient), query batch i using key/value batch i / t; returns
/// `[b, n, h d]`.
pub fn cross_attention_packed(qkv: &Tensor, kv: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?.apply_op2(&kv.contiguous()?, CrossPacked(heads))
}

/// [`self_attention_packed`] of `qkv` `[b, n, 3 h d]` plus `scale` `[b]`
/// times [`cross_attention_packed`] of `qkv` over `kv` `[b / t, m, 3 h d]`,
/// in one op: the reference part adds into the output, and backward sums
/// both parts' query gradients itself; returns `[b, n, h d]`.
pub fn self_and_reference_attention_packed(qkv: &Tensor, kv: &Tensor, scale: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?
        .apply_op3(&kv.contiguous()?, &scale.contiguous()?, SelfAndReference(heads))
}
