//! Integration tests of the trainer: overfitting, resume, NaN stop, frozen
//! blocks, and stage hand-over.

use std::path::Path;

use candle_core::{Device, Tensor};
use entprog::diffusion::{DiffusionConfig, Prediction};
use entprog::experiment::Experiment;
use entprog::model::{Gate, ModelConfig};
use entprog::results::checkpoint;
use entprog::seed;
use entprog::train::{
    run_experiment, GatePlan, RunError, StepRecord, TrainBatch, TrainConfig, TrainError, Trainer, TrainingStage,
};
use rand::Rng;

/// A smooth synthetic batch for `step` (blobs of colour, a pose-like map),
/// in [-1, 1], shaped as the data loader's batches are.
fn batch(cfg: &ModelConfig, b: usize, t: usize, step: u64) -> TrainBatch {
    let s = cfg.image_size;
    let mut rng = seed::stream(11, "test-batch", step);
    let mut frames: Vec<f32> = Vec::with_capacity(b * t * 3 * s * s);
    let mut poses: Vec<f32> = Vec::with_capacity(b * t * 3 * s * s);
    let mut reference: Vec<f32> = Vec::with_capacity(b * 3 * s * s);
    for _ in 0..b {
        let colour: [f32; 3] = [
            rng.random_range(-1.0..1.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(-1.0..1.0),
        ];
        let (cx, cy) = (rng.random_range(0.3..0.7f32), rng.random_range(0.3..0.7f32));
        let paint = |out: &mut Vec<f32>, dx: f32| {
            for c in colour {
                for y in 0..s {
                    for x in 0..s {
                        let (u, v) = (x as f32 / s as f32 - cx - dx, y as f32 / s as f32 - cy);
                        out.push(if u * u + v * v < 0.04 { c } else { -0.5 });
                    }
                }
            }
        };
        paint(&mut reference, 0.0);
        for f in 0..t {
            paint(&mut frames, 0.05 * f as f32);
            for _ in 0..3 {
                for y in 0..s {
                    for x in 0..s {
                        let on = (x as f32 / s as f32 - cx - 0.05 * f as f32).abs() < 0.05
                            || (y as f32 / s as f32 - cy).abs() < 0.05;
                        poses.push(if on { 1.0 } else { -1.0 });
                    }
                }
            }
        }
    }
    let dev = Device::Cpu;
    TrainBatch {
        reference: Tensor::from_vec(reference, (b, 3, s, s), &dev).unwrap(),
        frames: Tensor::from_vec(frames, (b, t, 3, s, s), &dev).unwrap(),
        poses: Tensor::from_vec(poses, (b, t, 3, s, s), &dev).unwrap(),
    }
}

/// Frames per clip of the test batches.
const CLIP_FRAMES: usize = 2;

fn trainer(train: TrainConfig) -> Trainer {
    let model = ModelConfig::tiny().build(5, &Device::Cpu).unwrap();
    Trainer::new(model, train, DiffusionConfig::default(), 5).unwrap()
}

/// Steps `tr` to the end of its `train.steps` on the synthetic batches,
/// saving to `ckpt` at the end (unit tests of the step; the run loop with
/// its logs, evaluations and checkpoints is `train::run_experiment`).
fn run(tr: &mut Trainer, ckpt: Option<&Path>) -> Vec<StepRecord> {
    let cfg = tr.model.config().clone();
    let (b, t) = (tr.train.batch_size, CLIP_FRAMES);
    let mut source = move |step: u64, _: &Device| Ok(batch(&cfg, b, t, step));
    let mut records = Vec::new();
    while tr.step < tr.train.steps {
        records.push(tr.next_step(&mut source).unwrap());
    }
    if let Some(path) = ckpt {
        tr.save(path, records.last().map(|r| r.loss)).unwrap();
    }
    records
}

#[test]
fn tiny_overfits_one_batch() {
    let train = TrainConfig {
        steps: 300,
        batch_size: 2,
        lr: 1e-3,
        warmup_steps: 0,
        grad_clip: 0.0,
        fixed_draws: true,
        checkpoint_every: 0,
        ..TrainConfig::default()
    };
    let mut tr = trainer(train);
    let fixed = batch(tr.model.config(), 2, 2, 0);
    let mut source = |_: u64, _: &Device| Ok(fixed.clone());
    let records: Vec<StepRecord> = (0..300).map(|_| tr.next_step(&mut source).unwrap()).collect();
    let first = records[0].loss;
    let last = records.iter().rev().take(10).map(|r| r.loss).fold(f32::MAX, f32::min);
    eprintln!("overfit: loss {first} -> {last} in {} steps", records.len());
    assert!(last * 10.0 <= first, "loss fell only from {first} to {last}");
}

/// A tiny-model experiment written as a user writes one, results under `dir`.
fn experiment(dir: &Path, name: &str, train: &str) -> Experiment {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "seed = 5\n[model]\npreset = \"tiny\"\n[output]\nresults_dir = {:?}\n[train]\nstage = \"foundation\"\n\
         batch_size = 4\nwarmup_steps = 0\n{train}\n",
        dir.join("results").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    Experiment::load(path.to_str().unwrap(), &[]).unwrap()
}

/// Synthetic batches of the tiny model; `fail_at` makes the source fail (a kill) or poison a batch.
fn source(fail_at: Option<(u64, bool)>) -> impl FnMut(u64, &Device) -> Result<TrainBatch, String> {
    let cfg = ModelConfig::tiny();
    move |step, _| {
        let mut b = batch(&cfg, 4, CLIP_FRAMES, step);
        match fail_at {
            Some((at, false)) if step == at => return Err("killed".into()),
            Some((at, true)) if step == at => b.frames = (b.frames * f64::NAN).unwrap(),
            _ => {}
        }
        Ok(b)
    }
}

fn logged_losses(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<StepRecord>(l).unwrap().loss.to_bits())
        .collect()
}

