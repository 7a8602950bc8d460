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
    /// (e.g. `extends = "tiktok.toml"` then only `height = 128`); empty once resolved.
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

/// How the camera frames the dancer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraProfile {
    /// Fraction of the frame height the dancer's whole-clip extent fills, drawn per video in [min, max].
    pub fill: [f64; 2],
    /// Relative zoom amplitude over a clip (0.1 = the figure grows and shrinks by 10%).
    pub zoom: f64,
    /// Period of the zoom oscillation, seconds.
    pub zoom_period_s: f64,
    /// Hand-held shake amplitude, fraction of the frame size.
    pub jitter: f64,
    /// Dominant shake frequency, Hz.
    pub jitter_hz: f64,
}

/// Background kind and lighting.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SceneProfile {
    /// `home` (walls, floor, furniture), `studio` (plain light backdrop), `colourful` (stage, gradients, lights).
    pub background: Background,
    /// Per-video brightness variation of the whole scene, +- fraction.
    pub light_jitter: f64,
    /// Whether coloured stage lights pulse with the beat (colourful backgrounds).
    pub animated_lights: bool,
}

/// What is behind the dancer.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// A room: wall, floor, door, window, pictures, furniture.
    Home,
    /// A plain light studio backdrop with a soft floor shadow.
    Studio,
    /// Saturated gradients, geometric panels and stage lights.
    Colourful,
}

/// Outfit distribution.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClothingProfile {
    /// Relative weights of the textures `solid`, `stripes`, `dots`, `checks`.
    pub texture_weights: TextureWeights,
    /// Probability of a logo patch on the chest.
    pub logo_probability: f64,
    /// Probability of a dress (one garment, flared skirt) instead of top + bottom.
    pub dress_probability: f64,
    /// Probability of long sleeves.
    pub long_sleeve_probability: f64,
    /// Probability of long trousers (else shorts or a skirt-length bottom).
    pub long_bottom_probability: f64,
    /// Probability of long hair.
    pub long_hair_probability: f64,
    /// Colour family of clothes: `muted`, `pastel` or `bright`.
    pub palette: Palette,
}

/// Relative weights of the four clothing textures.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TextureWeights {
    /// Weight of plain fabric.
    pub solid: f64,
    /// Weight of horizontal stripes.
    pub stripes: f64,
    /// Weight of polka dots.
    pub dots: f64,
    /// Weight of checks.
    pub checks: f64,
}

/// Colour family for clothes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Palette {
    /// Greys, navies, denim, earth tones.
    Muted,
    /// Light, soft colours.
    Pastel,
    /// Saturated colours.
    Bright,
}

/// Dance motion.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionProfile {
    /// `dance` (keyframed moves on the beat) or `catwalk` (walking in place, slow turns, small arm motion).
    pub style: MotionStyle,
    /// Tempo range, beats per minute, drawn per video.
    pub tempo_bpm: [f64; 2],
    /// Overall motion amplitude (1 = a typical dance; scales every joint excursion).
    pub amplitude: f64,
    /// Extra scale on arm excursions.
    pub arm_amplitude: f64,
    /// Extra scale on leg excursions.
    pub leg_amplitude: f64,
    /// Beats between two keyframe poses.
    pub beats_per_key: f64,
    /// Probability that a keyframe starts a turn (half or full, over two keys).
    pub turn_probability: f64,
    /// Vertical bounce on the beat, fraction of body height.
    pub bounce: f64,
    /// Probability that a keyframe is a jump.
    pub jump_probability: f64,
    /// Lateral travel amplitude, fraction of body height.
    pub travel: f64,
    /// Strength of the walking cycle (0 = none, 1 = a full stride).
    pub gait: f64,
}

/// Kind of motion.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MotionStyle {
    /// Keyframed dance moves on the beat.
    Dance,
    /// Walking in place with slow turns.
    Catwalk,
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

impl Default for CameraProfile {
    fn default() -> Self {
        Self {
            fill: [0.8, 0.92],
            zoom: 0.0,
            zoom_period_s: 6.0,
            jitter: 0.0,
            jitter_hz: 1.5,
        }
    }
}

impl Default for SceneProfile {
    fn default() -> Self {
        Self {
            background: Background::Home,
            light_jitter: 0.1,
            animated_lights: false,
        }
    }
}

impl Default for ClothingProfile {
    fn default() -> Self {
        Self {
            texture_weights: TextureWeights::default(),
            logo_probability: 0.0,
            dress_probability: 0.0,
            long_sleeve_probability: 0.3,
            long_bottom_probability: 0.6,
            long_hair_probability: 0.5,
            palette: Palette::Muted,
        }
    }
}

