//! Datasets by reference: `data.dataset = "hf://datasets/<org>/<name>[@<revision>][/<folder>]"`
//! names a dataset repository in the layout `entprog data build` writes
//! (`crate::data::shards`: the card `README.md`, `manifest.json`,
//! `data/<split>-*.parquet`). It is pulled like any reference (every blob
//! verified against its ETag), then checked as a dataset before a loader
//! reads it: every shard against the manifest's size and sha256, and the
//! card's `configs` and `dataset_info` (features, split sizes) against the
//! card the manifest implies, so the card the Hub shows and the data agree.

use std::path::{Path, PathBuf};

use super::card::card;
use super::DatasetManifest;
use crate::hub::{Hub, HubError, HubRef, RepoKind};

/// The local folder of the dataset `reference` names, pulled and checked.
pub fn dataset_dir(reference: &str) -> Result<PathBuf, HubError> {
    let r = HubRef::parse(reference)?;
    if r.kind != RepoKind::Dataset {
        return Err(HubError::Dataset {
            reference: r.to_string(),
            message: "a model repository; a dataset is hf://datasets/<org>/<name>[@<revision>]".into(),
        });
    }
    let pulled = Hub::from_env(false)?.pull(&r)?;
    check_dataset(&pulled.path).map_err(|message| HubError::Dataset {
        reference: pulled.pinned.to_string(),
        message,
    })?;
    Ok(pulled.path)
}

/// The shards against the manifest, the card against the manifest.
fn check_dataset(dir: &Path) -> Result<(), String> {
    let m = DatasetManifest::read(dir).map_err(|e| format!("not a dataset in entprog's shard layout: {e}"))?;
    m.verify(dir, true).map_err(|e| e.to_string())?;
    let path = dir.join("README.md");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: no dataset card: {e}", path.display()))?;
    check_card(&text, &m)
}

/// The card's `configs` and `dataset_info` blocks must be the ones the
/// manifest implies (split file patterns, Image features, split sizes).
pub fn check_card(text: &str, m: &DatasetManifest) -> Result<(), String> {
    let expected = card(m, "");
    for key in ["configs:", "dataset_info:"] {
        let want = yaml_block(&expected, key).expect("entprog's card has both blocks");
        match yaml_block(text, key) {
            Some(got) if got == want => {}
            Some(got) => {
                let (g, w) = first_difference(&got, &want);
                return Err(format!(
                    "the card's `{key}` block disagrees with manifest.json: the card has `{g}` where the manifest implies `{w}`"
                ));
            }
            None => return Err(format!("the card has no `{key}` block")),
        }
    }
    Ok(())
}

/// The first line where `a` and `b` differ, trimmed (`(end)` past the last line).
fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    let (mut la, mut lb) = (a.lines(), b.lines());
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => return (x.map_or("(end)", str::trim), y.map_or("(end)", str::trim)),
        }
    }
}

/// The top-level YAML key `key` of the card's header and its indented lines.
fn yaml_block(text: &str, key: &str) -> Option<String> {
    let header = text.strip_prefix("---\n")?;
    let header = &header[..header.find("\n---")?];
    let mut lines = header.lines().skip_while(|l| *l != key);
    let first = lines.next()?;
    let body: Vec<&str> = lines.take_while(|l| l.starts_with(' ') || l.starts_with('-')).collect();
    Some(std::iter::once(first).chain(body).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_block_runs_to_the_next_top_level_key() {
        let card =
            "---\nlicense: mit\nconfigs:\n- config_name: default\n  data_files:\ndataset_info:\n  x: 1\n---\n\n# t\n";
        assert_eq!(
            yaml_block(card, "configs:").as_deref(),
            Some("configs:\n- config_name: default\n  data_files:")
        );
        assert_eq!(
            yaml_block(card, "dataset_info:").as_deref(),
            Some("dataset_info:\n  x: 1")
        );
        assert_eq!(yaml_block(card, "tags:"), None);
        assert_eq!(yaml_block("no header", "configs:"), None);
    }
}
