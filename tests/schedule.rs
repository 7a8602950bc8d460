//! Progressive schedules on the real `tiny` model and a small synthetic
//! dataset: the adaptive schedule decides identically twice under the FLOP
//! clock, a finished run replays from its Parquet files, a killed run
//! resumes to the same decisions, fixed schedules train the top-m of their
//! scorer's order, and every scorer scores every block.

use std::path::{Path, PathBuf};

use entprog::entprog::heldout::HeldOut;
use entprog::entprog::score::{denoiser_samples, ScoreSettings};
use entprog::entprog::scorers::{score, Evidence};
use entprog::entprog::{ScheduleConfig, ScheduleKind, Scorer};
use entprog::experiment::train::{TrainConfig, TrainingStage};
use entprog::experiment::{Experiment, ExperimentConfig};
use entprog::model::{Blocks, Denoiser, Gate, ModelConfig};
use entprog::train::replay::replay_run as replay;
use entprog::train::run_with_data;
use polars::prelude::*;

use crate::util::write_small_tiktok;

/// A 16x16 TikTok-profile dataset built once per test into `dir`.
fn dataset(dir: &Path) {
    write_small_tiktok(dir);
}

/// A pose-stage experiment on the tiny model writing under `root`.
fn experiment(root: &Path, name: &str, steps: u64, schedule: ScheduleConfig, init: Option<PathBuf>) -> Experiment {
    let mut config = ExperimentConfig {
        seed: 11,
        model: ModelConfig::tiny(),
        schedule,
        ..ExperimentConfig::default()
    };
    config.output.results_dir = root.join("results");
    config.data.dataset = "s".into();
    config.data.root = root.to_path_buf();
    config.train = TrainConfig {
        stage: TrainingStage::Pose,
        steps,
        batch_size: 2,
        lr: 2e-3,
        checkpoint_every: 5,
        init_from: init,
        ..TrainConfig::tiny()
    };
    config.cei.conditions = 4;
    config.cei.draws = 4;
    config.cei.batch_conditions = 2;
    config.cei.resamples = 20;
    config.cei.knn_dims = 2;
    config.cei.knn_k = 1;
    Experiment::from_config(config, format!("{name}.toml").into(), vec![], vec![])
}

/// A briefly trained model to start from (a fresh adaLN-zero model predicts
/// zero everywhere, so CEI is undefined for it).
fn pretrained(root: &Path) -> PathBuf {
    dataset(root);
    let exp = experiment(root, "pre", 15, ScheduleConfig::default(), None);
    let out = run_with_data(&exp, &mut |_| {}).unwrap();
    out.dir.join("last.safetensors")
}

fn adaptive() -> ScheduleConfig {
    ScheduleConfig {
        kind: ScheduleKind::Adaptive,
        scorer: Scorer::Cei,
        stages: 2,
        supernet_rounds: 2,
        supernet_steps: 1,
        heldout_batches: 1,
        ..ScheduleConfig::default()
    }
}

