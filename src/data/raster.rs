//! A small anti-aliased rasterizer for filled capsules, ellipses and polygons.
//!
//! Written by hand on purpose: the crates in our set draw either aliased
//! primitives (image) or need a full vector stack with fonts and paths
//! (tiny-skia, not in the dependency set); we need only three convex-ish
//! shapes, exact pixel-centre conventions and a person mask accumulated from
//! the same coverage. Coverage of a pixel is estimated from the signed distance
//! d (pixels) of its centre to the shape boundary: `clamp(0.5 - d, 0, 1)`, the
//! exact area of a unit pixel cut by a straight edge through it; textures are
//! supersampled 2x2 inside the pixel so stripes and dots do not alias.
//!
//! Coordinates are pixels, x right, y down, pixel (i, j) has its centre at
//! (i + 0.5, j + 0.5).

use std::ops::{Add, Mul, Sub};

/// A 2D point or vector in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct V2 {
    /// Horizontal coordinate, pixels, right positive.
    pub x: f64,
    /// Vertical coordinate, pixels, down positive.
    pub y: f64,
}

/// Shorthand constructor.
pub const fn v2(x: f64, y: f64) -> V2 {
    V2 { x, y }
}

impl Add for V2 {
    type Output = V2;
    fn add(self, o: V2) -> V2 {
        v2(self.x + o.x, self.y + o.y)
    }
}
impl Sub for V2 {
    type Output = V2;
    fn sub(self, o: V2) -> V2 {
        v2(self.x - o.x, self.y - o.y)
    }
}
impl Mul<f64> for V2 {
    type Output = V2;
    fn mul(self, s: f64) -> V2 {
        v2(self.x * s, self.y * s)
    }
}
impl V2 {
    /// Dot product.
    pub fn dot(self, o: V2) -> f64 {
        self.x * o.x + self.y * o.y
    }
    /// Euclidean length.
    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Linear interpolation towards `o` by `t`.
    pub fn lerp(self, o: V2, t: f64) -> V2 {
        self + (o - self) * t
    }
}

/// A filled shape with a signed distance (negative inside) in pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A segment from `a` to `b` thickened by a radius that goes linearly from `ra` to `rb`.
    Capsule { a: V2, b: V2, ra: f64, rb: f64 },
    /// An ellipse with centre, radii and rotation (radians, of the x radius from the x axis).
    Ellipse { c: V2, rx: f64, ry: f64, angle: f64 },
    /// A simple polygon (any winding).
    Polygon(Vec<V2>),
}

impl Shape {
    /// A capsule of constant radius.
    pub fn capsule(a: V2, b: V2, r: f64) -> Shape {
        Shape::Capsule { a, b, ra: r, rb: r }
    }

    /// A disc.
    pub fn disc(c: V2, r: f64) -> Shape {
        Shape::Ellipse {
            c,
            rx: r,
            ry: r,
            angle: 0.0,
        }
    }

    /// An axis-aligned rectangle from its top-left and bottom-right corners.
    pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Shape {
        Shape::Polygon(vec![v2(x0, y0), v2(x1, y0), v2(x1, y1), v2(x0, y1)])
    }

    /// Signed distance of `p` to the boundary, pixels (negative inside).
    pub fn sdf(&self, p: V2) -> f64 {
        match self {
            Shape::Capsule { a, b, ra, rb } => {
                let ab = *b - *a;
                let l2 = ab.dot(ab);
                let t = if l2 < 1e-12 {
                    0.0
                } else {
                    ((p - *a).dot(ab) / l2).clamp(0.0, 1.0)
                };
                (p - a.lerp(*b, t)).len() - (ra + (rb - ra) * t)
            }
            Shape::Ellipse { c, rx, ry, angle } => {
                let (s, co) = angle.sin_cos();
                let d = p - *c;
                let q = v2(d.x * co + d.y * s, -d.x * s + d.y * co);
                ellipse_sdf(q, rx.max(1e-6), ry.max(1e-6))
            }
            Shape::Polygon(pts) => polygon_sdf(pts, p),
        }
    }

