//! Training the offline dance networks, deterministically: weights start
//! from the named streams `dance-<net>-init/<tensor>` (He-uniform, biases
//! zero; candle-nn's own initialisers draw from an unseeded generator, so
//! every tensor is overwritten), batches from `dance-<net>-data`, clip
//! shuffles from `dance-clip-shuffle`; candle-nn's AdamW at a constant
//! learning rate. Two trainings with the same config and thread count give
//! bit-identical weights (`tests/dance.rs`).
//!
//! Objectives (documented in `config.rs`): the frame encoder regresses the
//! keypoints of visible points, classifies their visibility and the video;
//! the clip encoder classifies the video, tells in-order clips from
//! shuffled ones and regresses the keypoints' displacement.

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::Rng;

use super::clip_encoder::ClipEncoder;
use super::config::{ClipEncoderConfig, FrameEncoderConfig};
use super::data::{permutation, DanceFrames};
use super::frame_encoder::FrameEncoder;
use crate::seed::stream;

/// One training step's losses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetStep {
    pub step: u64,
    /// The weighted sum that was minimised.
    pub loss: f64,
    /// The three parts, unweighted (frame: keypoints, visibility, identity;
    /// clip: identity, order, motion).
    pub parts: [f64; 3],
    pub wall_s: f64,
}

