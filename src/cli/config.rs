//! `entprog config show <experiment> [--set KEY=VALUE]...`: the resolved
//! TOML of an experiment and its config hash.

use anyhow::Result;
use clap::Subcommand;

use entprog::experiment::Experiment;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved TOML of an experiment and its config hash.
    Show {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Override a key: --set train.lr=1e-4 (repeatable; wins over file and env).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

pub fn run(cmd: ConfigCommand) -> Result<()> {
    let ConfigCommand::Show { experiment, sets } = cmd;
    let exp = Experiment::load(&experiment, &sets)?;
    print!("{}", exp.to_toml());
    println!("\n# config hash: sha256:{}", exp.hash);
    Ok(())
}
