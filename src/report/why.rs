//! The "Why" section: per dataset and progressive arm, what its supernet
//! measured of each candidate m (cost per step in FLOPs and wall time,
//! held-out loss drop per step, CE, how often chosen) and what the choice
//! cost overall, from the runs' own files.

use std::path::Path;

use polars::prelude::*;

use super::load::{f64s, read, scalar, strs, ReportError};
use super::stats::Interval;
use crate::study::cells::{Cell, CellKind, Study};

/// One candidate m of one schedule stage, over the seeds of an arm.
#[derive(Default)]
struct Candidate {
    stage: String,
    m: u32,
    flops: Vec<f64>,
    wall: Vec<f64>,
    drop: Vec<f64>,
    ce: Vec<f64>,
    chosen: usize,
}

/// The section (empty when no arm ran a supernet); wall times redacted with
/// `redact`.
pub(super) fn why_section(study: &Study, redact: bool) -> Result<String, ReportError> {
    let mut md = String::new();
    let arms: Vec<&Cell> = study
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Arm && !c.baseline)
        .collect();
    let mut seen: Vec<(String, String)> = Vec::new();
    for arm in &arms {
        let key = (arm.block(), arm.scheme.clone().unwrap_or_default());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let (d, sc) = key;
        let runs: Vec<&&Cell> = arms
            .iter()
            .filter(|c| c.block() == d && c.scheme.as_deref() == Some(sc.as_str()))
            .filter(|c| c.train_dir().join("supernet.parquet").is_file())
            .collect();
        if !runs.is_empty() {
            md.push_str(&arm_why(study, &d, &sc, &runs, redact)?);
        }
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!("## Why: what the runs measured of each candidate\n\n{md}"))
}

/// One arm's part: its candidates' table, the first stage's comparison and
/// the share of full fine-tuning's FLOPs it trained.
fn arm_why(study: &Study, d: &str, sc: &str, runs: &[&&Cell], redact: bool) -> Result<String, ReportError> {
    let mut cands: Vec<Candidate> = Vec::new();
    let mut flops_ratio = Vec::new();
    for run in runs {
        add_supernet_run(&run.train_dir(), &mut cands)?;
        if let Some(ratio) = flops_of_baseline(study, run)? {
            flops_ratio.push(ratio);
        }
    }
    cands.sort_by(|a, b| a.stage.cmp(&b.stage).then(a.m.cmp(&b.m)));
    let wall = runs
        .first()
        .is_some_and(|r| r.exp.config.schedule.clock == crate::entprog::Clock::Wall);
    let mut md = candidate_table(d, sc, runs.len(), &cands, wall, redact);
    md.push_str(&first_stage(&cands, wall, redact));

    if !flops_ratio.is_empty() {
        md.push_str(&format!(
            " Over the whole run, {sc} trained {:.2}% of full fine-tuning's FLOPs.",
            100.0 * mean(&flops_ratio)
        ));
    }
    let measured: Vec<(u32, f64)> = cands.iter().map(|c| (c.m, mean(&c.flops) / 1e9)).collect();
    md.push_str(&super::predicted::predicted(study, runs[0], &measured)?);
    md.push_str("\n\n");
    Ok(md)
}

/// The mean over seeds.
fn mean(v: &[f64]) -> f64 {
    Interval::of(v).mean
}

/// `run`'s total FLOPs over those of the baseline run of its dataset and
/// seed (none without one).
fn flops_of_baseline(study: &Study, run: &Cell) -> Result<Option<f64>, ReportError> {
    let base = study.cells.iter().find(|c| {
        c.kind == CellKind::Arm && c.baseline && c.block() == run.block() && c.exp.config.seed == run.exp.config.seed
    });
    let Some(base) = base else { return Ok(None) };
    let total = |dir: &Path| scalar(&read(&dir.join("runs.parquet"))?, "total_flops");
    Ok(Some(total(&run.train_dir())? / total(&base.train_dir())?))
}

/// The table of candidates, under its heading and explanation.
/// `wall`: the runs read CE on the wall clock (per second, redacted with the times).
fn candidate_table(d: &str, sc: &str, seeds: usize, cands: &[Candidate], wall: bool, redact: bool) -> String {
    let unit = if wall { "second" } else { "FLOP" };
    let mut md = format!(
        "### {d}, {sc}: what the adaptive schedule measured ({seeds} seed(s))\n\n\
         Per schedule stage and candidate m (blocks trained), from the runs' `supernet.parquet` and \
         `steps.parquet`: the cost of one supernet step, the held-out loss drop per step while the \
         candidate trained, its convergence efficiency (CE: the drop per {unit}) and in how many seeds \
         it was chosen. A later stage offers only m at least as large as the one before.\n\n\
         | stage | m | GFLOPs per step | s per step | held-out loss drop per step | CE per {unit} | chosen |\n\
         |---|---|---|---|---|---|---|\n"
    );
    for c in cands {
        let secs = match redact {
            true => "[t]".to_string(),
            false => format!("{:.3}", mean(&c.wall)),
        };
        let ce = match redact && wall {
            true => "[t]".to_string(),
            false => format!("{:.2e}", mean(&c.ce)),
        };
        md.push_str(&format!(
            "| {} | {} | {:.3} | {} | {:.2e} | {} | {} of {} |\n",
            c.stage,
            c.m,
            mean(&c.flops) / 1e9,
            secs,
            mean(&c.drop),
            ce,
            c.chosen,
            c.flops.len()
        ));
    }
    md
}

