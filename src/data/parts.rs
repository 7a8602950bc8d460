//! The body as filled shapes: tapered capsules for limbs (sleeves and
//! trouser legs over skin), the torso and skirt as convex hulls of a box
//! with depth, a chest logo, the neck, hair and face. Each part carries the
//! depth of its joints towards the camera; the renderer sorts by it.
//! Cloth patterns are evaluated in part-local coordinates (so stripes move
//! and foreshorten with the body) and shaded like a cylinder.

use super::figure::view;
use super::figure::{Garment, Identity, Skeleton, Texture, P3};
use super::raster::{v2, Shape, V2};
use super::scene::Camera;

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
    fn r(&self, r: f64) -> f64 {
        (r * self.cam.scale).max(MIN_RADIUS_PX)
    }
}

/// How a body part is coloured.
pub(super) enum Fill {
    Flat([f32; 3]),
    /// Skin or cloth with a pattern in part-local coordinates and cylindrical shading.
    Surface {
        base: [f32; 3],
        cloth: Option<Garment>,
        origin: V2,
        u: V2,
        v: V2,
        unit: f64,
        squash: f64,
        half: f64,
    },
}

pub(super) struct Part {
    pub(super) depth: f64,
    pub(super) order: u8,
    pub(super) shape: Shape,
    pub(super) fill: Fill,
}

pub(super) fn paint_at(fill: &Fill, p: V2) -> [f32; 3] {
    let (base, cloth, origin, u, v, unit, squash, half) = match fill {
        Fill::Flat(c) => return *c,
        Fill::Surface {
            base,
            cloth,
            origin,
            u,
            v,
            unit,
            squash,
            half,
        } => (base, cloth, origin, u, v, unit, squash, half),
    };
    let d = p - *origin;
    let (du, dv) = (d.dot(*u), d.dot(*v));
    let mut c = *base;
    if let Some(g) = cloth {
        let (bu, bv) = (du / (unit * squash), dv / unit);
        let (a, b) = (bu / g.period, bv / g.period);
        let accent = match g.texture {
            Texture::Solid => false,
            Texture::Stripes => b.rem_euclid(1.0) < 0.45,
            Texture::Dots => {
                let (x, y) = (a.rem_euclid(1.0) - 0.5, (b + 0.5 * a.floor()).rem_euclid(1.0) - 0.5);
                x * x + y * y < 0.09
            }
            Texture::Checks => (a.floor() + b.floor()).rem_euclid(2.0) < 1.0,
        };
        c = if accent { g.accent } else { g.colour };
    }
    let s = (1.0 - 0.3 * (du / half).powi(2)).clamp(0.6, 1.0) as f32;
    c.map(|x| x * s)
}

/// A shaded surface spanning `a` -> `b` (pixels) of half-width `half` pixels.
fn surface(base: [f32; 3], cloth: Option<&Garment>, a: V2, b: V2, half: f64, unit: f64, squash: f64) -> Fill {
    let d = b - a;
    let len = d.len().max(1e-9);
    let v = d * (1.0 / len);
    let u = v2(-v.y, v.x);
    let centre = a.lerp(b, 0.5);
    // u is measured from the part's centre line so shading darkens both edges.
    let origin = centre - v * (len / 2.0);
    Fill::Surface {
        base,
        cloth: cloth.cloned(),
        origin,
        u,
        v,
        unit,
        squash,
        half: half.max(0.5),
    }
}

/// Convex hull (monotone chain) of pixel points, for the torso and skirt outlines.
fn hull(mut pts: Vec<V2>) -> Vec<V2> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    let cross = |o: V2, a: V2, b: V2| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let mut lower: Vec<V2> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<V2> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
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
    let (body, sk, o) = (&id.body, b.sk, &id.outfit);
    let mut parts = Vec::with_capacity(32);
    let cloth_or_skin = |covered: bool, g: &Garment| {
        if covered {
            (g.colour, Some(g.clone()))
        } else {
            (id.skin, None)
        }
    };
    for k in 0..2 {
        // Legs: thigh, shin, foot; shorts cover the top of the thigh.
        let (thigh_c, thigh_g) = cloth_or_skin(o.long_bottom, &o.bottom);
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
        let (shin_c, shin_g) = cloth_or_skin(o.long_bottom, &o.bottom);
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
        // Arms: upper arm, forearm, hand; short sleeves cover the top of the upper arm.
        let (up_c, up_g) = cloth_or_skin(o.long_sleeves, &o.top);
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
        let (fa_c, fa_g) = cloth_or_skin(o.long_sleeves, &o.top);
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
    torso_parts(id, b, &mut parts);
    head_parts(id, b, &mut parts);
    parts
}

