//! `entprog cei <experiment>`: rank the blocks of the experiment's starting
//! model (its `train.init_from` checkpoint, under the stage's gates) by CEI
//! on the experiment's dataset, write `blocks.parquet` to
//! `results/<experiment>/cei/seed-<n>/`, and print the ranked table.

use std::path::PathBuf;

use candle_core::Device;

use super::rank::{order_by_score, ranks};
use super::score::{active_blocks, denoiser_samples, score_blocks, BlockScore, ScoreError, ScoreSettings};
use crate::config::Experiment;
use crate::model::Blocks;
use crate::results::{write_table, BlockRow, Opened, RunDir, RunDirError, RunSpec, TableError};
use crate::train::trainer::{TrainError, Trainer};

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
}

/// Scores the experiment's blocks (or reuses a finished scoring of the same config).
pub fn run_cei(exp: &Experiment) -> Result<CeiOutcome, CeiError> {
    let cfg = &exp.config;
    let spec = RunSpec {
        results_dir: cfg.output.results_dir.clone(),
        experiment: exp.name.clone(),
        cell: "cei".into(),
        seed: cfg.seed,
        config_hash: exp.hash.clone(),
        config_toml: exp.to_toml(),
    };
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            return Ok(CeiOutcome {
                dir,
                cached: true,
                scores: Vec::new(),
            })
        }
        Opened::Fresh(rd) => rd,
    };
    let device = Device::Cpu;
    let model = cfg.model.build(cfg.seed, &device).map_err(TrainError::from)?;
    let mut trainer = Trainer::new(model, cfg.train.clone(), cfg.diffusion.clone(), cfg.seed)?;
    if let Some(base) = &cfg.train.init_from {
        rd.add_input(base)?;
        trainer.init_from(base)?;
    }
    let ds = cfg.data.open()?;
    let c = &cfg.cei;
    let loader = cfg
        .data
        .loader(ds, crate::data::Split::Test, c.batch_conditions, cfg.seed);
    let batches = denoiser_samples(
        &loader,
        trainer.schedule(),
        c.conditions,
        c.draws,
        c.batch_conditions,
        cfg.train.stage.conditions(),
        cfg.seed,
        &device,
    )?;
    let inputs: Vec<_> = batches.iter().map(|b| b.inputs()).collect();
    let settings = ScoreSettings {
        draws: c.draws,
        resamples: c.resamples,
        knn_dims: c.knn_dims,
        knn_k: c.knn_k,
        seed: cfg.seed,
    };
    let ids = active_blocks(&trainer.model);
    let scores = score_blocks(&mut trainer.model, &inputs, &ids, &settings)?;
    let rows = block_rows(&spec.run_id(), &scores, &trainer.model);
    write_table(rd.path(), rows)?;
    let dir = rd.path().to_path_buf();
    rd.complete(&["blocks.parquet"])?;
    Ok(CeiOutcome {
        dir,
        cached: false,
        scores,
    })
}

/// One row per block per scorer (`cei`, `abs_cei`, `knn_cei`), ranked within each scorer.
pub fn block_rows<M: Blocks>(run: &str, scores: &[BlockScore], model: &M) -> Vec<BlockRow> {
    let mut rows = Vec::new();
    let mut add = |scorer: &str, vals: Vec<(f64, Option<f64>)>| {
        let order = order_by_score(&vals.iter().map(|v| v.0).collect::<Vec<_>>());
        let rank = ranks(&order);
        for (i, s) in scores.iter().enumerate() {
            rows.push(BlockRow {
                run: run.into(),
                stage: "scoring".into(),
                block_id: s.id.to_string(),
                kind: s.id.kind.as_str().into(),
                scorer: scorer.into(),
                score: vals[i].0,
                score_se: vals[i].1,
                rank: rank[i] as u32,
                state: model.block_gate(s.id).as_str().into(),
            });
        }
    };
    add("cei", scores.iter().map(|s| (s.cei.mean, Some(s.cei.se))).collect());
    add(
        "abs_cei",
        scores.iter().map(|s| (s.cei.mean.abs(), Some(s.cei.se))).collect(),
    );
    if scores.iter().all(|s| s.knn.is_some()) {
        add(
            "knn_cei",
            scores
                .iter()
                .map(|s| s.knn.as_ref().map_or((f64::NAN, None), |k| (k.mean, Some(k.se))))
                .collect(),
        );
    }
    rows
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
