//! Cost accounting: each run's wall time, FLOPs and memory as metrics of
//! the model, and the shared ranking cells' time, split evenly over the
//! runs they rank for (counted in their time and overhead) and reported
//! apart in full.

use super::assemble::ReportCell;
use super::load::{read, scalar, ReportError};
use super::render::red;
use crate::study::cells::{Cell, CellKind, Study};

/// Metrics whose values are timings or memory (redacted in snapshot tests).
pub const TIMING: [&str; 9] = [
    "time_s",
    "time_train_steps_s",
    "overhead_s",
    "ranking_s",
    "ranking_wall_s",
    "ranking_share",
    "memory_mb",
    "process_memory_mb",
    "eval_wall_s",
];

/// An arm's timing, memory and FLOPs from its `runs.parquet`, its share of
/// a shared ranking counted in its time and overhead.
pub(super) fn run_costs(study: &Study, arm: &Cell) -> Result<[(&'static str, f64); 7], ReportError> {
    let runs = read(&arm.train_dir().join("runs.parquet"))?;
    let get = |c: &str| scalar(&runs, c);
    let ranking = ranking_share(study, arm)?;
    Ok([
        ("time_s", get("total_wall_s")? + ranking),
        ("time_train_steps_s", get("train_wall_s")?),
        (
            "overhead_s",
            get("scoring_wall_s")? + get("heldout_wall_s")? + get("supernet_wall_s")? + ranking,
        ),
        ("ranking_s", ranking),
        ("memory_mb", get("train_peak_bytes")? / 1e6),
        ("process_memory_mb", get("process_peak_bytes")? / 1e6),
        ("flops", get("total_flops")?),
    ])
}

/// The wall seconds of ranking cell `r` (its `runs.parquet`).
fn ranking_wall(study: &Study, r: usize) -> Result<f64, ReportError> {
    let runs = read(&study.cells[r].ranking_dir().join("runs.parquet"))?;
    scalar(&runs, "total_wall_s")
}

/// The arm cells given ranking cell `r`.
fn ranking_users(study: &Study, r: usize) -> impl Iterator<Item = &Cell> {
    study
        .cells
        .iter()
        .filter(move |c| c.kind == CellKind::Arm && c.ranking == Some(r))
}

/// An arm's share of its shared ranking's time: the ranking cell's wall
/// seconds over the runs given it (0 for an arm without one).
pub fn ranking_share(study: &Study, arm: &Cell) -> Result<f64, ReportError> {
    let Some(r) = arm.ranking else { return Ok(0.0) };
    Ok(ranking_wall(study, r)? / ranking_users(study, r).count().max(1) as f64)
}

/// The "Block ranking" section: one line per ranking cell (see
/// [`ranking_line`]), with their `report.parquet` cells; empty without
/// ranking cells.
pub(super) fn ranking_section(study: &Study, redact: bool, rows: &mut Vec<ReportCell>) -> Result<String, ReportError> {
    let mut costs = String::new();
    for (r, cell) in study
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == CellKind::Ranking)
    {
        costs.push_str(&ranking_line(study, r, cell, redact, rows)?);
    }
    if costs.is_empty() {
        return Ok(costs);
    }
    let mut md = String::from(
        "## Block ranking (one scoring cell per dataset, shared by the arm's seeds)\n\n\
         The paper ranks once, offline: each ranking cell scores the starting checkpoint's schedulable blocks \
         once, and every seed of the arm trains on it (`schedule.ranking`). Its time is split evenly over \
         those runs in their time and speedup columns.\n\n",
    );
    md.push_str(&costs);
    md.push('\n');
    Ok(md)
}

/// Ranking cell `r`'s line: what it scored, its time, and its share of the
/// time of the runs that use it (ranking / (ranking + the runs' own
/// training process time)); pushes its `report.parquet` cells.
fn ranking_line(
    study: &Study,
    r: usize,
    cell: &Cell,
    redact: bool,
    rows: &mut Vec<ReportCell>,
) -> Result<String, ReportError> {
    let wall = ranking_wall(study, r)?;
    let mut runs_s = 0.0;
    let mut n: u32 = 0;
    for arm in ranking_users(study, r) {
        runs_s += scalar(&read(&arm.train_dir().join("runs.parquet"))?, "total_wall_s")?;
        n += 1;
    }
    let share = wall / (wall + runs_s);
    let c = &cell.exp.config;
    let (d, sc) = (cell.block(), cell.scheme.clone().unwrap_or_default());
    let verdict = if share <= 0.05 { "within" } else { "over" };
    for (metric, value) in [("ranking_wall_s", wall), ("ranking_share", share)] {
        rows.push(ReportCell {
            dataset: d.clone(),
            scheme: sc.clone(),
            subject: "ranking".into(),
            metric: metric.into(),
            mean: value,
            ci95: f64::NAN,
            seeds: n,
            source: "entprog",
        });
    }
    Ok(format!(
        "- {d}, {sc}: one {} ranking of the starting checkpoint (N = {} x {} samples) in {} s, shared by {n} run(s): \
         {} of their training process time ({}; goal <= 5%)\n",
        c.schedule.scorer,
        c.cei.conditions,
        c.cei.draws,
        red(redact, format!("{wall:.1}")),
        red(redact, format!("{:.1}%", 100.0 * share)),
        red(redact, format!("{verdict} the goal")),
    ))
}
