//! Integration tests of the denoiser: parameter layout, gates, frozen-linear
//! savings, FLOPs and peak memory (the crate's counting allocator) against the
//! number of frozen leading blocks.

use candle_core::{Device, Tensor};
use entprog::model::{Denoiser, Gate, Inputs, ModelConfig};
use entprog::seed;
use rand_distr::{Distribution, StandardNormal};

use crate::util::{in_own_process, max_abs_diff};

/// Serialises the tests of this module (the model's tests were a binary of
/// their own and ran one at a time; the peak tests also run in their own
/// process, `util::in_own_process`).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn randn(dims: &[usize], purpose: &str) -> Tensor {
    let mut rng = seed::stream(1, purpose, 0);
    let v: Vec<f32> = (0..dims.iter().product())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

struct Data {
    x: Tensor,
    reference: Tensor,
    poses: Tensor,
    timesteps: Vec<usize>,
}

fn data(cfg: &ModelConfig, b: usize, t: usize) -> Data {
    let s = cfg.image_size;
    Data {
        x: randn(&[b, t, 3, s, s], "x"),
        reference: randn(&[b, 3, s, s], "ref"),
        poses: randn(&[b, t, 3, s, s], "pose"),
        timesteps: (0..b).map(|i| 100 + 200 * i).collect(),
    }
}

fn inputs(d: &Data) -> Inputs<'_> {
    Inputs {
        x_t: &d.x,
        timesteps: &d.timesteps,
        reference: Some(&d.reference),
        poses: Some(&d.poses),
        cond_keep: None,
    }
}

/// Perturbs every parameter so that zero-initialised paths are active.
fn randomise(model: &Denoiser) {
    for (i, p) in model.params().iter().enumerate() {
        let noise = randn(p.var.dims(), &format!("perturb{i}")).affine(0.05, 0.0).unwrap();
        p.var.set(&p.var.as_tensor().add(&noise).unwrap()).unwrap();
    }
}

mod layout {
    use super::*;

    fn listing(cfg: &ModelConfig) -> String {
        let shapes = Denoiser::shapes_of(cfg).unwrap();
        let total: usize = shapes.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        let mut out = format!("{} parameters in {} tensors\n", total, shapes.len());
        for (name, shape) in shapes {
            out.push_str(&format!("{name} {shape:?}\n"));
        }
        out
    }

    #[test]
    fn parameter_names_and_shapes_of_each_preset() {
        let _serial = serial();
        insta::assert_snapshot!("params_tiny", listing(&ModelConfig::tiny()));
        insta::assert_snapshot!("params_default", listing(&ModelConfig::default_preset()));
        insta::assert_snapshot!("params_paper", listing(&ModelConfig::paper()));
    }

    #[test]
    fn dry_listing_matches_the_built_model() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let model = cfg.build(0, &Device::Cpu).unwrap();
        assert_eq!(model.param_shapes(), Denoiser::shapes_of(&cfg).unwrap());
    }

    #[test]
    fn the_same_seed_builds_the_same_model() {
        let _serial = serial();
        let a = ModelConfig::tiny().build(3, &Device::Cpu).unwrap();
        let b = ModelConfig::tiny().build(3, &Device::Cpu).unwrap();
        let c = ModelConfig::tiny().build(4, &Device::Cpu).unwrap();
        let name = "spatial.01.attn.qkv.weight";
        let get = |m: &Denoiser| {
            m.params()
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .var
                .as_tensor()
                .clone()
        };
        assert_eq!(max_abs_diff(&get(&a), &get(&b)), 0.0);
        assert!(max_abs_diff(&get(&a), &get(&c)) > 0.0);
    }
}

mod gates {
    use super::*;

