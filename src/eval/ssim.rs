//! SSIM (Wang, Bovik, Sheikh and Simoncelli 2004, "Image quality assessment:
//! from error visibility to structural similarity") in the two forms this
//! field reports, both following scikit-image's `structural_similarity`
//! (`skimage/metrics/_structural_similarity.py`, 0.26) line by line:
//!
//! - [`ssim`]: `structural_similarity(truth, pred, gaussian_weights=True,
//!   sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=2)`:
//!   Gaussian weights with truncate 3.5, so radius `int(3.5 * 1.5 + 0.5)` = 5
//!   (an 11x11 window), population covariances, per RGB channel, then the
//!   mean over the channels.
//! - [`ssim_disco`]: DisCo's `tool/metrics/ssim_l1_lpips_psnr.py`
//!   (github.com/Wangt-CN/DisCo): `ssim_eval(gray_gen, gray_gt, full=True)`,
//!   i.e. scikit-image's defaults (7x7 uniform window, sample covariance
//!   `NP / (NP - 1)` with NP = 49, data range 255 from the `uint8` dtype) on
//!   the OpenCV grey frames of [`super::frame::luma_disco`].
//!
//! In both: local means, variances and covariance come from
//! `scipy.ndimage` filters (separable 1-D correlations along rows, then
//! columns, mode `'reflect'`: `d c b a | a b c d | d c b a`), K1 = 0.01,
//! K2 = 0.03, C1 = (K1 R)^2, C2 = (K2 R)^2, and the SSIM map is averaged
//! after cropping `(win_size - 1) / 2` pixels from every border.

use super::frame::{luma_disco, Frame, FrameError};

/// The constants of one SSIM variant.
struct Variant {
    /// 1-D filter taps, odd length, centred (the 2-D window is their outer product).
    taps: Vec<f64>,
    /// Data range R of the values.
    data_range: f64,
    /// 1 for population covariances, NP / (NP - 1) for sample covariances.
    cov_norm: f64,
}

impl Variant {
    /// scipy's `_gaussian_kernel1d(sigma, 0, radius)` with radius `int(truncate sigma + 0.5)`.
    fn gaussian(sigma: f64, truncate: f64, data_range: f64) -> Self {
        let radius = (truncate * sigma + 0.5) as i64;
        let phi: Vec<f64> = (-radius..=radius)
            .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
            .collect();
        let sum: f64 = phi.iter().sum();
        Self {
            taps: phi.iter().map(|p| p / sum).collect(),
            data_range,
            cov_norm: 1.0,
        }
    }

    /// `uniform_filter(size=win)` with sample covariances.
    fn uniform(win: usize, data_range: f64) -> Self {
        let np = (win * win) as f64;
        Self {
            taps: vec![1.0 / win as f64; win],
            data_range,
            cov_norm: np / (np - 1.0),
        }
    }

    fn win_size(&self) -> usize {
        self.taps.len()
    }

    /// Mean SSIM of two `[h, w]` planes.
    fn mean_ssim(&self, x: &[f64], y: &[f64], h: usize, w: usize) -> f64 {
        let filter = |v: &[f64]| correlate_2d(v, h, w, &self.taps);
        let xx: Vec<f64> = x.iter().map(|a| a * a).collect();
        let yy: Vec<f64> = y.iter().map(|a| a * a).collect();
        let xy: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
        let (ux, uy) = (filter(x), filter(y));
        let (uxx, uyy, uxy) = (filter(&xx), filter(&yy), filter(&xy));
        let c1 = (0.01 * self.data_range).powi(2);
        let c2 = (0.03 * self.data_range).powi(2);
        let pad = (self.win_size() - 1) / 2;
        let mut sum = 0.0;
        for r in pad..h - pad {
            for c in pad..w - pad {
                let i = r * w + c;
                let vx = self.cov_norm * (uxx[i] - ux[i] * ux[i]);
                let vy = self.cov_norm * (uyy[i] - uy[i] * uy[i]);
                let vxy = self.cov_norm * (uxy[i] - ux[i] * uy[i]);
                let a1 = 2.0 * ux[i] * uy[i] + c1;
                let a2 = 2.0 * vxy + c2;
                let b1 = ux[i] * ux[i] + uy[i] * uy[i] + c1;
                let b2 = vx + vy + c2;
                sum += (a1 * a2) / (b1 * b2);
            }
        }
        sum / ((h - 2 * pad) * (w - 2 * pad)) as f64
    }

