//! CEI rank stability against N (`cei_samples.parquet`): per N, Kendall's
//! tau-b and Spearman's rho against the reference ranking over seeds, how
//! often the top block agrees, and the seconds a ranking takes; then the
//! smallest N whose tau's interval lies above [`STABLE_TAU`].

use super::load::{f64s, read, ReportError};
use super::render::{cell, red};
use super::stats::Interval;
use crate::study::cells::{CellKind, Study};

/// The tau this report calls a stable ranking: at 0.8, about one block pair
/// in ten is ordered differently from the reference.
pub const STABLE_TAU: f64 = 0.8;

/// The section (empty without CEI-samples cells); seconds redacted with `redact`.
pub(super) fn cei_samples_section(study: &Study, redact: bool) -> Result<String, ReportError> {
    let mut md = String::new();
    for c in study.cells.iter().filter(|c| c.kind == CellKind::CeiSamples) {
        let dir = crate::study::reproduce::spec_of(study, c).dir();
        let df = read(&dir.join("cei_samples.parquet"))?;
        let cs = study.target.config.cei_samples.clone().unwrap_or_default();
        let draws = c.exp.config.cei.draws;
        let col = |name: &str| f64s(&df, name);
        let (cond, tau, rho, wall) = (col("conditions")?, col("kendall")?, col("spearman")?, col("wall_s")?);
        let top: Vec<f64> = df
            .column("same_top")?
            .bool()?
            .iter()
            .map(|v| f64::from(u8::from(v.unwrap_or(false))))
            .collect();
        md.push_str(&format!(
            "### {}: against a reference of N = {} ({} conditions x {draws} draws, its own seed)\n\n\
             | conditions | N | Kendall tau | Spearman rho | same top block | s per ranking |\n|---|---|---|---|---|---|\n",
            c.block(),
            cs.reference * draws,
            cs.reference
        ));
        let mut stable: Option<usize> = None;
        for &n in &cs.conditions {
            let at = |v: &[f64]| -> Vec<f64> {
                cond.iter()
                    .zip(v)
                    .filter(|(c, _)| **c as usize == n)
                    .map(|(_, x)| *x)
                    .collect()
            };
            let (t, r, s, w) = (
                Interval::of(&at(&tau)),
                Interval::of(&at(&rho)),
                Interval::of(&at(&top)),
                Interval::of(&at(&wall)),
            );
            if stable.is_none() && t.half.is_finite() && t.low() >= STABLE_TAU {
                stable = Some(n);
            }
            md.push_str(&format!(
                "| {n} | {} | {} | {} | {:.0}% | {} |\n",
                n * draws,
                cell(&t, 3),
                cell(&r, 3),
                100.0 * s.mean,
                red(redact, format!("{:.1}", w.mean)),
            ));
        }
        let configured = c.exp.config.cei.conditions;
        md.push_str(&match stable {
            Some(n) => format!(
                "\nThe smallest N whose Kendall tau interval lies at or above {STABLE_TAU}: {n} conditions (N = {}); \
                 the experiment is configured with {configured}.\n\n",
                n * draws
            ),
            None => format!(
                "\nNo N in the list has a Kendall tau interval at or above {STABLE_TAU}: the ranking of these \
                 blocks is not stable at these sample sizes (the experiment is configured with {configured}).\n\n"
            ),
        });
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!(
        "## CEI rank stability against N\n\n\
         Each N draws its own conditions and noise per seed; the reference ranking draws with a seed of its own \
         (`cei_samples.parquet`). Kendall's tau-b and Spearman's rho of the blocks' CEI against the reference's, \
         mean ± the 95% interval over seeds.\n\n{md}"
    ))
}