    #[test]
    fn a_skipped_block_is_the_identity() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let mut model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        let d = data(&cfg, 2, 3);
        let full = model.forward(&inputs(&d)).unwrap();
        for unit in ["spatial.01", "temporal.02", "reference.00"] {
            model.set_gate(unit, Gate::Skipped).unwrap();
            let skipped = model.forward(&inputs(&d)).unwrap();
            assert!(
                max_abs_diff(&full, &skipped) > 1e-4,
                "skipping {unit} changes the output"
            );
            // Zero the parameters that make the block's residual branch
            // non-zero: the block is then an exact identity, and running it
            // must equal skipping it.
            let residual = ["adaln", "pose_proj", "attn.out", "mlp.fc2"];
            let zeroed: Vec<_> = model
                .params()
                .iter()
                .filter(|p| p.unit == unit && residual.iter().any(|r| p.name.contains(r)))
                .map(|p| (p.var.clone(), p.var.as_tensor().copy().unwrap()))
                .collect();
            for (v, _) in &zeroed {
                v.set(&v.as_tensor().zeros_like().unwrap()).unwrap();
            }
            model.set_gate(unit, Gate::Frozen).unwrap();
            let identity = model.forward(&inputs(&d)).unwrap();
            assert_eq!(
                max_abs_diff(&identity, &skipped),
                0.0,
                "{unit}: zeroed block equals skipped block"
            );
            for (v, old) in zeroed {
                v.set(&old).unwrap();
            }
            model.set_gate(unit, Gate::Trainable).unwrap();
        }
    }

    #[test]
    fn new_conditioning_paths_start_at_the_previous_model() {
        let _serial = serial();
        // Fresh zero-initialised pose projections, reference gates and temporal
        // outputs: feeding the conditions changes nothing until they train.
        let cfg = ModelConfig::tiny();
        let model = cfg.build(0, &Device::Cpu).unwrap();
        for p in model.params() {
            let zero_init = ["pose_proj", "ref_gate", "adaln"].iter().any(|z| p.name.contains(z))
                || (p.unit.starts_with("temporal") && p.name.contains("attn.out"));
            if !zero_init {
                let noise = randn(p.var.dims(), &p.name).affine(0.05, 0.0).unwrap();
                p.var.set(&p.var.as_tensor().add(&noise).unwrap()).unwrap();
            }
        }
        // Give the spatial blocks non-zero modulation so their attention matters.
        for p in model.params().iter().filter(|p| p.name.ends_with("adaln.bias")) {
            p.var.set(&p.var.as_tensor().ones_like().unwrap()).unwrap();
        }
        let d = data(&cfg, 2, 2);
        let with = model.forward(&inputs(&d)).unwrap();
        let without = model
            .forward(&Inputs {
                reference: None,
                poses: None,
                ..inputs(&d)
            })
            .unwrap();
        assert!(
            max_abs_diff(&with, &without) < 1e-6,
            "{}",
            max_abs_diff(&with, &without)
        );
        assert!(with.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
    }

    #[test]
    fn dropping_conditions_equals_not_giving_them() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        let d = data(&cfg, 2, 2);
        let dropped = model
            .forward(&Inputs {
                cond_keep: Some(&[0.0, 0.0]),
                ..inputs(&d)
            })
            .unwrap();
        let absent = model
            .forward(&Inputs {
                reference: None,
                poses: None,
                ..inputs(&d)
            })
            .unwrap();
        let kept = model.forward(&inputs(&d)).unwrap();
        assert!(max_abs_diff(&dropped, &absent) < 1e-6);
        assert!(max_abs_diff(&dropped, &kept) > 1e-4);
    }

    #[test]
    fn frozen_weights_get_no_gradient() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let mut model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        for unit in model.gates().names() {
            model.set_gate(&unit, Gate::Frozen).unwrap();
        }
        model.set_gate("spatial.01", Gate::Trainable).unwrap();
        let d = data(&cfg, 2, 2);
        let grads = model
            .forward(&inputs(&d))
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .backward()
            .unwrap();
        for p in model.params() {
            let has = grads.get(p.var.as_tensor()).is_some();
            assert_eq!(has, p.unit == "spatial.01", "{}", p.name);
        }
    }
}

mod costs {
    use super::*;
    use entprog::model::{step_flops, Conditions};

