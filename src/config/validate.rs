//! Post-merge validation: ranges and cross-field rules, reported with the key
//! path and the provider (file, env var or flag) that set the offending value.

use std::fmt;

/// One violated rule: the dotted key path, and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Dotted key path, e.g. `train.lr`.
    pub key: String,
    /// What is wrong, e.g. `0 is out of range, expected > 0`.
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A config section that checks its own ranges and cross-field rules.
///
/// `prefix` is the section's key path (`"train"`); implementations push one
/// [`Invalid`] per violated rule with the full key path (`"train.lr"`).
pub trait Validate {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>);
}

/// Helper: push an error unless `ok`.
pub fn check(out: &mut Vec<Invalid>, ok: bool, key: impl Into<String>, message: impl Into<String>) {
    if !ok {
        out.push(Invalid {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// Joins a section prefix and a field name into a dotted key path.
pub fn key(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Checks that an optional config hash (`train.init_from_hash`,
/// `schedule.ranking_hash`) is 64 lower-case hex digits, and that the path
/// it names is set (`with_path`).
pub fn check_hash(out: &mut Vec<Invalid>, value: Option<&str>, with_path: bool, at: String, path_key: &str) {
    let Some(h) = value else { return };
    check(
        out,
        h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        at.clone(),
        format!("{h:?} is not a config hash, expected 64 lower-case hex digits"),
    );
    check(
        out,
        with_path,
        at,
        format!("set without {path_key}, expected both or neither"),
    );
}
