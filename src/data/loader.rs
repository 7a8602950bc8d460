//! Cutting an in-memory [`Dataset`] into batches.
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
//! frame, see [`super::dataset`]); a batch converts straight from there into the one f32 buffer per
//! tensor that is handed to candle: one pass, one host-to-device copy.

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use rand::Rng;

use super::dataset::{Dataset, Split};
use super::error::DataError;
use crate::seed::stream;

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
        for start in 0..(v.frames() + 1).saturating_sub(span) {
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
            let longest = self.ds.videos(split).iter().map(|v| v.frames()).max().unwrap_or(0);
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
}
