//! How a body part is coloured: flat, or skin and cloth with a pattern
//! evaluated in part-local coordinates (so stripes move and foreshorten with
//! the body) and shaded like a cylinder.

use super::figure::{Garment, Texture};
use super::raster::{v2, V2};

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
pub(super) fn surface(
    base: [f32; 3],
    cloth: Option<&Garment>,
    a: V2,
    b: V2,
    half: f64,
    unit: f64,
    squash: f64,
) -> Fill {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
