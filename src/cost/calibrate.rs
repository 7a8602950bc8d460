//! `entprog cost --calibrate`: this machine's throughput per kind of
//! operation, measured with the kernels the training step runs (fused CPU
//! kernels here; a GPU build would time its own ops the same way): the
//! linear layer at a few widths, fused attention forward + backward at a
//! few key counts, an elementwise add, the fused AdamW update and a tiny
//! op's fixed cost. Each figure is the median of repeated timings.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};

use super::time::{AttentionRate, Calibration, GemmRate};
use crate::kernels;

/// Median seconds of `f` over `reps` runs after one warm-up run.
fn median_s(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn randn(dims: &[usize], dev: &Device) -> Result<Tensor> {
    Tensor::randn(0f32, 1f32, dims, dev)
}

/// Measures every rate of a [`Calibration`]; `machine` is a free-text label.
pub fn calibrate(machine: &str) -> Result<Calibration> {
    kernels::in_pool(|| measure_all(machine))
}

fn measure_all(machine: &str) -> Result<Calibration> {
    let dev = Device::Cpu;
    let mut gemm = Vec::new();
    for (m, k) in [
        (8192, 32),
        (8192, 64),
        (4096, 128),
        (2048, 256),
        (1024, 512),
        (512, 1024),
    ] {
        for n in [k, 4 * k] {
            let (x, w, b) = (randn(&[m, k], &dev)?, randn(&[n, k], &dev)?, randn(&[n], &dev)?);
            let s = median_s(7, || kernels::linear(&x, &w, Some(&b)).map(|_| ()))?;
            gemm.push(GemmRate {
                m,
                n,
                k,
                gflops: 2.0 * (m * n * k) as f64 / s / 1e9,
            });
        }
    }
    let mut attention = Vec::new();
    for (batch, tokens, dim, heads) in [(512, 8, 64, 4), (64, 64, 64, 4), (16, 256, 64, 4), (8, 256, 128, 4)] {
        let qkv = Var::from_tensor(&randn(&[batch, tokens, 3 * dim], &dev)?)?;
        let g = randn(&[batch, tokens, dim], &dev)?;
        let s = median_s(5, || {
            let o = kernels::self_attention_packed(qkv.as_tensor(), heads)?;
            o.mul(&g)?.sum_all()?.backward().map(|_| ())
        })?;
        // Forward 4 b n^2 d, backward counted as twice that (docs/cost-model.md).
        let flops = 3.0 * 4.0 * (batch * tokens * tokens * dim) as f64;
        attention.push(AttentionRate {
            batch,
            tokens,
            dim,
            heads,
            gflops: flops / s / 1e9,
        });
    }
    let n = 4 << 20;
    let (a, b) = (randn(&[n], &dev)?, randn(&[n], &dev)?);
    let s = median_s(7, || kernels::add(&a, &b).map(|_| ()))?;
    let bandwidth_gbs = 3.0 * 4.0 * n as f64 / s / 1e9;
    let p = 1 << 20;
    let (w, gr, m, v) = (
        randn(&[p], &dev)?,
        randn(&[p], &dev)?,
        randn(&[p], &dev)?,
        randn(&[p], &dev)?.abs()?,
    );
    let step = kernels::adamw::AdamWStep {
        lr: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        grad_scale: 1.0,
        bc1: 0.1,
        bc2: 0.001,
    };
    let s = median_s(7, || kernels::adamw::adamw_update(&w, &gr, &m, &v, step).map(|_| ()))?;
    let adamw_ns_per_param = s * 1e9 / p as f64;
    // A chain of small ops through autograd, forward and backward: what a
    // step pays per op beyond its arithmetic (dispatch, allocation, the
    // graph walk and candle's gradient accumulation), per op of the chain
    // counted three times (forward, backward, accumulation).
    let (x, y) = (Var::from_tensor(&randn(&[64], &dev)?)?, randn(&[64], &dev)?);
    let chain = 32;
    let s = median_s(51, || {
        let mut h = x.as_tensor().clone();
        for _ in 0..chain {
            h = kernels::add(&h, &y)?;
        }
        h.sum_all()?.backward().map(|_| ())
    })? / (3 * chain) as f64;
    Ok(Calibration {
        machine: machine.into(),
        threads: rayon::current_num_threads(),
        gemm,
        attention,
        bandwidth_gbs,
        adamw_ns_per_param,
        op_overhead_us: s * 1e6,
    })
}
