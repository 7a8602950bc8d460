//! The Hub cache layout, shared with Python's `huggingface_hub`
//! (`file_download.py`): per repository a folder `models--<org>--<name>`
//! (`datasets--...`) holding
//!
//! - `blobs/<etag>`: file contents, named by their ETag;
//! - `snapshots/<commit>/<path>`: a relative symlink to the blob, one tree per commit;
//! - `refs/<revision>`: the commit a branch or tag pointed at when last resolved.
//!
//! The folder names and blob/snapshot paths come from the `hf-hub` crate.
//! What this file adds: reading `refs/` for offline use, and placing a
//! verified blob and its snapshot link atomically, so that a reader (this
//! process, Python, a later run) never finds a snapshot entry for a file
//! that was not verified.

use std::path::{Path, PathBuf};

use super::error::HubError;
use super::reference::{is_commit_sha, HubRef};
use crate::results::write_atomic;

/// One repository's folder in the cache.
#[derive(Debug)]
pub struct RepoCache {
    cache: hf_hub::CacheRepo,
    root: PathBuf,
}

impl RepoCache {
    pub fn new(cache_root: &Path, r: &HubRef) -> Self {
        let repo = r.hf_repo(r.revision());
        let root = cache_root.join(repo.folder_name());
        Self {
            cache: hf_hub::Cache::new(cache_root.to_path_buf()).repo(repo),
            root,
        }
    }

    /// `models--org--name/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.cache.blob_path(etag)
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.cache.pointer_path(commit)
    }

    fn ref_path(&self, revision: &str) -> PathBuf {
        self.root.join("refs").join(revision)
    }

    /// The commit `revision` names without asking the Hub: itself when it is
    /// a sha, else what `refs/<revision>` recorded.
    pub fn commit_for(&self, revision: &str) -> Option<String> {
        if is_commit_sha(revision) {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.ref_path(revision)).ok()?;
        let sha = text.trim();
        is_commit_sha(sha).then(|| sha.to_string())
    }

    /// Records that `revision` resolved to `commit` (nothing for a sha).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if revision == commit {
            return Ok(());
        }
        let path = self.ref_path(revision);
        let dir = path.parent().expect("refs/<revision> has a parent");
        std::fs::create_dir_all(dir).map_err(HubError::io(dir))?;
        write_atomic(&path, commit.as_bytes()).map_err(HubError::io(&path))
    }

    /// `snapshots/<commit>/<file>` when it is there and resolves to a file
    /// (a link whose blob was deleted does not count).
    pub fn cached_file(&self, commit: &str, file: &str) -> Option<PathBuf> {
        let p = self.snapshot(commit).join(file);
        p.is_file().then_some(p)
    }

    /// Links `snapshots/<commit>/<file>` to `blobs/<etag>` (which must be
    /// verified already): a relative symlink made under a temporary name and
    /// renamed over the final one, so the entry appears whole or not at all.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, HubError> {
        let pointer = self.snapshot(commit).join(file);
        let dir = pointer.parent().expect("a snapshot file has a parent");
        std::fs::create_dir_all(dir).map_err(HubError::io(dir))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            pointer.file_name().expect("a file name").to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&tmp);
        place(&self.blob(etag), &relative_blob(file, etag), &tmp).map_err(HubError::io(&tmp))?;
        std::fs::rename(&tmp, &pointer).map_err(HubError::io(&pointer))?;
        Ok(pointer)
    }
}

/// `../../blobs/<etag>` from `snapshots/<commit>/<file>`, one more `..` per folder in `file`.
fn relative_blob(file: &str, etag: &str) -> PathBuf {
    let depth = 2 + file.matches('/').count();
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.join("blobs").join(etag)
}

#[cfg(unix)]
fn place(_blob: &Path, relative: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(relative, at)
}

/// Without symlinks the snapshot holds a copy, as `huggingface_hub` does on Windows.
#[cfg(not(unix))]
fn place(blob: &Path, _relative: &Path, at: &Path) -> std::io::Result<()> {
    std::fs::copy(blob, at).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn folders_follow_the_huggingface_hub_layout() {
        let r = HubRef::parse("hf://datasets/org/dance@main/data/train-0.parquet").unwrap();
        let c = RepoCache::new(Path::new("/c"), &r);
        assert_eq!(c.root(), Path::new("/c/datasets--org--dance"));
        assert_eq!(c.blob("e"), PathBuf::from("/c/datasets--org--dance/blobs/e"));
        assert_eq!(
            c.snapshot(SHA),
            PathBuf::from(format!("/c/datasets--org--dance/snapshots/{SHA}"))
        );
        assert_eq!(
            relative_blob("data/train-0.parquet", "e"),
            PathBuf::from("../../../blobs/e")
        );
    }

    #[test]
    fn refs_resolve_offline_and_shas_resolve_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let r = HubRef::parse("hf://org/tiny/x").unwrap();
        let c = RepoCache::new(dir.path(), &r);
        assert_eq!(c.commit_for("main"), None);
        c.write_ref("main", SHA).unwrap();
        c.write_ref("refs/pr/1", SHA).unwrap();
        assert_eq!(c.commit_for("main").as_deref(), Some(SHA));
        assert_eq!(c.commit_for("refs/pr/1").as_deref(), Some(SHA));
        assert_eq!(c.commit_for(SHA).as_deref(), Some(SHA));
        assert!(!c.root().join("refs").join(SHA).exists(), "no ref is written for a sha");
    }

    #[test]
    fn a_snapshot_entry_counts_only_while_its_blob_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let c = RepoCache::new(dir.path(), &HubRef::parse("hf://org/tiny/x").unwrap());
        std::fs::create_dir_all(c.blob("e").parent().unwrap()).unwrap();
        std::fs::write(c.blob("e"), b"weights").unwrap();
        let p = c.link(SHA, "sub/w.bin", "e").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"weights");
        assert_eq!(c.cached_file(SHA, "sub/w.bin"), Some(p));
        std::fs::remove_file(c.blob("e")).unwrap();
        assert_eq!(c.cached_file(SHA, "sub/w.bin"), None);
    }
}
