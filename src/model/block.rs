//! Residual blocks, their stable ids, and gates (docs/paper.md §2: unfrozen blocks
//! train; frozen blocks still run forward; docs/design.md: skipped = identity).
//!
//! A *unit* is anything with its own gate: a residual block (`spatial.07`,
//! `temporal.03`, `reference.01`) or one of the model's non-block parts
//! (`embed`, `time`, `pose`, `reference.embed`, `final`). Ent-Prog (CEI, the
//! schedules, the supernet) sees only blocks, through the [`Blocks`] trait.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a unit does in a training step.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Runs forward; its weights are variables, get gradients and optimizer state.
    Trainable,
    /// Runs forward with constant weights: no weight gradient, no optimizer
    /// state; backward crosses it (input gradient only) only when something
    /// upstream trains.
    Frozen,
    /// Not run: a residual block becomes the identity; a conditioning part
    /// (pose guider, reference encoder) is switched off.
    Skipped,
}

impl Gate {
    /// The name written to `blocks.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Trainable => "trainable",
            Gate::Frozen => "frozen",
            Gate::Skipped => "skipped",
        }
    }
}

/// The three kinds of residual block.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Reference-encoder transformer block (runs on the reference image).
    Reference,
    /// Denoiser transformer block over the tokens of one frame.
    Spatial,
    /// Attention across frames at each token position (video mode).
    Temporal,
}

impl BlockKind {
    /// Id prefix: `spatial`, `temporal`, `reference`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Reference => "reference",
            BlockKind::Spatial => "spatial",
            BlockKind::Temporal => "temporal",
        }
    }
}

/// A stable block id, written `spatial.07` (kind, two-digit index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId {
    /// Which stack the block is in.
    pub kind: BlockKind,
    /// Position within its stack, from the input side.
    pub index: usize,
}

impl BlockId {
    /// Builds an id.
    pub fn new(kind: BlockKind, index: usize) -> Self {
        Self { kind, index }
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.kind.as_str(), self.index)
    }
}

/// A string that is not a block id.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("`{0}` is not a block id (expected spatial.NN, temporal.NN or reference.NN)")]
pub struct BadBlockId(pub String);

impl FromStr for BlockId {
    type Err = BadBlockId;
    fn from_str(s: &str) -> Result<Self, BadBlockId> {
        let bad = || BadBlockId(s.to_string());
        let (kind, index) = s.split_once('.').ok_or_else(bad)?;
        let kind = match kind {
            "spatial" => BlockKind::Spatial,
            "temporal" => BlockKind::Temporal,
            "reference" => BlockKind::Reference,
            _ => return Err(bad()),
        };
        let index = index.parse().map_err(|_| bad())?;
        Ok(Self { kind, index })
    }
}

/// The non-block parts of the denoiser, each gated as a unit.
pub const PARTS: [&str; 5] = ["embed", "time", "pose", "reference.embed", "final"];

/// Parts that cannot be skipped (the network needs them to run at all).
pub const REQUIRED_PARTS: [&str; 3] = ["embed", "time", "final"];

/// A gate for every unit, by unit name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Gates {
    map: BTreeMap<String, Gate>,
}

/// A gate was requested for a unit the model does not have.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GateError {
    /// No such unit.
    #[error("no unit named `{unit}` (known: {known})")]
    UnknownUnit { unit: String, known: String },
    /// A required part cannot be skipped.
    #[error("`{0}` cannot be skipped (the denoiser needs it to run)")]
    Required(String),
    /// A pattern matched nothing.
    #[error("gate pattern `{0}` matches no unit")]
    NoMatch(String),
}

impl Gates {
    /// Every unit of `units` in state `gate`.
    pub fn all(units: impl IntoIterator<Item = String>, gate: Gate) -> Self {
        Self {
            map: units.into_iter().map(|u| (u, gate)).collect(),
        }
    }

    /// The gate of `unit` (units not in the map count as frozen).
    pub fn get(&self, unit: &str) -> Gate {
        self.map.get(unit).copied().unwrap_or(Gate::Frozen)
    }

    /// The gate of a block.
    pub fn block(&self, id: BlockId) -> Gate {
        self.get(&id.to_string())
    }

    /// Sets one unit's gate.
    pub fn set(&mut self, unit: &str, gate: Gate) -> Result<(), GateError> {
        match self.map.get_mut(unit) {
            None => Err(GateError::UnknownUnit {
                unit: unit.to_string(),
                known: self.names().join(", "),
            }),
            Some(_) if gate == Gate::Skipped && REQUIRED_PARTS.contains(&unit) => Err(GateError::Required(unit.into())),
            Some(g) => {
                *g = gate;
                Ok(())
            }
        }
    }

