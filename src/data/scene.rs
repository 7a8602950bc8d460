//! What surrounds the dancer: the background (a room, a studio backdrop, a
//! colourful stage) and the camera that frames the clip (fit to the whole
//! dance, slow zoom, hand-held shake), in world units of standing heights
//! with the floor at y = 0, so the background moves with the camera.

use std::f64::consts::PI;

use rand::Rng;

use super::profile::{Background, CameraProfile, SceneProfile};
use super::raster::{v2, Canvas, Paint, Shape, V2};
use crate::seed::Stream;

/// The camera of one frame: world (x, y up) to pixels (x, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Frame width, pixels.
    pub width: f64,
    /// Frame height, pixels.
    pub height: f64,
    /// Pixels per world unit (standing height).
    pub scale: f64,
    /// World point at the frame centre.
    pub centre: (f64, f64),
}

impl Camera {
    /// World point to pixel coordinates.
    pub fn to_px(&self, x: f64, y: f64) -> V2 {
        v2(
            self.width / 2.0 + (x - self.centre.0) * self.scale,
            self.height / 2.0 - (y - self.centre.1) * self.scale,
        )
    }

    /// Pixel coordinates back to a world point.
    pub fn to_world(&self, p: V2) -> (f64, f64) {
        (
            self.centre.0 + (p.x - self.width / 2.0) / self.scale,
            self.centre.1 - (p.y - self.height / 2.0) / self.scale,
        )
    }
}

/// A whole-clip camera plan: a fit to the dance plus zoom and shake per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPlan {
    base: Camera,
    zoom: f64,
    zoom_hz: f64,
    zoom_phase: f64,
    shake: [(f64, f64, f64); 4], // (amplitude px, Hz, phase) for x, x, y, y
    margin: f64,
}

impl CameraPlan {
    /// Fits the union of the per-frame figure boxes (world, `[xmin, ymin, xmax, ymax]`) into the frame.
    pub fn sample(rng: &mut Stream, p: &CameraProfile, width: usize, height: usize, bounds: [f64; 4]) -> CameraPlan {
        let (w, h) = (width as f64, height as f64);
        let fill = rng.random_range(p.fill[0]..=p.fill[1]);
        let (bw, bh) = (bounds[2] - bounds[0], bounds[3] - bounds[1]);
        let scale = (fill * h / bh).min(0.96 * w / bw) / (1.0 + p.zoom);
        let slack_x = (w / scale - bw).max(0.0) * 0.3;
        let slack_y = (h / scale - bh).max(0.0) * 0.3;
        let centre = (
            (bounds[0] + bounds[2]) / 2.0 + rng.random_range(-1.0..=1.0) * slack_x,
            (bounds[1] + bounds[3]) / 2.0 + rng.random_range(-1.0..=1.0) * slack_y,
        );
        let amp = p.jitter * w;
        let mut shake = [(0.0, 0.0, 0.0); 4];
        for (i, s) in shake.iter_mut().enumerate() {
            let f = p.jitter_hz
                * if i % 2 == 0 {
                    rng.random_range(0.6..1.0)
                } else {
                    rng.random_range(1.6..2.6)
                };
            *s = (
                amp * if i % 2 == 0 { 0.75 } else { 0.35 },
                f,
                rng.random_range(0.0..2.0 * PI),
            );
        }
        CameraPlan {
            base: Camera {
                width: w,
                height: h,
                scale,
                centre,
            },
            zoom: p.zoom,
            zoom_hz: 1.0 / p.zoom_period_s,
            zoom_phase: rng.random_range(0.0..2.0 * PI),
            shake,
            margin: 0.6,
        }
    }

    /// The camera at time `t`, shifted if needed so `figure` (world box of this frame) stays inside.
    pub fn at(&self, t: f64, figure: [f64; 4]) -> Camera {
        let mut cam = self.base;
        cam.scale *= 1.0 + self.zoom * (2.0 * PI * self.zoom_hz * t + self.zoom_phase).sin();
        let wave = |(a, f, ph): (f64, f64, f64)| a * (2.0 * PI * f * t + ph).sin();
        let dx = wave(self.shake[0]) + wave(self.shake[1]);
        let dy = wave(self.shake[2]) + wave(self.shake[3]);
        cam.centre = (cam.centre.0 - dx / cam.scale, cam.centre.1 + dy / cam.scale);
        // Keep the figure in frame: shift (never rescale) by the overflow.
        let lo = cam.to_px(figure[0], figure[3]);
        let hi = cam.to_px(figure[2], figure[1]);
        let m = self.margin;
        let shift = |lo: f64, hi: f64, size: f64| {
            if hi - lo > size - 2.0 * m {
                (lo + hi - size) / 2.0
            } else if lo < m {
                lo - m
            } else if hi > size - m {
                hi - (size - m)
            } else {
                0.0
            }
        };
        let sx = shift(lo.x, hi.x, cam.width);
        let sy = shift(lo.y, hi.y, cam.height);
        cam.centre = (cam.centre.0 + sx / cam.scale, cam.centre.1 - sy / cam.scale);
        cam
    }
}

/// One piece of scenery: a world-space shape and its colour and opacity.
#[derive(Debug, Clone, PartialEq)]
struct Prop {
    shape: Shape,
    colour: [f32; 3],
    alpha: f32,
    /// Pulses with the beat (stage lights).
    pulse: bool,
}

/// A video's background, fixed for the clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenery {
    kind: Background,
    top: [f32; 3],
    bottom: [f32; 3],
    floor: [f32; 3],
    horizon: f64,
    gradient_angle: f64,
    props: Vec<Prop>,
    /// Whole-scene brightness factor.
    pub light: f32,
    animated: bool,
    /// Whether a soft contact shadow is drawn under the feet.
    pub shadow: bool,
}

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

