//! A reproduce target (`experiments/targets/<name>.toml`): one of the
//! paper's tables or figures as a study. It names the shared stage chain,
//! the compared arms (a scheme and the experiment that trains it), the
//! datasets, the seeds, the paper's numbers to print beside ours, and
//! profiles that scale the whole study (`smoke` for CI, `default` for this
//! CPU, `paper` for the paper's sizes). Every knob of a cell stays in its
//! experiment file; a profile only adds `--set` flags, so a cell is the
//! experiment a user could train by hand with those flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::blocks::{block_name, Block};
use crate::config::{check, key, ConfigError, Invalid, Validate};

/// One stage of the shared chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainStage {
    /// Experiment name under `experiments/`.
    pub experiment: String,
    /// Trained once per dataset of the target (on that dataset), rather than
    /// once for all (the foundation pretrains on every dataset at once).
    pub per_dataset: bool,
}

/// One compared arm: a scheme trained by an experiment from the chain's end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Arm {
    /// Row label in the report (`original`, `Ent-Prog`).
    pub scheme: String,
    /// Experiment name under `experiments/`.
    pub experiment: String,
    /// The arm the others are compared with (full fine-tuning).
    pub baseline: bool,
    /// `--set` flags of this arm on top of the profile's (`schedule.frozen=3`):
    /// several arms of one experiment, each its own cells, named
    /// `<experiment>-<scheme>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// The block of the table the arm belongs to within a dataset (`2x
    /// steps`, `stage 1`); each block has its own baseline. Empty: the
    /// dataset's one block.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The chain stage (experiment name) whose checkpoint the arm starts
    /// from; empty: the chain's last stage.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// The arm's step budget as a multiple of its experiment's steps under
    /// the profile (`2.0`: twice as long); the schedule's stages and the
    /// evaluation cadence follow from the steps as they do in any run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_factor: Option<f64>,
}

impl Arm {
    /// Whether the arm's cells differ from a plain run of its experiment
    /// (own flags or step budget), so they need a name of their own.
    pub fn has_own_flags(&self, profile: &Profile) -> bool {
        !self.set.is_empty() || self.steps_factor.is_some() || !profile.arm_flags(self).is_empty()
    }
}

/// A profile: how the whole study is scaled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// One line on what the profile is for.
    pub description: String,
    /// `--set` flags for every cell.
    pub set: Vec<String>,
    /// `--set` flags for the cells of one experiment (by experiment name).
    pub experiment_set: BTreeMap<String, Vec<String>>,
    /// Appended to every dataset name (`-16`: the 16x16 profiles of `datasets/`).
    pub dataset_suffix: String,
    /// Seeds per arm when `--seeds` is not given (0: the target's `seeds`).
    pub seeds: u64,
    /// Test clips generated per evaluation.
    pub eval_clips: usize,
    /// Sampler steps per generated clip (overrides `diffusion.sample_steps`).
    pub eval_sample_steps: usize,
    /// Guidance scale of the evaluations (0: the runs' `diffusion.guidance`).
    pub eval_guidance: f64,
    /// Sampler of the evaluations (unset: the runs' `diffusion.sampler`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_sampler: Option<crate::diffusion::SamplerKind>,
    /// Refuse to start unless told to go on (the paper's sizes on a CPU).
    pub confirm: bool,
    /// `--set` flags for the offline feature networks' file (`features`).
    pub features_set: Vec<String>,
    /// `--set` flags for the cells of one arm, after the arm's own: what
    /// differs per model size (a freeze count of 9 blocks of 12 is 3 of the
    /// tiny model's 4). Keyed by scheme, or by `<group>, <scheme>` where
    /// schemes repeat across groups.
    pub arm_set: BTreeMap<String, Vec<String>>,
    /// `sbatch` options of the cells' jobs under `--executor slurm`
    /// (`reproduce` flags override them).
    pub slurm: super::slurm::SlurmOptions,
}

/// Figure 1b-c's probe (`study/probe.rs`): skip k random schedulable blocks
/// of the chain's last checkpoint at once, over seeded trials per k.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSkip {
    /// The experiment whose starting model and gates are probed (`stage3`).
    pub experiment: String,
    /// Trials per k.
    pub trials: usize,
    /// `--set` flags of the probe on top of the profile's (`cei.conditions=8`).
    pub set: Vec<String>,
}

/// CEI rank stability against N (`cei_samples.rs`): one cell per dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CeiSamples {
    /// The experiment whose starting model and gates are ranked (`stage3-entprog`).
    pub experiment: String,
    /// The `cei.conditions` compared (N = conditions x draws).
    pub conditions: Vec<usize>,
    /// The reference ranking's conditions (drawn with a seed of its own).
    pub reference: usize,
    /// Seeds per compared N.
    pub seeds: u64,
}

