//! The fused CPU kernels against the plain candle composition they replace:
//! values and gradients on seeded random inputs, within stated tolerances
//! (f32 accumulation order differs, and exp/tanh are polynomial
//! approximations accurate to ~1e-7 relative).

use candle_core::{DType, Device, Tensor, Var, D};
use entprog::kernels;
use entprog::seed::stream;
use rand_distr::{Distribution, StandardNormal};

use crate::util::max_abs_diff;

fn randn(shape: &[usize], purpose: &str) -> Tensor {
    let mut rng = stream(11, purpose, 0);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor) -> f32 {
    a.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Asserts |a - b| <= tol * max(1, max|b|).
fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    let diff = max_abs_diff(a, b);
    let scale = max_abs(b).max(1.0);
    assert!(diff <= tol * scale, "{what}: max |diff| {diff} > {tol} * {scale}");
}

/// Runs `f` on fresh variables of `inputs` and returns the output and the
/// gradients of sum(out * w) for a fixed random w.
fn value_and_grads(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts);
    let w = randn(out.dims(), "weights");
    let grads = out.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = ts
        .iter()
        .map(|t| grads.get(t).expect("every input gets a gradient").clone())
        .collect();
    (out, g)
}

fn compare(name: &str, inputs: &[Tensor], fused: impl Fn(&[Tensor]) -> Tensor, plain: impl Fn(&[Tensor]) -> Tensor) {
    let (a, ga) = value_and_grads(inputs, fused);
    let (b, gb) = value_and_grads(inputs, plain);
    assert_close(&a, &b, 1e-5, &format!("{name} value"));
    for (i, (x, y)) in ga.iter().zip(&gb).enumerate() {
        assert_close(x, y, 1e-4, &format!("{name} gradient of input {i}"));
    }
}

#[test]
fn gelu_matches_candle_tanh_gelu() {
    let x = randn(&[3, 17, 64], "x").affine(3.0, 0.0).unwrap();
    compare(
        "gelu",
        &[x],
        |t| kernels::gelu(&t[0]).unwrap(),
        |t| t[0].gelu().unwrap(),
    );
}

#[test]
fn gelu_erf_matches_candle_gelu_erf() {
    let x = randn(&[3, 17, 64], "x").affine(3.0, 0.0).unwrap();
    compare(
        "gelu_erf",
        &[x],
        |t| kernels::gelu_erf(&t[0]).unwrap(),
        |t| t[0].gelu_erf().unwrap(),
    );
}

fn plain_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    // [b, n, h, d] -> [b, h, n, d]
    let (q, k, v) = (
        q.transpose(1, 2).unwrap().contiguous().unwrap(),
        k.transpose(1, 2).unwrap().contiguous().unwrap(),
        v.transpose(1, 2).unwrap().contiguous().unwrap(),
    );
    let scale = 1.0 / (q.dim(D::Minus1).unwrap() as f64).sqrt();
    let s = q.matmul(&k.t().unwrap()).unwrap().affine(scale, 0.0).unwrap();
    // Not `softmax_last_dim`: in candle-nn 0.11 that op has no backward, and
    // backprop silently drops the gradients of q and k through it.
    let p = candle_nn::ops::softmax(&s, D::Minus1).unwrap();
    p.matmul(&v).unwrap().transpose(1, 2).unwrap()
}

#[test]
fn attention_matches_softmax_composition_with_more_keys_than_queries() {
    let q = randn(&[2, 12, 4, 16], "q");
    let k = randn(&[2, 20, 4, 16], "k").affine(2.0, 0.0).unwrap();
    let v = randn(&[2, 20, 4, 16], "v");
    compare(
        "attention",
        &[q, k, v],
        |t| kernels::attention(&t[0], &t[1], &t[2]).unwrap(),
        |t| plain_attention(&t[0], &t[1], &t[2]),
    );
}

#[test]
fn attention_handles_odd_head_width() {
    let q = randn(&[1, 5, 3, 7], "q");
    let k = randn(&[1, 5, 3, 7], "k");
    let v = randn(&[1, 5, 3, 7], "v");
    compare(
        "attention d=7",
        &[q, k, v],
        |t| kernels::attention(&t[0], &t[1], &t[2]).unwrap(),
        |t| plain_attention(&t[0], &t[1], &t[2]),
    );
}