#[test]
fn resume_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let train = "steps = 6\ncheckpoint_every = 3\nema_decay = 0.9";
    let full = run_experiment(&experiment(dir.path(), "full", train), &mut source(None), &mut |_| {}).unwrap();
    let exp = experiment(dir.path(), "killed", train);
    let err = run_experiment(&exp, &mut source(Some((4, false))), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("killed"), "{err}");
    let resumed = run_experiment(&exp, &mut source(None), &mut |_| {}).unwrap();
    assert_eq!(resumed.resumed_at, 3);
    assert_eq!(
        logged_losses(&full.dir),
        logged_losses(&resumed.dir),
        "resumed losses equal the uninterrupted run bit for bit"
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "nan", "steps = 10\ncheckpoint_every = 2");
    let err = run_experiment(&exp, &mut source(Some((5, true))), &mut |_| {}).unwrap_err();
    let ckpt = exp.run_spec("train", None).dir().join("last.safetensors");
    match &err {
        RunError::Train { source, .. } => match source.as_ref() {
            TrainError::NonFinite {
                step,
                what,
                last_checkpoint,
                ..
            } => {
                assert_eq!((*step, *what), (5, "loss"));
                assert_eq!(last_checkpoint.as_deref(), Some(ckpt.as_path()));
            }
            other => panic!("expected NonFinite, got {other}"),
        },
        other => panic!("expected a training error, got {other}"),
    }
    assert!(err.to_string().contains("last good checkpoint"), "{err}");
    let saved = checkpoint::load(&ckpt, &Device::Cpu).unwrap();
    assert_eq!(saved.state.step, 4);
    assert!(saved.weights.values().all(|w| w
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .is_finite()));
    assert_eq!(logged_losses(ckpt.parent().unwrap()).len(), 5);
}

#[test]
fn a_checkpoint_of_another_preset_is_refused_naming_the_first_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_experiment(
        &experiment(dir.path(), "base", "steps = 1"),
        &mut source(None),
        &mut |_| {},
    )
    .unwrap();
    let ckpt = base.dir.join("last.safetensors");
    // A deeper model: same tensor shapes, more blocks than the file has.
    let mut deeper = Trainer::new(
        ModelConfig {
            depth: 6,
            ..ModelConfig::tiny()
        }
        .build(5, &Device::Cpu)
        .unwrap(),
        TrainConfig::tiny(),
        DiffusionConfig::default(),
        5,
    )
    .unwrap();
    let err = deeper.init_from(&ckpt).unwrap_err().to_string();
    assert!(err.contains("model.depth = 4, this model has 6"), "{err}");
    // The default preset: the first differing architecture key is named.
    let path = dir.path().join("stage.toml");
    std::fs::write(
        &path,
        format!(
            "[output]\nresults_dir = {:?}\n[train]\nsteps = 1\ninit_from = {:?}\n",
            dir.path().join("results").display().to_string(),
            ckpt.display().to_string()
        ),
    )
    .unwrap();
    let exp = Experiment::load(path.to_str().unwrap(), &[]).unwrap();
    let cfg = ModelConfig::default_preset();
    let err = run_experiment(&exp, &mut move |s, _: &Device| Ok(batch(&cfg, 2, 1, s)), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.image_size = 16, this model has 32"), "{err}");
    // Tensors without their architecture record (an older or foreign file): named one by one.
    let mut ck = checkpoint::load(&ckpt, &Device::Cpu).unwrap();
    ck.state.model = None;
    // A stage's start may add parameters (they start fresh, and are listed) ...
    let report = checkpoint::load_fitting(&ckpt, &deeper.model, &ck, false).unwrap();
    assert!(
        report.missing.iter().any(|n| n.starts_with("spatial.04.")),
        "{report:?}"
    );
    // ... a resume may not ...
    let err = checkpoint::load_fitting(&ckpt, &deeper.model, &ck, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot resume"), "{err}");
    // ... and tensors the model lacks are another architecture.
    let shallower = ModelConfig {
        depth: 2,
        ..ModelConfig::tiny()
    }
    .build(5, &Device::Cpu)
    .unwrap();
    let err = checkpoint::load_fitting(&ckpt, &shallower, &ck, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a parameter of this model"), "{err}");
}

#[test]
fn frozen_blocks_keep_their_weights_and_get_no_optimizer_state() {
    let gates = GatePlan {
        default: Gate::Frozen,
        trainable: vec!["spatial.03".into(), "temporal.03".into(), "final".into()],
        ..GatePlan::default()
    };
    // TrainingStage 3 feeds reference and pose, so every parameter of a trainable block gets a gradient.
    let mut tr = trainer(TrainConfig {
        stage: TrainingStage::Video,
        steps: 4,
        gates,
        ..TrainConfig::tiny()
    });
    let before: Vec<(String, Tensor)> = tr
        .model
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().copy().unwrap()))
        .collect();
    run(&mut tr, None);
    for (p, (_, old)) in tr.model.params().iter().zip(&before) {
        let changed = p
            .var
            .as_tensor()
            .sub(old)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0;
        let trains = ["spatial.03", "temporal.03", "final"].contains(&p.unit.as_str());
        assert_eq!(
            tr.opt.moments(&p.name).is_some(),
            trains,
            "optimizer state of {}",
            p.name
        );
        if !trains {
            assert!(!changed, "frozen {} changed", p.name);
        }
    }
    assert!(tr
        .model
        .params()
        .iter()
        .filter(|p| p.unit == "final")
        .any(|p| tr.opt.moments(&p.name).is_some()));
}

