//! The blocks of a target's tables: a dataset, or a dataset and a group of
//! arms with its own baseline (`bilibili, budget 2x`), and the target's
//! arms by group.

use super::target::{Arm, TargetConfig};

/// One block of a target's tables: a dataset, or a dataset and a group of arms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub dataset: String,
    pub group: String,
}

impl Block {
    /// `tiktok`, or `bilibili, 2x steps` for a group.
    pub fn name(&self) -> String {
        block_name(&self.dataset, &self.group)
    }
}

/// The name of the block of `dataset` and `group` (the report's key).
pub fn block_name(dataset: &str, group: &str) -> String {
    match group.is_empty() {
        true => dataset.to_string(),
        false => format!("{dataset}, {group}"),
    }
}

impl TargetConfig {
    /// The arms' groups in the order they first appear.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.arms {
            if !out.contains(&a.group) {
                out.push(a.group.clone());
            }
        }
        out
    }

    /// The blocks of the report: per dataset, each group.
    pub fn blocks(&self) -> Vec<Block> {
        let groups = self.groups();
        self.datasets
            .iter()
            .flat_map(|d| {
                groups.iter().map(move |g| Block {
                    dataset: d.clone(),
                    group: g.clone(),
                })
            })
            .collect()
    }

    /// The arms of `group`.
    pub fn arms_of<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Arm> + 'a {
        self.arms.iter().filter(move |a| a.group == group)
    }

    /// The baseline arm's scheme in `group`.
    pub fn baseline_of(&self, group: &str) -> String {
        self.arms_of(group)
            .find(|a| a.baseline)
            .map(|a| a.scheme.clone())
            .unwrap_or_default()
    }
}
