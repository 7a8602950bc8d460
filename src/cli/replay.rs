//! `entprog replay <run-dir>`: a finished run's schedule rebuilt from its
//! files and checked against what ran.

use std::path::PathBuf;

use anyhow::Result;

use entprog::train::replay::replay_run;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder (e.g. results/<experiment>/train/seed-0).
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let dir = &args.dir;
    let r = replay_run(dir)?;
    for s in &r.stages {
        println!(
            "k{} steps {}..{}  m = {:>3}  trainable: {}",
            s.index,
            s.start,
            s.start + s.steps,
            s.m,
            s.trainable.join(" ")
        );
        for (m, ce) in &s.ce {
            println!(
                "    candidate m = {m:>3}  CE = {}",
                ce.map_or("-".into(), |v| format!("{v:.4e}"))
            );
        }
    }
    if r.mismatches.is_empty() {
        println!("replay matches the run: {}", dir.display());
        return Ok(());
    }
    for m in &r.mismatches {
        println!("mismatch: {m}");
    }
    anyhow::bail!(
        "{}: the files disagree with the replayed schedule in {} places",
        dir.display(),
        r.mismatches.len()
    )
}
