//! Fused multi-head attention, softmax(q k^T / sqrt(d)) v, that never keeps
//! the N x M probability matrix: forward streams one query row at a time, and
//! backward recomputes each row's probabilities from q and k (as
//! FlashAttention does), so peak memory grows with N + M, not N * M.
//!
//! Layout: q `[b, n, h, d]`, k and v `[b, m, h, d]`, output `[b, n, h, d]`:
//! the natural layout of a linear projection reshaped into heads, so no
//! transpose copies are needed on either side. Keys may outnumber queries
//! (reference tokens appended to the keys and values).
//!
//! Backward per query row i, with p = softmax(s), s_j = q_i . k_j / sqrt(d):
//!   dv_j += p_j do_i;  dp_j = do_i . v_j;  D_i = do_i . o_i
//!   ds_j = p_j (dp_j - D_i);  dq_i = sum_j ds_j k_j / sqrt(d);  dk_j += ds_j q_i / sqrt(d)

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, multiversion};
use super::{data, slice};

#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    n: usize,
    m: usize,
    h: usize,
    d: usize,
}

impl Dims {
    fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums so LLVM can keep them in vector lanes.
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// Softmax of the scores of row (b, i, head) into `p`; returns nothing, `p` holds probabilities.
#[inline(always)]
fn row_probs(q_row: &[f32], k: &[f32], dims: Dims, b: usize, head: usize, p: &mut [f32]) {
    let (m, h, d) = (dims.m, dims.h, dims.d);
    let scale = dims.scale();
    let mut max = f32::NEG_INFINITY;
    for (j, pj) in p.iter_mut().enumerate() {
        let off = ((b * m + j) * h + head) * d;
        let s = dot(q_row, &k[off..off + d]) * scale;
        *pj = s;
        max = max.max(s);
    }
    let mut sum = 0f32;
    for pj in p.iter_mut() {
        *pj = simd::exp(*pj - max);
        sum += *pj;
    }
    let inv = 1.0 / sum;
    for pj in p.iter_mut() {
        *pj *= inv;
    }
}

/// Forward for output rows `rows` (global row index r = b * n + i), all heads.
#[inline(always)]
fn fwd_rows(q: &[f32], k: &[f32], v: &[f32], dims: Dims, first_row: usize, out: &mut [f32]) {
    let (m, h, d) = (dims.m, dims.h, dims.d);
    let mut p = vec![0f32; m];
    for (r_local, o_row) in out.chunks_exact_mut(h * d).enumerate() {
        let r = first_row + r_local;
        let b = r / dims.n;
        for head in 0..h {
            let q_row = &q[(r * h + head) * d..(r * h + head + 1) * d];
            row_probs(q_row, k, dims, b, head, &mut p);
            let o = &mut o_row[head * d..(head + 1) * d];
            o.fill(0.0);
            for (j, &pj) in p.iter().enumerate() {
                let off = ((b * m + j) * h + head) * d;
                axpy(pj, &v[off..off + d], o);
            }
        }
    }
}

multiversion!(fn fwd_rows_mv(q: &[f32], k: &[f32], v: &[f32], dims: Dims, first_row: usize, out: &mut [f32]) => fwd_rows);

/// Gradients of one (batch, head) unit: dq `[n, d]`, dk `[m, d]`, dv `[m, d]`.
struct UnitGrads {
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn bwd_unit(q: &[f32], k: &[f32], v: &[f32], o: &[f32], g: &[f32], dims: Dims, unit: usize, out: &mut UnitGrads) {
    let (n, m, h, d) = (dims.n, dims.m, dims.h, dims.d);
    let (b, head) = (unit / h, unit % h);
    let scale = dims.scale();
    let mut p = vec![0f32; m];
    for i in 0..n {
        let off_i = ((b * n + i) * h + head) * d;
        let q_row = &q[off_i..off_i + d];
        let g_row = &g[off_i..off_i + d];
        row_probs(q_row, k, dims, b, head, &mut p);
        let big_d = dot(g_row, &o[off_i..off_i + d]);
        let dq = &mut out.dq[i * d..(i + 1) * d];
        for (j, &pj) in p.iter().enumerate() {
            let off_j = ((b * m + j) * h + head) * d;
            axpy(pj, g_row, &mut out.dv[j * d..(j + 1) * d]);
            let dp = dot(g_row, &v[off_j..off_j + d]);
            let ds = pj * (dp - big_d) * scale;
            axpy(ds, &k[off_j..off_j + d], dq);
            axpy(ds, q_row, &mut out.dk[j * d..(j + 1) * d]);
        }
    }
}

multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn bwd_unit_mv(q: &[f32], k: &[f32], v: &[f32], o: &[f32], g: &[f32], dims: Dims, unit: usize, out: &mut UnitGrads) => bwd_unit
);

struct Attention;

fn dims_of(q: &Layout, k: &Layout, v: &Layout) -> Result<Dims> {
    let (qd, kd, vd) = (q.dims(), k.dims(), v.dims());
    if qd.len() != 4 || kd != vd || kd.len() != 4 || qd[0] != kd[0] || qd[2] != kd[2] || qd[3] != kd[3] {
        bail!("fused-attention: expected q [b, n, h, d] and k, v [b, m, h, d], got {qd:?}, {kd:?}, {vd:?}")
    }
    Ok(Dims {
        b: qd[0],
        n: qd[1],
        m: kd[1],
        h: qd[2],
        d: qd[3],
    })
}

impl CustomOp3 for Attention {
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
        let dims = dims_of(ql, kl, vl)?;
        let (q, k, v) = (
            slice(qs, ql, self.name())?,
            slice(ks, kl, self.name())?,
            slice(vs, vl, self.name())?,
        );
        let row = dims.h * dims.d;
        let mut out = vec![0f32; q.len()];
        // Rows per task: enough work (~64k multiply-adds) to amortise scheduling.
        let rows_per_task = (65_536 / (dims.m * row).max(1)).clamp(1, dims.n.max(1));
        out.par_chunks_mut(rows_per_task * row)
            .enumerate()
            .for_each(|(t, chunk)| fwd_rows_mv(q, k, v, dims, t * rows_per_task, chunk));
        Ok((CpuStorage::F32(out), ql.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (want_q, want_k, want_v) = (q.track_op(), k.track_op(), v.track_op());
        if !(want_q || want_k || want_v) {
            return Ok((None, None, None));
        }
        let grad = grad.contiguous()?;
        let dims = dims_of(q.layout(), k.layout(), v.layout())?;
        let name = self.name();
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (os, ol) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (qd, kd, vd) = (data(&qs, ql, name)?, data(&ks, kl, name)?, data(&vs, vl, name)?);
        let (od, gd) = (data(&os, ol, name)?, data(&gs, gl, name)?);
        let units: Vec<UnitGrads> = (0..dims.b * dims.h)
            .into_par_iter()
            .map(|unit| {
                let mut u = UnitGrads {
                    dq: vec![0f32; dims.n * dims.d],
                    dk: vec![0f32; dims.m * dims.d],
                    dv: vec![0f32; dims.m * dims.d],
                };
                bwd_unit_mv(qd, kd, vd, od, gd, dims, unit, &mut u);
                u
            })
            .collect();
        let scatter = |rows: usize, pick: fn(&UnitGrads) -> &[f32]| -> Vec<f32> {
            let (h, d) = (dims.h, dims.d);
            let mut full = vec![0f32; dims.b * rows * h * d];
            for (unit, u) in units.iter().enumerate() {
                let (b, head) = (unit / h, unit % h);
                for (i, src) in pick(u).chunks_exact(d).enumerate() {
                    let off = ((b * rows + i) * h + head) * d;
                    full[off..off + d].copy_from_slice(src);
                }
            }
            full
        };
        let dq = want_q
            .then(|| Tensor::from_vec(scatter(dims.n, |u| &u.dq), q.shape(), q.device()))
            .transpose()?;
        let dk = want_k
            .then(|| Tensor::from_vec(scatter(dims.m, |u| &u.dk), k.shape(), k.device()))
            .transpose()?;
        let dv = want_v
            .then(|| Tensor::from_vec(scatter(dims.m, |u| &u.dv), v.shape(), v.device()))
            .transpose()?;
        Ok((dq, dk, dv))
    }
}

/// softmax(q k^T / sqrt(d)) v for q `[b, n, h, d]`, k and v `[b, m, h, d]`
/// (f32, CPU); returns `[b, n, h, d]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Attention)
}
