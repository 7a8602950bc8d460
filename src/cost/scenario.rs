//! What one training step is, from configuration alone: the model, the batch
//! shape, the conditions fed, every unit's gate, the activation
//! checkpointing policy and the parameter precision. No tensors are built, so
//! the paper preset costs microseconds.
//!
//! A candidate of an Ent-Prog schedule (docs/paper.md §2) trains the top m of
//! the stage's schedulable blocks (those the `[train.gates]` plan leaves
//! trainable) in a priority order; the others are frozen (or skipped with
//! `schedule.skip_inactive`), as the schedule's `gate_at` sets them.

use crate::experiment::train::ActivationCheckpointing;
use crate::experiment::ExperimentConfig;
use crate::model::dit::block_ids;
use crate::model::{BlockId, Conditions, Gate, GateError, Gates, ModelConfig};

/// Bytes per parameter, gradient and optimizer-state scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 everywhere (what this harness trains with).
    F32,
    /// bf16 weights, gradients, moments and activations (an assumption: the
    /// harness does not train in bf16; mixed-precision master weights are
    /// not modelled).
    Bf16,
}

impl Precision {
    /// Bytes per scalar.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 => 2,
        }
    }

    /// The name in flags and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(format!("unknown precision {s:?}, expected f32 or bf16")),
        }
    }
}

/// One training step as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The denoiser.
    pub model: ModelConfig,
    /// Clips per batch b.
    pub batch: usize,
    /// Frames per clip t.
    pub frames: usize,
    /// Conditions the stage feeds.
    pub given: Conditions,
    /// Every unit's gate.
    pub gates: Gates,
    /// Activation checkpointing policy.
    pub checkpointing: ActivationCheckpointing,
    /// Parameter, gradient, optimizer and activation precision.
    pub precision: Precision,
    /// Whether an EMA copy of the weights is kept.
    pub ema: bool,
}

/// Every unit name of `cfg`, sorted (the names `Denoiser::gates` holds).
pub fn unit_names(cfg: &ModelConfig) -> Vec<String> {
    let mut names: Vec<String> = crate::model::PARTS.iter().map(|s| s.to_string()).collect();
    names.extend(block_ids(cfg).iter().map(|id| id.to_string()));
    names.sort();
    names
}

impl Scenario {
    /// The step `cfg` trains: its stage's conditions and gate plan, its batch
    /// and clip length.
    pub fn of(cfg: &ExperimentConfig) -> Result<Self, GateError> {
        let (reference, pose) = cfg.train.stage.conditions();
        Ok(Self {
            model: cfg.model.clone(),
            batch: cfg.train.batch_size,
            frames: cfg.data.clip_frames.max(1),
            given: Conditions { pose, reference },
            gates: cfg.train.gates.apply(unit_names(&cfg.model))?,
            checkpointing: cfg.train.activation_checkpointing,
            precision: Precision::F32,
            ema: cfg.train.ema_decay > 0.0,
        })
    }

    /// The blocks a schedule ranks: those the gate plan leaves trainable, in
    /// forward order (`entprog::progressive_step::schedulable`).
    pub fn schedulable(&self) -> Vec<BlockId> {
        block_ids(&self.model)
            .into_iter()
            .filter(|id| self.gates.block(*id) == Gate::Trainable)
            .collect()
    }

    /// The same step training only `trainable` of the schedulable blocks
    /// (the others frozen, or skipped when `skip_inactive`).
    pub fn training(&self, trainable: &[BlockId], skip_inactive: bool) -> Self {
        let mut out = self.clone();
        for id in self.schedulable() {
            let gate = match (trainable.contains(&id), skip_inactive) {
                (true, _) => Gate::Trainable,
                (false, true) => Gate::Skipped,
                (false, false) => Gate::Frozen,
            };
            out.gates.set(&id.to_string(), gate).expect("a block of this model");
        }
        out
    }
}
