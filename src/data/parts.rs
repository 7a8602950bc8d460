//! The body as filled shapes: tapered capsules for limbs (sleeves and
//! trouser legs over skin), the torso and skirt as convex hulls of a box
//! with depth, a chest logo, the neck, hair and face. Each part carries the
//! depth of its joints towards the camera; the renderer sorts by it.
//! Cloth patterns are evaluated in part-local coordinates (so stripes move
//! and foreshorten with the body) and shaded like a cylinder.

use super::figure::view;
use super::figure::{Garment, Identity, Skeleton, P3};
use super::head::head_parts;
use super::raster::{Shape, V2};
use super::scene::Camera;
use super::shading::surface;
pub(super) use super::shading::{paint_at, Fill};
use super::torso::torso_parts;

/// Thinnest limb radius in pixels, so limbs stay visible at 32x32.
const MIN_RADIUS_PX: f64 = 0.7;

/// A skeleton seen from the camera.
pub(super) struct Posed<'a> {
    pub(super) sk: &'a Skeleton,
    pub(super) yaw: f64,
    pub(super) cam: &'a Camera,
}

impl Posed<'_> {
    /// (world x, world y, depth towards the camera).
    pub(super) fn world(&self, p: P3) -> (f64, f64, f64) {
        view(p, self.yaw, self.sk.pelvis)
    }
    /// Pixel position and depth.
    pub(super) fn px(&self, p: P3) -> (V2, f64) {
        let (x, y, d) = self.world(p);
        (self.cam.to_px(x, y), d)
    }
    pub(super) fn r(&self, r: f64) -> f64 {
        (r * self.cam.scale).max(MIN_RADIUS_PX)
    }
}

pub(super) struct Part {
    pub(super) depth: f64,
    pub(super) order: u8,
    pub(super) shape: Shape,
    pub(super) fill: Fill,
}

