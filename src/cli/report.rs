//! `entprog report <target>`: a target's report rebuilt from the results on
//! disk, without training.

use std::path::{Path, PathBuf};

use anyhow::Result;

use entprog::study::cells::Study;
use entprog::study::target::Target;

/// Which study: the target, its profile, seeds and results folder (shared
/// with `reproduce`).
#[derive(clap::Args, Clone)]
pub struct StudyArgs {
    /// Target name under experiments/targets/ (`table3`), a path, or `all`
    /// (every target in an order that shares cells).
    target: String,
    /// Scale of the study: smoke (CI), default (this CPU), paper (the paper's sizes).
    #[arg(long, default_value = "default")]
    profile: String,
    /// Seeds per arm (default: the profile's, else the target's).
    #[arg(long)]
    seeds: Option<u64>,
    /// Results folder (cells in `cells-<profile>/`, the report in `<target>/`).
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Datasets to run the target on, comma separated (default: the
    /// target's, the paper's for that table); each a profile under datasets/.
    #[arg(long, value_delimiter = ',')]
    datasets: Vec<String>,
}

impl StudyArgs {
    /// Whether the target is `all` (every target in turn).
    pub fn is_all(&self) -> bool {
        self.target == "all"
    }

    /// Every target's arguments in run order (`all`), or these alone.
    pub fn each(&self) -> Vec<StudyArgs> {
        if !self.is_all() {
            return vec![self.clone()];
        }
        entprog::study::all::names(&Path::new("experiments").join("targets"))
            .into_iter()
            .map(|target| StudyArgs { target, ..self.clone() })
            .collect()
    }

    /// The study's cells laid out.
    pub fn study(&self) -> Result<Study> {
        let target = Target::load(&self.target)?.on_datasets(&self.datasets, Path::new("datasets"))?;
        Ok(Study::new(target, &self.profile, self.seeds, self.results.clone())?)
    }

    /// `reproduce <target> --profile P [--seeds N] --results <absolute>`:
    /// the same study from any process started in `cwd`.
    pub fn command_line(&self, cwd: &std::path::Path) -> Vec<String> {
        let mut args = vec!["reproduce".to_string(), self.target.clone()];
        args.extend(["--profile".to_string(), self.profile.clone()]);
        if let Some(s) = self.seeds {
            args.extend(["--seeds".to_string(), s.to_string()]);
        }
        args.extend(["--results".to_string(), cwd.join(&self.results).display().to_string()]);
        if !self.datasets.is_empty() {
            args.extend(["--datasets".to_string(), self.datasets.join(",")]);
        }
        args
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    study: StudyArgs,
}

pub fn run(args: Args) -> Result<()> {
    for one in args.study.each() {
        print!("{}", entprog::report::write(&one.study()?)?);
    }
    Ok(())
}
