//! Multi-head attention with a fused qkv projection, used by spatial,
//! temporal and reference blocks. With the fused kernels the heads are read
//! straight out of the packed `[b, n, 3, h, dh]` projection (no q, k, v
//! slices, whose backward candle pads with zeros and adds up).

use candle_core::{Result, Tensor};

use super::dit::repeat_frames;
use super::layers::Linear;
use super::ops::{self, Kernels};
use super::params::{Init, ParamBuilder};
use crate::kernels;

/// `qkv [3d, d]` and `out [d, d]` projections over `heads` heads.
#[derive(Debug, Clone)]
pub struct Attention {
    qkv: Linear,
    out: Linear,
    heads: usize,
    kernels: Kernels,
}

/// Query, key and value, each `[b, n, h, dh]` (token-major: no transpose copies).
pub struct Qkv {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
}

impl Attention {
    /// Builds `pb.qkv` and `pb.out`; `zero_out` starts the output projection
    /// at zero so the block begins as the identity.
    pub fn new(
        pb: &ParamBuilder,
        dim: usize,
        heads: usize,
        zero_out: bool,
        frozen_op: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let out_init = if zero_out { Init::Zeros } else { Init::XavierUniform };
        Ok(Self {
            qkv: Linear::new(&pb.pp("qkv"), dim, 3 * dim, Init::XavierUniform, true, frozen_op)?.with_kernels(kernels),
            out: Linear::new(&pb.pp("out"), dim, dim, out_init, true, frozen_op)?.with_kernels(kernels),
            heads,
            kernels,
        })
    }

    /// Projects x `[b, n, d]` into heads.
    pub fn qkv(&self, x: &Tensor, trainable: bool) -> Result<Qkv> {
        let (b, n, d) = x.dims3()?;
        let qkv = self.qkv.forward(x, trainable)?; // [b, n, 3d]
        let qkv = qkv.reshape((b, n, 3, self.heads, d / self.heads))?; // [b, n, 3, h, dh]
        let part = |i| qkv.narrow(2, i, 1)?.squeeze(2);
        Ok(Qkv {
            q: part(0)?,
            k: part(1)?,
            v: part(2)?,
        })
    }

    /// The output projection of merged heads `[b, n, d]`.
    pub fn project_out(&self, o: &Tensor, trainable: bool) -> Result<Tensor> {
        self.out.forward(o, trainable)
    }

    /// The kernel choice this layer was built with.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    fn fused(&self, x: &Tensor) -> bool {
        self.kernels == Kernels::Fused && x.device().is_cpu() && x.dtype() == candle_core::DType::F32
    }

    /// Self-attention of x `[b, n, d]`, heads merged `[b, n, d]`, plus,
    /// with `reference = (tokens, scale)`, the attention of the same queries
    /// over reference tokens `[b / frames, m, d]` (through the same
    /// projections; each clip's tokens serve its `frames` consecutive rows of
    /// x) times `scale` `[b, 1, 1, 1]`.
    pub fn attend(
        &self,
        x: &Tensor,
        reference: Option<(&Tensor, &Tensor)>,
        frames: usize,
        trainable: bool,
    ) -> Result<Tensor> {
        if !self.fused(x) {
            let Qkv { q, k, v } = self.qkv(x, trainable)?;
            let mut o = ops::attention(&q, &k, &v, self.kernels)?; // [b, n, h, dh]
            if let Some((tokens, scale)) = reference {
                let r = self.qkv(tokens, trainable)?;
                let (kr, vr) = (repeat_frames(&r.k, frames)?, repeat_frames(&r.v, frames)?);
                o = (o + ops::attention(&q, &kr, &vr, self.kernels)?.broadcast_mul(scale)?)?;
            }
            let (b, n, h, dh) = o.dims4()?;
            return o.contiguous()?.reshape((b, n, h * dh));
        }
        // Packed [b, n, 3 h dh] straight from the projection: no reshapes,
        // which would each cost a zero tensor and an add in candle's backward.
        let qkv = self.qkv.forward(x, trainable)?;
        match reference {
            None => kernels::self_attention_packed(&qkv, self.heads),
            Some((tokens, scale)) => {
                let kv = self.qkv.forward(tokens, trainable)?;
                kernels::self_and_reference_attention_packed(&qkv, &kv, &scale.flatten_all()?, self.heads)
            }
        }
    }

    /// Self-attention over the tokens of x `[b, n, d]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        self.project_out(&self.attend(x, None, 1, trainable)?, trainable)
    }
}
