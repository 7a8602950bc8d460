//! `[diffusion]` section of an experiment: schedule, condition dropout, sampler.

use serde::{Deserialize, Serialize};

use crate::config::{check, key, Invalid, Validate};

use super::schedule::NoiseSchedule;

/// The beta schedule (Ho et al. 2020 linear; Nichol & Dhariwal 2021 cosine).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// betas evenly spaced from `beta_start` to `beta_end` (DDPM).
    Linear,
    /// alpha_bar(t) = cos^2(((t/T + 0.008) / 1.008) pi/2), betas capped at 0.999
    /// (diffusers' `squaredcos_cap_v2`).
    Cosine,
}

/// What the network predicts (its training target).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The noise eps (Ho et al. 2020). Its MSE weighs an x_0 error by the
    /// SNR alpha_bar / (1 - alpha_bar): almost nothing at high noise, where
    /// the global layout and colours (the reference's background) are decided.
    Eps,
    /// v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022,
    /// "Progressive distillation", section 4): its MSE weighs an x_0 error by
    /// 1 + SNR, so high-noise steps keep a learning signal.
    V,
}

/// Which reverse process `sample` runs.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Ancestral DDPM on a respaced subsequence of timesteps (IDDPM respacing),
    /// posterior variance beta-tilde ("fixed small").
    Ddpm,
    /// DDIM (Song et al. 2021) with stochasticity `ddim_eta` (0 = deterministic).
    Ddim,
}

/// Noise schedule, training-time condition dropout and sampling settings.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiffusionConfig {
    /// Beta schedule kind.
    pub schedule: BetaSchedule,
    /// Number of training timesteps T.
    pub timesteps: usize,
    /// First beta of the linear schedule (beta_1).
    pub beta_start: f64,
    /// Last beta of the linear schedule (beta_T).
    pub beta_end: f64,
    /// Probability that a training sample drops its conditions (reference and
    /// pose) so the model also learns the unconditional eps (classifier-free
    /// guidance, Ho & Salimans 2022). 0 disables.
    pub cond_dropout: f64,
    /// What the network predicts: `eps` or `v`.
    pub prediction: Prediction,
    /// Sampler used by `entprog sample` and evaluation.
    pub sampler: SamplerKind,
    /// Number of sampling steps (respaced from T; the paper uses 100).
    pub sample_steps: usize,
    /// Classifier-free guidance scale s: eps = eps_u + s (eps_c - eps_u); 1 = no guidance
    /// (the paper uses 4.0).
    pub guidance: f64,
    /// DDIM eta (0 = deterministic DDIM, 1 = DDPM-like variance).
    pub ddim_eta: f64,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        Self {
            schedule: BetaSchedule::Cosine,
            timesteps: 1000,
            beta_start: 1e-4,
            beta_end: 0.02,
            cond_dropout: 0.1,
            // Measured (docs/results/sample-quality.md, "Why the samples were worse than copying the
            // reference"): trained from scratch for 800 image steps, eps
            // predicted x_0 at 12.7 dB at t = 900 against 18.1 dB for v.
            prediction: Prediction::V,
            sampler: SamplerKind::Ddpm,
            // The measured sweep (docs/results/sample-quality.md, "Why the samples were worse than
            // copying the reference"): on the default chain's stage-3 model,
            // DDPM with 50 steps matches 100 (SSIM 0.419 / 0.411, PSNR 17.86
            // / 17.77 dB), and guidance 4 (the paper's) is the worst on every
            // metric (PSNR 14.25 dB, FID_dance 74 against 8.9 without).
            sample_steps: 50,
            guidance: 1.0,
            ddim_eta: 0.0,
        }
    }
}

impl DiffusionConfig {
    /// The noise schedule these settings describe.
    pub fn build(&self) -> NoiseSchedule {
        match self.schedule {
            BetaSchedule::Linear => NoiseSchedule::linear(self.timesteps, self.beta_start, self.beta_end),
            BetaSchedule::Cosine => NoiseSchedule::cosine(self.timesteps),
        }
    }
}

impl Validate for DiffusionConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        check(
            out,
            self.timesteps >= 2,
            key(prefix, "timesteps"),
            format!("{} is too small, expected >= 2", self.timesteps),
        );
        check(
            out,
            0.0 < self.beta_start && self.beta_start < self.beta_end && self.beta_end < 1.0,
            key(prefix, "beta_start"),
            format!(
                "expected 0 < beta_start ({}) < beta_end ({}) < 1",
                self.beta_start, self.beta_end
            ),
        );
        check(
            out,
            (0.0..1.0).contains(&self.cond_dropout),
            key(prefix, "cond_dropout"),
            format!("{} is out of range, expected [0, 1)", self.cond_dropout),
        );
        check(
            out,
            (1..=self.timesteps).contains(&self.sample_steps),
            key(prefix, "sample_steps"),
            format!("{} is out of range, expected 1..={}", self.sample_steps, self.timesteps),
        );
        check(
            out,
            self.guidance >= 0.0,
            key(prefix, "guidance"),
            format!("{} is negative", self.guidance),
        );
        check(
            out,
            (0.0..=1.0).contains(&self.ddim_eta),
            key(prefix, "ddim_eta"),
            format!("{} is out of range, expected [0, 1]", self.ddim_eta),
        );
    }
}
