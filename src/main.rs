//! The `entprog` binary. (Data branch: only `entprog data ...` is wired here;
//! the merged main.rs dispatches the other command groups.)

use clap::{Parser, Subcommand};
use entprog::data::DataCommand;

#[derive(Parser, Debug)]
#[command(name = "entprog", version, about = "Ent-Prog reproduction harness")]
struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build, inspect, preview and import datasets.
    Data {
        #[command(subcommand)]
        cmd: DataCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Data { cmd } => entprog::data::cli::run(cmd, cli.quiet),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
