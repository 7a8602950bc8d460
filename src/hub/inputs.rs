//! Hub references where a run reads a file: `train.init_from` (and the
//! `sample` checkpoint). Before a run opens its folder, [`pin_experiment`]
//! rewrites a reference's revision to the commit it resolves to, so the
//! config hash, the saved `config.toml` and a cached cell all cover the
//! commit, not a branch name that can move. [`checkpoint`] then turns the
//! pinned reference into a local file in the cache and says which commit
//! it came from, for the manifest's inputs.

use std::path::{Path, PathBuf};

use super::client::Hub;
use super::error::HubError;
use super::reference::HubRef;
use crate::config::Experiment;
use crate::results::manifest::HubSource;

/// `exp` with `train.init_from` pinned to a commit when it is a hub
/// reference at a branch or tag (asks the Hub, or offline `refs/`); `exp`
/// unchanged otherwise.
pub fn pin_experiment(exp: &Experiment) -> Result<Experiment, HubError> {
    let Some(r) = exp.config.train.init_from.as_deref().and_then(HubRef::from_path) else {
        return Ok(exp.clone());
    };
    let r = r?;
    if r.is_pinned() {
        return Ok(exp.clone());
    }
    let commit = Hub::from_env(false)?.resolve(&r)?;
    let mut config = exp.config.clone();
    config.train.init_from = Some(PathBuf::from(r.pinned(&commit).to_string()));
    Ok(Experiment::from_config(
        config,
        exp.path.clone(),
        exp.files.clone(),
        exp.sets.clone(),
    ))
}

/// A checkpoint as configured, made local.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The file to read.
    pub path: PathBuf,
    /// Where it came from, when it was a hub reference.
    pub source: Option<HubSource>,
}

/// A local path as it is, or an `hf://` reference pulled into the cache
/// (offline: served from it).
pub fn checkpoint(configured: &Path) -> Result<Checkpoint, HubError> {
    let Some(r) = HubRef::from_path(configured) else {
        return Ok(Checkpoint {
            path: configured.to_path_buf(),
            source: None,
        });
    };
    let r = r?;
    if r.path.is_none() {
        return Err(HubError::NotAFile {
            reference: r.to_string(),
            purpose: "a checkpoint".into(),
        });
    }
    let pulled = Hub::from_env(false)?.pull(&r)?;
    Ok(Checkpoint {
        path: pulled.path,
        source: Some(HubSource {
            reference: pulled.pinned.to_string(),
            commit: pulled.commit,
        }),
    })
}
