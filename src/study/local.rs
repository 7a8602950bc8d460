//! `reproduce --jobs N`: the study's task graph run as up to N concurrent
//! processes on this machine, each a `reproduce ... --cell <label>` (the same
//! code path as a serial run) started as soon as the tasks it reads are
//! finished, each with its share of the cores (`RAYON_NUM_THREADS`) and its
//! output in `<cells>/logs/<cell>.log`. The numbers equal a serial run's:
//! the smoke study gives bit-identical tables at 1 and 2 threads per cell.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cells::Study;
use super::graph::{slug, task_state, tasks, Task};
use super::reproduce::CellState;
use crate::progress::{Board, ProgressMode};

/// How to start one cell as a process: `program args... --cell <label> -q`
/// in `cwd` (the command line that laid out the study, with `--cell` added).
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
}

impl Launcher {
    /// The full argument list that runs the task labelled `label`.
    pub fn args_for(&self, label: &str) -> Vec<String> {
        let mut args = self.args.clone();
        args.extend(["--cell".to_string(), label.to_string(), "-q".to_string()]);
        args
    }
}

/// Why a parallel run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cell {cell} failed (exit {status}); its log: {log}")]
    Failed { cell: String, status: String, log: PathBuf },
    #[error("cell {cell}: cannot start {program}: {source}")]
    Spawn {
        cell: String,
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
}

/// Where the processes' logs go: `<results>/cells-<profile>/logs/`.
pub fn log_dir(study: &Study) -> PathBuf {
    study
        .results_dir
        .join(format!("cells-{}", study.profile_name))
        .join("logs")
}

/// Runs every unfinished task of `study`, at most `jobs` at once; stops
/// starting new ones after a failure, waits for the running ones, and
/// names the first cell that failed with its log.
pub fn run_parallel(study: &Study, jobs: usize, launcher: &Launcher, quiet: bool) -> Result<(), LocalError> {
    let tasks = tasks(study);
    let done = |t: &Task| task_state(study, t) == CellState::Done;
    let mut finished: Vec<bool> = tasks.iter().map(done).collect();
    let board = Board::new(tasks.len() as u64, ProgressMode::detect(quiet, Duration::from_secs(10)));
    finished.iter().filter(|&&f| f).for_each(|_| board.done());
    let threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) / jobs.max(1)).max(1);
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut failure: Option<LocalError> = None;
    loop {
        // Reap the finished processes.
        let mut still = Vec::new();
        for (i, mut child) in running.drain(..) {
            match child.try_wait() {
                Ok(Some(status)) if status.success() && done(&tasks[i]) => {
                    finished[i] = true;
                    board.done();
                }
                Ok(Some(status)) => {
                    failure.get_or_insert(LocalError::Failed {
                        cell: tasks[i].label.clone(),
                        status: status.code().map_or("by signal".into(), |c| c.to_string()),
                        log: log_dir(study).join(format!("{}.log", slug(&tasks[i].label))),
                    });
                }
                _ => still.push((i, child)),
            }
        }
        running = still;
        // Start what is ready, in order, while there is room.
        if failure.is_none() {
            for i in 0..tasks.len() {
                if running.len() >= jobs.max(1) {
                    break;
                }
                let started = running.iter().any(|(j, _)| *j == i);
                if finished[i] || started || !tasks[i].deps.iter().all(|&d| finished[d]) {
                    continue;
                }
                board.start(i, &tasks[i].label, "to run", "-");
                running.push((i, spawn(study, &tasks[i], launcher, threads)?));
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    board.finish();
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Starts the process of one task, its output to its log file.
fn spawn(study: &Study, task: &Task, launcher: &Launcher, threads: usize) -> Result<Child, LocalError> {
    let dir = log_dir(study);
    let path = dir.join(format!("{}.log", slug(&task.label)));
    let log = || -> std::io::Result<(std::fs::File, std::fs::File)> {
        std::fs::create_dir_all(&dir)?;
        let f = std::fs::File::create(&path)?;
        Ok((f.try_clone()?, f))
    };
    let (out, err) = log().map_err(|source| LocalError::Log {
        path: path.clone(),
        source,
    })?;
    Command::new(&launcher.program)
        .args(launcher.args_for(&task.label))
        .current_dir(&launcher.cwd)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| LocalError::Spawn {
            cell: task.label.clone(),
            program: launcher.program.clone(),
            source,
        })
}
