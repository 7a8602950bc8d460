//! A resolved experiment with its derived values: name, config hash, the
//! files and flags it came from, and its resolved TOML text.

use std::path::{Path, PathBuf};

use super::schema::{ExperimentConfig, UNHASHED_KEYS};
use crate::config::config_hash;
use crate::config::{load, ConfigError};

/// A validated experiment, ready to run.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub config: ExperimentConfig,
    /// `config.name`, or the experiment file's stem when that is empty.
    pub name: String,
    /// SHA-256 of the canonical config without presentation keys.
    pub hash: String,
    /// The experiment file as given, then its `extends` chain base first.
    pub path: PathBuf,
    pub files: Vec<PathBuf>,
    pub sets: Vec<String>,
}

impl Experiment {
    /// Resolves `arg` (a path, or a name under `experiments/`) and loads it
    /// with the environment and `--set` flags.
    pub fn load(arg: &str, sets: &[String]) -> Result<Self, ConfigError> {
        let path = resolve_experiment_path(arg);
        let resolved = load::<ExperimentConfig>(&path, sets)?;
        Ok(Self::from_config(resolved.config, path, resolved.files, resolved.sets))
    }

    /// Wraps an already-resolved config (tests and studies build configs in code).
    pub fn from_config(config: ExperimentConfig, path: PathBuf, files: Vec<PathBuf>, sets: Vec<String>) -> Self {
        let name = if config.name.is_empty() {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "experiment".into())
        } else {
            config.name.clone()
        };
        let hash = config_hash(&config, &hash_exclusions(&config));
        Self {
            config,
            name,
            hash,
            path,
            files,
            sets,
        }
    }

    /// The run folder spec of this experiment's `cell`; `variant` separates
    /// outputs that depend on more than the config (e.g. the scorers asked
    /// for) by suffixing the config hash.
    pub fn run_spec(&self, cell: &str, variant: Option<&str>) -> crate::results::RunSpec {
        crate::results::RunSpec {
            results_dir: self.config.output.results_dir.clone(),
            experiment: self.name.clone(),
            cell: cell.into(),
            seed: self.config.seed,
            config_hash: variant.map_or_else(|| self.hash.clone(), |v| format!("{}-{v}", self.hash)),
            config_toml: self.to_toml(),
        }
    }

    /// The resolved config as TOML (what `config show` prints and runs save).
    pub fn to_toml(&self) -> String {
        let mut c = self.config.clone();
        c.extends = None;
        c.name = self.name.clone();
        toml::to_string_pretty(&c).expect("configs serialise to TOML")
    }
}

/// The keys left out of `config`'s hash: [`UNHASHED_KEYS`], and a path
/// whose producing run is named by its hash (`train.init_from` with
/// `train.init_from_hash`, `schedule.ranking` with `schedule.ranking_hash`),
/// so the hash says what a run computes, not where its inputs live.
pub fn hash_exclusions(config: &ExperimentConfig) -> Vec<&'static str> {
    let mut keys = UNHASHED_KEYS.to_vec();
    if config.train.init_from_hash.is_some() {
        keys.push("train.init_from");
    }
    if config.schedule.ranking_hash.is_some() {
        keys.push("schedule.ranking");
    }
    keys
}

/// `experiments/table3.toml`, `table3.toml` or `table3`: the first that exists,
/// else the argument as given (so the error names what the user typed).
pub fn resolve_experiment_path(arg: &str) -> PathBuf {
    let given = PathBuf::from(arg);
    if given.is_file() {
        return given;
    }
    let candidates = [
        Path::new("experiments").join(arg),
        Path::new("experiments").join(format!("{arg}.toml")),
    ];
    candidates.into_iter().find(|p| p.is_file()).unwrap_or(given)
}