pub(super) fn lerp3(a: P3, b: P3, t: f64) -> P3 {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub(super) fn off(p: P3, d: P3) -> P3 {
    [p[0] + d[0], p[1] + d[1], p[2] + d[2]]
}

/// A tapered capsule between two joints.
#[allow(clippy::too_many_arguments)]
fn limb_part(b: &Posed, a: P3, e: P3, ra: f64, re: f64, base: [f32; 3], cloth: Option<&Garment>, order: u8) -> Part {
    let (pa, da) = b.px(a);
    let (pe, de) = b.px(e);
    let (ra, re) = (b.r(ra), b.r(re));
    Part {
        depth: (da + de) / 2.0,
        order,
        shape: Shape::Capsule {
            a: pa,
            b: pe,
            ra,
            rb: re,
        },
        fill: surface(base, cloth, pa, pe, ra.max(re), b.cam.scale, 1.0),
    }
}

/// Every body part of a posed person, unsorted.
pub(super) fn figure_parts(id: &Identity, b: &Posed) -> Vec<Part> {
    let mut parts = Vec::with_capacity(32);
    for k in 0..2 {
        leg_parts(id, b, k, &mut parts);
        arm_parts(id, b, k, &mut parts);
    }
    torso_parts(id, b, &mut parts);
    head_parts(id, b, &mut parts);
    parts
}

/// The colour and garment of a limb segment: its garment's where the
/// garment covers it, skin otherwise.
fn cloth_or_skin(id: &Identity, covered: bool, g: &Garment) -> ([f32; 3], Option<Garment>) {
    if covered {
        (g.colour, Some(g.clone()))
    } else {
        (id.skin, None)
    }
}

/// Leg `k`: thigh, shin and foot.
fn leg_parts(id: &Identity, b: &Posed, k: usize, parts: &mut Vec<Part>) {
    let (body, sk, o) = (&id.body, b.sk, &id.outfit);
    // Legs: thigh, shin, foot; shorts cover the top of the thigh.
    let (thigh_c, thigh_g) = cloth_or_skin(id, o.long_bottom, &o.bottom);
    parts.push(limb_part(
        b,
        sk.hip[k],
        sk.knee[k],
        body.leg_r,
        body.leg_r * 0.8,
        thigh_c,
        thigh_g.as_ref(),
        0,
    ));
    if !o.long_bottom && !o.dress {
        let mid = lerp3(sk.hip[k], sk.knee[k], 0.5);
        let g = &o.bottom;
        parts.push(limb_part(
            b,
            sk.hip[k],
            mid,
            body.leg_r * 1.1,
            body.leg_r * 1.0,
            g.colour,
            Some(g),
            1,
        ));
    }
    let (shin_c, shin_g) = cloth_or_skin(id, o.long_bottom, &o.bottom);
    parts.push(limb_part(
        b,
        sk.knee[k],
        sk.ankle[k],
        body.leg_r * 0.8,
        body.leg_r * 0.6,
        shin_c,
        shin_g.as_ref(),
        0,
    ));
    parts.push(limb_part(
        b,
        sk.ankle[k],
        sk.toe[k],
        body.leg_r * 0.55,
        body.leg_r * 0.5,
        o.shoes,
        None,
        1,
    ));
}

/// Arm `k`: upper arm, forearm and hand, sorted as one at the shoulder-elbow depth.
fn arm_parts(id: &Identity, b: &Posed, k: usize, parts: &mut Vec<Part>) {
    let (body, sk, o) = (&id.body, b.sk, &id.outfit);
    // Arms: upper arm, forearm, hand; short sleeves cover the top of the upper arm.
    let (up_c, up_g) = cloth_or_skin(id, o.long_sleeves, &o.top);
    let mut arm = vec![limb_part(
        b,
        sk.shoulder[k],
        sk.elbow[k],
        body.arm_r,
        body.arm_r * 0.85,
        up_c,
        up_g.as_ref(),
        10,
    )];
    if !o.long_sleeves {
        let mid = lerp3(sk.shoulder[k], sk.elbow[k], 0.45);
        let g = &o.top;
        arm.push(limb_part(
            b,
            sk.shoulder[k],
            mid,
            body.arm_r * 1.2,
            body.arm_r * 1.1,
            g.colour,
            Some(g),
            11,
        ));
    }
    let (fa_c, fa_g) = cloth_or_skin(id, o.long_sleeves, &o.top);
    arm.push(limb_part(
        b,
        sk.elbow[k],
        sk.wrist[k],
        body.arm_r * 0.85,
        body.arm_r * 0.7,
        fa_c,
        fa_g.as_ref(),
        10,
    ));
    let hand_end = lerp3(sk.elbow[k], sk.wrist[k], 1.0 + 0.05 / body.forearm);
    arm.push(limb_part(
        b,
        sk.wrist[k],
        hand_end,
        body.arm_r * 0.9,
        body.arm_r * 0.8,
        id.skin,
        None,
        12,
    ));
    // The whole arm sorts at its shoulder-elbow depth, a hair in front of the torso plane.
    let depth = arm[0].depth + 1e-3;
    arm.iter_mut()
        .for_each(|p| p.depth = depth.max(p.depth.min(depth + 0.2)));
    parts.extend(arm);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted draw orders of the arm parts (orders 10-12) relative to the torso (order 2):
    /// (arm parts drawn before the torso, arm parts drawn after it).
    fn arms_around_torso(yaw: f64) -> (usize, usize) {
        use crate::data::figure::{Limb, Pose};
        let mut rng = crate::seed::stream(0, "identity", 0);
        let id = Identity::sample(&mut rng, &crate::data::profile::ClothingProfile::default());
        // Arms raised forward a little so they overlap the torso in a side view.
        let arm = Limb {
            abduct: 0.1,
            flex: 0.6,
            bend: 0.0,
            bend_fwd: 0.0,
        };
        let pose = Pose {
            yaw,
            arms: [arm, arm],
            ..Pose::default()
        };
        let sk = Skeleton::new(&id.body, &pose);
        let cam = Camera {
            width: 64.0,
            height: 64.0,
            scale: 50.0,
            centre: (0.0, 0.5),
        };
        let mut parts = figure_parts(
            &id,
            &Posed {
                sk: &sk,
                yaw,
                cam: &cam,
            },
        );
        parts.sort_by(|a, b| a.depth.total_cmp(&b.depth).then(a.order.cmp(&b.order)));
        let torso = parts.iter().position(|p| p.order == 2).unwrap();
        let arms = |r: std::ops::Range<usize>| parts[r].iter().filter(|p| (10..=12).contains(&p.order)).count();
        (arms(0..torso), arms(torso + 1..parts.len()))
    }

    #[test]
    fn in_a_side_view_the_far_arm_passes_behind_the_torso_and_the_near_one_in_front() {
        let (before, after) = arms_around_torso(std::f64::consts::FRAC_PI_2);
        assert!(before >= 3 && after >= 3, "{before} arm parts behind, {after} in front");
        let (before, after) = arms_around_torso(0.0);
        assert_eq!(before, 0, "facing the camera, both arms are in front ({after})");
    }
}
