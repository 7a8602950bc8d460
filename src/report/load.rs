//! Reading the result files: the Parquet readers the report's parts share,
//! and the long table of everything measured (each arm's `runs.parquet`
//! and its evaluation's `eval.parquet`).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::costs::run_costs;
use crate::study::cells::{Cell, CellKind, Study};

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {message} (run `entprog reproduce` first)")]
    Missing { path: PathBuf, message: String },
    #[error("polars: {0}")]
    Polars(#[from] PolarsError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The Parquet file at `path`; a missing file says to reproduce first.
pub(super) fn read(path: &Path) -> Result<DataFrame, ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Missing {
        path: path.into(),
        message: e.to_string(),
    })?;
    Ok(ParquetReader::new(file).finish()?)
}

/// The first value of column `c` as f64 (NaN when there is none): a
/// one-row table such as `runs.parquet`.
pub(super) fn scalar(df: &DataFrame, c: &str) -> Result<f64, ReportError> {
    Ok(df
        .column(c)?
        .cast(&DataType::Float64)?
        .f64()?
        .get(0)
        .unwrap_or(f64::NAN))
}

/// Column `c` as f64 values (NaN for nulls).
pub(super) fn f64s(df: &DataFrame, c: &str) -> Result<Vec<f64>, ReportError> {
    Ok(df
        .column(c)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// Column `c` as strings (empty for nulls).
pub(super) fn strs(df: &DataFrame, c: &str) -> Result<Vec<String>, ReportError> {
    Ok(df
        .column(c)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// The finite values of one list cell.
pub(super) fn floats(s: Option<Series>) -> Vec<f64> {
    s.and_then(|s| s.cast(&DataType::Float64).ok())
        .map(|s| {
            s.f64()
                .map(|c| c.iter().flatten().filter(|v| !v.is_nan()).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// One long table of everything measured: dataset, scheme, baseline,
/// seed, subject, metric, value, from each arm's `runs.parquet` and its
/// evaluation's `eval.parquet`.
pub fn measurements(study: &Study) -> Result<DataFrame, ReportError> {
    let mut frames = Vec::new();
    for (i, cell) in study.cells.iter().enumerate() {
        let CellKind::Eval { of } = cell.kind else { continue };
        frames.push(evaluated_arm(study, i, cell, &study.cells[of])?);
    }
    Ok(concat(frames, UnionArgs::default())?
        .select([
            col("dataset"),
            col("scheme"),
            col("baseline"),
            col("seed"),
            col("subject"),
            col("metric"),
            col("value"),
        ])
        .sort(
            ["dataset", "scheme", "seed", "subject", "metric"],
            SortMultipleOptions::default(),
        )
        .collect()?)
}

/// The rows of evaluation cell `i` (`eval`) of `arm`: the arm's costs as
/// metrics of the model, then the evaluation's rows, each tagged with the
/// arm's dataset, scheme, baseline flag and seed.
fn evaluated_arm(study: &Study, i: usize, eval: &Cell, arm: &Cell) -> Result<LazyFrame, ReportError> {
    let eval_dir = crate::study::reproduce::eval_dir(study, eval);
    // Timing and memory, as metrics of the model.
    let per_run = run_costs(study, arm)?;
    let per_run = df!(
        "subject" => vec!["model"; per_run.len()],
        "metric" => per_run.iter().map(|m| m.0).collect::<Vec<_>>(),
        "value" => per_run.iter().map(|m| m.1).collect::<Vec<_>>(),
    )?
    .lazy();
    let evals = read(&eval_dir.join("eval.parquet"))?
        .lazy()
        .select([col("subject"), col("metric"), col("value")]);
    Ok(concat([per_run, evals], UnionArgs::default())?.with_columns([
        lit(arm.block()).alias("dataset"),
        lit(arm.scheme.clone().unwrap_or_default()).alias("scheme"),
        lit(arm.baseline).alias("baseline"),
        lit(arm.exp.config.seed).alias("seed"),
        lit(i as u32).alias("cell"),
    ]))
}