    /// Gates with the first `k` spatial/temporal pairs and every part upstream
    /// of them frozen, the rest trainable.
    fn freeze_leading(model: &mut Denoiser, k: usize) {
        for unit in model.gates().names() {
            model.set_gate(&unit, Gate::Trainable).unwrap();
        }
        for unit in ["embed", "time", "pose", "reference.embed", "reference.00"] {
            model.set_gate(unit, Gate::Frozen).unwrap();
        }
        for i in 0..k {
            model.set_gate(&format!("spatial.{i:02}"), Gate::Frozen).unwrap();
            model.set_gate(&format!("temporal.{i:02}"), Gate::Frozen).unwrap();
        }
    }

    fn step_peak(model: &Denoiser, d: &Data) -> usize {
        let scope = entprog::memory::PeakScope::start();
        let loss = model.forward(&inputs(d)).unwrap().sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        drop(grads);
        drop(loss);
        scope.peak_above_start()
    }

    #[test]
    fn flops_and_peak_memory_fall_as_leading_blocks_freeze() {
        if !in_own_process("model::costs::flops_and_peak_memory_fall_as_leading_blocks_freeze") {
            return;
        }
        let _serial = serial();
        let cfg = ModelConfig {
            depth: 6,
            ..ModelConfig::tiny()
        };
        let mut model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        let d = data(&cfg, 4, 4);
        let given = Conditions {
            pose: true,
            reference: true,
        };
        let mut last: Option<(u64, usize)> = None;
        let mut seen = Vec::new();
        for k in 0..=cfg.depth {
            freeze_leading(&mut model, k);
            let params = model.trainable_params().iter().map(|p| p.var.elem_count()).sum();
            let flops = step_flops(&cfg, model.gates(), given, 4, 4, params).total();
            let peak = step_peak(&model, &d);
            seen.push((k, flops, peak));
            if let Some((f, p)) = last {
                assert!(flops < f, "flops must fall: {seen:?}");
                assert!(peak <= p, "peak must not rise: {seen:?}");
            }
            last = Some((flops, peak));
        }
        eprintln!("(frozen pairs, flops, peak bytes): {seen:?}");
        let (first, end) = (seen[0], seen[cfg.depth]);
        assert!(
            end.2 * 2 < first.2,
            "all blocks frozen keeps less than half the memory: {seen:?}"
        );
    }

    #[test]
    fn frozen_linear_op_saves_the_weight_gradient() {
        if !in_own_process("model::costs::frozen_linear_op_saves_the_weight_gradient") {
            return;
        }
        let _serial = serial();
        let cfg = ModelConfig {
            depth: 6,
            ..ModelConfig::tiny()
        };
        let d = data(&cfg, 4, 4);
        let build = |op: bool| {
            let mut m = ModelConfig {
                frozen_linear_op: op,
                ..cfg.clone()
            }
            .build(0, &Device::Cpu)
            .unwrap();
            // Train only the input side so backward crosses every frozen block.
            for unit in m.gates().names() {
                m.set_gate(&unit, Gate::Frozen).unwrap();
            }
            m.set_gate("embed", Gate::Trainable).unwrap();
            m
        };
        let (with_op, plain) = (build(true), build(false));
        let time = |m: &Denoiser| {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                let g = m
                    .forward(&inputs(&d))
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .mean_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                drop(g);
                best = best.min(t.elapsed().as_secs_f64());
            }
            best
        };
        let (fast, slow) = (time(&with_op), time(&plain));
        // Same values either way.
        let a = with_op.forward(&inputs(&d)).unwrap();
        let b = plain.forward(&inputs(&d)).unwrap();
        assert!(max_abs_diff(&a, &b) < 1e-5);
        // candle's matmul backward also materialises a gradient for every
        // frozen weight; the op does not, so the step needs less memory.
        let (peak_op, peak_plain) = (step_peak(&with_op, &d), step_peak(&plain, &d));
        eprintln!("frozen backward: {fast:.4}s / {peak_op} B with the op, {slow:.4}s / {peak_plain} B without");
        assert!(peak_op < peak_plain, "{peak_op} vs {peak_plain}");
    }
}