    /// Sets every unit matching `pattern` (an exact name, `*` for all, or a
    /// prefix ending in `*`, e.g. `temporal.*`); returns how many matched.
    pub fn set_matching(&mut self, pattern: &str, gate: Gate) -> Result<usize, GateError> {
        let names: Vec<String> = self.names().into_iter().filter(|n| matches(pattern, n)).collect();
        if names.is_empty() {
            return Err(GateError::NoMatch(pattern.to_string()));
        }
        for n in &names {
            self.set(n, gate)?;
        }
        Ok(names.len())
    }

    /// All unit names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Units in state `gate`, sorted.
    pub fn with(&self, gate: Gate) -> Vec<String> {
        self.map
            .iter()
            .filter(|(_, g)| **g == gate)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Iterates (unit, gate).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Gate)> {
        self.map.iter().map(|(n, g)| (n.as_str(), *g))
    }
}

/// Glob with a single trailing `*` (or `*` alone).
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// One residual block as Ent-Prog sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInfo {
    /// Stable id.
    pub id: BlockId,
    /// Number of parameters (scalars) in the block.
    pub params: usize,
    /// Forward FLOPs of the block per sample of the current input size (a
    /// relative cost for schedules; see `flops.rs` for the full accounting).
    pub forward_flops: u64,
}

/// The residual blocks of a model and their gates: what CEI scoring and the
/// progressive schedules need, and nothing else. A model implementing this
/// trait can be ranked and trained progressively.
pub trait Blocks {
    /// One batch of model inputs (noisy sample, timesteps, conditions).
    type Input<'a>;
    /// Error of a forward pass.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The predicted noise eps_hat under the current gates (skipped blocks
    /// are identities), e.g. `[b, t, 3, H, W]`.
    fn predict(&self, input: &Self::Input<'_>) -> Result<candle_core::Tensor, Self::Error>;
    /// The residual blocks in forward order (reference encoder first, then
    /// the denoiser's spatial and temporal blocks interleaved).
    fn blocks(&self) -> Vec<BlockInfo>;
    /// The current gate of a block.
    fn block_gate(&self, id: BlockId) -> Gate;
    /// Changes a block's gate; takes effect at the next forward pass.
    fn set_block_gate(&mut self, id: BlockId, gate: Gate) -> Result<(), GateError>;
    /// The prediction with each of `ids` skipped in turn (one tensor per id,
    /// the other gates as they are). The default reruns the whole network per
    /// id; a model overrides it to reuse the forward prefix before each block,
    /// which is identical up to the block and so need not be recomputed.
    fn predict_each_skipped(
        &mut self,
        input: &Self::Input<'_>,
        ids: &[BlockId],
    ) -> Result<Vec<candle_core::Tensor>, Self::Error>
    where
        Self::Error: From<GateError>,
    {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let before = self.block_gate(id);
            self.set_block_gate(id, Gate::Skipped)?;
            let pred = self.predict(input);
            self.set_block_gate(id, before)?;
            out.push(pred?);
        }
        Ok(out)
    }
    /// The prediction under the current gates and, beside it, each of `ids`
    /// skipped in turn ([`Blocks::predict_each_skipped`]). A model that
    /// reuses the forward prefix gets the full prediction from the same
    /// pass, saving one forward of the prefix.
    #[allow(clippy::type_complexity)]
    fn predict_with_each_skipped(
        &mut self,
        input: &Self::Input<'_>,
        ids: &[BlockId],
    ) -> Result<(candle_core::Tensor, Vec<candle_core::Tensor>), Self::Error>
    where
        Self::Error: From<GateError>,
    {
        let base = self.predict(input)?;
        Ok((base, self.predict_each_skipped(input, ids)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_round_trip_through_their_names() {
        for id in [
            BlockId::new(BlockKind::Spatial, 7),
            BlockId::new(BlockKind::Temporal, 3),
            BlockId::new(BlockKind::Reference, 1),
        ] {
            assert_eq!(id.to_string().parse::<BlockId>().unwrap(), id);
        }
        assert_eq!(BlockId::new(BlockKind::Spatial, 7).to_string(), "spatial.07");
        assert!("spatial".parse::<BlockId>().is_err() && "pose.01".parse::<BlockId>().is_err());
    }

    #[test]
    fn gate_patterns_set_matching_units_and_refuse_bad_ones() {
        let mut g = Gates::all(
            ["spatial.00", "spatial.01", "temporal.00", "embed"].map(String::from),
            Gate::Frozen,
        );
        assert_eq!(g.set_matching("spatial.*", Gate::Trainable), Ok(2));
        assert_eq!(g.with(Gate::Trainable), vec!["spatial.00", "spatial.01"]);
        assert_eq!(
            g.set_matching("pose", Gate::Trainable),
            Err(GateError::NoMatch("pose".into()))
        );
        assert_eq!(g.set("embed", Gate::Skipped), Err(GateError::Required("embed".into())));
        assert!(matches!(
            g.set("nope", Gate::Frozen),
            Err(GateError::UnknownUnit { .. })
        ));
    }
}
