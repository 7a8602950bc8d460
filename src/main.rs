//! The `entprog` command line: parses, dispatches, prints one line on error.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "entprog", version, about = "Ent-Prog reproduction harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Median training-step time of a model preset as leading blocks freeze.
    BenchStep(entprog::train::cli::BenchStepArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::BenchStep(args) => entprog::train::cli::bench_step(&args).map_err(Into::into),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
