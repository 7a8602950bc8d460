//! Inception-v3 pool features for FID (Heusel et al. 2017), as pytorch-fid
//! computes them: `pytorch_fid.inception.InceptionV3([3])` with
//! `use_fid_inception=True`, the port of TensorFlow's 2015-12-05 FID graph
//! (mseitzer/pytorch-fid, `src/pytorch_fid/inception.py`).
//!
//! Preprocessing as pytorch-fid: frames in [0, 1] (`ToTensor`), bilinear
//! resize to 299 x 299 (`F.interpolate(mode="bilinear", align_corners=False)`,
//! no antialiasing), then `2x - 1`. Output: the 2048-d average pool after
//! `Mixed_7c`. The FID blocks differ from torchvision's: the pool branch of
//! `Mixed_5b..5d`, `Mixed_6b..6e` and `Mixed_7b` averages with
//! `count_include_pad=False`, and `Mixed_7c`'s pool branch is a 3x3 max pool.
//!
//! Tensor names are those of pytorch-fid's `pt_inception-2015-12-05` state
//! dict (`Conv2d_1a_3x3.conv.weight`, `Conv2d_1a_3x3.bn.running_mean`,
//! `Mixed_5b.branch1x1.conv.weight`, ...); `fc.*` is not read. Every
//! convolution is torchvision's `BasicConv2d`: conv without bias, batch norm
//! with eps 0.001, ReLU.

use candle_core::{Result, Tensor};

use super::layers::{avg_pool_3x3_exclude_pad, global_avg_pool, max_pool_nonneg, BatchNorm, Conv2d, ConvSpec};
use super::weights::{NetError, Weights};

/// Feature dimension of the pool features.
pub const INCEPTION_DIM: usize = 2048;
/// Side the frames are resized to.
pub const INCEPTION_SIZE: usize = 299;

/// torchvision's `BasicConv2d`: conv (no bias), batch norm (eps 0.001), ReLU.
#[derive(Debug, Clone)]
struct BasicConv2d {
    conv: Conv2d,
    bn: BatchNorm,
}

impl BasicConv2d {
    fn new(spec: ConvSpec, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            conv: Conv2d::new(spec, &w.pp("conv"))?,
            bn: BatchNorm::new(spec.c_out, 1e-3, &w.pp("bn"))?,
        })
    }

    /// A `k x k` BasicConv2d.
    fn sq(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        w: &Weights,
    ) -> std::result::Result<Self, NetError> {
        Self::new(ConvSpec::square(c_in, c_out, k, stride, pad), w)
    }

    /// A `1 x k` (`wide`) or `k x 1` BasicConv2d, padded to keep the size.
    fn line(c_in: usize, c_out: usize, k: usize, wide: bool, w: &Weights) -> std::result::Result<Self, NetError> {
        let (kernel, padding) = match wide {
            true => ((1, k), (0, k / 2)),
            false => ((k, 1), (k / 2, 0)),
        };
        let spec = ConvSpec {
            kernel,
            padding,
            ..ConvSpec::square(c_in, c_out, 1, 1, 0)
        };
        Self::new(spec, w)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x)?, 1)?.relu()
    }
}

fn chain(x: &Tensor, layers: &[&BasicConv2d]) -> Result<Tensor> {
    layers.iter().try_fold(x.clone(), |x, l| l.forward(&x))
}

/// `FIDInceptionA` (Mixed_5b..5d): 1x1, 5x5, double 3x3, avg-pool branches.
#[derive(Debug, Clone)]
struct InceptionA {
    b1: BasicConv2d,
    b5: [BasicConv2d; 2],
    b3: [BasicConv2d; 3],
    pool: BasicConv2d,
}

