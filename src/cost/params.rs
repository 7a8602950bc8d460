//! Parameter counts per unit, from the model's parameter shapes
//! (`Denoiser::shapes_of`, which allocates nothing), and the scalars a step
//! updates: those of trainable units that a gradient reaches, as the trainer
//! counts them (`train::trainer`, "trainable_params").

use std::collections::BTreeMap;

use crate::model::{Denoiser, Gate, ModelError};

use super::scenario::Scenario;

/// The unit that owns parameter `name` (`spatial.07.attn.qkv.weight` ->
/// `spatial.07`, `reference.embed.proj.weight` -> `reference.embed`).
pub fn unit_of(name: &str) -> String {
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or_default();
    match parts.next() {
        Some(second) if second == "embed" || second.chars().all(|c| c.is_ascii_digit()) => {
            format!("{first}.{second}")
        }
        _ => first.to_string(),
    }
}

/// Scalars per unit and per parameter of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamCounts {
    /// (name, unit, scalars), in name order.
    pub params: Vec<(String, String, u64)>,
}

impl ParamCounts {
    /// The counts of `scenario`'s model.
    pub fn of(scenario: &Scenario) -> Result<Self, ModelError> {
        let params = Denoiser::shapes_of(&scenario.model)?
            .into_iter()
            .map(|(name, shape)| {
                let unit = unit_of(&name);
                (name, unit, shape.iter().product::<usize>() as u64)
            })
            .collect();
        Ok(Self { params })
    }

    /// Every scalar of the model.
    pub fn total(&self) -> u64 {
        self.params.iter().map(|p| p.2).sum()
    }

    /// Scalars per unit.
    pub fn per_unit(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (_, unit, n) in &self.params {
            *out.entry(unit.clone()).or_insert(0) += n;
        }
        out
    }

    /// Scalars a step of `s` updates: trainable units' parameters that a
    /// gradient reaches. Unreached: a skipped or unused conditioning path
    /// (the reference encoder without a reference image, the pose guider
    /// without poses) and, inside spatial blocks, the pose projection
    /// without poses and the reference gate without a reference.
    pub fn updated(&self, s: &Scenario) -> u64 {
        let runs = |u: &str| s.gates.get(u) != Gate::Skipped;
        let reference = s.given.reference && runs("reference.embed");
        let pose = s.given.pose && runs("pose");
        self.params
            .iter()
            .filter(|(name, unit, _)| {
                let needs_reference = unit.starts_with("reference") || name.ends_with(".ref_gate");
                let needs_pose = unit == "pose" || name.contains(".pose_proj.");
                s.gates.get(unit) == Gate::Trainable && (reference || !needs_reference) && (pose || !needs_pose)
            })
            .map(|p| p.2)
            .sum()
    }

    /// The largest single parameter tensor (the optimizer's transient).
    pub fn largest(&self) -> u64 {
        self.params.iter().map(|p| p.2).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_belong_to_their_gated_unit() {
        assert_eq!(unit_of("spatial.07.attn.qkv.weight"), "spatial.07");
        assert_eq!(unit_of("reference.embed.proj.weight"), "reference.embed");
        assert_eq!(unit_of("reference.01.mlp.fc1.bias"), "reference.01");
        assert_eq!(unit_of("final.proj.weight"), "final");
        assert_eq!(unit_of("pose.conv.weight"), "pose");
    }
}
