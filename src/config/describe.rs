//! Where a configuration value came from, for one-line errors: the file
//! with the line and column of its key, the environment variable, the
//! `--set` flag or the built-in default.

use std::path::Path;

use figment::{Figment, Metadata, Source};

use super::extends::line_col;
use super::load::{ConfigError, ENV_PREFIX, ENV_SOURCE};
use super::validate::Invalid;

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
    // `arms[1].from`: figment knows the array `arms`, not its elements.
    let meta = figment.find_metadata(&issue.key).or_else(|| {
        let array = issue.key.split('[').next().unwrap_or_default();
        (array.len() < issue.key.len())
            .then(|| figment.find_metadata(array))
            .flatten()
    });
    ConfigError::Value {
        source_desc: describe_source(meta, &path),
        key: issue.key.clone(),
        message: issue.message.clone(),
    }
}
