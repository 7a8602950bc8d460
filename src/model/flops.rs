//! Analytic FLOP count of what a training step actually runs (docs/design.md
//! "Costs": the deterministic FLOP clock the adaptive schedule decides on).
//!
//! Counted: matrix products only (linear layers, the pose conv, and the two
//! activation products of each attention), 2 FLOPs per multiply-add, plus
//! AdamW's per-parameter update. Elementwise work (norms, softmax, GELU) is
//! left out; it is small next to the products at every preset.
//!
//! Backward mirrors candle's autograd as this model drives it:
//! - a skipped unit costs nothing;
//! - a trainable unit pays its weight gradients and, because candle's matmul
//!   backward always computes both operands' gradients, its input gradients;
//! - a frozen unit pays input gradients only (frozen-linear op), and only when
//!   a gradient flows into it, i.e. some unit upstream of its input trains;
//!   otherwise it ran without a graph and costs only its forward;
//! - attention products have two activation operands, so backward costs twice
//!   their forward wherever backward reaches;
//! - with activation checkpointing (`recompute`), every main-path block that
//!   records a graph (trainable, or reached by a gradient) runs its forward
//!   once more in backward.

use super::block::{Gate, Gates};
use super::dit::block_ids;
use super::ModelConfig;

/// AdamW FLOPs per trainable scalar per step (moments, bias correction, decay, update).
pub const ADAMW_FLOPS_PER_PARAM: u64 = 12;

/// Forward cost of one unit for one input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCost {
    /// Unit name.
    pub unit: String,
    /// FLOPs of products with a weight operand (linear layers, convs).
    pub linear: u64,
    /// FLOPs of products of two activations (attention scores and mixing).
    pub attention: u64,
}

impl UnitCost {
    /// Forward FLOPs.
    pub fn forward(&self) -> u64 {
        self.linear + self.attention
    }
}

/// FLOPs of one training step, split by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StepFlops {
    /// Forward of every unit that ran.
    pub forward: u64,
    /// Input-gradient products of backward.
    pub backward_input: u64,
    /// Weight-gradient products of trainable units.
    pub backward_weight: u64,
    /// Optimizer update.
    pub optimizer: u64,
    /// Forward of checkpointed blocks run again in backward (0 without
    /// activation checkpointing).
    #[serde(default)]
    pub recompute: u64,
}

impl StepFlops {
    /// Sum of all phases.
    pub fn total(&self) -> u64 {
        self.forward + self.backward_input + self.backward_weight + self.optimizer + self.recompute
    }
}

/// What a training step does with one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStep {
    /// Forward costs.
    pub cost: UnitCost,
    /// The unit's gate.
    pub gate: Gate,
    /// Whether it records a backward graph (it trains, or a gradient reaches
    /// its input): backward crosses it, and checkpointing would recompute it.
    pub graph: bool,
}

/// Which conditions a step feeds (an input is used only if given and its part is not skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// Pose maps given.
    pub pose: bool,
    /// Reference image given.
    pub reference: bool,
}

/// Forward costs of every unit for `b` clips of `t` frames (reference and
/// pose paths counted as running).
pub fn unit_costs(cfg: &ModelConfig, gates: &Gates, b: usize, t: usize) -> Vec<UnitCost> {
    let on = |u: &str| gates.get(u) != Gate::Skipped;
    costs(
        cfg,
        Conditions {
            pose: on("pose"),
            reference: on("reference.embed"),
        },
        b,
        t,
    )
}

