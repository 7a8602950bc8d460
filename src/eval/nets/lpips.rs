//! LPIPS (Zhang et al. 2018) with the AlexNet backbone, as the `lpips`
//! package computes it: `lpips.LPIPS(net='alex', version='0.1')` called with
//! `normalize=True` on frames in [0, 1] (richzhang/PerceptualSimilarity,
//! `lpips/lpips.py`, `lpips/pretrained_networks.py`).
//!
//! Per pair of frames: `2x - 1`, the ScalingLayer `(x - shift) / scale`
//! (constants of the package, not weights), the five ReLU outputs of
//! torchvision's AlexNet `features`, each unit-normalised over channels
//! (`x / (||x||_2 + 1e-10)`), the squared difference, the layer's linear head
//! (a 1x1 convolution without bias to one channel), the spatial mean; the
//! distance is the sum over the five layers.
//!
//! Tensor names are those of the `lpips.LPIPS(net='alex')` state dict:
//! `net.slice1.0.weight` / `.bias` (conv1), `net.slice2.3`, `net.slice3.6`,
//! `net.slice4.8`, `net.slice5.10`, and the heads `lin0.model.1.weight` ..
//! `lin4.model.1.weight` (`[1, c, 1, 1]`; index 1 because a dropout comes
//! first). DisCo's `compute_lpips` differs: it uses the VGG backbone and
//! feeds [0, 1] frames without `normalize=True`.

use candle_core::{Result, Tensor};

use super::layers::{global_avg_pool, max_pool_nonneg, Conv2d, ConvSpec};
use super::weights::{NetError, Weights};

/// The ScalingLayer's `shift` (`lpips.ScalingLayer`).
pub const LPIPS_SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
/// The ScalingLayer's `scale`.
pub const LPIPS_SCALE: [f32; 3] = [0.458, 0.448, 0.450];
/// Channels of the five AlexNet layers LPIPS compares.
const CHANNELS: [usize; 5] = [64, 192, 384, 256, 256];

/// LPIPS with AlexNet features and the package's linear heads (module doc).
#[derive(Debug, Clone)]
pub struct LpipsAlex {
    /// conv1 .. conv5 of AlexNet's `features`, with bias.
    convs: [Conv2d; 5],
    /// `[1, c, 1, 1]` per layer.
    lins: [Conv2d; 5],
}

impl LpipsAlex {
    /// Builds the metric from the `lpips.LPIPS(net='alex')` names under `w`.
    pub fn new(w: &Weights) -> std::result::Result<Self, NetError> {
        let net = w.pp("net");
        let conv = |slice: usize, idx: usize, spec: ConvSpec| {
            Conv2d::new(spec.with_bias(), &net.pp(format!("slice{slice}")).pp(idx))
        };
        let convs = [
            conv(1, 0, ConvSpec::square(3, 64, 11, 4, 2))?,
            conv(2, 3, ConvSpec::square(64, 192, 5, 1, 2))?,
            conv(3, 6, ConvSpec::square(192, 384, 3, 1, 1))?,
            conv(4, 8, ConvSpec::square(384, 256, 3, 1, 1))?,
            conv(5, 10, ConvSpec::square(256, 256, 3, 1, 1))?,
        ];
        let lin = |k: usize| {
            Conv2d::new(
                ConvSpec::square(CHANNELS[k], 1, 1, 1, 0),
                &w.pp(format!("lin{k}")).pp("model").pp(1),
            )
        };
        Ok(Self {
            convs,
            lins: [lin(0)?, lin(1)?, lin(2)?, lin(3)?, lin(4)?],
        })
    }

    /// The distance of each pair: `[n, 3, h, w]` twice, in [0, 1] -> `[n]`.
    pub fn distance(&self, a: &Tensor, b: &Tensor) -> std::result::Result<Tensor, NetError> {
        self.forward(a, b).map_err(NetError::forward("lpips-alex"))
    }

    fn forward(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let fa = self.features(a)?;
        let fb = self.features(b)?;
        let mut total: Option<Tensor> = None;
        for ((x, y), lin) in fa.iter().zip(&fb).zip(&self.lins) {
            let diff = (unit_normalise(x)? - unit_normalise(y)?)?.sqr()?;
            // [n, 1, h, w] -> [n]
            let d = global_avg_pool(&lin.forward(&diff)?)?.squeeze(1)?;
            total = Some(match total {
                Some(t) => (t + d)?,
                None => d,
            });
        }
        Ok(total.expect("five layers"))
    }

    /// The five ReLU outputs of AlexNet on frames in [0, 1].
    fn features(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let dev = x.device();
        let shift = Tensor::from_slice(&LPIPS_SHIFT, (1, 3, 1, 1), dev)?;
        let scale = Tensor::from_slice(&LPIPS_SCALE, (1, 3, 1, 1), dev)?;
        let x = ((x * 2.0)? - 1.0)?.broadcast_sub(&shift)?.broadcast_div(&scale)?;
        let [c1, c2, c3, c4, c5] = &self.convs;
        let h1 = c1.forward(&x)?.relu()?;
        let h2 = c2.forward(&max_pool_nonneg(&h1, 3, 2, 0)?)?.relu()?;
        let h3 = c3.forward(&max_pool_nonneg(&h2, 3, 2, 0)?)?.relu()?;
        let h4 = c4.forward(&h3)?.relu()?;
        let h5 = c5.forward(&h4)?.relu()?;
        Ok(vec![h1, h2, h3, h4, h5])
    }
}

/// `lpips.normalize_tensor`: `x / (sqrt(sum_c x^2) + 1e-10)` over axis 1.
fn unit_normalise(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-10)?;
    x.broadcast_div(&norm)
}
