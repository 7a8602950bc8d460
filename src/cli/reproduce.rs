//! `entprog reproduce <target> [--profile P] [--seeds N] [--dry-run]`: lays
//! out the study's cells, runs the ones not finished (`entprog::study`),
//! then writes the report from the files on disk (`entprog::report`) and
//! prints its table.

use anyhow::Result;

use entprog::study::reproduce::{plan, Options};

use super::report::StudyArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    study: StudyArgs,
    /// Print the cells with their state and estimated time, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start a profile that asks for confirmation (the paper's sizes on a CPU).
    #[arg(long)]
    yes: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    let study = args.study.study()?;
    if args.dry_run {
        print!("{}", plan(&study));
        return Ok(());
    }
    entprog::study::reproduce::run(&study, &Options { yes: args.yes, quiet })?;
    print!("{}", entprog::report::write(&study)?);
    Ok(())
}
