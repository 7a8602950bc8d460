//! Reports, computed with Polars from the Parquet files on disk only: a
//! comparison of a target's arms against its baseline arm, per dataset, in
//! the paper's layout (scheme rows; quality, memory and speedup columns),
//! each cell the mean and 95% interval over seeds, the paper's numbers
//! beside ours, and a verdict per claim computed from the intervals.
//! `report.md` and `report.parquet` (the same cells, long format) go to the
//! target's report folder with the plots of `figures.rs`; `entprog report
//! <target>` rebuilds them without training. A shared ranking cell's time
//! is split evenly over the runs it ranks for and counted in their time
//! and overhead; its whole cost is reported apart.

pub mod figures;
pub mod plot;
pub mod stats;

use std::path::PathBuf;

use polars::prelude::*;

use crate::study::cells::{Cell, CellKind, Study};
use stats::{exceeds, no_loss, Interval, Verdict};

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

/// A quality column of the table: the metrics that can fill it, best
/// first, each with the network that makes it (a standard network's metric
/// when its weights were present, else the offline dance network's); its
/// label; whether higher is better; the paper's key for it.
struct Spec {
    candidates: &'static [(&'static str, &'static str)],
    label: &'static str,
    higher: bool,
    paper: Option<&'static str>,
    /// Shown for the baselines too (not a property of the model alone).
    baselines: bool,
}

const fn spec(
    candidates: &'static [(&'static str, &'static str)],
    label: &'static str,
    higher: bool,
    paper: Option<&'static str>,
    baselines: bool,
) -> Spec {
    Spec {
        candidates,
        label,
        higher,
        paper,
        baselines,
    }
}

const SPECS: [Spec; 12] = [
    spec(&[("heldout_loss", "")], "held-out loss", false, None, false),
    spec(&[("ssim", "")], "SSIM", true, Some("ssim"), true),
    spec(&[("psnr", "")], "PSNR", true, Some("psnr"), true),
    spec(&[("l1", "")], "L1", false, None, true),
    spec(&[("ssim_disco", "")], "SSIM (DisCo)", true, None, true),
    spec(&[("psnr_disco", "")], "PSNR (DisCo)", true, None, true),
    spec(
        &[
            ("lpips_alex", "alex"),
            ("lpips_vgg", "vgg"),
            ("lpips_dance", "dance-frame"),
        ],
        "LPIPS",
        false,
        Some("lpips"),
        true,
    ),
    spec(
        &[("fid_inception", "inception"), ("fid_dance", "dance-frame")],
        "FID",
        false,
        None,
        true,
    ),
    spec(
        &[("fvd_i3d", "i3d"), ("fvd_dance", "dance-clip")],
        "FVD",
        false,
        Some("fvd"),
        true,
    ),
    spec(&[("pck_dance", "dance-frame")], "PCK@0.1", true, None, true),
    spec(
        &[("kp_error_px_dance", "dance-frame")],
        "kp error px",
        false,
        None,
        true,
    ),
    spec(&[("conditioning_gap", "")], "conditioning gap", true, None, false),
];

/// A column resolved for one dataset: the metric that fills it.
struct Column {
    metric: &'static str,
    label: String,
    higher: bool,
    paper: Option<&'static str>,
    baselines: bool,
}

/// The columns of `dataset`'s table: per spec, the first candidate metric
/// measured there (else the last, shown as n/a), labelled with its network.
fn columns(groups: &[Group], dataset: &str) -> Vec<Column> {
    SPECS
        .iter()
        .map(|s| {
            let measured = |m: &str| {
                groups
                    .iter()
                    .any(|g| g.dataset == dataset && g.metric == m && !g.values.is_empty())
            };
            let &(metric, network) = s
                .candidates
                .iter()
                .find(|(m, _)| measured(m))
                .unwrap_or(s.candidates.last().expect("a candidate per spec"));
            Column {
                metric,
                label: if network.is_empty() {
                    s.label.to_string()
                } else {
                    format!("{} ({network})", s.label)
                },
                higher: s.higher,
                paper: s.paper,
                baselines: s.baselines,
            }
        })
        .collect()
}

fn read(path: &std::path::Path) -> Result<DataFrame, ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Missing {
        path: path.into(),
        message: e.to_string(),
    })?;
    Ok(ParquetReader::new(file).finish()?)
}

