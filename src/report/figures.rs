//! The report's plots, computed from the cells' files on disk only (the
//! Parquet tables, and the evaluation cells' `samples.png`), drawn with
//! `crate::plot`, written beside `report.md`. Per dataset of the target:
//!
//! - `curves-<d>.png`: held-out loss (periodic evaluations), SSIM and PSNR
//!   (the evaluation cell's generated clips) against the training process's
//!   wall time (scoring, held-out and shared-ranking overheads counted, as
//!   in the speedup at equal quality) and against its FLOPs; per scheme the
//!   mean over seeds with a min-max band (loss) or whiskers (metrics);
//! - `cei-<d>-<arm>.png`: the shared ranking cell's score per block, +-1 SE;
//! - `ce-<d>.png`: the supernet's CE per candidate m per schedule stage
//!   (mean over seeds, min-max whiskers);
//! - `blocks-<d>-<arm>.png`: each block's state (trainable, frozen,
//!   skipped) over the training steps of the arm's first seed;
//! - `samples-<d>.png`: the first seed's sample sheet of every arm.
//!
//! This file holds the shared helpers, the curves and the sample sheets;
//! `schedule_figures.rs` the plots of the schedule (ranking, supernet,
//! block states).

use std::collections::BTreeMap;
use std::path::Path;

use image::RgbImage;
use polars::prelude::*;

use super::costs::ranking_share;
use super::curves::{quality_curve, CurvePoint};
use super::load::{f64s, read, strs, ReportError};
use super::schedule_figures::{block_states, ce, cei};
use crate::plot::{self, Panel, Series, Style, COLORS};
use crate::study::cells::{Cell, CellKind, Study};

/// A written plot: its file name and a caption for `report.md`.
pub struct Figure {
    pub file: String,
    pub caption: String,
}

/// `Ent-Prog` -> `ent-prog`: a scheme or block in a file name.
pub use crate::study::graph::slug;

pub(super) fn plot_err(e: plot::PlotError) -> ReportError {
    ReportError::Io {
        path: e.path,
        source: std::io::Error::other(e.message),
    }
}

/// `Ent-Prog (3 seeds)`, `original (1 seed)`.
fn seeds_label(scheme: &str, n: usize) -> String {
    format!("{scheme} ({n} seed{})", if n == 1 { "" } else { "s" })
}

/// Mean, min and max of `v`.
pub(super) fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi)
}

/// The arms of block `d` (a dataset, or a dataset and a group), grouped by scheme in the target's order.
pub(super) fn arms_by_scheme<'a>(study: &'a Study, d: &str) -> Vec<(String, Vec<&'a Cell>)> {
    study
        .target
        .config
        .arms
        .iter()
        .map(|a| {
            let cells = study
                .cells
                .iter()
                .filter(|c| {
                    c.kind == CellKind::Arm
                        && c.block() == d
                        && c.group == a.group
                        && c.scheme.as_ref() == Some(&a.scheme)
                })
                .collect();
            (a.scheme.clone(), cells)
        })
        // Arms of the block's group only.
        .filter(|(_, cells): &(String, Vec<&Cell>)| !cells.is_empty())
        .collect()
}

/// The evaluation cell of arm cell `arm`.
fn eval_of<'a>(study: &'a Study, arm: &Cell) -> Option<&'a Cell> {
    let i = study.cells.iter().position(|c| std::ptr::eq(c, arm))?;
    study.cells.iter().find(|c| c.kind == CellKind::Eval { of: i })
}

/// The metrics of `curves-<d>.png`, with their axis labels.
const METRICS: [(&str, &str); 3] = [
    ("heldout_loss", "held-out loss"),
    ("ssim", "SSIM"),
    ("psnr", "PSNR (dB)"),
];

/// The clocks of `curves-<d>.png`: wall time, FLOPs.
#[derive(Clone, Copy, PartialEq)]
enum Clock {
    Wall,
    Flops,
}

/// One arm's curves by metric, total time and FLOPs, and its evaluation's final values.
struct Run {
    curves: BTreeMap<&'static str, Vec<CurvePoint>>,
    time: f64,
    flops: f64,
    finals: Vec<(String, f64)>,
}

/// `curves-<d>.png`.
fn curves(study: &Study, d: &str, dir: &Path) -> Result<Figure, ReportError> {
    let mut per_scheme = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let mut runs = Vec::new();
        for arm in &cells {
            runs.push(load_run(study, arm)?);
        }
        per_scheme.push((scheme, runs));
    }
    let mut panels: Vec<Panel> = Vec::new();
    for (clock, name) in [(Clock::Wall, "wall s"), (Clock::Flops, "FLOPs")] {
        for (metric, label) in METRICS {
            panels.push(curve_panel(&per_scheme, clock, name, metric, label));
        }
    }
    let file = format!("curves-{}.png", slug(d));
    plot::panels(
        &dir.join(&file),
        &format!("{d}: quality against time and FLOPs (mean over seeds, min-max band)"),
        &panels,
        3,
    )
    .map_err(plot_err)?;
    Ok(Figure {
        file,
        caption: format!("{d}: held-out loss, SSIM and PSNR against wall time and FLOPs per scheme"),
    })
}

