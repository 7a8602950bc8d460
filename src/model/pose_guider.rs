//! Pose guider: a small conv stack on the pose map whose features are injected
//! into every spatial block through that block's own zero-initialised
//! projection (`spatial.NN.pose_proj`), instead of once at the input. So the
//! pose condition reaches each block directly, and a stage that trains only
//! the output-side blocks need not backpropagate to the input (docs/design.md,
//! second prototype round; cf. AnimateAnyone's pose guider).

use candle_core::{Result, Tensor};

use super::embed::patchify;
use super::layers::Linear;
use super::ops;
use super::params::{Init, ParamBuilder};

/// conv3x3(3 -> hidden) -> SiLU -> per-patch linear(hidden p^2 -> pose_dim) -> SiLU.
#[derive(Debug, Clone)]
pub struct PoseGuider {
    conv_w: super::params::Param,
    conv_b: super::params::Param,
    proj: Linear,
    patch: usize,
}

impl PoseGuider {
    /// Builds `pb.conv.{weight,bias}` and `pb.proj`.
    pub fn new(pb: &ParamBuilder, patch: usize, hidden: usize, pose_dim: usize, frozen_op: bool) -> Result<Self> {
        let conv = pb.pp("conv");
        Ok(Self {
            conv_w: conv.get((hidden, 3, 3, 3), "weight", Init::XavierUniform)?,
            conv_b: conv.get(hidden, "bias", Init::Zeros)?,
            proj: Linear::new(
                &pb.pp("proj"),
                hidden * patch * patch,
                pose_dim,
                Init::XavierUniform,
                true,
                frozen_op,
            )?,
            patch,
        })
    }

    /// Pose maps `[n, 3, H, W]` -> pose tokens `[n, N, pose_dim]`.
    pub fn forward(&self, pose: &Tensor, trainable: bool) -> Result<Tensor> {
        let h = pose.conv2d(&self.conv_w.get(trainable), 1, 1, 1, 1)?;
        let h = ops::silu(&h.broadcast_add(&self.conv_b.get(trainable).reshape((1, (), 1, 1))?)?)?;
        ops::silu(&self.proj.forward(&patchify(&h, self.patch)?, trainable)?)
    }
}