/// One long table of everything measured: dataset, scheme, baseline,
/// seed, subject, metric, value, from each arm's `runs.parquet` and its
/// evaluation's `eval.parquet`.
pub fn measurements(study: &Study) -> Result<DataFrame, ReportError> {
    let mut frames = Vec::new();
    for (i, cell) in study.cells.iter().enumerate() {
        let CellKind::Eval { of } = cell.kind else { continue };
        let arm = &study.cells[of];
        let eval_dir = crate::study::reproduce::eval_dir(study, cell);
        let runs = read(&arm.train_dir().join("runs.parquet"))?;
        // Timing and memory, as metrics of the model.
        let get = |c: &str| -> Result<f64, ReportError> {
            Ok(runs
                .column(c)?
                .cast(&DataType::Float64)?
                .f64()?
                .get(0)
                .unwrap_or(f64::NAN))
        };
        let ranking = ranking_share(study, arm)?;
        let per_run: [(&str, f64); 7] = [
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
        ];
        let per_run = df!(
            "subject" => vec!["model"; per_run.len()],
            "metric" => per_run.iter().map(|m| m.0).collect::<Vec<_>>(),
            "value" => per_run.iter().map(|m| m.1).collect::<Vec<_>>(),
        )?
        .lazy();
        let evals = read(&eval_dir.join("eval.parquet"))?
            .lazy()
            .select([col("subject"), col("metric"), col("value")]);
        let both = concat([per_run, evals], UnionArgs::default())?.with_columns([
            lit(arm.dataset.clone().unwrap_or_default()).alias("dataset"),
            lit(arm.scheme.clone().unwrap_or_default()).alias("scheme"),
            lit(arm.baseline).alias("baseline"),
            lit(arm.exp.config.seed).alias("seed"),
            lit(i as u32).alias("cell"),
        ]);
        frames.push(both);
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

/// The finite values of one list cell.
fn floats(s: Option<Series>) -> Vec<f64> {
    s.and_then(|s| s.cast(&DataType::Float64).ok())
        .map(|s| {
            s.f64()
                .map(|c| c.iter().flatten().filter(|v| !v.is_nan()).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// The values over seeds of one (dataset, scheme, subject, metric).
struct Group {
    dataset: String,
    scheme: String,
    subject: String,
    metric: String,
    values: Vec<f64>,
}

/// Per-seed paired values of one (dataset, arm scheme, metric).
struct Pair {
    dataset: String,
    scheme: String,
    metric: String,
    values: Vec<f64>,
}

/// One cell of `report.parquet`.
struct ReportCell {
    dataset: String,
    scheme: String,
    subject: String,
    metric: String,
    mean: f64,
    ci95: f64,
    seeds: u32,
    source: &'static str,
}

/// The wall seconds of ranking cell `r` (its `runs.parquet`).
fn ranking_wall(study: &Study, r: usize) -> Result<f64, ReportError> {
    let runs = read(&study.cells[r].ranking_dir().join("runs.parquet"))?;
    Ok(runs
        .column("total_wall_s")?
        .cast(&DataType::Float64)?
        .f64()?
        .get(0)
        .unwrap_or(f64::NAN))
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

/// One line per ranking cell: what it scored, its time, and its share of
/// the time of the runs that use it (ranking / (ranking + the runs' own
/// training process time)); with their `report.parquet` cells.
fn ranking_costs(study: &Study, redact: bool, rows: &mut Vec<ReportCell>) -> Result<String, ReportError> {
    let mut md = String::new();
    for (r, cell) in study
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == CellKind::Ranking)
    {
        let wall = ranking_wall(study, r)?;
        let mut runs_s = 0.0;
        let mut n = 0;
        for arm in ranking_users(study, r) {
            let runs = read(&arm.train_dir().join("runs.parquet"))?;
            runs_s += runs
                .column("total_wall_s")?
                .cast(&DataType::Float64)?
                .f64()?
                .get(0)
                .unwrap_or(f64::NAN);
            n += 1;
        }
        let share = wall / (wall + runs_s);
        let c = &cell.exp.config;
        let (d, sc) = (
            cell.dataset.clone().unwrap_or_default(),
            cell.scheme.clone().unwrap_or_default(),
        );
        let verdict = if share <= 0.05 { "within" } else { "over" };
        let red = |s: String| if redact { "[t]".to_string() } else { s };
        md.push_str(&format!(
            "- {d}, {sc}: one {} ranking of the starting checkpoint (N = {} x {} samples) in {} s, shared by {n} run(s): \
             {} of their training process time ({}; goal <= 5%)\n",
            c.schedule.scorer,
            c.cei.conditions,
            c.cei.draws,
            red(format!("{wall:.1}")),
            red(format!("{:.1}%", 100.0 * share)),
            red(format!("{verdict} the goal")),
        ));
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
    }
    Ok(md)
}

/// One periodic evaluation of a training run's metric, with the training
/// spent before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CurvePoint {
    pub value: f64,
    /// Wall time of the steps before the evaluation (regular and supernet)
    /// plus the run's whole scoring and held-out overhead and its share of a
    /// shared ranking (counted in full from the start: Ent-Prog ranks before
    /// its first step).
    pub wall_s: f64,
    /// FLOPs of the steps before the evaluation.
    pub flops: f64,
}

/// A metric of a training run's periodic evaluations (`heldout_loss`, or a
/// sampled one such as `ssim` from `[eval]`), in step order; `shared_s` is
/// the run's share of a shared ranking. Empty when the run has none.
pub(crate) fn quality_curve(
    train_dir: &std::path::Path,
    shared_s: f64,
    metric: &str,
) -> Result<Vec<CurvePoint>, ReportError> {
    let evals_path = train_dir.join("eval.parquet");
    if !evals_path.is_file() {
        return Ok(Vec::new());
    }
    let evals = read(&evals_path)?
        .lazy()
        .filter(col("metric").eq(lit(metric)))
        .sort(["step"], SortMultipleOptions::default())
        .collect()?;
    let steps = read(&train_dir.join("steps.parquet"))?;
    let runs = read(&train_dir.join("runs.parquet"))?;
    let f = figures::f64s;
    let overhead: f64 = f(&runs, "scoring_wall_s")?[0] + f(&runs, "heldout_wall_s")?[0] + shared_s;
    let (step_no, wall, flops) = (f(&steps, "step")?, f(&steps, "wall_s")?, f(&steps, "flops")?);
    let (at, values) = (f(&evals, "step")?, f(&evals, "value")?);
    Ok(at
        .iter()
        .zip(&values)
        .map(|(&done, &value)| {
            let before = |v: &[f64]| {
                step_no
                    .iter()
                    .zip(v)
                    .filter(|(s, _)| **s < done)
                    .map(|(_, x)| x)
                    .sum::<f64>()
            };
            CurvePoint {
                value,
                wall_s: before(&wall) + overhead,
                flops: before(&flops),
            }
        })
        .collect())
}

/// The speedup of `arm` over `base` at the quality both curves reach (the
/// worse of their final values): the time `base` first reaches it over the
/// time `arm` first reaches it. `None` for an empty curve or a NaN value.
pub(crate) fn speedup_at_equal_quality(base: &[CurvePoint], arm: &[CurvePoint], higher: bool) -> Option<f64> {
    let (base_last, arm_last) = (base.last()?, arm.last()?);
    let target = match higher {
        true => base_last.value.min(arm_last.value),
        false => base_last.value.max(arm_last.value),
    };
    // NaN compares false: a curve with a failed metric gives no value.
    let good = |v: f64| if higher { v >= target } else { v <= target };
    let first = |c: &[CurvePoint]| c.iter().find(|p| good(p.value)).map(|p| p.wall_s);
    let (base_time, arm_time) = (first(base)?, first(arm)?);
    Some(match (base_time > 0.0, arm_time > 0.0) {
        (false, false) => 1.0,
        _ => base_time / arm_time.max(1e-12),
    })
}

/// Speedup at equal quality, per (dataset, arm) paired by seed: at the
/// quality both runs of the pair reach (the baseline's final value of
/// `metric`, or the arm's own final value where it ends short of it), the
/// time the baseline first reaches it over the time the arm first reaches
/// it (from the periodic evaluations; `higher`: larger is better). Counting
/// a run that ends a hair short as "never reached" (0) would turn noise into
/// a verdict; how far the finals differ is the no-quality-loss verdict's
/// business. Pairs named `name`; none when the runs lack the metric.
fn equal_quality(study: &Study, metric: &str, higher: bool, name: &str) -> Result<Vec<Pair>, ReportError> {
    let mut curves = Vec::new();
    for cell in study.cells.iter().filter(|c| c.kind == CellKind::Arm) {
        curves.push((
            cell,
            quality_curve(&cell.train_dir(), ranking_share(study, cell)?, metric)?,
        ));
    }
    let mut out: Vec<Pair> = Vec::new();
    for (arm, curve) in curves.iter().filter(|(c, _)| !c.baseline) {
        let base = curves
            .iter()
            .find(|(c, _)| c.baseline && c.dataset == arm.dataset && c.exp.config.seed == arm.exp.config.seed);
        let Some((_, base_curve)) = base else { continue };
        let Some(value) = speedup_at_equal_quality(base_curve, curve, higher) else {
            continue;
        };
        let (d, sc) = (
            arm.dataset.clone().unwrap_or_default(),
            arm.scheme.clone().unwrap_or_default(),
        );
        match out.iter_mut().find(|p| p.dataset == d && p.scheme == sc) {
            Some(p) => p.values.push(value),
            None => out.push(Pair {
                dataset: d,
                scheme: sc,
                metric: name.into(),
                values: vec![value],
            }),
        }
    }
    Ok(out)
}

/// Per (dataset, scheme, subject, metric): the values over seeds.
fn over_seeds(m: &DataFrame) -> Result<Vec<Group>, ReportError> {
    let g = m
        .clone()
        .lazy()
        .group_by_stable([col("dataset"), col("scheme"), col("subject"), col("metric")])
        .agg([col("value")])
        .collect()?;
    let s = |c: &str| -> Result<Vec<String>, ReportError> {
        Ok(g.column(c)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (d, sc, su, me) = (s("dataset")?, s("scheme")?, s("subject")?, s("metric")?);
    let vals = g.column("value")?.list()?.clone();
    let mut out = Vec::new();
    for i in 0..vals.len() {
        out.push(Group {
            dataset: d[i].clone(),
            scheme: sc[i].clone(),
            subject: su[i].clone(),
            metric: me[i].clone(),
            values: floats(vals.get_as_series(i)),
        });
    }
    Ok(out)
}

/// Per (dataset, arm scheme, metric): the per-seed values of `f(arm, baseline)`,
/// paired by seed.
fn paired(m: &DataFrame, f: impl Fn(Expr, Expr) -> Expr) -> Result<Vec<Pair>, ReportError> {
    let model = m.clone().lazy().filter(col("subject").eq(lit("model")));
    let base = model.clone().filter(col("baseline")).select([
        col("dataset"),
        col("seed"),
        col("metric"),
        col("value").alias("base"),
    ]);
    let joined = model
        .filter(col("baseline").not())
        .join(
            base,
            [col("dataset"), col("seed"), col("metric")],
            [col("dataset"), col("seed"), col("metric")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(f(col("value"), col("base")).alias("x"))
        .group_by_stable([col("dataset"), col("scheme"), col("metric")])
        .agg([col("x")])
        .collect()?;
    let s = |c: &str| -> Result<Vec<String>, ReportError> {
        Ok(joined
            .column(c)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (d, sc, me) = (s("dataset")?, s("scheme")?, s("metric")?);
    let xs = joined.column("x")?.list()?.clone();
    Ok((0..xs.len())
        .map(|i| Pair {
            dataset: d[i].clone(),
            scheme: sc[i].clone(),
            metric: me[i].clone(),
            values: floats(xs.get_as_series(i)),
        })
        .collect())
}

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

/// Adds one run to `cands`, per (stage, candidate m): the mean FLOPs and
/// wall seconds of its supernet steps (`steps.parquet`), and the held-out
/// loss drop per step while the candidate trained, its CE and whether it was
/// chosen (`supernet.parquet`).
fn add_supernet_run(dir: &std::path::Path, cands: &mut Vec<Candidate>) -> Result<(), ReportError> {
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
    let sup = read(&dir.join("supernet.parquet"))?
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
        .collect()?;
    let f = |c: &str| figures::f64s(&sup, c);
    let stage = figures::strs(&sup, "stage")?;
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

/// "Why": per dataset and progressive arm, what its supernet measured of
/// each candidate m (cost per step in FLOPs and wall time, held-out loss
/// drop per step, CE, how often chosen) and what the choice cost overall,
/// from the runs' own files. Wall times redacted with `redact`.
fn why_section(study: &Study, redact: bool) -> Result<String, ReportError> {
    let mut md = String::new();
    let arms: Vec<&Cell> = study
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Arm && !c.baseline)
        .collect();
    let mut seen: Vec<(String, String)> = Vec::new();
    for arm in &arms {
        let key = (
            arm.dataset.clone().unwrap_or_default(),
            arm.scheme.clone().unwrap_or_default(),
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let (d, sc) = key;
        let runs: Vec<&&Cell> = arms
            .iter()
            .filter(|c| c.dataset.as_deref() == Some(d.as_str()) && c.scheme.as_deref() == Some(sc.as_str()))
            .filter(|c| c.train_dir().join("supernet.parquet").is_file())
            .collect();
        if runs.is_empty() {
            continue;
        }
        let mut cands: Vec<Candidate> = Vec::new();
        let mut flops_ratio = Vec::new();
        for run in &runs {
            add_supernet_run(&run.train_dir(), &mut cands)?;
            let base = study.cells.iter().find(|c| {
                c.kind == CellKind::Arm
                    && c.baseline
                    && c.dataset == run.dataset
                    && c.exp.config.seed == run.exp.config.seed
            });
            if let Some(base) = base {
                let total = |dir: PathBuf| -> Result<f64, ReportError> {
                    let r = read(&dir.join("runs.parquet"))?;
                    Ok(r.column("total_flops")?
                        .cast(&DataType::Float64)?
                        .f64()?
                        .get(0)
                        .unwrap_or(f64::NAN))
                };
                flops_ratio.push(total(run.train_dir())? / total(base.train_dir())?);
            }
        }
        cands.sort_by(|a, b| a.stage.cmp(&b.stage).then(a.m.cmp(&b.m)));
        let mean = |v: &[f64]| Interval::of(v);
        md.push_str(&format!(
            "### {d}, {sc}: what the adaptive schedule measured ({} seed(s))\n\n\
             Per schedule stage and candidate m (blocks trained), from the runs' `supernet.parquet` and \
             `steps.parquet`: the cost of one supernet step, the held-out loss drop per step while the \
             candidate trained, its convergence efficiency (CE: the drop per FLOP) and in how many seeds \
             it was chosen. A later stage offers only m at least as large as the one before.\n\n\
             | stage | m | GFLOPs per step | s per step | held-out loss drop per step | CE per FLOP | chosen |\n\
             |---|---|---|---|---|---|---|\n",
            runs.len()
        ));
        for c in &cands {
            let wall = match redact {
                true => "[t]".to_string(),
                false => format!("{:.3}", mean(&c.wall).mean),
            };
            md.push_str(&format!(
                "| {} | {} | {:.3} | {} | {:.2e} | {:.2e} | {} of {} |\n",
                c.stage,
                c.m,
                mean(&c.flops).mean / 1e9,
                wall,
                mean(&c.drop).mean,
                mean(&c.ce).mean,
                c.chosen,
                c.flops.len()
            ));
        }
        // The first stage, where every candidate competes: the cost and CE
        // of the smallest against the largest.
        let first = cands.first().map(|c| c.stage.clone()).unwrap_or_default();
        let in_first: Vec<&Candidate> = cands.iter().filter(|c| c.stage == first).collect();
        if let (Some(lo), Some(hi)) = (in_first.first(), in_first.last()) {
            if lo.m < hi.m {
                let wall_share = match redact {
                    true => "[t]".to_string(),
                    false => format!("{:.0}%", 100.0 * mean(&lo.wall).mean / mean(&hi.wall).mean),
                };
                md.push_str(&format!(
                    "\nIn stage {first}, m = {} costs {:.0}% of m = {}'s FLOPs per step and {wall_share} of its \
                     wall time, and its CE is {:.2}x m = {}'s; the largest m was chosen in {} of {} seed(s).",
                    lo.m,
                    100.0 * mean(&lo.flops).mean / mean(&hi.flops).mean,
                    hi.m,
                    mean(&lo.ce).mean / mean(&hi.ce).mean,
                    hi.m,
                    hi.chosen,
                    hi.flops.len()
                ));
            }
        }
        if !flops_ratio.is_empty() {
            md.push_str(&format!(
                " Over the whole run, {sc} trained {:.2}% of full fine-tuning's FLOPs.",
                100.0 * mean(&flops_ratio).mean
            ));
        }
        md.push_str("\n\n");
    }
    Ok(md)
}

/// `mean ± half` with `digits` decimals (just the mean for one seed).
fn cell(i: &Interval, digits: usize) -> String {
    if i.n == 0 {
        "n/a".into()
    } else if i.mean.is_infinite() {
        "inf".into()
    } else if i.half.is_finite() {
        format!("{:.*} ± {:.*}", digits, i.mean, digits, i.half)
    } else {
        format!("{:.*}", digits, i.mean)
    }
}

/// The report's cells and verdicts.
pub struct Report {
    pub markdown: String,
    /// Long rows: dataset, scheme, subject, metric, mean, ci95, seeds, source.
    pub cells: DataFrame,
}

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

/// Builds the report of `study` from its files; `redact` replaces timing
/// and memory values with `[t]` (for snapshot tests).
pub fn build(study: &Study, redact: bool) -> Result<Report, ReportError> {
    let m = measurements(study)?;
    let groups = over_seeds(&m)?;
    let mut ratios = paired(&m, |arm, base| base / arm)?;
    ratios.extend(equal_quality(study, "heldout_loss", false, "speedup_equal_quality")?);
    // The sampled metric of `[eval]`, where the runs have one.
    ratios.extend(equal_quality(study, "ssim", true, "speedup_equal_ssim")?);
    let diffs = paired(&m, |arm, base| arm - base)?;
    let find = |d: &str, sc: &str, su: &str, me: &str| {
        groups
            .iter()
            .find(|g| g.dataset == d && g.scheme == sc && g.subject == su && g.metric == me)
            .map_or(
                Interval {
                    mean: f64::NAN,
                    half: f64::NAN,
                    n: 0,
                },
                |g| Interval::of(&g.values),
            )
    };
    let ratio = |d: &str, sc: &str, me: &str| {
        ratios
            .iter()
            .find(|g| g.dataset == d && g.scheme == sc && g.metric == me)
            .map(|g| Interval::of(&g.values))
    };
    let diff = |d: &str, sc: &str, me: &str| {
        diffs
            .iter()
            .find(|g| g.dataset == d && g.scheme == sc && g.metric == me)
            .map(|g| Interval::of(&g.values))
    };
    let t = &study.target.config;
    let red = |s: String| if redact { "[t]".to_string() } else { s };
    let mut md = format!(
        "# {}: {}\n\nProfile `{}`, {} seed(s) per arm; every cell is the mean ± the 95% Student-t half-width over seeds \
         (one seed: the value alone). Computed by `entprog report {} --profile {}` from the Parquet files of the \
         cells in `cells-{}/` of the results folder.\n\n",
        t.title,
        t.description,
        study.profile_name,
        study.seeds,
        study.target.name,
        study.profile_name,
        study.profile_name,
    );
    md.push_str(&format!(
        "Quality: frame metrics of {} generated test clip(s) per run against the ground truth, 8-bit frames \
         (`crate::eval`: SSIM as scikit-image's Gaussian-window call, PSNR with data range 1, L1; `ssim_disco` and \
         `psnr_disco` as DisCo's metric script computes them, for comparison with published tables), and the training \
         loss (the MSE of the eps or v target) on fixed held-out test batches. LPIPS, FID and FVD name their network: `dance-frame` and `dance-clip` \
         are entprog's offline feature networks (`experiments/nets/dance.toml`, trained on the synthetic datasets' \
         train splits; FID and FVD against every test-split frame and clip of the dataset, LPIPS-style without \
         learned weights), not comparable with Inception / I3D / AlexNet numbers; FID-VID (a 3D ResNet's Frechet \
         distance) has no stand-in here. PCK@0.1 and kp error px: the `dance-frame` keypoint head on the \
         generated frames against the conditioning keypoints (the truth row is the head's ceiling); conditioning \
         gap: held-out loss with shuffled minus true (reference, pose) pairs on {} fixed test clips. The \
         paper's numbers come from real 512x512 video at paper scale and are not comparable with these. Speedup at equal \
         quality: at the held-out loss both runs of a seed reach (full fine-tuning's final value, or the arm's own \
         final value where it ends short of it; the no-quality-loss verdicts say by how much), the time full \
         fine-tuning first reaches it over the time the arm first reaches it, from the runs' periodic evaluations \
         (`train.eval_every`), the arm's scoring and held-out overhead counted in full; at equal SSIM likewise, \
         from the generated test clips the runs score during training (`[eval]`; \"-\" where they have none).\n\n",
        study.profile.eval_clips,
        crate::study::evaluate::GAP_SAMPLES
    ));
    let mut rows: Vec<ReportCell> = Vec::new();
    for d in &t.datasets {
        md.push_str(&format!("## {d}\n\n"));
        let cols = columns(&groups, d);
        let head: Vec<&str> = cols.iter().map(|c| c.label.as_str()).collect();
        md.push_str(&format!(
            "| scheme | {} | memory MB | process MB | time s | speedup | speedup (steps only) | speedup at equal quality | speedup at equal SSIM |\n",
            head.join(" | ")
        ));
        md.push_str(&format!(
            "|---|{}---|---|---|---|---|---|---|\n",
            "---|".repeat(cols.len())
        ));
        for arm in &t.arms {
            let sc = &arm.scheme;
            let q: Vec<String> = cols.iter().map(|c| cell(&find(d, sc, "model", c.metric), 4)).collect();
            let (mem, pmem, time) = (
                find(d, sc, "model", "memory_mb"),
                find(d, sc, "model", "process_memory_mb"),
                find(d, sc, "model", "time_s"),
            );
            let speed = |me: &str| match ratio(d, sc, me) {
                Some(r) => red(format!("{}x", cell(&r, 2))),
                None => "-".into(),
            };
            md.push_str(&format!(
                "| {sc} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                q.join(" | "),
                red(cell(&mem, 1)),
                red(cell(&pmem, 1)),
                red(cell(&time, 1)),
                speed("time_s"),
                speed("time_train_steps_s"),
                speed("speedup_equal_quality"),
                speed("speedup_equal_ssim"),
            ));
            for g in groups.iter().filter(|g| &g.dataset == d && &g.scheme == sc) {
                let i = Interval::of(&g.values);
                rows.push(ReportCell {
                    dataset: d.clone(),
                    scheme: sc.clone(),
                    subject: g.subject.clone(),
                    metric: g.metric.clone(),
                    mean: i.mean,
                    ci95: i.half,
                    seeds: i.n as u32,
                    source: "entprog",
                });
            }
        }
        for p in t.paper.iter().filter(|p| &p.dataset == d) {
            let v = |k: &str| p.values.get(k).map_or("-".to_string(), |v| format!("{v}"));
            let q: Vec<String> = cols.iter().map(|c| c.paper.map_or("-".to_string(), &v)).collect();
            md.push_str(&format!(
                "| paper: {} | {} | {} GB (GPU) | - | - | {} | - | - | - |\n",
                p.scheme,
                q.join(" | "),
                v("memory_gb"),
                v("speedup"),
            ));
            for (k, val) in &p.values {
                rows.push(ReportCell {
                    dataset: d.clone(),
                    scheme: p.scheme.clone(),
                    subject: "model".into(),
                    metric: k.clone(),
                    mean: *val,
                    ci95: f64::NAN,
                    seeds: 0,
                    source: "paper",
                });
            }
        }
        let base_cols: Vec<&Column> = cols.iter().filter(|c| c.baselines).collect();
        md.push_str(&format!(
            "\nBaselines scored like a model (mean over seeds):\n\n| subject | {} |\n|---|{}\n",
            base_cols
                .iter()
                .map(|c| c.label.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(base_cols.len())
        ));
        let base = t
            .arms
            .iter()
            .find(|a| a.baseline)
            .map(|a| a.scheme.clone())
            .unwrap_or_default();
        for subject in ["truth", "reference_copy"] {
            let q: Vec<String> = base_cols
                .iter()
                .map(|c| cell(&find(d, &base, subject, c.metric), 4))
                .collect();
            md.push_str(&format!("| {subject} | {} |\n", q.join(" | ")));
        }
        md.push('\n');
    }
    let costs = ranking_costs(study, redact, &mut rows)?;
    if !costs.is_empty() {
        md.push_str(
            "## Block ranking (one scoring cell per dataset, shared by the arm's seeds)\n\n\
             The paper ranks once, offline: each ranking cell scores the starting checkpoint's schedulable blocks \
             once, and every seed of the arm trains on it (`schedule.ranking`). Its time is split evenly over \
             those runs in their time and speedup columns.\n\n",
        );
        md.push_str(&costs);
        md.push('\n');
    }
    let why = why_section(study, redact)?;
    if !why.is_empty() {
        md.push_str("## Why: what the runs measured of each candidate\n\n");
        md.push_str(&why);
    }
    md.push_str("## Verdicts (from the intervals, paired by seed)\n\n");
    for d in &t.datasets {
        for arm in t.arms.iter().filter(|a| !a.baseline) {
            let sc = &arm.scheme;
            let claim = |text: String, v: Verdict, why: String| {
                let seeds = if study.seeds < 2 { "; one seed, no interval" } else { "" };
                format!("- {d}, {sc}: {text}: **{}** ({why}{seeds})\n", v.as_str())
            };
            if let Some(r) = ratio(d, sc, "time_s") {
                md.push_str(&claim(
                    "trains faster than full fine-tuning (wall time, overheads included)".into(),
                    exceeds(&r, 1.0),
                    red(format!("speedup {}x", cell(&r, 2))),
                ));
            }
            if let Some(r) = ratio(d, sc, "speedup_equal_quality") {
                md.push_str(&claim(
                    "reaches the held-out loss both runs reach sooner (speedup at equal quality)".into(),
                    exceeds(&r, 1.0),
                    red(format!("speedup {}x", cell(&r, 2))),
                ));
            }
            if let Some(r) = ratio(d, sc, "speedup_equal_ssim") {
                md.push_str(&claim(
                    "reaches the SSIM both runs reach sooner (speedup at equal SSIM, `[eval]`)".into(),
                    exceeds(&r, 1.0),
                    red(format!("speedup {}x", cell(&r, 2))),
                ));
            }
            if let Some(r) = ratio(d, sc, "memory_mb") {
                md.push_str(&claim(
                    "needs less training memory".into(),
                    exceeds(&r, 1.0),
                    red(format!("baseline / {sc} = {}x", cell(&r, 2))),
                ));
            }
            for c in columns(&groups, d) {
                let (label, higher) = (c.label, c.higher);
                if let Some(x) = diff(d, sc, c.metric) {
                    let oriented = if higher { x } else { Interval { mean: -x.mean, ..x } };
                    md.push_str(&claim(
                        format!("no quality loss in {label}"),
                        no_loss(&oriented),
                        format!("{} - baseline = {}", sc, cell(&x, 4)),
                    ));
                }
            }
        }
    }
    let cells = df!(
        "dataset" => rows.iter().map(|r| r.dataset.clone()).collect::<Vec<_>>(),
        "scheme" => rows.iter().map(|r| r.scheme.clone()).collect::<Vec<_>>(),
        "subject" => rows.iter().map(|r| r.subject.clone()).collect::<Vec<_>>(),
        "metric" => rows.iter().map(|r| r.metric.clone()).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.mean).collect::<Vec<_>>(),
        "ci95" => rows.iter().map(|r| r.ci95).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.seeds).collect::<Vec<_>>(),
        "source" => rows.iter().map(|r| r.source).collect::<Vec<_>>(),
    )?;
    Ok(Report { markdown: md, cells })
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

#[cfg(test)]
mod tests {
    use super::{speedup_at_equal_quality, CurvePoint};

    fn curve(points: &[(f64, f64)]) -> Vec<CurvePoint> {
        points
            .iter()
            .map(|&(wall_s, value)| CurvePoint {
                value,
                wall_s,
                flops: 0.0,
            })
            .collect()
    }

    #[test]
    fn equal_quality_is_the_level_both_runs_reach() {
        // Loss (lower is better). The baseline reaches 0.5 at 20 s, ends at
        // 0.4 at 40 s; the arm gets to 0.4 at 20 s: twice as fast.
        let base = curve(&[(10.0, 0.7), (20.0, 0.5), (40.0, 0.4)]);
        let faster = curve(&[(10.0, 0.6), (20.0, 0.4), (40.0, 0.35)]);
        assert_eq!(speedup_at_equal_quality(&base, &faster, false), Some(2.0));
        // An arm ending a hair short (0.41) is compared at 0.41, which the
        // baseline first reaches at its end: 40 s over the arm's 40 s.
        let short = curve(&[(10.0, 0.6), (20.0, 0.45), (40.0, 0.41)]);
        assert_eq!(speedup_at_equal_quality(&base, &short, false), Some(1.0));
        // One that stalls at 0.5 is compared at 0.5: the baseline is there at
        // 20 s, the arm only at 40 s.
        let stalled = curve(&[(10.0, 0.6), (20.0, 0.55), (40.0, 0.5)]);
        assert_eq!(speedup_at_equal_quality(&base, &stalled, false), Some(0.5));
        // SSIM-like (higher is better) mirrors it.
        let flip = |c: &[CurvePoint]| curve(&c.iter().map(|p| (p.wall_s, -p.value)).collect::<Vec<_>>());
        assert_eq!(speedup_at_equal_quality(&flip(&base), &flip(&faster), true), Some(2.0));
        assert_eq!(speedup_at_equal_quality(&flip(&base), &flip(&stalled), true), Some(0.5));
        // No curve, or a failed metric: no value.
        assert_eq!(speedup_at_equal_quality(&base, &[], false), None);
        assert_eq!(speedup_at_equal_quality(&base, &curve(&[(5.0, f64::NAN)]), false), None);
    }
}
