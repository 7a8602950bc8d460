//! `[train]` section: steps, batch, optimizer, checkpoints, and the stage's
//! gate plan and conditions (docs/paper.md §1 stages; docs/design.md#training-stages).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::validate::check_hash;
use crate::config::{check, key, Invalid, Validate};
use crate::model::block::REQUIRED_PARTS;
use crate::model::{Gate, GateError, Gates};

/// Which of the paper's training stages a run is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrainingStage {
    /// Unconditional video pretraining: the stand-in for the public
    /// pretrained model (images as one-frame clips, temporal blocks included).
    Foundation,
    /// TrainingStage 1: subject-driven image generation from the reference image.
    Subject,
    /// TrainingStage 2: pose-guided image generation (reference + pose -> frame).
    Pose,
    /// TrainingStage 3: video generation, temporal blocks only.
    Video,
}

impl TrainingStage {
    /// Whether the stage trains on images (one-frame clips).
    pub fn is_image(self) -> bool {
        matches!(self, TrainingStage::Subject | TrainingStage::Pose)
    }

    /// The conditions this stage feeds the model: (reference, pose).
    pub fn conditions(self) -> (bool, bool) {
        match self {
            TrainingStage::Foundation => (false, false),
            TrainingStage::Subject => (true, false),
            TrainingStage::Pose | TrainingStage::Video => (true, true),
        }
    }
}

/// Which units train, stay frozen, or are skipped. Applied in order:
/// everything `default`, then `frozen`, then `skipped`, then `trainable`
/// (later lists win). Patterns are unit names or prefixes ending in `*`
/// (`temporal.*`, `reference.*`, `*`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatePlan {
    /// State of units no list names.
    pub default: Gate,
    /// Units kept frozen (run forward, no gradient).
    pub frozen: Vec<String>,
    /// Units skipped (blocks become identities, conditioning parts switch off).
    pub skipped: Vec<String>,
    /// Units trained.
    pub trainable: Vec<String>,
}

impl Default for GatePlan {
    fn default() -> Self {
        Self {
            default: Gate::Trainable,
            frozen: vec![],
            skipped: vec![],
            trainable: vec![],
        }
    }
}

impl GatePlan {
    /// Applies the plan to a model's units.
    pub fn apply(&self, units: Vec<String>) -> Result<Gates, GateError> {
        let mut gates = Gates::all(units, Gate::Frozen);
        for unit in gates.names() {
            // A skip-everything default still runs the parts the network needs.
            if !(self.default == Gate::Skipped && REQUIRED_PARTS.contains(&unit.as_str())) {
                gates.set(&unit, self.default)?;
            }
        }
        for (list, gate) in [
            (&self.frozen, Gate::Frozen),
            (&self.skipped, Gate::Skipped),
            (&self.trainable, Gate::Trainable),
        ] {
            for pattern in list {
                gates.set_matching(pattern, gate)?;
            }
        }
        Ok(gates)
    }
}

/// Activation checkpointing of a training step (`train.activation_checkpointing`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActivationCheckpointing {
    /// Every block that records a backward graph keeps it until its backward.
    #[default]
    None,
    /// Each main-path block that records a graph (trainable, or reached by a
    /// gradient from upstream) keeps only its output and recomputes its
    /// activations in backward; a frozen prefix is neither stored nor
    /// recomputed. Same gradients bit for bit, one extra forward of those
    /// blocks, less peak memory (docs/cost-model.md).
    Blocks,
}

impl ActivationCheckpointing {
    /// Whether this is the default (kept out of the config hash, so the
    /// hashes of runs written before the key existed stay valid).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// The name in configs and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Blocks => "blocks",
        }
    }
}

