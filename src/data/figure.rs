//! A person: per-identity body proportions, skin and hair tones and outfit,
//! and the 3D skeleton a [`Pose`] (joint angles) puts them in.
//!
//! Body space: units of standing height, origin at the pelvis, x to the
//! person's left, y up, z forward (out of the chest). The camera looks along
//! -z at yaw 0, so a dancer facing the viewer has their left hand on the
//! image's right, as in a real video.

use rand::Rng;

use super::profile::{ClothingProfile, Palette};
use crate::seed::Stream;

/// A 3D point in body space.
pub type P3 = [f64; 3];

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

/// Fabric pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    /// Plain colour.
    Solid,
    /// Horizontal stripes.
    Stripes,
    /// Polka dots.
    Dots,
    /// Checks.
    Checks,
}

/// One garment: two colours, a pattern and its period (standing heights).
#[derive(Debug, Clone, PartialEq)]
pub struct Garment {
    /// Main colour, RGB in [0, 1].
    pub colour: [f32; 3],
    /// Pattern colour.
    pub accent: [f32; 3],
    /// Pattern.
    pub texture: Texture,
    /// Pattern period, standing heights.
    pub period: f64,
}

/// What a person wears.
#[derive(Debug, Clone, PartialEq)]
pub struct Outfit {
    /// Shirt (or the bodice of a dress).
    pub top: Garment,
    /// Trousers, shorts or the skirt of a dress.
    pub bottom: Garment,
    /// One flared garment from the chest to the knees.
    pub dress: bool,
    /// Sleeves down to the wrist (else to mid upper arm).
    pub long_sleeves: bool,
    /// Trousers to the ankle (else shorts to mid thigh).
    pub long_bottom: bool,
    /// Shoe colour.
    pub shoes: [f32; 3],
    /// Chest logo: background and symbol colours.
    pub logo: Option<([f32; 3], [f32; 3])>,
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
const MUTED: [[f32; 3]; 10] = [
    [0.12, 0.16, 0.30],
    [0.45, 0.47, 0.50],
    [0.10, 0.10, 0.11],
    [0.92, 0.92, 0.90],
    [0.28, 0.42, 0.62],
    [0.40, 0.42, 0.24],
    [0.80, 0.72, 0.58],
    [0.48, 0.14, 0.18],
    [0.42, 0.28, 0.18],
    [0.20, 0.30, 0.45],
];
const PASTEL: [[f32; 3]; 8] = [
    [0.98, 0.75, 0.80],
    [0.70, 0.92, 0.82],
    [0.80, 0.74, 0.95],
    [0.70, 0.84, 0.98],
    [0.98, 0.95, 0.82],
    [0.99, 0.80, 0.68],
    [0.98, 0.96, 0.60],
    [0.95, 0.95, 0.97],
];
const BRIGHT: [[f32; 3]; 10] = [
    [0.90, 0.10, 0.12],
    [0.98, 0.50, 0.05],
    [0.98, 0.85, 0.10],
    [0.10, 0.72, 0.25],
    [0.05, 0.75, 0.85],
    [0.10, 0.25, 0.90],
    [0.90, 0.15, 0.65],
    [0.50, 0.15, 0.80],
    [0.97, 0.97, 0.97],
    [0.08, 0.08, 0.10],
];

fn pick<const N: usize>(rng: &mut Stream, table: &[[f32; 3]; N]) -> [f32; 3] {
    table[rng.random_range(0..N)]
}

fn palette_colour(rng: &mut Stream, p: Palette) -> [f32; 3] {
    match p {
        Palette::Muted => pick(rng, &MUTED),
        Palette::Pastel => pick(rng, &PASTEL),
        Palette::Bright => pick(rng, &BRIGHT),
    }
}

/// A colour far enough from `c` to be seen as a pattern on it.
fn contrasting(rng: &mut Stream, p: Palette, c: [f32; 3]) -> [f32; 3] {
    for _ in 0..8 {
        let a = palette_colour(rng, p);
        let d: f32 = (0..3).map(|k| (a[k] - c[k]).abs()).sum();
        if d > 0.6 {
            return a;
        }
    }
    let lum = 0.3 * c[0] + 0.6 * c[1] + 0.1 * c[2];
    if lum > 0.5 {
        [0.08, 0.08, 0.1]
    } else {
        [0.97, 0.97, 0.95]
    }
}

fn garment(rng: &mut Stream, c: &ClothingProfile) -> Garment {
    let w = &c.texture_weights;
    let weights = [w.solid, w.stripes, w.dots, w.checks];
    let mut x = rng.random::<f64>() * weights.iter().sum::<f64>();
    let mut texture = Texture::Solid;
    for (t, wt) in [Texture::Solid, Texture::Stripes, Texture::Dots, Texture::Checks]
        .into_iter()
        .zip(weights)
    {
        if x < wt {
            texture = t;
            break;
        }
        x -= wt;
    }
    let colour = palette_colour(rng, c.palette);
    let accent = contrasting(rng, c.palette, colour);
    Garment {
        colour,
        accent,
        texture,
        period: rng.random_range(0.045..0.075),
    }
}

impl Identity {
    /// Draws a person from the clothing distribution of a profile.
    pub fn sample(rng: &mut Stream, clothing: &ClothingProfile) -> Identity {
        let mut u = |lo: f64, hi: f64| rng.random_range(lo..hi);
        let body = Proportions {
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
        };
        let tone = rng.random_range(0.0..(SKIN.len() - 1) as f32);
        let (i, f) = (tone as usize, tone.fract());
        let skin = std::array::from_fn(|k| SKIN[i][k] * (1.0 - f) + SKIN[i + 1][k] * f);
        let hair = if clothing.palette == Palette::Bright && rng.random_bool(0.2) {
            pick(rng, &DYED_HAIR)
        } else {
            pick(rng, &HAIR)
        };
        let long_hair = rng.random_bool(clothing.long_hair_probability);
        let dress = rng.random_bool(clothing.dress_probability);
        let top = garment(rng, clothing);
        let bottom = if dress {
            top.clone()
        } else {
            let mut g = garment(rng, clothing);
            g.colour = contrasting(rng, clothing.palette, top.colour);
            g.accent = contrasting(rng, clothing.palette, g.colour);
            g
        };
        let long_sleeves = rng.random_bool(clothing.long_sleeve_probability);
        let long_bottom = !dress && rng.random_bool(clothing.long_bottom_probability);
        let shoes = pick(
            rng,
            &[
                [0.08, 0.08, 0.09],
                [0.95, 0.95, 0.95],
                [0.45, 0.30, 0.2],
                [0.75, 0.1, 0.12],
            ],
        );
        let logo = rng.random_bool(clothing.logo_probability).then(|| {
            let bg = contrasting(rng, Palette::Bright, top.colour);
            (bg, contrasting(rng, Palette::Bright, bg))
        });
        let outfit = Outfit {
            top,
            bottom,
            dress,
            long_sleeves,
            long_bottom,
            shoes,
            logo,
        };
        Identity {
            body,
            skin,
            hair,
            long_hair,
            outfit,
        }
    }
}

/// One limb's joint angles, radians.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limb {
    /// Sideways raise from hanging down in the frontal plane (pi/2 = horizontal, pi = overhead).
    pub abduct: f64,
    /// Forward swing of the upper segment (pi/2 = pointing forward).
    pub flex: f64,
    /// Elbow: forearm raised further in the frontal plane (negative folds it towards the body);
    /// knee: shin folded backwards.
    pub bend: f64,
    /// Elbow only: extra forward swing of the forearm.
    pub bend_fwd: f64,
}