fn costs(cfg: &ModelConfig, cond: Conditions, b: usize, t: usize) -> Vec<UnitCost> {
    let u = |x: usize| x as u64;
    let (d, n, pd, ph, p2) = (
        u(cfg.dim),
        u(cfg.tokens()),
        u(cfg.pose_dim),
        u(cfg.pose_hidden),
        u(cfg.patch * cfg.patch),
    );
    let (b, t, hw, r) = (u(b), u(t), u(cfg.image_size * cfg.image_size), u(cfg.mlp_ratio));
    let frames = b * t;
    let tokens = frames * n;
    let block_linear = |rows: u64| 2 * rows * (3 * d * d + d * d + 2 * d * r * d);
    let cost = |unit: String, linear: u64, attention: u64| UnitCost {
        unit,
        linear,
        attention,
    };
    let mut out = vec![
        cost("reference.embed".into(), 2 * b * n * 3 * p2 * d, 0),
        cost("pose".into(), 2 * frames * hw * 27 * ph + 2 * tokens * ph * p2 * pd, 0),
        cost("embed".into(), 2 * tokens * 3 * p2 * d, 0),
        cost("time".into(), 2 * 2 * b * d * d, 0),
    ];
    for id in block_ids(cfg) {
        let name = id.to_string();
        let c = match id.kind {
            super::BlockKind::Reference => cost(name, block_linear(b * n), 4 * b * n * n * d),
            super::BlockKind::Spatial => {
                let mut linear = block_linear(tokens) + 2 * frames * d * 6 * d;
                let mut attention = 4 * frames * n * n * d;
                if cond.pose {
                    linear += 2 * tokens * pd * d;
                }
                if cond.reference {
                    linear += 2 * b * n * 3 * d * d;
                    attention += 4 * frames * n * n * d;
                }
                cost(name, linear, attention)
            }
            super::BlockKind::Temporal => cost(name, 2 * tokens * 4 * d * d, 4 * b * n * t * t * d),
        };
        out.push(c);
    }
    out.push(cost(
        "final".into(),
        2 * frames * d * 2 * d + 2 * tokens * d * 3 * p2,
        0,
    ));
    out
}

/// FLOPs of one training step of `b` clips of `t` frames under `gates`, with
/// `trainable_params` scalars updated by AdamW.
pub fn step_flops(
    cfg: &ModelConfig,
    gates: &Gates,
    given: Conditions,
    b: usize,
    t: usize,
    trainable_params: usize,
) -> StepFlops {
    step_flops_with(cfg, gates, given, b, t, trainable_params, false)
}

/// [`step_flops`] with activation checkpointing of the main-path blocks when `recompute`.
pub fn step_flops_with(
    cfg: &ModelConfig,
    gates: &Gates,
    given: Conditions,
    b: usize,
    t: usize,
    trainable_params: usize,
    recompute: bool,
) -> StepFlops {
    let mut s = StepFlops {
        optimizer: ADAMW_FLOPS_PER_PARAM * trainable_params as u64,
        ..Default::default()
    };
    for u in step_units(cfg, gates, given, b, t) {
        s.forward += u.cost.forward();
        if u.gate == Gate::Trainable {
            s.backward_weight += u.cost.linear;
        }
        if u.graph {
            s.backward_input += u.cost.linear + 2 * u.cost.attention;
            let main = u.cost.unit.starts_with("spatial.") || u.cost.unit.starts_with("temporal.");
            if recompute && main {
                s.recompute += u.cost.forward();
            }
        }
    }
    s
}

/// The units a step runs, in forward order, with their forward costs and
/// whether each records a backward graph (skipped units and unused
/// conditioning paths left out).
pub fn step_units(cfg: &ModelConfig, gates: &Gates, given: Conditions, b: usize, t: usize) -> Vec<UnitStep> {
    let g = |u: &str| gates.get(u);
    let cond = Conditions {
        pose: given.pose && g("pose") != Gate::Skipped,
        reference: given.reference && g("reference.embed") != Gate::Skipped,
    };
    let mut out = Vec::new();
    // Whether a gradient flows out of the reference encoder, the pose guider,
    // the time embedding, and along the main token stream.
    let (mut ref_grad, mut x_grad) = (false, false);
    let time_grad = g("time") == Gate::Trainable;
    let pose_grad = cond.pose && g("pose") == Gate::Trainable;
    for c in costs(cfg, cond, b, t) {
        let gate = g(&c.unit);
        let is_ref = c.unit.starts_with("reference");
        if gate == Gate::Skipped || (is_ref && !cond.reference) || (c.unit == "pose" && !cond.pose) {
            continue;
        }
        let grad_in = match c.unit.as_str() {
            "reference.embed" | "pose" | "embed" | "time" => false,
            u if u.starts_with("reference.") => ref_grad,
            u if u.starts_with("spatial.") => x_grad || time_grad || pose_grad || (cond.reference && ref_grad),
            "final" => x_grad || time_grad,
            _ => x_grad,
        };
        let graph = gate == Gate::Trainable || grad_in;
        match c.unit.as_str() {
            u if u.starts_with("reference") => ref_grad |= graph,
            "pose" | "time" => {}
            _ => x_grad |= graph,
        }
        out.push(UnitStep { cost: c, gate, graph });
    }
    out
}
