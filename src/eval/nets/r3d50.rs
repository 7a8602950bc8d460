//! The Kinetics-400 3D ResNet-50 behind DisCo's FID-VID ("FVD-3DRN50" in
//! Wangt-CN/DisCo `tool/metrics/metric_center.py`): kenshohara's
//! 3D-ResNets-PyTorch `resnet50(num_classes=400, shortcut_type="B",
//! sample_size=112, sample_duration=16, last_fc=False)` with the
//! `resnet-50-kinetics.pth` checkpoint (DisCo's `tool/metrics/resnet3d.py`,
//! `features.py`).
//!
//! Preprocessing as DisCo's `DatasetFVDVideoFromFramesResize`: every run of
//! 16 consecutive frames of a clip is one sample; each frame, as float RGB in
//! [0, 255], is resized to 112 x 112 with PIL's bicubic filter per channel
//! (`make_resizer("PIL", False, "bicubic")`, [`super::resize`]), less the
//! Kinetics mean `[114.7748, 107.7354, 99.4750]` (no scaling), as
//! `[b, 3, 16, 112, 112]`. Output: the 2048-d average pool after `layer4`
//! (`last_fc=False`); DisCo's `AvgPool3d((ceil(T/16), 4, 4))` covers the
//! whole `[1, 4, 4]` map of a 16 x 112 x 112 input, so it is the global mean
//! here.
//!
//! Tensor names are the checkpoint's `state_dict` with DisCo's `module.`
//! prefix removed: `conv1.weight`, `bn1.running_mean`,
//! `layer1.0.conv1.weight`, `layer1.0.downsample.0.weight` (the 1x1x1
//! shortcut), `layer1.0.downsample.1.*` (its batch norm, eps 1e-5); `fc.*`
//! is not read.

use candle_core::{Result, Tensor};

use super::layers::BatchNorm;
use super::layers3d::{max_pool3d_nonneg, Conv3d, Conv3dSpec, Pad3};
use super::weights::{NetError, Weights};

/// Feature dimension.
pub const R3D50_DIM: usize = 2048;
/// Frames per sample (DisCo's `--sample_duration 16`).
pub const R3D50_FRAMES: usize = 16;
/// Side the frames are resized to.
pub const R3D50_SIZE: usize = 112;
/// The Kinetics pixel mean DisCo subtracts, RGB on [0, 255].
pub const R3D50_MEAN: [f32; 3] = [114.7748, 107.7354, 99.4750];

const EPS: f64 = 1e-5;

fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, w: &Weights) -> std::result::Result<Conv3d, NetError> {
    let spec = Conv3dSpec {
        c_in,
        c_out,
        kernel: (k, k, k),
        stride: (stride, stride),
        bias: false,
    };
    Conv3d::new(spec, w)
}

fn same(p: usize) -> Pad3 {
    [(p, p); 3]
}

/// A bottleneck: 1x1x1, 3x3x3 (strided), 1x1x1 to 4x planes, plus the shortcut.
#[derive(Debug, Clone)]
struct Bottleneck {
    convs: [(Conv3d, BatchNorm); 3],
    /// The 1x1x1 strided projection shortcut (type B), on the first block of a layer.
    downsample: Option<(Conv3d, BatchNorm)>,
}

impl Bottleneck {
    fn new(c_in: usize, planes: usize, stride: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        let bn = |c: usize, name: &str| BatchNorm::new(c, EPS, &w.pp(name));
        let convs = [
            (conv(c_in, planes, 1, 1, &w.pp("conv1"))?, bn(planes, "bn1")?),
            (conv(planes, planes, 3, stride, &w.pp("conv2"))?, bn(planes, "bn2")?),
            (conv(planes, planes * 4, 1, 1, &w.pp("conv3"))?, bn(planes * 4, "bn3")?),
        ];
        let downsample = match stride != 1 || c_in != planes * 4 {
            true => {
                let d = w.pp("downsample");
                Some((
                    conv(c_in, planes * 4, 1, stride, &d.pp(0))?,
                    BatchNorm::new(planes * 4, EPS, &d.pp(1))?,
                ))
            }
            false => None,
        };
        Ok(Self { convs, downsample })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [(c1, b1), (c2, b2), (c3, b3)] = &self.convs;
        let y = b1.forward(&c1.forward(x, same(0))?, 2)?.relu()?;
        let y = b2.forward(&c2.forward(&y, same(1))?, 2)?.relu()?;
        let y = b3.forward(&c3.forward(&y, same(0))?, 2)?;
        let shortcut = match &self.downsample {
            Some((c, b)) => b.forward(&c.forward(x, same(0))?, 2)?,
            None => x.clone(),
        };
        (y + shortcut)?.relu()
    }
}

/// The Kinetics 3D ResNet-50 up to its 2048-d pool features (module doc).
#[derive(Debug, Clone)]
pub struct R3d50 {
    conv1: Conv3d,
    bn1: BatchNorm,
    layers: Vec<Bottleneck>,
}

impl R3d50 {
    /// Builds the network from the checkpoint's names under `w`.
    pub fn new(w: &Weights) -> std::result::Result<Self, NetError> {
        let conv1 = Conv3d::new(
            Conv3dSpec {
                c_in: 3,
                c_out: 64,
                kernel: (7, 7, 7),
                stride: (1, 2),
                bias: false,
            },
            &w.pp("conv1"),
        )?;
        let mut layers = Vec::new();
        let mut c_in = 64;
        for (i, (planes, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].into_iter().enumerate() {
            let layer = w.pp(format!("layer{}", i + 1));
            for j in 0..blocks {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                layers.push(Bottleneck::new(c_in, planes, stride, &layer.pp(j))?);
                c_in = planes * 4;
            }
        }
        Ok(Self {
            conv1,
            bn1: BatchNorm::new(64, EPS, &w.pp("bn1"))?,
            layers,
        })
    }

    /// Features of preprocessed clips: `[b, 3, t, h, w]` (PyTorch's layout,
    /// mean-subtracted [0, 255] values) -> `[b, 2048]`.
    pub fn features(&self, clips: &Tensor) -> std::result::Result<Tensor, NetError> {
        self.forward(clips).map_err(NetError::forward("r3d50-kinetics"))
    }

    fn forward(&self, clips: &Tensor) -> Result<Tensor> {
        // [b, 3, t, h, w] -> [b, t, 3, h, w]
        let x = clips.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let x = self.bn1.forward(&self.conv1.forward(&x, same(3))?, 2)?.relu()?;
        let x = max_pool3d_nonneg(&x, (3, 3), (2, 2), same(1))?;
        let x = self.layers.iter().try_fold(x, |x, b| b.forward(&x))?;
        // [b, t', 2048, h', w'] -> [b, 2048]
        x.mean(4)?.mean(3)?.mean(1)
    }
}
