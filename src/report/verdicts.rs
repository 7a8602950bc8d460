//! Verdicts: the values over seeds of each (dataset, scheme, subject,
//! metric), the per-seed ratios and differences of each arm against the
//! baseline, their intervals, and the verdict per claim drawn from them.

use polars::prelude::*;

use super::columns::columns;
use super::curves::equal_quality;
use super::load::{floats, ReportError};
use super::render::{cell, red};
use super::stats::{exceeds, no_loss, rises, Interval, Verdict};
use crate::entprog::rank::spearman;
use crate::entprog::schedule::ScheduleKind;
use crate::study::cells::{CellKind, Study};
use crate::study::target::block_name;

/// The values over seeds of one (dataset, scheme, subject, metric).
pub(super) struct Group {
    pub dataset: String,
    pub scheme: String,
    pub subject: String,
    pub metric: String,
    pub values: Vec<f64>,
}

/// Per-seed paired values of one (dataset, arm scheme, metric).
pub(super) struct Pair {
    pub dataset: String,
    pub scheme: String,
    pub metric: String,
    pub values: Vec<f64>,
}

/// Everything the tables and verdicts draw intervals from: the values over
/// seeds, the per-seed ratios baseline / arm (with the speedups at equal
/// quality) and the per-seed differences arm - baseline.
pub(super) struct Tables {
    pub groups: Vec<Group>,
    ratios: Vec<Pair>,
    diffs: Vec<Pair>,
}

impl Tables {
    /// The tables of measurements `m` of `study`.
    pub(super) fn of(study: &Study, m: &DataFrame) -> Result<Self, ReportError> {
        let groups = over_seeds(m)?;
        let mut ratios = paired(m, |arm, base| base / arm)?;
        ratios.extend(equal_quality(study, "heldout_loss", false, "speedup_equal_quality")?);
        // The sampled metric of `[eval]`, where the runs have one.
        ratios.extend(equal_quality(study, "ssim", true, "speedup_equal_ssim")?);
        let diffs = paired(m, |arm, base| arm - base)?;
        Ok(Tables { groups, ratios, diffs })
    }

    /// The interval over seeds of one (dataset, scheme, subject, metric);
    /// NaN with no seeds when it was not measured.
    pub(super) fn find(&self, d: &str, sc: &str, su: &str, me: &str) -> Interval {
        self.groups
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
    }

    /// The interval of the per-seed ratios baseline / arm of one metric.
    pub(super) fn ratio(&self, d: &str, sc: &str, me: &str) -> Option<Interval> {
        self.ratios
            .iter()
            .find(|g| g.dataset == d && g.scheme == sc && g.metric == me)
            .map(|g| Interval::of(&g.values))
    }

    /// The interval of the per-seed differences arm - baseline of one metric.
    fn diff(&self, d: &str, sc: &str, me: &str) -> Option<Interval> {
        self.diffs
            .iter()
            .find(|g| g.dataset == d && g.scheme == sc && g.metric == me)
            .map(|g| Interval::of(&g.values))
    }
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

/// The speedup claims: ratio metric and claim.
const SPEEDUPS: [(&str, &str); 4] = [
    (
        "time_s",
        "trains faster than full fine-tuning (wall time, overheads included)",
    ),
    (
        "flops",
        "trains with fewer FLOPs than full fine-tuning (the FLOP clock: every training and supernet step, \
         not the ranking or held-out evaluations)",
    ),
    (
        "speedup_equal_quality",
        "reaches the held-out loss both runs reach sooner (speedup at equal quality)",
    ),
    (
        "speedup_equal_ssim",
        "reaches the SSIM both runs reach sooner (speedup at equal SSIM, `[eval]`)",
    ),
];

/// The "Verdicts" section: per dataset and non-baseline arm, its claims.
pub(super) fn verdicts_section(study: &Study, tables: &Tables, redact: bool) -> String {
    let t = &study.target.config;
    let mut md = String::from("## Verdicts (from the intervals, paired by seed)\n\n");
    for block in t.blocks() {
        let d = block.name();
        // What the block's arms are compared with, in the claims' words.
        let full = study.cells.iter().any(|c| {
            c.kind == CellKind::Arm && c.baseline && c.block() == d && c.exp.config.schedule.kind == ScheduleKind::Full
        });
        let base = match full {
            true => "full fine-tuning".to_string(),
            false => format!("the baseline ({})", t.baseline_of(&block.group)),
        };
        for arm in t.arms_of(&block.group).filter(|a| !a.baseline) {
            md.push_str(&arm_verdicts(study, tables, &d, &arm.scheme, &base, redact));
        }
    }
    md.push_str(&trend_verdicts(study, tables));
    md
}

/// The target's trend claims (`trends`), per dataset: Spearman's rho
/// between each run's arm position in its group and its value, pooled over
/// seeds, and the verdict of [`rises`] on it (on -rho for a falling claim).
fn trend_verdicts(study: &Study, tables: &Tables) -> String {
    let t = &study.target.config;
    let mut md = String::new();
    for trend in &t.trends {
        for d in &t.datasets {
            let block = block_name(d, &trend.group);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for (i, arm) in t.arms_of(&trend.group).enumerate() {
                let values = tables
                    .groups
                    .iter()
                    .find(|g| {
                        g.dataset == block && g.scheme == arm.scheme && g.subject == "model" && g.metric == trend.metric
                    })
                    .map_or(&[][..], |g| &g.values[..]);
                for v in values {
                    x.push(i as f64);
                    y.push(*v);
                }
            }
            if x.is_empty() {
                continue;
            }
            let rho = spearman(&x, &y);
            let v = rises(if trend.rises { rho } else { -rho }, x.len());
            md.push_str(&format!(
                "- {block}: {}: **{}** (Spearman rho of {} against the arms' order = {rho:.3} over {} runs; \
                 the verdict asks its 95% interval (Fisher z) to lie {} 0)\n",
                trend.claim,
                v.as_str(),
                trend.metric,
                x.len(),
                if trend.rises { "above" } else { "below" },
            ));
        }
    }
    md
}

/// Arm `sc`'s verdicts on dataset `d`: faster (wall time, at equal quality,
/// at equal SSIM), less memory, and no quality loss per column.
fn arm_verdicts(study: &Study, tables: &Tables, d: &str, sc: &str, base: &str, redact: bool) -> String {
    let claim = |text: String, v: Verdict, why: String| {
        let seeds = if study.seeds < 2 { "; one seed, no interval" } else { "" };
        format!("- {d}, {sc}: {text}: **{}** ({why}{seeds})\n", v.as_str())
    };
    let mut md = String::new();
    for (metric, text) in SPEEDUPS {
        if let Some(r) = tables.ratio(d, sc, metric) {
            md.push_str(&claim(
                text.replace("full fine-tuning", base),
                exceeds(&r, 1.0),
                red(redact && metric != "flops", format!("speedup {}x", cell(&r, 2))),
            ));
        }
    }
    if let Some(r) = tables.ratio(d, sc, "memory_mb") {
        md.push_str(&claim(
            "needs less training memory".into(),
            exceeds(&r, 1.0),
            red(redact, format!("baseline / {sc} = {}x", cell(&r, 2))),
        ));
    }
    for c in columns(&tables.groups, d) {
        let (label, higher) = (c.label, c.higher);
        if let Some(x) = tables.diff(d, sc, c.metric) {
            let oriented = if higher { x } else { Interval { mean: -x.mean, ..x } };
            md.push_str(&claim(
                format!("no quality loss in {label}"),
                no_loss(&oriented),
                format!("{} - baseline = {}", sc, cell(&x, 4)),
            ));
        }
    }
    md
}
