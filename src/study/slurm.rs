//! `reproduce --executor slurm`: every unfinished task of the study goes to
//! Slurm as one `sbatch` job running `reproduce ... --cell <label>` (the
//! code path of a local run), after the jobs of the tasks it reads
//! (`--dependency=afterok:<ids> --kill-on-invalid-dep=yes`, so a failed
//! parent cancels its dependants instead of leaving them pending). The job
//! ids go to `<cells>/slurm/jobs.json`, scripts and logs beside them; a
//! rerun submits only what is neither finished nor still queued. Progress
//! and failures are read from the cells' own folders and `squeue` (no
//! accounting needed, which many clusters and CI do not have).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cells::{CellKind, Study};
use super::graph::{slug, task_estimate_s, task_state, tasks, Task, TaskKind};
use super::local::Launcher;
use super::reproduce::CellState;
use crate::progress::{Board, ProgressMode};
use crate::results::write_atomic;

/// `sbatch` options of a study's jobs: a target profile's `[profiles.<name>.slurm]`,
/// overridden by `reproduce` flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmOptions {
    /// `--partition` (unset: the cluster's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--cpus-per-task` (0: Slurm's default, one); the cell's threads.
    pub cpus_per_task: usize,
    /// `--mem`, e.g. `"8G"` (unset: the cluster's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// GPUs per job (`--gres=gpu:N`; 0: none).
    pub gpus: usize,
    /// A job's `--time` is this many times the cell's estimated time ...
    pub time_factor: f64,
    /// ... and at least this many minutes.
    pub min_minutes: u64,
    /// Further `sbatch` arguments, as given (`--account=x`, `--qos=y`).
    pub args: Vec<String>,
    /// Per kind of cell (`network`, `chain`, `ranking`, `arm`, `eval`), the
    /// settings that differ: `[profiles.<p>.slurm.kinds.eval] cpus_per_task = 1`.
    pub kinds: BTreeMap<String, KindOptions>,
}

/// The `sbatch` settings of one kind of cell that differ from the study's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<usize>,
}

/// The kinds of cell `kinds` may name.
pub const KINDS: [&str; 6] = ["network", "chain", "ranking", "arm", "eval", "probe"];

// A CEI-samples cell is a probe of the ranking: `[slurm.kinds.probe]` sizes it too.

/// The kind of `task`, as `[slurm.kinds]` names it.
pub fn kind_of(study: &Study, task: &Task) -> &'static str {
    match task.kind {
        TaskKind::Net(_) => "network",
        TaskKind::Cell(i) => match study.cells[i].kind {
            CellKind::Chain => "chain",
            CellKind::Ranking => "ranking",
            CellKind::Arm => "arm",
            CellKind::Eval { .. } => "eval",
            CellKind::Probe { .. } | CellKind::CeiSamples => "probe",
        },
    }
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            partition: None,
            cpus_per_task: 0,
            mem: None,
            gpus: 0,
            time_factor: 3.0,
            min_minutes: 10,
            args: Vec::new(),
            kinds: BTreeMap::new(),
        }
    }
}

impl SlurmOptions {
    /// The settings of a cell of `kind`: the study's, with the kind's on top.
    pub fn for_kind(&self, kind: &str) -> SlurmOptions {
        let mut o = self.clone();
        if let Some(k) = self.kinds.get(kind) {
            o.partition = k.partition.clone().or(o.partition);
            o.cpus_per_task = k.cpus_per_task.unwrap_or(o.cpus_per_task);
            o.mem = k.mem.clone().or(o.mem);
            o.gpus = k.gpus.unwrap_or(o.gpus);
        }
        o
    }

    /// Kind names that are not kinds of cell (for the profile's validation).
    pub fn unknown_kinds(&self) -> Vec<String> {
        self.kinds
            .keys()
            .filter(|k| !KINDS.contains(&k.as_str()))
            .cloned()
            .collect()
    }

    /// The job's `--time` in minutes for a cell estimated at `estimate_s`.
    pub fn minutes(&self, estimate_s: f64) -> u64 {
        ((estimate_s * self.time_factor / 60.0).ceil() as u64).max(self.min_minutes)
    }
}

/// Why submitting or waiting failed.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("{program}: cannot run it ({source}); is Slurm installed and on PATH?")]
    Missing { program: String, source: std::io::Error },
    #[error("cell {cell}: sbatch refused the job: {message}")]
    Sbatch { cell: String, message: String },
    #[error("squeue: {0}")]
    Squeue(String),
    #[error(
        "cell {cell} failed (job {job}; its log: {log}){}",
        if *.cancelled > 0 { format!("; {} dependent cell(s) cancelled", cancelled) } else { String::new() }
    )]
    Failed {
        cell: String,
        job: String,
        log: PathBuf,
        cancelled: usize,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// One submitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: String,
    pub log: PathBuf,
}