fn scale(c: [f32; 3], s: f32) -> [f32; 3] {
    c.map(|v| (v * s).clamp(0.0, 1.0))
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
    /// Draws a background for one video.
    pub fn sample(rng: &mut Stream, p: &SceneProfile) -> Scenery {
        let light = 1.0 + rng.random_range(-1.0..=1.0) * p.light_jitter as f32;
        let mut s = Scenery {
            kind: p.background,
            top: [0.0; 3],
            bottom: [0.0; 3],
            floor: [0.0; 3],
            horizon: 0.0,
            gradient_angle: 0.0,
            props: Vec::new(),
            light,
            animated: p.animated_lights,
            shadow: true,
        };
        match p.background {
            Background::Home => s.home(rng),
            Background::Studio => s.studio(rng),
            Background::Colourful => s.colourful(rng),
        }
        s
    }

    fn home(&mut self, rng: &mut Stream) {
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
    }

    fn studio(&mut self, rng: &mut Stream) {
        let base = rng.random_range(0.86..0.97f32);
        let tint = [rng.random_range(-0.02..0.02f32), 0.0, rng.random_range(-0.03..0.01f32)];
        let c = [base + tint[0], base, base + tint[2]];
        self.top = c;
        self.bottom = scale(c, 0.93);
        self.floor = scale(c, 0.97);
        self.horizon = rng.random_range(0.1..0.2);
    }

    fn colourful(&mut self, rng: &mut Stream) {
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

    /// Paints the background of a frame at time `t` (lights pulse with `beat_s`).
    pub fn draw(&self, canvas: &mut Canvas, cam: &Camera, t: f64, beat_s: f64) {
        let (top, bottom, floor, horizon, angle) =
            (self.top, self.bottom, self.floor, self.horizon, self.gradient_angle);
        let studio = self.kind == Background::Studio;
        canvas.fill_all(&|p| {
            let (x, y) = cam.to_world(p);
            if y < horizon {
                // floor darkens towards the camera
                let k = (1.0 - (horizon - y) * 0.8).clamp(0.7, 1.0) as f32;
                return scale(floor, k);
            }
            let u = ((y - horizon) * angle.cos() + x * angle.sin()).clamp(0.0, 1.4) / 1.4;
            let mut c: [f32; 3] = std::array::from_fn(|k| bottom[k] + (top[k] - bottom[k]) * u as f32);
            if studio {
                // soft spotlight on the backdrop behind the dancer
                let v = (1.0 - 0.12 * ((x * x) + (y - 0.6) * (y - 0.6)).min(1.0)) as f32;
                c = scale(c, v);
            }
            c
        });
        let pulse = 0.5 + 0.5 * (2.0 * PI * t / beat_s).cos() as f32;
        for p in &self.props {
            let shape = world_shape(&p.shape, cam);
            let alpha = if p.pulse && self.animated {
                p.alpha * (0.3 + 0.7 * pulse)
            } else {
                p.alpha
            };
            canvas.fill(&shape, &Paint::Solid(p.colour), alpha, None);
        }
    }

    /// Multiplies the finished frame by the scene light.
    pub fn apply_light(&self, canvas: &mut Canvas) {
        for v in &mut canvas.rgb {
            *v = (*v * self.light).clamp(0.0, 1.0);
        }
    }
}

fn polar(r: f64, a: f64) -> V2 {
    v2(r * a.cos(), r * a.sin())
}

/// A world-space shape (x right, y up, standing heights) in pixel space.
pub fn world_shape(s: &Shape, cam: &Camera) -> Shape {
    let p = |q: V2| cam.to_px(q.x, q.y);
    match s {
        Shape::Capsule { a, b, ra, rb } => Shape::Capsule {
            a: p(*a),
            b: p(*b),
            ra: ra * cam.scale,
            rb: rb * cam.scale,
        },
        Shape::Ellipse { c, rx, ry, angle } => Shape::Ellipse {
            c: p(*c),
            rx: rx * cam.scale,
            ry: ry * cam.scale,
            angle: -angle,
        },
        Shape::Polygon(pts) => Shape::Polygon(pts.iter().map(|q| p(*q)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;

    #[test]
    fn camera_round_trips_points() {
        let c = Camera {
            width: 32.0,
            height: 32.0,
            scale: 25.0,
            centre: (0.1, 0.5),
        };
        let (x, y) = c.to_world(c.to_px(0.3, 0.9));
        assert!((x - 0.3).abs() < 1e-12 && (y - 0.9).abs() < 1e-12);
    }

    #[test]
    fn shaky_zooming_camera_keeps_the_figure_in_frame() {
        let p = CameraProfile {
            jitter: 0.2,
            zoom: 0.5,
            fill: [1.0, 1.0],
            ..CameraProfile::default()
        };
        let bounds = [-0.4, 0.0, 0.4, 1.0];
        let plan = CameraPlan::sample(&mut stream(1, "camera", 0), &p, 32, 32, bounds);
        for f in 0..100 {
            let cam = plan.at(f as f64 * 0.07, bounds);
            let lo = cam.to_px(bounds[0], bounds[3]);
            let hi = cam.to_px(bounds[2], bounds[1]);
            assert!(
                lo.x >= 0.0 && lo.y >= 0.0 && hi.x <= 32.0 && hi.y <= 32.0,
                "frame {f}: {lo:?} {hi:?}"
            );
        }
    }
}