fn frame(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn column_str(df: &DataFrame, c: &str) -> Vec<String> {
    df.column(c)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

fn column_u64(df: &DataFrame, c: &str) -> Vec<u64> {
    df.column(c)
        .unwrap()
        .cast(&DataType::UInt64)
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

#[test]
fn the_adaptive_schedule_decides_identically_twice_and_replays_from_its_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ia, ib) = (pretrained(a.path()), pretrained(b.path()));
    let ra = run_with_data(&experiment(a.path(), "ada", 24, adaptive(), Some(ia)), &mut |_| {}).unwrap();
    let rb = run_with_data(&experiment(b.path(), "ada", 24, adaptive(), Some(ib)), &mut |_| {}).unwrap();
    // The run ids differ (the dataset and checkpoint paths are inputs of the
    // config hash); everything else is equal but the wall clock, which is
    // recorded beside the FLOP clock.
    let blocks = |d: &Path| frame(&d.join("blocks.parquet")).drop("run").unwrap();
    assert!(
        blocks(&ra.dir).equals_missing(&blocks(&rb.dir)),
        "the same scores, ranks and states"
    );
    let no_wall = |d: &Path| frame(&d.join("supernet.parquet")).drop_many(["run", "clock_wall_s"]);
    assert!(no_wall(&ra.dir).equals(&no_wall(&rb.dir)), "the supernet decides alike");
    let sn = frame(&ra.dir.join("supernet.parquet"));
    // 9 blocks, K = 2: M_0 = {5, 9}, M_1 = {9} -> 2 candidates x 2 rounds in k0, 1 x 2 in k1.
    assert_eq!(sn.height(), 6);
    let chosen = sn
        .column("chosen")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .filter(|c| *c == Some(true))
        .count();
    assert_eq!(chosen, 2 + 2, "the chosen candidate's rows, in each stage");
    let steps = frame(&ra.dir.join("steps.parquet"));
    let phases = column_str(&steps, "phase");
    assert_eq!(phases.iter().filter(|p| *p == "supernet").count(), 6);
    assert_eq!(phases.len(), 24, "supernet steps count in the run's budget");
    let m = column_u64(&steps, "m");
    assert!(m.iter().all(|&m| (1..=9).contains(&m)));

    let r = replay(&ra.dir).unwrap();
    assert!(r.mismatches.is_empty(), "{:#?}", r.mismatches);
    assert_eq!(r.stages.len(), 2);
    assert!(r.stages[0].m <= r.stages[1].m, "non-decreasing");
    assert_eq!(r.stages[1].m, 9);
    assert_eq!(r.stages[0].trainable.len(), r.stages[0].m);
}

#[test]
fn replay_finds_a_tampered_decision() {
    let dir = tempfile::tempdir().unwrap();
    let init = pretrained(dir.path());
    let out = run_with_data(&experiment(dir.path(), "ada", 24, adaptive(), Some(init)), &mut |_| {}).unwrap();
    // Flip which candidate is marked chosen in stage k0.
    let path = out.dir.join("supernet.parquet");
    let mut df = frame(&path);
    let flipped: BooleanChunked = df
        .column("chosen")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|c| c.map(|c| !c))
        .collect();
    df.with_column(flipped.into_series().with_name("chosen".into()).into())
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let r = replay(&out.dir).unwrap();
    assert!(r.mismatches.iter().any(|m| m.contains("chosen")), "{:#?}", r.mismatches);
}

#[test]
fn a_killed_scheduled_run_resumes_to_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let init = pretrained(dir.path());
    let every_2 = |name: &str| {
        let e = experiment(dir.path(), name, 24, adaptive(), Some(init.clone()));
        let mut config = e.config.clone();
        config.train.checkpoint_every = 2;
        config.train.eval_every = 5;
        config.data.eval_batches = 1;
        Experiment::from_config(config, format!("{name}.toml").into(), vec![], vec![])
    };
    let full = run_with_data(&every_2("full"), &mut |_| {}).unwrap();
    let exp = every_2("killed");
    let cfg = &exp.config;
    let loader = cfg
        .data
        .mixed_loader(entprog::data::Split::Train, cfg.train.batch_size, cfg.seed)
        .unwrap();
    let source = |fail_at: u64| {
        let loader = &loader;
        move |step: u64, device: &candle_core::Device| {
            if step == fail_at {
                return Err("killed".to_string());
            }
            let b = loader.batch(step, device).map_err(|e| e.to_string())?;
            Ok(entprog::train::trainer::TrainBatch {
                reference: b.reference,
                frames: b.frames,
                poses: b.poses,
            })
        }
    };
    // Killed at step 3, inside stage k0's supernet (steps 0..4): the run
    // resumes from the checkpoint at 2, mid-supernet.
    assert!(entprog::train::run_experiment(&exp, &mut source(3), &mut |_| {}).is_err());
    let resumed = entprog::train::run_experiment(&exp, &mut source(u64::MAX), &mut |_| {}).unwrap();
    assert_eq!(resumed.resumed_at, 2);
    for file in ["supernet.parquet", "blocks.parquet"] {
        let (x, y) = (frame(&full.dir.join(file)), frame(&resumed.dir.join(file)));
        let drop_run = |df: DataFrame| {
            let df = df.drop("run").unwrap();
            match df.drop("clock_wall_s") {
                Ok(d) => d,
                Err(_) => df,
            }
        };
        let (x, y) = (drop_run(x), drop_run(y));
        for c in x.get_column_names() {
            let (a, b) = (x.column(c).unwrap(), y.column(c).unwrap());
            assert!(
                a.equals_missing(b),
                "{file}: column {c} differs after resume:\n{a:?}\n{b:?}"
            );
        }
    }
    let losses = |d: &Path| frame(&d.join("steps.parquet")).column("loss").unwrap().clone();
    assert!(losses(&full.dir).equals(&losses(&resumed.dir)));
    // The periodic evaluations (after steps 5, 10, 15, 20 and the end) resume too.
    let evals = |d: &Path| frame(&d.join("eval.parquet")).drop("run").unwrap();
    assert_eq!(column_u64(&evals(&full.dir), "step"), vec![5, 10, 15, 20, 24]);
    assert!(
        evals(&full.dir).equals_missing(&evals(&resumed.dir)),
        "{:?}\n{:?}",
        evals(&full.dir),
        evals(&resumed.dir)
    );
}

