//! AdamW (Loshchilov & Hutter 2019) whose state is ours to save: first and
//! second moments and a step count per parameter, keyed by parameter name.
//! candle's `AdamW` keeps these private, so a resumed run would silently
//! restart its moments; this one round-trips through checkpoints.
//!
//! State is created lazily the first time a parameter is updated, so a unit
//! that is never trainable never holds optimizer state (docs/paper.md §2: "optimizer
//! state exists only for unfrozen blocks"). Per-parameter step counts keep the
//! bias correction right for parameters that train only in some steps (the
//! supernet samples a different trainable set every step).

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::Result;

use crate::model::Param;

pub use crate::experiment::train::AdamWParams;
pub use crate::results::checkpoint::Moments;

/// AdamW with named, saveable state.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// Hyper-parameters.
    pub params: AdamWParams,
    /// Update CPU f32 parameters with the fused kernel (`crate::kernels::adamw`)
    /// instead of the candle composition; same arithmetic, one pass.
    pub fused: bool,
    state: BTreeMap<String, Moments>,
}

impl AdamW {
    /// A fresh optimizer with no state.
    pub fn new(params: AdamWParams) -> Self {
        Self {
            params,
            fused: true,
            state: BTreeMap::new(),
        }
    }

    /// Chooses the fused update (the default) or the candle composition.
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
    }

    /// State of parameter `name`, if it has ever been updated.
    pub fn moments(&self, name: &str) -> Option<&Moments> {
        self.state.get(name)
    }

    /// All state, by parameter name.
    pub fn state(&self) -> &BTreeMap<String, Moments> {
        &self.state
    }

    /// Replaces the state (from a checkpoint).
    pub fn set_state(&mut self, state: BTreeMap<String, Moments>) {
        self.state = state;
    }

    /// Applies one update at learning rate `lr` to every parameter of
    /// `params` that has a gradient in `grads`, each gradient first multiplied
    /// by `grad_scale` (gradient clipping).
    pub fn step(&mut self, params: &[&Param], grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        let AdamWParams {
            beta1,
            beta2,
            eps,
            weight_decay,
            gate_lr_scale,
        } = self.params;
        let base_lr = lr;
        for p in params {
            let lr = if p.name.ends_with("ref_gate") {
                base_lr * gate_lr_scale
            } else {
                base_lr
            };
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let fused = self.fused && g.device().is_cpu() && g.dtype() == candle_core::DType::F32;
            let g = if grad_scale == 1.0 || fused {
                g.clone()
            } else {
                g.affine(grad_scale, 0.0)?
            };
            let st = match self.state.get_mut(&p.name) {
                Some(st) => st,
                None => {
                    let zeros = g.zeros_like()?;
                    self.state.entry(p.name.clone()).or_insert(Moments {
                        m: zeros.clone(),
                        v: zeros,
                        step: 0,
                    })
                }
            };
            st.step += 1;
            if fused {
                let s = crate::kernels::adamw::AdamWStep {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    grad_scale,
                    bc1: 1.0 - beta1.powi(st.step as i32),
                    bc2: 1.0 - beta2.powi(st.step as i32),
                };
                let (w, m, v) = crate::kernels::adamw::adamw_update(p.var.as_tensor(), &g, &st.m, &st.v, s)?;
                (st.m, st.v) = (m, v);
                p.var.set(&w)?;
                continue;
            }
            st.m = ((&st.m * beta1)? + (&g * (1.0 - beta1))?)?;
            st.v = ((&st.v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&st.m / (1.0 - beta1.powi(st.step as i32)))?;
            let v_hat = (&st.v / (1.0 - beta2.powi(st.step as i32)))?;
            let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let w = p.var.as_tensor();
            let next = ((w * (1.0 - lr * weight_decay))? - (update * lr)?)?;
            p.var.set(&next)?;
        }
        Ok(())
    }
}

