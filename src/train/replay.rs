//! A finished run's schedule replayed from its folder: reads `config.toml`
//! and the `blocks`, `steps` and `supernet` tables as columns
//! (`crate::results::columns`) and hands them to the pure replay
//! (`crate::entprog::replay`), which checks every decision against them.

use std::path::{Path, PathBuf};

use crate::entprog::replay::{replay, BlockColumns, Replay, ReplayInput, StepColumns, SupernetColumns};
use crate::experiment::ExperimentConfig;
use crate::results::columns::{read, Cols, ColumnsError};

/// Why a run folder could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayRunError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Columns(#[from] ColumnsError),
    #[error("{path}: {source}")]
    Plan {
        path: PathBuf,
        source: crate::entprog::replay::ReplayError,
    },
}

/// Rebuilds the schedule of the finished run in `dir` and lists every place
/// its files disagree with it.
pub fn replay_run(dir: &Path) -> Result<Replay, ReplayRunError> {
    let cfg_path = dir.join("config.toml");
    let file_err = |message: String| ReplayRunError::File {
        path: cfg_path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| file_err(e.to_string()))?;
    let cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    let input = ReplayInput {
        schedule: &cfg.schedule,
        seed: cfg.seed,
        train_steps: cfg.train.steps,
        blocks: block_columns(dir)?,
        steps: step_columns(dir)?,
        supernet: supernet_columns(dir)?,
    };
    replay(&input).map_err(|source| ReplayRunError::Plan { path: cfg_path, source })
}

/// `dir/name`, which the run must have written.
fn required(dir: &Path, name: &str) -> Result<polars::prelude::DataFrame, ReplayRunError> {
    read(dir, name)?.ok_or_else(|| ReplayRunError::File {
        path: dir.join(name),
        message: "missing (the run did not finish?)".into(),
    })
}

fn block_columns(dir: &Path) -> Result<BlockColumns, ReplayRunError> {
    let df = required(dir, "blocks.parquet")?;
    let c = Cols {
        df: &df,
        path: dir.join("blocks.parquet"),
    };
    Ok(BlockColumns {
        stage: c.str("stage")?,
        block_id: c.str("block_id")?,
        rank: c.u64("rank")?,
        state: c.str("state")?,
    })
}

fn step_columns(dir: &Path) -> Result<StepColumns, ReplayRunError> {
    let df = required(dir, "steps.parquet")?;
    let c = Cols {
        df: &df,
        path: dir.join("steps.parquet"),
    };
    Ok(StepColumns {
        step: c.u64("step")?,
        phase: c.str("phase")?,
        m: c.u64("m")?,
    })
}

fn supernet_columns(dir: &Path) -> Result<Option<SupernetColumns>, ReplayRunError> {
    let Some(df) = read(dir, "supernet.parquet")? else {
        return Ok(None);
    };
    let c = Cols {
        df: &df,
        path: dir.join("supernet.parquet"),
    };
    Ok(Some(SupernetColumns {
        stage: c.str("stage")?,
        candidate_m: c.u64("candidate_m")?,
        step_start: c.u64("step_start")?,
        step_end: c.u64("step_end")?,
        loss_before: c.f64("loss_before")?,
        heldout_loss: c.f64("heldout_loss")?,
        clock_flops: c.f64("clock_flops")?,
        clock_wall_s: c.f64("clock_wall_s")?,
        chosen: c.bool("chosen")?,
    }))
}