#[test]
fn a_fixed_schedule_trains_the_top_m_of_its_scorer_order() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let schedule = ScheduleConfig {
        kind: ScheduleKind::Fixed,
        scorer: Scorer::DepthOut,
        m: vec![2, 9],
        stage_steps: vec![4, 2],
        ..ScheduleConfig::default()
    };
    let out = run_with_data(&experiment(dir.path(), "fixed", 6, schedule, None), &mut |_| {}).unwrap();
    let blocks = frame(&out.dir.join("blocks.parquet"));
    let get = |c: &str| column_str(&blocks, c);
    let (stage, id, state) = (get("stage"), get("block_id"), get("state"));
    let trainable_k0: Vec<&String> = (0..id.len())
        .filter(|&i| stage[i] == "k0" && state[i] == "trainable")
        .map(|i| &id[i])
        .collect();
    assert_eq!(trainable_k0, vec!["spatial.03", "temporal.03"], "output side first");
    assert!((0..id.len())
        .filter(|&i| stage[i] == "k1")
        .all(|i| state[i] == "trainable"));
    let m = column_u64(&frame(&out.dir.join("steps.parquet")), "m");
    assert_eq!(m, vec![2, 2, 2, 2, 9, 9]);
    assert!(replay(&out.dir).unwrap().mismatches.is_empty());
}

#[test]
fn a_supernet_longer_than_its_stage_is_refused_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let schedule = ScheduleConfig {
        supernet_rounds: 4,
        ..adaptive()
    };
    let err = run_with_data(&experiment(dir.path(), "long", 10, schedule, None), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stage 0's supernet needs 8 steps") && err.contains("has 5"),
        "{err}"
    );
}

#[test]
fn every_scorer_scores_every_block_and_restores_the_gates() {
    let dir = tempfile::tempdir().unwrap();
    let init = pretrained(dir.path());
    let exp = experiment(dir.path(), "score", 1, ScheduleConfig::default(), Some(init.clone()));
    let cfg = &exp.config;
    let mut model = cfg.model.build(0, &candle_core::Device::Cpu).unwrap();
    let ck = entprog::results::checkpoint::load(&init, &candle_core::Device::Cpu).unwrap();
    entprog::results::checkpoint::load_weights(&init, &model, &ck.weights).unwrap();
    model.set_gate("spatial.01", Gate::Frozen).unwrap();
    let ids: Vec<_> = model.blocks().into_iter().map(|b| b.id).collect();
    let ds = cfg.data.open().unwrap();
    let schedule = cfg.diffusion.build();
    let heldout = HeldOut::new(
        &cfg.data.loader(ds.clone(), entprog::data::Split::Test, 2, cfg.seed),
        2,
        &schedule,
        cfg.diffusion.prediction,
        (true, true),
        cfg.seed,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let cei = denoiser_samples(
        &cfg.data.loader(ds, entprog::data::Split::Test, 2, cfg.seed),
        &schedule,
        4,
        4,
        2,
        (true, true),
        cfg.seed,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let cei: Vec<_> = cei.iter().map(|s| s.inputs()).collect();
    let heldout = heldout.inputs();
    let ev = Evidence::<Denoiser> {
        cei: Some(&cei),
        heldout: Some(&heldout),
        settings: ScoreSettings {
            draws: 4,
            resamples: 20,
            knn_dims: 2,
            knn_k: 1,
            seed: 3,
        },
    };
    let gates = model.gates().clone();
    for scorer in Scorer::ALL {
        let s = score(scorer, &mut model, &ids, &ev, 0).unwrap();
        assert_eq!(s.values.len(), ids.len(), "{scorer}");
        assert!(s.values.iter().all(|v| v.is_finite()), "{scorer}: {:?}", s.values);
        assert_eq!(model.gates(), &gates, "{scorer} restores the gates");
        let again = score(scorer, &mut model, &ids, &ev, 0).unwrap();
        assert_eq!(s, again, "{scorer} is deterministic");
        match scorer.as_str() {
            "grad_norm" | "fisher" | "abs_cei" => assert!(s.values.iter().all(|&v| v >= 0.0), "{scorer}"),
            "depth_in" => assert_eq!(s.order(), (0..ids.len()).collect::<Vec<_>>()),
            "depth_out" => assert_eq!(s.order(), (0..ids.len()).rev().collect::<Vec<_>>()),
            "random" => assert_ne!(s.order(), score(scorer, &mut model, &ids, &ev, 1).unwrap().order()),
            _ => {}
        }
    }
}

#[test]
fn every_shipped_experiment_lays_out_its_schedule_on_its_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let exp = Experiment::load(path.to_str().unwrap(), &[]).unwrap_or_else(|e| panic!("{e}"));
        let cfg = &exp.config;
        let mut model = cfg.model.build(0, &candle_core::Device::Cpu).unwrap();
        model
            .set_gates(cfg.train.gates.apply(model.gates().names()).unwrap())
            .unwrap();
        let ids = entprog::entprog::progressive::schedulable(&model);
        match entprog::entprog::Progressive::new(&cfg.schedule, cfg.seed, cfg.train.steps, ids) {
            Ok(p) => {
                assert!(!p.ids.is_empty());
                assert_eq!(p.plan.stages.iter().map(|s| s.steps).sum::<u64>(), cfg.train.steps);
            }
            // The base file trains nothing by itself.
            Err(e) => assert!(path.ends_with("base.toml"), "{}: {e}", path.display()),
        }
        seen += 1;
    }
    assert!(seen >= 12, "{seen} experiments");
}

