//! An RGB frame in [0, 1] and the pixel metrics on a (truth, pred) pair:
//! PSNR, L1, and PSNR as DisCo's scripts compute it. SSIM is in
//! [`super::ssim`].
//!
//! - `psnr`: scikit-image `peak_signal_noise_ratio(truth, pred, data_range=1)`
//!   (`skimage/metrics/simple_metrics.py`): 10 log10(1 / MSE), MSE over all
//!   H x W x 3 values; +inf for identical frames, as scikit-image gives.
//! - `l1`: mean absolute difference over all H x W x 3 values in [0, 1].
//! - `psnr_disco`: `psnr_eval` of DisCo's `tool/metrics/ssim_l1_lpips_psnr.py`
//!   (github.com/Wangt-CN/DisCo) as committed in 4772790 (2023-06-21), the
//!   code published human-animation tables were scored with until DisCo's
//!   fix in 6190108 (2024-04-10, "numerical overflow" note in its README).
//!   It computes `np.mean((original - compressed) ** 2)` on the `uint8`
//!   arrays of `cv2.imread`: the difference wraps modulo 256 and so does its
//!   square, so every pixel contributes `((p - t) mod 256)^2 mod 256`, at most
//!   255, and the value never falls below 20 log10(255 / sqrt(255)) = 24.07 dB.
//!   Identical frames give 100 (its `mse == 0` branch), and so do frames whose
//!   differences are all multiples of 16. It is not a PSNR; it exists only to
//!   compare with published numbers. DisCo's fixed version (float64
//!   subtraction) equals `psnr` on 8-bit frames except for the 100 cap.
//! - [`luma_disco`]: OpenCV's 8-bit `cvtColor(BGR2GRAY)` on the BGR data of
//!   `cv2.imread`, i.e. the BT.601 luma of the RGB frame: `RGB2Gray<uchar>` in
//!   `modules/imgproc/src/color_rgb.simd.hpp` (OpenCV 4 and 5), fixed point
//!   `(9798 R + 19235 G + 3735 B + 2^14) >> 15` (checked against cv2 5.0.0 on
//!   all 2^24 colours by `tests/reference/eval_reference.py`; OpenCV 3 used
//!   14-bit weights and differs by 1 on 0.26% of colours).
//!
//! DisCo's metrics read 8-bit files, so the DisCo variants quantise the frame
//! to 8 bits first (`round(255 v)`), which gives back the file's bytes for a
//! frame read from an 8-bit PNG.

use image::RgbImage;

/// Errors of the frame metrics: shapes that do not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// A buffer does not hold height x width x 3 values.
    #[error("{len} values do not make a {width}x{height} RGB frame ({} expected)", width * height * 3)]
    Length { width: usize, height: usize, len: usize },
    /// Truth and prediction differ in size (width x height).
    #[error("pred is {}x{}, truth is {}x{}", pred.0, pred.1, truth.0, truth.1)]
    Size {
        truth: (usize, usize),
        pred: (usize, usize),
    },
    /// The frame is smaller than the SSIM window (scikit-image refuses it too).
    #[error("{width}x{height} frame is smaller than the {window}x{window} SSIM window")]
    TooSmall { width: usize, height: usize, window: usize },
}

/// An RGB frame, values in [0, 1], stored `[h, w, 3]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    height: usize,
    width: usize,
    data: Vec<f64>,
}

impl Frame {
    /// A frame from `[h, w, 3]` row-major values (expected in [0, 1]).
    pub fn new(height: usize, width: usize, data: Vec<f64>) -> Result<Self, FrameError> {
        if data.len() != height * width * 3 {
            return Err(FrameError::Length {
                width,
                height,
                len: data.len(),
            });
        }
        Ok(Self { height, width, data })
    }

    /// A frame whose value at (row y, column x, channel c) is `f(y, x, c)`.
    pub fn from_fn(height: usize, width: usize, f: impl Fn(usize, usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(height * width * 3);
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    data.push(f(y, x, c));
                }
            }
        }
        Self { height, width, data }
    }

    /// An 8-bit RGB image as a frame (each byte / 255).
    pub fn from_rgb8(img: &RgbImage) -> Self {
        let data = img.as_raw().iter().map(|&b| f64::from(b) / 255.0).collect();
        Self {
            height: img.height() as usize,
            width: img.width() as usize,
            data,
        }
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `[h, w, 3]` row-major values.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Channel `c` as an `[h, w]` plane.
    pub fn channel(&self, c: usize) -> Vec<f64> {
        self.data.iter().skip(c).step_by(3).copied().collect()
    }

    /// The frame as 8-bit RGB bytes, `[h, w, 3]`: `round(255 v)`, clamped.
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }

    /// Fails unless `pred` has this frame's size.
    pub fn check_same_size(&self, pred: &Frame) -> Result<(), FrameError> {
        if (self.height, self.width) == (pred.height, pred.width) {
            Ok(())
        } else {
            Err(FrameError::Size {
                truth: (self.width, self.height),
                pred: (pred.width, pred.height),
            })
        }
    }
}

