//! Noise schedules in f64: betas and the cumulative products alpha_bar_t that
//! define q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).
//!
//! Linear: Ho et al. 2020 (DDPM), betas = linspace(beta_1, beta_T, T).
//! Cosine: Nichol & Dhariwal 2021 (IDDPM) eq. 17, diffusers' `squaredcos_cap_v2`:
//! beta_i = min(1 - f((i+1)/T) / f(i/T), 0.999), f(t) = cos^2(((t + 0.008)/1.008) pi/2).
//! All maths in f64 (candle's `betas_for_alpha_bar` once used integer division).

/// Betas and cumulative alpha products for timesteps 0..T (0 = least noise).
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// DDPM linear schedule with `timesteps` betas from `beta_start` to `beta_end`.
    pub fn linear(timesteps: usize, beta_start: f64, beta_end: f64) -> Self {
        let last = (timesteps.max(2) - 1) as f64;
        let betas = (0..timesteps)
            .map(|i| beta_start + (beta_end - beta_start) * i as f64 / last)
            .collect();
        Self::from_betas(betas)
    }

    /// IDDPM cosine schedule (`squaredcos_cap_v2`) with `timesteps` betas.
    pub fn cosine(timesteps: usize) -> Self {
        let f = |t: f64| ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        let n = timesteps as f64;
        let betas = (0..timesteps)
            .map(|i| (1.0 - f((i + 1) as f64 / n) / f(i as f64 / n)).min(0.999))
            .collect();
        Self::from_betas(betas)
    }

    /// A schedule from explicit betas (used by respacing).
    pub fn from_betas(betas: Vec<f64>) -> Self {
        let mut acc = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Self { betas, alphas_cumprod }
    }

    /// Number of timesteps T.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// True when the schedule has no timesteps.
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// beta_t.
    pub fn beta(&self, t: usize) -> f64 {
        self.betas[t]
    }

    /// alpha_bar_t = prod_{s <= t} (1 - beta_s).
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alphas_cumprod[t]
    }

    /// alpha_bar of the previous timestep, 1 before the first.
    pub fn alpha_bar_prev(&self, t: usize) -> f64 {
        if t == 0 {
            1.0
        } else {
            self.alphas_cumprod[t - 1]
        }
    }

    /// All betas.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// All alpha_bar values.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// Signal-to-noise ratio alpha_bar / (1 - alpha_bar).
    pub fn snr(&self, t: usize) -> f64 {
        let a = self.alpha_bar(t);
        a / (1.0 - a)
    }

    /// `steps` timesteps evenly spaced over 0..T, both ends included, ascending
    /// (IDDPM's `space_timesteps` with one section).
    pub fn respaced_timesteps(&self, steps: usize) -> Vec<usize> {
        let t = self.len();
        if steps <= 1 {
            return vec![t - 1];
        }
        let stride = (t - 1) as f64 / (steps - 1) as f64;
        let mut ts: Vec<usize> = (0..steps).map(|i| (i as f64 * stride).round() as usize).collect();
        ts.dedup();
        ts
    }

    /// The schedule restricted to `timesteps` (ascending): betas recomputed so
    /// that alpha_bar matches the original at the kept steps (IDDPM respacing).
    pub fn respace(&self, timesteps: &[usize]) -> Self {
        let mut last = 1.0;
        let betas = timesteps
            .iter()
            .map(|&t| {
                let a = self.alpha_bar(t);
                let b = 1.0 - a / last;
                last = a;
                b
            })
            .collect();
        Self::from_betas(betas)
    }

    /// Variance of the DDPM posterior q(x_{t-1} | x_t, x_0) (beta-tilde).
    pub fn posterior_variance(&self, t: usize) -> f64 {
        self.beta(t) * (1.0 - self.alpha_bar_prev(t)) / (1.0 - self.alpha_bar(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden values, from the reference formulas in plain Python (no numpy):
    //   import math; T = 1000
    //   lin = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
    //   f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    //   cos = [min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)]
    //   ab = running product of (1 - b); print b[i], ab[i] for i in (0, 1, 499, 999)
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300) + 1e-18
    }

    #[test]
    fn linear_schedule_matches_python_golden_values() {
        let s = NoiseSchedule::linear(1000, 1e-4, 0.02);
        let betas = [0.0001, 0.00011991991991991993, 0.01004004004004004, 0.02];
        let abar = [0.9999, 0.9997800920720721, 0.07858724288177821, 4.0358297653756754e-05];
        for (k, &i) in [0usize, 1, 499, 999].iter().enumerate() {
            assert!(close(s.beta(i), betas[k]), "beta[{i}] = {}", s.beta(i));
            assert!(close(s.alpha_bar(i), abar[k]), "alpha_bar[{i}] = {}", s.alpha_bar(i));
        }
    }

    #[test]
    fn cosine_schedule_matches_python_golden_values() {
        let s = NoiseSchedule::cosine(1000);
        let betas = [
            4.128422482196914e-05,
            4.614175273665033e-05,
            0.0031458862304780677,
            0.999,
        ];
        let abar = [
            0.999958715775178,
            0.9999125759273678,
            0.4938435904406382,
            2.4287669070348567e-09,
        ];
        for (k, &i) in [0usize, 1, 499, 999].iter().enumerate() {
            assert!(close(s.beta(i), betas[k]), "beta[{i}] = {}", s.beta(i));
            assert!(close(s.alpha_bar(i), abar[k]), "alpha_bar[{i}] = {}", s.alpha_bar(i));
        }
    }

    #[test]
    fn schedules_are_valid_for_many_lengths() {
        for t in [2usize, 3, 10, 50, 999, 1000, 4000] {
            for s in [NoiseSchedule::linear(t, 1e-4, 0.02), NoiseSchedule::cosine(t)] {
                assert_eq!(s.len(), t);
                assert!(
                    s.betas().iter().all(|&b| b > 0.0 && b < 1.0),
                    "betas in (0, 1) for T = {t}"
                );
                let ab = s.alphas_cumprod();
                assert!(
                    ab.windows(2).all(|w| w[1] < w[0]),
                    "alpha_bar strictly decreasing for T = {t}"
                );
                assert!(ab[0] < 1.0 && ab[t - 1] > 0.0);
                assert!((0..t).all(|i| s.posterior_variance(i) >= 0.0 && s.posterior_variance(i) <= s.beta(i)));
            }
        }
    }

    #[test]
    fn respacing_keeps_alpha_bar_at_kept_steps() {
        let s = NoiseSchedule::cosine(1000);
        let ts = s.respaced_timesteps(100);
        assert_eq!(ts.len(), 100);
        assert_eq!((ts[0], ts[99]), (0, 999));
        let r = s.respace(&ts);
        for (i, &t) in ts.iter().enumerate() {
            assert!((r.alpha_bar(i) - s.alpha_bar(t)).abs() < 1e-12);
        }
        let full = s.respace(&s.respaced_timesteps(1000));
        assert!(full.betas().iter().zip(s.betas()).all(|(a, b)| (a - b).abs() < 1e-12));
    }
}