/// The first stage, where every candidate competes: the cost and CE of the
/// smallest against the largest (empty with one candidate).
fn first_stage(cands: &[Candidate], wall: bool, redact: bool) -> String {
    let first = cands.first().map(|c| c.stage.clone()).unwrap_or_default();
    let in_first: Vec<&Candidate> = cands.iter().filter(|c| c.stage == first).collect();
    let (Some(lo), Some(hi)) = (in_first.first(), in_first.last()) else {
        return String::new();
    };
    if lo.m >= hi.m {
        return String::new();
    }
    let wall_share = match redact {
        true => "[t]".to_string(),
        false => format!("{:.0}%", 100.0 * mean(&lo.wall) / mean(&hi.wall)),
    };
    // On the wall clock, CE is a rate of seconds and is redacted with them.
    let ce_ratio = match redact && wall {
        true => "[t]".to_string(),
        false => format!("{:.2}x", mean(&lo.ce) / mean(&hi.ce)),
    };
    format!(
        "\nIn stage {first}, m = {} costs {:.0}% of m = {}'s FLOPs per step and {wall_share} of its \
         wall time, and its CE is {ce_ratio} m = {}'s; the largest m was chosen in {} of {} seed(s).",
        lo.m,
        100.0 * mean(&lo.flops) / mean(&hi.flops),
        hi.m,
        hi.m,
        hi.chosen,
        hi.flops.len()
    )
}

/// Per (stage, candidate m) of the run in `dir`: the mean FLOPs and wall
/// seconds of its supernet steps (`steps.parquet`) and its number of them,
/// joined to the held-out loss drop summed over the candidate's
/// evaluations, its CE and whether it was chosen (`supernet.parquet`).
fn supernet_candidates(dir: &Path) -> Result<DataFrame, ReportError> {
    let steps = read(&dir.join("steps.parquet"))?
        .lazy()
        .filter(col("phase").eq(lit("supernet")))
        .group_by_stable([col("stage"), col("m")])
        .agg([
            len().alias("n"),
            col("flops").cast(DataType::Float64).mean().alias("flops"),
            col("wall_s").mean().alias("wall"),
        ])
        .collect()?;
    Ok(read(&dir.join("supernet.parquet"))?
        .lazy()
        .group_by_stable([col("stage"), col("candidate_m").alias("m")])
        .agg([
            (col("loss_before") - col("heldout_loss")).sum().alias("drop"),
            col("ce").first().alias("ce"),
            col("chosen").any(true).alias("chosen"),
        ])
        .join(
            steps.lazy(),
            [col("stage"), col("m")],
            [col("stage"), col("m")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["stage", "m"], SortMultipleOptions::default())
        .collect()?)
}

/// Adds one run to `cands`, per (stage, candidate m): the mean FLOPs and
/// wall seconds of its supernet steps, and the held-out loss drop per step
/// while the candidate trained, its CE and whether it was chosen.
fn add_supernet_run(dir: &Path, cands: &mut Vec<Candidate>) -> Result<(), ReportError> {
    let sup = supernet_candidates(dir)?;
    let f = |c: &str| f64s(&sup, c);
    let stage = strs(&sup, "stage")?;
    let m: Vec<u32> = sup.column("m")?.u32()?.iter().map(|v| v.unwrap_or(0)).collect();
    let chosen: Vec<bool> = sup
        .column("chosen")?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let (n, flops, wall, drop, ce) = (f("n")?, f("flops")?, f("wall")?, f("drop")?, f("ce")?);
    for i in 0..stage.len() {
        let c = match cands.iter().position(|c| c.stage == stage[i] && c.m == m[i]) {
            Some(j) => &mut cands[j],
            None => {
                cands.push(Candidate {
                    stage: stage[i].clone(),
                    m: m[i],
                    ..Candidate::default()
                });
                cands.last_mut().expect("just pushed")
            }
        };
        c.flops.push(flops[i]);
        c.wall.push(wall[i]);
        c.drop.push(drop[i] / n[i]);
        c.ce.push(ce[i]);
        c.chosen += chosen[i] as usize;
    }
    Ok(())
}
