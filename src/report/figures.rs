//! The report's plots, computed from the cells' files on disk only (the
//! Parquet tables, and the evaluation cells' `samples.png`), drawn with
//! `plot.rs`, written beside `report.md`. Per dataset of the target:
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

use std::path::Path;

use image::RgbImage;
use polars::prelude::*;

use super::plot::{self, Panel, Series, StateMap, Style, COLORS};
use super::{read, ReportError};
use crate::study::cells::{Cell, CellKind, Study};

/// A written plot: its file name and a caption for `report.md`.
pub struct Figure {
    pub file: String,
    pub caption: String,
}

pub(super) fn f64s(df: &DataFrame, c: &str) -> Result<Vec<f64>, ReportError> {
    Ok(df
        .column(c)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

pub(super) fn strs(df: &DataFrame, c: &str) -> Result<Vec<String>, ReportError> {
    Ok(df
        .column(c)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// `Ent-Prog` -> `ent-prog`: a scheme in a file name.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn plot_err(e: plot::PlotError) -> ReportError {
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
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi)
}

/// The arms of dataset `d`, grouped by scheme in the target's order.
fn arms_by_scheme<'a>(study: &'a Study, d: &str) -> Vec<(String, Vec<&'a Cell>)> {
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
                    c.kind == CellKind::Arm && c.dataset.as_deref() == Some(d) && c.scheme.as_ref() == Some(&a.scheme)
                })
                .collect();
            (a.scheme.clone(), cells)
        })
        .collect()
}

/// The evaluation cell of arm cell `arm`.
fn eval_of<'a>(study: &'a Study, arm: &Cell) -> Option<&'a Cell> {
    let i = study.cells.iter().position(|c| std::ptr::eq(c, arm))?;
    study.cells.iter().find(|c| c.kind == CellKind::Eval { of: i })
}

/// One arm's curves by metric, total time and FLOPs, and its evaluation's final values.
type Run = (
    std::collections::BTreeMap<&'static str, Vec<super::CurvePoint>>,
    f64,
    f64,
    Vec<(String, f64)>,
);

/// `curves-<d>.png`.
fn curves(study: &Study, d: &str, dir: &Path) -> Result<Figure, ReportError> {
    let metrics: [(&'static str, &str); 3] = [
        ("heldout_loss", "held-out loss"),
        ("ssim", "SSIM"),
        ("psnr", "PSNR (dB)"),
    ];
    let clocks = [("wall s", 0usize), ("FLOPs", 1usize)];
    let mut panels: Vec<Panel> = Vec::new();
    let mut per_scheme = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let mut runs: Vec<Run> = Vec::new();
        for arm in &cells {
            let shared = super::ranking_share(study, arm)?;
            let mut curve = std::collections::BTreeMap::new();
            for (metric, _) in metrics {
                curve.insert(metric, super::quality_curve(&arm.train_dir(), shared, metric)?);
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
            runs.push((curve, time, flops, finals));
        }
        per_scheme.push((scheme, runs));
    }
    for (clock, ci) in clocks {
        for (metric, label) in metrics {
            let mut series = Vec::new();
            for (k, (scheme, runs)) in per_scheme.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                // A curve where every run has one (the held-out loss; SSIM
                // and PSNR with `[eval]`), else the evaluation cell's final value.
                let len = runs.iter().map(|r| r.0[metric].len()).min().unwrap_or(0);
                if len > 0 {
                    let (mut points, mut band) = (Vec::new(), Vec::new());
                    for j in 0..len {
                        let at = |r: &Run| r.0[metric][j];
                        let xs: Vec<f64> = runs
                            .iter()
                            .map(|r| if ci == 0 { at(r).wall_s } else { at(r).flops })
                            .collect();
                        let ys: Vec<f64> = runs.iter().map(|r| at(r).value).collect();
                        let (x, (y, lo, hi)) = (spread(&xs).0, spread(&ys));
                        points.push((x, y));
                        band.push((x, lo, hi));
                    }
                    let sampled = if metric == "heldout_loss" { "" } else { ", [eval] clips" };
                    series.push(Series {
                        label: format!("{}{sampled}", seeds_label(scheme, runs.len())),
                        color,
                        style: Style::Line,
                        points,
                        band,
                    });
                } else {
                    let xs: Vec<f64> = runs.iter().map(|r| if ci == 0 { r.1 } else { r.2 }).collect();
                    let ys: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.3.iter().find(|f| f.0 == metric).map(|f| f.1))
                        .filter(|v| v.is_finite())
                        .collect();
                    if !ys.is_empty() {
                        let (x, (y, lo, hi)) = (spread(&xs).0, spread(&ys));
                        series.push(Series {
                            label: seeds_label(scheme, ys.len()),
                            color,
                            style: Style::Points,
                            points: vec![(x, y)],
                            band: vec![(x, lo, hi)],
                        });
                    }
                }
            }
            panels.push(Panel {
                title: format!("{label} against {clock}"),
                x_desc: if ci == 0 {
                    "training process wall s (overheads included)".into()
                } else {
                    "training FLOPs".into()
                },
                y_desc: label.into(),
                series,
                x_integer: false,
            });
        }
    }
    let file = format!("curves-{d}.png");
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

