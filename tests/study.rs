//! `reproduce table3 --profile smoke` end to end, as a user runs it (the
//! `entprog` binary on the shipped target file): every cell from data to
//! report; the report snapshot (timing and memory redacted); a second run
//! reuses every cell; two studies give identical Parquet apart from timing;
//! a killed study finishes, when rerun, with the same report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use entprog::study::cells::Study;
use entprog::study::target::Target;
use polars::prelude::*;

fn entprog(_results: &Path, args: &[&str]) -> std::process::Output {
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

fn reproduce(results: &Path) -> std::process::Output {
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

/// Every Parquet file of the study, relative path -> frame without timing columns.
fn parquet_files(results: &Path) -> Vec<(PathBuf, DataFrame)> {
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
        "run",
        "config_hash",
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
    // 2 feature networks + 1 foundation + 2 x (stage1, stage2) + 2 datasets x 2 arms x (run + eval).
    assert!(plan.contains("15 cells"), "{plan}");
    assert_eq!(plan.matches("to run").count(), 15, "{plan}");
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