#[test]
fn a_stage_starts_at_the_previous_stage_model() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("foundation.safetensors");
    let foundation_gates = GatePlan {
        skipped: vec!["pose".into(), "reference.*".into()],
        ..GatePlan::default()
    };
    let mut foundation = trainer(TrainConfig {
        stage: TrainingStage::Foundation,
        steps: 3,
        gates: foundation_gates,
        ..TrainConfig::tiny()
    });
    run(&mut foundation, Some(&ckpt));

    // TrainingStage 2: pose-guided images, conditions on, fresh zero-initialised paths.
    let stage2 = TrainConfig {
        stage: TrainingStage::Pose,
        steps: 1,
        ..TrainConfig::tiny()
    };
    let model = ModelConfig::tiny().build(99, &Device::Cpu).unwrap();
    let mut tr = Trainer::new(model, stage2, DiffusionConfig::default(), 5).unwrap();
    let report = tr.init_from(&ckpt).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{report:?}");
    // The reference encoder and pose guider were skipped in the foundation,
    // so they were never trained; their zero-initialised gates and
    // projections mean the conditioned model equals the foundation model.
    let b = batch(tr.model.config(), 2, 1, 0);
    let x = b.frames.clone();
    let ts = [10usize, 500];
    let inputs = entprog::model::Inputs {
        x_t: &x,
        timesteps: &ts,
        reference: Some(&b.reference),
        poses: Some(&b.poses),
        cond_keep: None,
    };
    let conditioned = tr.model.forward(&inputs).unwrap();
    let plain = foundation
        .model
        .forward(&entprog::model::Inputs {
            reference: None,
            poses: None,
            ..inputs
        })
        .unwrap();
    let diff = crate::util::max_abs_diff(&conditioned, &plain);
    assert!(diff < 1e-6, "{diff}");
}

/// The `[model]`, `[diffusion]` and `[train]` sections of every stage config
/// parse with the schema (unknown keys rejected) and validate.
mod experiments {
    use entprog::experiment::Experiment;
    use entprog::model::ModelConfig;
    use entprog::train::{TrainConfig, TrainingStage};

    struct Sections {
        train: TrainConfig,
    }

