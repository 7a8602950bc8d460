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
//!
//! Two variants fold a neighbour into the layer, so that neither its tensor
//! nor its graph node exists (candle keeps every node's tensor until the end
//! of backward, and spends a zero tensor and an add on each node's gradient):
//! - [`gelu_linear`]: GELU(x) W^T + b, the MLP's second layer with the
//!   activation in front; backward recomputes GELU(x) for dW and applies
//!   GELU'(x) to dx.
//! - [`linear_residual`]: r + x W^T (a bias-free projection added to a
//!   residual stream, e.g. the pose injection); dr = g.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::gelu::{erf_bwd_mv, erf_fwd_mv};
use super::matmul::{gemm, Mat, MatMut};
use super::simd::multiversion;
use super::{data, slice, CHUNK};

/// What the op's third input is.
#[derive(Clone, Copy, PartialEq)]
enum Third {
    /// None (a two-input op).
    Nothing,
    /// A bias `[n]`.
    Bias,
    /// A residual `[..., n]` of the output's shape.
    Residual,
}

/// x W^T (+ third), with GELU applied to x first when `gelu_input`.
#[derive(Clone, Copy)]
struct Linear {
    gelu_input: bool,
    third: Third,
}

const NAME: &str = "fused-linear";

/// Rows m, output width n, input width k of x `[..., k]` (m rows in all), W `[n, k]`.
fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    let (xd, wd) = (x.dims(), w.dims());
    match (xd.split_last(), wd) {
        (Some((&k, lead)), &[n, k2]) if k == k2 => Ok((lead.iter().product(), n, k)),
        _ => bail!("{NAME}: expected x [..., k] and weight [n, k], got {xd:?}, {wd:?}"),
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

/// GELU (erf form) of `x`, split across cores like the GELU kernel.
fn gelu_of(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| erf_fwd_mv(x, y));
    y
}

impl Linear {
    fn forward(&self, x: &[f32], w: &[f32], third: Option<&[f32]>, (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        let mut y = match (self.third, third) {
            (Third::Bias, Some(b)) => b.repeat(m),
            (Third::Residual, Some(r)) => r.to_vec(),
            _ => vec![0f32; m * n],
        };
        let gelu = self.gelu_input.then(|| gelu_of(x));
        let x = gelu.as_deref().unwrap_or(x);
        // SAFETY: y is [m, n], x [m, k] and W^T a [k, n] view of W [n, k], all in bounds.
        unsafe {
            gemm(
                (m, n, k),
                MatMut::rows(&mut y, n),
                self.third != Third::Nothing,
                Mat::rows(x, k),
                Mat::rows(w, k).t(),
                1.0,
                threads(),
            )
        };
        y
    }

    fn check_third(&self, l: &Layout, xl: &Layout, n: usize) -> Result<()> {
        let ok = match self.third {
            Third::Nothing => true,
            Third::Bias => l.dims() == [n],
            Third::Residual => l.shape() == &out_shape(xl, n),
        };
        if !ok {
            bail!(
                "{NAME}: third input {:?} does not fit x {:?} and {n} outputs",
                l.dims(),
                xl.dims()
            )
        }
        Ok(())
    }

    /// The wanted gradients of x, W and the third input for `grad` `[..., n]`.
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        third: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let want_third = third.is_some_and(|t| t.track_op());
        let (want_x, want_w) = (x.track_op(), w.track_op());
        if !(want_x || want_w || want_third) {
            return Ok((None, None, None));
        }
        let grad = grad.contiguous()?;
        let (m, n, k) = dims(x.layout(), w.layout())?;
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (xd, wd, gd) = (data(&xs, xl, NAME)?, data(&ws, wl, NAME)?, data(&gs, gl, NAME)?);
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
                if self.gelu_input {
                    // d/dx of GELU(x): dx = (g W) * GELU'(x).
                    let mut out = vec![0f32; m * k];
                    out.par_chunks_mut(CHUNK)
                        .zip(xd.par_chunks(CHUNK).zip(dx.par_chunks(CHUNK)))
                        .for_each(|(o, (x, g))| erf_bwd_mv(x, g, o));
                    dx = out;
                }
                Tensor::from_vec(dx, x.shape(), x.device())
            })
            .transpose()?;
        let dw = want_w
            .then(|| {
                let gelu = self.gelu_input.then(|| gelu_of(xd));
                let xe = gelu.as_deref().unwrap_or(xd);
                let mut dw = vec![0f32; n * k];
                // SAFETY: dW [n, k] = g^T [n, m] x [m, k], all in bounds.
                unsafe {
                    gemm(
                        (n, k, m),
                        MatMut::rows(&mut dw, k),
                        false,
                        Mat::rows(gd, n).t(),
                        Mat::rows(xe, k),
                        1.0,
                        threads(),
                    )
                };
                Tensor::from_vec(dw, w.shape(), w.device())
            })
            .transpose()?;
        let d_third = match third.filter(|_| want_third) {
            Some(b) if self.third == Third::Bias => {
                let mut db = vec![0f32; n];
                column_sums_mv(gd, n, &mut db);
                Some(Tensor::from_vec(db, b.shape(), b.device())?)
            }
            Some(_) => Some(grad.clone()),
            None => None,
        };
        Ok((dx, dw, d_third))
    }
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

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, ws: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims(xl, wl)?;
        let (x, w) = (slice(xs, xl, NAME)?, slice(ws, wl, NAME)?);
        Ok((CpuStorage::F32(self.forward(x, w, None, dims)), out_shape(xl, dims.1)))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.backward(x, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = dims(xl, wl)?;
        self.check_third(tl, xl, dims.1)?;
        let (x, w, t) = (slice(xs, xl, NAME)?, slice(ws, wl, NAME)?, slice(ts, tl, NAME)?);
        Ok((
            CpuStorage::F32(self.forward(x, w, Some(t), dims)),
            out_shape(xl, dims.1),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.backward(x, w, Some(t), grad)
    }
}

fn apply(x: &Tensor, w: &Tensor, third: Option<&Tensor>, op: Linear) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match third {
        Some(t) => x.apply_op3(&w, &t.contiguous()?, op),
        None => x.apply_op2(
            &w,
            Linear {
                third: Third::Nothing,
                ..op
            },
        ),
    }
}

/// x W^T + b for x `[..., k]`, W `[n, k]`, b `[n]` (f32, CPU); returns
/// `[..., n]`. Any rank without reshapes: each reshape would be one more
/// graph node.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let op = Linear {
        gelu_input: false,
        third: Third::Bias,
    };
    apply(x, w, b, op)
}

/// GELU(x) W^T + b (erf GELU, as candle's `gelu_erf`), shapes as [`linear`].
pub fn gelu_linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let op = Linear {
        gelu_input: true,
        third: Third::Bias,
    };
    apply(x, w, b, op)
}

/// r + x W^T for x `[..., k]`, W `[n, k]` and r `[..., n]` (f32, CPU).
pub fn linear_residual(x: &Tensor, w: &Tensor, r: &Tensor) -> Result<Tensor> {
    let op = Linear {
        gelu_input: false,
        third: Third::Residual,
    };
    apply(x, w, Some(r), op)
}