    /// Bounding box (min, max) in pixels.
    pub fn bbox(&self) -> (V2, V2) {
        match self {
            Shape::Capsule { a, b, ra, rb } => {
                let r = ra.max(*rb);
                (
                    v2(a.x.min(b.x) - r, a.y.min(b.y) - r),
                    v2(a.x.max(b.x) + r, a.y.max(b.y) + r),
                )
            }
            Shape::Ellipse { c, rx, ry, .. } => {
                let r = rx.max(*ry);
                (v2(c.x - r, c.y - r), v2(c.x + r, c.y + r))
            }
            Shape::Polygon(pts) => pts
                .iter()
                .fold((v2(f64::MAX, f64::MAX), v2(f64::MIN, f64::MIN)), |(lo, hi), p| {
                    (v2(lo.x.min(p.x), lo.y.min(p.y)), v2(hi.x.max(p.x), hi.y.max(p.y)))
                }),
        }
    }
}

/// Approximate distance to an axis-aligned ellipse (Quilez's first-order estimate:
/// exact on the boundary and along the axes, a fraction of a pixel off elsewhere).
fn ellipse_sdf(q: V2, rx: f64, ry: f64) -> f64 {
    let k0 = v2(q.x / rx, q.y / ry).len();
    let k1 = v2(q.x / (rx * rx), q.y / (ry * ry)).len();
    if k1 < 1e-12 {
        -rx.min(ry)
    } else {
        k0 * (k0 - 1.0) / k1
    }
}

/// Exact signed distance to a simple polygon (crossing-number inside test).
fn polygon_sdf(pts: &[V2], p: V2) -> f64 {
    let n = pts.len();
    if n < 3 {
        return f64::MAX;
    }
    let mut d2 = f64::MAX;
    let mut inside = false;
    for i in 0..n {
        let a = pts[i];
        let b = pts[(i + 1) % n];
        let ab = b - a;
        let l2 = ab.dot(ab).max(1e-12);
        let t = ((p - a).dot(ab) / l2).clamp(0.0, 1.0);
        d2 = d2.min((p - (a + ab * t)).dot(p - (a + ab * t)));
        if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) / (b.y - a.y) * ab.x {
            inside = !inside;
        }
    }
    if inside {
        -d2.sqrt()
    } else {
        d2.sqrt()
    }
}

/// How a shape is coloured: one colour, or a pattern evaluated at image points.
pub enum Paint<'a> {
    /// A flat RGB colour in [0, 1].
    Solid([f32; 3]),
    /// A colour per image point (pixels), supersampled 2x2 per pixel.
    Pattern(&'a dyn Fn(V2) -> [f32; 3]),
}

/// An RGB float image in [0, 1], row-major, interleaved.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    /// Width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// `[h, w, 3]` values in [0, 1].
    pub rgb: Vec<f32>,
}

impl Canvas {
    /// A canvas filled with one colour.
    pub fn new(width: usize, height: usize, colour: [f32; 3]) -> Canvas {
        let mut rgb = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            rgb.extend_from_slice(&colour);
        }
        Canvas { width, height, rgb }
    }

    /// Paints every pixel with `f(pixel centre)` (gradients, backdrops).
    pub fn fill_all(&mut self, f: &dyn Fn(V2) -> [f32; 3]) {
        for j in 0..self.height {
            for i in 0..self.width {
                let c = f(v2(i as f64 + 0.5, j as f64 + 0.5));
                self.rgb[(j * self.width + i) * 3..][..3].copy_from_slice(&c);
            }
        }
    }

    /// Composites `shape` painted with `paint` at opacity `alpha`; when `mask` is
    /// given (`[h, w]`), its coverage is accumulated there too (union: m + c (1 - m)).
    pub fn fill(&mut self, shape: &Shape, paint: &Paint, alpha: f32, mut mask: Option<&mut [f32]>) {
        let (lo, hi) = shape.bbox();
        let i0 = (lo.x - 1.0).floor().max(0.0) as usize;
        let j0 = (lo.y - 1.0).floor().max(0.0) as usize;
        let i1 = ((hi.x + 1.0).ceil().max(0.0) as usize).min(self.width);
        let j1 = ((hi.y + 1.0).ceil().max(0.0) as usize).min(self.height);
        for j in j0..j1 {
            for i in i0..i1 {
                let p = v2(i as f64 + 0.5, j as f64 + 0.5);
                let cov = (0.5 - shape.sdf(p)).clamp(0.0, 1.0) as f32;
                if cov <= 0.0 {
                    continue;
                }
                let colour = match paint {
                    Paint::Solid(c) => *c,
                    Paint::Pattern(f) => supersample(*f, p),
                };
                let a = cov * alpha;
                let px = &mut self.rgb[(j * self.width + i) * 3..][..3];
                for k in 0..3 {
                    px[k] += (colour[k] - px[k]) * a;
                }
                if let Some(m) = mask.as_deref_mut() {
                    let v = &mut m[j * self.width + i];
                    *v += cov * (1.0 - *v);
                }
            }
        }
    }

    /// The image as 8-bit RGB, `[h, w, 3]`.
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.rgb.iter().map(|v| to_u8(*v)).collect()
    }
}

