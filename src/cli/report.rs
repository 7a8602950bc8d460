//! `entprog report <target>`: a target's report rebuilt from the results on
//! disk, without training.

use std::path::PathBuf;

use anyhow::Result;

use entprog::study::cells::Study;
use entprog::study::target::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Target name under experiments/targets/, or a path.
    target: String,
    #[arg(long, default_value = "default")]
    profile: String,
    #[arg(long)]
    seeds: Option<u64>,
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let study = Study::new(Target::load(&args.target)?, &args.profile, args.seeds, args.results)?;
    print!("{}", entprog::report::write(&study)?);
    Ok(())
}
