//! A linear layer with a constant weight whose backward computes only the
//! input gradient.
//!
//! candle 0.11's `Op::Matmul` backward (`backprop.rs`) always computes both
//! operands' gradients, so `x.matmul(&w.t())` with a frozen `w` still spends
//! a second GEMM per layer on a weight gradient nobody reads. This op holds the
//! weight inside itself: the graph sees one argument (x), and
//! `bwd` returns grad_x = grad_y W. Forward uses candle's own GEMM on the
//! storage, so values equal `x.matmul(&w.t())` exactly.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor};

/// y = x W^T for x `[m, k]` and a constant W `[n, k]`.
struct FrozenMatmul {
    /// `[n, k]`, not a variable.
    w: Tensor,
}

impl FrozenMatmul {
    fn dims(&self, layout: &Layout) -> Result<(usize, usize, usize)> {
        let (m, k) = layout.shape().dims2()?;
        let (n, k2) = self.w.dims2()?;
        if k != k2 {
            candle_core::bail!("frozen_linear: input [{m}, {k}] does not match weight [{n}, {k2}]")
        }
        Ok((m, n, k))
    }
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, n, k) = self.dims(layout)?;
        let (w_storage, w_layout) = self.w.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            candle_core::bail!("frozen_linear: weight is not on the cpu")
        };
        let wt = w_layout.transpose(0, 1)?; // [k, n] view of W^T
        let out = storage.matmul(w, (1, m, n, k), layout, &wt)?;
        Ok((out, Shape::from((m, n))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (m, n, k) = self.dims(layout)?;
        let (w_storage, w_layout) = self.w.storage_and_layout();
        let Storage::Cuda(w) = &*w_storage else {
            candle_core::bail!("frozen_linear: weight is not on the gpu")
        };
        let wt = w_layout.transpose(0, 1)?;
        let out = storage.matmul(w, (1, m, n, k), layout, &wt)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // [m, n] x [n, k] -> [m, k]; W is constant so this builds no graph.
        Ok(Some(grad_res.matmul(&self.w)?))
    }
}

/// x W^T for x `[..., k]` and a frozen W `[n, k]` (detached); returns `[..., n]`.
pub fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let k = dims[dims.len() - 1];
    let m = x.elem_count() / k.max(1);
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("rank >= 1") = w.dim(0)?;
    let x2 = x.reshape((m, k))?.contiguous()?;
    x2.apply_op1(FrozenMatmul {
        w: w.detach().contiguous()?,
    })?
    .reshape(out_dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn data(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * scale).collect()
    }

    #[test]
    fn forward_and_input_gradient_equal_plain_matmul() {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(data(5 * 4, 0.1), (5, 4), &dev).unwrap();
        let x = Var::from_vec(data(2 * 3 * 4, 0.2), (2, 3, 4), &dev).unwrap();
        let upstream = Tensor::from_vec(data(2 * 3 * 5, 0.3), (2, 3, 5), &dev).unwrap();
        let ours = frozen_matmul(x.as_tensor(), &w).unwrap();
        let plain = x.as_tensor().broadcast_matmul(&w.t().unwrap()).unwrap();
        let diff = ours
            .sub(&plain)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        let g_ours = ours.mul(&upstream).unwrap().sum_all().unwrap().backward().unwrap();
        let g_plain = plain.mul(&upstream).unwrap().sum_all().unwrap().backward().unwrap();
        let a = g_ours
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = g_plain
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
    }

    #[test]
    fn no_gradient_is_stored_for_the_weight() {
        let dev = Device::Cpu;
        let w = Var::from_vec(data(6, 0.1), (3, 2), &dev).unwrap();
        let x = Var::from_vec(data(4, 0.2), (2, 2), &dev).unwrap();
        let y = frozen_matmul(x.as_tensor(), &w.as_detached_tensor()).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(x.as_tensor()).is_some());
        assert!(grads.get(w.as_tensor()).is_none());
    }
}
