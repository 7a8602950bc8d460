//! The five result tables of DESIGN.md, one row per event, long format.
//! Column names are the Parquet column names; units are in the field docs.

use crate::table;

table! {
    /// `steps.parquet`: one row per optimizer step (training or supernet).
    pub struct StepRow in "steps" version 1 {
        /// Run id (`<config hash prefix>-s<seed>`).
        run: String,
        /// Training stage (`foundation`, `stage1`, ... or a schedule stage `k0`, `k1`).
        stage: String,
        /// `train` or `supernet`.
        phase: String,
        /// Optimizer step, counted over the whole run from 0.
        step: u64,
        /// Number of unfrozen blocks at this step (Ent-Prog's m_k), when a schedule applies.
        m: Option<u32>,
        /// Training loss (epsilon-prediction MSE) of this step's batch.
        loss: f64,
        /// Learning rate used.
        lr: f64,
        /// Wall-clock seconds of the step (forward, backward, update).
        wall_s: f64,
        /// Analytic floating-point operations of what actually ran.
        flops: f64,
        /// Peak bytes allocated during the step (counting allocator, whole process).
        peak_bytes: u64,
    }
}

table! {
    /// `blocks.parquet`: one row per block per scoring or schedule stage.
    pub struct BlockRow in "blocks" version 1 {
        run: String,
        stage: String,
        /// Stable block id, e.g. `spatial.07`.
        block_id: String,
        /// `spatial`, `temporal` or `reference`.
        kind: String,
        /// Scorer that produced `score`: `cei`, `random`, `depth`, `grad_norm`, ...
        scorer: String,
        score: f64,
        /// Bootstrap standard error of `score`, when estimated.
        score_se: Option<f64>,
        /// 0 = highest priority.
        rank: u32,
        /// `trainable`, `frozen` or `skipped`.
        state: String,
    }
}

table! {
    /// `supernet.parquet`: held-out loss of each candidate m at each eval point.
    pub struct SupernetRow in "supernet" version 2 {
        run: String,
        stage: String,
        /// Candidate number of unfrozen blocks.
        candidate_m: u32,
        /// Evaluation point s = 1..S: the candidate's s-th chunk of supernet steps.
        eval_point: u32,
        /// First step of the chunk.
        step_start: u64,
        /// First step after the chunk.
        step_end: u64,
        /// Held-out loss before the chunk, l_m^(s-1).
        loss_before: f64,
        /// Held-out loss after the chunk, l_m^(s).
        heldout_loss: f64,
        /// Cumulative FLOPs of this candidate's supernet steps up to this point.
        clock_flops: f64,
        /// Cumulative wall seconds of this candidate's supernet steps up to this point.
        clock_wall_s: f64,
        /// Convergence efficiency CE(m) under the run's clock (same on every row of a candidate).
        ce: Option<f64>,
        /// Whether this candidate was chosen (argmax CE).
        chosen: bool,
    }
}

table! {
    /// `eval.parquet`: one row per metric evaluation.
    pub struct EvalRow in "eval" version 1 {
        run: String,
        step: u64,
        /// Long unique metric name, e.g. `ssim`, `fvd_dance16`, `heldout_loss`.
        metric: String,
        value: f64,
    }
}

table! {
    /// `runs.parquet`: one row per finished run.
    pub struct RunRow in "runs" version 1 {
        run: String,
        experiment: String,
        cell: String,
        seed: u64,
        config_hash: String,
        /// `complete` or `failed`.
        status: String,
        steps: u64,
        total_wall_s: f64,
        total_flops: f64,
        peak_bytes: u64,
        final_loss: Option<f64>,
    }
}

table! {
    /// `probe_skip.parquet` (Figure 1b-c): the model with k random blocks skipped.
    pub struct ProbeSkipRow in "probe_skip" version 1 {
        run: String,
        /// Blocks skipped.
        k: u32,
        /// Seeded trial (stream `probe-skip`, index k * 1000 + trial).
        trial: u32,
        /// Skipped block ids, comma separated, in forward order.
        skipped: String,
        /// Held-out eps loss of the skipped model.
        heldout_loss: f64,
        /// Held-out eps loss of the full model (same on every row).
        base_loss: f64,
        /// Entropy inflation of the skipped model against the full one (mean over conditions).
        cei: f64,
        /// Bootstrap standard error of `cei`.
        cei_se: f64,
    }
}
