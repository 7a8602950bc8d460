//! Peak training memory of one step, by kind: parameters, gradients,
//! optimizer state, stored activations and workspace (docs/cost-model.md).
//!
//! The model follows what this harness's step keeps alive (fused CPU
//! kernels, the block-by-block tape of `model/tape.rs`):
//! - every op that records a backward graph keeps its inputs until the
//!   backward of its segment has run (candle's autograd); an op without a
//!   graph keeps nothing, so a frozen prefix stores only the tensor it hands on;
//! - a segment is the conditioning (reference encoder, pose guider, patch
//!   and time embeddings), then each main-path block, then the head (final
//!   layer and loss); each segment's output is copied into a leaf variable;
//! - backward runs the head, then the segments from the last, freeing each
//!   one's tensors once its gradients are through, while parameter gradients
//!   accumulate; the peak is the highest of these moments and the
//!   optimizer's;
//! - with `activation_checkpointing = "blocks"` a block that records a graph
//!   keeps only its output, and its activations exist again only during its
//!   own backward.
//!
//! Counts are in scalars per unit from the tensor shapes of each block's
//! forward (`model/spatial.rs`, `temporal.rs`, `final_layer.rs`, ...), with
//! the workspace of a block's backward (the gradient being propagated, the
//! fresh zero tensor and the sum of candle's gradient accumulation) from
//! reading `candle_core::backprop` and the kernels' backward passes.

use crate::experiment::train::ActivationCheckpointing;
use crate::model::{step_units, Gate, UnitStep};

use super::params::ParamCounts;
use super::scenario::Scenario;

/// Peak bytes of a training step, split by kind, at the moment of the peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StepMemory {
    /// Every weight of the model (and its EMA copy when kept).
    pub parameters: u64,
    /// Parameter gradients alive at the peak.
    pub gradients: u64,
    /// AdamW moments of the updated scalars (two per scalar).
    pub optimizer: u64,
    /// Activations kept for backward at the peak, the conditioning tensors
    /// every block reads, and the step's inputs (batch, noise, target).
    pub activations: u64,
    /// Transient buffers of the op running at the peak.
    pub workspace: u64,
    /// Where the peak falls: `forward`, `backward <unit>` or `optimizer`.
    pub at: &'static str,
}

impl StepMemory {
    /// Sum of all kinds.
    pub fn total(&self) -> u64 {
        self.parameters + self.gradients + self.optimizer + self.activations + self.workspace
    }
}

/// Tensor sizes of one step, in scalars.
struct Dims {
    b: u64,
    frames: u64,
    rows: u64,
    d: u64,
    r: u64,
    pose: u64,
    pixels: u64,
    patch_rows: u64,
    ref_rows: u64,
}

impl Dims {
    fn of(s: &Scenario) -> Self {
        let m = &s.model;
        let u = |x: usize| x as u64;
        let (b, frames) = (u(s.batch), u(s.batch * s.frames));
        let n = u(m.tokens());
        Dims {
            b,
            frames,
            rows: frames * n,
            d: u(m.dim),
            r: u(m.mlp_ratio),
            pose: u(m.pose_dim),
            pixels: u(m.image_size * m.image_size),
            patch_rows: frames * n * u(m.patch_dim()),
            ref_rows: b * n,
        }
    }
}

/// Scalars a unit keeps for backward when it records a graph, its output
/// copy (the tape's leaf) included.
fn stored(u: &UnitStep, s: &Scenario, x: &Dims) -> u64 {
    let (t, d, r, f) = (x.rows, x.d, x.r, x.frames);
    let name = u.cost.unit.as_str();
    let pose = s.given.pose && s.gates.get("pose") != Gate::Skipped;
    let reference = s.given.reference && s.gates.get("reference.embed") != Gate::Skipped;
    let ph = s.model.pose_hidden as u64;
    match name {
        "reference.embed" => x.ref_rows * (s.model.patch_dim() as u64 + 2 * d),
        "pose" => 4 * f * ph * x.pixels + 4 * t * x.pose,
        "embed" => x.patch_rows + 3 * t * d,
        "time" => 4 * x.b * d + 2 * f * d,
        "final" => t * d + 4 * x.patch_rows + 5 * f * d,
        n if n.starts_with("reference.") => (9 + r) * x.ref_rows * d,
        n if n.starts_with("spatial.") => {
            t * d * (10 + r + pose as u64) + 13 * f * d + if reference { 3 * x.ref_rows * d } else { 0 }
        }
        _ => 10 * t * d + 2 * f * d,
    }
}

