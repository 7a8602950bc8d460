//! Diffusion machinery: noise schedules, the epsilon-prediction loss with
//! condition dropout, and DDPM/IDDPM and DDIM samplers with classifier-free
//! guidance (docs/paper.md §1: epsilon-prediction MSE; IDDPM sampler, 100 steps,
//! guidance 4.0).

pub mod config;
pub mod loss;
pub mod sampler;
pub mod schedule;

pub use config::{BetaSchedule, DiffusionConfig, Prediction, SamplerKind};
pub use loss::{add_noise, draw_training_noise, output_to_eps, prediction_loss, target, NoiseDraw};
pub use sampler::{sample, Denoise, SampleError};
pub use schedule::NoiseSchedule;