/// A claim that a metric moves one way along a group's arms in their order:
/// per seed, Spearman's rho between the arm's position and its value; the
/// claim holds when the interval of rho over seeds lies above 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trend {
    /// The group whose arms, in the target's order, are the x axis.
    pub group: String,
    /// The metric (`heldout_loss`, `ssim`).
    pub metric: String,
    /// Whether the claim is that the metric rises along the arms (false: falls).
    pub rises: bool,
    /// The claim in words (`quality falls as more blocks are frozen`).
    pub claim: String,
}

impl Profile {
    /// The profile's flags for `arm` (`arm_set` by `<group>, <scheme>`, else by scheme).
    pub fn arm_flags(&self, arm: &Arm) -> Vec<String> {
        self.arm_set
            .get(&block_name(&arm.group, &arm.scheme))
            .filter(|_| !arm.group.is_empty())
            .or_else(|| self.arm_set.get(&arm.scheme))
            .cloned()
            .unwrap_or_default()
    }
}

/// One row of the paper's table, printed beside ours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperRow {
    pub dataset: String,
    /// The arms' group the row belongs to (empty: none).
    pub group: String,
    pub scheme: String,
    /// Metric name -> the paper's value (`ssim`, `psnr`, `lpips`, `fid`, `fid_vid`, `fvd`,
    /// `memory_gb`, `memory_saving` (the share of memory saved), `speedup`).
    pub values: BTreeMap<String, f64>,
}

/// `experiments/targets/<name>.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// Base target this one extends, relative to this file (read by the
    /// loader): a subset target (`table3-tiktok.toml`) lists only what differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// The paper's table or figure, for the report title (`Table 3`).
    pub title: String,
    /// What the target asks.
    pub description: String,
    /// Datasets the arms train and are evaluated on: one block of the table each.
    pub datasets: Vec<String>,
    /// The shared stage chain, in order; each starts from the previous checkpoint.
    pub chain: Vec<ChainStage>,
    /// The compared arms, each from the chain's last checkpoint.
    pub arms: Vec<Arm>,
    /// Seeds per arm (seeds 0..n); the chain trains with seed 0.
    pub seeds: u64,
    /// Profiles by name (`smoke`, `default`, `paper`).
    pub profiles: BTreeMap<String, Profile>,
    /// The paper's numbers.
    pub paper: Vec<PaperRow>,
    /// Figure 1b-c's random-skip probe, one cell per dataset (none when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_skip: Option<ProbeSkip>,
    /// CEI rank stability against N, one cell per dataset (none when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cei_samples: Option<CeiSamples>,
    /// Claims about the order of a group's arms (Figure 1a: quality falls
    /// as more blocks are frozen), each with its verdict.
    pub trends: Vec<Trend>,
    /// Other targets whose arms, paper rows, trends, probe and profile
    /// flags this one adds to its own (`ablations`: Table 5 and Figure 1),
    /// each arm under its own group or, without one, the included target's
    /// title (`include.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// The offline feature networks every evaluation uses (a file under
    /// `experiments/`, e.g. `nets/dance.toml`; empty: none). Trained once
    /// per profile on the profile's datasets, shared by every study.
    pub features: String,
}

