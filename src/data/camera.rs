//! The camera that frames a clip: world units (standing heights, y up) to
//! pixels, fit to the whole dance, with a slow zoom and hand-held shake that
//! never push the figure out of frame.

use std::f64::consts::PI;

use rand::Rng;

use super::profile::CameraProfile;
use super::raster::{v2, V2};
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
