//! A non-Gaussian estimate of the same entropy difference CEI measures
//! (docs/paper.md §7, question 1): the Kozachenko-Leonenko k-nearest-neighbour
//! entropy estimator,
//!
//!   H = psi(N) - psi(k) + log V_p + (p / N) sum_i log eps_i
//!
//! with eps_i the distance from point i to its k-th nearest neighbour and V_p
//! the volume of the unit p-ball. For two sets of N points in the same
//! dimension the constants cancel: dH / p = mean_i log eps_i' - mean_i log eps_i,
//! which for Gaussians equals log(sigma' / sigma), the per-dimension CEI.
//! Predictions are projected to a few dimensions first (a seeded Gaussian
//! projection): nearest neighbours in thousands of dimensions from a few
//! draws carry no information.
//!
//! digamma and log-gamma are written here (a dozen lines each) because the
//! crates that have them (statrs) bring a linear-algebra stack with them.

use rand_distr::{Distribution, StandardNormal};

use crate::seed::stream;

/// digamma(x) for x > 0: recurrence up to x >= 10, then the asymptotic series (~1e-14).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    acc + x.ln() - 0.5 / x - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-13 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let s = G[0]
        + G[1..]
            .iter()
            .enumerate()
            .map(|(i, g)| g / (x + i as f64 + 1.0))
            .sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// Mean log distance of each point to its k-th nearest neighbour
/// (`points` is `[n, p]` row-major).
pub fn mean_log_knn_distance(points: &[f64], p: usize, k: usize) -> f64 {
    let n = points.len() / p;
    assert!(n > k, "need more than k = {k} points, got {n}");
    let mut total = 0.0;
    let mut d = Vec::with_capacity(n - 1);
    for i in 0..n {
        d.clear();
        for j in (0..n).filter(|&j| j != i) {
            let s: f64 = (0..p).map(|a| (points[i * p + a] - points[j * p + a]).powi(2)).sum();
            d.push(s);
        }
        d.select_nth_unstable_by(k - 1, f64::total_cmp);
        total += 0.5 * d[k - 1].max(1e-300).ln();
    }
    total / n as f64
}

/// Kozachenko-Leonenko entropy (nats) of `[n, p]` points.
pub fn kl_entropy(points: &[f64], p: usize, k: usize) -> f64 {
    let n = points.len() / p;
    let log_vp = 0.5 * p as f64 * std::f64::consts::PI.ln() - ln_gamma(0.5 * p as f64 + 1.0);
    digamma(n as f64) - digamma(k as f64) + log_vp + p as f64 * mean_log_knn_distance(points, p, k)
}

/// A seeded `[dim, p]` Gaussian projection, scaled by 1/sqrt(dim).
pub fn projection(dim: usize, p: usize, seed: u64) -> Vec<f32> {
    let mut rng = stream(seed, "knn-projection", dim as u64);
    let s = 1.0 / (dim as f32).sqrt();
    (0..dim * p)
        .map(|_| StandardNormal.sample(&mut rng))
        .map(|v: f32| v * s)
        .collect()
}

/// Projects `[n, dim]` predictions with a `[dim, p]` matrix into `[n, p]`.
pub fn project(preds: &[f32], dim: usize, proj: &[f32], p: usize) -> Vec<f64> {
    let n = preds.len() / dim;
    let mut out = vec![0f64; n * p];
    for i in 0..n {
        for (j, &x) in preds[i * dim..(i + 1) * dim].iter().enumerate() {
            for a in 0..p {
                out[i * p + a] += (x * proj[j * p + a]) as f64;
            }
        }
    }
    out
}

/// Per-dimension kNN entropy difference of one condition's predictions,
/// skipped minus baseline, after the same projection.
pub fn condition_knn_cei(base: &[f32], skipped: &[f32], dim: usize, proj: &[f32], p: usize, k: usize) -> f64 {
    let (b, s) = (project(base, dim, proj, p), project(skipped, dim, proj, p));
    mean_log_knn_distance(&s, p, k) - mean_log_knn_distance(&b, p, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions_match_reference_values() {
        // python3 -c "import math; print(math.lgamma(0.5), math.lgamma(4.5), math.lgamma(10))"
        assert!((ln_gamma(0.5) - 0.572_364_942_924_700_1).abs() < 1e-12);
        assert!((ln_gamma(4.5) - 2.453_736_570_842_442).abs() < 1e-12);
        assert!((ln_gamma(10.0) - 12.801_827_480_081_469).abs() < 1e-11);
        // digamma(1) = -Euler's gamma; digamma(n + 1) = digamma(n) + 1/n.
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-12);
        assert!((digamma(5.0) - digamma(4.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn kl_entropy_of_a_gaussian_matches_the_closed_form() {
        // H(N(0, I_2)) = log(2 pi e) = 2.8379
        let mut rng = stream(2, "test-kl", 0);
        let pts: Vec<f64> = (0..4000).map(|_| StandardNormal.sample(&mut rng)).collect();
        let h = kl_entropy(&pts, 2, 3);
        assert!(
            (h - (2.0 * std::f64::consts::PI * std::f64::consts::E).ln()).abs() < 0.05,
            "{h}"
        );
    }

    #[test]
    fn knn_cei_of_scaled_predictions_is_log_of_the_scale() {
        let mut rng = stream(3, "test-knn", 0);
        let base: Vec<f32> = (0..200 * 64).map(|_| StandardNormal.sample(&mut rng)).collect();
        let scaled: Vec<f32> = base.iter().map(|v| v * 1.5).collect();
        let proj = projection(64, 4, 1);
        let d = condition_knn_cei(&base, &scaled, 64, &proj, 4, 2);
        assert!((d - 1.5f64.ln()).abs() < 1e-6, "{d}");
        assert!(condition_knn_cei(&base, &base, 64, &proj, 4, 2).abs() < 1e-12);
    }
}
