//! A dataset profile: everything the synthetic generator needs, one TOML file
//! per dataset under `datasets/` (`tiktok.toml`, `ubc-fashion.toml`,
//! `bilibili.toml`). They load through the experiments' loader
//! (`config/load.rs`): the defaults below, the `extends` chain (e.g.
//! `extends = "tiktok.toml"`, relative to the file), then the file; unknown
//! keys are errors naming `file:line:col` and the key; profiles read no
//! environment variables and no flags. The resolved profile is hashed (the experiment
//! config's canonical JSON, `config/hash.rs`) into the manifest so a built
//! dataset is reused only when nothing that shapes it changed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::DataError;
use crate::config::hash::config_hash;
use crate::config::load::{describe_invalid, extract, Layers};
use crate::config::{check, key, Invalid, Validate};

pub use super::profile_sections::{
    Background, CameraProfile, ClothingProfile, MotionProfile, MotionStyle, Palette, SceneProfile, TextureWeights,
};

/// Bumped whenever the renderer changes what a given profile draws, so that
/// cached datasets built by an older renderer are rebuilt.
pub const GENERATOR_VERSION: &str = "entprog-synth-v2";

/// A synthetic dance dataset: size, split, camera, scene, clothing and motion.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetProfile {
    /// One line for the dataset card: what real dataset this stands in for.
    pub description: String,
    /// Another profile this one builds on, a path relative to this file
    /// (e.g. `extends = "tiktok.toml"` then only `height = 128`); empty once
    /// resolved, and then left out of the resolved profile and its hash, as an
    /// experiment's `extends` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Root seed of the generator; every video draws from `stream(seed, purpose, video)`.
    pub seed: u64,
    /// Frame height in pixels.
    pub height: usize,
    /// Frame width in pixels.
    pub width: usize,
    /// Number of videos (train + test).
    pub videos: usize,
    /// Videos held out for the test split (the last ones; split is by video).
    pub test_videos: usize,
    /// Frames per video.
    pub frames_per_video: usize,
    /// Distinct people; video v shows person v mod identities (0 = one person per video).
    pub identities: usize,
    /// Frames per second of the rendered motion (sets how far a step of frame_idx moves).
    pub fps: f64,
    /// Maximum rows (frames) per Parquet shard; videos are never split across shards.
    pub rows_per_shard: usize,
    /// Camera framing, zoom and shake.
    pub camera: CameraProfile,
    /// Background and lights.
    pub scene: SceneProfile,
    /// Outfits.
    pub clothing: ClothingProfile,
    /// Dance motion.
    pub motion: MotionProfile,
}

impl Default for DatasetProfile {
    fn default() -> Self {
        Self {
            description: "synthetic dance videos".into(),
            extends: None,
            seed: 0,
            height: 32,
            width: 32,
            videos: 48,
            test_videos: 8,
            frames_per_video: 48,
            identities: 0,
            fps: 12.0,
            rows_per_shard: 1024,
            camera: CameraProfile::default(),
            scene: SceneProfile::default(),
            clothing: ClothingProfile::default(),
            motion: MotionProfile::default(),
        }
    }
}

impl DatasetProfile {
    /// Loads `<root>/<name>.toml`, following its `extends` chain, and validates it.
    pub fn load(root: &Path, name: &str) -> Result<Self, DataError> {
        let path = profile_path(root, name);
        if !path.is_file() {
            return Err(DataError::UnknownDataset {
                name: name.to_string(),
                path,
                available: available_profiles(root),
            });
        }
        Self::from_file(&path)
    }

