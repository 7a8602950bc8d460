//! Writing a dataset atomically: shards, card and manifest go into a
//! staging folder beside the target, renamed into place only when complete
//! and removed on any error (or panic).

use std::path::{Path, PathBuf};

use super::error::DataError;
use super::manifest::{DatasetManifest, ShardInfo};
use super::shard_file::{write_parquet, Row};
use crate::config::hash::sha256_hex;

/// A dataset being written: a staging folder renamed into place by [`Staging::commit`],
/// removed on drop otherwise.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    shards: Vec<ShardInfo>,
    committed: bool,
}

impl Staging {
    /// Starts writing the dataset that will live at `target`.
    pub fn new(target: &Path) -> Result<Staging, DataError> {
        let parent = target.parent().unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Unique per process and call, so concurrent builders never share a folder.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = parent.join(format!(".{name}.staging-{}-{call}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(DataError::io(&dir))?;
        }
        remove_stale_staging(parent, &name);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(DataError::io(&data))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            shards: Vec::new(),
            committed: false,
        })
    }

    /// Writes shard `index` of `count` of a split (temp name, then renamed).
    pub fn write_shard(
        &mut self,
        split: &str,
        index: usize,
        count: usize,
        rows: &[Row],
    ) -> Result<&ShardInfo, DataError> {
        let rel = format!("data/{split}-{index:05}-of-{count:05}.parquet");
        let path = self.dir.join(&rel);
        let tmp = self.dir.join(format!("{rel}.tmp"));
        write_parquet(&tmp, rows)?;
        let bytes = std::fs::read(&tmp).map_err(DataError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(DataError::io(&path))?;
        let mut videos: Vec<u32> = rows.iter().map(|r| r.video_id).collect();
        videos.dedup();
        self.shards.push(ShardInfo {
            split: split.to_string(),
            path: rel,
            rows: rows.len(),
            videos: videos.len(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
        Ok(self.shards.last().expect("just pushed"))
    }

    /// Shards written so far.
    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// Writes the card and the manifest (listing the shards written), then moves the
    /// staging folder to the target, replacing any previous dataset there.
    pub fn commit(mut self, mut manifest: DatasetManifest, card: &str) -> Result<PathBuf, DataError> {
        manifest.shards = self.shards.clone();
        let readme = self.dir.join("README.md");
        std::fs::write(&readme, card).map_err(DataError::io(&readme))?;
        let path = self.dir.join("manifest.json");
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| DataError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, json + "\n").map_err(DataError::io(&path))?;
        if self.target.exists() {
            let old = self.dir.with_extension("old");
            std::fs::rename(&self.target, &old).map_err(DataError::io(&self.target))?;
            std::fs::remove_dir_all(&old).map_err(DataError::io(&old))?;
        }
        std::fs::rename(&self.dir, &self.target).map_err(DataError::io(&self.target))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

/// Removes staging folders of `name` left by builders killed more than an hour ago
/// (a killed process cannot run its drop). Best effort: failures are ignored because
/// a leftover hidden folder is harmless, it is never read as a dataset.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.staging-");
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if stale && entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed && self.dir.exists() {
            // Best effort: an error here must not hide the error that caused the drop.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shard_file::tests::rows;

    #[test]
    fn a_dropped_staging_folder_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ds");
        {
            let mut s = Staging::new(&target).unwrap();
            s.write_shard("train", 0, 1, &rows(4, true)).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
