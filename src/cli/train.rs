//! `entprog train <experiment> [--set KEY=VALUE]...`: trains one stage in
//! its run folder (resumes an interrupted run, reuses a finished one).

use anyhow::Result;

use entprog::experiment::Experiment;
use entprog::progress::{Progress, ProgressMode};
use entprog::train::{run_with_data, StepRecord};

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file, or a name under experiments/.
    experiment: String,
    /// Override a key: --set train.steps=100 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    let exp = Experiment::load(&args.experiment, &args.sets)?;
    let cfg = &exp.config;
    cfg.run.apply();
    let mode = ProgressMode::detect(quiet, std::time::Duration::from_secs_f64(cfg.output.log_every_s));
    let mut progress = Progress::new(format!("train {}", exp.name), cfg.train.steps, mode);
    let mut on_step = |r: &StepRecord| {
        progress.set_message(format!("loss {:.4} {:.2}s/step", r.loss, r.wall_s));
        progress.inc(1);
    };
    let out = run_with_data(&exp, &mut on_step)?;
    progress.finish();
    let what = if out.cached { "reused" } else { "finished" };
    println!(
        "{what}: {} (steps.parquet, blocks.parquet, last.safetensors)",
        out.dir.display()
    );
    if let Ok(summary) = entprog::train::run::summary(&out.dir) {
        print!("{summary}");
    }
    Ok(())
}
