//! Harness foundation: configuration layers and their errors, config hashes,
//! run folders (manifests, locks, caching), Parquet tables read back with
//! Polars, and the ban on ambient randomness.

use std::path::{Path, PathBuf};
use std::process::Command;

use entprog::config::load::load_with_env;
use entprog::config::ConfigError;
use entprog::experiment::{Experiment, ExperimentConfig};
use entprog::results::{write_table, Opened, RunDir, RunSpec, StepRow, TableWriter};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(file: &Path, sets: &[&str], vars: &[(&str, &str)]) -> Result<ExperimentConfig, ConfigError> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load_with_env::<ExperimentConfig, _>(file, &sets, env(vars)).map(|r| r.config)
}

fn err(file: &Path, sets: &[&str], vars: &[(&str, &str)]) -> String {
    load(file, sets, vars).expect_err("expected a config error").to_string()
}

mod config_layers {
    use super::*;

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "seed = 1\n[run]\nthreads = 1\n");
        assert_eq!(load(&f, &[], &[]).unwrap().seed, 1);
        assert_eq!(load(&f, &[], &[("ENTPROG_SEED", "2")]).unwrap().seed, 2);
        assert_eq!(load(&f, &["seed=3"], &[("ENTPROG_SEED", "2")]).unwrap().seed, 3);
        // Nested keys through `__` and dotted flags.
        let c = load(&f, &["output.log_every_s=2.5"], &[("ENTPROG_RUN__THREADS", "2")]).unwrap();
        assert_eq!(c.run.threads, 2);
        assert_eq!(c.output.log_every_s, 2.5);
        // A key absent everywhere keeps its default.
        assert_eq!(c.output.results_dir, PathBuf::from("results"));
    }

    #[test]
    fn extends_resolves_relative_to_the_file_and_child_wins() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        write(d.path(), "base.toml", "seed = 5\n[run]\nthreads = 3\n");
        let f = write(
            &d.path().join("sub"),
            "child.toml",
            "extends = \"../base.toml\"\nseed = 6\n",
        );
        let c = load(&f, &[], &[]).unwrap();
        assert_eq!((c.seed, c.run.threads), (6, 3));
    }

    #[test]
    fn missing_file_is_named() {
        let e = err(Path::new("experiments/does-not-exist.toml"), &[], &[]);
        assert_eq!(e, "experiments/does-not-exist.toml: experiment file not found");
    }

    #[test]
    fn syntax_error_gives_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "seed = 1\n[run\nthreads = 2\n");
        let e = err(&f, &[], &[]);
        assert!(e.starts_with(&format!("{}:2:", f.display())), "{e}");
        assert!(e.contains("TOML syntax error"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "seed = 1\n[run]\nthreads = 2\nthredas = 3\n");
        let e = err(&f, &[], &[]);
        assert!(
            e.starts_with(&format!("{}:4:1: run.thredas: unknown key", f.display())),
            "{e}"
        );
        assert!(e.contains("threads"), "lists the expected keys: {e}");
    }

    #[test]
    fn wrong_type_names_file_line_key_and_types() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "# comment\n[output]\nlog_every_s = \"fast\"\n");
        let e = err(&f, &[], &[]);
        assert_eq!(
            e,
            format!(
                "{}:3:1: output.log_every_s: invalid type: found string \"fast\", expected f64",
                f.display()
            )
        );
    }

    #[test]
    fn wrong_type_from_env_and_flag_name_their_source() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "seed = 1\n");
        let e = err(&f, &[], &[("ENTPROG_OUTPUT__LOG_EVERY_S", "fast")]);
        assert!(
            e.starts_with("environment variable ENTPROG_OUTPUT__LOG_EVERY_S: output.log_every_s: invalid type"),
            "{e}"
        );
        let e = err(&f, &["seed=fast"], &[]);
        assert!(
            e.starts_with("--set seed=fast: seed: invalid type: found string \"fast\""),
            "{e}"
        );
        let e = err(&f, &["nope"], &[]);
        assert_eq!(e, "--set nope: expected key.path=value");
        let e = err(&f, &[], &[("ENTPROG_NOPE", "1")]);
        assert!(
            e.starts_with("environment variable ENTPROG_NOPE: nope: unknown key"),
            "{e}"
        );
    }

    #[test]
    fn out_of_range_value_is_reported_after_merging_with_its_source() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "x.toml", "[output]\nlog_every_s = -1.0\n");
        let e = err(&f, &[], &[]);
        assert!(
            e.starts_with(&format!("{}:2:1: output.log_every_s: -1 is out of range", f.display())),
            "{e}"
        );
        let e = err(&f, &["output.log_every_s=0"], &[]);
        assert!(
            e.starts_with("--set output.log_every_s=0: output.log_every_s: 0 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn extends_cycle_is_detected() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.toml", "extends = \"b.toml\"\n");
        write(d.path(), "b.toml", "extends = \"a.toml\"\n");
        let e = err(&d.path().join("a.toml"), &[], &[]);
        assert!(e.contains("extends: cycle:"), "{e}");
        assert!(e.contains("a.toml -> ") && e.contains("b.toml"), "{e}");
    }

    #[test]
    fn a_missing_base_is_named_with_the_file_that_extends_it() {
        let d = tempfile::tempdir().unwrap();
        let child = write(d.path(), "child.toml", "extends = \"gone.toml\"\n");
        let e = err(&child, &[], &[]);
        let gone = d.path().join("gone.toml");
        assert_eq!(
            e,
            format!("{}: extends: no experiment file {}", child.display(), gone.display())
        );
    }
}

