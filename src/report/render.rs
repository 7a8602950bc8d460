//! Markdown rendering: the report's introduction and, per dataset, the
//! table in the paper's layout (scheme rows; quality, memory and speedup
//! columns; the paper's rows) and the baselines scored like a model.

use super::assemble::ReportCell;
use super::columns::{columns, Column};
use super::stats::Interval;
use super::verdicts::Tables;
use crate::study::cells::Study;
use crate::study::target::{Block, PaperRow};

/// `s`, or `[t]` with `redact` (timing and memory in snapshot tests).
pub(super) fn red(redact: bool, s: String) -> String {
    if redact {
        "[t]".to_string()
    } else {
        s
    }
}

/// `mean ± half` with `digits` decimals (just the mean for one seed).
pub(super) fn cell(i: &Interval, digits: usize) -> String {
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

/// The title, the profile and seeds, and what the columns measure.
pub(super) fn intro(study: &Study) -> String {
    let t = &study.target.config;
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
    md
}

/// A block's section (a dataset, or a dataset and a group of arms): its
/// table with the paper's rows and its baselines' table; pushes the
/// `report.parquet` cells of both.
pub(super) fn dataset_section(
    study: &Study,
    tables: &Tables,
    block: &Block,
    redact: bool,
    rows: &mut Vec<ReportCell>,
) -> String {
    let t = &study.target.config;
    let d = &block.name();
    let cols = columns(&tables.groups, d);
    let mut md = format!("## {d}\n\n");
    md.push_str(&table_head(&cols));
    for arm in t.arms_of(&block.group) {
        md.push_str(&arm_row(tables, d, &arm.scheme, &cols, redact));
        push_groups(tables, d, &arm.scheme, rows);
    }
    for p in t
        .paper
        .iter()
        .filter(|p| p.dataset == block.dataset && p.group == block.group)
    {
        md.push_str(&paper_row(p, &cols));
        push_paper(p, d, rows);
    }
    md.push_str(&baselines(tables, &t.baseline_of(&block.group), d, &cols));
    md.push('\n');
    md
}

/// The header of a dataset's table.
fn table_head(cols: &[Column]) -> String {
    let head: Vec<&str> = cols.iter().map(|c| c.label.as_str()).collect();
    let mut md = format!(
        "| scheme | {} | memory MB | process MB | time s | speedup | speedup (steps only) | speedup (FLOPs) | speedup at equal quality | speedup at equal SSIM |\n",
        head.join(" | ")
    );
    md.push_str(&format!(
        "|---|{}---|---|---|---|---|---|---|---|\n",
        "---|".repeat(cols.len())
    ));
    md
}

/// Scheme `sc`'s row: its quality columns, memory, time and speedups.
fn arm_row(tables: &Tables, d: &str, sc: &str, cols: &[Column], redact: bool) -> String {
    let find = |me: &str| tables.find(d, sc, "model", me);
    let q: Vec<String> = cols.iter().map(|c| cell(&find(c.metric), 4)).collect();
    let (mem, pmem, time) = (find("memory_mb"), find("process_memory_mb"), find("time_s"));
    let speed = |me: &str| match tables.ratio(d, sc, me) {
        // The FLOP clock is deterministic: never redacted.
        Some(r) => red(redact && me != "flops", format!("{}x", cell(&r, 2))),
        None => "-".into(),
    };
    format!(
        "| {sc} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        q.join(" | "),
        red(redact, cell(&mem, 1)),
        red(redact, cell(&pmem, 1)),
        red(redact, cell(&time, 1)),
        speed("time_s"),
        speed("time_train_steps_s"),
        speed("flops"),
        speed("speedup_equal_quality"),
        speed("speedup_equal_ssim"),
    )
}

/// The `report.parquet` cells of scheme `sc` on dataset `d`: every group.
fn push_groups(tables: &Tables, d: &str, sc: &str, rows: &mut Vec<ReportCell>) {
    for g in tables.groups.iter().filter(|g| g.dataset == d && g.scheme == sc) {
        let i = Interval::of(&g.values);
        rows.push(ReportCell {
            dataset: d.to_string(),
            scheme: sc.to_string(),
            subject: g.subject.clone(),
            metric: g.metric.clone(),
            mean: i.mean,
            ci95: i.half,
            seeds: i.n as u32,
            source: "entprog",
        });
    }
}

/// The paper's row `p`: its published quality, memory and speedup.
fn paper_row(p: &PaperRow, cols: &[Column]) -> String {
    let v = |k: &str| p.values.get(k).map_or("-".to_string(), |v| format!("{v}"));
    let q: Vec<String> = cols.iter().map(|c| c.paper.map_or("-".to_string(), &v)).collect();
    // The paper gives memory in GB, or (Table 2) as the share it saved.
    let memory = match (p.values.get("memory_gb"), p.values.get("memory_saving")) {
        (Some(m), _) => format!("{m} GB (GPU)"),
        (None, Some(s)) => format!("{:.1}% less (GPU)", 100.0 * s),
        (None, None) => "-".to_string(),
    };
    format!(
        "| paper: {} | {} | {memory} | - | - | {} | - | - | - | - |\n",
        p.scheme,
        q.join(" | "),
        v("speedup"),
    )
}

/// The `report.parquet` cells of the paper's row `p` on dataset `d`.
fn push_paper(p: &PaperRow, d: &str, rows: &mut Vec<ReportCell>) {
    for (k, val) in &p.values {
        rows.push(ReportCell {
            dataset: d.to_string(),
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

/// The truth and the reference copy scored like a model (the baseline
/// arm's evaluations), in the columns shown for baselines.
fn baselines(tables: &Tables, base: &str, d: &str, cols: &[Column]) -> String {
    let base_cols: Vec<&Column> = cols.iter().filter(|c| c.baselines).collect();
    let mut md = format!(
        "\nBaselines scored like a model (mean over seeds):\n\n| subject | {} |\n|---|{}\n",
        base_cols
            .iter()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(base_cols.len())
    );
    for subject in ["truth", "reference_copy"] {
        let q: Vec<String> = base_cols
            .iter()
            .map(|c| cell(&tables.find(d, base, subject, c.metric), 4))
            .collect();
        md.push_str(&format!("| {subject} | {} |\n", q.join(" | ")));
    }
    md
}
