//! THE training loop (docs/style.md §7, after nanoGPT's `train.py`), for one
//! run of an experiment on disk: open the run folder (config and manifest
//! first), build the model under the stage's gate plan and the policy that
//! decides what each step trains, resume from this folder's checkpoint or
//! start from the previous stage's, then per step: ask the policy, set the
//! gates, train the step, record it, evaluate when due (the held-out loss,
//! `train.eval_every`; generated test clips scored, `[eval]`), checkpoint when due.
//! At the end the Parquet tables are written and the run marked complete;
//! a finished run with the same config hash is reused.
//!
//! The policy (`crate::entprog::progressive`) is pure: it answers from the
//! history, or asks for the evidence it needs first (a scoring pass, a
//! held-out loss), which this loop performs and records. Full training is
//! the simplest schedule (`kind = "full"`, m = L, no ranking). Another
//! scheme (a LoRA baseline) is another policy answering the same question.
//!
//! Resume: the folder of an interrupted run with the same config keeps
//! `last.safetensors` and its logs; every log is cut back to the
//! checkpoint's step and the steps after it run again (bit-identically).

use std::path::{Path, PathBuf};

use crate::entprog::progressive::{schedulable, History, Next, Progressive, ScheduleError};
use crate::experiment::Experiment;
use crate::model::Blocks;
use crate::results::{Opened, RunDir, RunDirError, TableError};

use super::log::RunLog;
use super::passes::{PassError, Passes};
use super::trainer::{should_checkpoint, should_evaluate, BatchSource, StepRecord, TrainError, Trainer};

/// Errors of a run on disk.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run folder could not be opened or updated.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Training stopped.
    #[error("{dir}: {source}")]
    Train { dir: PathBuf, source: Box<TrainError> },
    /// A log could not be read or written.
    #[error("{path}: {message}")]
    Log { path: PathBuf, message: String },
    /// The schedule could not be laid out or a decision failed.
    #[error("{dir}: {source}")]
    Schedule { dir: PathBuf, source: Box<ScheduleError> },
    /// A scoring or held-out pass failed.
    #[error("{dir}: {source}")]
    Pass { dir: PathBuf, source: Box<PassError> },
    /// The dataset could not be opened.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Writing a Parquet table failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A sampled evaluation (`[eval]`) failed.
    #[error("{dir}: sampled evaluation: {source}")]
    Sampled {
        dir: PathBuf,
        source: Box<crate::eval::sampled::SampledError>,
    },
    /// A Hub reference (`train.init_from`) did not resolve or pull.
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
    /// `train.init_from` is not the output of the run `train.init_from_hash` names.
    #[error("train.init_from_hash: {0}")]
    Parent(String),
}

/// What a call to [`run_experiment`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// True when a complete run with the same config was reused.
    pub cached: bool,
    /// Step the run resumed at (0 for a fresh run).
    pub resumed_at: u64,
}

