//! `[eval]` section: sampled evaluation during training (the runner is
//! `crate::eval::sampled`).

use serde::{Deserialize, Serialize};

use crate::config::{check, key, Invalid, Validate};

/// `[eval]`: sampled evaluation during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Generate and score test clips every this many steps and at the end
    /// (0 = never). Rows go to the run's `eval.parquet` with their wall
    /// time, which is kept out of the training-time columns.
    pub every: u64,
    /// Test clips generated at each evaluation.
    pub clips: usize,
    /// Sampler steps (0 = `diffusion.sample_steps`); the sampler and
    /// guidance are `[diffusion]`'s.
    pub sample_steps: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 0,
            clips: 4,
            sample_steps: 0,
        }
    }
}

impl Validate for EvalConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            (1..=256).contains(&self.clips),
            key(prefix, "clips"),
            format!("{} is out of range, expected 1 to 256 clips", self.clips),
        );
        check(
            out,
            self.sample_steps <= 10_000,
            key(prefix, "sample_steps"),
            format!(
                "{} is out of range, expected 0 (diffusion.sample_steps) to 10000",
                self.sample_steps
            ),
        );
    }
}

impl EvalConfig {
    /// Whether a sampled evaluation is due after `done` of `steps` steps.
    pub fn due(&self, done: u64, steps: u64) -> bool {
        self.every > 0 && (done == steps || done.is_multiple_of(self.every))
    }
}