/// Rounds a [0, 1] value to a byte.
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn supersample(f: &dyn Fn(V2) -> [f32; 3], p: V2) -> [f32; 3] {
    let mut acc = [0.0f32; 3];
    for (dx, dy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
        let c = f(v2(p.x + dx, p.y + dy));
        for k in 0..3 {
            acc[k] += c[k] * 0.25;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage_sum(shape: &Shape, w: usize, h: usize) -> f32 {
        let mut c = Canvas::new(w, h, [0.0; 3]);
        let mut m = vec![0.0; w * h];
        c.fill(shape, &Paint::Solid([1.0; 3]), 1.0, Some(&mut m));
        m.iter().sum()
    }

    #[test]
    fn disc_coverage_matches_its_area() {
        let area = coverage_sum(&Shape::disc(v2(16.3, 15.7), 6.0), 32, 32);
        let exact = std::f32::consts::PI * 36.0;
        assert!((area - exact).abs() / exact < 0.02, "{area} vs {exact}");
    }

    #[test]
    fn rotated_ellipse_and_polygon_areas_are_right() {
        let e = Shape::Ellipse {
            c: v2(20.0, 20.0),
            rx: 9.0,
            ry: 4.0,
            angle: 0.6,
        };
        let exact = std::f32::consts::PI * 36.0;
        let area = coverage_sum(&e, 40, 40);
        assert!((area - exact).abs() / exact < 0.04, "{area} vs {exact}");
        let tri = Shape::Polygon(vec![v2(4.0, 4.0), v2(30.0, 6.0), v2(10.0, 28.0)]);
        let exact = 0.5 * ((30.0f32 - 4.0) * (28.0 - 4.0) - (10.0 - 4.0) * (6.0 - 4.0));
        let area = coverage_sum(&tri, 40, 40);
        assert!((area - exact).abs() / exact < 0.02, "{area} vs {exact}");
    }

    #[test]
    fn capsule_area_is_rectangle_plus_disc() {
        let c = Shape::capsule(v2(8.0, 10.0), v2(24.0, 10.0), 3.0);
        let exact = 16.0 * 6.0 + std::f32::consts::PI * 9.0;
        let area = coverage_sum(&c, 32, 20);
        assert!((area - exact).abs() / exact < 0.02, "{area} vs {exact}");
    }

    #[test]
    fn edges_are_antialiased_not_binary() {
        let mut c = Canvas::new(16, 16, [0.0; 3]);
        c.fill(&Shape::rect(0.0, 0.0, 8.5, 16.0), &Paint::Solid([1.0; 3]), 1.0, None);
        let row: Vec<u8> = c.to_rgb8().chunks(3).take(16).map(|p| p[0]).collect();
        assert_eq!(&row[..10], &[255, 255, 255, 255, 255, 255, 255, 255, 128, 0]);
    }

    #[test]
    fn shapes_outside_the_canvas_are_clipped() {
        let mut c = Canvas::new(8, 8, [0.0; 3]);
        c.fill(&Shape::disc(v2(-20.0, 50.0), 5.0), &Paint::Solid([1.0; 3]), 1.0, None);
        c.fill(&Shape::disc(v2(0.0, 0.0), 2.0), &Paint::Solid([1.0; 3]), 1.0, None);
        assert!(c.rgb[0] > 0.9);
    }
}