/// q, k, v `[b, n, h, d]` of a packed `[b, n, 3 h d]` with `h` heads.
fn unpack(qkv: &Tensor, h: usize) -> (Tensor, Tensor, Tensor) {
    let (b, n, w) = qkv.dims3().unwrap();
    let qkv = qkv.reshape((b, n, 3, h, w / (3 * h))).unwrap();
    let part = |i| qkv.narrow(2, i, 1).unwrap().squeeze(2).unwrap();
    (part(0), part(1), part(2))
}

/// `[b, n, h, d]` -> `[b, n, h d]`.
fn merge(o: Tensor) -> Tensor {
    let (b, n, h, d) = o.dims4().unwrap();
    o.reshape((b, n, h * d)).unwrap()
}

#[test]
fn packed_self_attention_matches_composition() {
    let qkv = randn(&[3, 10, 3 * 2 * 8], "qkv").affine(1.5, 0.0).unwrap();
    compare(
        "packed self-attention",
        &[qkv],
        |t| kernels::self_attention_packed(&t[0], 2).unwrap(),
        |t| {
            let (q, k, v) = unpack(&t[0], 2);
            merge(plain_attention(&q, &k, &v))
        },
    );
}

#[test]
fn packed_self_attention_handles_long_and_one_token_sequences() {
    // 70 queries: two row blocks (64 + 6); one token: softmax of a single
    // score (temporal attention of one-frame clips).
    for (shape, h, what) in [
        ([2, 70, 3 * 2 * 16], 2, "70 tokens"),
        ([5, 1, 3 * 4 * 16], 4, "1 token"),
    ] {
        let qkv = randn(&shape, what);
        compare(
            what,
            &[qkv],
            |t| kernels::self_attention_packed(&t[0], h).unwrap(),
            |t| {
                let (q, k, v) = unpack(&t[0], h);
                merge(plain_attention(&q, &k, &v))
            },
        );
    }
}

/// `[c, ...]` -> `[c t, ...]`: each clip's rows repeated for its `t` frames.
fn repeat_clips(x: &Tensor, t: usize) -> Tensor {
    let mut dims = x.dims().to_vec();
    dims.insert(1, t);
    let mut flat = dims[1..].to_vec();
    flat[0] = dims[0] * t;
    x.unsqueeze(1)
        .unwrap()
        .broadcast_as(dims)
        .unwrap()
        .reshape(flat)
        .unwrap()
}

#[test]
fn packed_cross_attention_shares_each_clips_keys_across_its_frames() {
    // 2 clips x 3 frames of 6 queries against 2 x 9 reference tokens.
    let qkv = randn(&[6, 6, 3 * 2 * 8], "qkv");
    let kv = randn(&[2, 9, 3 * 2 * 8], "kv").affine(2.0, 0.0).unwrap();
    compare(
        "packed cross-attention",
        &[qkv, kv],
        |t| kernels::cross_attention_packed(&t[0], &t[1], 2).unwrap(),
        |t| {
            let (q, _, _) = unpack(&t[0], 2);
            let (_, k, v) = unpack(&t[1], 2);
            merge(plain_attention(&q, &repeat_clips(&k, 3), &repeat_clips(&v, 3)))
        },
    );
}

#[test]
fn self_and_reference_attention_matches_the_sum_of_its_parts() {
    // 2 clips x 3 frames of 7 queries; 66 reference tokens (two key blocks
    // of the GEMM path); per-frame scales, one of them zero (a dropped clip).
    let qkv = randn(&[6, 7, 3 * 2 * 16], "qkv");
    let kv = randn(&[2, 66, 3 * 2 * 16], "kv");
    let scale = Tensor::new(&[0.5f32, -1.0, 2.0, 0.0, 0.3, 1.0], &Device::Cpu).unwrap();
    compare(
        "self and reference attention",
        &[qkv, kv, scale],
        |t| kernels::self_and_reference_attention_packed(&t[0], &t[1], &t[2], 2).unwrap(),
        |t| {
            let (q, k, v) = unpack(&t[0], 2);
            let (_, kr, vr) = unpack(&t[1], 2);
            let rep = |x: &Tensor| repeat_clips(x, 3);
            let own = plain_attention(&q, &k, &v);
            let other = plain_attention(&q, &rep(&kr), &rep(&vr));
            let s = t[2].reshape((6, 1, 1, 1)).unwrap();
            merge(own.add(&other.broadcast_mul(&s).unwrap()).unwrap())
        },
    );
}

