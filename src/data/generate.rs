//! Builds a synthetic dataset from its profile: renders every video (videos in
//! parallel, each a pure function of the profile and its index), encodes the
//! frames as PNG and writes the shards, card and manifest (see [`shards`]).
//! [`ensure_built`] reuses a built dataset whose manifest carries the
//! profile's config hash and whose shards are all there.
//!
//! [`shards`]: super::shards

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::card::card;
use super::error::DataError;
use super::profile::{available_profiles, profile_path, DatasetProfile, GENERATOR_VERSION};
use super::render::VideoPlan;
use super::shards::{encode_png, plan_shards, DatasetManifest, Row, SplitInfo, Staging, FORMAT};

/// Checks a dataset name is a plain folder name (no separators, no `..`).
pub fn check_name(name: &str) -> Result<(), DataError> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DataError::Profile {
            path: PathBuf::from(name),
            message: "not a dataset name, expected letters, digits, '-' or '_'".into(),
        })
    }
}

/// Renders all frames of video `video` as stored rows.
pub fn render_video_rows(p: &DatasetProfile, video: usize) -> Vec<Row> {
    let plan = VideoPlan::new(p, video);
    (0..plan.frames())
        .map(|f| {
            let fr = plan.frame(f);
            Row {
                video_id: video as u32,
                frame_idx: f as u32,
                image: encode_png(&fr.rgb, p.width, p.height, 3),
                pose: encode_png(&fr.pose, p.width, p.height, 3),
                keypoints: fr.keypoints.to_flat(),
                mask: Some(encode_png(&fr.mask, p.width, p.height, 1)),
            }
        })
        .collect()
}

/// Maps `f` over `0..n` on up to `threads` scoped threads; results in index order.
pub fn par_map<T: Send>(n: usize, threads: usize, f: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let v = f(i);
                out.lock().expect("no worker panicked holding the lock")[i] = Some(v);
            });
        }
    });
    out.into_inner()
        .expect("workers joined")
        .into_iter()
        .map(|v| v.expect("every index mapped"))
        .collect()
}

/// Worker threads for rendering: the machine's parallelism, at most 8.
pub fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Builds `<root>/<name>` from `<root>/<name>.toml`, replacing any previous build.
/// `progress(done, total)` is called after each video.
pub fn build(root: &Path, name: &str, progress: &mut dyn FnMut(usize, usize)) -> Result<PathBuf, DataError> {
    check_name(name)?;
    let profile = DatasetProfile::load(root, name)?;
    let _lock = BuildLock::acquire(root, name)?;
    build_profile(&profile, name, &root.join(name), progress)
}

/// Builds a dataset from a resolved profile into `target`.
pub fn build_profile(
    p: &DatasetProfile,
    name: &str,
    target: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PathBuf, DataError> {
    let mut staging = Staging::new(target)?;
    let train = p.train_videos();
    let mut splits = std::collections::BTreeMap::new();
    let mut done = 0;
    for (split, videos) in [("train", 0..train), ("test", train..p.videos)] {
        let counts = vec![p.frames_per_video; videos.len()];
        let plan = plan_shards(&counts, p.rows_per_shard);
        for (i, range) in plan.iter().enumerate() {
            let first = videos.start + range.start;
            let per_video = par_map(range.len(), worker_threads(), &|k| render_video_rows(p, first + k));
            let rows: Vec<Row> = per_video.into_iter().flatten().collect();
            staging.write_shard(split, i, plan.len(), &rows)?;
            done += range.len();
            progress(done, p.videos);
        }
        splits.insert(
            split.to_string(),
            SplitInfo {
                videos: videos.len(),
                frames: videos.len() * p.frames_per_video,
            },
        );
    }
    let manifest = DatasetManifest {
        format: FORMAT.into(),
        name: name.into(),
        kind: "synthetic".into(),
        config_hash: p.config_hash(),
        config: serde_json::json!({ "generator": GENERATOR_VERSION, "profile": p }),
        height: p.height,
        width: p.width,
        splits,
        video_names: Vec::new(),
        shards: Vec::new(),
    };
    let text = card(
        &DatasetManifest {
            shards: staging.shards().to_vec(),
            ..manifest.clone()
        },
        &p.description,
    );
    staging.commit(manifest, &text)
}

/// An exclusive lock on building one dataset, across threads and processes:
/// `<root>/.<name>.lock`, created with `create_new` and removed on drop. A lock
/// older than ten minutes is taken to be left by a killed builder and broken.
struct BuildLock {
    path: PathBuf,
}

impl BuildLock {
    fn acquire(root: &Path, name: &str) -> Result<BuildLock, DataError> {
        let path = root.join(format!(".{name}.lock"));
        std::fs::create_dir_all(root).map_err(DataError::io(root))?;
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(BuildLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a.as_secs() > 600) {
                        // Stale: whoever wins the race to remove it retries the create.
                        let _ = std::fs::remove_file(&path);
                    } else if start.elapsed().as_secs() > 900 {
                        return Err(DataError::Io { path, source: e });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(DataError::Io { path, source: e }),
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // Best effort; a leftover lock is broken after ten minutes.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn is_current(dir: &Path, hash: &str) -> bool {
    DatasetManifest::read(dir).is_ok_and(|m| m.config_hash == hash && m.verify(dir, false).is_ok())
}

/// The dataset folder for `name`, building it first when its profile changed or it
/// was never built. Imported datasets (a folder with a manifest and no profile) are
/// used as they are, and `hf://datasets/...` references pulled from the Hub
/// ([`crate::data::hub::dataset_dir`]). Safe to call from several threads or processes at once: one
/// builds, the others wait and reuse its build.
pub fn ensure_built(root: &Path, name: &str) -> Result<PathBuf, DataError> {
    // A Hub dataset repository is pulled and checked instead (`root` plays no part).
    if name.starts_with(crate::hub::reference::SCHEME) {
        return crate::data::hub::dataset_dir(name).map_err(|e| DataError::Hub(Box::new(e)));
    }
    check_name(name)?;
    let dir = root.join(name);
    let toml = profile_path(root, name);
    if toml.is_file() {
        let profile = DatasetProfile::from_file(&toml)?;
        let hash = profile.config_hash();
        if is_current(&dir, &hash) {
            return Ok(dir);
        }
        let _lock = BuildLock::acquire(root, name)?;
        if is_current(&dir, &hash) {
            return Ok(dir);
        }
        return build_profile(&profile, name, &dir, &mut |_, _| {});
    }
    if dir.join("manifest.json").is_file() {
        DatasetManifest::read(&dir)?.verify(&dir, false)?;
        return Ok(dir);
    }
    Err(DataError::UnknownDataset {
        name: name.into(),
        path: toml,
        available: available_profiles(root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_index_order() {
        assert_eq!(par_map(10, 3, &|i| i * i), (0..10).map(|i| i * i).collect::<Vec<_>>());
        assert!(par_map(0, 3, &|i| i).is_empty());
    }

    #[test]
    fn names_with_separators_are_rejected() {
        assert!(check_name("tiktok-128").is_ok());
        for bad in ["", "../x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