/// Trains experiment `exp` on batches from `data` in its run folder, calling
/// `on_step` after every step (progress display).
pub fn run_experiment(
    exp: &Experiment,
    data: &mut impl BatchSource,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<RunOutcome, RunError> {
    // Hub references are pinned to their commits first, so the config hash
    // (and a cached run) covers the commit, not a branch that can move.
    let exp = &crate::experiment::pin_experiment(exp)?;
    let spec = exp.run_spec("train", None);
    let mut rd = match RunDir::open(&spec)? {
        Opened::Cached { dir, .. } => {
            return Ok(RunOutcome {
                dir,
                cached: true,
                resumed_at: 0,
            })
        }
        Opened::Fresh(rd) => rd,
    };
    match train(exp, &mut rd, &spec.run_id(), data, on_step) {
        Ok((resumed_at, outputs)) => {
            let dir = rd.path().to_path_buf();
            rd.complete(&outputs)?;
            Ok(RunOutcome {
                dir,
                cached: false,
                resumed_at,
            })
        }
        Err(e) => {
            rd.fail(&e.to_string())?;
            Err(e)
        }
    }
}

/// The loop. Returns the step it resumed at and the files it wrote.
fn train(
    exp: &Experiment,
    rd: &mut RunDir,
    run: &str,
    data: &mut impl BatchSource,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<(u64, Vec<&'static str>), RunError> {
    let cfg = &exp.config;
    let dir = rd.path().to_path_buf();
    // Build: the model under the stage's gate plan, its optimizer, the policy.
    let (mut trainer, mut policy) = build(exp, &dir)?;
    // Resume from this folder's checkpoint, or start from the previous stage's.
    let ckpt = dir.join("last.safetensors");
    start_from(cfg, rd, &ckpt, &mut trainer)?;
    let resumed_at = trainer.step;
    let memory = crate::memory::PeakScope::start();
    let mut log = RunLog::open(&dir, resumed_at)?;
    let mut passes = Passes::new(cfg);
    let mut last_good: Option<PathBuf> = None;
    let mut eval_batch: Option<crate::data::Batch> = None;

    while trainer.step < policy.total_steps() {
        // Ask the policy what this step trains, giving it the evidence it asks for.
        let plan = ask_policy(&mut policy, &mut passes, &mut trainer, &mut log, &dir)?;
        for &(id, gate) in &plan.gates {
            trainer
                .model
                .set_block_gate(id, gate)
                .map_err(|e| train_err(&dir, TrainError::from(e)))?;
        }
        // Train the step and record it.
        let mut record = trainer
            .next_step(data)
            .map_err(|e| train_err(&dir, e.naming_checkpoint(&last_good)))?;
        record.stage = plan.stage;
        record.phase = plan.phase;
        record.m = Some(plan.m as u32);
        on_step(&record);
        log.step(&record)?;
        // Evaluate when due, then checkpoint when due.
        if should_evaluate(trainer.step, &cfg.train) {
            let start = std::time::Instant::now();
            let (loss, clips) = passes.evaluate(&trainer).map_err(|e| pass_err(&dir, e))?;
            log.evaluate(trainer.step, "heldout_loss", loss, clips, start.elapsed().as_secs_f64())?;
        }
        if cfg.eval.due(trainer.step, cfg.train.steps) {
            score_samples(cfg, &trainer, &mut eval_batch, &mut log, &dir)?;
        }
        if should_checkpoint(trainer.step, &cfg.train) {
            trainer.save(&ckpt, Some(record.loss)).map_err(|e| train_err(&dir, e))?;
            last_good = Some(ckpt.clone());
        }
    }
    let outputs = super::outputs::write_tables(exp, run, &dir, &mut policy, &log, &memory)?;
    Ok((resumed_at, outputs))
}

fn train_err(dir: &Path, source: TrainError) -> RunError {
    RunError::Train {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    }
}

pub(super) fn sched_err(dir: &Path, source: ScheduleError) -> RunError {
    RunError::Schedule {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    }
}

fn pass_err(dir: &Path, source: PassError) -> RunError {
    match source {
        PassError::Train(t) => RunError::Train {
            dir: dir.to_path_buf(),
            source: t,
        },
        other => RunError::Pass {
            dir: dir.to_path_buf(),
            source: Box::new(other),
        },
    }
}

/// The model under the stage's gate plan with its optimizer, and the policy.
fn build(exp: &Experiment, dir: &Path) -> Result<(Trainer, Progressive), RunError> {
    let cfg = &exp.config;
    let model = cfg
        .model
        .build(cfg.seed, &candle_core::Device::Cpu)
        .map_err(|e| train_err(dir, e.into()))?;
    let mut trainer =
        Trainer::new(model, cfg.train.clone(), cfg.diffusion.clone(), cfg.seed).map_err(|e| train_err(dir, e))?;
    trainer.config_hash = Some(exp.hash.clone());
    let policy = Progressive::new(&cfg.schedule, cfg.seed, cfg.train.steps, schedulable(&trainer.model))
        .map_err(|e| sched_err(dir, e))?;
    Ok((trainer, policy))
}

/// Resumes from this folder's checkpoint `ckpt`, or starts from
/// `train.init_from` (a local path, or a pinned hub reference made local;
/// the file and its commit go to the manifest's inputs).
fn start_from(
    cfg: &crate::experiment::ExperimentConfig,
    rd: &mut RunDir,
    ckpt: &Path,
    trainer: &mut Trainer,
) -> Result<(), RunError> {
    let dir = rd.path().to_path_buf();
    if rd.resumable && ckpt.exists() {
        trainer.resume(ckpt).map_err(|e| train_err(&dir, e))?;
    } else if let Some(configured) = &cfg.train.init_from {
        if let Some(hash) = &cfg.train.init_from_hash {
            let parent = configured.parent().unwrap_or(Path::new("."));
            crate::results::manifest::check_producer(parent, hash).map_err(RunError::Parent)?;
        }
        let base = crate::hub::checkpoint(configured)?;
        rd.add_input_from(&base.path, base.source)?;
        let report = trainer.init_from(&base.path).map_err(|e| train_err(&dir, e))?;
        if !report.missing.is_empty() {
            eprintln!(
                "{}: {} parameters start fresh (not in the checkpoint): {}",
                configured.display(),
                report.missing.len(),
                report.missing.join(", ")
            );
        }
    }
    Ok(())
}

/// What this step trains: the policy's answer, after the scoring passes and
/// held-out losses it asks for first have run and been recorded.
fn ask_policy(
    policy: &mut Progressive,
    passes: &mut Passes,
    trainer: &mut Trainer,
    log: &mut RunLog,
    dir: &Path,
) -> Result<crate::entprog::progressive::StepPlan, RunError> {
    let step = trainer.step;
    loop {
        let history = History {
            steps: log.costs(),
            decisions: log.decisions(),
        };
        let decision = match policy.next(step, &history).map_err(|e| sched_err(dir, e))? {
            Next::Train(plan) => return Ok(plan),
            Next::Score { stage, scorer } => passes.rank(policy, scorer, stage, step, trainer),
            Next::HeldOut { stage } => passes.heldout_loss(stage, step, trainer),
        };
        log.decide(decision.map_err(|e| pass_err(dir, e))?)?;
    }
}

/// Generated test clips scored (`[eval]`): the fixed test batch is built
/// once; the wall time goes on the first metric's row, and into
/// eval_wall_s, not training time.
fn score_samples(
    cfg: &crate::experiment::ExperimentConfig,
    trainer: &Trainer,
    eval_batch: &mut Option<crate::data::Batch>,
    log: &mut RunLog,
    dir: &Path,
) -> Result<(), RunError> {
    let start = std::time::Instant::now();
    let sampled_err = |source| RunError::Sampled {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    };
    if eval_batch.is_none() {
        let batch = crate::eval::sampled::test_batch(cfg, cfg.eval.clips, &candle_core::Device::Cpu);
        *eval_batch = Some(batch.map_err(sampled_err)?);
    }
    let batch = eval_batch.as_ref().expect("just built");
    let scored = crate::eval::sampled::periodic(cfg, &trainer.model, batch).map_err(sampled_err)?;
    let wall = start.elapsed().as_secs_f64();
    for (i, (metric, value)) in scored.into_iter().enumerate() {
        log.evaluate(
            trainer.step,
            metric,
            value,
            cfg.eval.clips,
            if i == 0 { wall } else { 0.0 },
        )?;
    }
    Ok(())
}

/// Trains experiment `exp` on its own dataset (`[data]`, training split),
/// as `entprog train` does.
pub fn run_with_data(exp: &Experiment, on_step: &mut dyn FnMut(&StepRecord)) -> Result<RunOutcome, RunError> {
    // Pinned before the data opens, so a Hub dataset is read at the commit the run records.
    let exp = &crate::experiment::pin_experiment(exp)?;
    let cfg = &exp.config;
    cfg.data.check_frame_size(cfg.model.image_size)?;
    let loader = cfg
        .data
        .mixed_loader(crate::data::Split::Train, cfg.train.batch_size, cfg.seed)?;
    let mut source = |step: u64, device: &candle_core::Device| {
        let b = loader.batch(step, device).map_err(|e| e.to_string())?;
        Ok(super::trainer::TrainBatch {
            reference: b.reference,
            frames: b.frames,
            poses: b.poses,
        })
    };
    run_experiment(exp, &mut source, on_step)
}

/// A few lines on a finished run: steps and seconds per phase, the scoring
/// cost and the supernet's share, each stage's m (from `steps.jsonl` and
/// `decisions.jsonl`).
pub fn summary(dir: &Path) -> Result<String, RunError> {
    use crate::entprog::progressive::{Decision, Phase};
    let log = RunLog::open_read_only(dir)?;
    let (records, decisions) = (log.records(), log.decisions());
    // `+ 0.0`: an empty f64 sum is -0.0.
    let wall = |p: Phase| records.iter().filter(|r| r.phase == p).map(|r| r.wall_s).sum::<f64>() + 0.0;
    let count = |p: Phase| records.iter().filter(|r| r.phase == p).count();
    let scoring: f64 = decisions
        .iter()
        .map(|d| match d {
            Decision::Order { wall_s, .. } | Decision::HeldOut { wall_s, .. } => *wall_s,
        })
        .sum::<f64>()
        + 0.0;
    let (train, sup) = (wall(Phase::Train), wall(Phase::Supernet));
    let total = train + sup + scoring;
    let mut out = format!(
        "steps: {} train ({train:.1} s) + {} supernet ({sup:.1} s); scoring and held-out evals {scoring:.1} s; \
         supernet + scoring = {:.1}% of {total:.1} s\n",
        count(Phase::Train),
        count(Phase::Supernet),
        100.0 * (sup + scoring) / total.max(1e-12)
    );
    let mut stage = usize::MAX;
    for r in records.iter().filter(|r| r.phase == Phase::Train) {
        if r.stage != stage {
            stage = r.stage;
            out.push_str(&format!(
                "  k{stage}: trains from step {} with m = {}\n",
                r.step,
                r.m.map_or("-".into(), |m| m.to_string())
            ));
        }
    }
    Ok(out)
}
