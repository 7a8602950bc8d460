//! Where a study's cells run: `--jobs 2` (a process per cell, two at once)
//! and `--executor slurm` against a real single-node Slurm
//! ([`crate::slurm_cluster`]) give the Parquet tables of a serial run,
//! timing and memory aside; a failing cell under Slurm cancels its
//! dependants and the error names the cell and its log.

use std::path::Path;
use std::process::Command;

use crate::slurm_cluster::{self, Cluster};
use crate::study::{parquet_files, reproduce};

/// `entprog reproduce table3 --profile smoke --results <results> <extra>`,
/// in the repository, with `env` added.
fn reproduce_with(results: &Path, extra: &[&str], env: &[(String, String)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entprog"));
    cmd.args(["reproduce", "table3", "--profile", "smoke", "--quiet", "--results"])
        .arg(results)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)));
    output_within(cmd)
}

/// The command's output, run in the repository; it is killed (and the test
/// fails) if it takes over five minutes, so a stuck queue cannot hang CI.
/// Output goes through files, so a full pipe cannot block the command.
fn output_within(mut cmd: Command) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} took over 5 minutes: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// The two studies' Parquet tables are equal, file for file.
fn assert_same_tables(a: &Path, b: &Path) {
    let (x, y) = (parquet_files(a), parquet_files(b));
    assert!(x.len() >= 20, "{} parquet files", x.len());
    let names = |v: &[(std::path::PathBuf, _)]| v.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&x), names(&y));
    for ((p, dx), (_, dy)) in x.iter().zip(&y) {
        assert!(dx.equals_missing(dy), "{} differs", p.display());
    }
}

#[test]
fn two_jobs_at_once_give_the_tables_of_a_serial_run() {
    let serial = tempfile::tempdir().unwrap();
    reproduce(serial.path());
    let parallel = tempfile::tempdir().unwrap();
    let out = reproduce_with(parallel.path(), &["--jobs", "2"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("# Table 3"));
    assert_same_tables(serial.path(), parallel.path());
    // Each cell ran as its own process, its output in its log.
    let logs = parallel.path().join("cells-smoke").join("logs");
    assert!(logs.join("foundation.log").is_file(), "{}", logs.display());
}

#[test]
fn the_smoke_study_through_slurm_equals_a_local_run() {
    let _one = slurm_cluster::lock();
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("Slurm did not start: {e}"));
    let local = tempfile::tempdir().unwrap();
    reproduce(local.path());
    let remote = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let out = reproduce_with(remote.path(), &["--executor", "slurm"], &cluster.env());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    eprintln!("smoke study through Slurm: {:.1} s", start.elapsed().as_secs_f64());
    assert!(stderr.contains("submitted 17 job(s)"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("# Table 3"));
    assert_same_tables(local.path(), remote.path());
    // A rerun submits nothing: every cell is finished.
    let again = reproduce_with(remote.path(), &["--executor", "slurm"], &cluster.env());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("submitted 0 job(s)"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let status = reproduce_with(remote.path(), &["--executor", "slurm", "--status"], &cluster.env());
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.lines().filter(|l| l.ends_with(" done")).count(), 17, "{text}");
}

#[test]
fn a_failed_cell_under_slurm_cancels_its_dependants_and_names_its_log() {
    let _one = slurm_cluster::lock();
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("Slurm did not start: {e}"));
    // The smoke target whose foundation starts from a checkpoint that is not
    // there: the first job fails, and every other cell depends on it.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("broken.toml");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/targets/table3.toml");
    std::fs::write(
        &target,
        format!(
            "extends = {:?}\n[profiles.smoke]\nexperiment_set.foundation = [\"train.init_from='/nowhere/last.safetensors'\"]\n",
            shipped.display().to_string()
        ),
    )
    .unwrap();
    let results = dir.path().join("results");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entprog"));
    cmd.args(["reproduce", target.to_str().unwrap(), "--profile", "smoke", "--quiet"])
        .args(["--executor", "slurm", "--results", results.to_str().unwrap()])
        .envs(cluster.env());
    let out = output_within(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr.lines().last().unwrap_or("");
    assert!(line.starts_with("error: cell foundation failed (job "), "{stderr}");
    assert!(
        line.contains("foundation.log") && line.contains("dependent cell(s) cancelled"),
        "{stderr}"
    );
    let log = results.join("cells-smoke").join("slurm").join("foundation.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/nowhere/last.safetensors"), "{text}");
    // Nothing of the cancelled cells stays queued.
    let (_, queue, _) = cluster.client("squeue", &["-h"]);
    assert!(queue.trim().is_empty(), "{queue}");
}

#[test]
fn a_slurm_setting_for_an_unknown_kind_of_cell_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.toml");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/targets/table3.toml");
    std::fs::write(
        &target,
        format!(
            "extends = {:?}\n[profiles.smoke.slurm]\ncpus_per_task = 2\n[profiles.smoke.slurm.kinds.evals]\ncpus_per_task = 1\n",
            shipped.display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entprog"));
    cmd.args(["reproduce", target.to_str().unwrap(), "--profile", "smoke", "--dry-run"]);
    let out = output_within(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("profiles.smoke.slurm.kinds.evals") && stderr.contains("network, chain, ranking, arm, eval"),
        "{stderr}"
    );
}
