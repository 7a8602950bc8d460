//! A person's fixed appearance: body proportions, skin and hair tones, and
//! what they wear, drawn once per identity.

use rand::Rng;

use super::outfit::{pick, Outfit};
use super::profile::{ClothingProfile, Palette};
use crate::seed::Stream;

/// Lengths and radii, in standing heights.
#[derive(Debug, Clone, PartialEq)]
pub struct Proportions {
    /// Head radius (half the head height).
    pub head_r: f64,
    /// Neck length, top of the torso to the base of the head.
    pub neck: f64,
    /// Torso length, pelvis to the neck base.
    pub torso: f64,
    /// Distance between the shoulder joints.
    pub shoulder_w: f64,
    /// Distance between the hip joints.
    pub hip_w: f64,
    /// Shoulder to elbow.
    pub upper_arm: f64,
    /// Elbow to wrist.
    pub forearm: f64,
    /// Hip to knee.
    pub thigh: f64,
    /// Knee to ankle.
    pub shin: f64,
    /// Ankle to toe.
    pub foot: f64,
    /// Arm radius at the shoulder.
    pub arm_r: f64,
    /// Leg radius at the hip.
    pub leg_r: f64,
}

/// A person's fixed appearance.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Body proportions.
    pub body: Proportions,
    /// Skin tone.
    pub skin: [f32; 3],
    /// Hair colour.
    pub hair: [f32; 3],
    /// Hair down to the shoulders.
    pub long_hair: bool,
    /// Clothes.
    pub outfit: Outfit,
}

const SKIN: [[f32; 3]; 5] = [
    [0.96, 0.82, 0.71],
    [0.90, 0.70, 0.56],
    [0.76, 0.55, 0.40],
    [0.56, 0.38, 0.26],
    [0.36, 0.24, 0.17],
];
const HAIR: [[f32; 3]; 6] = [
    [0.06, 0.05, 0.05],
    [0.20, 0.13, 0.08],
    [0.38, 0.25, 0.14],
    [0.78, 0.64, 0.38],
    [0.52, 0.22, 0.10],
    [0.55, 0.55, 0.58],
];
const DYED_HAIR: [[f32; 3]; 3] = [[0.95, 0.45, 0.65], [0.35, 0.55, 0.95], [0.70, 0.45, 0.95]];

impl Proportions {
    /// Draws body proportions, in standing heights.
    fn sample(rng: &mut Stream) -> Proportions {
        let mut u = |lo: f64, hi: f64| rng.random_range(lo..hi);
        Proportions {
            head_r: u(0.066, 0.076),
            neck: u(0.022, 0.032),
            torso: u(0.28, 0.32),
            shoulder_w: u(0.19, 0.25),
            hip_w: u(0.13, 0.18),
            upper_arm: u(0.15, 0.17),
            forearm: u(0.13, 0.15),
            thigh: u(0.23, 0.26),
            shin: u(0.22, 0.25),
            foot: u(0.055, 0.07),
            arm_r: u(0.021, 0.029),
            leg_r: u(0.030, 0.042),
        }
    }
}

impl Identity {
    /// Draws a person from the clothing distribution of a profile.
    pub fn sample(rng: &mut Stream, clothing: &ClothingProfile) -> Identity {
        let body = Proportions::sample(rng);
        let tone = rng.random_range(0.0..(SKIN.len() - 1) as f32);
        let (i, f) = (tone as usize, tone.fract());
        let skin = std::array::from_fn(|k| SKIN[i][k] * (1.0 - f) + SKIN[i + 1][k] * f);
        let hair = if clothing.palette == Palette::Bright && rng.random_bool(0.2) {
            pick(rng, &DYED_HAIR)
        } else {
            pick(rng, &HAIR)
        };
        let long_hair = rng.random_bool(clothing.long_hair_probability);
        let outfit = Outfit::sample(rng, clothing);
        Identity {
            body,
            skin,
            hair,
            long_hair,
            outfit,
        }
    }
}