#[test]
fn linear_matches_matmul_plus_bias() {
    let x = randn(&[4, 70, 48], "x");
    let w = randn(&[96, 48], "w").affine(0.2, 0.0).unwrap();
    let b = randn(&[96], "b");
    compare(
        "linear",
        &[x.clone(), w.clone(), b],
        |t| kernels::linear(&t[0], &t[1], Some(&t[2])).unwrap(),
        |t| {
            t[0].broadcast_matmul(&t[1].t().unwrap())
                .unwrap()
                .broadcast_add(&t[2])
                .unwrap()
        },
    );
    compare(
        "linear without bias",
        &[x, w],
        |t| kernels::linear(&t[0], &t[1], None).unwrap(),
        |t| t[0].broadcast_matmul(&t[1].t().unwrap()).unwrap(),
    );
}

#[test]
fn gelu_linear_and_linear_residual_match_their_compositions() {
    let x = randn(&[3, 70, 48], "x").affine(2.0, 0.0).unwrap();
    let w = randn(&[32, 48], "w").affine(0.2, 0.0).unwrap();
    let b = randn(&[32], "b");
    let r = randn(&[3, 70, 32], "r");
    let affine = |t: &[Tensor]| {
        t[0].gelu_erf()
            .unwrap()
            .broadcast_matmul(&t[1].t().unwrap())
            .unwrap()
            .broadcast_add(&t[2])
            .unwrap()
    };
    compare(
        "gelu linear",
        &[x.clone(), w.clone(), b],
        |t| kernels::gelu_linear(&t[0], &t[1], Some(&t[2])).unwrap(),
        affine,
    );
    compare(
        "linear residual",
        &[x, w, r],
        |t| kernels::linear_residual(&t[0], &t[1], &t[2]).unwrap(),
        |t| (&t[2] + t[0].broadcast_matmul(&t[1].t().unwrap()).unwrap()).unwrap(),
    );
}

#[test]
fn linear_with_a_detached_weight_returns_only_the_input_gradient() {
    let x = Var::from_tensor(&randn(&[5, 8], "x")).unwrap();
    let (w, b) = (randn(&[3, 8], "w"), randn(&[3], "b"));
    let y = kernels::linear(x.as_tensor(), &w, Some(&b)).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(x.as_tensor()).is_some());
    assert!(grads.get(&w).is_none() && grads.get(&b).is_none());
}