/// `cei-<d>-<arm>.png` for each ranking cell of dataset `d`.
fn cei(study: &Study, d: &str, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for cell in study
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Ranking && c.dataset.as_deref() == Some(d))
    {
        let blocks = read(&cell.ranking_dir().join("blocks.parquet"))?
            .lazy()
            .sort(["rank"], SortMultipleOptions::default())
            .collect()?;
        let (ids, score) = (strs(&blocks, "block_id")?, f64s(&blocks, "score")?);
        let se = f64s(&blocks, "score_se")?;
        let bars: Vec<plot::Bar> = ids
            .into_iter()
            .zip(score)
            .zip(se)
            .map(|((id, v), s)| (id, v, s.is_finite().then_some(s)))
            .collect();
        let scheme = cell.scheme.clone().unwrap_or_default();
        let c = &cell.exp.config;
        let file = format!("cei-{d}-{}.png", slug(&scheme));
        let title = format!(
            "{d}: {} per block of the {scheme} ranking (N = {}), +-1 SE",
            c.schedule.scorer,
            c.cei.conditions * c.cei.draws
        );
        plot::bar_chart(&dir.join(&file), &title, &bars).map_err(plot_err)?;
        out.push(Figure {
            file,
            caption: format!(
                "{d}: {} per block (shared ranking of {scheme}), in rank order",
                c.schedule.scorer
            ),
        });
    }
    Ok(out)
}

/// `ce-<d>.png`: CE per candidate per stage of every scheme with a supernet.
fn ce(study: &Study, d: &str, dir: &Path) -> Result<Option<Figure>, ReportError> {
    let mut panels = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        // (stage, m) -> CE per seed.
        let mut values: Vec<((u32, u32), Vec<f64>)> = Vec::new();
        for arm in cells {
            let path = arm.train_dir().join("supernet.parquet");
            if !path.is_file() {
                continue;
            }
            let df = read(&path)?;
            let (stage, m, ce, point) = (
                strs(&df, "stage")?,
                f64s(&df, "candidate_m")?,
                f64s(&df, "ce")?,
                f64s(&df, "eval_point")?,
            );
            for i in 0..stage.len() {
                // One CE per candidate: its rows share it; take the first point's.
                if point[i] != 1.0 || !ce[i].is_finite() {
                    continue;
                }
                let k = stage[i].trim_start_matches('k').parse::<u32>().unwrap_or(0);
                let key = (k, m[i] as u32);
                match values.iter_mut().find(|v| v.0 == key) {
                    Some(v) => v.1.push(ce[i]),
                    None => values.push((key, vec![ce[i]])),
                }
            }
        }
        if values.is_empty() {
            continue;
        }
        let mut ms: Vec<u32> = values.iter().map(|v| v.0 .1).collect();
        ms.sort();
        ms.dedup();
        let series = ms
            .iter()
            .enumerate()
            .map(|(j, &m)| {
                let (mut points, mut band) = (Vec::new(), Vec::new());
                // Candidates side by side within a stage.
                let offset = (j as f64 - (ms.len() as f64 - 1.0) / 2.0) * 0.08;
                for ((k, _), v) in values.iter().filter(|v| v.0 .1 == m) {
                    let (mean, lo, hi) = spread(v);
                    let x = *k as f64 + offset;
                    points.push((x, mean));
                    band.push((x, lo, hi));
                }
                Series {
                    label: format!("m = {m}"),
                    color: COLORS[j % COLORS.len()],
                    style: Style::Points,
                    points,
                    band,
                }
            })
            .collect();
        panels.push(Panel {
            title: format!("{scheme}: CE per candidate m"),
            x_desc: "schedule stage k".into(),
            y_desc: "CE (loss drop per clock unit)".into(),
            series,
            x_integer: true,
        });
    }
    if panels.is_empty() {
        return Ok(None);
    }
    let file = format!("ce-{d}.png");
    let cols = panels.len().min(2);
    plot::panels(
        &dir.join(&file),
        &format!("{d}: Nested Diffusion Supernet, CE per candidate per stage (mean over seeds, min-max)"),
        &panels,
        cols,
    )
    .map_err(plot_err)?;
    Ok(Some(Figure {
        file,
        caption: format!("{d}: the supernet's convergence efficiency per candidate m and stage"),
    }))
}