/// `<results>/cells-<profile>/slurm/`: jobs.json, the job scripts, their logs.
pub fn slurm_dir(study: &Study) -> PathBuf {
    study
        .results_dir
        .join(format!("cells-{}", study.profile_name))
        .join("slurm")
}

fn read_jobs(study: &Study) -> BTreeMap<String, JobRecord> {
    std::fs::read_to_string(slurm_dir(study).join("jobs.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_jobs(study: &Study, jobs: &BTreeMap<String, JobRecord>) -> Result<(), SlurmError> {
    let path = slurm_dir(study).join("jobs.json");
    let text = serde_json::to_string_pretty(jobs).expect("job records serialise");
    write_atomic(&path, text.as_bytes()).map_err(|e| SlurmError::File {
        path,
        message: e.to_string(),
    })
}

/// Runs a Slurm client; its stdout, or an error with its stderr.
fn client(program: &str, args: &[String]) -> Result<Result<String, String>, SlurmError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Missing {
            program: program.into(),
            source,
        })?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    Ok(match out.status.success() {
        true => Ok(text(&out.stdout)),
        false => Err(text(&out.stderr)),
    })
}

/// The user's jobs Slurm still knows (pending, running, completing), by id.
pub fn live_jobs() -> Result<BTreeMap<String, String>, SlurmError> {
    let args = ["-h", "--me", "-o", "%i|%T"].map(String::from);
    let out = client("squeue", &args)?.map_err(SlurmError::Squeue)?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(id, st)| (id.trim().to_string(), st.trim().to_string()))
        .collect())
}

/// `'text'` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The job script of `task`: into the study's working folder, the cell's
/// threads from its CPUs, then the cell.
fn script(task: &Task, launcher: &Launcher) -> String {
    let mut cmd = vec![quote(&launcher.program.display().to_string())];
    cmd.extend(launcher.args_for(&task.label).iter().map(|a| quote(a)));
    format!(
        "#!/bin/sh\n# entprog reproduce --executor slurm: cell {}\ncd {} || exit 1\nexport RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\nexec {}\n",
        task.label,
        quote(&launcher.cwd.display().to_string()),
        cmd.join(" ")
    )
}

