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
//! Work is split by (batch, head) unit; each unit gathers its keys and values
//! transposed (`[d, m]`) so inner loops run over the keys, contiguous.
//!
//! Backward per query row i, with p = softmax(s), s_j = q_i . k_j / sqrt(d):
//!   dv_j += p_j do_i;  dp_j = do_i . v_j;  D_i = do_i . o_i
//!   ds_j = p_j (dp_j - D_i);  dq_i = sum_j ds_j k_j / sqrt(d);  dk_j += ds_j q_i / sqrt(d)

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, multiversion};
use super::{data, min_len, slice};

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

/// One (batch, head) unit's keys and values, gathered transposed (`[d, m]`)
/// so every inner loop runs over the m keys, contiguous and vectorisable.
struct UnitKv {
    kt: Vec<f32>,
    vt: Vec<f32>,
}

#[inline(always)]
fn gather_t(x: &[f32], dims: Dims, b: usize, head: usize) -> Vec<f32> {
    let (m, h, d) = (dims.m, dims.h, dims.d);
    let mut t = vec![0f32; d * m];
    for j in 0..m {
        let off = ((b * m + j) * h + head) * d;
        for (dd, &val) in x[off..off + d].iter().enumerate() {
            t[dd * m + j] = val;
        }
    }
    t
}

