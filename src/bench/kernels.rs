//! `entprog bench kernels`: forward + backward time of each fused kernel
//! against the plain candle composition it replaces, at the sizes of the
//! `default` model preset's training step (batch 16, 64 tokens, width 64,
//! 4 heads, MLP ratio 4). Medians of repeated runs; one JSON line per kernel.
//! The plain side is the model's own `Kernels::Plain` path (`model/ops.rs`).

use candle_core::{Device, Result, Tensor, Var};
use rand_distr::{Distribution, StandardNormal};

use crate::kernels;
use crate::model::ops::{self, Kernels};
use crate::seed::stream;

fn randn(shape: &[usize], purpose: &str) -> Result<Tensor> {
    let mut rng = stream(0, purpose, 0);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Median seconds of `reps` runs of forward + backward of `f` on variables of `inputs`.
fn time_fwd_bwd(inputs: &[Tensor], reps: usize, f: &dyn Fn(&[Tensor]) -> Result<Tensor>) -> Result<f64> {
    let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps + 1 {
        let t = std::time::Instant::now();
        let out = f(&ts)?;
        let grads = out.sum_all()?.backward()?;
        std::hint::black_box(grads);
        times.push(t.elapsed().as_secs_f64());
    }
    times.remove(0); // warm-up
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs the comparison and prints one JSON object per kernel.
pub fn run(reps: usize) -> Result<()> {
    let (b, n, m, h, d, c) = (16, 64, 80, 4, 16, 64);
    type Case = (
        &'static str,
        Vec<Tensor>,
        Box<dyn Fn(&[Tensor]) -> Result<Tensor>>,
        Box<dyn Fn(&[Tensor]) -> Result<Tensor>>,
    );
    let cases: Vec<Case> = vec![
        (
            "gelu_16x64x256",
            vec![randn(&[b, n, 4 * c], "x")?],
            Box::new(|t| kernels::gelu(&t[0])),
            Box::new(|t| t[0].gelu()),
        ),
        (
            "gelu_erf_16x64x256",
            vec![randn(&[b, n, 4 * c], "x")?],
            Box::new(|t| kernels::gelu_erf(&t[0])),
            Box::new(|t| t[0].gelu_erf()),
        ),
        (
            "attention_16x64q80kx4x16",
            vec![
                randn(&[b, n, h, d], "q")?,
                randn(&[b, m, h, d], "k")?,
                randn(&[b, m, h, d], "v")?,
            ],
            Box::new(|t| kernels::attention(&t[0], &t[1], &t[2])),
            Box::new(|t| ops::attention(&t[0], &t[1], &t[2], Kernels::Plain)),
        ),
        (
            "linear_16x64x64to192",
            vec![randn(&[b, n, c], "x")?, randn(&[3 * c, c], "w")?, randn(&[3 * c], "b")?],
            Box::new(|t| kernels::linear(&t[0], &t[1], Some(&t[2]))),
            Box::new(|t| ops::linear(&t[0], &t[1], Some(&t[2]), true, true, Kernels::Plain)),
        ),
        (
            "gelu_linear_16x64x256to64",
            vec![randn(&[b, n, 4 * c], "x")?, randn(&[c, 4 * c], "w")?, randn(&[c], "b")?],
            Box::new(|t| kernels::gelu_linear(&t[0], &t[1], Some(&t[2]))),
            Box::new(|t| ops::gelu_linear(&t[0], &t[1], Some(&t[2]), true, true, Kernels::Plain)),
        ),
        (
            "modulated_norm_16x64x64",
            vec![
                randn(&[b, n, c], "x")?,
                randn(&[b, c], "shift")?,
                randn(&[b, c], "scale")?,
            ],
            Box::new(|t| kernels::modulated_layer_norm(&t[0], &t[1], &t[2], 1e-6)),
            Box::new(|t| ops::modulated_norm(&t[0], &t[1], &t[2], 1e-6, Kernels::Plain)),
        ),
        (
            "gated_residual_16x64x64",
            vec![
                randn(&[b, n, c], "x")?,
                randn(&[b, n, c], "y")?,
                randn(&[b, c], "gate")?,
            ],
            Box::new(|t| kernels::gated_residual(&t[0], &t[1], &t[2])),
            Box::new(|t| ops::gated_residual(&t[0], &t[1], &t[2], Kernels::Plain)),
        ),
    ];
    for (name, inputs, fused, plain) in cases {
        let tf = time_fwd_bwd(&inputs, reps, fused.as_ref())?;
        let tp = time_fwd_bwd(&inputs, reps, plain.as_ref())?;
        println!(
            "{{\"config\": \"{name}\", \"fused_ms\": {:.3}, \"plain_ms\": {:.3}, \"speedup\": {:.2}}}",
            tf * 1e3,
            tp * 1e3,
            tp / tf
        );
    }
    Ok(())
}
