//! A dataset's `manifest.json`: the format version, what the dataset was
//! built from, its splits and every shard with its size and sha256.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::DataError;
use crate::config::hash::sha256_hex;

/// Version tag of the manifest and shard schema (v2: images as plain binary columns).
/// A dataset of another version is rebuilt (synthetic) or must be re-imported.
pub const FORMAT: &str = "entprog-dataset-v2";

/// A shard as listed in the manifest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardInfo {
    /// `train` or `test`.
    pub split: String,
    /// Path relative to the dataset folder, e.g. `data/train-00000-of-00001.parquet`.
    pub path: String,
    /// Frames in the shard.
    pub rows: usize,
    /// Videos in the shard.
    pub videos: usize,
    /// File size, bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// Frame and video counts of a split.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SplitInfo {
    /// Videos.
    pub videos: usize,
    /// Frames.
    pub frames: usize,
}

/// A dataset's `manifest.json`: what was built, from what, and the hash of every
/// shard (a run folder's is [`crate::results::RunManifest`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DatasetManifest {
    /// Schema version, [`FORMAT`].
    pub format: String,
    /// Dataset name (folder name).
    pub name: String,
    /// `synthetic` (built from a profile) or `import` (from frame folders).
    pub kind: String,
    /// SHA-256 of the canonical JSON of the generator config (profile or import options).
    pub config_hash: String,
    /// The resolved generator config itself.
    pub config: serde_json::Value,
    /// Frame height, pixels.
    pub height: usize,
    /// Frame width, pixels.
    pub width: usize,
    /// Counts per split (`train`, `test`).
    pub splits: BTreeMap<String, SplitInfo>,
    /// Source folder name of each video (imports), indexed by video_id; empty for synthetic data.
    pub video_names: Vec<String>,
    /// Every shard, in split then index order.
    pub shards: Vec<ShardInfo>,
}

impl DatasetManifest {
    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<DatasetManifest, DataError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(DataError::io(&path))?;
        let m: DatasetManifest = serde_json::from_str(&text).map_err(|e| DataError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(DataError::Manifest {
                path,
                message: format!("format {:?}, expected {FORMAT:?}", m.format),
            });
        }
        Ok(m)
    }

    /// Whether every listed shard exists with its recorded size (`full`: and its sha256).
    pub fn verify(&self, dir: &Path, full: bool) -> Result<(), DataError> {
        for s in &self.shards {
            let path = dir.join(&s.path);
            let meta = std::fs::metadata(&path).map_err(DataError::io(&path))?;
            if meta.len() != s.bytes {
                return Err(DataError::Manifest {
                    path,
                    message: format!("{} bytes, manifest says {}", meta.len(), s.bytes),
                });
            }
            if full {
                let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
                let h = sha256_hex(&bytes);
                if h != s.sha256 {
                    return Err(DataError::Manifest {
                        path,
                        message: format!("sha256 {h}, manifest says {}", s.sha256),
                    });
                }
            }
        }
        Ok(())
    }
}