    /// Loads through the crate's loader (extends chain, validation).
    fn load(name: &str) -> Sections {
        let path = format!("{}/experiments/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let exp = Experiment::load(&path, &[]).unwrap_or_else(|e| panic!("{path}: {e}"));
        Sections {
            train: exp.config.train,
        }
    }

    #[test]
    fn stage_configs_parse_and_validate() {
        let stages = [
            ("foundation", TrainingStage::Foundation),
            ("stage1", TrainingStage::Subject),
            ("stage2", TrainingStage::Pose),
            ("stage3", TrainingStage::Video),
        ];
        for (name, stage) in stages {
            let s = load(name);
            assert_eq!(s.train.stage, stage, "{name}");
            assert_eq!(
                s.train.init_from.is_some(),
                stage != TrainingStage::Foundation,
                "{name} starts from the previous stage"
            );
            let units = entprog::model::ModelConfig::tiny()
                .build(0, &candle_core::Device::Cpu)
                .unwrap()
                .gates()
                .names();
            s.train.gates.apply(units).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let video = load("stage3");
        let units = ModelConfig::tiny()
            .build(0, &candle_core::Device::Cpu)
            .unwrap()
            .gates()
            .names();
        let gates = video.train.gates.apply(units).unwrap();
        assert!(gates
            .with(entprog::model::Gate::Trainable)
            .iter()
            .all(|u| u.starts_with("temporal.")));
    }
}

/// `run_experiment`: run folder, step log, Parquet table, resume after a
/// failure, reuse when complete.
mod on_disk {
    use super::*;
    use entprog::experiment::{Experiment, ExperimentConfig};
    use entprog::results::{RunManifest, RunStatus};
    use entprog::train::{run_experiment, RunOutcome};
    use polars::prelude::*;

    fn experiment(results: &Path) -> Experiment {
        let mut config = ExperimentConfig {
            seed: 3,
            model: ModelConfig::tiny(),
            ..ExperimentConfig::default()
        };
        config.output.results_dir = results.to_path_buf();
        config.train = TrainConfig {
            steps: 6,
            checkpoint_every: 3,
            batch_size: 2,
            ..TrainConfig::tiny()
        };
        Experiment::from_config(config, "tiny-foundation.toml".into(), vec![], vec![])
    }

    fn losses(dir: &Path) -> Vec<f64> {
        let df = ParquetReader::new(std::fs::File::open(dir.join("steps.parquet")).unwrap())
            .finish()
            .unwrap();
        df.column("loss").unwrap().f64().unwrap().into_no_null_iter().collect()
    }

    #[test]
    fn a_failed_run_resumes_from_its_checkpoint_and_a_finished_one_is_reused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cfg = ModelConfig::tiny();
        let mut good = |step: u64, _: &Device| Ok(batch(&cfg, 2, 2, step));
        let full: RunOutcome = run_experiment(&experiment(a.path()), &mut good, &mut |_| {}).unwrap();
        assert!(!full.cached);

        let exp = experiment(b.path());
        let mut flaky = |step: u64, _: &Device| {
            if step == 4 {
                Err("disk went away".to_string())
            } else {
                Ok(batch(&cfg, 2, 2, step))
            }
        };
        let err = run_experiment(&exp, &mut flaky, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("disk went away"), "{err}");
        let dir = b.path().join("tiny-foundation/train/seed-3");
        assert_eq!(
            RunManifest::read(&dir.join("manifest.json")).unwrap().status,
            RunStatus::Failed
        );

        let resumed = run_experiment(&exp, &mut good, &mut |_| {}).unwrap();
        assert_eq!(resumed.resumed_at, 3);
        assert_eq!(
            losses(&resumed.dir),
            losses(&full.dir),
            "resumed run equals the uninterrupted one"
        );
        assert_eq!(losses(&full.dir).len(), 6);
        assert!(run_experiment(&exp, &mut good, &mut |_| {}).unwrap().cached);
    }
}

#[test]
fn a_v_prediction_run_starts_at_the_v_loss_and_its_checkpoint_says_so() {
    // The final projection is zero-initialised, so step 0 predicts 0 and its
    // loss is the target's mean square: mean(eps^2) ~ 1 for eps, and
    // mean(v^2) = ab + (1 - ab) mean(x0^2) < 1 for v (x0 in [-1, 1]).
    let dir = tempfile::tempdir().unwrap();
    let first_loss = |name: &str, diffusion: &str| {
        let exp = experiment(
            dir.path(),
            name,
            &format!("steps = 1\ncheckpoint_every = 0\n[diffusion]\n{diffusion}"),
        );
        let out = run_experiment(&exp, &mut source(None), &mut |_| {}).unwrap();
        let ck = checkpoint::load(&out.dir.join("last.safetensors"), &Device::Cpu).unwrap();
        let loss = f32::from_bits(logged_losses(&out.dir)[0]);
        (loss, ck.state.diffusion.unwrap().prediction, exp.hash.clone())
    };
    let (eps_loss, eps_kind, eps_hash) = first_loss("eps", "prediction = \"eps\"");
    let (v_loss, v_kind, v_hash) = first_loss("v", "prediction = \"v\"");
    assert_eq!((eps_kind, v_kind), (Prediction::Eps, Prediction::V));
    assert_ne!(eps_hash, v_hash, "the prediction is part of the config hash");
    assert!((eps_loss - 1.0).abs() < 0.1, "eps loss at step 0: {eps_loss}");
    assert!(
        v_loss < eps_loss - 0.05,
        "v loss at step 0 {v_loss} against eps {eps_loss}"
    );
}
