//! The small layers every block is made of: a gated linear layer and the MLP.

use candle_core::{Result, Tensor};

use super::ops::{self, Kernels};
use super::params::{Init, Param, ParamBuilder};

/// A linear layer `weight [out, in]`, `bias [out]` (candle `linear.rs` layout).
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`.
    pub bias: Option<Param>,
    frozen_op: bool,
    kernels: Kernels,
}

impl Linear {
    /// Builds `pb.weight` and `pb.bias`; `init` applies to the weight, the bias starts at zero.
    pub fn new(
        pb: &ParamBuilder,
        fan_in: usize,
        fan_out: usize,
        init: Init,
        bias: bool,
        frozen_op: bool,
    ) -> Result<Self> {
        let weight = pb.get((fan_out, fan_in), "weight", init)?;
        let bias = if bias {
            Some(pb.get(fan_out, "bias", Init::Zeros)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            frozen_op,
            kernels: Kernels::Plain,
        })
    }

    /// The same layer computed with `kernels` (built layers start `Plain`:
    /// the candle composition).
    pub fn with_kernels(self, kernels: Kernels) -> Self {
        Self { kernels, ..self }
    }

    /// x `[..., in]` -> `[..., out]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.get(trainable));
        let w = self.weight.get(trainable);
        ops::linear(x, &w, b.as_ref(), trainable, self.frozen_op, self.kernels)
    }

    /// GELU(x) W^T + b: the layer with a GELU in front (never stored when fused).
    pub fn forward_gelu(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.get(trainable));
        let w = self.weight.get(trainable);
        ops::gelu_linear(x, &w, b.as_ref(), trainable, self.frozen_op, self.kernels)
    }

    /// r + (x W^T + b): the layer's output added to the residual stream r.
    pub fn forward_residual(&self, x: &Tensor, r: &Tensor, trainable: bool) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.get(trainable));
        let w = self.weight.get(trainable);
        ops::linear_residual(x, &w, b.as_ref(), r, trainable, self.frozen_op, self.kernels)
    }

    /// Input and output widths.
    pub fn dims(&self) -> (usize, usize) {
        let d = self.weight.var.dims();
        (d[1], d[0])
    }
}

/// fc1 -> GELU -> fc2, hidden width `ratio * dim`.
#[derive(Debug, Clone)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    kernels: Kernels,
}

impl Mlp {
    /// Builds `pb.fc1`, `pb.fc2`.
    pub fn new(pb: &ParamBuilder, dim: usize, ratio: usize, frozen_op: bool, kernels: Kernels) -> Result<Self> {
        let hidden = dim * ratio;
        Ok(Self {
            fc1: Linear::new(&pb.pp("fc1"), dim, hidden, Init::XavierUniform, true, frozen_op)?.with_kernels(kernels),
            fc2: Linear::new(&pb.pp("fc2"), hidden, dim, Init::XavierUniform, true, frozen_op)?.with_kernels(kernels),
            kernels,
        })
    }

    /// x `[..., dim]` -> `[..., dim]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        let h = self.fc1.forward(x, trainable)?;
        if self.kernels == Kernels::Plain {
            return self.fc2.forward(&ops::gelu(&h, self.kernels)?, trainable);
        }
        self.fc2.forward_gelu(&h, trainable)
    }
}