/// Global L2 norm of the gradients of `params` (those that have one).
pub fn grad_norm(params: &[&Param], grads: &GradStore) -> Result<f64> {
    let mut total = 0f64;
    for p in params {
        if let Some(g) = grads.get(p.var.as_tensor()) {
            total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    Ok(total.sqrt())
}

/// The factor that brings a gradient of norm `norm` down to at most `max_norm`
/// (1 when `max_norm` is 0, i.e. clipping is off).
pub fn clip_scale(norm: f64, max_norm: f64) -> f64 {
    if max_norm > 0.0 && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{Init, ParamBuilder};
    use candle_core::{Device, Tensor};

    // torch.optim.AdamW's update rule, first step, by hand: m_hat = g and
    // v_hat = g^2, so w <- w (1 - lr wd) - lr g / (|g| + eps):
    //   w = [1, -2], lr = 0.1, wd = 0.01 -> [0.999 - 0.1, -1.998 + 0.1] = [0.8990, -1.8980].
    #[test]
    fn first_adamw_step_moves_each_weight_by_lr_against_its_gradient() {
        let pb = ParamBuilder::new(0, &Device::Cpu);
        let p = pb.get(2, "w", Init::Ones).unwrap();
        p.var.set(&Tensor::new(&[1f32, -2.0], &Device::Cpu).unwrap()).unwrap();
        let mut opt = AdamW::new(AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            gate_lr_scale: 1.0,
        });
        let grads = p.var.as_tensor().sqr().unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&[&p], &grads, 0.1, 1.0).unwrap();
        let w = p.var.as_tensor().to_vec1::<f32>().unwrap();
        assert!((w[0] - 0.8990).abs() < 1e-6 && (w[1] + 1.8980).abs() < 1e-6, "{w:?}");
        assert_eq!(opt.moments("w").unwrap().step, 1);
    }

    #[test]
    fn reference_gates_take_gate_lr_scale_times_the_step() {
        // Adam's first step moves every parameter by lr * sign(g) (m_hat / sqrt(v_hat) = +-1).
        let pb = ParamBuilder::new(0, &Device::Cpu);
        let gate = pb.get(1, "spatial.00.ref_gate", Init::Zeros).unwrap();
        let other = pb.get(1, "spatial.00.other", Init::Zeros).unwrap();
        let loss = (gate.var.as_tensor() + other.var.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for fused in [true, false] {
            gate.var
                .set(&Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap())
                .unwrap();
            other
                .var
                .set(&Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap())
                .unwrap();
            let mut opt = AdamW::new(AdamWParams {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-12,
                weight_decay: 0.0,
                gate_lr_scale: 25.0,
            })
            .with_fused(fused);
            opt.step(&[&gate, &other], &grads, 1e-3, 1.0).unwrap();
            let g = gate.var.as_tensor().to_vec1::<f32>().unwrap()[0];
            let o = other.var.as_tensor().to_vec1::<f32>().unwrap()[0];
            assert!(
                (o + 1e-3).abs() < 1e-7 && (g + 25e-3).abs() < 1e-6,
                "fused {fused}: gate {g}, other {o}"
            );
        }
    }

    #[test]
    fn parameters_without_gradients_get_no_state() {
        let pb = ParamBuilder::new(0, &Device::Cpu);
        let a = pb.get(2, "a", Init::Ones).unwrap();
        let b = pb.get(2, "b", Init::Ones).unwrap();
        let grads = a.var.as_tensor().sum_all().unwrap().backward().unwrap();
        let mut opt = AdamW::new(AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            gate_lr_scale: 1.0,
        });
        opt.step(&[&a, &b], &grads, 0.1, 1.0).unwrap();
        assert!(opt.moments("a").is_some() && opt.moments("b").is_none());
        assert_eq!(b.var.as_tensor().to_vec1::<f32>().unwrap(), vec![1.0, 1.0]);
    }

    #[test]
    fn clipping_scales_only_large_gradients() {
        assert_eq!(clip_scale(0.5, 1.0), 1.0);
        assert_eq!(clip_scale(5.0, 0.0), 1.0);
        assert!((clip_scale(4.0, 1.0) - 0.25).abs() < 1e-6);
    }
}
