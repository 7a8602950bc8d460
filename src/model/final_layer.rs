//! Unit `final` of the denoiser: adaLN-zero norm and a zero-initialised
//! projection from tokens to patches.

use candle_core::{Result, Tensor};

use super::layers::Linear;
use super::ops::{self, Kernels};
use super::params::{Init, ParamBuilder};
use super::ModelConfig;

/// Unit `final`: adaLN-zero norm and a zero-initialised projection to patches.
#[derive(Debug, Clone)]
pub(super) struct FinalLayer {
    adaln: Linear,
    proj: Linear,
    eps: f64,
    kernels: Kernels,
}

impl FinalLayer {
    pub(super) fn new(pb: &ParamBuilder, cfg: &ModelConfig) -> Result<Self> {
        let fo = cfg.frozen_linear_op;
        Ok(Self {
            adaln: Linear::new(&pb.pp("adaln"), cfg.dim, 2 * cfg.dim, Init::Zeros, true, fo)?.with_kernels(cfg.kernels),
            proj: Linear::new(&pb.pp("proj"), cfg.dim, cfg.patch_dim(), Init::Zeros, true, fo)?
                .with_kernels(cfg.kernels),
            eps: cfg.norm_eps,
            kernels: cfg.kernels,
        })
    }

    pub(super) fn forward(&self, x: &Tensor, c: &Tensor, tr: bool) -> Result<Tensor> {
        let m = self.adaln.forward(&ops::silu(c)?, tr)?.chunk(2, 1)?;
        let (shift, scale) = (m[0].contiguous()?, m[1].contiguous()?);
        self.proj
            .forward(&ops::modulated_norm(x, &shift, &scale, self.eps, self.kernels)?, tr)
    }
}
