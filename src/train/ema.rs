//! Exponential moving average of the weights (DiT keeps one with decay
//! 0.9999 for sampling): ema <- d ema + (1 - d) theta after every update.

use std::collections::BTreeMap;

use candle_core::{Result, Tensor};

use crate::model::Param;

/// EMA copies of parameters, by name.
#[derive(Debug, Clone)]
pub struct Ema {
    /// Decay d.
    pub decay: f64,
    weights: BTreeMap<String, Tensor>,
}

impl Ema {
    /// Starts the average at the current values of `params`.
    pub fn new(decay: f64, params: &[Param]) -> Result<Self> {
        let weights = params
            .iter()
            .map(|p| Ok((p.name.clone(), p.var.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        Ok(Self { decay, weights })
    }

    /// Restores saved averages.
    pub fn from_weights(decay: f64, weights: BTreeMap<String, Tensor>) -> Self {
        Self { decay, weights }
    }

    /// Updates the averages of `params` (the ones that just changed).
    pub fn update(&mut self, params: &[&Param]) -> Result<()> {
        for p in params {
            let cur = p.var.as_tensor().detach();
            let next = match self.weights.get(&p.name) {
                Some(avg) => ((avg * self.decay)? + (cur * (1.0 - self.decay))?)?,
                None => cur.copy()?,
            };
            self.weights.insert(p.name.clone(), next);
        }
        Ok(())
    }

    /// The averaged weights, by name.
    pub fn weights(&self) -> &BTreeMap<String, Tensor> {
        &self.weights
    }
}
