//! The torso as the hull of a box with depth, the pelvis in the bottom
//! garment or a dress's skirt, and the chest logo.

use super::figure::Identity;
use super::parts::{lerp3, off, Part, Posed};
use super::raster::{Shape, V2};
use super::shading::{surface, Fill};

/// The torso as the hull of a box (shoulders to hips, with chest depth), the
/// pelvis in the bottom garment, a dress's skirt, and the chest logo.
pub(super) fn torso_parts(id: &Identity, b: &Posed, parts: &mut Vec<Part>) {
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
    if let Some(colours) = o.logo {
        logo_parts(b, colours, pelvis_d, half_d, parts);
    }
}

/// The chest logo (a patch and a symbol on it), when the chest faces the camera.
fn logo_parts(b: &Posed, (bg, fg): ([f32; 3], [f32; 3]), pelvis_d: f64, half_d: f64, parts: &mut Vec<Part>) {
    let sk = b.sk;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::raster::v2;

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
}
