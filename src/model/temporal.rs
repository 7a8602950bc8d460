//! Temporal attention block (AnimateDiff-style motion module): attention
//! across frames at each token position, with fixed sin-cos frame positions,
//! and a zero-initialised output projection so that inserting it leaves the
//! image model unchanged. Images are one-frame clips and pass through it too.

use candle_core::{Result, Tensor};

use super::attention::Attention;
use super::block::{BlockId, BlockKind};
use super::ops;
use super::params::ParamBuilder;
use super::ModelConfig;

/// Unit `temporal.NN`: x + out(attn_t(LN(x) + pos_t)).
#[derive(Debug, Clone)]
pub struct TemporalBlock {
    /// Stable id `temporal.NN` (it follows `spatial.NN`).
    pub id: BlockId,
    attn: Attention,
    eps: f64,
    dim: usize,
}

impl TemporalBlock {
    /// Builds block `temporal.NN` under the root builder.
    pub fn new(root: &ParamBuilder, index: usize, cfg: &ModelConfig) -> Result<Self> {
        let id = BlockId::new(BlockKind::Temporal, index);
        let pb = root.unit(&id.to_string());
        Ok(Self {
            id,
            attn: Attention::new(
                &pb.pp("attn"),
                cfg.dim,
                cfg.heads,
                true,
                cfg.frozen_linear_op,
                cfg.kernels,
            )?,
            eps: cfg.norm_eps,
            dim: cfg.dim,
        })
    }

    /// x `[b t, N, d]` for clips of `t` frames -> same shape.
    pub fn forward(&self, x: &Tensor, t: usize, trainable: bool) -> Result<Tensor> {
        let (bt, n, d) = x.dims3()?;
        let b = bt / t;
        let frames = Tensor::arange(0u32, t as u32, x.device())?;
        let pos = ops::sinusoidal(&frames, self.dim)?; // [t, d]
        let pos = pos.unsqueeze(0)?.broadcast_as((b, t, d))?.reshape((bt, d))?; // per frame
        let k = self.attn.kernels();
        let h = ops::norm_shift(x, &pos, self.eps, k)?.reshape((b, t, n, d))?;
        let h = h.transpose(1, 2)?.reshape((b * n, t, d))?; // [b N, t, d]
        let y = self.attn.forward(&h, trainable)?; // [b N, t, d]
        let y = y.reshape((b, n, t, d))?.transpose(1, 2)?.reshape((bt, n, d))?;
        ops::residual(x, &y, k)
    }
}