/// Scalars a unit keeps for backward when it records a graph (its output copy included).
pub fn stored_scalars(u: &UnitStep, s: &Scenario) -> u64 {
    stored(u, s, &Dims::of(s))
}

/// Transient scalars of a unit's backward: the gradient flowing in, and
/// for its widest tensor the fresh gradient, the zero tensor candle adds it
/// to and their sum.
fn workspace(u: &UnitStep, x: &Dims) -> u64 {
    let (t, d, r) = (x.rows, x.d, x.r);
    let name = u.cost.unit.as_str();
    match name {
        "final" => 3 * x.patch_rows + t * d,
        "pose" | "time" | "embed" | "reference.embed" => 3 * t * d,
        n if n.starts_with("reference.") => (3 * r + 1) * x.ref_rows * d,
        n if n.starts_with("spatial.") => (3 * r + 2) * t * d,
        _ => 11 * t * d,
    }
}

/// The peak memory of a step of `s`.
pub fn step_memory(s: &Scenario, counts: &ParamCounts) -> StepMemory {
    let x = Dims::of(s);
    let bytes = s.precision.bytes();
    let units = step_units(&s.model, &s.gates, s.given, s.batch, s.frames);
    let per_unit = counts.per_unit();
    let updated = counts.updated(s);
    let parameters = counts.total() * if s.ema { 2 } else { 1 };
    let optimizer = 2 * updated;
    // The batch (reference, frames, poses), noise, noisy input and target,
    // and the conditioning every block reads (time, pose and reference tokens).
    let inputs = x.b * 3 * x.pixels + 5 * x.patch_rows;
    let cond = x.frames * x.d + x.rows * x.pose + x.ref_rows * x.d;
    let checkpoint = s.checkpointing == ActivationCheckpointing::Blocks;
    let is_main = |u: &UnitStep| u.cost.unit.starts_with("spatial.") || u.cost.unit.starts_with("temporal.");
    // Kept through forward, per unit (checkpointed blocks keep their output).
    let kept: Vec<u64> = units
        .iter()
        .map(|u| match (u.graph, checkpoint && is_main(u)) {
            (false, _) => 0,
            (true, true) => x.rows * x.d,
            (true, false) => stored(u, s, &x),
        })
        .collect();
    let grad_of = |u: &UnitStep| {
        if u.gate == Gate::Trainable {
            let all = per_unit.get(&u.cost.unit).copied().unwrap_or(0);
            // Unreached parameters (pose projections without poses, ...) get none.
            let one = Scenario {
                gates: only_trainable(s, &u.cost.unit),
                ..s.clone()
            };
            all.min(counts.updated(&one))
        } else {
            0
        }
    };
    let mut best = StepMemory {
        parameters,
        optimizer,
        activations: inputs + cond + kept.iter().sum::<u64>(),
        at: "forward",
        ..Default::default()
    };
    let mut consider = |m: StepMemory| {
        if m.total() > best.total() {
            best = m;
        }
    };
    // Backward, from the head to the first unit with a graph.
    let mut grads = 0;
    let pending = x.rows * x.d + cond;
    for (i, u) in units.iter().enumerate().rev() {
        if !u.graph {
            continue;
        }
        let before: u64 = kept[..i].iter().sum();
        let own = stored(u, s, &x);
        grads += grad_of(u);
        consider(StepMemory {
            parameters,
            optimizer,
            gradients: grads,
            activations: inputs + cond + before + own,
            workspace: pending + workspace(u, &x),
            at: "backward",
        });
    }
    // The optimizer: every gradient, one parameter's update in flight.
    consider(StepMemory {
        parameters,
        optimizer,
        gradients: updated,
        activations: inputs,
        workspace: 3 * counts.largest(),
        at: "optimizer",
    });
    StepMemory {
        parameters: best.parameters * bytes,
        gradients: best.gradients * bytes,
        optimizer: best.optimizer * bytes,
        activations: best.activations * bytes,
        workspace: best.workspace * bytes,
        at: best.at,
    }
}

/// `s`'s gates with only `unit` trainable (to count what reaches it).
fn only_trainable(s: &Scenario, unit: &str) -> crate::model::Gates {
    let mut g = s.gates.clone();
    for (name, gate) in s.gates.iter() {
        if gate == Gate::Trainable && name != unit {
            g.set(name, Gate::Frozen).expect("a unit of this model");
        }
    }
    g
}
