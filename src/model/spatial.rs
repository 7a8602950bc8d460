//! Unit `spatial.NN` of the denoiser: an adaLN-zero transformer block with
//! pose injection and reference-extended attention, and the per-frame
//! conditioning every spatial block of a forward pass reads.

use candle_core::{Result, Tensor};

use super::attention::Attention;
use super::block::{BlockId, BlockKind};
use super::layers::{Linear, Mlp};
use super::ops::{self, Kernels};
use super::params::{Init, Param, ParamBuilder};
use super::ModelConfig;

/// Per-frame conditioning shared by all spatial blocks of one forward pass.
#[derive(Clone)]
pub(super) struct Conditioning {
    /// Time embedding repeated per frame `[b t, d]`.
    pub(super) c: Tensor,
    /// Pose tokens `[b t, N, pose_dim]` (already zeroed for dropped clips).
    pub(super) pose: Option<Tensor>,
    /// Reference tokens `[b, N, d]` and the per-frame keep mask `[b t, 1, 1, 1]`.
    pub(super) reference: Option<(Tensor, Tensor)>,
    /// Frames per clip.
    pub(super) t: usize,
}

/// Unit `spatial.NN`: adaLN-zero transformer block with pose injection and
/// reference-extended attention.
#[derive(Debug, Clone)]
pub struct SpatialBlock {
    /// Stable id.
    pub id: BlockId,
    adaln: Linear,
    attn: Attention,
    mlp: Mlp,
    pose_proj: Linear,
    ref_gate: Param,
    eps: f64,
    kernels: Kernels,
}

impl SpatialBlock {
    pub(super) fn new(root: &ParamBuilder, index: usize, cfg: &ModelConfig) -> Result<Self> {
        let id = BlockId::new(BlockKind::Spatial, index);
        let pb = root.unit(&id.to_string());
        let fo = cfg.frozen_linear_op;
        Ok(Self {
            id,
            adaln: Linear::new(&pb.pp("adaln"), cfg.dim, 6 * cfg.dim, Init::Zeros, true, fo)?.with_kernels(cfg.kernels),
            attn: Attention::new(&pb.pp("attn"), cfg.dim, cfg.heads, false, fo, cfg.kernels)?,
            mlp: Mlp::new(&pb.pp("mlp"), cfg.dim, cfg.mlp_ratio, fo, cfg.kernels)?,
            // No bias: zero pose tokens (a dropped condition) then add exactly nothing.
            pose_proj: Linear::new(&pb.pp("pose_proj"), cfg.pose_dim, cfg.dim, Init::Zeros, false, fo)?
                .with_kernels(cfg.kernels),
            ref_gate: pb.get(1, "ref_gate", Init::Zeros)?,
            eps: cfg.norm_eps,
            kernels: cfg.kernels,
        })
    }

    /// x `[b t, N, d]` -> same.
    pub(super) fn forward(&self, x: &Tensor, cond: &Conditioning, tr: bool) -> Result<Tensor> {
        let mut x = x.clone();
        if let Some(pose) = &cond.pose {
            x = self.pose_proj.forward_residual(pose, &x, tr)?;
        }
        let m = self.adaln.forward(&ops::silu(&cond.c)?, tr)?.chunk(6, 1)?; // 6 x [b t, d]
        let kern = self.kernels;
        let m: Vec<Tensor> = m.into_iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
        let h = ops::modulated_norm(&x, &m[0], &m[1], self.eps, kern)?;
        // Reference tokens through this block's own projections, attended
        // separately and added through the gate: scale [b t, 1, 1, 1].
        let scale = match &cond.reference {
            Some((_, keep)) => Some(keep.broadcast_mul(&self.ref_gate.get(tr))?),
            None => None,
        };
        let reference = cond.reference.as_ref().map(|(tokens, _)| tokens).zip(scale.as_ref());
        let o = self.attn.attend(&h, reference, cond.t, tr)?; // [b t, N, d]
        let a = self.attn.project_out(&o, tr)?;
        let x = ops::gated_residual(&x, &a, &m[2], kern)?;
        let h = ops::modulated_norm(&x, &m[3], &m[4], self.eps, kern)?;
        ops::gated_residual(&x, &self.mlp.forward(&h, tr)?, &m[5], kern)
    }
}
