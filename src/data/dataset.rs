//! A built dataset decoded into memory: the manifest, and per split the
//! videos in `video_id` order, each frame kept as planar u8 (`[3, h, w]`),
//! its pose map, keypoints and mask when known. Small by design (a 32x32
//! profile is ~15 MB decoded); the loaders cut batches from it.

use std::path::{Path, PathBuf};

use super::error::DataError;
use super::generate::{par_map, worker_threads};
use super::pose::Keypoints;
use super::shards::{read_parquet, DatasetManifest, Row};

/// Which part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training videos.
    Train,
    /// Held-out videos.
    Test,
}

impl Split {
    /// `train` or `test`, as in shard names.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// One decoded video.
#[derive(Debug, Clone)]
pub struct Video {
    id: u32,
    frames: usize,
    plane: usize,
    rgb: Vec<u8>,
    pose: Vec<u8>,
    keypoints: Vec<Option<Keypoints>>,
    mask: Option<Vec<u8>>,
}

impl Video {
    /// The `video_id` stored in the shards.
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.frames
    }
    /// Frame `f` as planar RGB bytes, `[3, h, w]`.
    pub fn rgb(&self, f: usize) -> &[u8] {
        &self.rgb[f * 3 * self.plane..][..3 * self.plane]
    }
    /// Pose map of frame `f`, planar `[3, h, w]`.
    pub fn pose(&self, f: usize) -> &[u8] {
        &self.pose[f * 3 * self.plane..][..3 * self.plane]
    }
    /// Keypoints of frame `f`, when the dataset has them.
    pub fn keypoints(&self, f: usize) -> Option<&Keypoints> {
        self.keypoints[f].as_ref()
    }
    /// Person mask of frame `f`, `[h, w]`, when the dataset has it.
    pub fn mask(&self, f: usize) -> Option<&[u8]> {
        self.mask.as_ref().map(|m| &m[f * self.plane..][..self.plane])
    }
}

/// A whole dataset in memory.
#[derive(Debug)]
pub struct Dataset {
    dir: PathBuf,
    manifest: DatasetManifest,
    train: Vec<Video>,
    test: Vec<Video>,
}

/// Decodes one stored PNG; `what` names it in errors (`video 3 frame 7 pose`).
fn decode(path: &Path, what: &str, png: &[u8], (w, h): (usize, usize), grey: bool) -> Result<Vec<u8>, DataError> {
    let err = |m: String| DataError::Image {
        path: path.to_path_buf(),
        message: format!("{what}: {m}"),
    };
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).map_err(|e| err(e.to_string()))?;
    if (img.width() as usize, img.height() as usize) != (w, h) {
        return Err(err(format!("{}x{}, expected {w}x{h}", img.width(), img.height())));
    }
    Ok(if grey {
        img.into_luma8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    })
}

/// `[h, w, 3]` to `[3, h, w]`.
fn planar(hwc: &[u8], out: &mut Vec<u8>) {
    for c in 0..3 {
        out.extend(hwc.chunks_exact(3).map(|p| p[c]));
    }
}

fn assemble(path: &Path, rows: &[Row], w: usize, h: usize) -> Result<Video, DataError> {
    let id = rows[0].video_id;
    let plane = w * h;
    let mut v = Video {
        id,
        frames: rows.len(),
        plane,
        rgb: Vec::with_capacity(rows.len() * 3 * plane),
        pose: Vec::with_capacity(rows.len() * 3 * plane),
        keypoints: Vec::with_capacity(rows.len()),
        mask: rows
            .iter()
            .all(|r| r.mask.is_some())
            .then(|| Vec::with_capacity(rows.len() * plane)),
    };
    for (f, r) in rows.iter().enumerate() {
        if r.frame_idx as usize != f {
            return Err(DataError::Parquet {
                path: path.into(),
                message: format!("video {id}: frame_idx {} where {f} was expected", r.frame_idx),
            });
        }
        let what = |c: &str| format!("video {id} frame {} {c}", r.frame_idx);
        planar(&decode(path, &what("image"), &r.image, (w, h), false)?, &mut v.rgb);
        planar(&decode(path, &what("pose"), &r.pose, (w, h), false)?, &mut v.pose);
        v.keypoints.push(Keypoints::from_flat(&r.keypoints));
        if let (Some(m), Some(png)) = (v.mask.as_mut(), r.mask.as_ref()) {
            m.extend(decode(path, &what("mask"), png, (w, h), true)?);
        }
    }
    Ok(v)
}

impl Dataset {
    /// Reads and decodes every shard listed in `<dir>/manifest.json`.
    pub fn open(dir: &Path) -> Result<Dataset, DataError> {
        let manifest = DatasetManifest::read(dir)?;
        manifest.verify(dir, false)?;
        let (w, h) = (manifest.width, manifest.height);
        let mut splits = [Vec::new(), Vec::new()];
        for shard in &manifest.shards {
            let path = dir.join(&shard.path);
            let rows = read_parquet(&path)?;
            let mut groups: Vec<&[Row]> = rows.chunk_by(|a, b| a.video_id == b.video_id).collect();
            groups.retain(|g| !g.is_empty());
            let videos = par_map(groups.len(), worker_threads(), &|i| assemble(&path, groups[i], w, h));
            let k = match shard.split.as_str() {
                "train" => 0,
                "test" => 1,
                other => {
                    return Err(DataError::Manifest {
                        path: dir.join("manifest.json"),
                        message: format!("unknown split {other:?}"),
                    })
                }
            };
            for v in videos {
                splits[k].push(v?);
            }
        }
        let [train, test] = splits;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
            train,
            test,
        })
    }

    /// (height, width) of every frame.
    pub fn resolution(&self) -> (usize, usize) {
        (self.manifest.height, self.manifest.width)
    }

    /// Number of videos in a split.
    pub fn num_videos(&self, split: Split) -> usize {
        self.videos(split).len()
    }

    /// Number of frames in a split.
    pub fn num_frames(&self, split: Split) -> usize {
        self.videos(split).iter().map(|v| v.frames).sum()
    }

    /// The videos of a split, in `video_id` order.
    pub fn videos(&self, split: Split) -> &[Video] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// The manifest the dataset was read from.
    pub fn manifest(&self) -> &DatasetManifest {
        &self.manifest
    }

    /// The dataset folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_reorders_channels() {
        let mut out = Vec::new();
        planar(&[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 4, 2, 5, 3, 6]);
    }
}
