//! The neck, head and hair of a posed person, and its face when it faces
//! the camera.

use super::figure::Identity;
use super::parts::{off, Part, Posed};
use super::raster::{v2, Shape, V2};
use super::shading::{surface, Fill};

/// Neck, head, hair and (when facing the camera) the face.
pub(super) fn head_parts(id: &Identity, b: &Posed, parts: &mut Vec<Part>) {
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
