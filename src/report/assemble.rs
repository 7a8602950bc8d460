//! Assembling the report: `report.md` from its sections in order, and
//! `report.parquet` from the cells they show; writing both with the plots.

use std::path::PathBuf;

use polars::prelude::*;

use super::costs::ranking_section;
use super::figures;
use super::load::{measurements, ReportError};
use super::render::{dataset_section, intro};
use super::verdicts::{verdicts_section, Tables};
use super::why::why_section;
use crate::study::cells::Study;

/// The report's cells and verdicts.
pub struct Report {
    pub markdown: String,
    /// Long rows: dataset, scheme, subject, metric, mean, ci95, seeds, source.
    pub cells: DataFrame,
}

/// One cell of `report.parquet`.
pub(super) struct ReportCell {
    /// The block's name: the dataset, and the arms' group (`bilibili, 2x steps`).
    pub dataset: String,
    pub scheme: String,
    pub subject: String,
    pub metric: String,
    pub mean: f64,
    pub ci95: f64,
    pub seeds: u32,
    pub source: &'static str,
}

/// Builds the report of `study` from its files; `redact` replaces timing
/// and memory values with `[t]` (for snapshot tests).
pub fn build(study: &Study, redact: bool) -> Result<Report, ReportError> {
    let m = measurements(study)?;
    let tables = Tables::of(study, &m)?;
    let mut rows: Vec<ReportCell> = Vec::new();
    let mut md = intro(study);
    for block in study.target.config.blocks() {
        md.push_str(&dataset_section(study, &tables, &block, redact, &mut rows));
    }
    md.push_str(&ranking_section(study, redact, &mut rows)?);
    md.push_str(&why_section(study, redact)?);
    md.push_str(&super::probes::probe_section(study)?);
    md.push_str(&super::cei_samples::cei_samples_section(study, redact)?);
    md.push_str(&verdicts_section(study, &tables, redact));
    Ok(Report {
        markdown: md,
        cells: cells_frame(study, &rows)?,
    })
}

/// The long table of `report.parquet`: a cell's block split into its
/// dataset and its arms' group (empty for a target without groups).
fn cells_frame(study: &Study, rows: &[ReportCell]) -> Result<DataFrame, ReportError> {
    let blocks = study.target.config.blocks();
    let block = |name: &str| blocks.iter().find(|b| b.name() == name);
    let dataset = |r: &ReportCell| block(&r.dataset).map_or(r.dataset.clone(), |b| b.dataset.clone());
    let group = |r: &ReportCell| block(&r.dataset).map_or(String::new(), |b| b.group.clone());
    Ok(df!(
        "dataset" => rows.iter().map(dataset).collect::<Vec<_>>(),
        "group" => rows.iter().map(group).collect::<Vec<_>>(),
        "scheme" => rows.iter().map(|r| r.scheme.clone()).collect::<Vec<_>>(),
        "subject" => rows.iter().map(|r| r.subject.clone()).collect::<Vec<_>>(),
        "metric" => rows.iter().map(|r| r.metric.clone()).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.mean).collect::<Vec<_>>(),
        "ci95" => rows.iter().map(|r| r.ci95).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.seeds).collect::<Vec<_>>(),
        "source" => rows.iter().map(|r| r.source).collect::<Vec<_>>(),
    )?)
}

/// Builds the report and writes `report.md` (with the plots appended),
/// `report.parquet` and the plots to the study's report folder; returns the
/// markdown.
pub fn write(study: &Study) -> Result<String, ReportError> {
    let mut report = build(study, false)?;
    let dir = study.report_dir();
    let io = |path: PathBuf| move |source| ReportError::Io { path, source };
    std::fs::create_dir_all(&dir).map_err(io(dir.clone()))?;
    let figures = figures::write_all(study, &dir)?;
    if !figures.is_empty() {
        report.markdown.push_str("\n## Plots\n\n");
        for f in &figures {
            report.markdown.push_str(&format!("![{}]({})\n\n", f.caption, f.file));
        }
    }
    crate::results::write_atomic(&dir.join("report.md"), report.markdown.as_bytes())
        .map_err(io(dir.join("report.md")))?;
    let mut buf = Vec::new();
    let mut cells = report.cells.clone();
    ParquetWriter::new(&mut buf).finish(&mut cells)?;
    crate::results::write_atomic(&dir.join("report.parquet"), &buf).map_err(io(dir.join("report.parquet")))?;
    Ok(report.markdown)
}