/// A full-body pose: joint angles plus root motion. Index 0 is the right side, 1 the left.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pose {
    /// Rotation of the whole body about the vertical axis (0 = facing the camera, pi = back to it).
    pub yaw: f64,
    /// Sideways lean of the torso in the frontal plane.
    pub lean: f64,
    /// Head tilt in the frontal plane.
    pub head_tilt: f64,
    /// Sideways position of the pelvis, standing heights.
    pub travel: f64,
    /// Height of the feet above the floor (jumps), standing heights.
    pub lift: f64,
    /// Arms [right, left].
    pub arms: [Limb; 2],
    /// Legs [right, left].
    pub legs: [Limb; 2],
}

/// Joint positions in body space (before yaw), feet on the floor at y = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Skeleton {
    /// Pelvis centre.
    pub pelvis: P3,
    /// Base of the neck (top of the spine).
    pub neck: P3,
    /// Centre of the head.
    pub head: P3,
    /// Shoulder joints [right, left].
    pub shoulder: [P3; 2],
    /// Elbows.
    pub elbow: [P3; 2],
    /// Wrists.
    pub wrist: [P3; 2],
    /// Hip joints.
    pub hip: [P3; 2],
    /// Knees.
    pub knee: [P3; 2],
    /// Ankles.
    pub ankle: [P3; 2],
    /// Toes.
    pub toe: [P3; 2],
}

fn add(a: P3, b: P3, s: f64) -> P3 {
    [a[0] + b[0] * s, a[1] + b[1] * s, a[2] + b[2] * s]
}

/// Unit direction of a segment raised `abduct` sideways and swung `flex` forward;
/// `side` is -1 for the right limb (towards -x), +1 for the left.
fn direction(side: f64, abduct: f64, flex: f64) -> P3 {
    let (sa, ca) = abduct.sin_cos();
    let (sf, cf) = flex.sin_cos();
    // Frontal-plane vector (side sin a, -cos a, 0), rotated about x so -y swings to +z.
    [side * sa, -ca * cf, ca * sf]
}