/// Training hyper-parameters of one stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Which paper stage this is (decides the conditions fed).
    pub stage: TrainingStage,
    /// Total optimizer steps.
    pub steps: u64,
    /// Clips per batch.
    pub batch_size: usize,
    /// Peak learning rate (the paper: constant 1e-5).
    pub lr: f64,
    /// Linear warmup steps (0 = constant from the start).
    pub warmup_steps: u64,
    /// AdamW beta_1.
    pub beta1: f64,
    /// AdamW beta_2.
    pub beta2: f64,
    /// AdamW epsilon.
    pub adam_eps: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Max global gradient L2 norm (0 = no clipping).
    pub grad_clip: f64,
    /// Learning-rate multiplier of the scalar reference gates
    /// (`spatial.NN.ref_gate`). A zero-initialised scalar moves at most about
    /// `lr` per Adam step, so at lr 2e-4 a gate needs thousands of steps to
    /// open the reference path at all (docs/results/sample-quality.md, "Why the samples were worse
    /// than copying the reference").
    pub gate_lr_scale: f64,
    /// EMA decay of the weights (0 = no EMA).
    pub ema_decay: f64,
    /// Save a checkpoint every this many steps (0 = only at the end).
    pub checkpoint_every: u64,
    /// Evaluate every this many steps and at the end (0 = never): the
    /// held-out loss on `data.eval_batches` fixed test batches, to
    /// `eval.parquet`.
    pub eval_every: u64,
    /// Which units train / freeze / skip.
    pub gates: GatePlan,
    /// Checkpoint to start from (the previous stage), by local path.
    pub init_from: Option<PathBuf>,
    /// The config hash of the run that wrote `init_from` (studies set it to
    /// the parent cell's). When set, the checkpoint enters the config hash by
    /// this identity instead of its path, so a cell's hash does not depend on
    /// the folder its parent lives in (a moved or shared results folder is
    /// still reused, and a changed parent changes every child); the run
    /// checks the `manifest.json` beside the checkpoint before it starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from_hash: Option<String>,
    /// Reuse step 0's timesteps, noise and condition dropout at every step
    /// (debugging: with one fixed batch the loss must then fall toward zero).
    pub fixed_draws: bool,
    /// Recompute block activations in backward instead of storing them
    /// (`none` | `blocks`). Hashed only when not `none`.
    #[serde(skip_serializing_if = "ActivationCheckpointing::is_none")]
    pub activation_checkpointing: ActivationCheckpointing,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            stage: TrainingStage::Foundation,
            steps: 2000,
            batch_size: 16,
            lr: 1e-3,
            warmup_steps: 100,
            beta1: 0.9,
            beta2: 0.999,
            adam_eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: 1.0,
            gate_lr_scale: 1.0,
            ema_decay: 0.0,
            checkpoint_every: 500,
            eval_every: 0,
            gates: GatePlan::default(),
            init_from: None,
            init_from_hash: None,
            fixed_draws: false,
            activation_checkpointing: ActivationCheckpointing::None,
        }
    }
}

impl TrainConfig {
    /// A short run for tests.
    pub fn tiny() -> Self {
        Self {
            steps: 20,
            batch_size: 4,
            warmup_steps: 0,
            checkpoint_every: 10,
            ..Self::default()
        }
    }

    /// The optimizer settings.
    pub fn adamw(&self) -> AdamWParams {
        AdamWParams {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.adam_eps,
            weight_decay: self.weight_decay,
            gate_lr_scale: self.gate_lr_scale,
        }
    }
}

impl Validate for TrainConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f| key(prefix, f);
        check(out, self.steps >= 1, k("steps"), "expected >= 1");
        let init_from = self.init_from.is_some();
        check_hash(
            out,
            self.init_from_hash.as_deref(),
            init_from,
            k("init_from_hash"),
            "init_from",
        );
        check(out, self.batch_size >= 1, k("batch_size"), "expected >= 1");
        check(
            out,
            self.lr > 0.0 && self.lr.is_finite(),
            k("lr"),
            format!("{} is out of range, expected > 0", self.lr),
        );
        check(out, (0.0..1.0).contains(&self.beta1), k("beta1"), "expected [0, 1)");
        check(out, (0.0..1.0).contains(&self.beta2), k("beta2"), "expected [0, 1)");
        check(out, self.adam_eps > 0.0, k("adam_eps"), "expected > 0");
        check(out, self.weight_decay >= 0.0, k("weight_decay"), "expected >= 0");
        check(out, self.grad_clip >= 0.0, k("grad_clip"), "expected >= 0 (0 = off)");
        check(
            out,
            self.gate_lr_scale > 0.0 && self.gate_lr_scale.is_finite(),
            k("gate_lr_scale"),
            format!("{} is out of range, expected > 0", self.gate_lr_scale),
        );
        check(
            out,
            (0.0..1.0).contains(&self.ema_decay),
            k("ema_decay"),
            "expected [0, 1) (0 = off)",
        );
    }
}

/// AdamW hyper-parameters (lr comes per step from the schedule).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// beta_1.
    pub beta1: f64,
    /// beta_2.
    pub beta2: f64,
    /// epsilon.
    pub eps: f64,
    /// Decoupled weight decay lambda.
    pub weight_decay: f64,
    /// Learning-rate multiplier of parameters named `*ref_gate` (scalar
    /// gates; see `TrainConfig::gate_lr_scale`).
    #[serde(default = "one")]
    pub gate_lr_scale: f64,
}

fn one() -> f64 {
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_gate_lists_win() {
        let units = ["spatial.00", "spatial.01", "temporal.00", "pose", "embed"]
            .map(String::from)
            .to_vec();
        let plan = GatePlan {
            default: Gate::Frozen,
            frozen: vec![],
            skipped: vec!["pose".into()],
            trainable: vec!["temporal.*".into(), "spatial.01".into()],
        };
        let g = plan.apply(units).unwrap();
        assert_eq!(g.with(Gate::Trainable), vec!["spatial.01", "temporal.00"]);
        assert_eq!(g.with(Gate::Skipped), vec!["pose"]);
        assert_eq!(g.get("embed"), Gate::Frozen);
    }
}
