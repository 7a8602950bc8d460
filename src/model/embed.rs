//! Patch embedding with fixed 2-D sin-cos positions, the timestep embedding,
//! and (un)patchify (DiT, Peebles & Xie 2023, §3.2).

use candle_core::{Result, Tensor};

use super::layers::Linear;
use super::ops;
use super::params::{Init, ParamBuilder};

/// `[n, c, H, W]` -> `[n, (H/p)(W/p), c p p]`, patches in row-major order.
pub fn patchify(x: &Tensor, p: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h / p, p, w / p, p))?
        .permute((0, 2, 4, 1, 3, 5))?
        .reshape((n, (h / p) * (w / p), c * p * p))
}

/// Inverse of [`patchify`]: `[n, g*g, c p p]` -> `[n, c, g p, g p]`.
pub fn unpatchify(x: &Tensor, p: usize, c: usize) -> Result<Tensor> {
    let (n, tokens, _) = x.dims3()?;
    let g = (tokens as f64).sqrt() as usize;
    x.reshape((n, g, g, c, p, p))?
        .permute((0, 3, 1, 4, 2, 5))?
        .reshape((n, c, g * p, g * p))
}

/// Fixed 2-D sin-cos position table `[g*g, dim]`: half the width encodes the
/// row, half the column (MAE / DiT `get_2d_sincos_pos_embed`).
pub fn pos_2d(grid: usize, dim: usize, device: &candle_core::Device) -> Result<Tensor> {
    let rows: Vec<f32> = (0..grid * grid).map(|i| (i / grid) as f32).collect();
    let cols: Vec<f32> = (0..grid * grid).map(|i| (i % grid) as f32).collect();
    let r = ops::sinusoidal(&Tensor::new(rows, device)?, dim / 2)?;
    let c = ops::sinusoidal(&Tensor::new(cols, device)?, dim - dim / 2)?;
    Tensor::cat(&[r, c], 1)
}

/// Linear patch embedding plus fixed positions.
#[derive(Debug, Clone)]
pub struct PatchEmbed {
    proj: Linear,
    pos: Tensor,
    patch: usize,
}

impl PatchEmbed {
    /// Builds `pb.proj` for `patch`-sized patches of 3-channel frames of side `size`.
    pub fn new(pb: &ParamBuilder, size: usize, patch: usize, dim: usize, frozen_op: bool) -> Result<Self> {
        Ok(Self {
            proj: Linear::new(
                &pb.pp("proj"),
                3 * patch * patch,
                dim,
                Init::XavierUniform,
                true,
                frozen_op,
            )?,
            pos: pos_2d(size / patch, dim, pb.device())?,
            patch,
        })
    }

    /// Frames `[n, 3, H, W]` -> tokens `[n, N, d]`.
    pub fn forward(&self, x: &Tensor, trainable: bool) -> Result<Tensor> {
        self.proj
            .forward(&patchify(x, self.patch)?, trainable)?
            .broadcast_add(&self.pos)
    }
}

/// Sinusoidal timestep features through a 2-layer SiLU MLP: tau -> c `[b, d]`.
#[derive(Debug, Clone)]
pub struct TimeEmbed {
    fc1: Linear,
    fc2: Linear,
    dim: usize,
}

impl TimeEmbed {
    /// Builds `pb.fc1`, `pb.fc2`.
    pub fn new(pb: &ParamBuilder, dim: usize, frozen_op: bool) -> Result<Self> {
        Ok(Self {
            fc1: Linear::new(&pb.pp("fc1"), dim, dim, Init::Normal(0.02), true, frozen_op)?,
            fc2: Linear::new(&pb.pp("fc2"), dim, dim, Init::Normal(0.02), true, frozen_op)?,
            dim,
        })
    }

    /// Timesteps (one per sample) -> `[b, d]`.
    pub fn forward(&self, timesteps: &[usize], trainable: bool, device: &candle_core::Device) -> Result<Tensor> {
        let t: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
        let feats = ops::sinusoidal(&Tensor::new(t, device)?, self.dim)?;
        self.fc2
            .forward(&ops::silu(&self.fc1.forward(&feats, trainable)?)?, trainable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn unpatchify_inverts_patchify() {
        let x = Tensor::arange(0f32, 2. * 3. * 8. * 8., &Device::Cpu)
            .unwrap()
            .reshape((2, 3, 8, 8))
            .unwrap();
        let p = patchify(&x, 4).unwrap();
        assert_eq!(p.dims(), &[2, 4, 48]);
        let back = unpatchify(&p, 4, 3).unwrap();
        let d = back
            .sub(&x)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
    }
}
