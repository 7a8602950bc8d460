//! `entprog probe-skip <experiment> [--trials N]`: Figure 1b-c, random
//! skipping of k blocks of the starting model.

use anyhow::Result;

use entprog::experiment::Experiment;
use entprog::study::probe::skip_probe;

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file, or a name under experiments/.
    experiment: String,
    /// Trials per k.
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// Override a key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let exp = Experiment::load(&args.experiment, &args.sets)?;
    exp.config.run.apply();
    let (dir, cached) = skip_probe(&exp, args.trials)?;
    let what = if cached { "cached" } else { "wrote" };
    println!("{what}: {}", dir.join("probe_skip.parquet").display());
    Ok(())
}
