//! The cost model's prediction beside what the runs measured: for each
//! candidate m an adaptive arm's supernet tried, the predicted FLOPs and
//! peak training memory of one step (`crate::cost`, from the config alone,
//! the blocks in the arm's ranking order) against the FLOPs its supernet
//! steps counted, and the ratios to full training of the stage.

use std::collections::BTreeSet;

use super::load::{f64s, read, strs, ReportError};
use crate::cost::scenario::Precision;
use crate::cost::{candidates, Order};
use crate::model::BlockId;
use crate::study::cells::{Cell, Study};

/// The paragraph and table for arm run `run` whose supernet measured
/// `(m, mean GFLOPs per supernet step)`; empty when the run has no ranking.
pub(super) fn predicted(study: &Study, run: &Cell, measured: &[(u32, f64)]) -> Result<String, ReportError> {
    let Some(r) = run.ranking else { return Ok(String::new()) };
    let blocks = read(&study.cells[r].ranking_dir().join("blocks.parquet"))?;
    let (ids, rank) = (strs(&blocks, "block_id")?, f64s(&blocks, "rank")?);
    // Rank 0 first: the ranking's order as scores.
    let scores: Vec<(BlockId, f64)> = ids
        .iter()
        .zip(&rank)
        .filter_map(|(id, r)| id.parse::<BlockId>().ok().map(|b| (b, -r)))
        .collect();
    let ms: Vec<usize> = measured
        .iter()
        .map(|(m, _)| *m as usize)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cfg = &run.exp.config;
    let Ok(cands) = candidates(
        cfg,
        &ms,
        &Order::Scores(scores),
        cfg.train.activation_checkpointing,
        Precision::F32,
    ) else {
        return Ok(String::new());
    };
    let full = match cands.first().map(|c| crate::cost::predict(&c.scenario, None)) {
        Some(Ok(f)) => f,
        _ => return Ok(String::new()),
    };
    let mut md = String::from(
        "\n\nThe cost model's prediction for one training step of each candidate (`entprog cost`, from the \
         config alone, the top m blocks in this ranking's order; f32, no checkpointing unless configured), \
         beside the FLOPs the supernet steps counted:\n\n\
         | m | predicted GFLOPs per step | measured (supernet steps) | FLOPs / full | predicted peak MB | memory / full |\n\
         |---|---|---|---|---|---|\n",
    );
    for c in cands.iter().skip(1) {
        let Ok(p) = crate::cost::predict(&c.scenario, None) else {
            continue;
        };
        let got = measured
            .iter()
            .filter(|(m, _)| *m as usize == c.m)
            .map(|(_, g)| *g)
            .next()
            .map_or("-".to_string(), |g| format!("{g:.3}"));
        md.push_str(&format!(
            "| {} | {:.3} | {got} | {:.2} | {:.1} | {:.2} |\n",
            c.m,
            p.flops.total() as f64 / 1e9,
            p.flops.total() as f64 / full.flops.total() as f64,
            p.memory.total() as f64 / 1e6,
            p.memory.total() as f64 / full.memory.total() as f64,
        ));
    }
    Ok(md)
}
