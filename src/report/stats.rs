//! Intervals over seeds and the verdicts drawn from them.
//!
//! A cell of a report is the mean over seeds with a two-sided 95% Student-t
//! interval: mean +- t_{0.975, n-1} s / sqrt(n). Comparisons with the
//! baseline are paired by seed (the same seed draws the same batches and
//! noise for both arms), so the interval of a ratio or a difference comes
//! from the per-seed ratios or differences.

/// t_{0.975, df} for df = 1..=30, from
/// `python3 -c "from scipy.stats import t; print([round(t.ppf(0.975, d), 6) for d in range(1, 31)])"`.
const T975: [f64; 30] = [
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139, 2.200985,
    2.178813, 2.160369, 2.144787, 2.13145, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873,
    2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272,
];

/// The 97.5% quantile of Student's t with `df` degrees of freedom (the
/// normal 1.959964 beyond the table).
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        _ => 1.959964,
    }
}

/// Mean and 95% half-width over values (half-width NaN for fewer than 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub half: f64,
    pub n: usize,
}

impl Interval {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let half = if n >= 2 {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t975(n - 1) * (var / n as f64).sqrt()
        } else {
            f64::NAN
        };
        Self { mean, half, n }
    }

    pub fn low(&self) -> f64 {
        self.mean - self.half
    }

    pub fn high(&self) -> f64 {
        self.mean + self.half
    }
}

/// A verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    DoesNotHold,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive at this scale",
        }
    }
}

/// "The value exceeds `threshold`": holds when the whole interval is above
/// it, does not hold when the whole interval is at or below it.
pub fn exceeds(i: &Interval, threshold: f64) -> Verdict {
    if !i.half.is_finite() {
        Verdict::Inconclusive
    } else if i.low() > threshold {
        Verdict::Holds
    } else if i.high() <= threshold {
        Verdict::DoesNotHold
    } else {
        Verdict::Inconclusive
    }
}

/// "No loss" for a paired difference oriented so that positive is better:
/// does not hold when the whole interval is below 0 (a detectable loss);
/// holds when the whole interval is at or above 0; otherwise inconclusive.
pub fn no_loss(i: &Interval) -> Verdict {
    if !i.half.is_finite() {
        Verdict::Inconclusive
    } else if i.high() < 0.0 {
        Verdict::DoesNotHold
    } else if i.low() >= 0.0 {
        Verdict::Holds
    } else {
        Verdict::Inconclusive
    }
}

/// "The values rise along x", from Spearman's `rho` over `n` pairs: its
/// 95% interval by Fisher's z with the standard error sqrt(1.06 / (n - 3))
/// of a rank correlation (Fieller, Hartley and Pearson 1957). Holds when
/// the interval lies above 0, does not hold when it lies at or below 0;
/// inconclusive otherwise and below 4 pairs.
pub fn rises(rho: f64, n: usize) -> Verdict {
    if n < 4 || !rho.is_finite() {
        return Verdict::Inconclusive;
    }
    let z = rho.clamp(-1.0, 1.0).atanh();
    let half = 1.959964 * (1.06 / (n - 3) as f64).sqrt();
    exceeds(&Interval { mean: z, half, n }, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rise_needs_its_interval_above_zero() {
        // n = 10: half-width 1.959964 * sqrt(1.06 / 7) = 0.7627 in z.
        assert_eq!(rises(0.8, 10), Verdict::Holds); // z = 1.0986
        assert_eq!(rises(0.5, 10), Verdict::Inconclusive); // z = 0.5493
        assert_eq!(rises(-0.8, 10), Verdict::DoesNotHold);
        assert_eq!(rises(1.0, 5), Verdict::Holds); // a perfect order: z is infinite
        assert_eq!(rises(1.0, 3), Verdict::Inconclusive); // too few pairs
        assert_eq!(rises(f64::NAN, 10), Verdict::Inconclusive); // constant values
    }

    #[test]
    fn the_interval_matches_scipy() {
        // python3 -c "import numpy as np, scipy.stats as st; v=np.array([1.0,2.0,4.0]);
        //   print(st.t.ppf(.975, 2) * v.std(ddof=1) / np.sqrt(3))"  -> 3.7945830335967594
        let i = Interval::of(&[1.0, 2.0, 4.0]);
        assert!((i.mean - 7.0 / 3.0).abs() < 1e-12);
        assert!((i.half - 3.794_583_033_596_759).abs() < 1e-5);
        assert!(Interval::of(&[5.0]).half.is_nan());
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let i = |mean, half| Interval { mean, half, n: 3 };
        assert_eq!(exceeds(&i(1.5, 0.2), 1.0), Verdict::Holds);
        assert_eq!(exceeds(&i(0.9, 0.05), 1.0), Verdict::DoesNotHold);
        assert_eq!(exceeds(&i(1.05, 0.2), 1.0), Verdict::Inconclusive);
        assert_eq!(exceeds(&i(2.0, f64::NAN), 1.0), Verdict::Inconclusive);
        assert_eq!(no_loss(&i(-0.3, 0.1)), Verdict::DoesNotHold);
        assert_eq!(no_loss(&i(0.3, 0.1)), Verdict::Holds);
        assert_eq!(no_loss(&i(0.0, 0.1)), Verdict::Inconclusive);
    }
}
