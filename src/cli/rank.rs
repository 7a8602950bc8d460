//! `entprog rank <experiment>`: the ranking cell of an experiment's
//! schedule, scored once and shared through `schedule.ranking`.

use anyhow::Result;

use entprog::experiment::Experiment;
use entprog::study::ranking::{ranked_table, run_ranking};

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file, or a name under experiments/.
    experiment: String,
    /// Override a key: --set cei.conditions=64 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let exp = Experiment::load(&args.experiment, &args.sets)?;
    exp.config.run.apply();
    let out = run_ranking(&exp)?;
    if let Some(r) = &out.ranking {
        if !out.cached {
            print!("{}", ranked_table(r));
        }
    }
    let what = if out.cached { "cached" } else { "wrote" };
    println!(
        "{what}: {} (use it with --set schedule.ranking=\"{}\")",
        out.dir.join("ranking.json").display(),
        out.dir.display()
    );
    Ok(())
}
