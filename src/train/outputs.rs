//! What a finished run writes: its Parquet tables (`steps`, `blocks`,
//! `supernet`, `eval`, `runs`), from the run's log and the policy's rows.

use std::path::Path;

use super::log::RunLog;
use super::run::{sched_err, RunError};
use crate::entprog::progressive::{History, Progressive};
use crate::experiment::Experiment;
use crate::results::{write_table, EvalRow, RunRow};

/// The run's Parquet tables (steps, blocks, supernet, eval, runs); returns
/// the files of the finished folder.
pub(super) fn write_tables(
    exp: &Experiment,
    run: &str,
    dir: &Path,
    policy: &mut Progressive,
    log: &RunLog,
    memory: &crate::memory::PeakScope,
) -> Result<Vec<&'static str>, RunError> {
    let history = History {
        steps: log.costs(),
        decisions: log.decisions(),
    };
    write_table(dir, super::log::step_rows(run, log.records()))?;
    write_table(dir, policy.block_rows(run, &history).map_err(|e| sched_err(dir, e))?)?;
    let mut outputs = vec![
        "steps.parquet",
        "blocks.parquet",
        "last.safetensors",
        "steps.jsonl",
        "decisions.jsonl",
    ];
    let supernet = policy.supernet_rows(run, &history).map_err(|e| sched_err(dir, e))?;
    if !supernet.is_empty() {
        write_table(dir, supernet)?;
        outputs.push("supernet.parquet");
    }
    if !log.evals().is_empty() {
        let rows = log.evals().iter().map(|e| EvalRow {
            run: run.into(),
            step: e.step,
            subject: "model".into(),
            metric: e.metric.clone(),
            network: String::new(),
            value: e.value,
            n: e.n as u64,
            dim: None,
        });
        write_table(dir, rows.collect())?;
        outputs.extend(["eval.parquet", "eval.jsonl"]);
    }
    // The process peak as of now, tables written.
    write_table(dir, vec![run_row(exp, run, log, memory.peak() as u64)])?;
    outputs.push("runs.parquet");
    Ok(outputs)
}

/// The totals of a finished run (`runs.parquet`).
fn run_row(exp: &Experiment, run: &str, log: &RunLog, process_peak_bytes: u64) -> RunRow {
    use crate::entprog::progressive::{Decision, Phase};
    let records = log.records();
    // `+ 0.0`: an empty f64 sum is -0.0.
    let wall = |p: Phase| records.iter().filter(|r| r.phase == p).map(|r| r.wall_s).sum::<f64>() + 0.0;
    let (mut scoring, mut heldout) = (0.0, 0.0);
    for d in log.decisions() {
        match d {
            Decision::Order { wall_s, .. } => scoring += wall_s,
            Decision::HeldOut { wall_s, .. } => heldout += wall_s,
        }
    }
    let (train, supernet) = (wall(Phase::Train), wall(Phase::Supernet));
    RunRow {
        run: run.into(),
        experiment: exp.name.clone(),
        cell: "train".into(),
        seed: exp.config.seed,
        config_hash: exp.hash.clone(),
        steps: records.len() as u64,
        supernet_steps: records.iter().filter(|r| r.phase == Phase::Supernet).count() as u64,
        train_wall_s: train,
        supernet_wall_s: supernet,
        scoring_wall_s: scoring,
        heldout_wall_s: heldout,
        eval_wall_s: log.evals().iter().map(|e| e.wall_s).sum::<f64>() + 0.0,
        total_wall_s: train + supernet + scoring + heldout,
        total_flops: records.iter().map(|r| r.flops.total() as f64).sum(),
        train_peak_bytes: records.iter().map(|r| r.peak_bytes).max().unwrap_or(0),
        process_peak_bytes,
        final_loss: records.last().map_or(f64::NAN, |r| r.loss as f64),
    }
}
