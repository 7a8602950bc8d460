//! `reproduce table3 --profile smoke` end to end, as a user runs it (the
//! `entprog` binary on the shipped target file): every cell from data to
//! report; the report snapshot (timing and memory redacted); the plots; a
//! run given the shared ranking equals the run that ranks its blocks
//! itself, and a ranking of another checkpoint is refused; a second run
//! reuses every cell; two studies give identical Parquet apart from timing;
//! a killed study finishes, when rerun, with the same report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use entprog::plot;
use entprog::results::RunManifest;
use entprog::study::cells::{CellKind, Study};
use entprog::study::target::Target;
use polars::prelude::*;

pub fn entprog(_results: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_entprog"))
        .args(args)
        .arg("--quiet")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn study(results: &Path) -> Study {
    Study::new(Target::load("table3").unwrap(), "smoke", None, results.to_path_buf()).unwrap()
}

pub fn reproduce(results: &Path) -> std::process::Output {
    let out = entprog(
        results,
        &[
            "reproduce",
            "table3",
            "--profile",
            "smoke",
            "--results",
            results.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Every Parquet file of the study, relative path -> frame without timing
/// and memory columns (config hashes and run ids stay: they do not depend
/// on the results folder).
pub fn parquet_files(results: &Path) -> Vec<(PathBuf, DataFrame)> {
    let timing = [
        "wall_s",
        "peak_bytes",
        "clock_wall_s",
        "train_wall_s",
        "supernet_wall_s",
        "scoring_wall_s",
        "heldout_wall_s",
        "eval_wall_s",
        "total_wall_s",
        "train_peak_bytes",
        "process_peak_bytes",
    ];
    let mut out = Vec::new();
    let mut stack = vec![results.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") && !p.ends_with("report.parquet") {
                let mut df = ParquetReader::new(std::fs::File::open(&p).unwrap()).finish().unwrap();
                for c in timing {
                    df = df.drop(c).unwrap_or(df);
                }
                if df.get_column_names().iter().any(|c| c.as_str() == "metric") {
                    // Timing rows of eval.parquet.
                    let keep = df
                        .column("metric")
                        .unwrap()
                        .str()
                        .unwrap()
                        .iter()
                        .map(|m| m != Some("eval_wall_s"))
                        .collect::<BooleanChunked>();
                    df = df.filter(&keep).unwrap();
                }
                out.push((p.strip_prefix(results).unwrap().to_path_buf(), df));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn frame(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

/// A PNG of `size` that is not blank: some non-white pixels, several colours.
fn assert_plot(path: &Path, size: (u32, u32)) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), size, "{}", path.display());
    let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(
        inked as f64 > 0.02 * (size.0 * size.1) as f64,
        "{}: {inked} non-white pixels",
        path.display()
    );
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() >= 3, "{}: {} colours", path.display(), colours.len());
}

/// Every plot of the smoke report exists at its size and is not blank.
fn assert_smoke_plots(results: &Path) {
    let s = study(results);
    let dir = s.report_dir();
    for d in ["tiktok", "ubc-fashion"] {
        assert_plot(&dir.join(format!("curves-{d}.png")), plot::PANEL_SIZE);
        assert_plot(&dir.join(format!("ce-{d}.png")), plot::PANEL_SIZE);
        assert_plot(&dir.join(format!("blocks-{d}-ent-prog.png")), plot::STATE_SIZE);
        let ranking = s
            .cells
            .iter()
            .find(|c| c.kind == CellKind::Ranking && c.dataset.as_deref() == Some(d))
            .unwrap();
        let blocks = frame(&ranking.ranking_dir().join("blocks.parquet")).height();
        assert_plot(
            &dir.join(format!("cei-{d}-ent-prog.png")),
            (plot::BAR_WIDTH, plot::bar_height(blocks)),
        );
        // The sheet: each arm's first-seed samples.png, scaled, under a label.
        let images: Vec<(String, image::RgbImage)> = s
            .cells
            .iter()
            .filter(|c| matches!(c.kind, CellKind::Eval { .. }) && c.dataset.as_deref() == Some(d))
            .map(|c| {
                let png = entprog::study::reproduce::eval_dir(&s, c).join("samples.png");
                (String::new(), image::open(png).unwrap().to_rgb8())
            })
            .collect();
        assert_eq!(images.len(), 2);
        let size = plot::sheet_size(&images, plot::sheet_scale(&images, 640));
        assert_plot(&dir.join(format!("samples-{d}.png")), size);
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains(&format!("](curves-{d}.png)")), "{md}");
    }
}

/// Training steps, block scores and states, supernet and evaluation rows of a run, without timing.
fn run_tables(dir: &Path) -> Vec<(String, DataFrame)> {
    ["steps", "blocks", "supernet", "eval"]
        .iter()
        .map(|t| {
            let mut df = frame(&dir.join(format!("{t}.parquet")));
            for c in ["run", "wall_s", "peak_bytes", "clock_wall_s"] {
                df = df.drop(c).unwrap_or(df);
            }
            (t.to_string(), df)
        })
        .collect()
}

/// The arm's experiment file and `--set` flags, without `schedule.ranking`
/// (and its `ranking_hash`) and with `output.results_dir` set to `results`.
fn arm_args(s: &Study, dataset: &str, results: &Path) -> (String, Vec<String>) {
    let arm = s
        .cells
        .iter()
        .find(|c| c.kind == CellKind::Arm && c.ranking.is_some() && c.dataset.as_deref() == Some(dataset))
        .unwrap();
    // The arm's experiment file (the cell's name carries the dataset).
    let experiment = s
        .target
        .config
        .arms
        .iter()
        .find(|a| Some(&a.scheme) == arm.scheme.as_ref())
        .unwrap()
        .experiment
        .clone();
    let mut args = Vec::new();
    for set in &arm.sets {
        if set.starts_with("schedule.ranking") || set.starts_with("output.results_dir=") {
            continue;
        }
        args.extend(["--set".to_string(), set.clone()]);
    }
    args.extend([
        "--set".into(),
        format!("output.results_dir={:?}", results.display().to_string()),
    ]);
    (experiment, args)
}

/// `entprog train` on an arm cell's experiment with its `--set` flags,
/// `schedule.ranking` replaced by `ranking` (none: the run ranks itself),
/// results in `results`.
fn train_arm(s: &Study, dataset: &str, ranking: Option<&Path>, results: &Path) -> std::process::Output {
    let (experiment, sets) = arm_args(s, dataset, results);
    let mut args = vec!["train".to_string(), experiment];
    args.extend(sets);
    if let Some(r) = ranking {
        args.extend([
            "--set".into(),
            format!("schedule.ranking={:?}", r.display().to_string()),
        ]);
    }
    let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    entprog(results, &args)
}

/// The model's rows of an `eval.parquet`: metric -> value, timing left out.
fn model_values(path: &Path) -> std::collections::BTreeMap<String, f64> {
    let df = frame(path);
    let (subject, metric, value) = (
        df.column("subject").unwrap().str().unwrap().clone(),
        df.column("metric").unwrap().str().unwrap().clone(),
        df.column("value").unwrap().f64().unwrap().clone(),
    );
    (0..df.height())
        .filter(|&i| subject.get(i) == Some("model") && metric.get(i) != Some("eval_wall_s"))
        .map(|i| (metric.get(i).unwrap().to_string(), value.get(i).unwrap()))
        .collect()
}

/// `entprog eval` on the study's baseline stage-3 run, at the evaluation
/// cell's own settings, reproduces that cell's numbers; a second setting
/// gets its own folder with the sheet and GIF; a rerun reuses both; bad
/// input is one line, exit 2.
fn assert_eval_command_reproduces_the_evaluation_cell(results: &Path) {
    let s = study(results);
    let arm = s
        .cells
        .iter()
        .find(|c| c.kind == CellKind::Arm && c.baseline && c.dataset.as_deref() == Some("tiktok"))
        .unwrap();
    let eval_cell = s
        .cells
        .iter()
        .find(|c| matches!(c.kind, CellKind::Eval { of } if std::ptr::eq(&s.cells[of], arm)))
        .unwrap();
    let run_dir = arm.exp.run_spec("train", None).dir();
    let run = run_dir.to_str().unwrap();
    // The smoke profile's feature-network settings, so the study's networks are reused.
    let mut args = vec!["eval", run, "--clips", "2", "--steps", "4,2"];
    let features: Vec<String> = s.profile.features_set.clone();
    for f in &features {
        args.extend(["--features-set", f.as_str()]);
    }
    let out = entprog(results, &args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let cell = model_values(&entprog::study::reproduce::eval_dir(&s, eval_cell).join("eval.parquet"));
    let settings: Vec<PathBuf> = std::fs::read_dir(run_dir.join("eval"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(settings.len(), 2, "{settings:?}");
    let four = settings
        .iter()
        .find(|p| p.file_name().unwrap().to_str().unwrap().contains("4-g"))
        .unwrap()
        .join("seed-0");
    assert_eq!(
        model_values(&four.join("eval.parquet")),
        cell,
        "entprog eval against the study's cell"
    );
    for dir in &settings {
        for f in ["eval.parquet", "samples.png", "samples.gif"] {
            assert!(dir.join("seed-0").join(f).is_file(), "{} lacks {f}", dir.display());
        }
    }
    for row in ["truth", "reference_copy", "ssim", "psnr", "pck"] {
        assert!(stdout.contains(row), "{row} missing from:\n{stdout}");
    }
    assert_eq!(stdout.matches("wrote").count(), 2, "{stdout}");
    let again = entprog(results, &args);
    assert_eq!(String::from_utf8_lossy(&again.stdout).matches("reused").count(), 2);
    // Bad input: not a run folder; EMA weights the run does not have; --steps 0.
    for (bad, says) in [
        (vec!["eval", results.to_str().unwrap()], "not a training run's folder"),
        (vec!["eval", run, "--ema", "--features", "none"], "no EMA weights"),
        (vec!["eval", run, "--steps", "0", "--features", "none"], "--steps 0"),
    ] {
        let out = entprog(results, &bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(says) && err.trim().lines().count() == 1, "{bad:?}: {err}");
    }
}

/// `[eval]` through `--set`: a run generates and scores test clips every
/// `eval.every` steps and at the end, with its wall time in `eval_wall_s`,
/// out of the training time; its last evaluation equals `entprog eval` of
/// its final checkpoint at the same settings.
fn assert_periodic_evaluation_equals_entprog_eval(results: &Path) {
    let s = study(results);
    let own = results.join("periodic");
    let (experiment, mut sets) = arm_args(&s, "tiktok", &own);
    for set in ["eval.every=20", "eval.clips=2", "eval.sample_steps=3"] {
        sets.extend(["--set".to_string(), set.to_string()]);
    }
    let mut args = vec!["train", experiment.as_str()];
    args.extend(sets.iter().map(|a| a.as_str()));
    let out = entprog(results, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run_dir = std::fs::read_dir(&own)
        .unwrap()
        .map(|e| e.unwrap().path().join("train").join("seed-0"))
        .next()
        .unwrap();
    let df = frame(&run_dir.join("eval.parquet"));
    let (step, metric, value) = (
        df.column("step").unwrap().u64().unwrap().clone(),
        df.column("metric").unwrap().str().unwrap().clone(),
        df.column("value").unwrap().f64().unwrap().clone(),
    );
    let at = |k: u64, m: &str| {
        (0..df.height())
            .find(|&i| step.get(i) == Some(k) && metric.get(i) == Some(m))
            .map(|i| value.get(i).unwrap())
    };
    for m in ["ssim", "psnr", "l1", "ssim_disco", "psnr_disco"] {
        assert!(at(20, m).is_some() && at(40, m).is_some(), "{m} at steps 20 and 40");
    }
    let runs = frame(&run_dir.join("runs.parquet"));
    let get = |c: &str| runs.column(c).unwrap().f64().unwrap().get(0).unwrap();
    assert!(get("eval_wall_s") > 0.0);
    let parts = get("train_wall_s") + get("supernet_wall_s") + get("scoring_wall_s") + get("heldout_wall_s");
    assert!(
        (get("total_wall_s") - parts).abs() < 1e-9,
        "evaluation time is kept out of training time"
    );
    let run = run_dir.to_str().unwrap();
    let out = entprog(
        results,
        &["eval", run, "--clips", "2", "--steps", "3", "--features", "none"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let setting = std::fs::read_dir(run_dir.join("eval"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let evaluated = model_values(&setting.join("seed-0").join("eval.parquet"));
    for m in ["ssim", "psnr", "l1"] {
        assert_eq!(
            Some(evaluated[m]),
            at(40, m),
            "{m}: the last periodic evaluation against entprog eval"
        );
    }
}

/// A run given the shared ranking trains exactly as the run that scores its
/// own blocks (the ranking cell scores them with the same code and seed);
/// a ranking of another checkpoint is refused in one line, exit 2.
fn assert_shared_ranking_equals_own_and_refuses_another_checkpoint(results: &Path) {
    let s = study(results);
    let own = tempfile::tempdir().unwrap();
    let out = train_arm(&s, "tiktok", None, own.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let arm = s
        .cells
        .iter()
        .find(|c| c.kind == CellKind::Arm && c.ranking.is_some() && c.dataset.as_deref() == Some("tiktok"))
        .unwrap();
    let own_dir = own.path().join(&arm.exp.name).join("train").join("seed-0");
    for ((t, shared), (_, ranked_itself)) in run_tables(&arm.train_dir()).iter().zip(run_tables(&own_dir)) {
        assert!(shared.height() > 0, "{t}.parquet is empty");
        assert!(
            shared.equals_missing(&ranked_itself),
            "{t}.parquet differs:\n{shared}\n{ranked_itself}"
        );
    }
    // The run that ranked itself paid for it; the one given the ranking did not.
    let scoring = |dir: &Path| {
        frame(&dir.join("runs.parquet"))
            .column("scoring_wall_s")
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
            .unwrap()
    };
    let ranking_wall = frame(&arm.ranking_dir().join("runs.parquet"))
        .column("total_wall_s")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap();
    assert!(
        scoring(&arm.train_dir()) < 0.5 * ranking_wall,
        "{} vs {ranking_wall}",
        scoring(&arm.train_dir())
    );
    // `entprog rank` by hand, on the arm's experiment and flags, writes the
    // same ranking, with its conditions batched 3 + 1 instead of one by one:
    // batching changes neither the values nor the config hash.
    let by_hand = tempfile::tempdir().unwrap();
    let (experiment, sets) = arm_args(&s, "tiktok", by_hand.path());
    let mut args = vec!["rank".to_string(), experiment];
    args.extend(sets);
    args.extend(["--set".to_string(), "cei.batch_conditions=3".to_string()]);
    let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    let out = entprog(by_hand.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("schedule.ranking=") && stdout.contains("scored in"),
        "{stdout}"
    );
    let values = |dir: &Path| -> serde_json::Value {
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("ranking.json")).unwrap()).unwrap();
        serde_json::json!([r["ids"], r["values"], r["se"], r["checkpoint_sha256"]])
    };
    let hand_dir = by_hand.path().join(&arm.exp.name).join("ranking").join("seed-0");
    assert_eq!(values(&hand_dir), values(&arm.ranking_dir()));
    let hash = |dir: &Path| RunManifest::read(&dir.join("manifest.json")).unwrap().config_hash;
    assert_eq!(hash(&hand_dir), hash(&arm.ranking_dir()));
    // UBC-Fashion's run given TikTok's ranking: another starting checkpoint.
    let other = tempfile::tempdir().unwrap();
    let refused = train_arm(&s, "ubc-fashion", Some(&arm.ranking_dir()), other.path());
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("schedule.ranking = ")
            && last.contains("ranks checkpoint")
            && last.contains("train.init_from = "),
        "{err}"
    );
}

#[test]
fn smoke_study_runs_end_to_end_reuses_its_cells_and_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let first = reproduce(a.path());
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(text.contains("# Table 3"), "{text}");
    let report_dir = a.path().join("table3").join("smoke");
    assert!(report_dir.join("report.md").is_file() && report_dir.join("report.parquet").is_file());
    // The report, rebuilt from the files, timing and memory redacted.
    let report = entprog::report::build(&study(a.path()), true).unwrap();
    insta::assert_snapshot!("table3_smoke_report", report.markdown);
    assert_smoke_plots(a.path());
    assert_shared_ranking_equals_own_and_refuses_another_checkpoint(a.path());
    // Every cell is reused the second time: nothing is trained again.
    let again = reproduce(a.path());
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("[reproduce"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // A second study from scratch gives the same files apart from timing.
    let b = tempfile::tempdir().unwrap();
    reproduce(b.path());
    let (x, y) = (parquet_files(a.path()), parquet_files(b.path()));
    assert_eq!(x.len(), y.len());
    assert!(x.len() >= 20, "{} parquet files", x.len());
    for ((p, dx), (q, dy)) in x.iter().zip(&y) {
        assert_eq!(p, q);
        assert!(dx.equals_missing(dy), "{} differs between two studies", p.display());
    }
    // After the comparison: it adds evaluations to the run folder.
    assert_eval_command_reproduces_the_evaluation_cell(a.path());
    assert_periodic_evaluation_equals_entprog_eval(a.path());
}

#[test]
fn a_killed_study_finishes_with_the_same_report_when_rerun() {
    let full = tempfile::tempdir().unwrap();
    reproduce(full.path());
    let killed = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entprog"))
        .args([
            "reproduce",
            "table3",
            "--profile",
            "smoke",
            "--quiet",
            "--results",
            killed.path().to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the first arm's run has started.
    let started = killed
        .path()
        .join("cells-smoke")
        .join("stage3-tiktok")
        .join("train")
        .join("seed-0")
        .join("steps.jsonl");
    for _ in 0..1200 {
        if started.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    reproduce(killed.path());
    let (x, y) = (
        entprog::report::build(&study(full.path()), true).unwrap().markdown,
        entprog::report::build(&study(killed.path()), true).unwrap().markdown,
    );
    assert_eq!(x, y);
}

#[test]
fn an_empty_ranking_path_is_refused_when_the_config_loads() {
    let d = tempfile::tempdir().unwrap();
    let out = entprog(
        d.path(),
        &["config", "show", "stage3-entprog", "--set", "schedule.ranking=\"\""],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("schedule.ranking") && err.contains("empty path"), "{err}");
}

#[test]
fn dry_run_lists_every_cell_with_its_state_and_a_bad_profile_is_one_line() {
    let d = tempfile::tempdir().unwrap();
    let out = entprog(
        d.path(),
        &[
            "reproduce",
            "table3",
            "--profile",
            "smoke",
            "--dry-run",
            "--results",
            d.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let plan = String::from_utf8_lossy(&out.stdout);
    // 2 feature networks + 1 foundation + 2 x (stage1, stage2) + 2 datasets
    // x (Ent-Prog's ranking + 2 arms x (run + eval)).
    assert!(plan.contains("17 cells"), "{plan}");
    assert_eq!(plan.matches("to run").count(), 17, "{plan}");
    assert_eq!(plan.matches("ranking Ent-Prog").count(), 2, "{plan}");
    assert!(
        plan.contains("network dance-frame") && plan.contains("network dance-clip"),
        "{plan}"
    );
    assert!(!d.path().join("cells-smoke").exists(), "a dry run writes nothing");
    let bad = entprog(
        d.path(),
        &[
            "reproduce",
            "table3",
            "--profile",
            "huge",
            "--results",
            d.path().to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no profile \"huge\"") && err.contains("smoke"), "{err}");
    // The paper profile stops with its estimate unless told to go on.
    let paper = entprog(
        d.path(),
        &[
            "reproduce",
            "table3",
            "--profile",
            "paper",
            "--results",
            d.path().to_str().unwrap(),
        ],
    );
    assert_eq!(paper.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&paper.stderr).contains("--yes"));
}

#[test]
fn every_profile_of_every_target_gives_each_model_data_of_its_frame_size() {
    // Study::new refuses a cell whose model and dataset disagree; the paper
    // profile's 256x256 preset runs on the -256 profiles.
    let d = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("experiments/targets").unwrap() {
        let path = entry.unwrap().path();
        let target = Target::load(path.to_str().unwrap()).unwrap();
        let profiles: Vec<String> = target.config.profiles.keys().cloned().collect();
        assert!(profiles.len() >= 3, "{}: {profiles:?}", path.display());
        for profile in profiles {
            let study = Study::new(target.clone(), &profile, Some(1), d.path().to_path_buf())
                .unwrap_or_else(|e| panic!("{} --profile {profile}: {e}", path.display()));
            for cell in &study.cells {
                let c = &cell.exp.config;
                let (h, w, _) = entprog::data::config::frame_size(&c.data.root, &c.data.dataset)
                    .unwrap_or_else(|| panic!("{}: no profile for {}", cell.label, c.data.dataset));
                assert_eq!(
                    (h, w),
                    (c.model.image_size, c.model.image_size),
                    "{profile}: {}",
                    cell.label
                );
                if profile == "paper" {
                    assert!(c.data.dataset.ends_with("-256"), "{}", c.data.dataset);
                }
            }
        }
    }
}

#[test]
fn a_model_of_another_frame_size_than_its_data_is_refused_before_it_is_built() {
    let d = tempfile::tempdir().unwrap();
    let out = entprog(
        d.path(),
        &[
            "train",
            "stage3",
            "--set",
            "model.preset=\"paper\"",
            "--set",
            &format!("output.results_dir={:?}", d.path().display().to_string()),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("data.dataset `tiktok` has 32x32 frames")
            && err.contains("datasets/tiktok.toml")
            && err.contains("model.image_size = 256"),
        "{err}"
    );
    assert!(!d
        .path()
        .join("stage3")
        .join("train")
        .join("seed-0")
        .join("last.safetensors")
        .exists());
}

#[test]
fn reproduce_refuses_bad_targets_seeds_and_datasets_in_one_line_and_runs_on_other_datasets() {
    let results = tempfile::tempdir().unwrap();
    let r = results.path().to_str().unwrap();
    // `reproduce <args> --dry-run --results <tmp>`.
    let dry = |args: &[&str]| {
        let mut all = vec!["reproduce"];
        all.extend(args);
        all.extend(["--dry-run", "--results", r]);
        entprog(results.path(), &all)
    };
    let out = dry(&["tabel3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no target \"tabel3\", expected one of: ablations, cei-samples, fig1, scorers, sensitivity, table1, table2, table3, table3-tiktok, table4, table5, all"),
        "{err}"
    );
    let out = dry(&["table3", "--profile", "smoke", "--seeds", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim(), "error: --seeds 0: a study needs at least one seed per arm");
    // --datasets: another dataset runs the same target, its report apart; a
    // name without a profile is one line listing the profiles.
    let out = dry(&["table3", "--profile", "smoke", "--datasets", "bilibili"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        plan.contains("(table3-bilibili)") && plan.contains("stage2-bilibili"),
        "{plan}"
    );
    assert!(!plan.contains("tiktok seed"), "{plan}");
    let out = dry(&["table3", "--datasets", "tiktok,tiktak"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no dataset \"tiktak\", expected one of: ") && err.contains("bilibili, bilibili-16"),
        "{err}"
    );
}

#[test]
fn table5_smoke_runs_every_ablation_arm_and_reports_them_beside_the_paper() {
    let results = tempfile::tempdir().unwrap();
    let r = results.path().to_str().unwrap();
    let out = entprog(
        results.path(),
        &[
            "reproduce",
            "table5",
            "--profile",
            "smoke",
            "--jobs",
            "2",
            "--results",
            r,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let study = Study::new(
        Target::load("table5").unwrap(),
        "smoke",
        None,
        results.path().to_path_buf(),
    )
    .unwrap();
    // Seven arms on TikTok: full, linear, random order, Ent-Prog, skip, re-rank, fixed m = 3.
    assert_eq!(study.target.config.arms.len(), 7);
    let report = entprog::report::build(&study, true).unwrap();
    insta::assert_snapshot!("table5_smoke_report", report.markdown);
}

#[test]
fn two_arms_of_one_experiment_differ_by_their_set_flags() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sweep.toml");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/targets/table3.toml");
    std::fs::write(
        &target,
        format!(
            "extends = {:?}\ndatasets = [\"tiktok\"]\n\n[[arms]]\nscheme = \"full\"\nexperiment = \"stage3\"\nbaseline = true\n\n\
             [[arms]]\nscheme = \"1 frozen\"\nexperiment = \"stage3-freeze\"\nset = [\"schedule.frozen=1\"]\n\n\
             [[arms]]\nscheme = \"2 frozen\"\nexperiment = \"stage3-freeze\"\nset = [\"schedule.frozen=2\"]\n",
            shipped.display().to_string()
        ),
    )
    .unwrap();
    let s = Study::new(
        Target::load(target.to_str().unwrap()).unwrap(),
        "smoke",
        None,
        dir.path().join("results"),
    )
    .unwrap();
    let frozen: Vec<(String, usize)> = s
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Arm)
        .map(|c| (c.exp.name.clone(), c.exp.config.schedule.frozen))
        .collect();
    assert_eq!(
        frozen,
        vec![
            ("stage3-tiktok".to_string(), 0),
            ("stage3-freeze-1-frozen-tiktok".to_string(), 1),
            ("stage3-freeze-2-frozen-tiktok".to_string(), 2),
        ]
    );
}

#[test]
fn the_scorers_target_lays_out_one_arm_per_scorer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Study::new(
        Target::load("scorers").unwrap(),
        "smoke",
        None,
        dir.path().to_path_buf(),
    )
    .unwrap();
    let scorers: Vec<&str> = s
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Arm)
        .map(|c| c.exp.config.schedule.scorer.as_str())
        .collect();
    // Full fine-tuning's scorer is the default and unused (it trains every block).
    assert_eq!(
        scorers,
        [
            "cei",
            "cei",
            "abs_cei",
            "knn_cei",
            "random",
            "depth_in",
            "depth_out",
            "grad_norm",
            "fisher",
            "loss_skip"
        ]
    );
}
