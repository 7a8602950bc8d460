//! `entprog cei <experiment> [--scorers ...]`: every block of the starting
//! model scored by CEI (and other scorers), with their rank agreement.

use anyhow::Result;

use entprog::experiment::Experiment;
use entprog::study::cei::{agreement, parse_scorers, ranked_table, run_cei};

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file, or a name under experiments/.
    experiment: String,
    /// Other scorers to run beside CEI, comma separated, or `all`
    /// (random, depth_in, depth_out, grad_norm, fisher, loss_skip).
    #[arg(long, value_delimiter = ',', default_value = "cei")]
    scorers: Vec<String>,
    /// Override a key: --set cei.conditions=64 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let exp = Experiment::load(&args.experiment, &args.sets)?;
    exp.config.run.apply();
    let scorers = parse_scorers(&args.scorers).map_err(anyhow::Error::msg)?;
    let out = run_cei(&exp, &scorers)?;
    if out.cached {
        println!("cached: {}", out.dir.join("blocks.parquet").display());
    } else {
        print!("{}", ranked_table(&out.scores));
        print!("{}", agreement(&out.all));
        println!("wrote {}", out.dir.join("cei.png").display());
        println!("wrote {}", out.dir.join("blocks.parquet").display());
    }
    Ok(())
}
