//! Loading a built dataset into memory and cutting it into batches.
//!
//! Image mode (T = 1, paper stages 1-2): a target frame and its pose map, plus
//! a reference frame of the same video at another time. Video mode (T > 1,
//! stage 3): T frames `start, start + stride, ...` and their poses, plus a
//! reference frame from outside the clip when the video is long enough.
//!
//! Order is a pure function of (seed, step): the items of a split (every
//! frame, or every clip start) are shuffled once per epoch with
//! `stream(seed, "data", epoch)`, and batch `step` takes positions
//! `step * b .. step * b + b` of the concatenated epochs. A resumed run
//! therefore sees exactly the batches an uninterrupted one sees.
//!
//! Frames are decoded once at open and kept as planar u8 (`[3, h, w]` per
//! frame); a batch converts straight from there into the one f32 buffer per
//! tensor that is handed to candle: one pass, one host-to-device copy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use rand::Rng;

use super::error::DataError;
use super::generate::{par_map, worker_threads};
use super::pose::Keypoints;
use super::shards::{read_parquet, Manifest, Row};
use crate::seed::stream;

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
    manifest: Manifest,
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
        let manifest = Manifest::read(dir)?;
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
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The dataset folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One batch; images are one-frame clips (t = 1), same struct for video mode.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[b, 3, h, w]`, f32 in [-1, 1]: a frame of the same video at another time.
    pub reference: Tensor,
    /// `[b, t, 3, h, w]`, f32 in [-1, 1].
    pub frames: Tensor,
    /// `[b, t, 3, h, w]`, f32 in [-1, 1]: the pose maps of `frames`.
    pub poses: Tensor,
    /// `video_id` of each clip.
    pub video_ids: Vec<u32>,
    /// Frame numbers of each clip, `[b][t]`.
    pub frame_idx: Vec<Vec<u32>>,
}

/// A clip: video index within its split and first frame.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Item {
    video: u32,
    start: u32,
}

/// Deterministic batches of clips from one split.
#[derive(Debug)]
pub struct Loader {
    ds: Arc<Dataset>,
    split: Split,
    clip_frames: usize,
    stride: usize,
    batch_size: usize,
    seed: u64,
    items: [Vec<Item>; 2],
    epoch_cache: Mutex<Option<(u64, Arc<Vec<u32>>)>>,
}

fn clip_items(ds: &Dataset, split: Split, span: usize) -> Vec<Item> {
    let mut items = Vec::new();
    for (i, v) in ds.videos(split).iter().enumerate() {
        for start in 0..(v.frames + 1).saturating_sub(span) {
            items.push(Item {
                video: i as u32,
                start: start as u32,
            });
        }
    }
    items
}

/// Fisher-Yates shuffle of 0..n with a named stream (kept here so the order never
/// depends on a rand version's shuffle).
fn permutation(n: usize, seed: u64, purpose: &str, index: u64) -> Vec<u32> {
    let mut rng = stream(seed, purpose, index);
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

fn to_unit(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

impl Loader {
    /// A loader of `batch_size` clips of `clip_frames` frames `stride` apart (1 = image mode).
    pub fn new(
        ds: Arc<Dataset>,
        split: Split,
        clip_frames: usize,
        stride: usize,
        batch_size: usize,
        seed: u64,
    ) -> Self {
        let (clip_frames, stride) = (clip_frames.max(1), stride.max(1));
        let span = (clip_frames - 1) * stride + 1;
        let items = [clip_items(&ds, Split::Train, span), clip_items(&ds, Split::Test, span)];
        Loader {
            ds,
            split,
            clip_frames,
            stride,
            batch_size: batch_size.max(1),
            seed,
            items,
            epoch_cache: Mutex::new(None),
        }
    }

    /// Number of distinct clips in the loader's split (one epoch).
    pub fn epoch_len(&self) -> usize {
        self.items[self.split as usize].len()
    }

    fn items(&self, split: Split) -> Result<&[Item], DataError> {
        let items = &self.items[split as usize];
        if items.is_empty() {
            let longest = self.ds.videos(split).iter().map(|v| v.frames).max().unwrap_or(0);
            return Err(DataError::Loader(format!(
                "no clip of {} frames with stride {} fits in the {} split (longest video: {longest} frames)",
                self.clip_frames,
                self.stride,
                split.name()
            )));
        }
        Ok(items)
    }

    fn epoch(&self, epoch: u64, n: usize) -> Arc<Vec<u32>> {
        let mut cache = self.epoch_cache.lock().expect("permutation cache lock");
        if let Some((e, p)) = cache.as_ref() {
            if *e == epoch {
                return p.clone();
            }
        }
        let p = Arc::new(permutation(n, self.seed, "data", epoch));
        *cache = Some((epoch, p.clone()));
        p
    }

    /// Batch number `step`: a pure function of (seed, step).
    pub fn batch(&self, step: u64, device: &Device) -> Result<Batch, DataError> {
        let items = self.items(self.split)?;
        let n = items.len() as u64;
        let b = self.batch_size as u64;
        let picks: Vec<(Item, u64)> = (0..b)
            .map(|i| {
                let pos = step * b + i;
                let perm = self.epoch(pos / n, n as usize);
                (items[perm[(pos % n) as usize] as usize], pos)
            })
            .collect();
        self.assemble(self.split, &picks, "data-reference", device)
    }

    /// Fixed evaluation batch `index` from the test split, independent of any step:
    /// batches 0, 1, ... walk one fixed shuffle of the test clips.
    pub fn fixed_batch(&self, index: u64, device: &Device) -> Result<Batch, DataError> {
        self.fixed_batch_from(Split::Test, index, device)
    }

    /// Fixed batch `index` from any split (e.g. a fixed training batch for probes).
    pub fn fixed_batch_from(&self, split: Split, index: u64, device: &Device) -> Result<Batch, DataError> {
        let items = self.items(split)?;
        let n = items.len() as u64;
        let perm = permutation(items.len(), self.seed, &format!("data-fixed-{}", split.name()), 0);
        let b = self.batch_size as u64;
        let picks: Vec<(Item, u64)> = (0..b)
            .map(|i| (items[perm[((index * b + i) % n) as usize] as usize], index * b + i))
            .collect();
        self.assemble(split, &picks, &format!("data-fixed-reference-{}", split.name()), device)
    }

    /// Converts the picked clips (with their stream positions) into tensors.
    fn assemble(
        &self,
        split: Split,
        picks: &[(Item, u64)],
        ref_purpose: &str,
        device: &Device,
    ) -> Result<Batch, DataError> {
        let (h, w) = self.ds.resolution();
        let (t, frame_len) = (self.clip_frames, 3 * h * w);
        let b = picks.len();
        let mut reference = Vec::with_capacity(b * frame_len);
        let mut frames = Vec::with_capacity(b * t * frame_len);
        let mut poses = Vec::with_capacity(b * t * frame_len);
        let mut video_ids = Vec::with_capacity(b);
        let mut frame_idx = Vec::with_capacity(b);
        for &(item, pos) in picks {
            let video = &self.ds.videos(split)[item.video as usize];
            let idx: Vec<u32> = (0..t).map(|k| item.start + (k * self.stride) as u32).collect();
            let r = reference_frame(
                video.frames(),
                item.start as usize,
                (t - 1) * self.stride + 1,
                &mut stream(self.seed, ref_purpose, pos),
            );
            reference.extend(video.rgb(r).iter().copied().map(to_unit));
            for &f in &idx {
                frames.extend(video.rgb(f as usize).iter().copied().map(to_unit));
                poses.extend(video.pose(f as usize).iter().copied().map(to_unit));
            }
            video_ids.push(video.id());
            frame_idx.push(idx);
        }
        Ok(Batch {
            reference: Tensor::from_vec(reference, (b, 3, h, w), device)?,
            frames: Tensor::from_vec(frames, (b, t, 3, h, w), device)?,
            poses: Tensor::from_vec(poses, (b, t, 3, h, w), device)?,
            video_ids,
            frame_idx,
        })
    }
}

/// A reference frame of a video with `frames` frames for the clip `[start, start + span)`:
/// uniformly outside the clip when there is room, else any other frame than the first target.
fn reference_frame(frames: usize, start: usize, span: usize, rng: &mut crate::seed::Stream) -> usize {
    let outside = frames.saturating_sub(span);
    if outside > 0 {
        let k = rng.random_range(0..outside);
        if k < start {
            k
        } else {
            k + span
        }
    } else if frames > 1 {
        (start + 1 + rng.random_range(0..frames - 1)) % frames
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_permutation_and_seeded() {
        let p = permutation(50, 1, "data", 0);
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<u32>>());
        assert_eq!(p, permutation(50, 1, "data", 0));
        assert_ne!(p, permutation(50, 1, "data", 1));
    }

    #[test]
    fn references_fall_outside_the_clip_when_possible() {
        let mut rng = stream(0, "t", 0);
        for start in 0..10 {
            for _ in 0..20 {
                let r = reference_frame(20, start, 8, &mut rng);
                assert!(r < 20 && !(start..start + 8).contains(&r), "{start} {r}");
            }
        }
        // A clip covering the whole video still gets a different frame as reference.
        for _ in 0..20 {
            let r = reference_frame(4, 0, 4, &mut rng);
            assert!(r != 0 && r < 4);
        }
        assert_eq!(reference_frame(1, 0, 1, &mut rng), 0);
    }

    #[test]
    fn planar_reorders_channels() {
        let mut out = Vec::new();
        planar(&[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 4, 2, 5, 3, 6]);
    }
}
