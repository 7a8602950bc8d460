//! Layered configuration with figment: defaults in code < experiment TOML
//! (following its `extends` chain, base first) < `ENTPROG_*` environment
//! variables (nested keys joined with `__`) < `--set key.path=value` flags.
//!
//! Every error names where the offending value came from: the file with line
//! and column where the key can be located, the environment variable, or the
//! flag; then the dotted key path and what was expected, on one line.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::validate::{Invalid, Validate};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "ENTPROG_";

/// Why a configuration could not be resolved. Display is the one-line message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {what} not found")]
    Missing { path: PathBuf, what: &'static str },
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

/// Follows `extends = "base.toml"` links (relative to the file that names
/// them) and returns the chain base first. Detects cycles and syntax errors.
pub fn extends_chain(file: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    follow_links(file, &EXTENDS)
}

/// How a TOML file names the file it builds on (`extends`, for experiments,
/// targets, networks and dataset profiles alike).
pub(crate) struct Link {
    /// What the files are, for "not found" (`experiment file`).
    pub what: &'static str,
    /// The key that names the base.
    pub key: &'static str,
    /// What its value must be, for the error when it is not a string.
    pub expected: &'static str,
    /// The base file a value names, from the folder of the file naming it.
    pub path_of: fn(&Path, &str) -> PathBuf,
}

/// `extends = "base.toml"`: a path relative to the file that names it.
const EXTENDS: Link = Link {
    what: "experiment file",
    key: "extends",
    expected: "a string path to a base TOML file",
    path_of: |dir, value| dir.join(value),
};

/// Follows `link` from `file` and returns the chain base first. Detects
/// missing files, cycles and syntax errors (with line and column).
pub(crate) fn follow_links(file: &Path, link: &Link) -> Result<Vec<PathBuf>, ConfigError> {
    let mut chain: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(file.to_path_buf());
    while let Some(path) = next.take() {
        if !path.is_file() {
            return Err(match chain.last() {
                None => ConfigError::Missing { path, what: link.what },
                Some(named_by) => ConfigError::MissingBase {
                    path: named_by.clone(),
                    key: link.key,
                    what: link.what,
                    base: path,
                },
            });
        }
        let canon = path.canonicalize().map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        if !seen.insert(canon) {
            let mut names: Vec<String> = chain.iter().map(|p: &PathBuf| p.display().to_string()).collect();
            names.push(path.display().to_string());
            return Err(ConfigError::Cycle {
                path: chain.last().cloned().unwrap_or(path),
                key: link.key,
                chain: names.join(" -> "),
            });
        }
        let table = parse_toml(&path)?;
        if let Some(value) = table.get(link.key) {
            let value = value.as_str().ok_or_else(|| ConfigError::BadExtends {
                path: path.clone(),
                key: link.key,
                expected: link.expected,
            })?;
            next = Some((link.path_of)(path.parent().unwrap_or(Path::new(".")), value));
        }
        chain.push(path);
    }
    chain.reverse();
    Ok(chain)
}

fn parse_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Line and column of the key `path` (e.g. `["train", "lr"]`) in a TOML file,
/// when it is written there (dotted keys, tables and inline tables alike).
pub fn locate_key(file: &Path, path: &[String]) -> Option<(usize, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    let doc = toml_edit::ImDocument::parse(text.as_str()).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut span = None;
    for (i, k) in path.iter().enumerate() {
        let (key, item) = table.get_key_value(k)?;
        span = key.span().or_else(|| item.span());
        if i + 1 < path.len() {
            table = item.as_table_like()?;
        }
    }
    span.map(|s| line_col(&text, s.start))
}

/// Human description of where a value came from.
fn describe_source(meta: Option<&Metadata>, path: &[String]) -> String {
    let Some(meta) = meta else {
        return "built-in defaults".to_string();
    };
    match &meta.source {
        Some(Source::File(f)) => match locate_key(f, path) {
            Some((line, col)) => format!("{}:{line}:{col}", f.display()),
            None => f.display().to_string(),
        },
        Some(Source::Custom(c)) if c == ENV_SOURCE => {
            format!("environment variable {}", env_var_name(path))
        }
        Some(Source::Custom(c)) => c.clone(),
        _ => meta.name.to_string(),
    }
}

fn env_var_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join("__").to_uppercase())
}

/// The first of figment's errors as one located [`ConfigError::Value`].
pub(crate) fn describe_figment_error(err: figment::Error, figment: &Figment) -> ConfigError {
    // figment chains every error; the first one is enough for one clear line.
    let first = err.into_iter().next().expect("figment errors are non-empty");
    let mut path = first.path.clone();
    let message = match &first.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            // figment's path usually ends with the unknown key already.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key, expected one of: {}", expected.join(", "))
        }
        kind => kind.to_string(),
    };
    let meta = first
        .metadata
        .as_ref()
        .or_else(|| figment.find_metadata(&path.join(".")));
    ConfigError::Value {
        source_desc: describe_source(meta, &path),
        key: path.join("."),
        message,
    }
}

/// A validation problem as a [`ConfigError::Value`] naming where the merged value came from.
pub(crate) fn describe_invalid(issue: &Invalid, figment: &Figment) -> ConfigError {
    let path: Vec<String> = issue.key.split('.').map(str::to_string).collect();
    let meta = figment.find_metadata(&issue.key);
    ConfigError::Value {
        source_desc: describe_source(meta, &path),
        key: issue.key.clone(),
        message: issue.message.clone(),
    }
}

const ENV_SOURCE: &str = "environment";

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
