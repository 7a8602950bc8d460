//! Reverse processes: ancestral DDPM on a respaced timestep subsequence
//! (IDDPM, Nichol & Dhariwal 2021 §4; the paper samples with 100 IDDPM steps)
//! and DDIM (Song et al. 2021, eq. 12), both with classifier-free guidance
//! eps = eps_u + s (eps_c - eps_u) (Ho & Salimans 2022). The model is reached
//! through [`Denoise`], so the samplers know nothing about it. Initial and
//! per-step noise come from the `sample_init` and `sample_noise` streams.

use candle_core::{Device, Tensor};

use crate::seed;

use super::config::{DiffusionConfig, SamplerKind};
use super::loss::normal_vec;
use super::schedule::NoiseSchedule;

/// Errors of a sampling run.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// A tensor operation failed at one sampling step.
    #[error("sampling step {step} (timestep {timestep}): {source}")]
    Tensor {
        step: usize,
        timestep: usize,
        source: candle_core::Error,
    },
    /// The model produced a non-finite value.
    #[error("sampling step {step} (timestep {timestep}): the sample became non-finite")]
    NonFinite { step: usize, timestep: usize },
}

/// A noise predictor: eps_hat(x_tau, tau) with or without the conditions.
pub trait Denoise {
    /// Predicted noise for `x` (`[b, ...]`) at training timestep `t`.
    fn eps(&mut self, x: &Tensor, t: usize, conditional: bool) -> candle_core::Result<Tensor>;
}

impl<F: FnMut(&Tensor, usize, bool) -> candle_core::Result<Tensor>> Denoise for F {
    fn eps(&mut self, x: &Tensor, t: usize, conditional: bool) -> candle_core::Result<Tensor> {
        self(x, t, conditional)
    }
}

fn guided_eps(model: &mut impl Denoise, x: &Tensor, t: usize, guidance: f64) -> candle_core::Result<Tensor> {
    let cond = model.eps(x, t, true)?;
    if guidance == 1.0 {
        return Ok(cond);
    }
    let uncond = model.eps(x, t, false)?;
    uncond.add(&cond.sub(&uncond)?.affine(guidance, 0.0)?)
}

fn gaussian(root: u64, purpose: &str, index: u64, dims: &[usize], device: &Device) -> candle_core::Result<Tensor> {
    let mut rng = seed::stream(root, purpose, index);
    Tensor::from_vec(normal_vec(&mut rng, dims.iter().product()), dims, device)
}

/// Draws one sample of shape `dims` from pure noise with the configured
/// sampler, step count and guidance. Returns x_0 in (roughly) [-1, 1].
pub fn sample(
    model: &mut impl Denoise,
    cfg: &DiffusionConfig,
    schedule: &NoiseSchedule,
    dims: &[usize],
    root_seed: u64,
    device: &Device,
) -> Result<Tensor, SampleError> {
    let ts = schedule.respaced_timesteps(cfg.sample_steps);
    let respaced = schedule.respace(&ts);
    let mut x = gaussian(root_seed, "sample_init", 0, dims, device).map_err(|source| SampleError::Tensor {
        step: 0,
        timestep: ts[ts.len() - 1],
        source,
    })?;
    for i in (0..ts.len()).rev() {
        let t = ts[i];
        let err = |source| SampleError::Tensor {
            step: i,
            timestep: t,
            source,
        };
        let eps = guided_eps(model, &x, t, cfg.guidance).map_err(err)?;
        x = match cfg.sampler {
            SamplerKind::Ddpm => ddpm_step(&x, &eps, &respaced, i, root_seed, device),
            SamplerKind::Ddim => {
                let prev = if i == 0 { 1.0 } else { schedule.alpha_bar(ts[i - 1]) };
                ddim_step(
                    &x,
                    &eps,
                    schedule.alpha_bar(t),
                    prev,
                    cfg.ddim_eta,
                    i,
                    root_seed,
                    device,
                )
            }
        }
        .map_err(err)?;
        let total = x
            .sqr()
            .and_then(|s| s.sum_all())
            .and_then(|s| s.to_scalar::<f32>())
            .map_err(err)?;
        if !total.is_finite() {
            return Err(SampleError::NonFinite { step: i, timestep: t });
        }
    }
    Ok(x)
}

/// x_0 estimate from eps, clipped to the data range [-1, 1].
fn predict_x0(x: &Tensor, eps: &Tensor, alpha_bar: f64) -> candle_core::Result<Tensor> {
    x.affine(1.0 / alpha_bar.sqrt(), 0.0)?
        .sub(&eps.affine((1.0 - alpha_bar).sqrt() / alpha_bar.sqrt(), 0.0)?)?
        .clamp(-1f32, 1f32)
}

