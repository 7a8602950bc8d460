//! Hub references in an experiment (`train.init_from`, `data.dataset`,
//! `data.mix`) pinned to the commits they resolve to before a run opens its
//! folder, so the config hash, the saved `config.toml` and a cached cell all
//! cover the commit, not a branch name that can move (`crate::hub::inputs`
//! makes a pinned checkpoint local).

use std::path::{Path, PathBuf};

use super::Experiment;
use crate::hub::{Hub, HubError, HubRef};

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