/// Submits every task that is neither finished nor still queued, parents
/// first; returns `(label, job id, newly submitted)` for every task with a job.
pub fn submit(
    study: &Study,
    opts: &SlurmOptions,
    launcher: &Launcher,
) -> Result<Vec<(String, String, bool)>, SlurmError> {
    let tasks = tasks(study);
    let dir = slurm_dir(study);
    std::fs::create_dir_all(&dir).map_err(|e| SlurmError::File {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let mut jobs = read_jobs(study);
    let live = live_jobs()?;
    let mut ids: Vec<Option<String>> = vec![None; tasks.len()];
    let mut out = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        if task_state(study, task) == CellState::Done {
            continue;
        }
        if let Some(rec) = jobs.get(&task.label).filter(|r| live.contains_key(&r.job)) {
            ids[i] = Some(rec.job.clone());
            out.push((task.label.clone(), rec.job.clone(), false));
            continue;
        }
        let parents: Vec<&str> = task.deps.iter().filter_map(|&d| ids[d].as_deref()).collect();
        let rec = submit_one(study, task, &parents, opts, launcher, &dir)?;
        ids[i] = Some(rec.job.clone());
        out.push((task.label.clone(), rec.job.clone(), true));
        jobs.insert(task.label.clone(), rec);
        write_jobs(study, &jobs)?;
    }
    Ok(out)
}

fn submit_one(
    study: &Study,
    task: &Task,
    parents: &[&str],
    opts: &SlurmOptions,
    launcher: &Launcher,
    dir: &Path,
) -> Result<JobRecord, SlurmError> {
    let opts = &opts.for_kind(kind_of(study, task));
    let name = slug(&task.label);
    let (path, log) = (dir.join(format!("{name}.sh")), dir.join(format!("{name}.log")));
    write_atomic(&path, script(task, launcher).as_bytes()).map_err(|e| SlurmError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=entprog-{name}"),
        format!("--output={}", log.display()),
        format!("--time={}", opts.minutes(task_estimate_s(study, task))),
    ];
    if let Some(p) = &opts.partition {
        args.push(format!("--partition={p}"));
    }
    if opts.cpus_per_task > 0 {
        args.push(format!("--cpus-per-task={}", opts.cpus_per_task));
    }
    if let Some(m) = &opts.mem {
        args.push(format!("--mem={m}"));
    }
    if opts.gpus > 0 {
        args.push(format!("--gres=gpu:{}", opts.gpus));
    }
    if !parents.is_empty() {
        args.push(format!("--dependency=afterok:{}", parents.join(":")));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.extend(opts.args.iter().cloned());
    args.push(path.display().to_string());
    let out = client("sbatch", &args)?.map_err(|message| SlurmError::Sbatch {
        cell: task.label.clone(),
        message,
    })?;
    // `--parsable`: `<id>` or `<id>;<cluster>`.
    let job = out
        .lines()
        .last()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if job.is_empty() {
        return Err(SlurmError::Sbatch {
            cell: task.label.clone(),
            message: format!("no job id in its output {out:?}"),
        });
    }
    Ok(JobRecord { job, log })
}

/// A task's state as the cell folders and the queue see it.
fn queue_state(
    study: &Study,
    task: &Task,
    jobs: &BTreeMap<String, JobRecord>,
    live: &BTreeMap<String, String>,
) -> String {
    if task_state(study, task) == CellState::Done {
        return "done".into();
    }
    match jobs.get(&task.label) {
        Some(rec) => match live.get(&rec.job) {
            Some(st) => format!("{} (job {})", st.to_lowercase(), rec.job),
            None => format!("failed or cancelled (job {}; {})", rec.job, rec.log.display()),
        },
        None => "not submitted".into(),
    }
}

/// `reproduce --status`: every task's state, one line each.
pub fn status(study: &Study) -> Result<String, SlurmError> {
    let (jobs, live) = (read_jobs(study), live_jobs()?);
    let mut out = String::new();
    for (i, task) in tasks(study).iter().enumerate() {
        out.push_str(&format!(
            "{:>3}  {:<40} {}\n",
            i + 1,
            task.label,
            queue_state(study, task, &jobs, &live)
        ));
    }
    Ok(out)
}

/// Waits until none of the study's jobs is queued or running any more,
/// showing the overall progress. Then every task must be finished; if not,
/// the error names the first unfinished cell whose inputs were finished
/// (the cause; Slurm cancelled its dependants) and its log.
pub fn wait(study: &Study, quiet: bool) -> Result<(), SlurmError> {
    let tasks = tasks(study);
    let board = Board::new(tasks.len() as u64, ProgressMode::detect(quiet, Duration::from_secs(10)));
    let mut shown: BTreeSet<usize> = BTreeSet::new();
    loop {
        let (jobs, live) = (read_jobs(study), live_jobs()?);
        let done: Vec<bool> = tasks.iter().map(|t| task_state(study, t) == CellState::Done).collect();
        let newly = (0..tasks.len()).filter(|&i| done[i] && shown.insert(i)).count();
        (0..newly).for_each(|_| board.done());
        let queued = |i: usize| jobs.get(&tasks[i].label).is_some_and(|r| live.contains_key(&r.job));
        if (0..tasks.len()).any(|i| !done[i] && queued(i)) {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        board.finish();
        let lost: Vec<usize> = (0..tasks.len()).filter(|&i| !done[i]).collect();
        let Some(&first) = lost.first() else {
            return Ok(());
        };
        let cause = lost
            .iter()
            .copied()
            .find(|&i| tasks[i].deps.iter().all(|&d| done[d]))
            .unwrap_or(first);
        let rec = jobs.get(&tasks[cause].label);
        return Err(SlurmError::Failed {
            cell: tasks[cause].label.clone(),
            job: rec.map_or("none".into(), |r| r.job.clone()),
            log: rec.map_or_else(|| slurm_dir(study), |r| r.log.clone()),
            cancelled: lost.len() - 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_gets_its_estimate_times_the_factor_and_at_least_the_minimum() {
        let o = SlurmOptions::default();
        assert_eq!(o.minutes(0.0), 10);
        assert_eq!(o.minutes(3600.0), 180);
        assert_eq!(o.minutes(601.0), 31);
    }

    #[test]
    fn a_kind_overrides_only_what_it_sets() {
        let mut o = SlurmOptions {
            partition: Some("cpu".into()),
            cpus_per_task: 2,
            ..SlurmOptions::default()
        };
        o.kinds.insert(
            "eval".into(),
            KindOptions {
                cpus_per_task: Some(1),
                ..KindOptions::default()
            },
        );
        let e = o.for_kind("eval");
        assert_eq!((e.partition.as_deref(), e.cpus_per_task), (Some("cpu"), 1));
        assert_eq!(o.for_kind("arm").cpus_per_task, 2);
        o.kinds.insert("evals".into(), KindOptions::default());
        assert_eq!(o.unknown_kinds(), vec!["evals".to_string()]);
    }

    #[test]
    fn the_script_quotes_every_argument() {
        let l = Launcher {
            program: PathBuf::from("/bin/entprog"),
            args: vec!["reproduce".into(), "it's".into()],
            cwd: PathBuf::from("/w d"),
        };
        let t = Task {
            label: "eval full tiktok seed 0".into(),
            kind: super::super::graph::TaskKind::Cell(0),
            deps: vec![],
        };
        let s = script(&t, &l);
        assert!(s.contains("cd '/w d' || exit 1"), "{s}");
        assert!(
            s.contains("exec '/bin/entprog' 'reproduce' 'it'\\''s' '--cell' 'eval full tiktok seed 0' '-q'"),
            "{s}"
        );
    }
}
