//! Reference encoder (ReferenceNet's role, Hu et al. 2024 "Animate Anyone"):
//! the reference image is patch-embedded and run through a few transformer
//! blocks; every spatial block of the denoiser then attends to these tokens
//! with its own query, key and value projections (spatial attention whose
//! keys and values are extended with the reference tokens), through a
//! zero-initialised per-block gate (see `dit.rs`).

use candle_core::{Result, Tensor};

use super::attention::Attention;
use super::block::{BlockId, BlockKind};
use super::embed::PatchEmbed;
use super::layers::Mlp;
use super::ops;
use super::params::ParamBuilder;
use super::ModelConfig;

/// One pre-norm transformer block of the reference encoder.
#[derive(Debug, Clone)]
pub struct ReferenceBlock {
    /// Stable id `reference.NN`.
    pub id: BlockId,
    attn: Attention,
    mlp: Mlp,
    eps: f64,
}

impl ReferenceBlock {
    /// Builds block `reference.NN` under `pb`.
    pub fn new(pb: &ParamBuilder, index: usize, cfg: &ModelConfig) -> Result<Self> {
        let id = BlockId::new(BlockKind::Reference, index);
        let pb = pb.unit(&id.to_string());
        Ok(Self {
            id,
            attn: Attention::new(
                &pb.pp("attn"),
                cfg.dim,
                cfg.heads,
                false,
                cfg.frozen_linear_op,
                cfg.kernels,
            )?,
            mlp: Mlp::new(&pb.pp("mlp"), cfg.dim, cfg.mlp_ratio, cfg.frozen_linear_op, cfg.kernels)?,
            eps: cfg.norm_eps,
        })
    }

    /// x `[b, N, d]` -> `[b, N, d]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let k = self.attn.kernels();
        let x = ops::residual(x, &self.attn.forward(&ops::norm(x, self.eps, k)?, trainable)?, k)?;
        ops::residual(&x, &self.mlp.forward(&ops::norm(&x, self.eps, k)?, trainable)?, k)
    }
}

/// Patch embedding (unit `reference.embed`) followed by the reference blocks.
#[derive(Debug, Clone)]
pub struct ReferenceEncoder {
    /// Unit `reference.embed`.
    pub embed: PatchEmbed,
    /// Units `reference.00` ...
    pub blocks: Vec<ReferenceBlock>,
}

impl ReferenceEncoder {
    /// Builds `reference.embed` and `reference.NN` under the model's root builder.
    pub fn new(root: &ParamBuilder, cfg: &ModelConfig) -> Result<Self> {
        let embed = PatchEmbed::new(
            &root.unit("reference.embed"),
            cfg.image_size,
            cfg.patch,
            cfg.dim,
            cfg.frozen_linear_op,
        )?;
        let blocks = (0..cfg.reference_depth)
            .map(|i| ReferenceBlock::new(root, i, cfg))
            .collect::<Result<_>>()?;
        Ok(Self { embed, blocks })
    }
}