impl InceptionA {
    fn new(c: usize, pool: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b1: BasicConv2d::sq(c, 64, 1, 1, 0, &w.pp("branch1x1"))?,
            b5: [
                BasicConv2d::sq(c, 48, 1, 1, 0, &w.pp("branch5x5_1"))?,
                BasicConv2d::sq(48, 64, 5, 1, 2, &w.pp("branch5x5_2"))?,
            ],
            b3: [
                BasicConv2d::sq(c, 64, 1, 1, 0, &w.pp("branch3x3dbl_1"))?,
                BasicConv2d::sq(64, 96, 3, 1, 1, &w.pp("branch3x3dbl_2"))?,
                BasicConv2d::sq(96, 96, 3, 1, 1, &w.pp("branch3x3dbl_3"))?,
            ],
            pool: BasicConv2d::sq(c, pool, 1, 1, 0, &w.pp("branch_pool"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [a, b] = &self.b5;
        let [c, d, e] = &self.b3;
        let pool = self.pool.forward(&avg_pool_3x3_exclude_pad(x)?)?;
        Tensor::cat(
            &[self.b1.forward(x)?, chain(x, &[a, b])?, chain(x, &[c, d, e])?, pool],
            1,
        )
    }
}

/// torchvision's `InceptionB` (Mixed_6a): strided 3x3, double 3x3, max pool.
#[derive(Debug, Clone)]
struct InceptionB {
    b3: BasicConv2d,
    dbl: [BasicConv2d; 3],
}

impl InceptionB {
    fn new(c: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b3: BasicConv2d::sq(c, 384, 3, 2, 0, &w.pp("branch3x3"))?,
            dbl: [
                BasicConv2d::sq(c, 64, 1, 1, 0, &w.pp("branch3x3dbl_1"))?,
                BasicConv2d::sq(64, 96, 3, 1, 1, &w.pp("branch3x3dbl_2"))?,
                BasicConv2d::sq(96, 96, 3, 2, 0, &w.pp("branch3x3dbl_3"))?,
            ],
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [a, b, c] = &self.dbl;
        Tensor::cat(
            &[self.b3.forward(x)?, chain(x, &[a, b, c])?, max_pool_nonneg(x, 3, 2, 0)?],
            1,
        )
    }
}

/// `FIDInceptionC` (Mixed_6b..6e): 1x1, factorised 7x7, double 7x7, avg pool.
#[derive(Debug, Clone)]
struct InceptionC {
    b1: BasicConv2d,
    b7: [BasicConv2d; 3],
    dbl: [BasicConv2d; 5],
    pool: BasicConv2d,
}

impl InceptionC {
    fn new(c: usize, c7: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b1: BasicConv2d::sq(c, 192, 1, 1, 0, &w.pp("branch1x1"))?,
            b7: [
                BasicConv2d::sq(c, c7, 1, 1, 0, &w.pp("branch7x7_1"))?,
                BasicConv2d::line(c7, c7, 7, true, &w.pp("branch7x7_2"))?,
                BasicConv2d::line(c7, 192, 7, false, &w.pp("branch7x7_3"))?,
            ],
            dbl: [
                BasicConv2d::sq(c, c7, 1, 1, 0, &w.pp("branch7x7dbl_1"))?,
                BasicConv2d::line(c7, c7, 7, false, &w.pp("branch7x7dbl_2"))?,
                BasicConv2d::line(c7, c7, 7, true, &w.pp("branch7x7dbl_3"))?,
                BasicConv2d::line(c7, c7, 7, false, &w.pp("branch7x7dbl_4"))?,
                BasicConv2d::line(c7, 192, 7, true, &w.pp("branch7x7dbl_5"))?,
            ],
            pool: BasicConv2d::sq(c, 192, 1, 1, 0, &w.pp("branch_pool"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [a, b, c] = &self.b7;
        let [d, e, f, g, h] = &self.dbl;
        let pool = self.pool.forward(&avg_pool_3x3_exclude_pad(x)?)?;
        Tensor::cat(
            &[
                self.b1.forward(x)?,
                chain(x, &[a, b, c])?,
                chain(x, &[d, e, f, g, h])?,
                pool,
            ],
            1,
        )
    }
}

/// torchvision's `InceptionD` (Mixed_7a): strided 3x3, strided 7x7x3, max pool.
#[derive(Debug, Clone)]
struct InceptionD {
    b3: [BasicConv2d; 2],
    b7: [BasicConv2d; 4],
}

impl InceptionD {
    fn new(c: usize, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b3: [
                BasicConv2d::sq(c, 192, 1, 1, 0, &w.pp("branch3x3_1"))?,
                BasicConv2d::sq(192, 320, 3, 2, 0, &w.pp("branch3x3_2"))?,
            ],
            b7: [
                BasicConv2d::sq(c, 192, 1, 1, 0, &w.pp("branch7x7x3_1"))?,
                BasicConv2d::line(192, 192, 7, true, &w.pp("branch7x7x3_2"))?,
                BasicConv2d::line(192, 192, 7, false, &w.pp("branch7x7x3_3"))?,
                BasicConv2d::sq(192, 192, 3, 2, 0, &w.pp("branch7x7x3_4"))?,
            ],
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [a, b] = &self.b3;
        let [c, d, e, f] = &self.b7;
        Tensor::cat(
            &[
                chain(x, &[a, b])?,
                chain(x, &[c, d, e, f])?,
                max_pool_nonneg(x, 3, 2, 0)?,
            ],
            1,
        )
    }
}

/// `FIDInceptionE_1` (Mixed_7b, average pool) and `FIDInceptionE_2`
/// (Mixed_7c, `max_pool` true).
#[derive(Debug, Clone)]
struct InceptionE {
    b1: BasicConv2d,
    b3: BasicConv2d,
    b3ab: [BasicConv2d; 2],
    dbl: [BasicConv2d; 2],
    dblab: [BasicConv2d; 2],
    pool: BasicConv2d,
    max_pool: bool,
}

impl InceptionE {
    fn new(c: usize, max_pool: bool, w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            b1: BasicConv2d::sq(c, 320, 1, 1, 0, &w.pp("branch1x1"))?,
            b3: BasicConv2d::sq(c, 384, 1, 1, 0, &w.pp("branch3x3_1"))?,
            b3ab: [
                BasicConv2d::line(384, 384, 3, true, &w.pp("branch3x3_2a"))?,
                BasicConv2d::line(384, 384, 3, false, &w.pp("branch3x3_2b"))?,
            ],
            dbl: [
                BasicConv2d::sq(c, 448, 1, 1, 0, &w.pp("branch3x3dbl_1"))?,
                BasicConv2d::sq(448, 384, 3, 1, 1, &w.pp("branch3x3dbl_2"))?,
            ],
            dblab: [
                BasicConv2d::line(384, 384, 3, true, &w.pp("branch3x3dbl_3a"))?,
                BasicConv2d::line(384, 384, 3, false, &w.pp("branch3x3dbl_3b"))?,
            ],
            pool: BasicConv2d::sq(c, 192, 1, 1, 0, &w.pp("branch_pool"))?,
            max_pool,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b3 = self.b3.forward(x)?;
        let b3 = Tensor::cat(&[self.b3ab[0].forward(&b3)?, self.b3ab[1].forward(&b3)?], 1)?;
        let [d1, d2] = &self.dbl;
        let dbl = chain(x, &[d1, d2])?;
        let dbl = Tensor::cat(&[self.dblab[0].forward(&dbl)?, self.dblab[1].forward(&dbl)?], 1)?;
        // Mixed_7c's input is a concatenation of ReLU outputs, so zero padding is exact.
        let pooled = match self.max_pool {
            true => max_pool_nonneg(x, 3, 1, 1)?,
            false => avg_pool_3x3_exclude_pad(x)?,
        };
        Tensor::cat(&[self.b1.forward(x)?, b3, dbl, self.pool.forward(&pooled)?], 1)
    }
}

/// pytorch-fid's Inception-v3 up to the 2048-d pool features (module doc).
#[derive(Debug, Clone)]
pub struct InceptionFid {
    stem: [BasicConv2d; 5],
    mixed_5: [InceptionA; 3],
    mixed_6a: InceptionB,
    mixed_6: [InceptionC; 4],
    mixed_7a: InceptionD,
    mixed_7: [InceptionE; 2],
}

impl InceptionFid {
    /// Builds the network from pytorch-fid's tensor names under `w`.
    pub fn new(w: &Weights) -> std::result::Result<Self, NetError> {
        Ok(Self {
            stem: [
                BasicConv2d::sq(3, 32, 3, 2, 0, &w.pp("Conv2d_1a_3x3"))?,
                BasicConv2d::sq(32, 32, 3, 1, 0, &w.pp("Conv2d_2a_3x3"))?,
                BasicConv2d::sq(32, 64, 3, 1, 1, &w.pp("Conv2d_2b_3x3"))?,
                BasicConv2d::sq(64, 80, 1, 1, 0, &w.pp("Conv2d_3b_1x1"))?,
                BasicConv2d::sq(80, 192, 3, 1, 0, &w.pp("Conv2d_4a_3x3"))?,
            ],
            mixed_5: [
                InceptionA::new(192, 32, &w.pp("Mixed_5b"))?,
                InceptionA::new(256, 64, &w.pp("Mixed_5c"))?,
                InceptionA::new(288, 64, &w.pp("Mixed_5d"))?,
            ],
            mixed_6a: InceptionB::new(288, &w.pp("Mixed_6a"))?,
            mixed_6: [
                InceptionC::new(768, 128, &w.pp("Mixed_6b"))?,
                InceptionC::new(768, 160, &w.pp("Mixed_6c"))?,
                InceptionC::new(768, 160, &w.pp("Mixed_6d"))?,
                InceptionC::new(768, 192, &w.pp("Mixed_6e"))?,
            ],
            mixed_7a: InceptionD::new(768, &w.pp("Mixed_7a"))?,
            mixed_7: [
                InceptionE::new(1280, false, &w.pp("Mixed_7b"))?,
                InceptionE::new(2048, true, &w.pp("Mixed_7c"))?,
            ],
        })
    }

    /// Pool features of frames in [0, 1]: `[n, 3, h, w] -> [n, 2048]`,
    /// resized and rescaled as pytorch-fid (module doc).
    pub fn features(&self, frames: &Tensor) -> std::result::Result<Tensor, NetError> {
        self.forward(frames).map_err(NetError::forward("inception-fid"))
    }

    fn forward(&self, frames: &Tensor) -> Result<Tensor> {
        let x = frames.upsample_bilinear2d(INCEPTION_SIZE, INCEPTION_SIZE, false)?;
        let x = ((x * 2.0)? - 1.0)?;
        let [s1, s2, s3, s4, s5] = &self.stem;
        // [n, 3, 299, 299] -> [n, 64, 147, 147] -> [n, 64, 73, 73]
        let x = max_pool_nonneg(&chain(&x, &[s1, s2, s3])?, 3, 2, 0)?;
        // -> [n, 192, 71, 71] -> [n, 192, 35, 35]
        let x = max_pool_nonneg(&chain(&x, &[s4, s5])?, 3, 2, 0)?;
        let x = self.mixed_5.iter().try_fold(x, |x, m| m.forward(&x))?;
        // -> [n, 768, 17, 17]
        let x = self.mixed_6a.forward(&x)?;
        let x = self.mixed_6.iter().try_fold(x, |x, m| m.forward(&x))?;
        // -> [n, 1280, 8, 8] -> [n, 2048, 8, 8]
        let x = self.mixed_7a.forward(&x)?;
        let x = self.mixed_7.iter().try_fold(x, |x, m| m.forward(&x))?;
        global_avg_pool(&x)
    }
}
