//! Quality curves: a run's periodic evaluations against the training time
//! and FLOPs spent before each, and the speedup at equal quality drawn
//! from them, paired by seed.

use std::path::Path;

use polars::prelude::*;

use super::costs::ranking_share;
use super::load::{f64s, read, ReportError};
use super::verdicts::Pair;
use crate::study::cells::{CellKind, Study};

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
pub(crate) fn quality_curve(train_dir: &Path, shared_s: f64, metric: &str) -> Result<Vec<CurvePoint>, ReportError> {
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
    let f = f64s;
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
pub(super) fn equal_quality(study: &Study, metric: &str, higher: bool, name: &str) -> Result<Vec<Pair>, ReportError> {
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
            .find(|(c, _)| c.baseline && c.block() == arm.block() && c.exp.config.seed == arm.exp.config.seed);
        let Some((_, base_curve)) = base else { continue };
        let Some(value) = speedup_at_equal_quality(base_curve, curve, higher) else {
            continue;
        };
        let (d, sc) = (arm.block(), arm.scheme.clone().unwrap_or_default());
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