    fn check(&self, truth: &Frame, pred: &Frame) -> Result<(), FrameError> {
        truth.check_same_size(pred)?;
        let window = self.win_size();
        if truth.height() < window || truth.width() < window {
            return Err(FrameError::TooSmall {
                width: truth.width(),
                height: truth.height(),
                window,
            });
        }
        Ok(())
    }
}

/// SSIM with an 11x11 Gaussian window (sigma 1.5) on RGB in [0, 1], the mean
/// over the three channels (module doc). Frames need at least 11x11 pixels.
pub fn ssim(truth: &Frame, pred: &Frame) -> Result<f64, FrameError> {
    let v = Variant::gaussian(1.5, 3.5, 1.0);
    v.check(truth, pred)?;
    let (h, w) = (truth.height(), truth.width());
    let per_channel: f64 = (0..3)
        .map(|c| v.mean_ssim(&truth.channel(c), &pred.channel(c), h, w))
        .sum();
    Ok(per_channel / 3.0)
}

/// SSIM as DisCo scores it: scikit-image defaults (7x7 uniform window, sample
/// covariance, data range 255) on OpenCV's 8-bit grey (module doc). Frames
/// need at least 7x7 pixels.
pub fn ssim_disco(truth: &Frame, pred: &Frame) -> Result<f64, FrameError> {
    let v = Variant::uniform(7, 255.0);
    v.check(truth, pred)?;
    // DisCo calls ssim_eval(gen, gt); SSIM is symmetric in its arguments.
    Ok(v.mean_ssim(&luma_disco(pred), &luma_disco(truth), truth.height(), truth.width()))
}

/// scipy.ndimage mode 'reflect' (half-sample symmetric) index into `0..n`.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// `correlate1d` along axis 0 (rows), then axis 1 (columns), as
/// `gaussian_filter` and `uniform_filter` apply them; `[h, w]` in and out.
fn correlate_2d(v: &[f64], h: usize, w: usize, taps: &[f64]) -> Vec<f64> {
    let r = (taps.len() / 2) as isize;
    let mut down = vec![0.0; h * w];
    for y in 0..h {
        let out = &mut down[y * w..(y + 1) * w];
        for (k, t) in taps.iter().enumerate() {
            let src = reflect(y as isize + k as isize - r, h) * w;
            out.iter_mut().zip(&v[src..src + w]).for_each(|(o, x)| *o += t * x);
        }
    }
    // Each row padded by its reflection, so the taps read a contiguous window.
    let pad: Vec<usize> = (-r..w as isize + r).map(|i| reflect(i, w)).collect();
    let mut ext = vec![0.0; pad.len()];
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        let row = &down[y * w..(y + 1) * w];
        ext.iter_mut().zip(&pad).for_each(|(e, &i)| *e = row[i]);
        for (x, o) in out[y * w..(y + 1) * w].iter_mut().enumerate() {
            *o = taps.iter().zip(&ext[x..]).map(|(t, e)| t * e).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_repeats_the_edge_sample() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn gaussian_window_has_eleven_taps_summing_to_one() {
        let v = Variant::gaussian(1.5, 3.5, 1.0);
        assert_eq!(v.win_size(), 11);
        assert!((v.taps.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(v.taps.windows(2).take(5).all(|p| p[0] < p[1]));
    }

    #[test]
    fn filters_keep_a_constant_plane() {
        let v = vec![0.25; 12 * 13];
        for taps in [Variant::gaussian(1.5, 3.5, 1.0).taps, Variant::uniform(7, 1.0).taps] {
            assert!(correlate_2d(&v, 12, 13, &taps).iter().all(|x| (x - 0.25).abs() < 1e-15));
        }
    }
}
