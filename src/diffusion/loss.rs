//! The training objective: the MSE of the network's prediction, eps
//! (docs/paper.md §1) or v (`diffusion.prediction`), with the
//! per-step draws (timesteps, Gaussian noise, condition dropout) taken from
//! named seed streams so that a resumed run draws exactly what an
//! uninterrupted one does.

use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::seed;

use super::config::Prediction;
use super::schedule::NoiseSchedule;

/// Everything random about one training step's diffusion forward process.
#[derive(Debug, Clone)]
pub struct NoiseDraw {
    /// Timestep tau per sample, in 0..T.
    pub timesteps: Vec<usize>,
    /// Gaussian noise eps, same shape as the clean frames.
    pub noise: Tensor,
    /// Per sample: 1 keeps the conditions, 0 drops them (classifier-free guidance).
    pub cond_keep: Vec<f32>,
}

/// `n` standard normal f32 draws from `rng`.
pub fn normal_vec(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
}

/// The draws of training step `step` for frames of shape `dims` (`[b, ...]`):
/// streams `timesteps`, `noise` and `cond_dropout`, each indexed by the step.
pub fn draw_training_noise(
    root_seed: u64,
    step: u64,
    dims: &[usize],
    schedule: &NoiseSchedule,
    cond_dropout: f64,
    device: &Device,
) -> Result<NoiseDraw> {
    let b = dims[0];
    let mut rt = seed::stream(root_seed, "timesteps", step);
    let timesteps = (0..b).map(|_| rt.random_range(0..schedule.len())).collect();
    let mut rn = seed::stream(root_seed, "noise", step);
    let n: usize = dims.iter().product();
    let noise = Tensor::from_vec(normal_vec(&mut rn, n), dims, device)?;
    let mut rd = seed::stream(root_seed, "cond_dropout", step);
    let cond_keep = (0..b)
        .map(|_| if rd.random::<f64>() < cond_dropout { 0.0 } else { 1.0 })
        .collect();
    Ok(NoiseDraw {
        timesteps,
        noise,
        cond_keep,
    })
}

/// A per-sample coefficient broadcastable against a `[b, ...]` tensor of rank `rank`.
fn per_sample(values: Vec<f32>, rank: usize, device: &Device) -> Result<Tensor> {
    let mut shape = vec![values.len()];
    shape.resize(rank, 1);
    Tensor::from_vec(values, shape, device)
}

/// sqrt(alpha_bar) and sqrt(1 - alpha_bar) of each sample's timestep, shaped
/// to broadcast against a batch of rank `rank`.
fn coefficients(
    timesteps: &[usize],
    schedule: &NoiseSchedule,
    rank: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let a = timesteps.iter().map(|&t| schedule.alpha_bar(t).sqrt() as f32).collect();
    let s = timesteps
        .iter()
        .map(|&t| (1.0 - schedule.alpha_bar(t)).sqrt() as f32)
        .collect();
    Ok((per_sample(a, rank, device)?, per_sample(s, rank, device)?))
}

/// x_tau = sqrt(alpha_bar_tau) x_0 + sqrt(1 - alpha_bar_tau) eps, per sample.
pub fn add_noise(x0: &Tensor, noise: &Tensor, timesteps: &[usize], schedule: &NoiseSchedule) -> Result<Tensor> {
    let (a, s) = coefficients(timesteps, schedule, x0.rank(), x0.device())?;
    x0.broadcast_mul(&a)?.add(&noise.broadcast_mul(&s)?)
}

/// Mean squared error between the network's output and its target (eps or
/// v, see [`target`]; a scalar tensor).
pub fn prediction_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    pred.sub(target)?.sqr()?.mean_all()
}

/// The training target of `prediction` for clean `x0` noised with `noise` at
/// `timesteps`: eps itself, or v = sqrt(ab) eps - sqrt(1 - ab) x_0.
pub fn target(
    x0: &Tensor,
    noise: &Tensor,
    timesteps: &[usize],
    schedule: &NoiseSchedule,
    prediction: Prediction,
) -> Result<Tensor> {
    match prediction {
        Prediction::Eps => Ok(noise.clone()),
        Prediction::V => {
            let (a, s) = coefficients(timesteps, schedule, x0.rank(), x0.device())?;
            noise.broadcast_mul(&a)?.sub(&x0.broadcast_mul(&s)?)
        }
    }
}