impl Validate for TargetConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            !self.datasets.is_empty(),
            key(prefix, "datasets"),
            "empty, expected at least one dataset",
        );
        check(
            out,
            !self.chain.is_empty(),
            key(prefix, "chain"),
            "empty, expected the stage chain",
        );
        check(
            out,
            self.arms.len() >= 2 || !self.include.is_empty(),
            key(prefix, "arms"),
            "expected at least two arms to compare",
        );
        for g in self.groups() {
            let within = match g.is_empty() {
                true => String::new(),
                false => format!(" in group {g:?}"),
            };
            check(
                out,
                self.arms.iter().filter(|a| a.group == g && a.baseline).count() == 1,
                key(prefix, "arms"),
                format!("expected exactly one arm with baseline = true{within}"),
            );
        }
        for (i, t) in self.trends.iter().enumerate() {
            check(
                out,
                self.arms_of(&t.group).count() >= 3,
                key(prefix, &format!("trends[{i}].group")),
                format!(
                    "{:?} has fewer than 3 arms, expected a group of at least 3 to order",
                    t.group
                ),
            );
        }
        if let Some(c) = &self.cei_samples {
            check(
                out,
                c.seeds >= 1 && !c.conditions.is_empty() && c.conditions.iter().all(|&n| n >= 2 && n <= c.reference),
                key(prefix, "cei_samples"),
                "expected seeds >= 1 and conditions from 2 up to the reference",
            );
        }
        if let Some(p) = &self.probe_skip {
            check(
                out,
                p.trials >= 1,
                key(prefix, "probe_skip.trials"),
                "0 trials, expected >= 1",
            );
        }
        for (i, a) in self.arms.iter().enumerate() {
            check(
                out,
                a.from.is_empty() || self.chain.iter().any(|c| c.experiment == a.from),
                key(prefix, &format!("arms[{i}].from")),
                format!(
                    "{:?} is not a stage of the chain, expected one of: {}",
                    a.from,
                    self.chain
                        .iter()
                        .map(|c| c.experiment.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            check(
                out,
                a.steps_factor.is_none_or(|f| f.is_finite() && f > 0.0),
                key(prefix, &format!("arms[{i}].steps_factor")),
                format!(
                    "{:?} is out of range, expected a factor > 0",
                    a.steps_factor.unwrap_or(f64::NAN)
                ),
            );
        }
        check(out, self.seeds >= 1, key(prefix, "seeds"), "0 seeds, expected >= 1");
        for (name, p) in &self.profiles {
            for scheme in p.arm_set.keys() {
                check(
                    out,
                    self.arms
                        .iter()
                        .any(|a| &a.scheme == scheme || block_name(&a.group, &a.scheme) == *scheme),
                    key(prefix, &format!("profiles.{name}.arm_set")),
                    format!("{scheme:?} is not the scheme of an arm (or `<group>, <scheme>`)"),
                );
            }
            check(
                out,
                p.eval_clips >= 1,
                key(prefix, &format!("profiles.{name}.eval_clips")),
                "0 clips, expected >= 1",
            );
            check(
                out,
                p.eval_guidance.is_finite() && p.eval_guidance >= 0.0,
                key(prefix, &format!("profiles.{name}.eval_guidance")),
                format!(
                    "{} is not a scale, expected 0 (the runs' own) or a positive number",
                    p.eval_guidance
                ),
            );
            for kind in p.slurm.unknown_kinds() {
                check(
                    out,
                    false,
                    key(prefix, &format!("profiles.{name}.slurm.kinds.{kind}")),
                    format!(
                        "not a kind of cell, expected one of: {}",
                        super::slurm::KINDS.join(", ")
                    ),
                );
            }
            check(
                out,
                p.slurm.time_factor.is_finite() && p.slurm.time_factor > 0.0,
                key(prefix, &format!("profiles.{name}.slurm.time_factor")),
                format!("{} is out of range, expected a factor > 0", p.slurm.time_factor),
            );
        }
    }
}

/// A loaded target.
#[derive(Debug, Clone)]
pub struct Target {
    /// File stem: `table3`.
    pub name: String,
    pub path: PathBuf,
    pub config: TargetConfig,
}

impl Target {
    /// Loads `experiments/targets/<name>.toml` (or a path).
    pub fn load(arg: &str) -> Result<Self, ConfigError> {
        let given = PathBuf::from(arg);
        let dir = Path::new("experiments").join("targets");
        let path = if given.is_file() {
            given
        } else {
            dir.join(format!("{arg}.toml"))
        };
        if !path.is_file() {
            return Err(ConfigError::UnknownName {
                path,
                what: "target",
                name: arg.to_string(),
                // `all` runs every one of them (`reproduce all`).
                available: format!("{}, all", crate::config::load::toml_names(&dir).join(", ")),
            });
        }
        // The environment's ENTPROG_* variables are for the cells' experiments.
        let resolved = crate::config::load::load_with_env::<TargetConfig, _>(&path, &[], Vec::new())?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.to_string());
        let config = super::include::resolve(resolved.config, &path, &mut vec![name.clone()])?;
        Ok(Self { name, path, config })
    }

    /// This target on `datasets` instead of its own (`reproduce --datasets`):
    /// each must have a dataset profile under `root`; the report goes to
    /// `<target>-<d1>-<d2>/` so it does not overwrite the target's own.
    pub fn on_datasets(mut self, datasets: &[String], root: &Path) -> Result<Self, ConfigError> {
        for d in datasets {
            let path = root.join(format!("{d}.toml"));
            if !path.is_file() {
                return Err(ConfigError::UnknownName {
                    path,
                    what: "dataset",
                    name: d.clone(),
                    available: crate::config::load::toml_names(root).join(", "),
                });
            }
        }
        if !datasets.is_empty() && datasets != self.config.datasets.as_slice() {
            self.name = format!("{}-{}", self.name, datasets.join("-"));
            self.config.datasets = datasets.to_vec();
        }
        Ok(self)
    }

    /// The profile `name`, or an error listing the target's profiles.
    pub fn profile(&self, name: &str) -> Result<&Profile, String> {
        self.config.profiles.get(name).ok_or_else(|| {
            format!(
                "{}: no profile {name:?}, expected one of: {}",
                self.path.display(),
                self.config.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}