/// PSNR in dB with data range 1 (scikit-image `peak_signal_noise_ratio`);
/// +inf when the frames are identical.
pub fn psnr(truth: &Frame, pred: &Frame) -> Result<f64, FrameError> {
    truth.check_same_size(pred)?;
    let n = truth.data.len() as f64;
    let mse = truth
        .data
        .iter()
        .zip(&pred.data)
        .map(|(t, p)| (t - p) * (t - p))
        .sum::<f64>()
        / n;
    Ok(10.0 * (1.0 / mse).log10())
}

/// Mean absolute difference over all values, in [0, 1].
pub fn l1(truth: &Frame, pred: &Frame) -> Result<f64, FrameError> {
    truth.check_same_size(pred)?;
    let n = truth.data.len() as f64;
    Ok(truth
        .data
        .iter()
        .zip(&pred.data)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / n)
}

/// DisCo's `psnr_eval` as published tables used it (uint8 arithmetic that
/// wraps; see the module doc): not a PSNR, at least 24.07 dB, 100 when every
/// difference is a multiple of 16.
pub fn psnr_disco(truth: &Frame, pred: &Frame) -> Result<f64, FrameError> {
    truth.check_same_size(pred)?;
    let (t, p) = (truth.to_rgb8(), pred.to_rgb8());
    // numpy: (original - compressed) ** 2 on uint8 arrays, original = the generated frame.
    let sum: u64 = p
        .iter()
        .zip(&t)
        .map(|(&p, &t)| {
            let d = p.wrapping_sub(t);
            u64::from(d.wrapping_mul(d))
        })
        .sum();
    if sum == 0 {
        return Ok(100.0);
    }
    // np.mean of integers: the exact sum divided by the count, in float64.
    let mse = sum as f64 / t.len() as f64;
    Ok(20.0 * (255.0 / mse.sqrt()).log10())
}

/// OpenCV's 8-bit BT.601 luma of each pixel, `[h, w]`, as f64 in 0..=255
/// (`cvtColor(bgr, COLOR_BGR2GRAY)` on `cv2.imread` data; module doc).
pub fn luma_disco(frame: &Frame) -> Vec<f64> {
    frame
        .to_rgb8()
        .chunks_exact(3)
        .map(|px| {
            let (r, g, b) = (u32::from(px[0]), u32::from(px[1]), u32::from(px[2]));
            f64::from((9798 * r + 19235 * g + 3735 * b + (1 << 14)) >> 15)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disco_psnr_wraps_where_psnr_does_not() {
        // One pixel off by 16 in every channel: (16^2) mod 256 = 0, so DisCo sees no error.
        let t = Frame::from_fn(2, 2, |_, _, _| 100.0 / 255.0);
        let mut data = t.data().to_vec();
        data[..3].iter_mut().for_each(|v| *v = 116.0 / 255.0);
        let p = Frame::new(2, 2, data).unwrap();
        assert_eq!(psnr_disco(&t, &p).unwrap(), 100.0);
        // MSE = 3 (16/255)^2 / 12 values, so PSNR = 20 log10(2 * 255 / 16) = 30.07 dB.
        assert!((psnr(&t, &p).unwrap() - 20.0 * (510.0f64 / 16.0).log10()).abs() < 1e-9);
    }

    #[test]
    fn luma_of_grey_is_the_grey_and_weights_follow_bt601() {
        for v in [0u8, 1, 127, 128, 254, 255] {
            let f = Frame::from_fn(1, 1, |_, _, _| f64::from(v) / 255.0);
            assert_eq!(luma_disco(&f), vec![f64::from(v)]);
        }
        let red = Frame::from_fn(1, 1, |_, _, c| if c == 0 { 1.0 } else { 0.0 });
        assert_eq!(luma_disco(&red), vec![76.0]); // 0.299 * 255 = 76.2
    }

    #[test]
    fn size_mismatch_is_an_error_not_a_panic() {
        let a = Frame::from_fn(2, 3, |_, _, _| 0.0);
        let b = Frame::from_fn(3, 2, |_, _, _| 0.0);
        assert_eq!(
            l1(&a, &b),
            Err(FrameError::Size {
                truth: (3, 2),
                pred: (2, 3)
            })
        );
    }
}
