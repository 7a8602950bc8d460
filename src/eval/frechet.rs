//! The Frechet distance between Gaussians fitted to two feature sets, the
//! number behind FID (Heusel et al. 2017) and FVD (Unterthiner et al. 2018):
//!
//! FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)
//!
//! with the means and the unbiased covariances (`np.cov(rowvar=False)`, as
//! pytorch-fid's `calculate_activation_statistics`) of features whose rows
//! are samples. pytorch-fid's `calculate_frechet_distance` takes
//! `scipy.linalg.sqrtm(S1 S2)`, a general (Schur) square root of a
//! non-symmetric product that can turn complex and inaccurate when a
//! covariance is singular. Here, in f64: S1 S2 is similar to A S2 A with
//! A = S1^(1/2) (symmetric PSD), so tr sqrt(S1 S2) = sum_i sqrt(l_i) over the
//! eigenvalues l_i of A S2 A; both square roots come from symmetric
//! eigendecompositions (faer's `self_adjoint_eigen`), with eigenvalues below
//! zero (rounding) clamped to 0.
//!
//! A covariance of N samples has rank at most N - 1, so with N <= d (the
//! feature dimension) it is singular and the distance depends strongly on N:
//! every [`FrechetDistance`] carries both sample counts and d, and says so.

use faer::{Mat, Side};

/// Errors of the Frechet distance: shapes, too few samples, non-finite values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrechetError {
    /// A row-major buffer does not hold whole rows of `dim` features.
    #[error("{len} values are not whole rows of {dim} features")]
    Shape { len: usize, dim: usize },
    /// A covariance needs at least two samples.
    #[error("{samples} sample(s): a covariance needs at least 2")]
    TooFewSamples { samples: usize },
    /// The two sets have different feature dimensions.
    #[error("feature dimensions differ: {a} against {b}")]
    Dim { a: usize, b: usize },
    /// A feature, mean or covariance entry is NaN or infinite.
    #[error("non-finite value in the {what}")]
    NonFinite { what: &'static str },
    /// The eigendecomposition did not converge.
    #[error("symmetric eigendecomposition failed: {0}")]
    Eigen(String),
}

/// Mean and covariance of a feature set, with its sample count.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    mean: Vec<f64>,
    /// `[d, d]`, symmetric.
    cov: Mat<f64>,
    samples: usize,
}

impl FeatureStats {
    /// Statistics of `rows` (row-major `[n, dim]`, one sample per row):
    /// the mean and the covariance with divisor n - 1.
    pub fn from_rows(rows: &[f64], dim: usize) -> Result<Self, FrechetError> {
        if dim == 0 || !rows.len().is_multiple_of(dim) {
            return Err(FrechetError::Shape { len: rows.len(), dim });
        }
        let n = rows.len() / dim;
        if n < 2 {
            return Err(FrechetError::TooFewSamples { samples: n });
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(FrechetError::NonFinite { what: "features" });
        }
        let mut mean = vec![0.0; dim];
        for row in rows.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred = Mat::<f64>::from_fn(n, dim, |i, j| rows[i * dim + j] - mean[j]);
        let mut cov = centred.transpose() * &centred;
        let scale = 1.0 / (n - 1) as f64;
        for j in 0..dim {
            for i in 0..dim {
                cov[(i, j)] *= scale;
            }
        }
        Ok(Self { mean, cov, samples: n })
    }

    /// Statistics given directly (e.g. stored reference statistics): `cov`
    /// row-major `[d, d]`, made exactly symmetric by averaging with its transpose.
    pub fn new(mean: Vec<f64>, cov: &[f64], samples: usize) -> Result<Self, FrechetError> {
        let d = mean.len();
        if cov.len() != d * d || d == 0 {
            return Err(FrechetError::Shape { len: cov.len(), dim: d });
        }
        if mean.iter().chain(cov).any(|v| !v.is_finite()) {
            return Err(FrechetError::NonFinite { what: "statistics" });
        }
        let cov = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (cov[i * d + j] + cov[j * d + i]));
        Ok(Self { mean, cov, samples })
    }

    /// Feature dimension d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Number of samples the statistics came from.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The mean, length d.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Covariance entry (i, j).
    pub fn cov(&self, i: usize, j: usize) -> f64 {
        self.cov[(i, j)]
    }
}

