//! One video of a dancing person, frame by frame: the RGB image, the
//! OpenPose-style pose map, the 18 keypoints and the person mask.
//!
//! A [`VideoPlan`] fixes everything random about a video (identity, scenery,
//! choreography, camera) from named seed streams, so frame f is a pure
//! function of (profile, video, f). Body parts are filled shapes sorted by
//! their depth towards the camera after the turn (painter's algorithm), so a
//! turning dancer's far arm passes behind the torso and the near one in front.

use super::choreography::Choreography;
use super::figure::{view, Identity, Skeleton, P3};
use super::parts::{figure_parts, lerp3, off, paint_at, Fill, Posed};
use super::pose::{pose_map, Keypoints, KEYPOINTS};
use super::profile::DatasetProfile;
use super::raster::{to_u8, v2, Canvas, Paint, Shape, V2};
use super::scene::{world_shape, CameraPlan, Scenery};
use crate::seed::stream;

/// One rendered frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// `[h, w, 3]` RGB bytes.
    pub rgb: Vec<u8>,
    /// `[h, w, 3]` pose map bytes (black background).
    pub pose: Vec<u8>,
    /// `[h, w]` person coverage bytes (255 = person).
    pub mask: Vec<u8>,
    /// Keypoints in this frame's pixels.
    pub keypoints: Keypoints,
}

/// Everything random about one video, drawn once.
#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// The person.
    pub identity: Identity,
    scenery: Scenery,
    motion: Choreography,
    camera: CameraPlan,
    width: usize,
    height: usize,
    fps: f64,
    frames: usize,
}

impl VideoPlan {
    /// Draws video `video` of a profile: identity `video mod identities`, and its own scene, dance and camera.
    pub fn new(p: &DatasetProfile, video: usize) -> VideoPlan {
        let person = if p.identities == 0 { video } else { video % p.identities };
        let identity = Identity::sample(&mut stream(p.seed, "identity", person as u64), &p.clothing);
        let scenery = Scenery::sample(&mut stream(p.seed, "scene", video as u64), &p.scene);
        let duration = p.frames_per_video as f64 / p.fps;
        let motion = Choreography::sample(&mut stream(p.seed, "motion", video as u64), &p.motion, duration);
        let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for f in 0..p.frames_per_video {
            let b = figure_box(&identity, &motion, f as f64 / p.fps);
            bounds = [
                bounds[0].min(b[0]),
                bounds[1].min(b[1]),
                bounds[2].max(b[2]),
                bounds[3].max(b[3]),
            ];
        }
        let camera = CameraPlan::sample(
            &mut stream(p.seed, "camera", video as u64),
            &p.camera,
            p.width,
            p.height,
            bounds,
        );
        VideoPlan {
            identity,
            scenery,
            motion,
            camera,
            width: p.width,
            height: p.height,
            fps: p.fps,
            frames: p.frames_per_video,
        }
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Renders frame `f`.
    pub fn frame(&self, f: usize) -> Frame {
        let t = f as f64 / self.fps;
        let pose = self.motion.pose_at(t);
        let sk = Skeleton::new(&self.identity.body, &pose);
        let cam = self.camera.at(t, figure_box(&self.identity, &self.motion, t));
        let mut canvas = Canvas::new(self.width, self.height, [0.0; 3]);
        self.scenery.draw(&mut canvas, &cam, t, self.motion.beat_s);
        let body = Posed {
            sk: &sk,
            yaw: pose.yaw,
            cam: &cam,
        };
        if self.scenery.shadow {
            let (x, _, _) = body.world(sk.pelvis);
            let shadow = Shape::Ellipse {
                c: v2(x, 0.0),
                rx: 0.22,
                ry: 0.035,
                angle: 0.0,
            };
            canvas.fill(&world_shape(&shadow, &cam), &Paint::Solid([0.0; 3]), 0.22, None);
        }
        let mut mask = vec![0.0f32; self.width * self.height];
        let mut parts = figure_parts(&self.identity, &body);
        parts.sort_by(|a, b| a.depth.total_cmp(&b.depth).then(a.order.cmp(&b.order)));
        for part in &parts {
            let paint_fn = |p: V2| paint_at(&part.fill, p);
            let paint = match &part.fill {
                Fill::Flat(c) => Paint::Solid(*c),
                _ => Paint::Pattern(&paint_fn),
            };
            canvas.fill(&part.shape, &paint, 1.0, Some(&mut mask));
        }
        self.scenery.apply_light(&mut canvas);
        let keypoints = keypoints(&self.identity, &body);
        Frame {
            rgb: canvas.to_rgb8(),
            pose: pose_map(&keypoints, self.width, self.height),
            mask: mask.iter().map(|m| to_u8(*m)).collect(),
            keypoints,
        }
    }
}

/// World box `[xmin, ymin, xmax, ymax]` of the figure at time t, padded for the head and limb radii.
fn figure_box(id: &Identity, motion: &Choreography, t: f64) -> [f64; 4] {
    let pose = motion.pose_at(t);
    let sk = Skeleton::new(&id.body, &pose);
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    let pts = [sk.head, sk.neck, sk.pelvis].into_iter().chain(
        [sk.shoulder, sk.elbow, sk.wrist, sk.hip, sk.knee, sk.ankle, sk.toe]
            .into_iter()
            .flatten(),
    );
    for p in pts {
        let (x, y, _) = view(p, pose.yaw, sk.pelvis);
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    let pad = id.body.head_r * 1.15;
    [b[0] - pad, (b[1] - pad).max(-0.02), b[2] + pad, b[3] + pad]
}

/// The 18 COCO keypoints: body joints always visible, face points only on the camera side of the head.
fn keypoints(id: &Identity, b: &Posed) -> Keypoints {
    let sk = b.sk;
    let r = id.body.head_r;
    let mid = lerp3(sk.shoulder[0], sk.shoulder[1], 0.5);
    let face = |x: f64, y: f64, z: f64| off(sk.head, [x * r, y * r, z * r]);
    let points: [P3; KEYPOINTS] = [
        face(0.0, -0.15, 0.75),
        mid,
        sk.shoulder[0],
        sk.elbow[0],
        sk.wrist[0],
        sk.shoulder[1],
        sk.elbow[1],
        sk.wrist[1],
        sk.hip[0],
        sk.knee[0],
        sk.ankle[0],
        sk.hip[1],
        sk.knee[1],
        sk.ankle[1],
        face(-0.3, 0.1, 0.65),
        face(0.3, 0.1, 0.65),
        // Face points sit a little inside the silhouette so they stay on the drawn head at 32 px.
        face(-0.6, 0.0, 0.0),
        face(0.6, 0.0, 0.0),
    ];
    let (_, _, head_d) = b.world(sk.head);
    Keypoints(std::array::from_fn(|i| {
        let (p, d) = b.px(points[i]);
        let visible = (1..14).contains(&i) || d - head_d > -0.1 * r;
        [p.x as f32, p.y as f32, if visible { 1.0 } else { 0.0 }]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_has_the_right_sizes_and_a_person_in_it() {
        let p = DatasetProfile::default();
        let plan = VideoPlan::new(&p, 0);
        let f = plan.frame(3);
        assert_eq!(f.rgb.len(), 32 * 32 * 3);
        assert_eq!(f.pose.len(), 32 * 32 * 3);
        assert_eq!(f.mask.len(), 32 * 32);
        let person = f.mask.iter().filter(|m| **m > 128).count();
        assert!((60..700).contains(&person), "{person} person pixels");
    }
}
