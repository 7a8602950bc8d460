//! `entprog bench ...`: micro-benchmarks of the harness itself (not tests):
//! the counting allocator, step time as blocks freeze, the feature
//! networks, CEI's cost against its run, the train step of each preset, and
//! the fused kernels against the compositions they replace.

use std::path::PathBuf;

use anyhow::Result;

use entprog::bench::step_time::FreezeSweep;
use entprog::bench::train_step::{default_configs, measure, BenchConfig};
use entprog::experiment::Experiment;
use entprog::model::ops::Kernels;
use entprog::model::Gate;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Overhead of the counting allocator against the system allocator.
    Alloc {
        /// Allocate/free pairs per measurement.
        #[arg(long, default_value_t = 1_000_000)]
        pairs: usize,
        /// Repetitions; the median is reported.
        #[arg(long, default_value_t = 7)]
        reps: usize,
    },
    /// Median training-step time of a model preset as leading blocks freeze.
    Steps(StepsArgs),
    /// Throughput of the standard feature networks (synthetic weights unless --weights).
    Nets {
        /// Folder of the networks' safetensors files (as `entprog metrics --weights`).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Timed passes per network after one warm-up; the median is reported.
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Training-step time of the presets, full and Ent-Prog-like gate patterns
    /// (same config names as bench/torch_reference.py).
    TrainStep {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Timed steps per configuration (after 2 warm-up steps); the median is reported.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Comma-separated config names (`{preset}-{mode}-{pattern}[-plain][-whole]`); default:
        /// all tiny/default x image/video x full/last25 with fused kernels and the taped backward.
        #[arg(long, value_delimiter = ',')]
        configs: Vec<String>,
        /// Also run every configuration with the plain candle compositions.
        #[arg(long)]
        plain: bool,
        /// Also run every configuration with one whole-graph backward instead of the
        /// block-by-block tape (what the tape saves in peak memory).
        #[arg(long)]
        whole: bool,
    },
    /// CEI scoring cost against the training run it ranks blocks for (goal: <= 5%).
    Cei {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Timed training steps (after 2 warm-up steps); the median is used.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// One JSON object instead of a line.
        #[arg(long)]
        json: bool,
        /// Override a key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Fused CPU kernels against the candle compositions they replace (forward + backward).
    Kernels {
        /// Repetitions; the median is reported.
        #[arg(long, default_value_t = 21)]
        reps: usize,
    },
}

#[derive(clap::Args)]
pub struct StepsArgs {
    /// Model preset (`tiny`, `default`, `paper`).
    #[arg(long, default_value = "default")]
    preset: String,
    /// Override the number of spatial blocks L.
    #[arg(long)]
    depth: Option<usize>,
    /// Clips per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Frames per clip (1 = image step).
    #[arg(long, default_value_t = 1)]
    frames: usize,
    /// Timed steps (after 2 warmup steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Numbers of leading spatial+temporal block pairs to freeze, comma separated
    /// (parts upstream of the blocks are frozen whenever this is > 0).
    #[arg(long, default_value = "0", value_delimiter = ',')]
    freeze_leading: Vec<usize>,
    /// Skip the frozen blocks instead (the nested sub-network).
    #[arg(long)]
    skip: bool,
    /// Use the plain candle compositions instead of the fused kernels.
    #[arg(long)]
    plain: bool,
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Alloc { pairs, reps } => {
            alloc(pairs, reps);
            Ok(())
        }
        BenchCommand::Steps(args) => steps(args),
        BenchCommand::Nets { weights, reps } => nets(weights, reps),
        BenchCommand::Cei {
            experiment,
            steps,
            json,
            sets,
        } => cei(&experiment, steps, json, &sets),
        BenchCommand::TrainStep {
            json,
            steps,
            configs,
            plain,
            whole,
        } => train_step(json, steps, &configs, plain, whole),
        BenchCommand::Kernels { reps } => Ok(entprog::bench::kernels::run(reps)?),
    }
}