impl Skeleton {
    /// Forward kinematics of `pose` for a body, then the root placed so the lower foot
    /// touches the floor (y = 0) unless the pose lifts it.
    pub fn new(body: &Proportions, pose: &Pose) -> Skeleton {
        let pelvis = [0.0; 3];
        let (sl, cl) = pose.lean.sin_cos();
        let up = [-sl, cl, 0.0];
        let right = [cl, sl, 0.0]; // the body's +x after the lean
        let neck = add(pelvis, up, body.torso);
        let (st, ct) = (pose.lean + pose.head_tilt).sin_cos();
        let head = add(neck, [-st, ct, 0.0], body.neck + body.head_r);
        let mut sk = Skeleton {
            pelvis,
            neck,
            head,
            shoulder: [[0.0; 3]; 2],
            elbow: [[0.0; 3]; 2],
            wrist: [[0.0; 3]; 2],
            hip: [[0.0; 3]; 2],
            knee: [[0.0; 3]; 2],
            ankle: [[0.0; 3]; 2],
            toe: [[0.0; 3]; 2],
        };
        for (k, side) in [-1.0f64, 1.0].into_iter().enumerate() {
            let arm = pose.arms[k];
            let shoulder = add(add(neck, right, side * body.shoulder_w / 2.0), up, -0.025);
            let elbow = add(shoulder, direction(side, arm.abduct, arm.flex), body.upper_arm);
            let wrist = add(
                elbow,
                direction(side, arm.abduct + arm.bend, arm.flex + arm.bend_fwd),
                body.forearm,
            );
            let leg = pose.legs[k];
            let hip = add(pelvis, right, side * body.hip_w / 2.0);
            let knee = add(hip, direction(side, leg.abduct, leg.flex), body.thigh);
            let ankle = add(knee, direction(side, leg.abduct, leg.flex - leg.bend), body.shin);
            let toe = add(ankle, [side * 0.15, -0.2, 0.97], body.foot);
            (sk.shoulder[k], sk.elbow[k], sk.wrist[k]) = (shoulder, elbow, wrist);
            (sk.hip[k], sk.knee[k], sk.ankle[k], sk.toe[k]) = (hip, knee, ankle, toe);
        }
        // Plant the lower foot: the ankle sits one foot-height above the floor.
        let floor = sk.ankle[0][1].min(sk.ankle[1][1]) - 0.03;
        sk.translate([pose.travel, pose.lift - floor, 0.0]);
        sk
    }

    fn translate(&mut self, d: P3) {
        let mut all = [&mut self.pelvis, &mut self.neck, &mut self.head];
        for p in all.iter_mut() {
            **p = add(**p, d, 1.0);
        }
        for arr in [
            &mut self.shoulder,
            &mut self.elbow,
            &mut self.wrist,
            &mut self.hip,
            &mut self.knee,
            &mut self.ankle,
            &mut self.toe,
        ] {
            for p in arr.iter_mut() {
                *p = add(*p, d, 1.0);
            }
        }
    }
}

/// Rotates a body-space point by `yaw` about the vertical axis through `pivot`
/// and returns (image-plane x, y, depth towards the camera), body units.
pub fn view(p: P3, yaw: f64, pivot: P3) -> (f64, f64, f64) {
    let (s, c) = yaw.sin_cos();
    let (x, z) = (p[0] - pivot[0], p[2] - pivot[2]);
    (pivot[0] + x * c + z * s, p[1], z * c - x * s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Proportions {
        Proportions {
            head_r: 0.065,
            neck: 0.04,
            torso: 0.3,
            shoulder_w: 0.22,
            hip_w: 0.16,
            upper_arm: 0.16,
            forearm: 0.14,
            thigh: 0.245,
            shin: 0.235,
            foot: 0.06,
            arm_r: 0.025,
            leg_r: 0.035,
        }
    }

    #[test]
    fn standing_figure_is_about_one_unit_tall_with_feet_on_the_floor() {
        let sk = Skeleton::new(&body(), &Pose::default());
        let top = sk.head[1] + 0.065;
        assert!((top - 1.0).abs() < 0.08, "{top}");
        assert!((sk.ankle[0][1] - 0.03).abs() < 1e-9 && (sk.ankle[1][1] - 0.03).abs() < 1e-9);
    }

    #[test]
    fn facing_the_camera_puts_the_left_hand_on_the_image_right() {
        let sk = Skeleton::new(&body(), &Pose::default());
        let (xl, _, _) = view(sk.wrist[1], 0.0, sk.pelvis);
        let (xr, _, _) = view(sk.wrist[0], 0.0, sk.pelvis);
        assert!(xl > xr);
        let (xl, _, _) = view(sk.wrist[1], std::f64::consts::PI, sk.pelvis);
        let (xr, _, _) = view(sk.wrist[0], std::f64::consts::PI, sk.pelvis);
        assert!(xl < xr, "back view mirrors");
    }

    #[test]
    fn raised_arms_reach_above_the_head_and_squats_stay_grounded() {
        let up = Limb {
            abduct: 2.9,
            ..Limb::default()
        };
        let squat = Limb {
            flex: 0.8,
            bend: 1.4,
            abduct: 0.2,
            bend_fwd: 0.0,
        };
        let pose = Pose {
            arms: [up, up],
            legs: [squat, squat],
            ..Pose::default()
        };
        let sk = Skeleton::new(&body(), &pose);
        assert!(sk.wrist[0][1] > sk.head[1] + 0.065);
        assert!((sk.ankle[0][1].min(sk.ankle[1][1]) - 0.03).abs() < 1e-9);
        assert!(sk.pelvis[1] < 0.45, "pelvis drops in a squat: {}", sk.pelvis[1]);
    }
}
