//! `manifest.json`: what a run folder holds and how it was made. Written
//! before the first step (status `running`) and rewritten at the end
//! (`complete` or `failed`); a cell is reused only when its manifest says
//! `complete` for the same config hash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;

/// Bumped when the manifest's fields change meaning.
pub const MANIFEST_VERSION: u32 = 1;

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
}

/// A file the run read, with its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: PathBuf,
    pub sha256: String,
    /// The Hub reference the file was pulled from, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubSource>,
}

/// Where a pulled input came from: the reference at its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSource {
    /// `hf://<org>/<name>@<commit>/<path>`.
    pub reference: String,
    /// The commit sha the revision resolved to.
    pub commit: String,
}

/// `manifest.json` of one run folder (a dataset's is [`crate::data::DatasetManifest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub manifest_version: u32,
    pub run_id: String,
    pub experiment: String,
    pub cell: String,
    pub seed: u64,
    pub config_hash: String,
    pub entprog_version: String,
    /// Commit of the source tree the binary was built from, when it is a git checkout.
    pub git_revision: Option<String>,
    /// Whether that tree had uncommitted changes when the run started.
    pub git_dirty: Option<bool>,
    pub rustc_version: String,
    pub threads: usize,
    pub cpu_model: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: RunStatus,
    /// Why a failed run failed.
    pub error: Option<String>,
    pub inputs: Vec<InputFile>,
    /// Files (relative to the run folder) a complete run produced.
    pub outputs: Vec<String>,
}

impl RunManifest {
    pub fn read(path: &Path) -> Option<RunManifest> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(path, text.as_bytes())
    }
}

/// Checks that the run folder `dir` holds a complete run of config `hash`:
/// the identity a config gives for the run that wrote one of its inputs
/// (`train.init_from_hash`, `schedule.ranking_hash`). The error says what
/// was found instead.
pub fn check_producer(dir: &Path, hash: &str) -> Result<(), String> {
    let path = dir.join("manifest.json");
    let m = RunManifest::read(&path).ok_or_else(|| {
        format!(
            "{}: no readable manifest.json, expected the folder of a complete run of config {}",
            dir.display(),
            short(hash)
        )
    })?;
    if m.config_hash != hash {
        return Err(format!(
            "{}: written by config {}, expected {} (the run that writes it changed; rerun it first)",
            path.display(),
            short(&m.config_hash),
            short(hash)
        ));
    }
    if m.status != RunStatus::Complete {
        return Err(format!(
            "{}: the run of config {} is not complete, expected a finished one",
            path.display(),
            short(hash)
        ));
    }
    Ok(())
}

fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

/// Facts about the machine and build recorded in every manifest.
#[derive(Debug, Clone)]
pub struct Environment {
    pub entprog_version: String,
    pub git_revision: Option<String>,
    pub git_dirty: Option<bool>,
    pub rustc_version: String,
    pub threads: usize,
    pub cpu_model: String,
}

impl Environment {
    pub fn detect() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"));
        let git = |args: &[&str]| -> Option<String> {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(src)
                .args(args)
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let git_revision = git(&["rev-parse", "HEAD"]);
        let git_dirty = git_revision
            .as_ref()
            .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
            .map(|s| !s.is_empty());
        Self {
            entprog_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision,
            git_dirty,
            rustc_version: env!("RUSTC_VERSION_OF_ENTPROG_BUILD").to_string(),
            threads: candle_core::utils::get_num_threads(),
            cpu_model: cpu_model(),
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Now, as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
