//! The result tables of docs/results-files.md, one row per event, long format.
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
        /// Training loss (MSE of the prediction target, eps or v) of this step's batch.
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
    /// `eval.parquet`: one row per metric evaluation, long format.
    pub struct EvalRow in "eval" version 3 {
        run: String,
        /// Completed training steps of the evaluated weights.
        step: u64,
        /// What was scored: `model`, or a baseline scored like one
        /// (`truth`: the ground truth against itself; `reference_copy`: the
        /// reference frame repeated as the prediction).
        subject: String,
        /// Long unique metric name, e.g. `ssim`, `psnr`, `heldout_loss`.
        metric: String,
        /// Feature network behind the metric (empty for pixel metrics and losses).
        network: String,
        value: f64,
        /// Samples (clips, or frames for per-frame feature metrics) the value is over.
        n: u64,
        /// Feature dimension of a Frechet distance (`fid_*`, `fvd_*`): with
        /// n < dim the covariance is rank-deficient.
        dim: Option<u64>,
    }
}

table! {
    /// `runs.parquet`: one row per finished training run, with the totals
    /// the reports read (time per phase, FLOPs, memory).
    pub struct RunRow in "runs" version 2 {
        run: String,
        experiment: String,
        cell: String,
        seed: u64,
        config_hash: String,
        /// Optimizer steps, supernet steps included.
        steps: u64,
        /// Of which supernet steps.
        supernet_steps: u64,
        /// Wall seconds of regular training steps.
        train_wall_s: f64,
        /// Wall seconds of supernet steps.
        supernet_wall_s: f64,
        /// Wall seconds of block scoring (priority orders).
        scoring_wall_s: f64,
        /// Wall seconds of the supernet's held-out evaluations.
        heldout_wall_s: f64,
        /// Wall seconds of periodic evaluations (kept out of the training time).
        eval_wall_s: f64,
        /// train + supernet + scoring + held-out: the training process's time.
        total_wall_s: f64,
        /// Analytic FLOPs of every step.
        total_flops: f64,
        /// Highest heap bytes during any training step (weights, optimizer
        /// state and activations: the paper's memory column).
        train_peak_bytes: u64,
        /// Highest heap bytes of the process while it ran this run, scoring
        /// included (what a machine must hold; since the resume, for a
        /// resumed run).
        process_peak_bytes: u64,
        /// Loss of the last step.
        final_loss: f64,
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
        /// Held-out loss of the skipped model.
        heldout_loss: f64,
        /// Held-out loss of the full model (same on every row).
        base_loss: f64,
        /// Entropy inflation of the skipped model against the full one (mean over conditions).
        cei: f64,
        /// Bootstrap standard error of `cei`.
        cei_se: f64,
    }
}

table! {
    /// `cei_samples.parquet` (docs/paper.md §7 q1): the CEI ranking of the
    /// starting model at N = conditions x draws samples, per seed, against a
    /// ranking at a large reference N.
    pub struct CeiSamplesRow in "cei_samples" version 1 {
        run: String,
        /// CEI conditions of this ranking (N = conditions x draws).
        conditions: u32,
        /// Samples (conditions x draws).
        samples: u32,
        /// Seed of the samples drawn (the reference uses seed 1000).
        seed: u64,
        /// Kendall's tau-b between this ranking's CEI and the reference's.
        kendall: f64,
        /// Spearman's rho between the same.
        spearman: f64,
        /// Whether the top block is the reference's top block.
        same_top: bool,
        /// Wall seconds of this ranking (sampling and scoring).
        wall_s: f64,
    }
}