/// The eps a network output `out` at `x_t`, timestep `t` stands for (what the
/// samplers take): the output itself, or eps = sqrt(ab) v + sqrt(1 - ab) x_t.
pub fn output_to_eps(
    out: &Tensor,
    x_t: &Tensor,
    t: usize,
    schedule: &NoiseSchedule,
    prediction: Prediction,
) -> Result<Tensor> {
    match prediction {
        Prediction::Eps => Ok(out.clone()),
        Prediction::V => {
            let ab = schedule.alpha_bar(t);
            out.affine(ab.sqrt(), 0.0)?.add(&x_t.affine((1.0 - ab).sqrt(), 0.0)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v_target_maps_back_to_the_noise_it_was_made_from() {
        // x_t = a x0 + s eps and v = a eps - s x0 give eps = a v + s x_t (a^2 + s^2 = 1).
        let s = NoiseSchedule::cosine(1000);
        let d = Device::Cpu;
        let x0 = Tensor::new(&[[0.5f32, -0.25, 0.9], [0.1, -0.8, 0.3]], &d).unwrap();
        let eps = Tensor::new(&[[1.5f32, 0.2, -0.7], [-1.1, 0.4, 2.0]], &d).unwrap();
        for t in [0usize, 300, 999] {
            let x_t = add_noise(&x0, &eps, &[t, t], &s).unwrap();
            let v = target(&x0, &eps, &[t, t], &s, Prediction::V).unwrap();
            let back = output_to_eps(&v, &x_t, t, &s, Prediction::V).unwrap();
            let err: f32 = (back - &eps)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(err < 1e-5, "t {t}: {err}");
            let e = target(&x0, &eps, &[t, t], &s, Prediction::Eps).unwrap();
            assert_eq!(e.to_vec2::<f32>().unwrap(), eps.to_vec2::<f32>().unwrap());
        }
    }

    #[test]
    fn draws_are_pure_functions_of_seed_and_step() {
        let s = NoiseSchedule::cosine(1000);
        let d = Device::Cpu;
        let a = draw_training_noise(7, 3, &[4, 1, 3, 8, 8], &s, 0.5, &d).unwrap();
        let b = draw_training_noise(7, 3, &[4, 1, 3, 8, 8], &s, 0.5, &d).unwrap();
        let c = draw_training_noise(7, 4, &[4, 1, 3, 8, 8], &s, 0.5, &d).unwrap();
        assert_eq!(a.timesteps, b.timesteps);
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&a.noise), flat(&b.noise));
        assert_ne!(flat(&a.noise), flat(&c.noise));
    }

    #[test]
    fn noise_is_standard_normal_and_dropout_has_its_rate() {
        let s = NoiseSchedule::linear(1000, 1e-4, 0.02);
        let d = draw_training_noise(1, 0, &[2000, 64], &s, 0.25, &Device::Cpu).unwrap();
        let v = d.noise.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
        let dropped = d.cond_keep.iter().filter(|&&k| k == 0.0).count() as f64 / 2000.0;
        assert!((dropped - 0.25).abs() < 0.04, "{dropped}");
    }

    #[test]
    fn add_noise_interpolates_signal_and_noise() {
        let s = NoiseSchedule::cosine(1000);
        let x0 = Tensor::ones((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let eps = Tensor::full(2f32, (2, 3), &Device::Cpu).unwrap();
        let xt = add_noise(&x0, &eps, &[0, 999], &s).unwrap().to_vec2::<f32>().unwrap();
        let expect = |t: usize| (s.alpha_bar(t).sqrt() + 2.0 * (1.0 - s.alpha_bar(t)).sqrt()) as f32;
        assert!((xt[0][0] - expect(0)).abs() < 1e-6 && (xt[1][2] - expect(999)).abs() < 1e-6);
        let loss = prediction_loss(&eps, &x0).unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(loss, 1.0);
    }
}