/// Probabilities of query row `q_row` against all keys, into `p` (length m).
#[inline(always)]
fn row_probs(q_row: &[f32], kt: &[f32], scale: f32, p: &mut [f32]) {
    let m = p.len();
    p.fill(0.0);
    for (dd, &qv) in q_row.iter().enumerate() {
        axpy(qv * scale, &kt[dd * m..(dd + 1) * m], p);
    }
    let max = p.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
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

/// Forward of one unit: its output rows `[n, d]`.
#[inline(always)]
fn fwd_unit(q: &[f32], kv: &UnitKv, dims: Dims, unit: usize, out: &mut [f32]) {
    let (n, m, h, d) = (dims.n, dims.m, dims.h, dims.d);
    let (b, head) = (unit / h, unit % h);
    let mut p = vec![0f32; m];
    for i in 0..n {
        let off = ((b * n + i) * h + head) * d;
        row_probs(&q[off..off + d], &kv.kt, dims.scale(), &mut p);
        for dd in 0..d {
            out[i * d + dd] = dot(&p, &kv.vt[dd * m..(dd + 1) * m]);
        }
    }
}

multiversion!(fn fwd_unit_mv(q: &[f32], kv: &UnitKv, dims: Dims, unit: usize, out: &mut [f32]) => fwd_unit);

/// Gradients of one (batch, head) unit: dq `[n, d]`, dk and dv transposed `[d, m]`.
struct UnitGrads {
    dq: Vec<f32>,
    dkt: Vec<f32>,
    dvt: Vec<f32>,
}

#[inline(always)]
fn bwd_unit(q: &[f32], o: &[f32], g: &[f32], kv: &UnitKv, dims: Dims, unit: usize, out: &mut UnitGrads) {
    let (n, m, h, d) = (dims.n, dims.m, dims.h, dims.d);
    let (b, head) = (unit / h, unit % h);
    let scale = dims.scale();
    let mut p = vec![0f32; m];
    let mut ds = vec![0f32; m];
    for i in 0..n {
        let off = ((b * n + i) * h + head) * d;
        let (q_row, g_row) = (&q[off..off + d], &g[off..off + d]);
        row_probs(q_row, &kv.kt, scale, &mut p);
        // dp = g_i V^T, accumulated over d into ds.
        ds.fill(0.0);
        for (dd, &gv) in g_row.iter().enumerate() {
            axpy(gv, &kv.vt[dd * m..(dd + 1) * m], &mut ds);
        }
        let big_d = dot(g_row, &o[off..off + d]);
        for (dsj, &pj) in ds.iter_mut().zip(&p) {
            *dsj = pj * (*dsj - big_d) * scale;
        }
        for dd in 0..d {
            out.dq[i * d + dd] = dot(&ds, &kv.kt[dd * m..(dd + 1) * m]);
            axpy(g_row[dd], &p, &mut out.dvt[dd * m..(dd + 1) * m]);
            axpy(q_row[dd], &ds, &mut out.dkt[dd * m..(dd + 1) * m]);
        }
    }
}

multiversion!(fn bwd_unit_mv(q: &[f32], o: &[f32], g: &[f32], kv: &UnitKv, dims: Dims, unit: usize, out: &mut UnitGrads) => bwd_unit);

/// Writes per-unit rows (`[rows, d]`, or `[d, rows]` when `transposed`) into a full `[b, rows, h, d]` tensor.
fn scatter(parts: &[&[f32]], dims: Dims, rows: usize, transposed: bool) -> Vec<f32> {
    let (h, d) = (dims.h, dims.d);
    let mut full = vec![0f32; dims.b * rows * h * d];
    for (unit, part) in parts.iter().enumerate() {
        let (b, head) = (unit / h, unit % h);
        for i in 0..rows {
            let off = ((b * rows + i) * h + head) * d;
            for dd in 0..d {
                full[off + dd] = if transposed {
                    part[dd * rows + i]
                } else {
                    part[i * d + dd]
                };
            }
        }
    }
    full
}

fn gather_units(k: &[f32], v: &[f32], dims: Dims) -> Vec<UnitKv> {
    (0..dims.b * dims.h)
        .into_par_iter()
        .with_min_len(min_len(2 * dims.m * dims.d))
        .map(|u| UnitKv {
            kt: gather_t(k, dims, u / dims.h, u % dims.h),
            vt: gather_t(v, dims, u / dims.h, u % dims.h),
        })
        .collect()
}

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
        let kv = gather_units(k, v, dims);
        let units: Vec<Vec<f32>> = (0..dims.b * dims.h)
            .into_par_iter()
            .map(|u| {
                let mut o = vec![0f32; dims.n * dims.d];
                fwd_unit_mv(q, &kv[u], dims, u, &mut o);
                o
            })
            .collect();
        let parts: Vec<&[f32]> = units.iter().map(|u| u.as_slice()).collect();
        let out = scatter(&parts, dims, dims.n, false);
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
        let kv = gather_units(kd, vd, dims);
        let units: Vec<UnitGrads> = (0..dims.b * dims.h)
            .into_par_iter()
            .map(|unit| {
                let mut u = UnitGrads {
                    dq: vec![0f32; dims.n * dims.d],
                    dkt: vec![0f32; dims.m * dims.d],
                    dvt: vec![0f32; dims.m * dims.d],
                };
                bwd_unit_mv(qd, od, gd, &kv[unit], dims, unit, &mut u);
                u
            })
            .collect();
        let grads = |rows: usize, transposed: bool, pick: fn(&UnitGrads) -> &[f32]| {
            let parts: Vec<&[f32]> = units.iter().map(pick).collect();
            scatter(&parts, dims, rows, transposed)
        };
        let dq = want_q
            .then(|| Tensor::from_vec(grads(dims.n, false, |u| &u.dq), q.shape(), q.device()))
            .transpose()?;
        let dk = want_k
            .then(|| Tensor::from_vec(grads(dims.m, true, |u| &u.dkt), k.shape(), k.device()))
            .transpose()?;
        let dv = want_v
            .then(|| Tensor::from_vec(grads(dims.m, true, |u| &u.dvt), v.shape(), v.device()))
            .transpose()?;
        Ok((dq, dk, dv))
    }
}

/// softmax(q k^T / sqrt(d)) v for q `[b, n, h, d]`, k and v `[b, m, h, d]`
/// (f32, CPU); returns `[b, n, h, d]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Attention)
}