mod blocks_trait {
    use super::*;
    use entprog::model::{BlockId, Blocks};

    /// A minimal CEI written only against the trait: log of the ratio of the
    /// prediction's standard deviation with block b skipped to without.
    fn log_std_ratio<M: Blocks>(model: &mut M, input: &M::Input<'_>) -> Vec<(String, f32)> {
        let std = |t: &Tensor| {
            t.flatten_all()
                .unwrap()
                .var(0)
                .unwrap()
                .sqrt()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let base = std(&model.predict(input).unwrap());
        let mut out = Vec::new();
        for info in model.blocks() {
            let gate = model.block_gate(info.id);
            model.set_block_gate(info.id, Gate::Skipped).unwrap();
            out.push((info.id.to_string(), (std(&model.predict(input).unwrap()) / base).ln()));
            model.set_block_gate(info.id, gate).unwrap();
        }
        out
    }

    #[test]
    fn the_trait_is_enough_to_score_blocks() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let mut model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        for p in model
            .params()
            .iter()
            .filter(|p| p.name.starts_with("temporal.01.attn.out"))
        {
            p.var.set(&p.var.as_tensor().zeros_like().unwrap()).unwrap();
        }
        let infos = model.blocks();
        assert_eq!(infos.len(), cfg.reference_depth + 2 * cfg.depth);
        assert_eq!(infos[0].id.to_string(), "reference.00");
        assert_eq!(infos[1].id.to_string(), "spatial.00");
        assert!(infos.iter().all(|i| i.params > 0 && i.forward_flops > 0));
        let d = data(&cfg, 2, 2);
        let scores = log_std_ratio(&mut model, &inputs(&d));
        for (id, s) in &scores {
            assert!(s.is_finite(), "{id}");
            assert_eq!(*s == 0.0, id == "temporal.01", "{id}: {s}");
        }
        assert!(
            model.gates().iter().all(|(_, g)| g == Gate::Trainable),
            "gates restored"
        );
    }

    #[test]
    fn prefix_reuse_predicts_exactly_what_a_full_rerun_does() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let mut model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        model.set_gate("spatial.02", Gate::Skipped).unwrap();
        model.set_gate("temporal.00", Gate::Frozen).unwrap();
        let d = data(&cfg, 2, 2);
        let input = inputs(&d);
        // Out of forward order, with a repeat and an already-skipped block.
        let ids: Vec<BlockId> = ["temporal.03", "reference.00", "spatial.00", "spatial.02", "temporal.03"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let fast = model.predict_each_skipped(&input, &ids).unwrap();
        assert_eq!(fast.len(), ids.len());
        for (id, fast) in ids.iter().zip(&fast) {
            let gate = model.block_gate(*id);
            model.set_block_gate(*id, Gate::Skipped).unwrap();
            let slow = model.predict(&input).unwrap();
            model.set_block_gate(*id, gate).unwrap();
            let diff = (fast - &slow)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(diff, 0.0, "{id}: prefix reuse is bit-identical");
        }
        assert_eq!(model.gates().get("spatial.02"), Gate::Skipped, "gates restored");
        assert_eq!(model.gates().get("reference.00"), Gate::Trainable);
        // The baseline from the same pass is the plain prediction, and the
        // skipped ones are unchanged by asking for it.
        let (base, with) = model.predict_with_each_skipped(&input, &ids).unwrap();
        let same = |a: &Tensor, b: &Tensor| {
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap() == b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert!(same(&base, &model.predict(&input).unwrap()), "baseline bit-identical");
        assert!(with.iter().zip(&fast).all(|(a, b)| same(a, b)));
    }
}

mod sampling {
    use super::*;
    use entprog::diffusion::{DiffusionConfig, SamplerKind};
    use entprog::model::sample_clips;

