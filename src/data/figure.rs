//! A person: per-identity body proportions, skin and hair tones and outfit,
//! and the 3D skeleton a [`Pose`] (joint angles) puts them in.
//!
//! Body space: units of standing height, origin at the pelvis, x to the
//! person's left, y up, z forward (out of the chest). The camera looks along
//! -z at yaw 0, so a dancer facing the viewer has their left hand on the
//! image's right, as in a real video.

pub use super::identity::{Identity, Proportions};
pub use super::outfit::{Garment, Outfit, Texture};

/// A 3D point in body space.
pub type P3 = [f64; 3];

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
