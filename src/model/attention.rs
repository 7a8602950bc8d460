//! Multi-head attention with a fused qkv projection, used by spatial,
//! temporal and reference blocks.

use candle_core::{Result, Tensor};

use super::layers::Linear;
use super::ops;
use super::params::{Init, ParamBuilder};

/// `qkv [3d, d]` and `out [d, d]` projections over `heads` heads.
#[derive(Debug, Clone)]
pub struct Attention {
    qkv: Linear,
    out: Linear,
    heads: usize,
}

/// Query, key and value, each `[b, h, n, dh]`.
pub struct Qkv {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
}

impl Attention {
    /// Builds `pb.qkv` and `pb.out`; `zero_out` starts the output projection
    /// at zero so the block begins as the identity.
    pub fn new(pb: &ParamBuilder, dim: usize, heads: usize, zero_out: bool, frozen_op: bool) -> Result<Self> {
        let out_init = if zero_out { Init::Zeros } else { Init::XavierUniform };
        Ok(Self {
            qkv: Linear::new(&pb.pp("qkv"), dim, 3 * dim, Init::XavierUniform, true, frozen_op)?,
            out: Linear::new(&pb.pp("out"), dim, dim, out_init, true, frozen_op)?,
            heads,
        })
    }

    /// Projects x `[b, n, d]` into heads.
    pub fn qkv(&self, x: &Tensor, trainable: bool) -> Result<Qkv> {
        let (b, n, d) = x.dims3()?;
        let qkv = self.qkv.forward(x, trainable)?; // [b, n, 3d]
        let qkv = qkv
            .reshape((b, n, 3, self.heads, d / self.heads))?
            .permute((2, 0, 3, 1, 4))?; // [3, b, h, n, dh]
        Ok(Qkv {
            q: qkv.get(0)?,
            k: qkv.get(1)?,
            v: qkv.get(2)?,
        })
    }

    /// Merges heads `[b, h, n, dh]` -> `[b, n, d]` and applies the output projection.
    pub fn project_out(&self, o: &Tensor, trainable: bool) -> Result<Tensor> {
        let (b, h, n, dh) = o.dims4()?;
        let o = o.transpose(1, 2)?.reshape((b, n, h * dh))?;
        self.out.forward(&o, trainable)
    }

    /// Self-attention over the tokens of x `[b, n, d]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let Qkv { q, k, v } = self.qkv(x, trainable)?;
        self.project_out(&ops::attention(&q, &k, &v)?, trainable)
    }
}
