//! Keypoints and pose maps in the OpenPose convention the paper's pose
//! encoders read (its poses come from an estimator and are rendered as a
//! coloured skeleton, docs/paper.md section 1).
//!
//! 18 COCO-order keypoints (OpenPose body-18): nose, neck, then right/left
//! shoulder, elbow, wrist, right/left hip, knee, ankle, then right/left eye
//! and ear. Stored per frame as 54 floats `[x, y, v] * 18`: pixel coordinates
//! in the stored frame (pixel (i, j) spans [i, i+1) x [j, j+1)) and v = 1 when
//! the point faces the camera (face points turn away), 0 when hidden.
//! The pose map draws each of the 17 OpenPose limbs in its own colour at
//! opacity 0.6 over the joint discs, on black, as `draw_bodypose` does.

use super::raster::{v2, Canvas, Paint, Shape};

/// Number of keypoints.
pub const KEYPOINTS: usize = 18;

/// Keypoint names, COCO-18 order.
pub const NAMES: [&str; KEYPOINTS] = [
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
];

/// The 17 limbs OpenPose draws, as keypoint index pairs (its `limbSeq` minus one).
pub const LIMBS: [(usize, usize); 17] = [
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
];

/// OpenPose's colour list: joint i and limb i use colour i.
pub const COLOURS: [[u8; 3]; KEYPOINTS] = [
    [255, 0, 0],
    [255, 85, 0],
    [255, 170, 0],
    [255, 255, 0],
    [170, 255, 0],
    [85, 255, 0],
    [0, 255, 0],
    [0, 255, 85],
    [0, 255, 170],
    [0, 255, 255],
    [0, 170, 255],
    [0, 85, 255],
    [0, 0, 255],
    [85, 0, 255],
    [170, 0, 255],
    [255, 0, 255],
    [255, 0, 170],
    [255, 0, 85],
];

/// 18 keypoints of one frame: `[x, y, visible]`, pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Keypoints(pub [[f32; 3]; KEYPOINTS]);

impl Keypoints {
    /// The 54 floats stored in the `keypoints` column.
    pub fn to_flat(&self) -> Vec<f32> {
        self.0.iter().flatten().copied().collect()
    }

    /// Parses the `keypoints` column (54 floats).
    pub fn from_flat(v: &[f32]) -> Option<Keypoints> {
        (v.len() == 3 * KEYPOINTS).then(|| Keypoints(std::array::from_fn(|i| [v[3 * i], v[3 * i + 1], v[3 * i + 2]])))
    }

    /// Whether keypoint `i` is visible.
    pub fn visible(&self, i: usize) -> bool {
        self.0[i][2] > 0.5
    }
}

/// Limb half-width and joint radius in pixels for a frame of `height` pixels:
/// OpenPose's 4 px at 512, never thinner than a visible line.
pub fn stroke(height: usize) -> (f64, f64) {
    let h = height as f64;
    ((h / 110.0).max(0.75), (h / 90.0).max(0.95))
}

/// Renders the OpenPose-style pose map, `[h, w, 3]` bytes.
pub fn pose_map(kp: &Keypoints, width: usize, height: usize) -> Vec<u8> {
    let mut c = Canvas::new(width, height, [0.0; 3]);
    let (half, radius) = stroke(height);
    let col = |i: usize| COLOURS[i].map(|v| v as f32 / 255.0);
    for i in 0..KEYPOINTS {
        if kp.visible(i) {
            c.fill(
                &Shape::disc(v2(kp.0[i][0] as f64, kp.0[i][1] as f64), radius),
                &Paint::Solid(col(i)),
                1.0,
                None,
            );
        }
    }
    for (l, &(a, b)) in LIMBS.iter().enumerate() {
        if kp.visible(a) && kp.visible(b) {
            let pa = v2(kp.0[a][0] as f64, kp.0[a][1] as f64);
            let pb = v2(kp.0[b][0] as f64, kp.0[b][1] as f64);
            c.fill(&Shape::capsule(pa, pb, half), &Paint::Solid(col(l)), 0.6, None);
        }
    }
    c.to_rgb8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limbs_use_their_openpose_colours() {
        let mut kp = Keypoints::default();
        kp.0[1] = [10.0, 10.5, 1.0];
        kp.0[2] = [30.0, 10.5, 1.0];
        let map = pose_map(&kp, 40, 20);
        let px = &map[(10 * 40 + 20) * 3..][..3];
        // limb 0 (neck -> right shoulder) is red at 0.6 opacity on black
        assert_eq!(px, &[153, 0, 0]);
        assert_eq!(&map[..3], &[0, 0, 0]);
    }

    #[test]
    fn hidden_points_draw_nothing() {
        let mut kp = Keypoints::default();
        kp.0[0] = [5.0, 5.0, 0.0];
        assert!(pose_map(&kp, 10, 10).iter().all(|v| *v == 0));
    }

    #[test]
    fn flat_round_trip() {
        let mut kp = Keypoints::default();
        kp.0[17] = [1.5, 2.5, 1.0];
        assert_eq!(Keypoints::from_flat(&kp.to_flat()), Some(kp));
        assert_eq!(Keypoints::from_flat(&[0.0; 3]), None);
    }
}
