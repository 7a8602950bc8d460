//! The experiment schema: what one `experiments/*.toml` file (after its
//! `extends` chain, the environment and `--set` flags) resolves to.
//!
//! Sections are owned by the modules that use them; this file only assembles
//! them. Presentation-only keys ([`UNHASHED_KEYS`]) do not enter the
//! config hash, so moving the results folder, rewording a description or
//! batching the CEI samples differently reuses finished runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{check, key, Invalid, Validate};

/// Keys that change how results are presented or where they are written, or
/// only how the same samples are batched, not what is computed: excluded
/// from the config hash. `cei.batch_conditions` groups the same CEI samples
/// into forward batches; the values are bit-identical at any setting (tested
/// through `entprog rank` in tests/study.rs), so a cached run stays valid.
pub const UNHASHED_KEYS: &[&str] = &["extends", "name", "description", "output", "cei.batch_conditions"];

/// One experiment, fully resolved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Base file this one extends, relative to this file (read by the loader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Experiment name: results go to `<output.results_dir>/<name>/`.
    /// Empty means the experiment file's stem.
    pub name: String,
    /// One line on what the experiment asks.
    pub description: String,
    /// Root seed of the run: every random stream derives from it.
    pub seed: u64,
    /// Execution settings that can change numbers (thread count).
    pub run: RunConfig,
    /// Where and how results are written (presentation only).
    pub output: OutputConfig,
    /// Dataset and clip shape (`crate::data`).
    pub data: crate::data::DataConfig,
    /// The denoiser (`crate::model`): a preset and overrides.
    pub model: crate::model::ModelConfig,
    /// Noise schedule, condition dropout, sampler (`crate::diffusion`).
    pub diffusion: crate::diffusion::DiffusionConfig,
    /// Training stage, optimizer, gates, checkpoints (`crate::train`).
    pub train: super::train::TrainConfig,
    /// Block priority estimation (`crate::entprog::cei`).
    pub cei: crate::entprog::cei::CeiConfig,
    /// Progressive schedule (`crate::entprog::schedule`).
    pub schedule: crate::entprog::ScheduleConfig,
    /// Sampled evaluation during training (`crate::eval::sampled`).
    pub eval: super::eval::EvalConfig,
}

/// Execution settings that belong to the hash: floating-point reductions are
/// split by thread count, so bit-for-bit results hold per thread count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Worker threads for tensor kernels; 0 = one per core.
    pub threads: usize,
}

/// Output settings: do not change what is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Root folder of run outputs.
    pub results_dir: PathBuf,
    /// Seconds between log records when progress bars are off (`--quiet` or no terminal).
    pub log_every_s: f64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            results_dir: PathBuf::from("results"),
            log_every_s: 10.0,
        }
    }
}

impl Validate for ExperimentConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            self.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            key(prefix, "name"),
            format!(
                "{:?} is not a folder name, expected letters, digits, '-', '_' or '.'",
                self.name
            ),
        );
        self.run.validate(&key(prefix, "run"), out);
        self.output.validate(&key(prefix, "output"), out);
        self.model.validate(&key(prefix, "model"), out);
        self.diffusion.validate(&key(prefix, "diffusion"), out);
        self.train.validate(&key(prefix, "train"), out);
        self.data.validate(&key(prefix, "data"), out);
        self.cei.validate(&key(prefix, "cei"), out);
        self.schedule.validate(&key(prefix, "schedule"), out);
        self.eval.validate(&key(prefix, "eval"), out);
        check(
            out,
            !self.train.stage.is_image() || self.data.clip_frames == 1,
            key(prefix, "data.clip_frames"),
            format!(
                "stage {:?} trains on images (one-frame clips), expected 1",
                self.train.stage
            ),
        );
        check(
            out,
            self.data.clip_frames == 1 || self.model.temporal,
            key(prefix, "data.clip_frames"),
            "clips of several frames need model.temporal = true",
        );
    }
}

impl RunConfig {
    /// Fixes the worker thread count for this process: candle's kernels and
    /// its GEMM read `RAYON_NUM_THREADS`, and the global rayon pool is built
    /// with the same count. Call once, before any tensor work. Returns the
    /// count in force (the pool may already exist if tensors were used).
    pub fn apply(&self) -> usize {
        if self.threads > 0 {
            // Single-threaded at this point (called at the start of a command).
            std::env::set_var("RAYON_NUM_THREADS", self.threads.to_string());
            // An already-built pool keeps its size; the count in force is reported below.
            let _ = rayon::ThreadPoolBuilder::new().num_threads(self.threads).build_global();
        }
        rayon::current_num_threads()
    }
}

impl Validate for RunConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            self.threads <= 1024,
            key(prefix, "threads"),
            format!("{} is out of range, expected 0 (all cores) to 1024", self.threads),
        );
    }
}

impl Validate for OutputConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            self.log_every_s.is_finite() && self.log_every_s > 0.0,
            key(prefix, "log_every_s"),
            format!("{} is out of range, expected a number of seconds > 0", self.log_every_s),
        );
        check(
            out,
            !self.results_dir.as_os_str().is_empty(),
            key(prefix, "results_dir"),
            "empty path, expected a folder",
        );
    }
}