/// A Frechet distance with what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FrechetDistance {
    /// The distance (squared units of the features).
    pub value: f64,
    /// Sample counts of the two sets, in argument order.
    pub samples: [usize; 2],
    /// Feature dimension d.
    pub dim: usize,
}

impl FrechetDistance {
    /// True when a set has at most d samples, so its covariance is singular.
    pub fn rank_deficient(&self) -> bool {
        self.samples.iter().any(|&n| n <= self.dim)
    }

    /// A one-line warning when [`Self::rank_deficient`].
    pub fn warning(&self) -> Option<String> {
        self.rank_deficient().then(|| {
            format!(
                "Frechet distance from {} and {} samples of {}-dimensional features: a covariance of N <= d samples is singular, and the value depends strongly on N",
                self.samples[0], self.samples[1], self.dim
            )
        })
    }
}

/// The Frechet distance between two feature distributions (module doc).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<FrechetDistance, FrechetError> {
    if a.dim() != b.dim() {
        return Err(FrechetError::Dim { a: a.dim(), b: b.dim() });
    }
    let d = a.dim();
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y) * (x - y)).sum();
    let trace = |m: &Mat<f64>| (0..d).map(|i| m[(i, i)]).sum::<f64>();
    let root = psd_sqrt(&a.cov)?;
    let m = &root * &b.cov * &root;
    let m = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let eig = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| FrechetError::Eigen(format!("{e:?}")))?;
    let tr_sqrt: f64 = eig.iter().map(|l| l.max(0.0).sqrt()).sum();
    Ok(FrechetDistance {
        value: mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * tr_sqrt,
        samples: [a.samples, b.samples],
        dim: d,
    })
}

/// The symmetric square root U diag(sqrt(max(l, 0))) U^T of a symmetric matrix.
fn psd_sqrt(s: &Mat<f64>) -> Result<Mat<f64>, FrechetError> {
    let evd = s
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| FrechetError::Eigen(format!("{e:?}")))?;
    let (u, l) = (evd.U(), evd.S().column_vector());
    let d = s.nrows();
    let scaled = Mat::<f64>::from_fn(d, d, |i, j| u[(i, j)] * l[j].max(0.0).sqrt());
    Ok(&scaled * u.transpose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_root_squares_back() {
        let s = FeatureStats::new(vec![0.0; 3], &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0], 10).unwrap();
        let r = psd_sqrt(&s.cov).unwrap();
        let back = &r * &r;
        for i in 0..3 {
            for j in 0..3 {
                assert!((back[(i, j)] - s.cov(i, j)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn diagonal_gaussians_have_the_closed_form() {
        // Diagonal S1, S2: FD = |mu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        let a = FeatureStats::new(vec![1.0, 0.0], &[4.0, 0.0, 0.0, 1.0], 100).unwrap();
        let b = FeatureStats::new(vec![0.0, 2.0], &[1.0, 0.0, 0.0, 9.0], 100).unwrap();
        let fd = frechet_distance(&a, &b).unwrap();
        assert!((fd.value - (1.0 + 4.0 + 1.0 + 4.0)).abs() < 1e-12);
        assert!(!fd.rank_deficient());
    }

    #[test]
    fn shapes_and_sample_counts_are_checked() {
        assert_eq!(
            FeatureStats::from_rows(&[1.0; 7], 3).unwrap_err(),
            FrechetError::Shape { len: 7, dim: 3 }
        );
        assert_eq!(
            FeatureStats::from_rows(&[1.0; 3], 3).unwrap_err(),
            FrechetError::TooFewSamples { samples: 1 }
        );
        let a = FeatureStats::from_rows(&[1.0, 2.0, 3.0, 5.0], 2).unwrap();
        let b = FeatureStats::from_rows(&[1.0, 2.0, 3.0, 5.0, 0.0, 1.0], 3).unwrap();
        assert_eq!(frechet_distance(&a, &b).unwrap_err(), FrechetError::Dim { a: 2, b: 3 });
    }
}
