//! `entprog hub ...`: pull a reference into the cache, list a repository,
//! export a run for upload.

use anyhow::Result;

use entprog::hub::{Hub, HubRef};

/// Hub commands.
#[derive(clap::Subcommand)]
pub enum HubCommand {
    /// Download a file, a folder or a whole repository into the Hub cache
    /// (verified; offline with HF_HUB_OFFLINE=1); prints the local path and the commit.
    Pull {
        /// hf://[datasets/]<org>/<name>[@<revision>][/<path>]
        reference: String,
    },
    /// List a repository's files at a revision (offline: the cached snapshot's files).
    Ls {
        /// [hf://][datasets/]<org>/<name>[@<revision>]
        repo: String,
    },
    /// Write a finished run as a folder ready to upload: model.safetensors,
    /// config.json (the resolved config), README.md (model card with eval.parquet's metrics).
    Export {
        /// Run folder (results/<experiment>/<cell>/seed-<n>).
        run_dir: std::path::PathBuf,
        /// Folder to write (created).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Export the EMA weights instead of the last step's.
        #[arg(long)]
        ema: bool,
    },
}

/// Runs a hub command.
pub fn run(cmd: HubCommand, quiet: bool) -> Result<()> {
    match cmd {
        HubCommand::Pull { reference } => {
            let r = HubRef::parse(&reference)?;
            let pulled = Hub::from_env(quiet)?.pull(&r)?;
            println!("{}", pulled.path.display());
            println!("commit {}", pulled.commit);
        }
        HubCommand::Ls { repo } => {
            let r = HubRef::parse_repo(&repo)?;
            let info = Hub::from_env(quiet)?.list(&r)?;
            println!("{}@{} commit {}", r.repo(), r.revision(), info.sha);
            let under = r.path.as_ref().map(|p| format!("{}/", p.trim_end_matches('/')));
            for f in &info.siblings {
                if under.as_ref().is_some_and(|u| !f.rfilename.starts_with(u.as_str())) {
                    continue;
                }
                let size = f.size.map_or("-".to_string(), |s| s.to_string());
                let lfs = if f.lfs.is_some() { "  lfs" } else { "" };
                println!("{size:>12}  {}{lfs}", f.rfilename);
            }
        }
        HubCommand::Export { run_dir, out, ema } => {
            let done = entprog::hub::export::export(&run_dir, &out, ema)?;
            println!("wrote {} ({})", done.dir.display(), done.files.join(", "));
        }
    }
    Ok(())
}
