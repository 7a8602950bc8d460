//! `extends` chains: a TOML file names the file it builds on, relative to
//! itself; the chain is read base first, with missing files, cycles and
//! syntax errors reported with the file, line and column.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::load::ConfigError;

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
pub(crate) const EXTENDS: Link = Link {
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
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}