#[test]
fn the_random_skip_probe_measures_every_k_of_the_scaled_range() {
    let dir = tempfile::tempdir().unwrap();
    let init = pretrained(dir.path());
    let exp = experiment(dir.path(), "probe", 1, ScheduleConfig::default(), Some(init));
    let (out, cached) = entprog::study::probe::skip_probe(&exp, 2).unwrap();
    assert!(!cached);
    let df = frame(&out.join("probe_skip.parquet"));
    assert_eq!(df.height(), 5 * 2, "k = 3..=7 of 9 blocks, 2 trials each");
    let k = column_u64(&df, "k");
    assert_eq!(k, vec![3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
    let skipped: Vec<usize> = df
        .column("skipped")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().split(',').count())
        .collect();
    assert_eq!(skipped.iter().map(|&n| n as u64).collect::<Vec<_>>(), k);
    for c in ["heldout_loss", "cei", "cei_se", "base_loss"] {
        let v = df.column(c).unwrap().f64().unwrap().clone();
        assert!(v.iter().all(|x| x.is_some_and(f64::is_finite)), "{c}");
    }
    assert!(
        entprog::study::probe::skip_probe(&exp, 2).unwrap().1,
        "a finished probe is reused"
    );
}

#[test]
fn rerank_scores_every_stage_and_skip_inactive_skips_instead_of_freezing() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let schedule = ScheduleConfig {
        kind: ScheduleKind::Linear,
        scorer: Scorer::Random,
        stages: 3,
        rerank: true,
        skip_inactive: true,
        ..ScheduleConfig::default()
    };
    let out = run_with_data(&experiment(dir.path(), "rerank", 6, schedule, None), &mut |_| {}).unwrap();
    let blocks = frame(&out.dir.join("blocks.parquet"));
    let str_col = |c: &str| column_str(&blocks, c);
    let (stage, state) = (str_col("stage"), str_col("state"));
    let rank = column_u64(&blocks, "rank");
    let ranks_of = |k: &str| -> Vec<u64> { (0..rank.len()).filter(|&i| stage[i] == k).map(|i| rank[i]).collect() };
    assert_ne!(ranks_of("k0"), ranks_of("k1"), "each stage draws its own order");
    // linear over 9 blocks in 3 stages: m = 3, 6, 9; the rest skipped, never frozen.
    for (k, m) in [("k0", 3), ("k1", 6), ("k2", 9)] {
        let states: Vec<&String> = (0..stage.len()).filter(|&i| stage[i] == k).map(|i| &state[i]).collect();
        assert_eq!(states.iter().filter(|s| s.as_str() == "trainable").count(), m, "{k}");
        assert!(
            states
                .iter()
                .all(|s| s.as_str() == "trainable" || s.as_str() == "skipped"),
            "{k}: {states:?}"
        );
    }
    let flops: Vec<f64> = frame(&out.dir.join("steps.parquet"))
        .column("flops")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    assert!(flops[0] < flops[5], "skipped blocks cost nothing: {flops:?}");
    assert!(replay(&out.dir).unwrap().mismatches.is_empty());
}