/// The torso as the hull of a box (shoulders to hips, with chest depth), the
/// pelvis in the bottom garment, a dress's skirt, and the chest logo.
fn torso_parts(id: &Identity, b: &Posed, parts: &mut Vec<Part>) {
    let (body, sk, o) = (&id.body, b.sk, &id.outfit);
    let half_d = 0.06;
    let mut corners = Vec::new();
    for k in 0..2 {
        let s = if k == 0 { -1.0 } else { 1.0 };
        for dz in [-half_d, half_d] {
            corners.push(off(sk.shoulder[k], [s * body.arm_r * 0.8, 0.015, dz]));
            corners.push(off(sk.hip[k], [s * body.leg_r * 0.9, -0.01, dz * 0.9]));
        }
    }
    let outline = hull(corners.iter().map(|p| b.px(*p).0).collect());
    let (neck_px, _) = b.px(sk.neck);
    let (pelvis_px, pelvis_d) = b.px(sk.pelvis);
    let squash = b.yaw.cos().abs().max(0.3);
    let half = body.shoulder_w / 2.0 * b.cam.scale * squash;
    let top = surface(
        o.top.colour,
        Some(&o.top),
        neck_px,
        pelvis_px,
        half,
        b.cam.scale,
        squash,
    );
    parts.push(Part {
        depth: pelvis_d,
        order: 2,
        shape: Shape::Polygon(outline),
        fill: top,
    });
    // Waistband down: the bottom garment (or the dress's skirt).
    let waist_y = if o.dress { 0.08 } else { 0.035 };
    let mut pelvis = Vec::new();
    for k in 0..2 {
        let s = if k == 0 { -1.0 } else { 1.0 };
        for dz in [-half_d, half_d] {
            pelvis.push(off(sk.pelvis, [s * (body.hip_w / 2.0 + body.leg_r * 0.9), waist_y, dz]));
            if o.dress {
                let hem = lerp3(sk.hip[k], sk.knee[k], 0.8);
                pelvis.push(off(hem, [s * (body.leg_r + 0.07), 0.0, dz * 1.6]));
                pelvis.push(off(
                    lerp3(sk.hip[1 - k], sk.knee[1 - k], 0.8),
                    [s * 0.02, 0.0, dz * 1.6],
                ));
            } else {
                pelvis.push(off(sk.hip[k], [s * body.leg_r * 1.0, -0.03, dz]));
            }
        }
    }
    let outline = hull(pelvis.iter().map(|p| b.px(*p).0).collect());
    let g = &o.bottom;
    let fill = surface(
        g.colour,
        Some(g),
        pelvis_px,
        b.px(lerp3(sk.knee[0], sk.knee[1], 0.5)).0,
        half,
        b.cam.scale,
        squash,
    );
    // A skirt hangs in front of both thighs; trunks sit at the pelvis.
    let depth = if o.dress {
        pelvis_d.max(b.px(sk.knee[0]).1).max(b.px(sk.knee[1]).1) + 5e-4
    } else {
        pelvis_d
    };
    parts.push(Part {
        depth,
        order: 3,
        shape: Shape::Polygon(outline),
        fill,
    });
    if let Some((bg, fg)) = o.logo {
        if b.yaw.cos() > 0.35 {
            let chest = lerp3(sk.neck, sk.pelvis, 0.33);
            let (w, h) = (0.045, 0.035);
            let quad = [[-w, h], [w, h], [w, -h], [-w, -h]].map(|[x, y]| b.px(off(chest, [x, y, half_d])).0);
            parts.push(Part {
                depth: pelvis_d,
                order: 4,
                shape: Shape::Polygon(quad.to_vec()),
                fill: Fill::Flat(bg),
            });
            let (c, _) = b.px(off(chest, [0.0, 0.0, half_d]));
            let r = (0.022 * b.cam.scale * b.yaw.cos()).max(0.35);
            parts.push(Part {
                depth: pelvis_d,
                order: 5,
                shape: Shape::disc(c, r),
                fill: Fill::Flat(fg),
            });
        }
    }
}