fn plain_modulated_norm(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Tensor {
    let mean = x.mean_keepdim(D::Minus1).unwrap();
    let xc = x.broadcast_sub(&mean).unwrap();
    let var = xc.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let xh = xc.broadcast_div(&(var + 1e-6).unwrap().sqrt().unwrap()).unwrap();
    let scale1 = (scale.unsqueeze(1).unwrap() + 1.0).unwrap();
    xh.broadcast_mul(&scale1)
        .unwrap()
        .broadcast_add(&shift.unsqueeze(1).unwrap())
        .unwrap()
}

#[test]
fn modulated_layer_norm_matches_composition() {
    let x = randn(&[3, 10, 48], "x").affine(2.0, 0.5).unwrap();
    let shift = randn(&[3, 48], "shift");
    let scale = randn(&[3, 48], "scale").affine(0.3, 0.0).unwrap();
    compare(
        "modulated layer norm",
        &[x, shift, scale],
        |t| kernels::modulated_layer_norm(&t[0], &t[1], &t[2], 1e-6).unwrap(),
        |t| plain_modulated_norm(&t[0], &t[1], &t[2]),
    );
}

#[test]
fn gated_residual_matches_composition() {
    let x = randn(&[2, 9, 32], "x");
    let y = randn(&[2, 9, 32], "y");
    let gate = randn(&[2, 32], "gate");
    compare(
        "gated residual",
        &[x, y, gate],
        |t| kernels::gated_residual(&t[0], &t[1], &t[2]).unwrap(),
        |t| {
            t[0].broadcast_add(&t[1].broadcast_mul(&t[2].unsqueeze(1).unwrap()).unwrap())
                .unwrap()
        },
    );
}

#[test]
fn add_matches_candle_add() {
    let x = randn(&[2, 70_000], "x");
    let y = randn(&[2, 70_000], "y");
    compare(
        "add",
        &[x, y],
        |t| kernels::add(&t[0], &t[1]).unwrap(),
        |t| (&t[0] + &t[1]).unwrap(),
    );
}

#[test]
fn fused_kernels_repeat_bit_for_bit_at_threaded_sizes() {
    // Sizes of the `default` preset's step, where the GEMM and the kernels
    // split work across threads: two runs give identical bits.
    let run = || {
        let x = randn(&[16, 64, 64], "x");
        let w = randn(&[192, 64], "w");
        let b = randn(&[192], "b");
        let kv = randn(&[16, 64, 192], "kv");
        let scale = randn(&[16], "scale");
        value_and_grads(&[x, w, b, kv, scale], |t| {
            let qkv = kernels::linear(&t[0], &t[1], Some(&t[2])).unwrap();
            kernels::self_and_reference_attention_packed(&qkv, &t[3], &t[4], 4).unwrap()
        })
    };
    let bits = |(o, g): (Tensor, Vec<Tensor>)| -> Vec<u32> {
        std::iter::once(o)
            .chain(g)
            .flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .map(f32::to_bits)
            .collect()
    };
    assert_eq!(bits(run()), bits(run()));
}

#[test]
fn inputs_that_track_no_gradient_get_none() {
    // A detached (frozen-prefix) input next to a trainable one: only the
    // trainable one receives a gradient.
    let x = randn(&[2, 6, 16], "x"); // plain tensor: no gradient wanted
    let shift = Var::from_tensor(&randn(&[2, 16], "shift")).unwrap();
    let scale = Var::from_tensor(&randn(&[2, 16], "scale")).unwrap();
    let y = kernels::modulated_layer_norm(&x, shift.as_tensor(), scale.as_tensor(), 1e-6).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none());
    assert!(grads.get(shift.as_tensor()).is_some());
    let q = randn(&[1, 4, 2, 8], "q");
    let k = Var::from_tensor(&randn(&[1, 4, 2, 8], "k")).unwrap();
    let o = kernels::attention(&q, k.as_tensor(), &q).unwrap();
    let grads = o.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&q).is_none());
    assert_eq!(grads.get(k.as_tensor()).unwrap().dtype(), DType::F32);
}

#[test]
fn candle_softmax_last_dim_drops_gradients() {
    // Documents the trap the fused attention avoids: q gets no gradient
    // through candle-nn's softmax_last_dim (no error either).
    let q = Var::from_tensor(&randn(&[2, 3], "q")).unwrap();
    let p = candle_nn::ops::softmax_last_dim(q.as_tensor()).unwrap();
    let w = randn(&[2, 3], "w");
    let grads = p.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(grads.get(q.as_tensor()).is_none());
}

#[test]
fn fused_adamw_matches_the_composition_over_several_steps() {
    use entprog::model::Param;
    use entprog::train::adamw::{AdamW, AdamWParams};
    let hp = AdamWParams {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        gate_lr_scale: 1.0,
    };
    let init = randn(&[3, 70_000], "w");
    let run = |fused: bool| {
        let p = Param {
            name: "w".into(),
            unit: "u".into(),
            var: Var::from_tensor(&init).unwrap(),
        };
        let mut opt = AdamW::new(hp).with_fused(fused);
        for step in 0..3 {
            let loss = p
                .var
                .as_tensor()
                .sqr()
                .unwrap()
                .mul(&randn(&[3, 70_000], &format!("g{step}")))
                .unwrap();
            let grads = loss.sum_all().unwrap().backward().unwrap();
            opt.step(&[&p], &grads, 1e-2, if step == 1 { 0.5 } else { 1.0 })
                .unwrap();
        }
        (p.var.as_tensor().clone(), opt.moments("w").unwrap().v.clone())
    };
    let ((wf, vf), (wp, vp)) = (run(true), run(false));
    assert_close(&wf, &wp, 1e-6, "weights after 3 steps");
    assert_close(&vf, &vp, 1e-6, "second moments after 3 steps");
}
