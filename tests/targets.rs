//! Every reproduce target at the smoke profile, as a user runs them:
//! `reproduce all --profile smoke --jobs 2` from data to reports, then each
//! paper and beyond-paper target's report as a snapshot (timing and memory
//! redacted); the parts a grouped target adds (a baseline per group, an arm
//! starting from an earlier chain stage, a step budget, a cell shared with
//! the chain, the probe and trend sections); the `all` plan; bad targets
//! refused in one line naming the key.

use std::path::Path;

use entprog::study::cells::{CellKind, Study};
use entprog::study::target::Target;

use super::study::entprog;

fn study(name: &str, results: &Path) -> Study {
    Study::new(Target::load(name).unwrap(), "smoke", None, results.to_path_buf()).unwrap()
}

#[test]
fn every_target_runs_at_smoke_and_reports_in_the_papers_layout() {
    let results = tempfile::tempdir().unwrap();
    let r = results.path().to_str().unwrap();
    let out = entprog(
        results.path(),
        &["reproduce", "all", "--profile", "smoke", "--jobs", "2", "--results", r],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in entprog::study::all::names(&Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/targets")) {
        assert!(
            results.path().join(&name).join("smoke/report.md").is_file(),
            "{name}: no report"
        );
    }
    // (sensitivity's wall-clock arm decides on measured seconds, so its
    // report is checked by its parts below, not as a snapshot)
    for name in [
        "table1",
        "table2",
        "table4",
        "fig1",
        "scorers",
        "ablations",
        "cei-samples",
    ] {
        let s = study(name, results.path());
        let report = entprog::report::build(&s, true).unwrap();
        insta::assert_snapshot!(format!("{name}_smoke_report"), report.markdown);
    }

    // Table 2: stage-1 arms start from the foundation, stage-2 arms from the
    // chain's stage 1; full stage 1's seed 0 is the chain's own cell.
    let t2 = study("table2", results.path());
    let chain_stage1 = t2
        .cells
        .iter()
        .find(|c| c.kind == CellKind::Chain && c.label == "stage1-bilibili")
        .unwrap();
    let arm = |label: &str| t2.cells.iter().find(|c| c.label == label).unwrap();
    let full1 = arm("original bilibili, stage 1 seed 0");
    assert_eq!(full1.train_dir(), chain_stage1.train_dir());
    assert_eq!(full1.exp.hash, chain_stage1.exp.hash);
    let foundation = t2.cells.iter().find(|c| c.label == "foundation").unwrap();
    assert_eq!(
        arm("Ent-Prog bilibili, stage 1 seed 0")
            .exp
            .config
            .train
            .init_from_hash
            .as_deref(),
        Some(foundation.exp.hash.as_str())
    );
    assert_eq!(
        arm("Ent-Prog bilibili, stage 2 seed 0")
            .exp
            .config
            .train
            .init_from_hash
            .as_deref(),
        Some(chain_stage1.exp.hash.as_str())
    );

    // Table 1: the second budget trains twice the profile's steps.
    let t1 = study("table1", results.path());
    let steps = |label: &str| {
        t1.cells
            .iter()
            .find(|c| c.label == label)
            .unwrap()
            .exp
            .config
            .train
            .steps
    };
    assert_eq!(
        steps("original bilibili, budget 2x seed 0"),
        2 * steps("original bilibili, budget 1x seed 0")
    );

    // Figure 1: the probe's table and verdicts, and the trend verdicts.
    let fig1 = std::fs::read_to_string(results.path().join("fig1/smoke/report.md")).unwrap();
    assert!(
        fig1.contains("## Figure 1b-c: skipping k random blocks at once"),
        "{fig1}"
    );
    assert!(fig1.contains("tiktok, (a) frozen blocks: freezing more blocks lowers final quality"));
    assert!(results.path().join("fig1/smoke/probe-tiktok.png").is_file());
    // (d)'s baseline is not full fine-tuning, and the claims say so.
    assert!(
        fig1.contains("faster than the baseline (bottom third by CEI)"),
        "{fig1}"
    );

    // Sensitivity: a block per setting, each with its own full baseline.
    let sens = std::fs::read_to_string(results.path().join("sensitivity/smoke/report.md")).unwrap();
    for block in ["## tiktok, as configured", "## tiktok, lr 1e-5", "## tiktok, 2x steps"] {
        assert!(sens.contains(block), "{block}: {sens}");
    }
    assert!(sens.contains("| Ent-Prog, CE on the wall clock |") && sens.contains("CE per second"));

    // Sensitivity: a block per setting, each with its own full baseline.
    let sens = std::fs::read_to_string(results.path().join("sensitivity/smoke/report.md")).unwrap();
    for block in ["## tiktok, as configured", "## tiktok, lr 1e-5", "## tiktok, 2x steps"] {
        assert!(sens.contains(block), "{block}: {sens}");
    }
    assert!(sens.contains("| Ent-Prog, CE on the wall clock |") && sens.contains("CE per second"));

    // The ablations are Table 5's and Figure 1's cells on three datasets:
    // its TikTok cells are theirs, reused.
    let ab = study("ablations", results.path());
    let t5 = study("table5", results.path());
    for c in t5.cells.iter().filter(|c| c.kind == CellKind::Arm) {
        assert!(ab
            .cells
            .iter()
            .any(|a| a.train_dir() == c.train_dir() && a.exp.hash == c.exp.hash));
    }
    for d in ["tiktok", "ubc-fashion", "bilibili"] {
        assert!(ab
            .cells
            .iter()
            .any(|c| c.kind == (CellKind::Probe { trials: 5 }) && c.block() == d));
    }
}

#[test]
fn all_dry_run_lists_every_target_and_counts_a_shared_cell_once() {
    let results = tempfile::tempdir().unwrap();
    let r = results.path().to_str().unwrap();
    let out = entprog(
        results.path(),
        &["reproduce", "all", "--profile", "smoke", "--dry-run", "--results", r],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = String::from_utf8_lossy(&out.stdout);
    for name in [
        "table3",
        "cei-samples",
        "table5",
        "fig1",
        "scorers",
        "table1",
        "table2",
        "table4",
        "ablations",
    ] {
        assert!(plan.contains(&format!("\n| {name} | ")), "{name}: {plan}");
    }
    assert!(
        plan.contains("all targets, profile smoke: estimated time left"),
        "{plan}"
    );
    // Table 2's full stage 1 seed 0 is the chain's stage 1: shared, no time of its own.
    assert!(
        plan.lines().any(|l| l.contains("original bilibili, stage 1 seed 0")
            && l.contains("shared")
            && l.contains("~      0s")),
        "{plan}"
    );
    // table3-tiktok adds nothing after table3.
    let row = plan.lines().find(|l| l.starts_with("| table3-tiktok |")).unwrap();
    assert!(row.ends_with("| 0s |"), "{row}");
}

#[test]
fn a_bad_grouped_target_is_one_line_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/targets/table3.toml");
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("extends = {:?}\n{body}", shipped.display().to_string())).unwrap();
        path.to_str().unwrap().to_string()
    };
    // Group a: full; group b: x (with `extra`) against y, its baseline.
    let arms = |extra: &str, b_baseline: bool| {
        format!(
            "[[arms]]\ngroup = \"a\"\nscheme = \"full\"\nexperiment = \"stage3\"\nbaseline = true\n\n\
             [[arms]]\ngroup = \"b\"\nscheme = \"x\"\nexperiment = \"stage3-entprog\"\n{extra}\n\n\
             [[arms]]\ngroup = \"b\"\nscheme = \"y\"\nexperiment = \"stage3\"\nbaseline = {b_baseline}\n"
        )
    };
    let cases = [
        (
            "no-baseline.toml",
            arms("", false),
            "arms: expected exactly one arm with baseline = true in group \"b\"",
        ),
        (
            "from.toml",
            arms("from = \"stage9\"", true),
            "arms[1].from: \"stage9\" is not a stage of the chain, expected one of: foundation, stage1, stage2",
        ),
        (
            "factor.toml",
            arms("steps_factor = 0.0", true),
            "arms[1].steps_factor: 0.0 is out of range, expected a factor > 0",
        ),
        (
            "arm-set.toml",
            format!("{}\n[profiles.smoke.arm_set]\n\"z\" = [\"seed=1\"]\n", arms("", true)),
            "profiles.smoke.arm_set: \"z\" is not the scheme of an arm",
        ),
    ];
    for (file, body, expected) in cases {
        let path = write(file, &body);
        let out = entprog(dir.path(), &["reproduce", &path, "--profile", "smoke", "--dry-run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.contains(expected), "{file}: {err}");
        assert!(err.contains(file), "{file}: names the file: {err}");
    }
}
