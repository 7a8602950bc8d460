//! Predicted against measured: build the scenario's model, train a few steps
//! on seeded random batches, and read the trainer's FLOP counters, the
//! counting allocator's peak and the median step time
//! (`entprog cost --validate`, docs/cost-model.md "Validation").

use candle_core::Device;

use crate::bench::step_time::random_batch;
use crate::diffusion::DiffusionConfig;
use crate::experiment::train::{TrainConfig, TrainingStage};
use crate::model::{BlockId, BlockKind, Conditions, ModelConfig, StepFlops};
use crate::train::trainer::{TrainError, Trainer};

use super::scenario::Scenario;

/// What a few real steps of a scenario measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The trainer's FLOP counters of the last step.
    pub flops: StepFlops,
    /// Highest process bytes during a step, above the level before the
    /// model was built (parameters, optimizer state, batch and the step's own).
    pub peak_bytes: u64,
    /// Median wall seconds per step.
    pub step_s: f64,
    /// Loss of every step, warm-up included.
    pub losses: Vec<f32>,
}

/// The stage that feeds `given`.
fn stage_of(given: Conditions, frames: usize) -> TrainingStage {
    match (given.reference, given.pose) {
        (false, _) => TrainingStage::Foundation,
        (true, false) => TrainingStage::Subject,
        (true, true) if frames > 1 => TrainingStage::Video,
        (true, true) => TrainingStage::Pose,
    }
}

/// Trains `warmup + steps` steps of `s` (f32, no EMA) and measures them.
pub fn measure(s: &Scenario, warmup: usize, steps: usize) -> Result<Measured, TrainError> {
    let device = Device::Cpu;
    let baseline = crate::memory::current_bytes() as u64;
    let train = TrainConfig {
        stage: stage_of(s.given, s.frames),
        batch_size: s.batch,
        steps: (warmup + steps) as u64,
        warmup_steps: 0,
        activation_checkpointing: s.checkpointing,
        ..TrainConfig::default()
    };
    let net = s.model.build(0, &device)?;
    let mut trainer = Trainer::new(net, train, DiffusionConfig::default(), 0)?;
    trainer.model.set_gates(s.gates.clone())?;
    let batch = random_batch(&s.model, s.batch, s.frames, 0, &device)
        .map_err(|source| TrainError::Tensor { step: 0, source })?;
    let (mut times, mut peak, mut losses, mut flops) = (Vec::new(), 0u64, Vec::new(), StepFlops::default());
    for i in 0..warmup + steps {
        let r = trainer.train_step(&batch)?;
        losses.push(r.loss);
        if i >= warmup {
            times.push(r.wall_s);
            peak = peak.max(r.peak_bytes.saturating_sub(baseline));
            flops = r.flops;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(Measured {
        flops,
        peak_bytes: peak,
        step_s: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        losses,
    })
}

/// A model shape of the validation table.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub name: &'static str,
    pub model: ModelConfig,
    /// Clips per batch and frames per clip.
    pub batch: usize,
    pub frames: usize,
}

/// The validation shapes: tiny, default, and default made wider, deeper,
/// with larger frames and with longer clips (stage-3-like video steps).
pub fn shapes() -> Vec<Shape> {
    let d = ModelConfig::default_preset;
    vec![
        Shape {
            name: "tiny",
            model: ModelConfig::tiny(),
            batch: 2,
            frames: 4,
        },
        Shape {
            name: "default",
            model: d(),
            batch: 2,
            frames: 8,
        },
        Shape {
            name: "wider",
            model: ModelConfig {
                dim: 128,
                heads: 4,
                ..d()
            },
            batch: 2,
            frames: 8,
        },
        Shape {
            name: "deeper",
            model: ModelConfig { depth: 20, ..d() },
            batch: 2,
            frames: 8,
        },
        Shape {
            name: "frames48",
            model: ModelConfig { image_size: 48, ..d() },
            batch: 2,
            frames: 8,
        },
        Shape {
            name: "clip16",
            model: d(),
            batch: 2,
            frames: 16,
        },
    ]
}

/// Temporal blocks in a CEI-like order: the middle first, then alternating
/// outwards (what CEI measured on this harness's stage 3 put near neither end).
pub fn middle_first(depth: usize) -> Vec<(BlockId, f64)> {
    (0..depth)
        .map(|i| {
            let off_centre = (2.0 * i as f64 + 1.0 - depth as f64).abs();
            (BlockId::new(BlockKind::Temporal, i), -off_centre)
        })
        .collect()
}

/// One validation case: a shape, a candidate, and what it predicted and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub shape: &'static str,
    /// `all` (every unit trains), `temporal` (stage 3: every temporal block),
    /// `in3` / `out3` (the top 3 temporal blocks from the input / output
    /// side), `mid6` (6 in a CEI-like middle-first order); `+ckpt` with
    /// activation checkpointing.
    pub label: String,
    pub scenario: Scenario,
}

/// The validation cases of `shapes`.
pub fn cases(shapes: &[Shape]) -> Vec<Case> {
    use super::predict::{candidates_of, Order};
    use crate::experiment::train::{ActivationCheckpointing, GatePlan};
    let mut out = Vec::new();
    for sh in shapes {
        let given = Conditions {
            pose: true,
            reference: true,
        };
        let names = super::scenario::unit_names(&sh.model);
        let plan = |p: GatePlan| p.apply(names.clone()).expect("known units");
        let base = Scenario {
            model: sh.model.clone(),
            batch: sh.batch,
            frames: sh.frames,
            given,
            gates: plan(GatePlan::default()),
            checkpointing: ActivationCheckpointing::None,
            precision: super::scenario::Precision::F32,
            ema: false,
        };
        let stage3 = Scenario {
            gates: plan(GatePlan {
                default: crate::model::Gate::Frozen,
                trainable: vec!["temporal.*".into()],
                ..GatePlan::default()
            }),
            ..base.clone()
        };
        let mut push = |label: &str, s: &Scenario| {
            out.push(Case {
                shape: sh.name,
                label: label.into(),
                scenario: s.clone(),
            });
        };
        push("all", &base);
        push("temporal", &stage3);
        let pick = |order: Order, m: usize| candidates_of(&stage3, &[m], &order, false)[1].scenario.clone();
        push("in3", &pick(Order::InputSide, 3));
        push("out3", &pick(Order::OutputSide, 3));
        push("mid6", &pick(Order::Scores(middle_first(sh.model.depth)), 6));
        let ckpt = |s: &Scenario| Scenario {
            checkpointing: ActivationCheckpointing::Blocks,
            ..s.clone()
        };
        push("all+ckpt", &ckpt(&base));
        push("temporal+ckpt", &ckpt(&stage3));
    }
    out
}
