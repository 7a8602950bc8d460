//! What the offline dance networks learn from and are checked on: the
//! frames (and clips) of one split of several datasets, each labelled with
//! its video (a class per training video over all datasets) and its 18
//! keypoints. Batches are pure functions of (seed, step): the items are
//! shuffled once per epoch with the stream `dance-<net>-data`, as the
//! training loader does (`crate::data::loader`).

use std::sync::Arc;

use candle_core::{Device, Tensor};
use rand::Rng;

use crate::data::pose::KEYPOINTS;
use crate::data::{DataError, Dataset, Split, Video};
use crate::seed::stream;

/// The datasets of one split, with a class per video.
#[derive(Debug, Clone)]
pub struct DanceFrames {
    datasets: Vec<Arc<Dataset>>,
    split: Split,
    /// (dataset, video index within the split, class), in class order.
    videos: Vec<(usize, usize, u32)>,
    height: usize,
    width: usize,
}

/// One batch of frames or clips with their labels.
#[derive(Debug, Clone)]
pub struct LabelledBatch {
    /// `[b, t, 3, h, w]` in [-1, 1] (t = 1 for frames).
    pub pixels: Tensor,
    /// `[b]` u32: the video's class.
    pub class: Tensor,
    /// `[b, t, 18, 2]` keypoints in unit coordinates (x / w, y / h); 0 when unknown.
    pub keypoints: Tensor,
    /// `[b, t, 18]` 1 when the keypoint is visible, else 0 (also 0 when unknown).
    pub visible: Tensor,
}

/// Fisher-Yates shuffle of 0..n from a named stream.
pub fn permutation(n: usize, seed: u64, purpose: &str, index: u64) -> Vec<usize> {
    let mut rng = stream(seed, purpose, index);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

impl DanceFrames {
    /// `datasets` (already opened) restricted to `split`; every dataset
    /// must have the first one's resolution (`names` label the error).
    pub fn new(datasets: Vec<Arc<Dataset>>, names: &[String], split: Split) -> Result<Self, DataError> {
        let (height, width) = datasets
            .first()
            .map(|d| d.resolution())
            .ok_or_else(|| DataError::Loader("no dataset given".into()))?;
        let mut videos = Vec::new();
        for (i, d) in datasets.iter().enumerate() {
            if d.resolution() != (height, width) {
                return Err(DataError::Loader(format!(
                    "dataset {:?} is {}x{}, expected {width}x{height} like {:?} (the networks read one resolution)",
                    names.get(i).cloned().unwrap_or_default(),
                    d.resolution().1,
                    d.resolution().0,
                    names.first().cloned().unwrap_or_default()
                )));
            }
            for v in 0..d.num_videos(split) {
                videos.push((i, v, videos.len() as u32));
            }
        }
        if videos.is_empty() {
            return Err(DataError::Loader(format!("no video in the {} split", split.name())));
        }
        Ok(Self {
            datasets,
            split,
            videos,
            height,
            width,
        })
    }

    /// (height, width) of every frame.
    pub fn resolution(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Number of videos (classes).
    pub fn classes(&self) -> usize {
        self.videos.len()
    }

    fn video(&self, class: usize) -> &Video {
        let (d, v, _) = self.videos[class];
        &self.datasets[d].videos(self.split)[v]
    }

    /// Every clip of `frames` consecutive frames (1: every frame) as (class, start).
    pub fn items(&self, frames: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for c in 0..self.videos.len() {
            let n = self.video(c).frames();
            out.extend((0..(n + 1).saturating_sub(frames)).map(|s| (c, s)));
        }
        out
    }

    /// Training batch `step` of `b` items: positions `step * b ..` of the
    /// epochs' shuffles of `items` (stream `purpose`, index = epoch).
    pub fn pick(items: &[(usize, usize)], seed: u64, purpose: &str, step: u64, b: usize) -> Vec<(usize, usize)> {
        let n = items.len() as u64;
        let mut epoch: Option<(u64, Vec<usize>)> = None;
        (0..b as u64)
            .map(|i| {
                let pos = step * b as u64 + i;
                let e = pos / n;
                if epoch.as_ref().is_none_or(|(k, _)| *k != e) {
                    epoch = Some((e, permutation(n as usize, seed, purpose, e)));
                }
                let perm = &epoch.as_ref().expect("set above").1;
                items[perm[(pos % n) as usize]]
            })
            .collect()
    }

    /// The batch of clips `picks` (class, start), each of `frames` frames
    /// in the order `order[k]` (None: in order).
    pub fn batch(
        &self,
        picks: &[(usize, usize)],
        frames: usize,
        order: &[Option<Vec<usize>>],
        device: &Device,
    ) -> Result<LabelledBatch, DataError> {
        let (h, w) = (self.height, self.width);
        let b = picks.len();
        let mut pixels = Vec::with_capacity(b * frames * 3 * h * w);
        let mut kps = Vec::with_capacity(b * frames * KEYPOINTS * 2);
        let mut vis = Vec::with_capacity(b * frames * KEYPOINTS);
        let mut class = Vec::with_capacity(b);
        for (k, &(c, start)) in picks.iter().enumerate() {
            let v = self.video(c);
            class.push(self.videos[c].2);
            for j in 0..frames {
                let f = start + order.get(k).and_then(|o| o.as_ref()).map_or(j, |o| o[j]);
                pixels.extend(v.rgb(f).iter().map(|&p| p as f32 / 127.5 - 1.0));
                match v.keypoints(f) {
                    Some(kp) => {
                        for (i, p) in kp.0.iter().enumerate() {
                            kps.push(p[0] / w as f32);
                            kps.push(p[1] / h as f32);
                            vis.push(if kp.visible(i) { 1f32 } else { 0.0 });
                        }
                    }
                    None => {
                        kps.extend(std::iter::repeat_n(0.0, 2 * KEYPOINTS));
                        vis.extend(std::iter::repeat_n(0f32, KEYPOINTS));
                    }
                }
            }
        }
        Ok(LabelledBatch {
            pixels: Tensor::from_vec(pixels, (b, frames, 3, h, w), device)?,
            class: Tensor::from_vec(class, b, device)?,
            keypoints: Tensor::from_vec(kps, (b, frames, KEYPOINTS, 2), device)?,
            visible: Tensor::from_vec(vis, (b, frames, KEYPOINTS), device)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_walk_seeded_epochs_of_every_item() {
        let items: Vec<(usize, usize)> = (0..10).map(|i| (i, 0)).collect();
        let a = DanceFrames::pick(&items, 3, "p", 0, 10);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, items);
        assert_eq!(a, DanceFrames::pick(&items, 3, "p", 0, 10));
        assert_ne!(a, DanceFrames::pick(&items, 3, "p", 1, 10));
    }
}
