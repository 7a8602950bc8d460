//! Figure 1b-c: the random-skip probe's cells (`probe_skip.parquet`: per k
//! blocks skipped and trial, the held-out loss and the CEI of the skipped
//! set), as a table of the spread across trials at each k, a verdict on
//! "skipping more blocks raises the loss and the entropy", and a plot of
//! every trial.

use std::path::Path;

use super::figures::{plot_err, slug, Figure};
use super::load::{f64s, read, ReportError};
use super::stats::rises;
use crate::entprog::rank::spearman;
use crate::plot::{self, Panel, Series, Style, COLORS};
use crate::study::cells::{Cell, CellKind, Study};

/// One probe cell's rows: k, held-out loss increase over the full model, CEI.
struct Trials {
    k: Vec<f64>,
    loss_up: Vec<f64>,
    cei: Vec<f64>,
}

fn probe_cells(study: &Study) -> impl Iterator<Item = &Cell> {
    study.cells.iter().filter(|c| matches!(c.kind, CellKind::Probe { .. }))
}

fn trials(study: &Study, cell: &Cell) -> Result<Trials, ReportError> {
    let dir = crate::study::reproduce::spec_of(study, cell).dir();
    let df = read(&dir.join("probe_skip.parquet"))?;
    let (loss, base) = (f64s(&df, "heldout_loss")?, f64s(&df, "base_loss")?);
    Ok(Trials {
        k: f64s(&df, "k")?,
        loss_up: loss.iter().zip(&base).map(|(l, b)| l - b).collect(),
        cei: f64s(&df, "cei")?,
    })
}

/// Mean, min and max of the values at each distinct k, in k order.
fn by_k(k: &[f64], v: &[f64]) -> Vec<(f64, usize, f64, f64, f64)> {
    let mut ks: Vec<f64> = k.to_vec();
    ks.sort_by(f64::total_cmp);
    ks.dedup();
    ks.into_iter()
        .map(|x| {
            let at: Vec<f64> = k.iter().zip(v).filter(|(a, _)| **a == x).map(|(_, v)| *v).collect();
            let (mean, lo, hi) = super::figures::spread(&at);
            (x, at.len(), mean, lo, hi)
        })
        .collect()
}

/// The "Figure 1b-c" section (empty without probe cells).
pub(super) fn probe_section(study: &Study) -> Result<String, ReportError> {
    let mut md = String::new();
    for cell in probe_cells(study) {
        let d = cell.block();
        let t = trials(study, cell)?;
        md.push_str(&format!(
            "### {d}: {} random trial(s) per k of the chain's last checkpoint\n\n\
             | k skipped | trials | loss increase mean [min, max] | CEI mean [min, max] |\n|---|---|---|---|\n",
            match cell.kind {
                CellKind::Probe { trials } => trials,
                _ => 0,
            }
        ));
        let loss = by_k(&t.k, &t.loss_up);
        let cei = by_k(&t.k, &t.cei);
        for ((k, n, lm, ll, lh), (_, _, cm, cl, ch)) in loss.iter().zip(&cei) {
            md.push_str(&format!(
                "| {k} | {n} | {lm:.4} [{ll:.4}, {lh:.4}] | {cm:.4} [{cl:.4}, {ch:.4}] |\n"
            ));
        }
        md.push('\n');
        for (what, v) in [("held-out loss increase", &t.loss_up), ("CEI", &t.cei)] {
            let rho = spearman(&t.k, v);
            let verdict = rises(rho, t.k.len());
            md.push_str(&format!(
                "- {d}: skipping more blocks raises the {what}: **{}** (Spearman rho over {} trials = {rho:.3}; \
                 the verdict asks its 95% interval (Fisher z) to lie above 0)\n",
                verdict.as_str(),
                t.k.len(),
            ));
        }
        // How unevenly the blocks matter: the widest spread at one k.
        let widest = loss
            .iter()
            .map(|(k, _, m, lo, hi)| (*k, (hi - lo) / m.abs().max(1e-12)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((k, r)) = widest {
            md.push_str(&format!(
                "- {d}: the trials at equal k differ by up to {:.0}% of their mean loss increase (at k = {k}): \
                 which blocks are skipped matters, not only how many\n",
                100.0 * r
            ));
        }
        md.push('\n');
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!(
        "## Figure 1b-c: skipping k random blocks at once\n\n\
         The probe skips k randomly chosen schedulable blocks of the starting model (the paper's 8..23 of 28, \
         scaled to the model's L) and measures the held-out loss and the CEI of the skipped set against the \
         full model, over seeded trials per k (`probe_skip.parquet`).\n\n{md}"
    ))
}

/// `probe-<d>.png`: every trial's loss increase and CEI against k.
pub(super) fn probe_figures(study: &Study, dir: &Path) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for cell in probe_cells(study) {
        let d = cell.block();
        let t = trials(study, cell)?;
        let panel = |name: &str, v: &[f64], color: usize| Panel {
            title: format!("{name} against blocks skipped"),
            x_desc: "k blocks skipped".into(),
            y_desc: name.into(),
            series: vec![Series {
                label: "one trial".into(),
                color: COLORS[color % COLORS.len()],
                style: Style::Points,
                points: t.k.iter().copied().zip(v.iter().copied()).collect(),
                band: Vec::new(),
            }],
            x_integer: true,
        };
        let file = format!("probe-{}.png", slug(&d));
        plot::panels(
            &dir.join(&file),
            &format!("{d}: random skipping of k blocks (Figure 1b-c)"),
            &[panel("held-out loss increase", &t.loss_up, 0), panel("CEI", &t.cei, 1)],
            2,
        )
        .map_err(plot_err)?;
        out.push(Figure {
            file,
            caption: format!("{d}: loss increase and CEI of each random trial against blocks skipped"),
        });
    }
    Ok(out)
}
