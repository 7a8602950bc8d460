//! `entprog bench steps`: step-time measurement of a preset under a gate
//! plan: median wall seconds of full training steps (forward, backward,
//! AdamW) on seeded random batches, beside the analytic FLOPs. A quick probe
//! for choosing preset sizes; [`super::train_step`] is the full
//! `bench train-step`.

use candle_core::{Device, Tensor};
use rand_distr::{Distribution, StandardNormal};

use crate::diffusion::DiffusionConfig;
use crate::model::ModelConfig;
use crate::seed;

use crate::train::config::{GatePlan, TrainConfig, TrainingStage};
use crate::train::trainer::{TrainBatch, TrainError, Trainer};

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming {
    /// Median wall seconds per step.
    pub median_s: f64,
    /// Fastest step.
    pub min_s: f64,
    /// Analytic FLOPs per step.
    pub flops: u64,
    /// Trainable scalars.
    pub trainable_params: usize,
}

/// A batch of seeded Gaussian values clamped to [-1, 1].
pub fn random_batch(
    cfg: &ModelConfig,
    b: usize,
    t: usize,
    index: u64,
    device: &Device,
) -> candle_core::Result<TrainBatch> {
    let s = cfg.image_size;
    let mut rng = seed::stream(0, "bench-batch", index);
    let mut draw = |dims: &[usize]| {
        let v: Vec<f32> = (0..dims.iter().product())
            .map(|_| StandardNormal.sample(&mut rng))
            .map(|x: f32| x.clamp(-1.0, 1.0))
            .collect();
        Tensor::from_vec(v, dims, device)
    };
    Ok(TrainBatch {
        reference: draw(&[b, 3, s, s])?,
        frames: draw(&[b, t, 3, s, s])?,
        poses: draw(&[b, t, 3, s, s])?,
    })
}

/// Times `steps` training steps (after `warmup` untimed ones) of `model`
/// at batch `b` x `t` frames under `gates`, feeding the conditions of `stage`.
pub fn time_steps(
    model: &ModelConfig,
    gates: GatePlan,
    stage: TrainingStage,
    b: usize,
    t: usize,
    warmup: usize,
    steps: usize,
) -> Result<StepTiming, TrainError> {
    let device = Device::Cpu;
    let net = model.build(0, &device)?;
    let train = TrainConfig {
        stage,
        batch_size: b,
        steps: (warmup + steps) as u64,
        warmup_steps: 0,
        gates,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(net, train, DiffusionConfig::default(), 0)?;
    let batch = random_batch(model, b, t, 0, &device).map_err(|source| TrainError::Tensor { step: 0, source })?;
    let mut times = Vec::new();
    let mut last = None;
    for i in 0..warmup + steps {
        let r = trainer.train_step(&batch)?;
        if i >= warmup {
            times.push(r.wall_s);
        }
        last = Some(r);
    }
    let last = last.expect("at least one step");
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(StepTiming {
        median_s: times[times.len() / 2],
        min_s: times[0],
        flops: last.flops.total(),
        trainable_params: last.trainable_params,
    })
}
