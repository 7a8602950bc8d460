//! `entprog cei <experiment>`: rank the blocks of the experiment's starting
//! model (its `train.init_from` checkpoint, under the stage's gates) by CEI
//! on the experiment's dataset, write `blocks.parquet` to
//! `results/<experiment>/cei/seed-<n>/`, and print the ranked table.

use std::path::PathBuf;

use super::{starting_model, StartError};
use crate::entprog::rank::{order_by_score, ranks, spearman};
use crate::entprog::score::{active_blocks, score_blocks, BlockScore, ScoreError};
use crate::entprog::scorers::{cei_scores, forward_only, score, Evidence, Scorer, Scores};
use crate::experiment::Experiment;
use crate::model::{Blocks, Denoiser};
use crate::plot::{bar_chart, Bar};
use crate::results::{write_table, BlockRow, Opened, RunDir, RunDirError, TableError};
use crate::train::evidence::{cei_samples, heldout, settings};

/// Errors of `entprog cei`.
#[derive(Debug, thiserror::Error)]
pub enum CeiError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{0}")]
    Model(#[from] crate::model::ModelError),
    #[error("{0}")]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("cei.png: {0}")]
    Chart(String),
    #[error(transparent)]
    Start(#[from] Box<StartError>),
    #[error(transparent)]
    Hub(#[from] Box<crate::hub::HubError>),
}

/// What `entprog cei` produced.
#[derive(Debug)]
pub struct CeiOutcome {
    pub dir: PathBuf,
    pub cached: bool,
    pub scores: Vec<BlockScore>,
    /// Every requested scorer's scores (CEI ones included), same blocks.
    pub all: Vec<Scores>,
}

/// The scorers `--scorers` names: a comma list, or `all`.
pub fn parse_scorers(list: &[String]) -> Result<Vec<Scorer>, String> {
    let mut out = Vec::new();
    for s in list {
        if s == "all" {
            out.extend(Scorer::ALL);
        } else {
            let scorer = s.parse::<Scorer>().map_err(|_| {
                format!(
                    "--scorers: unknown scorer {s:?}, expected `all` or one of: {}",
                    Scorer::names()
                )
            })?;
            out.push(scorer);
        }
    }
    out.dedup();
    Ok(out)
}

/// Scores the experiment's blocks with CEI and the other `scorers` (or
/// reuses a finished scoring of the same config and scorers).
pub fn run_cei(exp: &Experiment, scorers: &[Scorer]) -> Result<CeiOutcome, CeiError> {
    // A hub `init_from` is pinned to its commit before the config hash is used.
    let exp = &crate::experiment::pin_experiment(exp).map_err(Box::new)?;
    let cfg = &exp.config;
    let names: Vec<&str> = scorers.iter().map(|s| s.as_str()).collect();
    let spec = exp.run_spec("cei", Some(&names.join(",")));
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            return Ok(CeiOutcome {
                dir,
                cached: true,
                scores: Vec::new(),
                all: Vec::new(),
            })
        }
        Opened::Fresh(rd) => rd,
    };
    let (mut model, schedule) = starting_model(cfg, &mut rd).map_err(Box::new)?;
    let batches = cei_samples(cfg, &schedule)?;
    let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
    let settings = settings(cfg);
    let ids = active_blocks(&model);
    let scores = forward_only(&mut model, &ids, |m| score_blocks(m, &inputs, &ids, &settings))?;
    let mut all = cei_scores(&ids, &scores);
    let others: Vec<Scorer> = scorers.iter().copied().filter(|s| !s.needs_cei()).collect();
    if !others.is_empty() {
        let heldout = heldout(cfg, &schedule, cfg.schedule.heldout_batches)?;
        let heldout = heldout.inputs();
        let ev = Evidence::<Denoiser> {
            cei: None,
            heldout: Some(&heldout),
            settings: settings.clone(),
        };
        for s in others {
            all.push(score(s, &mut model, &ids, &ev, 0)?);
        }
    }
    let rows = block_rows(&spec.run_id(), &all, &model);
    write_table(rd.path(), rows)?;
    let order = order_by_score(&all[0].values);
    let bars: Vec<Bar> = order
        .iter()
        .map(|&i| (ids[i].to_string(), all[0].values[i], all[0].se[i]))
        .collect();
    let title = format!(
        "CEI per block, {} (N = {})",
        exp.name,
        cfg.cei.conditions * cfg.cei.draws
    );
    bar_chart(&rd.path().join("cei.png"), &title, &bars).map_err(|e| CeiError::Chart(e.to_string()))?;
    let dir = rd.path().to_path_buf();
    rd.complete(&["blocks.parquet", "cei.png"])?;
    Ok(CeiOutcome {
        dir,
        cached: false,
        scores,
        all,
    })
}

/// One row per block per scorer, ranked within each scorer.
pub fn block_rows<M: Blocks>(run: &str, all: &[Scores], model: &M) -> Vec<BlockRow> {
    let mut rows = Vec::new();
    for s in all {
        let rank = ranks(&s.order());
        for (i, id) in s.ids.iter().enumerate() {
            rows.push(BlockRow {
                run: run.into(),
                stage: "scoring".into(),
                block_id: id.to_string(),
                kind: id.kind.as_str().into(),
                scorer: s.scorer.as_str().into(),
                score: s.values[i],
                score_se: s.se[i],
                rank: rank[i] as u32,
                state: model.block_gate(*id).as_str().into(),
            });
        }
    }
    rows
}

/// Spearman's rho of every scorer against the first (CEI), as printed lines.
pub fn agreement(all: &[Scores]) -> String {
    let mut out = String::new();
    if let Some(first) = all.first() {
        for s in &all[1..] {
            out.push_str(&format!(
                "spearman({}, {}) = {:.3}\n",
                first.scorer,
                s.scorer,
                spearman(&first.values, &s.values)
            ));
        }
    }
    out
}

/// The ranked table `entprog cei` prints.
pub fn ranked_table(scores: &[BlockScore]) -> String {
    let order = order_by_score(&scores.iter().map(|s| s.cei.mean).collect::<Vec<_>>());
    let mut out = format!(
        "{:>4}  {:<14} {:>10} {:>9} {:>10}\n",
        "rank", "block", "cei", "se", "knn_cei"
    );
    for (r, &i) in order.iter().enumerate() {
        let s = &scores[i];
        let knn = s.knn.as_ref().map_or("-".to_string(), |k| format!("{:.5}", k.mean));
        out.push_str(&format!(
            "{:>4}  {:<14} {:>10.5} {:>9.5} {:>10}\n",
            r,
            s.id.to_string(),
            s.cei.mean,
            s.cei.se,
            knn
        ));
    }
    out
}
