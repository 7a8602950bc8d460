//! `experiments/nets/dance.toml`: the offline feature networks that stand in
//! for Inception / I3D / LPIPS on the synthetic dance data (issue 12, item
//! 3): which datasets they learn from (the TRAIN split of each), their
//! sizes, objectives and training lengths, and the seed every random draw
//! derives from. Each network is a cell of its own, cached by the hash of
//! what it depends on ([`DanceNetsConfig::frame_hash`],
//! [`DanceNetsConfig::clip_hash`]), so a study trains it once and every
//! evaluation of every study that names the same settings shares it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::hash::config_hash;
use crate::config::{check, key, Invalid, Validate};

/// Version of the networks' code (architecture, objectives, data order):
/// part of both cache keys, so a build that trains differently retrains.
pub const NETS_VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DanceNetsConfig {
    /// Results folder name: cells go to `<results_dir>/<name>/{frame,clip}/seed-<seed>/`.
    pub name: String,
    /// One line on what the networks are for.
    pub description: String,
    /// Root seed: initial weights, batch order and clip shuffles derive from it.
    pub seed: u64,
    /// Worker threads for tensor kernels (0 = one per core); results are
    /// bit-identical per thread count, so the count is part of the hash.
    pub threads: usize,
    /// Dataset folder (as `data.root` of an experiment).
    pub root: PathBuf,
    /// Datasets whose TRAIN splits the networks learn from; all of one resolution.
    pub datasets: Vec<String>,
    /// Where the cells go (presentation only: not hashed).
    pub results_dir: PathBuf,
    /// The frame encoder (`fid_dance`, `lpips_dance`, pose adherence).
    pub frame: FrameEncoderConfig,
    /// The clip encoder (`fvd_dance`).
    pub clip: ClipEncoderConfig,
}

/// The frame encoder: four 3x3 conv layers (widths `widths`, the last three
/// with stride 2), its feature the global mean of the last layer; heads
/// regress the 18 keypoints (soft-argmax over a heatmap at half resolution),
/// classify their visibility and classify the training video (identity and
/// appearance: person, clothes, background).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrameEncoderConfig {
    /// Channels of the four conv layers; the last is the feature dimension.
    pub widths: [usize; 4],
    /// Channels of the keypoint head's hidden conv layer.
    pub head_width: usize,
    /// Optimizer steps.
    pub steps: u64,
    /// Frames per step.
    pub batch_size: usize,
    /// AdamW learning rate (constant).
    pub lr: f64,
    /// Weight of the keypoint regression loss (MSE of visible points in units of the frame size).
    pub weight_keypoints: f64,
    /// Weight of the visibility loss (binary cross-entropy).
    pub weight_visibility: f64,
    /// Weight of the video-identity loss (cross-entropy).
    pub weight_identity: f64,
}

/// The clip encoder, a (2+1)D network: three 3x3 conv layers per frame
/// (shared weights), a temporal conv (kernel 3) over each location's frame
/// sequence, the mean over time, one more stride-2 conv layer and the
/// global mean as the feature. Heads classify the training video, tell a
/// clip in order from one whose frames were shuffled (motion must be
/// smooth), and regress each keypoint's displacement from the first to the
/// last frame (motion must be encoded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClipEncoderConfig {
    /// Channels of the three per-frame layers and of the last layer (the feature dimension).
    pub widths: [usize; 4],
    /// Frames per training clip, T (the encoder reads clips of any length >= 1).
    pub clip_frames: usize,
    /// Optimizer steps.
    pub steps: u64,
    /// Clips per step (half of them shuffled in time).
    pub batch_size: usize,
    /// AdamW learning rate (constant).
    pub lr: f64,
    /// Weight of the video-identity loss (cross-entropy).
    pub weight_identity: f64,
    /// Weight of the in-order against shuffled loss (binary cross-entropy).
    pub weight_order: f64,
    /// Weight of the keypoint displacement loss (MSE in units of the frame size).
    pub weight_motion: f64,
}

impl Default for DanceNetsConfig {
    fn default() -> Self {
        Self {
            name: "dance-nets".into(),
            description: String::new(),
            seed: 0,
            threads: 0,
            root: PathBuf::from("datasets"),
            datasets: vec!["tiktok".into(), "ubc-fashion".into(), "bilibili".into()],
            results_dir: PathBuf::from("results"),
            frame: FrameEncoderConfig::default(),
            clip: ClipEncoderConfig::default(),
        }
    }
}

impl Default for FrameEncoderConfig {
    fn default() -> Self {
        Self {
            widths: [16, 32, 64, 64],
            head_width: 32,
            steps: 1200,
            batch_size: 32,
            lr: 2e-3,
            weight_keypoints: 100.0,
            weight_visibility: 1.0,
            weight_identity: 1.0,
        }
    }
}

impl Default for ClipEncoderConfig {
    fn default() -> Self {
        Self {
            widths: [16, 32, 64, 64],
            clip_frames: 8,
            steps: 400,
            batch_size: 8,
            lr: 2e-3,
            weight_identity: 1.0,
            weight_order: 1.0,
            weight_motion: 100.0,
        }
    }
}