mod config_hash {
    use super::*;

    fn hash_of(text: &str) -> String {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "exp.toml", text);
        let c = load(&f, &[], &[]).unwrap();
        Experiment::from_config(c, f, vec![], vec![]).hash
    }

    #[test]
    fn reordered_keys_and_formatting_give_the_same_hash() {
        let a = hash_of("seed = 4\n[run]\nthreads = 1\n[output]\nlog_every_s = 5.0\n");
        let b = hash_of("output.log_every_s = 5\nrun = { threads = 1 }\n\n  seed=4 # same\n");
        assert_eq!(a, b);
    }

    #[test]
    fn a_changed_value_changes_the_hash() {
        assert_ne!(hash_of("seed = 4\n"), hash_of("seed = 5\n"));
        assert_ne!(hash_of("run.threads = 1\n"), hash_of("run.threads = 2\n"));
    }

    #[test]
    fn presentation_keys_do_not_change_the_hash() {
        assert_eq!(
            hash_of("seed = 4\n"),
            hash_of("seed = 4\nname = \"other\"\ndescription = \"words\"\n[output]\nresults_dir = \"elsewhere\"\n")
        );
    }
}

mod run_folders {
    use super::*;

    fn spec(root: &Path, hash: &str) -> RunSpec {
        RunSpec {
            results_dir: root.to_path_buf(),
            experiment: "exp".into(),
            cell: "full".into(),
            seed: 3,
            config_hash: hash.into(),
            config_toml: "seed = 3\n".into(),
        }
    }

    fn fresh(s: &RunSpec) -> RunDir {
        match RunDir::open(s).unwrap() {
            Opened::Fresh(d) => d,
            Opened::Cached { .. } => panic!("expected a fresh run"),
        }
    }

