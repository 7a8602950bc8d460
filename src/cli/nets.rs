//! `entprog nets train [CONFIG] [--set KEY=VALUE]... [--results DIR]`: the
//! offline dance networks of a config file (default
//! `experiments/nets/dance.toml`), trained or reused, with their checks.

use std::path::PathBuf;

use anyhow::Result;

use entprog::eval::dance::train_all::{train_all, TrainNets};

#[derive(clap::Subcommand)]
pub enum NetsCommand {
    /// Train (or reuse) the frame and clip encoders and print their test-split checks.
    Train(TrainArgs),
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The networks' config file, or a name under experiments/.
    #[arg(default_value = "nets/dance.toml")]
    config: String,
    /// Override a key: --set frame.steps=300 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Results folder (overrides the file's `results_dir`).
    #[arg(long)]
    results: Option<PathBuf>,
}

pub fn run(cmd: NetsCommand, quiet: bool) -> Result<()> {
    let NetsCommand::Train(args) = cmd;
    let req = TrainNets {
        config: args.config,
        sets: args.sets,
        results: args.results,
    };
    print!("{}", train_all(&req, quiet)?);
    Ok(())
}
