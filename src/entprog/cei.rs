//! Conditional Entropy Inflation (docs/paper.md §3): how much the conditional
//! entropy of the predicted noise grows when one block is skipped.
//!
//! Under the paper's Gaussian assumption the entropy of eps_hat is
//! (d/2) log(2 pi e sigma^2), so the difference for block b is
//! d log(sigma_skip / sigma); per dimension (what entprog reports):
//!
//!   pi(b) = mean over conditions c of log( sigma_skip(b),c / sigma_c )
//!
//! For each condition c (a reference image and pose), K draws of
//! (tau, noise) give predictions eps_hat of dimension D. sigma_c^2 is the
//! isotropic Gaussian fit to them: the per-dimension variance across draws,
//! averaged over dimensions. The skipped model sees the same draws, so the
//! ratio is paired and the draw noise largely cancels. The standard error is
//! a bootstrap over conditions.
//!
//! This file holds the estimator maths on plain slices; the model-facing
//! driver (one baseline pass, one pass per skipped block, prefix reuse)
//! runs the forward passes and hands their predictions here.

use rand::Rng;

use crate::seed::stream;

/// log sigma of the isotropic Gaussian fitted to `draws` predictions of `dim`
/// values each (`preds` is `[draws, dim]` row-major).
pub fn log_sigma(preds: &[f32], dim: usize) -> f64 {
    let draws = preds.len() / dim;
    assert!(
        draws >= 2 && draws * dim == preds.len(),
        "need >= 2 draws of {dim} values, got {}",
        preds.len()
    );
    let mut var_sum = 0f64;
    for j in 0..dim {
        let mean = (0..draws).map(|i| preds[i * dim + j] as f64).sum::<f64>() / draws as f64;
        var_sum += (0..draws)
            .map(|i| (preds[i * dim + j] as f64 - mean).powi(2))
            .sum::<f64>()
            / (draws - 1) as f64;
    }
    0.5 * (var_sum / dim as f64).ln()
}

/// CEI of one condition: log sigma_skip - log sigma_base.
pub fn condition_cei(base: &[f32], skipped: &[f32], dim: usize) -> f64 {
    log_sigma(skipped, dim) - log_sigma(base, dim)
}

/// A score with its bootstrap standard error over conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub se: f64,
    pub per_condition: Vec<f64>,
}

/// Mean of per-condition values and its bootstrap standard error
/// (`resamples` resamples of the conditions, drawn from `stream(seed, "bootstrap", key)`).
pub fn estimate(per_condition: Vec<f64>, resamples: usize, seed: u64, key: u64) -> Estimate {
    let n = per_condition.len();
    let mean = per_condition.iter().sum::<f64>() / n as f64;
    let mut rng = stream(seed, "bootstrap", key);
    let means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| per_condition[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let mm = means.iter().sum::<f64>() / resamples.max(1) as f64;
    let se = if resamples >= 2 {
        (means.iter().map(|m| (m - mm).powi(2)).sum::<f64>() / (resamples - 1) as f64).sqrt()
    } else {
        f64::NAN
    };
    Estimate {
        mean,
        se,
        per_condition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn gaussian(draws: usize, dim: usize, sigma: f64, key: u64) -> Vec<f32> {
        let mut rng = stream(5, "test-gauss", key);
        let n = Normal::new(0.0, sigma).unwrap();
        (0..draws * dim).map(|_| n.sample(&mut rng) as f32).collect()
    }

    #[test]
    fn log_sigma_recovers_the_gaussian_scale() {
        let p = gaussian(64, 256, 0.5, 0);
        assert!((log_sigma(&p, 256) - 0.5f64.ln()).abs() < 0.02);
    }

    #[test]
    fn an_identical_prediction_has_zero_cei_and_scaling_by_two_gives_ln2() {
        let base = gaussian(8, 100, 1.0, 1);
        assert_eq!(condition_cei(&base, &base, 100), 0.0);
        let doubled: Vec<f32> = base.iter().map(|v| v * 2.0).collect();
        assert!((condition_cei(&base, &doubled, 100) - 2f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn a_constant_offset_does_not_change_cei() {
        // The estimator is about spread, not mean: a skipped block that only
        // shifts every prediction has zero CEI.
        let base = gaussian(8, 50, 1.0, 2);
        let shifted: Vec<f32> = base.iter().map(|v| v + 3.0).collect();
        assert!(condition_cei(&base, &shifted, 50).abs() < 1e-5);
    }

    #[test]
    fn bootstrap_se_shrinks_like_one_over_sqrt_n() {
        let vals = |n: usize| -> Vec<f64> { gaussian(n, 1, 1.0, n as u64).iter().map(|&v| v as f64).collect() };
        let small = estimate(vals(100), 400, 1, 0);
        let large = estimate(vals(1600), 400, 1, 0);
        let ratio = small.se / large.se;
        assert!((ratio - 4.0).abs() < 1.0, "se ratio {ratio}");
        assert_eq!(estimate(vec![1.0, 2.0, 3.0], 50, 1, 0).mean, 2.0);
        assert_eq!(estimate(vec![1.0, 2.0], 50, 9, 3), estimate(vec![1.0, 2.0], 50, 9, 3));
    }
}

/// `[cei]` of an experiment: how block priorities are estimated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CeiConfig {
    /// Conditions C (reference + pose + frame from the test split).
    pub conditions: usize,
    /// Draws K of (tau, noise) per condition; N = C K samples (the paper: ~1,000).
    pub draws: usize,
    /// Conditions per forward batch (batch = this x draws samples). Only
    /// batching: the values do not depend on it, nor does the config hash.
    /// One condition per batch is the fastest and smallest on a CPU (default
    /// model, N = 16 x 8, quiet 2 cores: 24.1 s and 109 MB peak at 1, 29.3 s
    /// at 2, 36.0 s at 4, 34.4 s and 572 MB at 16).
    pub batch_conditions: usize,
    /// Bootstrap resamples for standard errors.
    pub resamples: usize,
    /// Dimensions of the random projection for the kNN entropy estimate (0 = off).
    pub knn_dims: usize,
    /// k of the kNN entropy estimate.
    pub knn_k: usize,
}

impl Default for CeiConfig {
    fn default() -> Self {
        Self {
            conditions: 125,
            draws: 8,
            batch_conditions: 1,
            resamples: 200,
            knn_dims: 4,
            knn_k: 2,
        }
    }
}

impl crate::config::Validate for CeiConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<crate::config::Invalid>) {
        use crate::config::{check, key};
        check(
            out,
            self.conditions >= 2,
            key(prefix, "conditions"),
            format!("{} is out of range, expected >= 2", self.conditions),
        );
        check(
            out,
            self.draws >= 2,
            key(prefix, "draws"),
            format!(
                "{} is out of range, expected >= 2 (a spread needs two draws)",
                self.draws
            ),
        );
        check(
            out,
            self.batch_conditions >= 1,
            key(prefix, "batch_conditions"),
            "0 is out of range, expected >= 1",
        );
        check(
            out,
            self.knn_dims == 0 || self.knn_k < self.draws,
            key(prefix, "knn_k"),
            format!(
                "{} is out of range, expected below cei.draws = {}",
                self.knn_k, self.draws
            ),
        );
    }
}