impl Default for TextureWeights {
    fn default() -> Self {
        Self {
            solid: 1.0,
            stripes: 0.0,
            dots: 0.0,
            checks: 0.0,
        }
    }
}

impl Default for MotionProfile {
    fn default() -> Self {
        Self {
            style: MotionStyle::Dance,
            tempo_bpm: [96.0, 124.0],
            amplitude: 1.0,
            arm_amplitude: 1.0,
            leg_amplitude: 1.0,
            beats_per_key: 1.0,
            turn_probability: 0.05,
            bounce: 0.015,
            jump_probability: 0.0,
            travel: 0.05,
            gait: 0.0,
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
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

fn range_ok(r: [f64; 2], lo: f64, hi: f64) -> bool {
    r[0] >= lo && r[1] <= hi && r[0] <= r[1]
}

fn prob(out: &mut Vec<Invalid>, p: f64, k: String) {
    check(
        out,
        (0.0..=1.0).contains(&p),
        k,
        format!("{p} is out of range, expected a probability in [0, 1]"),
    );
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

impl Validate for CameraProfile {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        check(
            out,
            range_ok(self.fill, 0.2, 1.0),
            k("fill"),
            format!("{:?} is out of range, expected [min, max] within [0.2, 1]", self.fill),
        );
        check(
            out,
            (0.0..=0.5).contains(&self.zoom),
            k("zoom"),
            format!("{} is out of range, expected [0, 0.5]", self.zoom),
        );
        check(
            out,
            self.zoom_period_s > 0.0,
            k("zoom_period_s"),
            format!("{} is out of range, expected > 0 s", self.zoom_period_s),
        );
        check(
            out,
            (0.0..=0.2).contains(&self.jitter),
            k("jitter"),
            format!("{} is out of range, expected [0, 0.2]", self.jitter),
        );
        check(
            out,
            self.jitter_hz > 0.0,
            k("jitter_hz"),
            format!("{} is out of range, expected > 0 Hz", self.jitter_hz),
        );
    }
}

impl Validate for SceneProfile {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let v = self.light_jitter;
        check(
            out,
            (0.0..=0.5).contains(&v),
            key(prefix, "light_jitter"),
            format!("{v} is out of range, expected [0, 0.5]"),
        );
    }
}

impl Validate for ClothingProfile {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        let w = &self.texture_weights;
        let weights = [w.solid, w.stripes, w.dots, w.checks];
        check(
            out,
            weights.iter().all(|x| *x >= 0.0) && weights.iter().sum::<f64>() > 0.0,
            k("texture_weights"),
            format!("{weights:?} is out of range, expected weights >= 0 with a positive sum"),
        );
        prob(out, self.logo_probability, k("logo_probability"));
        prob(out, self.dress_probability, k("dress_probability"));
        prob(out, self.long_sleeve_probability, k("long_sleeve_probability"));
        prob(out, self.long_bottom_probability, k("long_bottom_probability"));
        prob(out, self.long_hair_probability, k("long_hair_probability"));
    }
}

impl Validate for MotionProfile {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        check(
            out,
            range_ok(self.tempo_bpm, 20.0, 300.0),
            k("tempo_bpm"),
            format!(
                "{:?} is out of range, expected [min, max] within [20, 300] bpm",
                self.tempo_bpm
            ),
        );
        for (f, v, hi) in [
            ("amplitude", self.amplitude, 2.0),
            ("arm_amplitude", self.arm_amplitude, 2.0),
            ("leg_amplitude", self.leg_amplitude, 2.0),
            ("bounce", self.bounce, 0.1),
            ("travel", self.travel, 0.5),
            ("gait", self.gait, 1.0),
        ] {
            check(
                out,
                (0.0..=hi).contains(&v),
                k(f),
                format!("{v} is out of range, expected [0, {hi}]"),
            );
        }
        check(
            out,
            (0.25..=16.0).contains(&self.beats_per_key),
            k("beats_per_key"),
            format!("{} is out of range, expected [0.25, 16]", self.beats_per_key),
        );
        prob(out, self.turn_probability, k("turn_probability"));
        prob(out, self.jump_probability, k("jump_probability"));
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
    /// Digest of the default profile before and after profiles moved to the
    /// experiment config's `canonical_json` (the shipped profiles kept theirs
    /// too: tiktok 7341050b..., ubc-fashion a72d2e31..., bilibili e6e1f75c...).
    #[test]
    fn the_default_profile_keeps_its_hash() {
        assert_eq!(
            DatasetProfile::default().config_hash(),
            "f748371d44ef1f91cbe4f0caba1c50dfe166b527e3fdf9c68f0346a3b52c24ae"
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
