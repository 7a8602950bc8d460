//! The three kinds of background, drawn once per video: a room with
//! furniture, a plain studio backdrop, and a colourful stage with shapes and
//! pulsing lights.

use std::f64::consts::PI;

use rand::Rng;

use super::raster::{v2, Shape, V2};
use super::scene::{scale, Prop, Scenery};
use crate::seed::Stream;

fn rgb(rng: &mut Stream, lo: f32, hi: f32) -> [f32; 3] {
    [
        rng.random_range(lo..hi),
        rng.random_range(lo..hi),
        rng.random_range(lo..hi),
    ]
}

fn hue(h: f32, s: f32, v: f32) -> [f32; 3] {
    let f = |n: f32| {
        let k = (n + h * 6.0) % 6.0;
        v - v * s * (k.min(4.0 - k).clamp(0.0, 1.0))
    };
    [f(5.0), f(3.0), f(1.0)]
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> Shape {
    Shape::rect(x, y, x + w, y + h)
}

fn prop(shape: Shape, colour: [f32; 3]) -> Prop {
    Prop {
        shape,
        colour,
        alpha: 1.0,
        pulse: false,
    }
}

impl Scenery {
    pub(super) fn home(&mut self, rng: &mut Stream) {
        let walls = [
            [0.86, 0.82, 0.74],
            [0.78, 0.84, 0.86],
            [0.90, 0.88, 0.86],
            [0.80, 0.76, 0.82],
            [0.74, 0.80, 0.70],
        ];
        let floors = [
            [0.55, 0.38, 0.24],
            [0.66, 0.52, 0.36],
            [0.48, 0.46, 0.45],
            [0.74, 0.68, 0.58],
        ];
        let wall = scale(walls[rng.random_range(0..walls.len())], rng.random_range(0.85..1.05));
        self.top = scale(wall, 1.04);
        self.bottom = scale(wall, 0.92);
        self.floor = floors[rng.random_range(0..floors.len())];
        self.horizon = rng.random_range(0.12..0.28);
        let hz = self.horizon;
        self.props
            .push(prop(rect(-3.0, hz - 0.02, 6.0, 0.025), scale(wall, 0.7))); // skirting board
        let mut slots: Vec<f64> = vec![-0.95, -0.6, 0.55, 0.9];
        for _ in 0..rng.random_range(2..=4) {
            let x = slots.remove(rng.random_range(0..slots.len())) + rng.random_range(-0.1..0.1);
            self.home_prop(rng, x, hz);
        }
    }

    /// One piece of furniture of a room at `x`, on a floor at height `hz`.
    fn home_prop(&mut self, rng: &mut Stream, x: f64, hz: f64) {
        match rng.random_range(0..6) {
            0 => {
                // door
                let c = rgb(rng, 0.55, 0.95);
                self.props.push(prop(rect(x - 0.18, hz, 0.36, 0.85), c));
                self.props
                    .push(prop(Shape::disc(v2(x + 0.12, hz + 0.42), 0.015), scale(c, 0.5)));
            }
            1 => {
                // window with a frame cross
                let y = hz + rng.random_range(0.45..0.6);
                self.props.push(prop(rect(x - 0.2, y, 0.4, 0.36), [0.95, 0.95, 0.95]));
                self.props
                    .push(prop(rect(x - 0.18, y + 0.02, 0.36, 0.32), [0.62, 0.80, 0.95]));
                self.props.push(prop(rect(x - 0.01, y, 0.02, 0.36), [0.95, 0.95, 0.95]));
            }
            2 => {
                // framed picture
                let y = hz + rng.random_range(0.5..0.75);
                self.props.push(prop(rect(x - 0.1, y, 0.2, 0.24), [0.15, 0.12, 0.1]));
                self.props.push(prop(
                    rect(x - 0.085, y + 0.015, 0.17, 0.21),
                    hue(rng.random(), 0.6, 0.85),
                ));
            }
            3 => {
                // sofa or bed
                let c = rgb(rng, 0.2, 0.75);
                self.props.push(prop(rect(x - 0.35, hz - 0.05, 0.7, 0.22), c));
                self.props
                    .push(prop(rect(x - 0.37, hz + 0.12, 0.74, 0.12), scale(c, 0.85)));
            }
            4 => {
                // plant
                self.props
                    .push(prop(rect(x - 0.05, hz - 0.04, 0.1, 0.12), [0.62, 0.35, 0.22]));
                let leaf = Shape::Ellipse {
                    c: v2(x, hz + 0.2),
                    rx: 0.1,
                    ry: 0.14,
                    angle: 0.0,
                };
                self.props.push(prop(leaf, [0.2, 0.48, 0.22]));
            }
            _ => {
                // shelf with boxes
                let y = hz + rng.random_range(0.35..0.55);
                self.props.push(prop(rect(x - 0.25, y, 0.5, 0.025), [0.45, 0.32, 0.22]));
                for k in 0..3 {
                    let h = rng.random_range(0.06..0.14);
                    self.props.push(prop(
                        rect(x - 0.2 + 0.14 * k as f64, y + 0.025, 0.1, h),
                        rgb(rng, 0.2, 0.9),
                    ));
                }
            }
        }
    }

    pub(super) fn studio(&mut self, rng: &mut Stream) {
        let base = rng.random_range(0.86..0.97f32);
        let tint = [rng.random_range(-0.02..0.02f32), 0.0, rng.random_range(-0.03..0.01f32)];
        let c = [base + tint[0], base, base + tint[2]];
        self.top = c;
        self.bottom = scale(c, 0.93);
        self.floor = scale(c, 0.97);
        self.horizon = rng.random_range(0.1..0.2);
    }

    pub(super) fn colourful(&mut self, rng: &mut Stream) {
        let h0: f32 = rng.random();
        let h1 = (h0 + rng.random_range(0.2..0.5)) % 1.0;
        self.top = hue(h0, rng.random_range(0.6..0.95), rng.random_range(0.6..0.95));
        self.bottom = hue(h1, rng.random_range(0.6..0.95), rng.random_range(0.45..0.85));
        self.floor = hue(rng.random(), rng.random_range(0.3..0.8), rng.random_range(0.2..0.5));
        self.horizon = rng.random_range(0.08..0.25);
        self.gradient_angle = rng.random_range(-0.8..0.8);
        self.shadow = false;
        for _ in 0..rng.random_range(3..=6) {
            let c = v2(rng.random_range(-1.0..1.0), rng.random_range(self.horizon..1.3));
            let colour = hue(rng.random(), rng.random_range(0.7..1.0), rng.random_range(0.7..1.0));
            let shape = match rng.random_range(0..3) {
                0 => Shape::disc(c, rng.random_range(0.08..0.25)),
                1 => {
                    let r = rng.random_range(0.12..0.3);
                    let a: f64 = rng.random_range(0.0..2.0 * PI);
                    Shape::Polygon((0..3).map(|k| c + polar(r, a + k as f64 * 2.0 * PI / 3.0)).collect())
                }
                _ => Shape::Capsule {
                    a: c,
                    b: c + polar(0.6, rng.random_range(0.0..PI)),
                    ra: 0.04,
                    rb: 0.04,
                },
            };
            self.props.push(Prop {
                shape,
                colour,
                alpha: rng.random_range(0.6..1.0),
                pulse: false,
            });
        }
        for _ in 0..rng.random_range(2..=4) {
            let c = v2(rng.random_range(-0.9..0.9), rng.random_range(0.7..1.3));
            let colour = hue(rng.random(), 0.5, 1.0);
            self.props.push(Prop {
                shape: Shape::disc(c, rng.random_range(0.1..0.22)),
                colour,
                alpha: 0.55,
                pulse: true,
            });
        }
    }
}

fn polar(r: f64, a: f64) -> V2 {
    v2(r * a.cos(), r * a.sin())
}
