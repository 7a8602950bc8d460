//! The ranking cell (`entprog rank <experiment>`, and the study's shared
//! scoring cell): the priority order of a stage's schedulable blocks (the
//! blocks its gate plan leaves trainable) in the experiment's starting
//! model, scored once with `schedule.scorer` exactly as a run scores them
//! itself ([`crate::train::passes::score_with`]), and written to
//! `results/<experiment>/ranking/seed-<n>/` as `ranking.json` (what
//! `schedule.ranking` reads, `crate::train::ranking`), `blocks.parquet`,
//! `runs.parquet` (its cost, reported apart from the runs) and `cei.png`.
//!
//! The paper ranks once, offline (docs/paper.md §3): every run and seed of the
//! study that starts from the checkpoint is given this cell's folder.

use std::path::PathBuf;
use std::time::Instant;

use super::{starting_model, StartError};
use crate::entprog::progressive::schedulable;
use crate::entprog::rank::{order_by_score, ranks};
use crate::experiment::Experiment;
use crate::model::Blocks;
use crate::results::{write_atomic, write_table, BlockRow, Opened, RunDir, RunDirError, RunRow, TableError};
use crate::train::passes::{init_checkpoint, score_with, PassError};
use crate::train::ranking::{Ranking, RANKING_FILE};

/// Errors of a ranking cell.
#[derive(Debug, thiserror::Error)]
pub enum RankCellError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Start(#[from] Box<StartError>),
    #[error(transparent)]
    Hub(#[from] Box<crate::hub::HubError>),
    #[error("{0}")]
    Pass(#[from] Box<PassError>),
    #[error("{experiment}: the stage's gate plan leaves no block trainable, nothing to rank")]
    NoBlocks { experiment: String },
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What a ranking cell found or did.
#[derive(Debug)]
pub struct RankOutcome {
    pub dir: PathBuf,
    pub cached: bool,
    /// The ranking (read back when cached).
    pub ranking: Option<Ranking>,
}

/// The folder of `exp`'s ranking cell.
pub fn ranking_dir(exp: &Experiment) -> PathBuf {
    exp.run_spec("ranking", None).dir()
}

/// Ranks `exp`'s schedulable blocks with `schedule.scorer` (or reuses a
/// finished ranking of the same config).
pub fn run_ranking(exp: &Experiment) -> Result<RankOutcome, RankCellError> {
    let exp = &crate::experiment::pin_experiment(exp).map_err(Box::new)?;
    let cfg = &exp.config;
    let spec = exp.run_spec("ranking", None);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            let ranking = Ranking::load(&dir).ok().map(|r| r.1);
            return Ok(RankOutcome {
                dir,
                cached: true,
                ranking,
            });
        }
        Opened::Fresh(rd) => rd,
    };
    let memory = crate::memory::PeakScope::start();
    let (mut model, schedule) = starting_model(cfg, &mut rd).map_err(Box::new)?;
    let ids = schedulable(&model);
    if ids.is_empty() {
        return Err(RankCellError::NoBlocks {
            experiment: exp.name.clone(),
        });
    }
    let scorer = cfg.schedule.scorer;
    let start = Instant::now();
    let heldout = if scorer.needs_heldout() {
        let h = crate::train::evidence::heldout(cfg, &schedule, cfg.schedule.heldout_batches)
            .map_err(|e| Box::new(PassError::Data(e)))?;
        Some(h)
    } else {
        None
    };
    // Key 0: the first stage's scoring, as a run's own (`Passes::rank`).
    let scores = score_with(cfg, &schedule, &mut model, &ids, scorer, 0, heldout.as_ref()).map_err(Box::new)?;
    let wall_s = start.elapsed().as_secs_f64();
    let checkpoint = init_checkpoint(cfg).map_err(Box::new)?;
    let ranking = Ranking::of(&scores, wall_s, checkpoint, cfg);
    let dir = rd.path().to_path_buf();
    let file = dir.join(RANKING_FILE);
    let text = serde_json::to_string_pretty(&ranking).expect("rankings serialise");
    write_atomic(&file, text.as_bytes()).map_err(|e| RankCellError::Write {
        path: file.clone(),
        message: e.to_string(),
    })?;
    let run = spec.run_id();
    let rank = ranks(&order_by_score(&scores.values));
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| BlockRow {
            run: run.clone(),
            stage: "ranking".into(),
            block_id: id.to_string(),
            kind: id.kind.as_str().into(),
            scorer: scorer.as_str().into(),
            score: scores.values[i],
            score_se: scores.se[i],
            rank: rank[i] as u32,
            state: model.block_gate(*id).as_str().into(),
        })
        .collect();
    write_table(&dir, rows)?;
    write_table(
        &dir,
        vec![RunRow {
            run: run.clone(),
            experiment: exp.name.clone(),
            cell: "ranking".into(),
            seed: cfg.seed,
            config_hash: exp.hash.clone(),
            steps: 0,
            supernet_steps: 0,
            train_wall_s: 0.0,
            supernet_wall_s: 0.0,
            scoring_wall_s: wall_s,
            heldout_wall_s: 0.0,
            eval_wall_s: 0.0,
            total_wall_s: wall_s,
            // Not counted: the FLOP clock covers training steps only.
            total_flops: f64::NAN,
            train_peak_bytes: 0,
            process_peak_bytes: memory.peak() as u64,
            final_loss: f64::NAN,
        }],
    )?;
    let order = order_by_score(&scores.values);
    let bars: Vec<crate::plot::Bar> = order
        .iter()
        .map(|&i| (ids[i].to_string(), scores.values[i], scores.se[i]))
        .collect();
    let title = format!(
        "{} per block, {} (N = {})",
        scorer,
        exp.name,
        cfg.cei.conditions * cfg.cei.draws
    );
    let png = dir.join("cei.png");
    crate::plot::bar_chart(&png, &title, &bars).map_err(|e| RankCellError::Write {
        path: png.clone(),
        message: e.to_string(),
    })?;
    rd.complete(&[RANKING_FILE, "blocks.parquet", "runs.parquet", "cei.png"])?;
    Ok(RankOutcome {
        dir,
        cached: false,
        ranking: Some(ranking),
    })
}

/// The ranked table `entprog rank` prints.
pub fn ranked_table(r: &Ranking) -> String {
    let values: Vec<f64> = r.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let mut out = format!("{:>4}  {:<14} {:>10} {:>9}\n", "rank", "block", r.scorer, "se");
    for (k, &i) in order_by_score(&values).iter().enumerate() {
        let se = r.se[i].map_or("-".to_string(), |s| format!("{s:.5}"));
        out.push_str(&format!("{:>4}  {:<14} {:>10.5} {:>9}\n", k, r.ids[i], values[i], se));
    }
    out.push_str(&format!("scored in {:.1} s\n", r.wall_s));
    out
}
