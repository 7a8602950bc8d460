//! What `entprog nets train [CONFIG] [--set KEY=VALUE]... [--results DIR]`
//! runs: trains the offline dance networks of a config file (default
//! `experiments/nets/dance.toml`), or reuses their finished cells, and
//! prints each cell's folder, training time and test-split checks.

use std::path::PathBuf;

use super::cell::{ensure, Net};
use super::DanceError;
use crate::progress::{Progress, ProgressMode};

/// Which networks' config to train or reuse.
#[derive(Debug, Clone)]
pub struct TrainNets {
    /// The networks' config file, or a name under experiments/.
    pub config: String,
    /// `--set KEY=VALUE` overrides.
    pub sets: Vec<String>,
    /// Results folder (overrides the file's `results_dir`).
    pub results: Option<PathBuf>,
}

/// Trains (or reuses) the frame and clip encoders; returns each cell's
/// folder, training time and test-split checks, as lines to print.
pub fn train_all(args: &TrainNets, quiet: bool) -> Result<String, DanceError> {
    let path = crate::experiment::resolve_experiment_path(&args.config);
    let mut sets = args.sets.clone();
    if let Some(r) = &args.results {
        sets.push(format!("results_dir={:?}", r.display().to_string()));
    }
    let cfg = super::load_config(&path, &sets)?;
    let mode = ProgressMode::detect(quiet, std::time::Duration::from_secs_f64(10.0));
    let mut out = String::new();
    for net in [Net::Frame, Net::Clip] {
        let steps = match net {
            Net::Frame => cfg.frame.steps,
            Net::Clip => cfg.clip.steps,
        };
        // No bar for a network that is reused.
        let mut bar = (!cfg.is_done(net)).then(|| Progress::new(format!("network {}", net.network()), steps, mode));
        let cell = ensure(&cfg, net, &mut |s| {
            if let Some(bar) = bar.as_mut() {
                bar.set_message(format!("loss {:.4}", s.loss));
                bar.inc(1);
            }
        })?;
        if let Some(bar) = bar {
            bar.finish();
        }
        out.push_str(&format!(
            "{} {}: {}\n",
            net.network(),
            if cell.cached {
                "reused".to_string()
            } else {
                format!("trained in {:.1} s", cell.train_s)
            },
            cell.dir.display()
        ));
        out.push_str(&checks(&cell.dir)?);
    }
    Ok(out)
}

/// The cell's test-split checks, one `  metric = value (n = ..)` line each.
fn checks(dir: &std::path::Path) -> Result<String, DanceError> {
    use polars::prelude::*;
    let path = dir.join("eval.parquet");
    let read = || -> PolarsResult<DataFrame> {
        let file = std::fs::File::open(&path).map_err(|e| PolarsError::IO {
            error: std::sync::Arc::new(e),
            msg: None,
        })?;
        ParquetReader::new(file).finish()
    };
    let df =
        read().map_err(|e| DanceError::Data(crate::data::DataError::Loader(format!("{}: {e}", path.display()))))?;
    let col = |c: &str| df.column(c).ok().cloned();
    let (Some(m), Some(v), Some(n)) = (col("metric"), col("value"), col("n")) else {
        return Ok(String::new());
    };
    let mut out = String::new();
    for i in 0..df.height() {
        out.push_str(&format!(
            "  {} = {:.4} (n = {}, test split)\n",
            m.get(i).map(|x| x.to_string()).unwrap_or_default().trim_matches('"'),
            v.get(i).ok().and_then(|x| x.extract::<f64>()).unwrap_or(f64::NAN),
            n.get(i).map(|x| x.to_string()).unwrap_or_default()
        ));
    }
    Ok(out)
}
