//! Layered configuration with figment: defaults in code < experiment TOML
//! (following its `extends` chain, base first) < `ENTPROG_*` environment
//! variables (nested keys joined with `__`) < `--set key.path=value` flags.
//!
//! Every error names where the offending value came from: the file with line
//! and column where the key can be located, the environment variable, or the
//! flag; then the dotted key path and what was expected, on one line.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use super::describe::locate_key;
pub(crate) use super::describe::{describe_figment_error, describe_invalid};
pub use super::extends::extends_chain;
use super::extends::{follow_links, Link, EXTENDS};
use super::validate::Validate;

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "ENTPROG_";

/// Why a configuration could not be resolved. Display is the one-line message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {what} not found")]
    Missing { path: PathBuf, what: &'static str },
    /// A name that resolves to no file, with the names that do.
    #[error("{path}: no {what} {name:?}, expected one of: {available}")]
    UnknownName {
        path: PathBuf,
        what: &'static str,
        name: String,
        available: String,
    },
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A base named by `path` that does not exist.
    #[error("{path}: {key}: no {what} {base}")]
    MissingBase {
        path: PathBuf,
        key: &'static str,
        what: &'static str,
        base: PathBuf,
    },
    #[error("{path}: {key}: cycle: {chain}")]
    Cycle {
        path: PathBuf,
        key: &'static str,
        chain: String,
    },
    #[error("{path}: {key}: expected {expected}")]
    BadExtends {
        path: PathBuf,
        key: &'static str,
        expected: &'static str,
    },
    #[error("--set {flag}: expected key.path=value")]
    BadFlag { flag: String },
    /// A value that failed to deserialize or validate, with its source.
    #[error("{source_desc}: {key}: {message}")]
    Value {
        source_desc: String,
        key: String,
        message: String,
    },
}

/// A resolved configuration and what produced it.
#[derive(Debug, Clone)]
pub struct Resolved<T> {
    pub config: T,
    /// The files read, base first.
    pub files: Vec<PathBuf>,
    /// The `--set` flags applied, as given.
    pub sets: Vec<String>,
}

/// Loads `T` from defaults, the experiment file chain, the environment and flags,
/// then validates it.
pub fn load<T>(file: &Path, sets: &[String]) -> Result<Resolved<T>, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    load_with_env(file, sets, std::env::vars())
}

/// As [`load`], with the environment given explicitly (tests pass their own).
pub fn load_with_env<T, I>(file: &Path, sets: &[String], env: I) -> Result<Resolved<T>, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
    I: IntoIterator<Item = (String, String)>,
{
    let layers = Layers {
        file,
        what: "experiment file",
        env: env.into_iter().collect(),
        sets,
        defaults_named_after_file: false,
    };
    let (config, merged): (T, _) = extract(&layers)?;
    let mut issues = Vec::new();
    config.validate("", &mut issues);
    if let Some(first) = issues.into_iter().next() {
        return Err(describe_invalid(&first, &merged.figment));
    }
    Ok(Resolved {
        config,
        files: merged.files,
        sets: sets.to_vec(),
    })
}

/// What a layered load merges, lowest first: `T`'s defaults, then `file`
/// with its `extends` chain (base first), then the `ENTPROG_*` variables
/// of `env`, then the `--set` flags. Experiments and dataset profiles both
/// load this way; a profile passes no environment and no flags.
pub struct Layers<'a> {
    pub file: &'a Path,
    /// What such files are, for "not found" (`experiment file`, `dataset profile`).
    pub what: &'static str,
    /// Environment variables; only `ENTPROG_*` ones are read.
    pub env: Vec<(String, String)>,
    pub sets: &'a [String],
    /// Name the defaults layer after `file` (`<file> (built-in default)`),
    /// so a broken rule whose value nobody set still names the file at fault.
    pub defaults_named_after_file: bool,
}

/// The merged layers, kept so that validation problems can say where each
/// value came from ([`describe_invalid`]).
pub struct Merged {
    pub figment: Figment,
    /// The files read, base first.
    pub files: Vec<PathBuf>,
}

/// Merges `layers` and extracts `T` (not yet validated).
pub fn extract<T>(layers: &Layers) -> Result<(T, Merged), ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let link = Link {
        what: layers.what,
        ..EXTENDS
    };
    let files = follow_links(layers.file, &link)?;
    let defaults = default_layer(&T::default());
    let mut figment = if layers.defaults_named_after_file {
        Figment::from(NamedDefaults {
            file: layers.file,
            value: defaults,
        })
    } else {
        Figment::from(Serialized::defaults(defaults))
    };
    for f in &files {
        figment = figment.merge(Toml::file_exact(f));
    }
    let env: Vec<(String, String)> = layers
        .env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .cloned()
        .collect();
    if !env.is_empty() {
        figment = figment.merge(EnvVars(env));
    }
    for flag in layers.sets {
        figment = figment.merge(SetFlag::parse(flag)?);
    }
    let config: T = figment.extract().map_err(|e| describe_figment_error(e, &figment))?;
    Ok((config, Merged { figment, files }))
}

