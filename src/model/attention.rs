//! Multi-head attention with a fused qkv projection, used by spatial,
//! temporal and reference blocks.

use candle_core::{Result, Tensor};

use super::layers::Linear;
use super::ops::{self, Kernels};
use super::params::{Init, ParamBuilder};

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
            qkv: Linear::new(&pb.pp("qkv"), dim, 3 * dim, Init::XavierUniform, true, frozen_op)?,
            out: Linear::new(&pb.pp("out"), dim, dim, out_init, true, frozen_op)?,
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

    /// Merges heads `[b, n, h, dh]` -> `[b, n, d]` and applies the output projection.
    pub fn project_out(&self, o: &Tensor, trainable: bool) -> Result<Tensor> {
        let (b, n, h, dh) = o.dims4()?;
        let o = o.contiguous()?.reshape((b, n, h * dh))?;
        self.out.forward(&o, trainable)
    }

    /// The kernel choice this layer was built with.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Self-attention over the tokens of x `[b, n, d]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let Qkv { q, k, v } = self.qkv(x, trainable)?;
        self.project_out(&ops::attention(&q, &k, &v, self.kernels)?, trainable)
    }
}
