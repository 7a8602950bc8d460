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

use crate::experiment::train::{GatePlan, TrainConfig, TrainingStage};
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

/// `entprog bench steps`: a preset's step time as leading blocks freeze.
#[derive(Debug, Clone)]
pub struct FreezeSweep {
    /// Model preset (`tiny`, `default`, `paper`).
    pub preset: String,
    /// Override of the number of spatial blocks L.
    pub depth: Option<usize>,
    /// Clips per batch and frames per clip (1 = image step).
    pub batch: usize,
    pub frames: usize,
    /// Timed steps (after 2 warm-up steps).
    pub steps: usize,
    /// Numbers of leading spatial+temporal block pairs to freeze.
    pub freeze_leading: Vec<usize>,
    /// Skip the leading blocks instead (the nested sub-network).
    pub skip: bool,
    /// The plain candle compositions instead of the fused kernels.
    pub plain: bool,
}

impl FreezeSweep {
    /// The preset with the sweep's overrides.
    pub fn model(&self) -> Result<ModelConfig, crate::model::ModelError> {
        let mut model = ModelConfig::preset(&self.preset)
            .ok_or_else(|| crate::model::ModelError::Config(format!("unknown preset `{}`", self.preset)))?;
        if let Some(d) = self.depth {
            model.depth = d;
        }
        if self.plain {
            model.kernels = crate::model::ops::Kernels::Plain;
        }
        Ok(model)
    }

    /// The conditions a step feeds: a video step past one frame, else a pose-guided image step.
    pub fn stage(&self) -> TrainingStage {
        if self.frames > 1 {
            TrainingStage::Video
        } else {
            TrainingStage::Pose
        }
    }

    /// Times each freeze count in order, handing `(k, timing)` to `on_row`
    /// as it is measured.
    pub fn run(&self, on_row: &mut dyn FnMut(usize, StepTiming)) -> Result<(), TrainError> {
        let model = self.model()?;
        for &k in &self.freeze_leading {
            let plan = leading_plan(k, self.skip);
            on_row(
                k,
                time_steps(&model, plan, self.stage(), self.batch, self.frames, 2, self.steps)?,
            );
        }
        Ok(())
    }
}

/// The gate plan that freezes (or skips) the first `k` block pairs and the
/// conditioning parts upstream of them.
pub fn leading_plan(k: usize, skip: bool) -> GatePlan {
    let mut plan = GatePlan::default();
    if k == 0 {
        return plan;
    }
    plan.frozen = ["embed", "time", "pose", "reference.*"].map(String::from).to_vec();
    let list = if skip { &mut plan.skipped } else { &mut plan.frozen };
    for i in 0..k {
        list.push(format!("spatial.{i:02}"));
        list.push(format!("temporal.{i:02}"));
    }
    plan
}
