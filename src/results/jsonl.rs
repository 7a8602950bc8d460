//! Append-only JSON-lines logs (`steps.jsonl`, `decisions.jsonl`): read back
//! the entries a resumed run keeps, and rewrite a log with just those.

use std::io::BufRead;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The entries of `path` that `keep` accepts (none if the file does not
/// exist). Errors name the line.
pub fn read<T: DeserializeOwned>(path: &Path, keep: impl Fn(&T) -> bool) -> Result<Vec<T>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let entry: T = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if keep(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Replaces `path` atomically with `entries`, one per line, and opens it for appending.
pub fn rewrite<T: Serialize>(path: &Path, entries: &[T]) -> Result<std::fs::File, String> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    super::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| e.to_string())
}