/// `blocks-<d>-<arm>.png` of the first seed of each scheme with a schedule.
fn block_states(study: &Study, d: &str, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let Some(arm) = cells.first() else { continue };
        if arm.ranking.is_none() {
            continue;
        }
        let blocks = read(&arm.train_dir().join("blocks.parquet"))?;
        let steps = read(&arm.train_dir().join("steps.parquet"))?;
        let (b_stage, b_id, b_rank) = (
            strs(&blocks, "stage")?,
            strs(&blocks, "block_id")?,
            f64s(&blocks, "rank")?,
        );
        let (s_stage, s_step, s_m) = (strs(&steps, "stage")?, f64s(&steps, "step")?, f64s(&steps, "m")?);
        let first = b_stage.first().cloned().unwrap_or_default();
        let rows: Vec<String> = b_id
            .iter()
            .zip(&b_stage)
            .filter(|(_, s)| **s == first)
            .map(|(id, _)| id.clone())
            .collect();
        let inactive = if arm.exp.config.schedule.skip_inactive { 2 } else { 1 };
        let mut spans: Vec<Vec<(f64, f64, usize)>> = vec![Vec::new(); rows.len()];
        for (r, id) in rows.iter().enumerate() {
            for i in 0..s_step.len() {
                let rank = (0..b_id.len())
                    .find(|&j| &b_id[j] == id && b_stage[j] == s_stage[i])
                    .map_or(f64::INFINITY, |j| b_rank[j]);
                let state = if rank < s_m[i] { 0 } else { inactive };
                let (a, b) = (s_step[i], s_step[i] + 1.0);
                match spans[r].last_mut() {
                    Some(last) if last.2 == state && last.1 == a => last.1 = b,
                    _ => spans[r].push((a, b, state)),
                }
            }
        }
        let file = format!("blocks-{d}-{}.png", slug(&scheme));
        let map = StateMap {
            title: format!("{d}, {scheme} seed {}: block states over training", arm.exp.config.seed),
            x_desc: "step".into(),
            rows,
            spans,
            legend: vec![
                ("trainable".into(), plot::POSITIVE),
                ("frozen".into(), plotters::style::RGBColor(200, 200, 200)),
                ("skipped".into(), plotters::style::RGBColor(250, 225, 190)),
            ],
        };
        plot::state_map(&dir.join(&file), &map).map_err(plot_err)?;
        out.push(Figure {
            file,
            caption: format!("{d}: which blocks {scheme} trained at each step (first seed)"),
        });
    }
    Ok(out)
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
    let file = format!("samples-{d}.png");
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
    for d in &study.target.config.datasets {
        out.push(curves(study, d, dir)?);
        out.extend(cei(study, d, dir)?);
        out.extend(ce(study, d, dir)?);
        out.extend(block_states(study, d, dir)?);
        out.extend(samples(study, d, dir)?);
    }
    Ok(out)
}