fn steps(args: StepsArgs) -> Result<()> {
    let sweep = FreezeSweep {
        preset: args.preset,
        depth: args.depth,
        batch: args.batch,
        frames: args.frames,
        steps: args.steps,
        freeze_leading: args.freeze_leading,
        skip: args.skip,
        plain: args.plain,
    };
    let model = sweep.model()?;
    println!(
        "preset {} depth {} batch {}x{} frames, {:?} kernels ({} threads)",
        model.preset,
        model.depth,
        sweep.batch,
        sweep.frames,
        model.kernels,
        candle_core::utils::get_num_threads()
    );
    let state = if sweep.skip { Gate::Skipped } else { Gate::Frozen };
    let mut base = None;
    sweep.run(&mut |k, t| {
        let b = *base.get_or_insert(t.median_s);
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
    })?;
    Ok(())
}

fn nets(weights: Option<PathBuf>, reps: usize) -> Result<()> {
    for s in entprog::bench::nets::measure(weights.as_deref(), reps.max(1))? {
        println!(
            "{:<15} {:>7.2} {}s/s  ({} per pass, median {:.3} s)",
            s.net, s.per_second, s.unit, s.batch, s.median_s
        );
    }
    Ok(())
}

fn cei(experiment: &str, steps: usize, json: bool, sets: &[String]) -> Result<()> {
    let exp = Experiment::load(experiment, sets)?;
    exp.config.run.apply();
    let c = entprog::bench::cei_cost::measure(&exp, steps)?;
    if json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        println!(
            "{}: CEI over {} blocks, N = {}: {:.1} s; train step median {:.3} s x {} steps = {:.0} s; CEI = {:.1}% of the run{}",
            c.experiment,
            c.blocks,
            c.samples,
            c.cei_s,
            c.median_step_s,
            c.run_steps,
            c.median_step_s * c.run_steps as f64,
            100.0 * c.share_of_run,
            if c.random_init { " (random weights: no init_from checkpoint)" } else { "" }
        );
    }
    Ok(())
}

/// The named configurations, each also with the plain kernels (`plain`) and
/// the whole-graph backward (`whole`) when asked.
fn train_step_configs(names: &[String], plain: bool, whole: bool) -> Result<Vec<BenchConfig>> {
    let mut configs = if names.is_empty() {
        default_configs()
    } else {
        names
            .iter()
            .map(|n| {
                BenchConfig::parse(n).ok_or_else(|| {
                    anyhow::anyhow!("--configs: {n:?} is not a config, expected {{tiny|default|paper}}-{{image|video}}-{{full|last25}}[-plain][-whole]")
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    if plain {
        let extra: Vec<BenchConfig> = configs
            .iter()
            .map(|c| BenchConfig {
                kernels: Kernels::Plain,
                ..c.clone()
            })
            .collect();
        configs.extend(extra);
    }
    if whole {
        let extra: Vec<BenchConfig> = configs
            .iter()
            .map(|c| BenchConfig {
                taped: false,
                ..c.clone()
            })
            .collect();
        configs.extend(extra);
    }
    Ok(configs)
}

fn train_step(json: bool, steps: usize, names: &[String], plain: bool, whole: bool) -> Result<()> {
    let configs = train_step_configs(names, plain, whole)?;
    eprintln!(
        "# threads: {}, steps: {steps} (median after 2 warm-up)",
        candle_core::utils::get_num_threads()
    );
    if !json {
        println!(
            "{:<28} {:>10} {:>10} {:>8} {:>12}",
            "config", "median_s", "samples/s", "GFLOP/s", "peak_MiB"
        );
    }
    for c in &configs {
        let m = measure(c, steps)?;
        if json {
            println!("{}", m.json());
        } else {
            println!(
                "{:<28} {:>10.4} {:>10.1} {:>8.2} {:>12.1}",
                m.config,
                m.median_step_s,
                m.samples_per_s,
                m.gflops,
                m.peak_bytes as f64 / (1u64 << 20) as f64
            );
        }
    }
    Ok(())
}

fn alloc(pairs: usize, reps: usize) {
    use entprog::memory::{time_alloc_pairs, CountingAlloc};
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for size in [64usize, 4096, 1 << 20] {
        let sys: Vec<f64> = (0..reps)
            .map(|_| time_alloc_pairs(&std::alloc::System, pairs, size))
            .collect();
        let cnt: Vec<f64> = (0..reps)
            .map(|_| time_alloc_pairs(&CountingAlloc, pairs, size))
            .collect();
        let (s, c) = (median(sys), median(cnt));
        println!(
            "{{\"config\": \"alloc_{size}b\", \"system_ns\": {s:.2}, \"counting_ns\": {c:.2}, \"overhead_ns\": {:.2}}}",
            c - s
        );
    }
}