/// Overwrites every variable of `vm` from named streams: weights
/// He-uniform over their fan-in (all dimensions but the first), 1-D
/// tensors (biases) and the tensors under the `zero` prefixes zero. Names
/// are visited in sorted order.
pub fn seeded_init(vm: &VarMap, seed: u64, net: &str, zero: &[&str]) -> Result<()> {
    let data = vm.data().lock().expect("var map lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values = if dims.len() < 2 || zero.iter().any(|z| name.starts_with(z)) {
            vec![0f32; n]
        } else {
            let fan_in: usize = dims[1..].iter().product();
            let bound = (6.0 / fan_in as f64).sqrt() as f32;
            let mut rng = stream(seed, &format!("dance-{net}-init/{name}"), 0);
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

/// Numerically stable binary cross-entropy with logits, masked mean.
fn bce_logits(z: &Tensor, target: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    // softplus(z) - target * z = relu(z) + log(1 + exp(-|z|)) - target * z
    let sp = (z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    let l = (sp - (target * z)?)?;
    match mask {
        Some(m) => (l * m)?.sum_all()? / (m.sum_all()?.to_scalar::<f32>()? as f64).max(1.0),
        None => l.mean_all(),
    }
}

/// Mean squared error of (x, y) pairs `[.., 18, 2]` over the points `mask` `[.., 18]` keeps.
fn masked_mse(pred: &Tensor, target: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let se = (pred - target)?.sqr()?.sum(D::Minus1)?;
    (se * mask)?.sum_all()? / (mask.sum_all()?.to_scalar::<f32>()? as f64).max(1.0)
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_scalar::<f32>()? as f64)
}

fn optimizer(vm: &VarMap, lr: f64) -> Result<AdamW> {
    AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
}

/// Trains the frame encoder on `data` (a TRAIN split); `on_step` sees every step.
pub fn train_frame_encoder(
    cfg: &FrameEncoderConfig,
    data: &DanceFrames,
    seed: u64,
    on_step: &mut dyn FnMut(&NetStep),
) -> std::result::Result<(VarMap, FrameEncoder), super::DanceError> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let enc = FrameEncoder::new(cfg, data.classes(), VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    seeded_init(&vm, seed, "frame", &[])?;
    let mut opt = optimizer(&vm, cfg.lr)?;
    let items = data.items(1);
    let (h, w) = data.resolution();
    for step in 0..cfg.steps {
        let start = std::time::Instant::now();
        let picks = DanceFrames::pick(&items, seed, "dance-frame-data", step, cfg.batch_size);
        let b = data.batch(&picks, 1, &[], &dev)?;
        let n = picks.len();
        let out = enc.forward(&b.pixels.reshape((n, 3, h, w))?)?;
        let visible = b.visible.squeeze(1)?;
        let l_kp = masked_mse(&out.keypoints, &b.keypoints.squeeze(1)?, &visible)?;
        let l_vis = bce_logits(&out.visibility, &visible, None)?;
        let l_id = candle_nn::loss::cross_entropy(&out.identity, &b.class)?;
        let loss =
            ((&l_kp * cfg.weight_keypoints)? + (&l_vis * cfg.weight_visibility)? + (&l_id * cfg.weight_identity)?)?;
        opt.backward_step(&loss)?;
        on_step(&NetStep {
            step,
            loss: scalar(&loss)?,
            parts: [scalar(&l_kp)?, scalar(&l_vis)?, scalar(&l_id)?],
            wall_s: start.elapsed().as_secs_f64(),
        });
    }
    Ok((vm, enc))
}

/// A non-identity order of `t >= 2` frames from stream `dance-clip-shuffle`, index `pos`.
pub fn shuffled_order(t: usize, seed: u64, pos: u64) -> Vec<usize> {
    for attempt in 0.. {
        let p = permutation(t, seed, "dance-clip-shuffle", pos * 64 + attempt);
        if p.iter().enumerate().any(|(i, &j)| i != j) || t < 2 || attempt == 63 {
            return p;
        }
    }
    unreachable!("the loop returns by attempt 63")
}

/// Trains the clip encoder on `data` (a TRAIN split); in every batch the
/// second half of the clips is shuffled in time.
pub fn train_clip_encoder(
    cfg: &ClipEncoderConfig,
    data: &DanceFrames,
    seed: u64,
    on_step: &mut dyn FnMut(&NetStep),
) -> std::result::Result<(VarMap, ClipEncoder), super::DanceError> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let enc = ClipEncoder::new(cfg, data.classes(), VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    // A zero motion head: a random one starts with displacements far larger
    // than any in the data, whose loss (x weight_motion) then drives the
    // features to zero, where the ReLUs stay dead (measured: identity and
    // order never left chance).
    seeded_init(&vm, seed, "clip", &["motion."])?;
    let mut opt = optimizer(&vm, cfg.lr)?;
    let t = cfg.clip_frames;
    let items = data.items(t);
    if items.is_empty() {
        return Err(super::DanceError::Data(crate::data::DataError::Loader(format!(
            "clip.clip_frames = {t}: no training video is that long"
        ))));
    }
    let half = cfg.batch_size / 2;
    for step in 0..cfg.steps {
        let start = std::time::Instant::now();
        let picks = DanceFrames::pick(&items, seed, "dance-clip-data", step, cfg.batch_size);
        let order: Vec<Option<Vec<usize>>> = (0..picks.len())
            .map(|k| (k >= half).then(|| shuffled_order(t, seed, step * cfg.batch_size as u64 + k as u64)))
            .collect();
        let b = data.batch(&picks, t, &order, &dev)?;
        let out = enc.forward(&b.pixels)?;
        let in_order: Vec<f32> = (0..picks.len()).map(|k| if k < half { 1.0 } else { 0.0 }).collect();
        let in_order = Tensor::from_vec(in_order, picks.len(), &dev)?;
        // Displacement from the first to the last frame shown, where both are visible.
        let first = b.keypoints.narrow(1, 0, 1)?.squeeze(1)?;
        let last = b.keypoints.narrow(1, t - 1, 1)?.squeeze(1)?;
        let both = (b.visible.narrow(1, 0, 1)?.squeeze(1)? * b.visible.narrow(1, t - 1, 1)?.squeeze(1)?)?;
        let l_id = candle_nn::loss::cross_entropy(&out.identity, &b.class)?;
        let l_order = bce_logits(&out.order, &in_order, None)?;
        let l_motion = masked_mse(&out.motion, &(last - first)?, &both)?;
        let loss =
            ((&l_id * cfg.weight_identity)? + (&l_order * cfg.weight_order)? + (&l_motion * cfg.weight_motion)?)?;
        opt.backward_step(&loss)?;
        on_step(&NetStep {
            step,
            loss: scalar(&loss)?,
            parts: [scalar(&l_id)?, scalar(&l_order)?, scalar(&l_motion)?],
            wall_s: start.elapsed().as_secs_f64(),
        });
    }
    Ok((vm, enc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_orders_are_permutations_other_than_the_identity() {
        for pos in 0..50 {
            let p = shuffled_order(4, 9, pos);
            let mut s = p.clone();
            s.sort();
            assert_eq!(s, [0, 1, 2, 3]);
            assert_ne!(p, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn seeded_init_is_a_pure_function_of_the_seed() {
        let dev = Device::Cpu;
        let weights = |seed| {
            let vm = VarMap::new();
            let _ = FrameEncoder::new(
                &FrameEncoderConfig::default(),
                3,
                VarBuilder::from_varmap(&vm, DType::F32, &dev),
            )
            .unwrap();
            seeded_init(&vm, seed, "frame", &[]).unwrap();
            let data = vm.data().lock().unwrap();
            data["conv1.weight"].flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(weights(1), weights(1));
        assert_ne!(weights(1), weights(2));
    }
}