/// What one network's cache key covers: its own section, the data, the
/// seed, the thread count and the code version (not the name or folder).
#[derive(Serialize)]
struct Key<'a, T: Serialize> {
    version: u32,
    net: &'static str,
    seed: u64,
    threads: usize,
    root: &'a PathBuf,
    datasets: &'a [String],
    section: &'a T,
}

impl DanceNetsConfig {
    /// Cache key of the frame encoder's cell.
    pub fn frame_hash(&self) -> String {
        self.hash("frame", &self.frame)
    }

    /// Cache key of the clip encoder's cell.
    pub fn clip_hash(&self) -> String {
        self.hash("clip", &self.clip)
    }

    fn hash<T: Serialize>(&self, net: &'static str, section: &T) -> String {
        config_hash(
            &Key {
                version: NETS_VERSION,
                net,
                seed: self.seed,
                threads: self.threads,
                root: &self.root,
                datasets: &self.datasets,
                section,
            },
            &[],
        )
    }

    /// The resolved file as TOML (saved as each cell's `config.toml`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise to TOML")
    }
}

fn widths_ok(out: &mut Vec<Invalid>, k: String, w: &[usize; 4]) {
    check(
        out,
        w.iter().all(|&c| (1..=1024).contains(&c)),
        k,
        format!("{w:?} has a width out of range, expected 1..=1024 each"),
    );
}

fn positive(out: &mut Vec<Invalid>, k: String, v: f64, what: &str) {
    check(
        out,
        v.is_finite() && v > 0.0,
        k,
        format!("{v} is out of range, expected {what} > 0"),
    );
}

fn weight(out: &mut Vec<Invalid>, k: String, v: f64) {
    check(
        out,
        v.is_finite() && v >= 0.0,
        k,
        format!("{v} is out of range, expected a loss weight >= 0"),
    );
}

impl Validate for DanceNetsConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            !self.name.is_empty()
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            key(prefix, "name"),
            format!(
                "{:?} is not a folder name, expected letters, digits, '-', '_' or '.'",
                self.name
            ),
        );
        check(
            out,
            self.threads <= 1024,
            key(prefix, "threads"),
            format!("{} is out of range, expected 0 (all cores) to 1024", self.threads),
        );
        check(
            out,
            !self.datasets.is_empty(),
            key(prefix, "datasets"),
            "empty, expected at least one dataset name",
        );
        for (i, d) in self.datasets.iter().enumerate() {
            check(
                out,
                !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                key(prefix, "datasets"),
                format!("entry {i}: {d:?} is not a dataset name, expected letters, digits, '-' or '_'"),
            );
        }
        self.frame.validate(&key(prefix, "frame"), out);
        self.clip.validate(&key(prefix, "clip"), out);
    }
}

impl Validate for FrameEncoderConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        widths_ok(out, k("widths"), &self.widths);
        check(
            out,
            (1..=1024).contains(&self.head_width),
            k("head_width"),
            format!("{} is out of range, expected 1..=1024", self.head_width),
        );
        check(out, self.steps >= 1, k("steps"), "0 steps, expected >= 1");
        check(
            out,
            (2..=4096).contains(&self.batch_size),
            k("batch_size"),
            format!("{} is out of range, expected 2..=4096", self.batch_size),
        );
        positive(out, k("lr"), self.lr, "a learning rate");
        weight(out, k("weight_keypoints"), self.weight_keypoints);
        weight(out, k("weight_visibility"), self.weight_visibility);
        weight(out, k("weight_identity"), self.weight_identity);
    }
}

impl Validate for ClipEncoderConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        widths_ok(out, k("widths"), &self.widths);
        check(
            out,
            (3..=64).contains(&self.clip_frames),
            k("clip_frames"),
            format!(
                "{} is out of range, expected 3..=64 (shuffling needs 3 frames)",
                self.clip_frames
            ),
        );
        check(out, self.steps >= 1, k("steps"), "0 steps, expected >= 1");
        check(
            out,
            (2..=1024).contains(&self.batch_size) && self.batch_size.is_multiple_of(2),
            k("batch_size"),
            format!(
                "{} is out of range, expected an even number 2..=1024 (half the clips are shuffled)",
                self.batch_size
            ),
        );
        positive(out, k("lr"), self.lr, "a learning rate");
        weight(out, k("weight_identity"), self.weight_identity);
        weight(out, k("weight_order"), self.weight_order);
        weight(out, k("weight_motion"), self.weight_motion);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_the_two_keys_differ() {
        let c = DanceNetsConfig::default();
        let mut out = Vec::new();
        c.validate("", &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_ne!(c.frame_hash(), c.clip_hash());
    }

    #[test]
    fn a_clip_setting_changes_only_the_clip_key() {
        let a = DanceNetsConfig::default();
        let mut b = a.clone();
        b.clip.steps += 1;
        b.results_dir = "elsewhere".into();
        assert_eq!(a.frame_hash(), b.frame_hash());
        assert_ne!(a.clip_hash(), b.clip_hash());
    }
}
