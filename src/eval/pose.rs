//! Pose adherence (issue 12, item 4; the paper claims it only in words): a
//! keypoint head (the offline frame encoder's, `crate::eval::dance`)
//! reads the 18 keypoints off a generated frame, and they are compared
//! with the conditioning keypoints (the renderer's keypoints of the frame
//! the pose map was drawn from), over the points visible there:
//!
//! - `pck_dance`: the fraction within 0.1 x the figure's height (PCK@0.1;
//!   the height is the vertical extent of the conditioning frame's visible
//!   keypoints, eyes to ankles, at least one pixel);
//! - `kp_error_px_dance`: the mean Euclidean error in pixels.
//!
//! The head on the real frames (`truth`) is the ceiling the metric can
//! show; `reference_copy` is what ignoring the pose scores.

use candle_core::Tensor;

/// PCK's threshold as a fraction of the figure's height.
pub const PCK_FRACTION: f64 = 0.1;

/// Counts over frames and visible points.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoseScores {
    /// Frames scored.
    pub frames: usize,
    /// Visible conditioning points scored.
    pub points: usize,
    /// Of which within the PCK threshold.
    pub within: usize,
    /// Sum of the pixel errors.
    pub error_sum_px: f64,
}

impl PoseScores {
    /// Adds another set of counts.
    pub fn add(&mut self, o: &PoseScores) {
        self.frames += o.frames;
        self.points += o.points;
        self.within += o.within;
        self.error_sum_px += o.error_sum_px;
    }

    /// PCK@0.1 over every point scored (NaN when none).
    pub fn pck(&self) -> f64 {
        self.within as f64 / self.points as f64
    }

    /// Mean pixel error (NaN when no point).
    pub fn error_px(&self) -> f64 {
        self.error_sum_px / self.points as f64
    }
}

/// The scores of one frame: `pred` and `truth` are (x, y) pixels of the 18
/// keypoints, `visible` which conditioning points count.
pub fn frame_scores(pred: &[[f64; 2]], truth: &[[f64; 2]], visible: &[bool]) -> PoseScores {
    let ys: Vec<f64> = truth
        .iter()
        .zip(visible)
        .filter(|(_, v)| **v)
        .map(|(p, _)| p[1])
        .collect();
    let height =
        ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - ys.iter().cloned().fold(f64::INFINITY, f64::min);
    let threshold = PCK_FRACTION * height.max(1.0);
    let mut s = PoseScores {
        frames: 1,
        ..Default::default()
    };
    for ((p, t), _) in pred.iter().zip(truth).zip(visible).filter(|(_, v)| **v) {
        let e = ((p[0] - t[0]).powi(2) + (p[1] - t[1]).powi(2)).sqrt();
        s.points += 1;
        s.within += usize::from(e <= threshold);
        s.error_sum_px += e;
    }
    s
}

/// Scores of a batch: `pred` and `truth` `[n, 18, 2]` in unit coordinates
/// (x / w, y / h), `visible` `[n, 18]` (1 = visible), frames `h x w`.
pub fn pose_scores(
    pred: &Tensor,
    truth: &Tensor,
    visible: &Tensor,
    (h, w): (usize, usize),
) -> candle_core::Result<PoseScores> {
    let px = |t: &Tensor| -> candle_core::Result<Vec<[f64; 2]>> {
        Ok(t.flatten_all()?
            .to_vec1::<f32>()?
            .chunks_exact(2)
            .map(|c| [c[0] as f64 * w as f64, c[1] as f64 * h as f64])
            .collect())
    };
    let (p, t) = (px(pred)?, px(truth)?);
    let v: Vec<bool> = visible
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .map(|&x| x > 0.5)
        .collect();
    let k = crate::data::pose::KEYPOINTS;
    let mut s = PoseScores::default();
    for f in 0..v.len() / k {
        s.add(&frame_scores(&p[f * k..][..k], &t[f * k..][..k], &v[f * k..][..k]));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure() -> (Vec<[f64; 2]>, Vec<bool>) {
        // A figure 20 px tall: points on a vertical line from y = 5 to y = 25.
        let pts: Vec<[f64; 2]> = (0..18)
            .map(|i| [10.0 + (i % 3) as f64, 5.0 + 20.0 * i as f64 / 17.0])
            .collect();
        let mut vis = vec![true; 18];
        vis[17] = false;
        (pts, vis)
    }

    #[test]
    fn the_truth_scores_pck_one_and_no_error() {
        let (t, v) = figure();
        let s = frame_scores(&t, &t, &v);
        assert_eq!((s.points, s.within), (17, 17));
        assert_eq!(s.pck(), 1.0);
        assert_eq!(s.error_px(), 0.0);
    }

    #[test]
    fn a_prediction_shifted_by_a_few_pixels_scores_worse_than_the_truth() {
        let (t, v) = figure();
        // Threshold: 0.1 x the visible extent (5 .. 5 + 20 * 16/17 px).
        for shift in [2.5, 3.0, 4.0] {
            let p: Vec<[f64; 2]> = t.iter().map(|q| [q[0] + shift, q[1]]).collect();
            let s = frame_scores(&p, &t, &v);
            assert_eq!(s.pck(), 0.0, "shift {shift}");
            assert!((s.error_px() - shift).abs() < 1e-12);
        }
        // Within the threshold: counted.
        let p: Vec<[f64; 2]> = t.iter().map(|q| [q[0] + 1.0, q[1]]).collect();
        assert_eq!(frame_scores(&p, &t, &v).pck(), 1.0);
    }

    #[test]
    fn hidden_points_do_not_count() {
        let (t, v) = figure();
        let mut p = t.clone();
        p[17] = [1e6, 1e6];
        assert_eq!(frame_scores(&p, &t, &v).error_px(), 0.0);
    }
}
