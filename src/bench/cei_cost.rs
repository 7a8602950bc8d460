//! `entprog bench cei <experiment>`: what CEI scoring costs against the
//! training run it ranks blocks for (issue goal: at most 5% of one run).
//! In one process, on the same model and machine state: the CEI pass the
//! schedule would make (N = `cei.conditions` x `cei.draws` samples, the
//! schedulable blocks, prefix reuse, forward-only), then `steps` training
//! steps on the stage's real batches (median). The ratio is CEI seconds over
//! `train.steps` x the median step.
//!
//! Timing does not depend on the weights' values, so without the stage's
//! `train.init_from` checkpoint the model's parameters are drawn at random
//! (a fresh adaLN-zero model predicts 0 everywhere and CEI refuses it).

use std::time::Instant;

use candle_core::{Device, Tensor};
use rand_distr::{Distribution, Normal};

use crate::entprog::progressive::schedulable;
use crate::entprog::score::score_blocks;
use crate::entprog::scorers::forward_only;
use crate::experiment::Experiment;
use crate::seed::stream;
use crate::train::evidence::{cei_samples, settings};
use crate::train::trainer::{TrainBatch, Trainer};

/// What `bench cei` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CeiCost {
    pub experiment: String,
    pub samples: usize,
    pub blocks: usize,
    pub cei_s: f64,
    pub median_step_s: f64,
    pub run_steps: u64,
    /// cei_s / (run_steps x median_step_s).
    pub share_of_run: f64,
    pub random_init: bool,
}

/// Measures the CEI pass and `steps` training steps of `exp`.
pub fn measure(exp: &Experiment, steps: usize) -> anyhow::Result<CeiCost> {
    let cfg = &exp.config;
    let device = Device::Cpu;
    let model = cfg.model.build(cfg.seed, &device)?;
    let mut trainer = Trainer::new(model, cfg.train.clone(), cfg.diffusion.clone(), cfg.seed)?;
    let random_init = match &cfg.train.init_from {
        Some(p) if p.exists() || crate::hub::HubRef::from_path(p).is_some() => {
            trainer.init_from(&crate::hub::checkpoint(p)?.path)?;
            false
        }
        _ => {
            let mut rng = stream(cfg.seed, "bench-random-init", 0);
            let normal = Normal::new(0.0f32, 0.05)?;
            for p in trainer.model.params() {
                let v: Vec<f32> = (0..p.var.elem_count()).map(|_| normal.sample(&mut rng)).collect();
                p.var.set(&Tensor::from_vec(v, p.var.dims(), &device)?)?;
            }
            true
        }
    };
    // Trainer::new applied the stage's gate plan.
    let ids = schedulable(&trainer.model);
    let batches = cei_samples(cfg, trainer.schedule())?;
    let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
    let s = settings(cfg);
    let start = Instant::now();
    forward_only(&mut trainer.model, &ids, |m| score_blocks(m, &inputs, &ids, &s))?;
    let cei_s = start.elapsed().as_secs_f64();

    let loader = cfg
        .data
        .mixed_loader(crate::data::Split::Train, cfg.train.batch_size, cfg.seed)?;
    let mut times = Vec::with_capacity(steps);
    for step in 0..(steps + 2) as u64 {
        let b = loader.batch(step, &device)?;
        let batch = TrainBatch {
            reference: b.reference,
            frames: b.frames,
            poses: b.poses,
        };
        let r = trainer.train_step(&batch)?;
        if step >= 2 {
            times.push(r.wall_s);
        }
    }
    times.sort_by(f64::total_cmp);
    let median_step_s = times[times.len() / 2];
    Ok(CeiCost {
        experiment: exp.name.clone(),
        samples: cfg.cei.conditions * cfg.cei.draws,
        blocks: ids.len(),
        cei_s,
        median_step_s,
        run_steps: cfg.train.steps,
        share_of_run: cei_s / (cfg.train.steps as f64 * median_step_s),
        random_init,
    })
}