/// Neck, head, hair and (when facing the camera) the face.
fn head_parts(id: &Identity, b: &Posed, parts: &mut Vec<Part>) {
    let (body, sk) = (&id.body, b.sk);
    let r = body.head_r;
    let (head_px, head_d) = b.px(sk.head);
    let (neck_px, _) = b.px(sk.neck);
    let depth = head_d + 0.01;
    parts.push(Part {
        depth,
        order: 6,
        shape: Shape::capsule(neck_px, head_px, b.r(r * 0.4)),
        fill: surface(id.skin, None, neck_px, head_px, b.r(r * 0.4), b.cam.scale, 1.0),
    });
    if id.long_hair {
        let back = off(sk.head, [0.0, 0.0, -r * 0.8]);
        let (bp, bd) = b.px(back);
        let (ep, _) = b.px(off(sk.neck, [0.0, -0.07, -r * 0.8]));
        let hair = Shape::Capsule {
            a: bp,
            b: ep,
            ra: b.r(r * 0.95),
            rb: b.r(r * 1.05),
        };
        parts.push(Part {
            depth: bd,
            order: 7,
            shape: hair,
            fill: Fill::Flat(id.hair),
        });
    }
    let scale = b.cam.scale;
    let rx = (r * 0.9 * scale).max(1.2);
    let ry = (r * scale).max(1.3);
    let ellipse = |c: V2, sx: f64, sy: f64| Shape::Ellipse {
        c,
        rx: rx * sx,
        ry: ry * sy,
        angle: 0.0,
    };
    // Hair: the whole head; the face is painted over its front when it faces the camera.
    parts.push(Part {
        depth,
        order: 8,
        shape: ellipse(head_px, 1.0, 1.0),
        fill: Fill::Flat(id.hair),
    });
    let facing = b.yaw.cos();
    if facing > -0.15 {
        let side = b.yaw.sin();
        let c = head_px + v2(side * rx * 0.3, ry * 0.2);
        let face = ellipse(c, 0.78 * (0.55 + 0.45 * facing.max(0.0)), 0.78);
        let fill = surface(id.skin, None, c - v2(0.0, ry), c + v2(0.0, ry), rx * 0.8, scale, 1.0);
        parts.push(Part {
            depth,
            order: 9,
            shape: face,
            fill,
        });
        if rx >= 4.0 && facing > 0.3 {
            for s in [-1.0, 1.0] {
                let e = c + v2((s * 0.32 * facing + side * 0.2) * rx, -ry * 0.12);
                parts.push(Part {
                    depth,
                    order: 10,
                    shape: Shape::disc(e, rx * 0.09),
                    fill: Fill::Flat([0.1, 0.07, 0.06]),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_an_inner_point_is_the_square() {
        let h = hull(vec![
            v2(0.0, 0.0),
            v2(1.0, 0.0),
            v2(0.5, 0.5),
            v2(1.0, 1.0),
            v2(0.0, 1.0),
        ]);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn patterns_alternate_and_shading_darkens_the_edges() {
        let g = Garment {
            colour: [1.0; 3],
            accent: [0.0; 3],
            texture: Texture::Stripes,
            period: 0.1,
        };
        let fill = surface([1.0; 3], Some(&g), v2(0.0, 0.0), v2(0.0, 100.0), 10.0, 100.0, 1.0);
        // Along the part (v), stripes alternate every half period (5 px at 100 px per unit).
        assert_eq!(paint_at(&fill, v2(0.0, 2.0)), [0.0; 3]);
        assert_eq!(paint_at(&fill, v2(0.0, 7.0)), [1.0; 3]);
        // Across it (u), the edge is darker than the centre line.
        assert!(paint_at(&fill, v2(9.0, 7.0))[0] < paint_at(&fill, v2(0.0, 7.0))[0]);
    }

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