/// The defaults as figment's lowest layer, named after the file being loaded.
struct NamedDefaults<'a> {
    file: &'a Path,
    value: figment::value::Value,
}

impl Provider for NamedDefaults<'_> {
    fn metadata(&self) -> Metadata {
        let name = format!("{} (built-in default)", self.file.display());
        Metadata::from("built-in defaults", Source::Custom(name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.value).data()
    }
}

/// The stems of the `*.toml` files in `dir`, sorted (the names a user may
/// give: targets, dataset profiles).
pub fn toml_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// The lowest layer: `defaults` serialised, except that a section with a
/// `preset` key contributes nothing. Such a section (`[model]`) resolves its
/// own values from the preset named in a higher layer, with the keys given
/// explicitly there on top; serialising every field of the default preset
/// here would make those fields look explicit and override any preset chosen
/// later (`--set model.preset=tiny` once kept the default preset's sizes).
fn default_layer<T: Serialize>(defaults: &T) -> figment::value::Value {
    use figment::value::Value;
    fn strip(value: Value) -> Value {
        match value {
            Value::Dict(tag, dict) if dict.contains_key("preset") => Value::Dict(tag, Dict::new()),
            Value::Dict(tag, dict) => Value::Dict(tag, dict.into_iter().map(|(k, v)| (k, strip(v))).collect()),
            other => other,
        }
    }
    strip(Value::serialize(defaults).expect("configs serialise"))
}

pub(crate) const ENV_SOURCE: &str = "environment";

/// The `ENTPROG_*` variables, split on `__` into nested keys (figment's `Env`
/// reads the process environment only; tests need to pass their own).
struct EnvVars(Vec<(String, String)>);

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::from("environment variables", Source::Custom(ENV_SOURCE.into()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (k, v) in &self.0 {
            let key = k[ENV_PREFIX.len()..].to_lowercase().replace("__", ".");
            let value: figment::value::Value = v.parse().expect("figment parses any string");
            let nested = figment::util::nest(&key, value);
            if let figment::value::Value::Dict(_, d) = nested {
                dict = merge_dicts(dict, d);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_dicts(mut a: Dict, b: Dict) -> Dict {
    use figment::value::Value;
    for (k, v) in b {
        let merged = match (a.remove(&k), v) {
            (Some(Value::Dict(_, x)), Value::Dict(tag, y)) => Value::Dict(tag, merge_dicts(x, y)),
            (_, v) => v,
        };
        a.insert(k, merged);
    }
    a
}

/// One `--set key.path=value` flag; the value is read as a TOML value
/// (`3`, `1e-4`, `true`, `[1, 2]`, `"text"`), else taken as a bare string.
struct SetFlag {
    flag: String,
    key: String,
    value: figment::value::Value,
}

impl SetFlag {
    fn parse(flag: &str) -> Result<Self, ConfigError> {
        let (key, raw) = flag
            .split_once('=')
            .ok_or_else(|| ConfigError::BadFlag { flag: flag.to_string() })?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(ConfigError::BadFlag { flag: flag.to_string() });
        }
        let value = match format!("v = {raw}").parse::<toml::Table>() {
            Ok(mut t) => to_figment_value(t.remove("v").expect("key v")),
            Err(_) => figment::value::Value::from(raw.to_string()),
        };
        Ok(SetFlag {
            flag: flag.to_string(),
            key: key.to_string(),
            value,
        })
    }
}

fn to_figment_value(v: toml::Value) -> figment::value::Value {
    // toml::Value serializes into figment's Value losslessly (both are serde data models).
    figment::value::Value::serialize(v).expect("toml values are serializable")
}

impl Provider for SetFlag {
    fn metadata(&self) -> Metadata {
        Metadata::from("command-line flag", Source::Custom(format!("--set {}", self.flag)))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        match figment::util::nest(&self.key, self.value.clone()) {
            figment::value::Value::Dict(_, d) => Ok(Profile::Default.collect(d)),
            _ => Err(figment::Error::from(format!(
                "--set {}: expected key.path=value",
                self.flag
            ))),
        }
    }
}

impl fmt::Display for SetFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.flag)
    }
}
