//! Hub references where a run reads files: `train.init_from`, `data.dataset`
//! and `data.mix` (and the `sample` checkpoint). Before a run opens its folder
//! or its data, [`pin_experiment`] rewrites a reference's revision to the
//! commit it resolves to, so the config hash, the saved `config.toml` and a
//! cached cell all cover the commit, not a branch name that can move.
//! [`checkpoint`] then turns a pinned checkpoint reference into a local file
//! in the cache and says which commit it came from, for the manifest's
//! inputs; a dataset reference is pulled by `crate::data::ensure_built`.

use std::path::{Path, PathBuf};

use super::client::Hub;
use super::error::HubError;
use super::reference::HubRef;
use crate::config::Experiment;
use crate::results::manifest::HubSource;

/// `exp` with every hub reference at a branch or tag (`train.init_from`,
/// `data.dataset`, `data.mix`) pinned to its commit (asks the Hub, or
/// offline `refs/`); `exp` unchanged when there is none.
pub fn pin_experiment(exp: &Experiment) -> Result<Experiment, HubError> {
    let mut config = exp.config.clone();
    let mut hub = None;
    let mut changed = false;
    if let Some(p) = config.train.init_from.as_ref().and_then(|p| p.to_str()) {
        if let Some(pinned) = pin(p, &mut hub)? {
            config.train.init_from = Some(PathBuf::from(pinned));
            changed = true;
        }
    }
    for name in std::iter::once(&mut config.data.dataset).chain(config.data.mix.iter_mut()) {
        if let Some(pinned) = pin(name, &mut hub)? {
            *name = pinned;
            changed = true;
        }
    }
    if !changed {
        return Ok(exp.clone());
    }
    Ok(Experiment::from_config(
        config,
        exp.path.clone(),
        exp.files.clone(),
        exp.sets.clone(),
    ))
}

/// The pinned form of `s` when it is a hub reference at a branch or tag.
fn pin(s: &str, hub: &mut Option<Hub>) -> Result<Option<String>, HubError> {
    let Some(r) = HubRef::from_path(Path::new(s)) else {
        return Ok(None);
    };
    let r = r?;
    if r.is_pinned() {
        return Ok(None);
    }
    let hub = match hub {
        Some(h) => h,
        None => hub.insert(Hub::from_env(false)?),
    };
    Ok(Some(r.pinned(&hub.resolve(&r)?).to_string()))
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