    // Sampler correctness (exact recovery of a point mass with the exact
    // denoiser) is tested in `diffusion::sampler`; this checks the model glue.
    #[test]
    fn sampling_the_model_is_seeded_and_guidance_uses_the_conditions() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let model = cfg.build(0, &Device::Cpu).unwrap();
        randomise(&model);
        let d = data(&cfg, 1, 2);
        let dims = [1, 2, 3, cfg.image_size, cfg.image_size];
        let schedule = DiffusionConfig::default().build();
        let run = |guidance: f64, seed: u64, sampler: SamplerKind| {
            let diff = DiffusionConfig {
                sample_steps: 5,
                guidance,
                sampler,
                ..DiffusionConfig::default()
            };
            sample_clips(
                &model,
                Some(&d.reference),
                Some(&d.poses),
                &dims,
                &diff,
                &schedule,
                seed,
            )
            .unwrap()
        };
        for sampler in [SamplerKind::Ddpm, SamplerKind::Ddim] {
            let a = run(4.0, 1, sampler);
            assert_eq!(a.dims(), &dims);
            assert!(a
                .abs()
                .unwrap()
                .max_keepdim(0)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite()));
            assert_eq!(max_abs_diff(&a, &run(4.0, 1, sampler)), 0.0, "same seed, same clip");
            assert!(
                max_abs_diff(&a, &run(4.0, 2, sampler)) > 0.0,
                "another seed, another clip"
            );
            assert!(
                max_abs_diff(&a, &run(1.0, 1, sampler)) > 1e-4,
                "guidance changes the clip"
            );
        }
    }
}

mod kernels {
    use super::*;
    use entprog::model::ops::Kernels;

    #[test]
    fn fused_and_plain_kernels_give_the_same_model() {
        let _serial = serial();
        let d = data(&ModelConfig::tiny(), 2, 3);
        let run = |kernels: Kernels| {
            let model = ModelConfig {
                kernels,
                ..ModelConfig::tiny()
            }
            .build(0, &Device::Cpu)
            .unwrap();
            randomise(&model);
            let out = model.forward(&inputs(&d)).unwrap();
            let grads = out.sqr().unwrap().mean_all().unwrap().backward().unwrap();
            let g: Vec<Tensor> = model
                .params()
                .iter()
                .map(|p| grads.get(p.var.as_tensor()).unwrap().clone())
                .collect();
            (out, g)
        };
        let (fused, gf) = run(Kernels::Fused);
        let (plain, gp) = run(Kernels::Plain);
        assert!(max_abs_diff(&fused, &plain) < 1e-4, "{}", max_abs_diff(&fused, &plain));
        for (a, b) in gf.iter().zip(&gp) {
            let scale = b
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                .max(1e-3);
            assert!(
                max_abs_diff(a, b) / scale < 1e-3,
                "{} vs scale {scale}",
                max_abs_diff(a, b)
            );
        }
    }
}

mod tape {
    use super::*;
    use entprog::memory::PeakScope;
    use entprog::model::ops::Kernels;
    use entprog::model::Tape;

    fn loss(pred: &Tensor) -> Tensor {
        pred.sqr().unwrap().mean_all().unwrap()
    }

