//! The candle op of self-attention plus gated reference attention in one:
//! both parts add into one output, and backward sums both parts' query
//! gradients and returns the gate's gradient.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::attention_backward::{backward_clip, GradPtrs};
use super::attention_forward::forward_batch;
use super::attention_ops::{CrossPacked, SelfPacked};
use super::attention_plan::{Dims, Inputs, Plan};
use super::{data, min_len, slice};

/// Self-attention of a packed qkv `[b, n, 3 h d]` plus its queries'
/// attention over a packed `[b / frames, m, 3 h d]` times `scale` `[b]`,
/// over `.0` heads.
pub(super) struct SelfAndReference(pub(super) usize);

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