    #[test]
    fn config_and_manifest_exist_before_the_first_step() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), "aaaaaaaaaaaaaaaa");
        let run = fresh(&s);
        let dir = d.path().join("exp/full/seed-3");
        assert_eq!(run.path(), dir);
        assert_eq!(std::fs::read_to_string(dir.join("config.toml")).unwrap(), "seed = 3\n");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["status"], "running");
        assert_eq!(m["config_hash"], "aaaaaaaaaaaaaaaa");
        assert_eq!(m["run_id"], "aaaaaaaaaaaa-s3");
        assert!(m["threads"].as_u64().unwrap() >= 1);
        assert!(!m["rustc_version"].as_str().unwrap().is_empty());
        assert!(m["started_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_complete_cell_with_the_same_hash_is_reused_and_another_hash_redone() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), "aaaaaaaaaaaaaaaa");
        let run = fresh(&s);
        write_table(run.path(), vec![step_row(0)]).unwrap();
        run.complete(&["steps.parquet"]).unwrap();
        assert!(matches!(RunDir::open(&s).unwrap(), Opened::Cached { .. }));
        let other = spec(d.path(), "bbbbbbbbbbbbbbbb");
        let run = fresh(&other);
        assert!(!run.resumable);
        assert!(
            !run.path().join("steps.parquet").exists(),
            "outputs of another config are cleared"
        );
    }

    #[test]
    fn an_incomplete_cell_is_redone_keeping_same_config_files_for_resume() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), "aaaaaaaaaaaaaaaa");
        let run = fresh(&s);
        std::fs::write(run.path().join("checkpoint.safetensors"), b"x").unwrap();
        std::fs::write(run.path().join("steps.parquet.tmp"), b"partial").unwrap();
        drop(run); // killed before completing
        let run = fresh(&s);
        assert!(run.resumable);
        assert!(run.path().join("checkpoint.safetensors").exists());
        assert!(!run.path().join("steps.parquet.tmp").exists());
    }

    #[test]
    fn a_folder_being_written_is_refused_and_free_again_once_its_run_ends() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), "aaaaaaaaaaaaaaaa");
        let held = fresh(&s);
        let e = RunDir::open(&s).unwrap_err().to_string();
        let me = std::process::id();
        assert!(
            e.contains(".lock") && e.contains(&format!("locked by process {me}")),
            "{e}"
        );
        drop(held);
        fresh(&s);
    }

    #[test]
    fn an_unwritable_results_folder_is_named() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("file");
        std::fs::write(&blocker, b"not a folder").unwrap();
        let e = RunDir::open(&spec(&blocker, "aaaa")).unwrap_err().to_string();
        assert!(e.contains("results folder is not writable"), "{e}");
        assert!(e.contains("file/exp/full/seed-3"), "{e}");
    }
}

fn step_row(step: u64) -> StepRow {
    StepRow {
        run: "r-s0".into(),
        stage: "stage2".into(),
        phase: "train".into(),
        step,
        m: if step.is_multiple_of(2) { Some(4) } else { None },
        loss: 1.0 / (step as f64 + 1.0),
        lr: 1e-4,
        wall_s: 0.5,
        flops: 1e9 * step as f64,
        peak_bytes: 1 << 20,
    }
}

mod locks {
    use super::*;
    use entprog::results::{FolderLock, LockError};
    use std::io::BufRead;

    #[test]
    fn a_lock_file_left_behind_that_no_process_holds_never_blocks() {
        let d = tempfile::tempdir().unwrap();
        // What a killed run of the old PID-file lock left, naming this very
        // (live) process, and what a crash mid-write would leave.
        for leftover in [format!("{}\n", std::process::id()), String::new(), "junk".into()] {
            std::fs::write(d.path().join(".lock"), leftover).unwrap();
            let lock = FolderLock::acquire(d.path()).unwrap();
            let written = std::fs::read_to_string(lock.path()).unwrap();
            assert_eq!(written, format!("{}\n", std::process::id()));
        }
    }

    #[test]
    fn a_second_lock_in_the_same_process_is_refused_while_the_first_is_held() {
        let d = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(d.path()).unwrap();
        let e = FolderLock::acquire(d.path()).unwrap_err();
        assert!(
            matches!(e, LockError::Held { pid: Some(p), .. } if p == std::process::id()),
            "{e}"
        );
        drop(first);
        FolderLock::acquire(d.path()).unwrap();
    }

