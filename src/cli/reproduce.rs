//! `entprog reproduce <target> [--profile P] [--seeds N] [--dry-run]`: lays
//! out the study's cells, runs the ones not finished (`entprog::study`:
//! in this process, as `--jobs N` local processes, or as Slurm jobs), then
//! writes the report from the files on disk (`entprog::report`) and prints
//! its table.

use anyhow::Result;

use entprog::study::cells::Study;
use entprog::study::local::{run_parallel, Launcher};
use entprog::study::reproduce::{plan, run_one, Options};
use entprog::study::slurm::{self, SlurmOptions};

use super::report::StudyArgs;

/// Where the cells run.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Executor {
    /// On this machine (`--jobs N` processes at once).
    Local,
    /// As Slurm jobs, one per cell, with dependencies.
    Slurm,
}

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    study: StudyArgs,
    /// Print the cells with their state and estimated time, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start a profile that asks for confirmation (the paper's sizes on a CPU).
    #[arg(long)]
    yes: bool,
    /// Run only this cell, by its label (its inputs must be finished): what
    /// --jobs and Slurm jobs run; no report.
    #[arg(long, value_name = "LABEL")]
    cell: Option<String>,
    /// Cells run at once on this machine, each a process with its share of the cores.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Where the cells run.
    #[arg(long, value_enum, default_value = "local")]
    executor: Executor,
    /// With --executor slurm: submit and return, printing the job ids.
    #[arg(long)]
    no_wait: bool,
    /// Print each cell's state (finished, queued or running under Slurm, failed) and return.
    #[arg(long)]
    status: bool,
    /// Slurm partition (default: the profile's, else the cluster's).
    #[arg(long)]
    partition: Option<String>,
    /// Slurm --cpus-per-task, the cell's threads (default: the profile's, else 1).
    #[arg(long)]
    cpus_per_task: Option<usize>,
    /// Slurm --mem, e.g. 8G (default: the profile's, else the cluster's).
    #[arg(long)]
    mem: Option<String>,
    /// GPUs per Slurm job (--gres=gpu:N).
    #[arg(long)]
    gpus: Option<usize>,
    /// A job's --time as a multiple of the cell's estimated time (default: the profile's, else 3).
    #[arg(long)]
    time_factor: Option<f64>,
    /// Another sbatch argument, as given (repeatable): --sbatch-arg=--account=x.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    if !args.study.is_all() {
        return run_target(&args, args.study.study()?, quiet);
    }
    // `all`: every target in turn, in an order that shares cells.
    if args.cell.is_some() {
        anyhow::bail!("--cell: names a cell of one target, not of `all`");
    }
    let studies = args
        .study
        .each()
        .iter()
        .map(|a| a.study())
        .collect::<Result<Vec<_>>>()?;
    if args.dry_run {
        for s in &studies {
            println!("{}", plan(s));
        }
        print!("{}", entprog::study::all::summary(&studies));
        return Ok(());
    }
    for (one, study) in args.study.each().into_iter().zip(studies) {
        let args = Args {
            study: one,
            ..args.clone()
        };
        run_target(&args, study, quiet)?;
    }
    Ok(())
}

/// `reproduce` of one target's study.
fn run_target(args: &Args, study: Study, quiet: bool) -> Result<()> {
    if let Some(label) = &args.cell {
        return Ok(run_one(&study, label, quiet)?);
    }
    if args.status {
        print!("{}", status(&study, args.executor)?);
        return Ok(());
    }
    if args.dry_run {
        print!("{}", plan(&study));
        return Ok(());
    }
    let opt = Options { yes: args.yes, quiet };
    entprog::study::reproduce::confirm(&study, &opt)?;
    match args.executor {
        Executor::Slurm => {
            let jobs = slurm::submit(&study, &slurm_options(&study, args), &launcher(&args.study)?)?;
            let new = jobs.iter().filter(|j| j.2).count();
            eprintln!("submitted {new} job(s) to Slurm ({} already queued)", jobs.len() - new);
            if args.no_wait {
                for (label, job, _) in &jobs {
                    println!("{job}  {label}");
                }
                let again = args.study.command_line(&std::env::current_dir()?);
                let mut report = again.clone();
                report[0] = "report".into();
                println!(
                    "follow them with `entprog {} --executor slurm --status`; when they are done: `entprog {}`",
                    again.join(" "),
                    report.join(" ")
                );
                return Ok(());
            }
            slurm::wait(&study, quiet)?;
        }
        Executor::Local if args.jobs > 1 => run_parallel(&study, args.jobs, &launcher(&args.study)?, quiet)?,
        Executor::Local => entprog::study::reproduce::run(&study, &opt)?,
    }
    print!("{}", entprog::report::write(&study)?);
    Ok(())
}

/// Each cell's state: from the cell folders, and the queue under Slurm.
fn status(study: &Study, executor: Executor) -> Result<String> {
    Ok(match executor {
        Executor::Slurm => slurm::status(study)?,
        Executor::Local => plan(study),
    })
}

/// The profile's sbatch options with the flags given on top: a flag wins
/// over the profile's setting for every kind of cell.
fn slurm_options(study: &Study, args: &Args) -> SlurmOptions {
    let mut o = study.profile.slurm.clone();
    if args.partition.is_some() {
        o.partition = args.partition.clone();
        o.kinds.values_mut().for_each(|k| k.partition = None);
    }
    if let Some(c) = args.cpus_per_task {
        o.cpus_per_task = c;
        o.kinds.values_mut().for_each(|k| k.cpus_per_task = None);
    }
    if args.mem.is_some() {
        o.mem = args.mem.clone();
        o.kinds.values_mut().for_each(|k| k.mem = None);
    }
    if let Some(g) = args.gpus {
        o.gpus = g;
        o.kinds.values_mut().for_each(|k| k.gpus = None);
    }
    if let Some(f) = args.time_factor {
        o.time_factor = f;
    }
    o.args.extend(args.sbatch_args.iter().cloned());
    o
}

/// This binary, the study's own arguments and folder: what runs one cell.
fn launcher(study: &StudyArgs) -> Result<Launcher> {
    let cwd = std::env::current_dir()?;
    Ok(Launcher {
        program: std::env::current_exe()?,
        args: study.command_line(&cwd),
        cwd,
    })
}
