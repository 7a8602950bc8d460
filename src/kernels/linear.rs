//! The linear layer y = x W^T + b as one op: the bias is the GEMM's starting
//! value instead of a broadcast add over the whole output, and backward
//! computes only the gradients that are wanted, each with one GEMM:
//!
//!   dx = g W,   dW = g^T x,   db = sum over rows of g
//!
//! candle's composition (`x.broadcast_matmul(&w.t()) + b`) instead keeps the
//! bias-free product alive for the add's backward, reduces the broadcast
//! weight gradient over the batch with a strided sum, and sums the bias
//! gradient the same slow way; a detached (frozen) weight gets no gradient
//! here, as with `model/frozen_linear.rs`.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::matmul::{gemm, Mat, MatMut};
use super::simd::multiversion;
use super::{data, slice};

/// Rows m, output width n, input width k of x `[..., k]` (m rows in all), W `[n, k]`.
fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    let (xd, wd) = (x.dims(), w.dims());
    match (xd.split_last(), wd) {
        (Some((&k, lead)), &[n, k2]) if k == k2 => Ok((lead.iter().product(), n, k)),
        _ => bail!("fused-linear: expected x [..., k] and weight [n, k], got {xd:?}, {wd:?}"),
    }
}

/// `[..., n]` for x `[..., k]`.
fn out_shape(x: &Layout, n: usize) -> Shape {
    let mut dims = x.dims().to_vec();
    *dims.last_mut().expect("checked by `dims`") = n;
    Shape::from(dims)
}

fn threads() -> usize {
    rayon::current_num_threads()
}

fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, (m, n, k): (usize, usize, usize)) -> Vec<f32> {
    let mut y = match b {
        Some(b) => b.repeat(m),
        None => vec![0f32; m * n],
    };
    // SAFETY: y is [m, n], x [m, k] and W^T a [k, n] view of W [n, k], all in bounds.
    unsafe {
        gemm(
            (m, n, k),
            MatMut::rows(&mut y, n),
            b.is_some(),
            Mat::rows(x, k),
            Mat::rows(w, k).t(),
            1.0,
            threads(),
        )
    };
    y
}

#[inline(always)]
fn column_sums(g: &[f32], n: usize, out: &mut [f32]) {
    for row in g.chunks_exact(n) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

multiversion!(fn column_sums_mv(g: &[f32], n: usize, out: &mut [f32]) => column_sums);

/// The wanted gradients of x, W and b for the incoming gradient `grad` `[m, n]`.
fn backward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    grad: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let name = "fused-linear";
    let want_b = b.is_some_and(|b| b.track_op());
    let (want_x, want_w) = (x.track_op(), w.track_op());
    if !(want_x || want_w || want_b) {
        return Ok((None, None, None));
    }
    let grad = grad.contiguous()?;
    let (m, n, k) = dims(x.layout(), w.layout())?;
    let (xs, xl) = x.storage_and_layout();
    let (ws, wl) = w.storage_and_layout();
    let (gs, gl) = grad.storage_and_layout();
    let (xd, wd, gd) = (data(&xs, xl, name)?, data(&ws, wl, name)?, data(&gs, gl, name)?);
    let dx = want_x
        .then(|| {
            let mut dx = vec![0f32; m * k];
            // SAFETY: dx [m, k] = g [m, n] W [n, k], all in bounds.
            unsafe {
                gemm(
                    (m, k, n),
                    MatMut::rows(&mut dx, k),
                    false,
                    Mat::rows(gd, n),
                    Mat::rows(wd, k),
                    1.0,
                    threads(),
                )
            };
            Tensor::from_vec(dx, x.shape(), x.device())
        })
        .transpose()?;
    let dw = want_w
        .then(|| {
            let mut dw = vec![0f32; n * k];
            // SAFETY: dW [n, k] = g^T [n, m] x [m, k], all in bounds.
            unsafe {
                gemm(
                    (n, k, m),
                    MatMut::rows(&mut dw, k),
                    false,
                    Mat::rows(gd, n).t(),
                    Mat::rows(xd, k),
                    1.0,
                    threads(),
                )
            };
            Tensor::from_vec(dw, w.shape(), w.device())
        })
        .transpose()?;
    let db = match b.filter(|_| want_b) {
        Some(b) => {
            let mut db = vec![0f32; n];
            column_sums_mv(gd, n, &mut db);
            Some(Tensor::from_vec(db, b.shape(), b.device())?)
        }
        None => None,
    };
    Ok((dx, dw, db))
}

struct Linear;

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, ws: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims(xl, wl)?;
        let name = CustomOp2::name(self);
        let (x, w) = (slice(xs, xl, name)?, slice(ws, wl, name)?);
        Ok((CpuStorage::F32(forward(x, w, None, dims)), out_shape(xl, dims.1)))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = backward(x, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = dims(xl, wl)?;
        if bl.dims() != [dims.1] {
            bail!(
                "fused-linear: bias {:?} does not match weight {:?}",
                bl.dims(),
                wl.dims()
            )
        }
        let name = CustomOp3::name(self);
        let (x, w, b) = (slice(xs, xl, name)?, slice(ws, wl, name)?, slice(bs, bl, name)?);
        Ok((CpuStorage::F32(forward(x, w, Some(b), dims)), out_shape(xl, dims.1)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        backward(x, w, Some(b), grad)
    }
}

/// x W^T + b for x `[..., k]`, W `[n, k]`, b `[n]` (f32, CPU); returns
/// `[..., n]`. Any rank without reshapes: each reshape would be one more
/// graph node, and candle's backward spends a zero tensor and an add on
/// every node's gradient.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, Linear),
        None => x.apply_op2(&w, Linear),
    }
}