/// Arm `arm`'s curves, totals and its evaluation's final values.
fn load_run(study: &Study, arm: &Cell) -> Result<Run, ReportError> {
    let shared = ranking_share(study, arm)?;
    let mut curves = BTreeMap::new();
    for (metric, _) in METRICS {
        curves.insert(metric, quality_curve(&arm.train_dir(), shared, metric)?);
    }
    let totals = read(&arm.train_dir().join("runs.parquet"))?;
    let time = f64s(&totals, "total_wall_s")?[0] + shared;
    let flops = f64s(&totals, "total_flops")?[0];
    let mut finals = Vec::new();
    if let Some(e) = eval_of(study, arm) {
        let path = crate::study::reproduce::eval_dir(study, e).join("eval.parquet");
        if path.is_file() {
            let ev = read(&path)?.lazy().filter(col("subject").eq(lit("model"))).collect()?;
            let (names, values) = (strs(&ev, "metric")?, f64s(&ev, "value")?);
            for (n, v) in names.iter().zip(values) {
                finals.push((n.clone(), v));
            }
        }
    }
    Ok(Run {
        curves,
        time,
        flops,
        finals,
    })
}

/// The panel of `metric` against `clock`: per scheme a curve where every
/// run has one (the held-out loss; SSIM and PSNR with `[eval]`), else the
/// evaluation cell's final value.
fn curve_panel(
    per_scheme: &[(String, Vec<Run>)],
    clock: Clock,
    name: &str,
    metric: &'static str,
    label: &str,
) -> Panel {
    let mut series = Vec::new();
    for (k, (scheme, runs)) in per_scheme.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let s = curve_series(scheme, runs, clock, metric, color);
        series.extend(s.or_else(|| final_series(scheme, runs, clock, metric, color)));
    }
    Panel {
        title: format!("{label} against {name}"),
        x_desc: match clock {
            Clock::Wall => "training process wall s (overheads included)".into(),
            Clock::Flops => "training FLOPs".into(),
        },
        y_desc: label.into(),
        series,
        x_integer: false,
    }
}

/// The mean curve of `runs` with its min-max band, over the evaluations
/// every run has (none when one has none).
fn curve_series(
    scheme: &str,
    runs: &[Run],
    clock: Clock,
    metric: &'static str,
    color: plotters::style::RGBColor,
) -> Option<Series> {
    let len = runs.iter().map(|r| r.curves[metric].len()).min().unwrap_or(0);
    if len == 0 {
        return None;
    }
    let (mut points, mut band) = (Vec::new(), Vec::new());
    for j in 0..len {
        let at = |r: &Run| r.curves[metric][j];
        let xs: Vec<f64> = runs
            .iter()
            .map(|r| {
                if clock == Clock::Wall {
                    at(r).wall_s
                } else {
                    at(r).flops
                }
            })
            .collect();
        let ys: Vec<f64> = runs.iter().map(|r| at(r).value).collect();
        let (x, (y, lo, hi)) = (spread(&xs).0, spread(&ys));
        points.push((x, y));
        band.push((x, lo, hi));
    }
    let sampled = if metric == "heldout_loss" { "" } else { ", [eval] clips" };
    Some(Series {
        label: format!("{}{sampled}", seeds_label(scheme, runs.len())),
        color,
        style: Style::Line,
        points,
        band,
    })
}

/// The evaluation cells' final values of `metric` at the runs' total time
/// or FLOPs, mean with min-max whiskers (none without a finite value).
fn final_series(
    scheme: &str,
    runs: &[Run],
    clock: Clock,
    metric: &str,
    color: plotters::style::RGBColor,
) -> Option<Series> {
    let xs: Vec<f64> = runs
        .iter()
        .map(|r| if clock == Clock::Wall { r.time } else { r.flops })
        .collect();
    let ys: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.finals.iter().find(|f| f.0 == metric).map(|f| f.1))
        .filter(|v| v.is_finite())
        .collect();
    if ys.is_empty() {
        return None;
    }
    let (x, (y, lo, hi)) = (spread(&xs).0, spread(&ys));
    Some(Series {
        label: seeds_label(scheme, ys.len()),
        color,
        style: Style::Points,
        points: vec![(x, y)],
        band: vec![(x, lo, hi)],
    })
}

/// `samples-<d>.png`: every arm's first-seed sample sheet, labelled.
fn samples(study: &Study, d: &str, dir: &Path) -> Result<Option<Figure>, ReportError> {
    let mut images: Vec<(String, RgbImage)> = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let Some(e) = cells.first().and_then(|a| eval_of(study, a)) else {
            continue;
        };
        let path = crate::study::reproduce::eval_dir(study, e).join("samples.png");
        if !path.is_file() {
            continue;
        }
        let img = image::open(&path)
            .map_err(|e| ReportError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
            .to_rgb8();
        images.push((
            format!("{scheme}, seed {}: rows truth, pose, generated", e.exp.config.seed),
            img,
        ));
    }
    if images.is_empty() {
        return Ok(None);
    }
    let file = format!("samples-{}.png", slug(d));
    let scale = plot::sheet_scale(&images, 640);
    plot::sheet(&dir.join(&file), &images, scale).map_err(plot_err)?;
    Ok(Some(Figure {
        file,
        caption: format!("{d}: generated test clips of each scheme (first seed)"),
    }))
}

/// Writes every plot of `study` into `dir`; returns them in report order.
pub fn write_all(study: &Study, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for block in study.target.config.blocks() {
        let d = &block.name();
        out.push(curves(study, d, dir)?);
        out.extend(cei(study, d, dir)?);
        out.extend(ce(study, d, dir)?);
        out.extend(block_states(study, d, dir)?);
        out.extend(samples(study, d, dir)?);
    }
    out.extend(super::probes::probe_figures(study, dir)?);
    Ok(out)
}