/// One ancestral step on the respaced schedule `r` at index `i`: the mean of
/// q(x_{i-1} | x_i, x_0_hat) plus beta-tilde noise (none at the last step).
fn ddpm_step(
    x: &Tensor,
    eps: &Tensor,
    r: &NoiseSchedule,
    i: usize,
    root: u64,
    dev: &Device,
) -> candle_core::Result<Tensor> {
    let (ab, ab_prev, beta) = (r.alpha_bar(i), r.alpha_bar_prev(i), r.beta(i));
    let x0 = predict_x0(x, eps, ab)?;
    let c0 = beta * ab_prev.sqrt() / (1.0 - ab);
    let ct = (1.0 - ab_prev) * (1.0 - beta).sqrt() / (1.0 - ab);
    let mean = x0.affine(c0, 0.0)?.add(&x.affine(ct, 0.0)?)?;
    if i == 0 {
        return Ok(mean);
    }
    let z = gaussian(root, "sample_noise", i as u64, x.dims(), dev)?;
    mean.add(&z.affine(r.posterior_variance(i).sqrt(), 0.0)?)
}

/// One DDIM step from alpha_bar `ab` to `ab_prev` with stochasticity `eta`.
#[allow(clippy::too_many_arguments)]
fn ddim_step(
    x: &Tensor,
    eps: &Tensor,
    ab: f64,
    ab_prev: f64,
    eta: f64,
    i: usize,
    root: u64,
    dev: &Device,
) -> candle_core::Result<Tensor> {
    let x0 = predict_x0(x, eps, ab)?;
    // eps consistent with the clipped x0, so the step stays on its trajectory.
    let eps = x
        .sub(&x0.affine(ab.sqrt(), 0.0)?)?
        .affine(1.0 / (1.0 - ab).sqrt(), 0.0)?;
    let sigma = eta * ((1.0 - ab_prev) / (1.0 - ab)).sqrt() * (1.0 - ab / ab_prev).max(0.0).sqrt();
    let dir = (1.0 - ab_prev - sigma * sigma).max(0.0).sqrt();
    let out = x0.affine(ab_prev.sqrt(), 0.0)?.add(&eps.affine(dir, 0.0)?)?;
    if sigma == 0.0 || i == 0 {
        return Ok(out);
    }
    let z = gaussian(root, "sample_noise", i as u64, x.dims(), dev)?;
    out.add(&z.affine(sigma, 0.0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact eps-predictor for data concentrated at one point x*:
    /// eps(x_t) = (x_t - sqrt(ab) x*) / sqrt(1 - ab). Every sampler must return x*.
    fn oracle(
        schedule: NoiseSchedule,
        target: Tensor,
    ) -> impl FnMut(&Tensor, usize, bool) -> candle_core::Result<Tensor> {
        move |x, t, _| {
            let ab = schedule.alpha_bar(t);
            x.sub(&target.affine(ab.sqrt(), 0.0)?)?
                .affine(1.0 / (1.0 - ab).sqrt(), 0.0)
        }
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn samplers_recover_a_point_mass_with_the_exact_denoiser() {
        let dev = Device::Cpu;
        let schedule = NoiseSchedule::cosine(1000);
        let target = Tensor::new(&[[0.5f32, -0.25, 0.9], [0.0, -0.8, 0.3]], &dev).unwrap();
        for (sampler, steps, eta) in [
            (SamplerKind::Ddpm, 50, 0.0),
            (SamplerKind::Ddim, 20, 0.0),
            (SamplerKind::Ddim, 20, 1.0),
        ] {
            let cfg = DiffusionConfig {
                sampler,
                sample_steps: steps,
                ddim_eta: eta,
                guidance: 1.0,
                ..Default::default()
            };
            let mut model = oracle(schedule.clone(), target.clone());
            let x = sample(&mut model, &cfg, &schedule, &[2, 3], 5, &dev).unwrap();
            assert!(
                max_abs_diff(&x, &target) < 1e-3,
                "{sampler:?}: {}",
                max_abs_diff(&x, &target)
            );
        }
    }

    #[test]
    fn guidance_extrapolates_from_unconditional_to_conditional() {
        let dev = Device::Cpu;
        let x = Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap();
        let mut model = |x: &Tensor, _t: usize, c: bool| x.affine(0.0, if c { 1.0 } else { 0.5 });
        let e = guided_eps(&mut model, &x, 10, 4.0).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(e, vec![2.5; 3]); // 0.5 + 4 * (1 - 0.5)
    }

    #[test]
    fn sampling_is_deterministic_for_a_seed() {
        let dev = Device::Cpu;
        let schedule = NoiseSchedule::linear(100, 1e-4, 0.02);
        let cfg = DiffusionConfig {
            timesteps: 100,
            sample_steps: 10,
            guidance: 2.0,
            ..Default::default()
        };
        let mut model = |x: &Tensor, _t: usize, c: bool| x.affine(if c { 0.3 } else { 0.1 }, 0.0);
        let a = sample(&mut model, &cfg, &schedule, &[4, 5], 9, &dev).unwrap();
        let b = sample(&mut model, &cfg, &schedule, &[4, 5], 9, &dev).unwrap();
        let c = sample(&mut model, &cfg, &schedule, &[4, 5], 10, &dev).unwrap();
        assert_eq!(max_abs_diff(&a, &b), 0.0);
        assert!(max_abs_diff(&a, &c) > 0.0);
    }
}