    /// A process being spawned holds copies of our descriptors between fork
    /// and exec; a dropped lock must be free at once all the same.
    #[test]
    fn a_dropped_lock_is_free_at_once_while_other_threads_spawn_processes() {
        let d = tempfile::tempdir().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let refused = std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        Command::new("true").status().unwrap();
                    }
                });
            }
            // Each lock is dropped as soon as it is taken.
            let refused = (0..500).find_map(|i| FolderLock::acquire(d.path()).err().map(|e| format!("round {i}: {e}")));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            refused
        });
        assert_eq!(refused, None);
    }

    /// Another process takes the same `flock(2)` lock (Python's `fcntl.flock`
    /// and std's `File::try_lock` both call it on Linux) and writes its PID.
    #[test]
    fn a_lock_held_by_a_process_killed_with_sigkill_is_free_immediately() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".lock");
        let script = "import fcntl, os, sys, time\n\
                      f = open(sys.argv[1], 'a')\n\
                      fcntl.flock(f, fcntl.LOCK_EX)\n\
                      f.truncate(0); f.write(f'{os.getpid()}\\n'); f.flush()\n\
                      print('locked', flush=True)\n\
                      time.sleep(120)\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("this test needs python3 on PATH");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");
        let e = FolderLock::acquire(d.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("locked by process {}", child.id())), "{e}");
        child.kill().unwrap(); // SIGKILL: no handler runs, only the kernel cleans up
        child.wait().unwrap();
        FolderLock::acquire(d.path()).unwrap();
    }
}

mod parquet_tables {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn rows_round_trip_through_polars_across_row_groups() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<StepRow>::with_row_group(d.path(), 3).unwrap();
        for s in 0..10 {
            w.push(step_row(s)).unwrap();
        }
        let path = w.finish().unwrap();
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.shape(), (10, 10));
        let steps: Vec<u64> = df.column("step").unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(steps, (0..10).collect::<Vec<_>>());
        let m = df.column("m").unwrap().u32().unwrap();
        assert_eq!((m.get(0), m.get(1)), (Some(4), None));
        let loss = df.column("loss").unwrap().f64().unwrap();
        assert_eq!(loss.get(3), Some(0.25));
        let stage = df.column("stage").unwrap().str().unwrap();
        assert_eq!(stage.get(9), Some("stage2"));
        let md = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let meta = md.metadata();
        assert_eq!(meta.num_row_groups(), 4);
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|k| k.key == "entprog.schema_version" && k.value.as_deref() == Some("1")));
    }

    #[test]
    fn identical_rows_give_byte_identical_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pa = write_table(a.path(), (0..50).map(step_row).collect()).unwrap();
        let pb = write_table(b.path(), (0..50).map(step_row).collect()).unwrap();
        assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
    }

    #[test]
    fn a_writer_dropped_midway_leaves_no_complete_looking_file() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<StepRow>::with_row_group(d.path(), 2).unwrap();
        for s in 0..5 {
            w.push(step_row(s)).unwrap();
        }
        drop(w);
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

mod binary {
    use super::*;

    fn entprog(args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_entprog"))
            .args(args)
            .env_remove("ENTPROG_SEED")
            .output()
            .unwrap()
    }

    #[test]
    fn config_show_prints_resolved_toml_and_hash() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "exp.toml", "seed = 9\n");
        let out = entprog(&["config", "show", f.to_str().unwrap(), "--set", "run.threads=1"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("seed = 9"), "{text}");
        assert!(text.contains("threads = 1"), "{text}");
        assert!(text.contains("name = \"exp\""), "{text}");
        assert!(text.contains("# config hash: sha256:"), "{text}");
    }

    #[test]
    fn bad_input_exits_2_with_one_line() {
        let out = entprog(&["config", "show", "no/such/file.toml"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err, "error: no/such/file.toml: experiment file not found\n");
    }
}

#[test]
fn src_has_no_ambient_randomness() {
    let banned = ["thread_rng", "rand::rng()", "from_entropy", "OsRng"];
    let mut offenders = Vec::new();
    let mut stack = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for b in banned {
                    if text.contains(b) {
                        offenders.push(format!("{}: {b}", p.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "ambient randomness in src/: {offenders:?}");
}
