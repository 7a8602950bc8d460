//! Command-line entry points of the training module (main.rs only parses
//! and dispatches).

use clap::Args;

use crate::model::{Gate, ModelConfig};

use super::bench::time_steps;
use super::config::{GatePlan, Stage};
use super::trainer::TrainError;

/// `entprog bench-step`: median training-step time of a preset as leading
/// blocks freeze.
#[derive(Args, Debug, Clone)]
pub struct BenchStepArgs {
    /// Model preset (`tiny`, `default`, `paper`).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Override the number of spatial blocks L.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Clips per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Frames per clip (1 = image step).
    #[arg(long, default_value_t = 1)]
    pub frames: usize,
    /// Timed steps (after 2 warmup steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Numbers of leading spatial+temporal block pairs to freeze, comma separated
    /// (parts upstream of the blocks are frozen whenever this is > 0).
    #[arg(long, default_value = "0", value_delimiter = ',')]
    pub freeze_leading: Vec<usize>,
    /// Skip the frozen blocks instead (the nested sub-network).
    #[arg(long)]
    pub skip: bool,
}

/// The gate plan that freezes (or skips) the first `k` block pairs and the
/// conditioning parts upstream of them.
pub fn leading_plan(k: usize, skip: bool) -> GatePlan {
    let mut plan = GatePlan::default();
    if k == 0 {
        return plan;
    }
    plan.frozen = ["embed", "time", "pose", "reference.*"].map(String::from).to_vec();
    let list = if skip { &mut plan.skipped } else { &mut plan.frozen };
    for i in 0..k {
        list.push(format!("spatial.{i:02}"));
        list.push(format!("temporal.{i:02}"));
    }
    plan
}

/// Runs `bench-step` and prints one line per setting.
pub fn bench_step(args: &BenchStepArgs) -> Result<(), TrainError> {
    let mut model = ModelConfig::preset(&args.preset)
        .ok_or_else(|| crate::model::ModelError::Config(format!("unknown preset `{}`", args.preset)))?;
    if let Some(d) = args.depth {
        model.depth = d;
    }
    let stage = if args.frames > 1 { Stage::Video } else { Stage::Pose };
    println!(
        "preset {} depth {} batch {}x{} frames ({} threads)",
        model.preset,
        model.depth,
        args.batch,
        args.frames,
        candle_core::utils::get_num_threads()
    );
    let mut base = None;
    for &k in &args.freeze_leading {
        let t = time_steps(
            &model,
            leading_plan(k, args.skip),
            stage,
            args.batch,
            args.frames,
            2,
            args.steps,
        )?;
        let b = *base.get_or_insert(t.median_s);
        let state = if args.skip { Gate::Skipped } else { Gate::Frozen };
        println!(
            "{k:>3} leading pairs {:<7} median {:.4} s (min {:.4}, {:.2}x of first)  {:.2} GFLOP/step  {:.1} GFLOP/s  {} trainable",
            state.as_str(),
            t.median_s,
            t.min_s,
            t.median_s / b,
            t.flops as f64 / 1e9,
            t.flops as f64 / 1e9 / t.median_s,
            t.trainable_params
        );
    }
    Ok(())
}
