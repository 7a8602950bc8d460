//! `entprog cei <experiment>`: rank the blocks of the experiment's starting
//! model (its `train.init_from` checkpoint, under the stage's gates) by CEI
//! on the experiment's dataset, write `blocks.parquet` to
//! `results/<experiment>/cei/seed-<n>/`, and print the ranked table.

use std::path::PathBuf;

use super::chart::{bar_chart, Bar};
use super::evidence::{cei_samples, heldout, settings, starting_trainer, StartError};
use super::rank::{order_by_score, ranks, spearman};
use super::score::{active_blocks, score_blocks, BlockScore, ScoreError};
use super::scorers::{cei_scores, forward_only, needs_cei, score, Evidence, Scores};
use crate::config::Experiment;
use crate::model::Blocks;
use crate::results::{write_table, BlockRow, Opened, RunDir, RunDirError, TableError};
use crate::train::trainer::TrainError;

/// Errors of `entprog cei`.
#[derive(Debug, thiserror::Error)]
pub enum CeiError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{0}")]
    Train(Box<TrainError>),
    #[error("{0}")]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Schedule(#[from] super::progressive::ScheduleError),
    #[error("cei.png: {0}")]
    Chart(String),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl From<TrainError> for CeiError {
    fn from(e: TrainError) -> Self {
        CeiError::Train(Box::new(e))
    }
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
pub fn parse_scorers(list: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for s in list {
        if s == "all" {
            out.extend(super::schedule::SCORERS.iter().map(|s| s.to_string()));
        } else if super::schedule::SCORERS.contains(&s.as_str()) {
            out.push(s.clone());
        } else {
            return Err(format!(
                "--scorers: unknown scorer {s:?}, expected `all` or one of: {}",
                super::schedule::SCORERS.join(", ")
            ));
        }
    }
    out.dedup();
    Ok(out)
}

/// Scores the experiment's blocks with CEI and the other `scorers` (or
/// reuses a finished scoring of the same config and scorers).
pub fn run_cei(exp: &Experiment, scorers: &[String]) -> Result<CeiOutcome, CeiError> {
    let cfg = &exp.config;
    let spec = exp.run_spec("cei", Some(&scorers.join(",")));
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
    let mut trainer = starting_trainer(cfg, &mut rd)?;
    let batches = cei_samples(cfg, trainer.schedule())?;
    let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
    let settings = settings(cfg);
    let ids = active_blocks(&trainer.model);
    let scores = forward_only(&mut trainer.model, &ids, |m| score_blocks(m, &inputs, &ids, &settings))?;
    let mut all = cei_scores(&ids, &scores);
    let others: Vec<&String> = scorers.iter().filter(|s| !needs_cei(s)).collect();
    if !others.is_empty() {
        let heldout = heldout(cfg, trainer.schedule())?;
        let ev = Evidence {
            cei: None,
            heldout: Some(&heldout),
            settings: settings.clone(),
        };
        for s in others {
            all.push(score(s, &mut trainer.model, &ids, &ev, 0)?);
        }
    }
    let rows = block_rows(&spec.run_id(), &all, &trainer.model);
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
                scorer: s.scorer.clone(),
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
