//! The sections of a dataset profile: camera, scene, clothing and motion,
//! each with its defaults and validation (`profile.rs` composes them).

use serde::{Deserialize, Serialize};

use crate::config::{check, key, Invalid, Validate};

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
