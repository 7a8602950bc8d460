//! Integration tests of the trainer: overfitting, resume, NaN stop, frozen
//! blocks, and stage hand-over.

use std::path::Path;

use candle_core::{Device, Tensor};
use entprog::diffusion::DiffusionConfig;
use entprog::model::{Gate, ModelConfig};
use entprog::seed;
use entprog::train::{checkpoint, GatePlan, Stage, StepRecord, TrainBatch, TrainConfig, TrainError, Trainer};
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

fn run(tr: &mut Trainer, ckpt: Option<&Path>) -> Vec<StepRecord> {
    let cfg = tr.model.config().clone();
    let (b, t) = (tr.train.batch_size, CLIP_FRAMES);
    let mut source = move |step: u64, _: &Device| Ok(batch(&cfg, b, t, step));
    let mut records = Vec::new();
    tr.run(&mut source, &mut records, ckpt).unwrap();
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
    let mut records: Vec<StepRecord> = Vec::new();
    tr.run(&mut source, &mut records, None).unwrap();
    let first = records[0].loss;
    let last = records.iter().rev().take(10).map(|r| r.loss).fold(f32::MAX, f32::min);
    eprintln!("overfit: loss {first} -> {last} in {} steps", records.len());
    assert!(last * 10.0 <= first, "loss fell only from {first} to {last}");
}

#[test]
fn resume_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let train = TrainConfig {
        steps: 6,
        checkpoint_every: 3,
        ema_decay: 0.9,
        ..TrainConfig::tiny()
    };
    let full = run(&mut trainer(train.clone()), None);

    let ckpt = dir.path().join("last.safetensors");
    let mut first_half = trainer(TrainConfig {
        steps: 3,
        ..train.clone()
    });
    let head = run(&mut first_half, Some(&ckpt));
    let mut resumed = trainer(train);
    resumed.resume(&ckpt).unwrap();
    assert_eq!(resumed.step, 3);
    let tail = run(&mut resumed, None);

    let losses = |r: &[StepRecord]| r.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&full[..3]), losses(&head));
    assert_eq!(
        losses(&full[3..]),
        losses(&tail),
        "resumed losses equal the uninterrupted run bit for bit"
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("last.safetensors");
    let mut tr = trainer(TrainConfig {
        steps: 10,
        checkpoint_every: 2,
        ..TrainConfig::tiny()
    });
    let cfg = tr.model.config().clone();
    let mut source = |step: u64, _: &Device| {
        let mut b = batch(&cfg, 4, 2, step);
        if step == 5 {
            b.frames = (b.frames * f64::NAN).unwrap();
        }
        Ok(b)
    };
    let mut records: Vec<StepRecord> = Vec::new();
    let err = tr.run(&mut source, &mut records, Some(&ckpt)).unwrap_err();
    match &err {
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
    assert_eq!(records.len(), 5);
}

#[test]
fn frozen_blocks_keep_their_weights_and_get_no_optimizer_state() {
    let gates = GatePlan {
        default: Gate::Frozen,
        trainable: vec!["spatial.03".into(), "temporal.03".into(), "final".into()],
        ..GatePlan::default()
    };
    // Stage 3 feeds reference and pose, so every parameter of a trainable block gets a gradient.
    let mut tr = trainer(TrainConfig {
        stage: Stage::Video,
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
        stage: Stage::Foundation,
        steps: 3,
        gates: foundation_gates,
        ..TrainConfig::tiny()
    });
    run(&mut foundation, Some(&ckpt));

    // Stage 2: pose-guided images, conditions on, fresh zero-initialised paths.
    let stage2 = TrainConfig {
        stage: Stage::Pose,
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
    let diff = conditioned
        .sub(&plain)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-6, "{diff}");
}

/// The `[model]`, `[diffusion]` and `[train]` sections of every stage config
/// parse with the schema (unknown keys rejected) and validate.
mod experiments {
    use entprog::config::Experiment;
    use entprog::model::ModelConfig;
    use entprog::train::{Stage, TrainConfig};

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
            ("foundation", Stage::Foundation),
            ("stage1", Stage::Subject),
            ("stage2", Stage::Pose),
            ("stage3", Stage::Video),
        ];
        for (name, stage) in stages {
            let s = load(name);
            assert_eq!(s.train.stage, stage, "{name}");
            assert_eq!(
                s.train.init_from.is_some(),
                stage != Stage::Foundation,
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
    use entprog::config::{Experiment, ExperimentConfig};
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
