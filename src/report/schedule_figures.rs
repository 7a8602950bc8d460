//! The plots of the schedule, from the cells' Parquet files: the shared
//! ranking's score per block (`cei-<d>-<arm>.png`), the supernet's CE per
//! candidate and stage (`ce-<d>.png`) and the blocks' states over training
//! (`blocks-<d>-<arm>.png`); see `figures.rs`.

use std::path::Path;

use polars::prelude::*;

use super::figures::{arms_by_scheme, plot_err, slug, spread, Figure};
use super::load::{f64s, read, strs, ReportError};
use crate::plot::{self, Panel, Series, StateMap, Style, COLORS};
use crate::study::cells::{Cell, CellKind, Study};

/// `cei-<d>-<arm>.png` for each ranking cell of dataset `d`.
pub(super) fn cei(study: &Study, d: &str, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for cell in study
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Ranking && c.block() == d)
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
        let file = format!("cei-{}-{}.png", slug(d), slug(&scheme));
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

/// CE per seed of each (stage k, candidate m), one per candidate.
type CeValues = Vec<((u32, u32), Vec<f64>)>;

/// `ce-<d>.png`: CE per candidate per stage of every scheme with a supernet.
pub(super) fn ce(study: &Study, d: &str, dir: &Path) -> Result<Option<Figure>, ReportError> {
    let mut panels = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let values = ce_values(&cells)?;
        if values.is_empty() {
            continue;
        }
        panels.push(Panel {
            title: format!("{scheme}: CE per candidate m"),
            x_desc: "schedule stage k".into(),
            y_desc: "CE (loss drop per clock unit)".into(),
            series: ce_series(&values),
            x_integer: true,
        });
    }
    if panels.is_empty() {
        return Ok(None);
    }
    let file = format!("ce-{}.png", slug(d));
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

/// The CE per seed of each (stage, m) of the arms' `supernet.parquet`.
fn ce_values(cells: &[&Cell]) -> Result<CeValues, ReportError> {
    // (stage, m) -> CE per seed.
    let mut values: CeValues = Vec::new();
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
    Ok(values)
}

/// One series per candidate m: its CE per stage, mean with min-max.
fn ce_series(values: &CeValues) -> Vec<Series> {
    let mut ms: Vec<u32> = values.iter().map(|v| v.0 .1).collect();
    ms.sort();
    ms.dedup();
    ms.iter()
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
        .collect()
}

/// `blocks-<d>-<arm>.png` of the first seed of each scheme with a schedule.
pub(super) fn block_states(study: &Study, d: &str, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for (scheme, cells) in arms_by_scheme(study, d) {
        let Some(arm) = cells.first() else { continue };
        if arm.ranking.is_none() {
            continue;
        }
        let (rows, spans) = state_spans(arm)?;
        let file = format!("blocks-{}-{}.png", slug(d), slug(&scheme));
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

/// Per row, spans `(from, to, state)` of steps.
type Spans = Vec<Vec<(f64, f64, usize)>>;

/// Arm `arm`'s blocks of the first stage and, per block, the spans of
/// steps it was trainable (0), frozen (1) or skipped (2) in.
fn state_spans(arm: &Cell) -> Result<(Vec<String>, Spans), ReportError> {
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
    let mut spans: Spans = vec![Vec::new(); rows.len()];
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
    Ok((rows, spans))
}
