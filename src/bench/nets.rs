//! `entprog bench nets [--weights DIR]`: throughput of the standard feature
//! networks (src/eval/nets/) on this machine, at the input sizes the
//! metrics feed them: Inception on batches of 8 frames of 256 x 256 (resized
//! to 299 inside), LPIPS on 8 pairs of 256 x 256 frames, the R3D-50 on one
//! 16 x 112 x 112 clip, the I3D on one 16 x 224 x 224 clip. Timing does not
//! depend on the weights' values: without `--weights` the networks are
//! built from [`Weights::synthetic`].

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::eval::nets::{I3d, InceptionFid, LpipsAlex, NetError, R3d50, Weights};

/// One network's measured throughput.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetSpeed {
    pub net: &'static str,
    /// What one sample is (`frame`, `pair`, `clip`).
    pub unit: &'static str,
    /// Samples per forward pass.
    pub batch: usize,
    /// Median seconds per forward pass.
    pub median_s: f64,
    /// Samples per second (`batch / median_s`).
    pub per_second: f64,
}

fn weights(dir: Option<&Path>, file: &str) -> Result<Weights, NetError> {
    match dir {
        Some(d) => Weights::open(&d.join(file)),
        None => Ok(Weights::synthetic()),
    }
}

fn time(reps: usize, mut f: impl FnMut() -> Result<(), NetError>) -> Result<f64, NetError> {
    f()?; // warm-up
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f().map(|_| start.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()?;
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Measures every network, median of `reps` passes after one warm-up.
pub fn measure(dir: Option<&Path>, reps: usize) -> Result<Vec<NetSpeed>, NetError> {
    let dev = Device::Cpu;
    let input = |shape: &[usize]| Tensor::rand(0f32, 1f32, shape, &dev).map_err(NetError::forward("bench input"));
    let speed = |net, unit, batch, median_s: f64| NetSpeed {
        net,
        unit,
        batch,
        median_s,
        per_second: batch as f64 / median_s,
    };
    let mut out = Vec::new();
    let inception = InceptionFid::new(&weights(dir, "inception-fid.safetensors")?)?;
    let frames = input(&[8, 3, 256, 256])?;
    out.push(speed(
        "inception-fid",
        "frame",
        8,
        time(reps, || inception.features(&frames).map(drop))?,
    ));
    let lpips = LpipsAlex::new(&weights(dir, "lpips-alex.safetensors")?)?;
    let other = input(&[8, 3, 256, 256])?;
    out.push(speed(
        "lpips-alex",
        "pair",
        8,
        time(reps, || lpips.distance(&frames, &other).map(drop))?,
    ));
    let r3d = R3d50::new(&weights(dir, "r3d50-kinetics.safetensors")?)?;
    let clip = input(&[1, 3, 16, 112, 112])?;
    out.push(speed(
        "r3d50-kinetics",
        "clip",
        1,
        time(reps, || r3d.features(&clip).map(drop))?,
    ));
    let i3d = I3d::new(&weights(dir, "i3d-fvd.safetensors")?)?;
    let clip = input(&[1, 3, 16, 224, 224])?;
    out.push(speed(
        "i3d-fvd",
        "clip",
        1,
        time(reps, || i3d.features(&clip).map(drop))?,
    ));
    Ok(out)
}
