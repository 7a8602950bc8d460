//! Hub references where a run reads files: `train.init_from`, `data.dataset`
//! and `data.mix` (and the `sample` checkpoint). Before a run opens its folder
//! or its data, `crate::experiment::pin_experiment` rewrites a reference's
//! revision to the commit it resolves to, so the config hash, the saved
//! `config.toml` and a cached cell all cover the commit, not a branch name
//! that can move. [`checkpoint`] then turns a pinned checkpoint reference
//! into a local file in the cache and says which commit it came from, for
//! the manifest's inputs; a dataset reference is pulled by
//! `crate::data::ensure_built`.

use std::path::{Path, PathBuf};

use super::client::Hub;
use super::error::HubError;
use super::reference::HubRef;
use crate::results::manifest::HubSource;

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
