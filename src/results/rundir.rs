//! Run folders: `results/<experiment>/<cell>/seed-<n>/`.
//!
//! Opening a folder takes its lock, then either reports a cached result (the
//! manifest says `complete` for the same config hash and every listed output
//! is there) or prepares a fresh run: leftovers of an earlier config are
//! cleared, temporary files of a killed run removed (checkpoints of the same
//! config are kept for resume), and `config.toml` and a `running` manifest are
//! written before the caller's first step.

use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use super::lock::{FolderLock, LockError};
use super::manifest::{now_rfc3339, Environment, HubSource, InputFile, RunManifest, RunStatus, MANIFEST_VERSION};
use crate::config::hash::{file_sha256, run_id};

/// Errors opening or finishing a run folder.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: results folder is not writable: {source}")]
    Unwritable { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{path}: cannot hash input: {source}")]
    Input { path: PathBuf, source: std::io::Error },
}

/// Identity of one run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub results_dir: PathBuf,
    pub experiment: String,
    pub cell: String,
    pub seed: u64,
    pub config_hash: String,
    /// The resolved config as TOML, saved as `config.toml`.
    pub config_toml: String,
}

impl RunSpec {
    pub fn dir(&self) -> PathBuf {
        self.results_dir
            .join(&self.experiment)
            .join(&self.cell)
            .join(format!("seed-{}", self.seed))
    }

    pub fn run_id(&self) -> String {
        run_id(&self.config_hash, self.seed)
    }
}

/// What opening a run folder found.
#[derive(Debug)]
pub enum Opened {
    /// A complete result for the same config: reuse it.
    Cached { dir: PathBuf, manifest: RunManifest },
    /// A folder ready for a fresh (or resumed) run, locked.
    Fresh(RunDir),
}

/// A locked run folder being written.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    manifest: RunManifest,
    /// Whether files of an earlier, interrupted run of the same config remain (checkpoints).
    pub resumable: bool,
    _lock: FolderLock,
}

impl RunDir {
    /// Opens (creating) the folder of `spec`.
    pub fn open(spec: &RunSpec) -> Result<Opened, RunDirError> {
        let dir = spec.dir();
        let unwritable = |source| RunDirError::Unwritable {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(unwritable)?;
        let lock = FolderLock::acquire(&dir)?;
        let previous = RunManifest::read(&dir.join("manifest.json"));
        if let Some(m) = &previous {
            let same = m.config_hash == spec.config_hash;
            if same && m.status == RunStatus::Complete && m.outputs.iter().all(|o| dir.join(o).is_file()) {
                return Ok(Opened::Cached {
                    dir,
                    manifest: m.clone(),
                });
            }
        }
        let resumable = previous.as_ref().is_some_and(|m| m.config_hash == spec.config_hash);
        clear_folder(&dir, resumable).map_err(unwritable)?;
        write_atomic(&dir.join("config.toml"), spec.config_toml.as_bytes()).map_err(unwritable)?;
        let env = Environment::detect();
        let manifest = RunManifest {
            manifest_version: MANIFEST_VERSION,
            run_id: spec.run_id(),
            experiment: spec.experiment.clone(),
            cell: spec.cell.clone(),
            seed: spec.seed,
            config_hash: spec.config_hash.clone(),
            entprog_version: env.entprog_version,
            git_revision: env.git_revision,
            git_dirty: env.git_dirty,
            rustc_version: env.rustc_version,
            threads: env.threads,
            cpu_model: env.cpu_model,
            started_at: now_rfc3339(),
            ended_at: None,
            status: RunStatus::Running,
            error: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        manifest.write(&dir.join("manifest.json")).map_err(unwritable)?;
        Ok(Opened::Fresh(RunDir {
            dir,
            manifest,
            resumable,
            _lock: lock,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &RunManifest {
        &self.manifest
    }

    /// Records an input file (dataset shard manifest, base checkpoint) with its digest.
    pub fn add_input(&mut self, path: &Path) -> Result<(), RunDirError> {
        self.add_input_from(path, None)
    }

    /// Records an input file and the Hub commit it was pulled from.
    pub fn add_input_from(&mut self, path: &Path, hub: Option<HubSource>) -> Result<(), RunDirError> {
        let sha256 = file_sha256(path).map_err(|source| RunDirError::Input {
            path: path.to_path_buf(),
            source,
        })?;
        self.manifest.inputs.push(InputFile {
            path: path.to_path_buf(),
            sha256,
            hub,
        });
        self.save()
    }

    fn save(&self) -> Result<(), RunDirError> {
        self.manifest
            .write(&self.dir.join("manifest.json"))
            .map_err(|source| RunDirError::Unwritable {
                path: self.dir.clone(),
                source,
            })
    }

    /// Marks the run complete with the files (relative names) it produced.
    pub fn complete(mut self, outputs: &[&str]) -> Result<RunManifest, RunDirError> {
        self.manifest.outputs = outputs.iter().map(|s| s.to_string()).collect();
        self.manifest.status = RunStatus::Complete;
        self.manifest.ended_at = Some(now_rfc3339());
        self.save()?;
        Ok(self.manifest.clone())
    }

    /// Marks the run failed with a reason; its outputs are not reused.
    pub fn fail(mut self, error: &str) -> Result<RunManifest, RunDirError> {
        self.manifest.status = RunStatus::Failed;
        self.manifest.error = Some(error.to_string());
        self.manifest.ended_at = Some(now_rfc3339());
        self.save()?;
        Ok(self.manifest.clone())
    }
}

/// Removes what a new run must not mistake for its own: temporary files
/// always; everything but the lock when the previous run had another config.
fn clear_folder(dir: &Path, keep_same_config_files: bool) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == ".lock" {
            continue;
        }
        let stale = name.ends_with(".tmp") || !keep_same_config_files || name == "manifest.json";
        if stale {
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(p)?;
            } else {
                std::fs::remove_file(p)?;
            }
        }
    }
    Ok(())
}
