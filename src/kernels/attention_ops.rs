//! The candle ops of fused attention over separate q, k, v and over packed
//! qkv projections (self- and cross-attention): each turns its inputs'
//! layouts into a [`Plan`] and runs the shared forward and backward.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::attention_backward::grads_of;
use super::attention_forward::forward;
use super::attention_plan::{packed_dims, packed_view, Dims, Inputs, Plan, View};
use super::slice;

/// Self-attention of a packed qkv `[b, n, 3 h d]` over `.0` heads.
pub(super) struct SelfPacked(pub(super) usize);

impl SelfPacked {
    pub(super) fn plan(&self, l: &Layout) -> Result<Plan> {
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
pub(super) struct CrossPacked(pub(super) usize);

impl CrossPacked {
    pub(super) fn plan(&self, ql: &Layout, kvl: &Layout) -> Result<Plan> {
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

/// Separate q `[b, n, h, d]`, k and v `[b, m, h, d]`.
pub(super) struct Separate;

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
