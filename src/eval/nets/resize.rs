//! PIL's bicubic resize of a float channel (`Image.fromarray(x, mode="F")
//! .resize((w, h), Image.BICUBIC)`), the resize DisCo's FID-VID and FVD
//! datasets run (`make_resizer("PIL", False, "bicubic", size)`).
//!
//! Pillow's `ImagingResample` (`src/libImaging/Resample.c`): separable, the
//! horizontal pass first, then the vertical; the filter is Keys' cubic with
//! a = -0.5 and support 2, widened by the scale when shrinking (so it
//! antialiases, unlike PyTorch's bicubic); the taps of each output pixel
//! are normalised to sum to 1. Sums run in f64 and each pass stores f32, as
//! Pillow's 32-bit float path does.

/// Keys' cubic convolution kernel with a = -0.5 (Pillow's `bicubic_filter`).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: the first input index and the normalised taps
/// (Pillow's `precompute_coeffs` for the box `[0, n_in]`).
fn coefficients(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = n_in as f64 / n_out as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..n_out)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // Pillow truncates with a C cast after adding 0.5.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(n_in as i64) as usize;
            let mut taps: Vec<f64> = (lo..hi).map(|x| bicubic((x as f64 - center + 0.5) * ss)).collect();
            let total: f64 = taps.iter().sum();
            if total != 0.0 {
                taps.iter_mut().for_each(|t| *t /= total);
            }
            (lo, taps)
        })
        .collect()
}

/// Resizes one row-major `[h, w]` channel to `[out_h, out_w]`.
pub fn resize_bicubic_pil(src: &[f32], (h, w): (usize, usize), (out_h, out_w): (usize, usize)) -> Vec<f32> {
    assert_eq!(src.len(), h * w, "a [h, w] channel");
    // Pillow skips a pass whose size does not change.
    let horizontal: Vec<f32> = if out_w == w {
        src.to_vec()
    } else {
        let cx = coefficients(w, out_w);
        let mut out = Vec::with_capacity(h * out_w);
        for row in src.chunks_exact(w) {
            for (lo, taps) in &cx {
                let s: f64 = taps.iter().zip(&row[*lo..]).map(|(k, v)| k * f64::from(*v)).sum();
                out.push(s as f32);
            }
        }
        out
    };
    if out_h == h {
        return horizontal;
    }
    let cy = coefficients(h, out_h);
    let mut out = Vec::with_capacity(out_h * out_w);
    for (lo, taps) in &cy {
        for x in 0..out_w {
            let s: f64 = taps
                .iter()
                .enumerate()
                .map(|(j, k)| k * f64::from(horizontal[(lo + j) * out_w + x]))
                .sum();
            out.push(s as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_taps_sum_to_one_and_a_constant_stays_constant() {
        for (n_in, n_out) in [(21, 112), (27, 11), (112, 112), (5, 3)] {
            for (_, taps) in coefficients(n_in, n_out) {
                assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        let out = resize_bicubic_pil(&[7.5; 20 * 9], (20, 9), (4, 13));
        assert!(out.iter().all(|v| (v - 7.5).abs() < 1e-5));
    }
}
