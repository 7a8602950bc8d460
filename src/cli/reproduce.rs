//! `entprog reproduce <target> [--profile P] [--seeds N] [--dry-run]`: lays
//! out the study's cells, runs the ones not finished (`entprog::study`),
//! then writes the report from the files on disk (`entprog::report`) and
//! prints its table.

use std::path::PathBuf;

use anyhow::Result;

use entprog::study::cells::Study;
use entprog::study::reproduce::{plan, Options};
use entprog::study::target::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Target name under experiments/targets/ (`table3`), or a path.
    target: String,
    /// Scale of the study: smoke (CI), default (this CPU), paper (the paper's sizes).
    #[arg(long, default_value = "default")]
    profile: String,
    /// Seeds per arm (default: the profile's, else the target's).
    #[arg(long)]
    seeds: Option<u64>,
    /// Print the cells with their state and estimated time, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start a profile that asks for confirmation (the paper's sizes on a CPU).
    #[arg(long)]
    yes: bool,
    /// Results folder (cells in `cells-<profile>/`, the report in `<target>/`).
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    let study = Study::new(Target::load(&args.target)?, &args.profile, args.seeds, args.results)?;
    if args.dry_run {
        print!("{}", plan(&study));
        return Ok(());
    }
    entprog::study::reproduce::run(&study, &Options { yes: args.yes, quiet })?;
    print!("{}", entprog::report::write(&study)?);
    Ok(())
}