    /// Loads one profile file (and its `extends` chain) and validates it,
    /// reporting every broken rule with where its value came from.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let layers = Layers {
            file: path,
            what: "dataset profile",
            env: Vec::new(),
            sets: &[],
            defaults_named_after_file: true,
        };
        let (mut profile, merged): (DatasetProfile, _) = extract(&layers)?;
        profile.extends = None;
        let mut problems = Vec::new();
        profile.validate("", &mut problems);
        if problems.is_empty() {
            Ok(profile)
        } else {
            Err(DataError::Invalid {
                path: path.to_path_buf(),
                problems: problems.iter().map(|p| describe_invalid(p, &merged.figment)).collect(),
            })
        }
    }

    /// Videos in the training split (the first `videos - test_videos`).
    pub fn train_videos(&self) -> usize {
        self.videos - self.test_videos
    }

    /// SHA-256 (hex) of the canonical JSON of the resolved profile and the generator version.
    pub fn config_hash(&self) -> String {
        config_hash(
            &serde_json::json!({ "generator": GENERATOR_VERSION, "profile": self }),
            &[],
        )
    }
}

/// `<root>/<name>.toml`.
pub fn profile_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{name}.toml"))
}

/// Names of the profiles (`*.toml`) in `root`, sorted.
pub fn available_profiles(root: &Path) -> Vec<String> {
    crate::config::load::toml_names(root)
}

impl Validate for DatasetProfile {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        for (f, v) in [("height", self.height), ("width", self.width)] {
            check(
                out,
                (8..=4096).contains(&v),
                k(f),
                format!("{v} is out of range, expected 8..=4096 pixels"),
            );
        }
        check(
            out,
            self.videos >= 2,
            k("videos"),
            format!("{} is out of range, expected >= 2", self.videos),
        );
        check(
            out,
            self.test_videos >= 1 && self.test_videos < self.videos,
            k("test_videos"),
            format!(
                "{} is out of range, expected 1..{} (videos)",
                self.test_videos, self.videos
            ),
        );
        check(
            out,
            self.frames_per_video >= 2,
            k("frames_per_video"),
            format!("{} is out of range, expected >= 2", self.frames_per_video),
        );
        check(
            out,
            self.identities <= self.videos,
            k("identities"),
            format!(
                "{} is out of range, expected 0..={} (videos)",
                self.identities, self.videos
            ),
        );
        check(
            out,
            self.fps > 0.0 && self.fps <= 240.0,
            k("fps"),
            format!("{} is out of range, expected (0, 240]", self.fps),
        );
        check(
            out,
            self.rows_per_shard >= 1,
            k("rows_per_shard"),
            "0 is out of range, expected >= 1",
        );
        self.camera.validate(&k("camera"), out);
        self.scene.validate(&k("scene"), out);
        self.clothing.validate(&k("clothing"), out);
        self.motion.validate(&k("motion"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid() {
        let mut out = Vec::new();
        DatasetProfile::default().validate("", &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn hash_changes_with_any_field_and_not_otherwise() {
        let a = DatasetProfile::default();
        let mut b = a.clone();
        assert_eq!(a.config_hash(), b.config_hash());
        b.motion.bounce += 0.001;
        assert_ne!(a.config_hash(), b.config_hash());
    }

    /// Built datasets are cached under this hash: a change here rebuilds every
    /// dataset, so it must be on purpose (a new field, a new generator version).
    /// The digest changed on purpose once, from f748371d... to this, when a
    /// profile's `base = "tiktok"` became `extends = "tiktok.toml"` (the
    /// experiments' loader and word) and, resolved, left out of the profile
    /// as an experiment's `extends` is: built datasets rebuild once, with
    /// identical frames (the generator is unchanged).
    #[test]
    fn the_default_profile_keeps_its_hash() {
        assert_eq!(
            DatasetProfile::default().config_hash(),
            "2f3aa5d3f76852573dcdd8cd8022771256e075c19765dd3ceadbe3f2c894c71f"
        );
    }

    #[test]
    fn out_of_range_values_are_reported_with_their_key() {
        let mut p = DatasetProfile::default();
        p.test_videos = p.videos;
        p.motion.turn_probability = 1.5;
        let mut out = Vec::new();
        p.validate("", &mut out);
        let keys: Vec<&str> = out.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["test_videos", "motion.turn_probability"]);
    }
}