    /// Every parameter's gradient (None where it has none) from the whole
    /// graph's backward and from the tape's.
    #[allow(clippy::type_complexity)]
    fn both(model: &Denoiser, inp: &Inputs) -> (Vec<Option<Tensor>>, Vec<Option<Tensor>>, usize) {
        let whole = loss(&model.forward(inp).unwrap()).backward().unwrap();
        let mut tape = Tape::new();
        let pred = model.forward_taped(inp, &mut tape).unwrap();
        let cuts = tape.cuts();
        let taped = tape.backward(loss(&pred)).unwrap();
        let of = |g: &candle_core::backprop::GradStore| -> Vec<Option<Tensor>> {
            model
                .params()
                .iter()
                .map(|p| g.get(p.var.as_tensor()).cloned())
                .collect()
        };
        (of(&whole), of(&taped), cuts)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// The tape gives bit-identical gradients for the same parameters: each
    /// tensor that feeds several segments (the time embedding, pose and
    /// reference tokens) sums its gradients in the order candle's own walk
    /// does, latest consumer first.
    #[test]
    fn taped_backward_gives_the_whole_graphs_gradients_bit_for_bit() {
        let _serial = serial();
        let cfg = ModelConfig::tiny();
        let d = data(&cfg, 2, 3);
        let keep = [1.0, 0.0];
        let inp = Inputs {
            cond_keep: Some(&keep),
            ..inputs(&d)
        };
        for kernels in [Kernels::Fused, Kernels::Plain] {
            let mut model = ModelConfig { kernels, ..cfg.clone() }.build(0, &Device::Cpu).unwrap();
            randomise(&model);
            let last = cfg.depth - 1;
            let patterns: Vec<(&str, Vec<(String, Gate)>)> = vec![
                ("all trainable", vec![]),
                (
                    "last block and final trainable",
                    model
                        .gates()
                        .names()
                        .into_iter()
                        .map(|u| {
                            let keep = u == "final" || u.ends_with(&format!(".{last:02}")) && !u.starts_with("ref");
                            let gate = if keep { Gate::Trainable } else { Gate::Frozen };
                            (u, gate)
                        })
                        .collect(),
                ),
                (
                    "a skipped middle block",
                    vec![
                        ("spatial.01".into(), Gate::Skipped),
                        ("temporal.01".into(), Gate::Skipped),
                    ],
                ),
                (
                    "only the pose guider trains",
                    model
                        .gates()
                        .names()
                        .into_iter()
                        .map(|u| {
                            let gate = if u == "pose" { Gate::Trainable } else { Gate::Frozen };
                            (u, gate)
                        })
                        .collect(),
                ),
            ];
            for (name, gates) in patterns {
                let mut g = entprog::model::Gates::all(model.gates().names(), Gate::Trainable);
                for (u, gate) in gates {
                    g.set(&u, gate).unwrap();
                }
                model.set_gates(g).unwrap();
                let (whole, taped, cuts) = both(&model, &inp);
                assert!(cuts > 0, "{kernels:?} {name}: nothing was cut");
                let mut with_grad = 0;
                for (p, (a, b)) in model.params().iter().zip(whole.iter().zip(&taped)) {
                    match (a, b) {
                        (None, None) => {}
                        (Some(a), Some(b)) => {
                            with_grad += 1;
                            assert_eq!(values(a), values(b), "{kernels:?} {name}: {}", p.name);
                        }
                        _ => panic!("{kernels:?} {name}: {} has a gradient in only one backward", p.name),
                    }
                }
                assert!(with_grad > 0, "{kernels:?} {name}: no parameter got a gradient");
            }
        }
    }

    /// The point of the tape: the peak of a default-size step falls, because
    /// each block's activations go as soon as its gradients are through.
    #[test]
    fn taped_backward_lowers_the_peak_of_a_step() {
        if !in_own_process("model::tape::taped_backward_lowers_the_peak_of_a_step") {
            return;
        }
        let _serial = serial();
        let cfg = ModelConfig::default_preset();
        let model = cfg.build(0, &Device::Cpu).unwrap();
        let d = data(&cfg, 8, 1);
        let peak = |taped: bool| {
            let scope = PeakScope::start();
            let grads = if taped {
                let mut tape = Tape::new();
                let pred = model.forward_taped(&inputs(&d), &mut tape).unwrap();
                tape.backward(loss(&pred)).unwrap()
            } else {
                loss(&model.forward(&inputs(&d)).unwrap()).backward().unwrap()
            };
            drop(grads);
            scope.peak_above_start()
        };
        let (whole, taped) = (peak(false), peak(true));
        assert!(
            (taped as f64) < 0.93 * whole as f64,
            "taped peak {taped} B against {whole} B for the whole graph"
        );
    }
}
