//! What surrounds the dancer: the background (a room, a studio backdrop, a
//! colourful stage) and the camera that frames the clip (fit to the whole
//! dance, slow zoom, hand-held shake), in world units of standing heights
//! with the floor at y = 0, so the background moves with the camera.

use std::f64::consts::PI;

use rand::Rng;

use super::profile::{Background, SceneProfile};
use super::raster::{Canvas, Paint, Shape, V2};
use crate::seed::Stream;

pub use super::camera::{Camera, CameraPlan};

/// One piece of scenery: a world-space shape and its colour and opacity.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Prop {
    pub(super) shape: Shape,
    pub(super) colour: [f32; 3],
    pub(super) alpha: f32,
    /// Pulses with the beat (stage lights).
    pub(super) pulse: bool,
}

/// A video's background, fixed for the clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenery {
    pub(super) kind: Background,
    pub(super) top: [f32; 3],
    pub(super) bottom: [f32; 3],
    pub(super) floor: [f32; 3],
    pub(super) horizon: f64,
    pub(super) gradient_angle: f64,
    pub(super) props: Vec<Prop>,
    /// Whole-scene brightness factor.
    pub light: f32,
    pub(super) animated: bool,
    /// Whether a soft contact shadow is drawn under the feet.
    pub shadow: bool,
}

pub(super) fn scale(c: [f32; 3], s: f32) -> [f32; 3] {
    c.map(|v| (v * s).clamp(0.0, 1.0))
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
