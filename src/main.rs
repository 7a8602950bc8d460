//! The `entprog` command line. Library errors are printed as one line
//! (`error: <what>: <where>: <why>`) and exit with status 2.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use entprog::config::Experiment;

#[derive(Parser)]
#[command(
    name = "entprog",
    version,
    about = "Ent-Prog research harness: train, score, schedule, evaluate, report"
)]
struct Cli {
    /// Log records instead of progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect resolved experiment configurations.
    Config {
        #[command(subcommand)]
        cmd: ConfigCommand,
    },
    /// Rank the blocks of an experiment's starting model by CEI (writes blocks.parquet and cei.png).
    Cei {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Other scorers to run beside CEI, comma separated, or `all`
        /// (random, depth_in, depth_out, grad_norm, fisher, loss_skip).
        #[arg(long, value_delimiter = ',', default_value = "cei")]
        scorers: Vec<String>,
        /// Override a key: --set cei.conditions=64 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Rank the blocks an experiment's schedule trains, in its starting model, once with
    /// schedule.scorer (writes ranking.json, blocks.parquet, runs.parquet, cei.png); runs
    /// given the printed folder as schedule.ranking train on it instead of scoring themselves.
    Rank {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Override a key: --set cei.conditions=64 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Figure 1b-c: skip k random blocks of the starting model (k = the paper's 8..23 of 28,
    /// scaled to the model) over seeded trials; writes probe_skip.parquet.
    ProbeSkip {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Trials per k.
        #[arg(long, default_value_t = 5)]
        trials: usize,
        /// Override a key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Rebuild a finished run's schedule from its Parquet files and check it against what ran.
    Replay {
        /// Run folder (e.g. results/<experiment>/train/seed-0).
        dir: std::path::PathBuf,
    },
    /// Build, inspect, preview and import datasets.
    Data {
        #[command(subcommand)]
        cmd: entprog::data::DataCommand,
    },
    /// Reproduce a paper table or figure: every cell from data to report (reuses finished cells).
    Reproduce {
        /// Target name under experiments/targets/ (`table3`), or a path.
        target: String,
        /// Scale of the study: smoke (CI), default (this CPU), paper (the paper's sizes).
        #[arg(long, default_value = "default")]
        profile: String,
        /// Seeds per arm (default: the profile's, else the target's).
        #[arg(long)]
        seeds: Option<u64>,
        /// Print the cells with their state and estimated time, run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Start a profile that asks for confirmation (the paper's sizes on a CPU).
        #[arg(long)]
        yes: bool,
        /// Results folder (cells in `cells-<profile>/`, the report in `<target>/`).
        #[arg(long, default_value = "results")]
        results: std::path::PathBuf,
    },
    /// Rebuild a target's report from the results on disk (no training).
    Report {
        /// Target name under experiments/targets/, or a path.
        target: String,
        #[arg(long, default_value = "default")]
        profile: String,
        #[arg(long)]
        seeds: Option<u64>,
        #[arg(long, default_value = "results")]
        results: std::path::PathBuf,
    },
    /// Train one stage of an experiment in its run folder (resumes if interrupted).
    Train(entprog::train::cli::TrainArgs),
    /// Generate a clip from a checkpoint for a dataset video, beside the ground truth and poses.
    Sample(entprog::train::cli::SampleArgs),
    /// Evaluate a finished training run: generate test clips at one or more sampler settings and score them.
    Eval(entprog::study::eval_cli::EvalArgs),
    /// Score two folders of PNG frames (SSIM, PSNR, L1 and DisCo's variants), matched by file name.
    Metrics(entprog::eval::cli::MetricsArgs),
    /// The offline dance feature networks (fid_dance, fvd_dance, lpips_dance, pose adherence).
    Nets {
        #[command(subcommand)]
        cmd: entprog::eval::dance::cli::NetsCommand,
    },
    /// Pull files from the Hugging Face Hub into its cache, list repositories, export runs for upload.
    Hub {
        #[command(subcommand)]
        cmd: entprog::hub::HubCommand,
    },
    /// Micro-benchmarks of the harness itself.
    Bench {
        #[command(subcommand)]
        cmd: BenchCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the resolved TOML of an experiment and its config hash.
    Show {
        /// Experiment file, or a name under experiments/.
        experiment: String,
        /// Override a key: --set train.lr=1e-4 (repeatable; wins over file and env).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
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
    Steps(entprog::train::cli::BenchStepArgs),
    /// Throughput of the standard feature networks (synthetic weights unless --weights).
    Nets {
        /// Folder of the networks' safetensors files (as `entprog metrics --weights`).
        #[arg(long)]
        weights: Option<std::path::PathBuf>,
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

fn main() -> ExitCode {
    // candle 0.11 runs its own elementwise ops (with the fused kernels only
    // the gradient sums of its backward are left) on a second, spin-waiting
    // pool beside rayon's; one thread there leaves both cores to rayon. With
    // the steps on a rayon worker (`kernels::in_pool`) this costs nothing on
    // a quiet machine and keeps steps stable under load (README, "Measured
    // results"). A value the user sets wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, `a: b: c`, each cause once: the
/// crate's error types already show their source in their own message, so a
/// cause whose text is already there is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Config {
            cmd: ConfigCommand::Show { experiment, sets },
        } => {
            let exp = Experiment::load(&experiment, &sets)?;
            print!("{}", exp.to_toml());
            println!("\n# config hash: sha256:{}", exp.hash);
            Ok(())
        }
        Command::Reproduce {
            target,
            profile,
            seeds,
            dry_run,
            yes,
            results,
        } => {
            let opt = entprog::study::reproduce::Options {
                profile,
                seeds,
                dry_run,
                yes,
                quiet: cli.quiet,
                results_dir: results,
            };
            print!("{}", entprog::study::reproduce::reproduce(&target, &opt)?);
            Ok(())
        }
        Command::Report {
            target,
            profile,
            seeds,
            results,
        } => {
            let study = entprog::study::cells::Study::new(
                entprog::study::target::Target::load(&target)?,
                &profile,
                seeds,
                results,
            )?;
            print!("{}", entprog::report::write(&study)?);
            Ok(())
        }
        Command::Train(args) => Ok(entprog::train::cli::train(&args, cli.quiet)?),
        Command::Sample(args) => Ok(entprog::train::cli::sample(&args)?),
        Command::Eval(args) => {
            print!("{}", entprog::study::eval_cli::eval(&args, cli.quiet)?);
            Ok(())
        }
        Command::Metrics(args) => Ok(entprog::eval::cli::metrics(&args)?),
        Command::Nets { cmd } => {
            print!("{}", entprog::eval::dance::cli::run(&cmd, cli.quiet)?);
            Ok(())
        }
        Command::Cei {
            experiment,
            scorers,
            sets,
        } => {
            let exp = Experiment::load(&experiment, &sets)?;
            exp.config.run.apply();
            let scorers = entprog::study::cei::parse_scorers(&scorers).map_err(anyhow::Error::msg)?;
            let out = entprog::study::cei::run_cei(&exp, &scorers)?;
            if out.cached {
                println!("cached: {}", out.dir.join("blocks.parquet").display());
            } else {
                print!("{}", entprog::study::cei::ranked_table(&out.scores));
                print!("{}", entprog::study::cei::agreement(&out.all));
                println!("wrote {}", out.dir.join("cei.png").display());
                println!("wrote {}", out.dir.join("blocks.parquet").display());
            }
            Ok(())
        }
        Command::Rank { experiment, sets } => {
            let exp = Experiment::load(&experiment, &sets)?;
            exp.config.run.apply();
            let out = entprog::study::ranking::run_ranking(&exp)?;
            if let Some(r) = &out.ranking {
                if !out.cached {
                    print!("{}", entprog::study::ranking::ranked_table(r));
                }
            }
            let what = if out.cached { "cached" } else { "wrote" };
            println!(
                "{what}: {} (use it with --set schedule.ranking=\"{}\")",
                out.dir.join("ranking.json").display(),
                out.dir.display()
            );
            Ok(())
        }
        Command::ProbeSkip {
            experiment,
            trials,
            sets,
        } => {
            let exp = Experiment::load(&experiment, &sets)?;
            exp.config.run.apply();
            let (dir, cached) = entprog::study::probe::skip_probe(&exp, trials)?;
            let what = if cached { "cached" } else { "wrote" };
            println!("{what}: {}", dir.join("probe_skip.parquet").display());
            Ok(())
        }
        Command::Replay { dir } => {
            let r = entprog::entprog::replay::replay(&dir)?;
            for s in &r.stages {
                println!(
                    "k{} steps {}..{}  m = {:>3}  trainable: {}",
                    s.index,
                    s.start,
                    s.start + s.steps,
                    s.m,
                    s.trainable.join(" ")
                );
                for (m, ce) in &s.ce {
                    println!(
                        "    candidate m = {m:>3}  CE = {}",
                        ce.map_or("-".into(), |v| format!("{v:.4e}"))
                    );
                }
            }
            if r.mismatches.is_empty() {
                println!("replay matches the run: {}", dir.display());
                Ok(())
            } else {
                for m in &r.mismatches {
                    println!("mismatch: {m}");
                }
                anyhow::bail!(
                    "{}: the files disagree with the replayed schedule in {} places",
                    dir.display(),
                    r.mismatches.len()
                )
            }
        }
        Command::Data { cmd } => Ok(entprog::data::cli::run(cmd, cli.quiet)?),
        Command::Hub { cmd } => Ok(entprog::hub::cli::run(cmd, cli.quiet)?),
        Command::Bench {
            cmd: BenchCommand::Alloc { pairs, reps },
        } => {
            bench_alloc(pairs, reps);
            Ok(())
        }
        Command::Bench {
            cmd: BenchCommand::Steps(args),
        } => Ok(entprog::train::cli::bench_step(&args)?),
        Command::Bench {
            cmd: BenchCommand::Nets { weights, reps },
        } => {
            for s in entprog::bench::nets::measure(weights.as_deref(), reps.max(1))? {
                println!(
                    "{:<15} {:>7.2} {}s/s  ({} per pass, median {:.3} s)",
                    s.net, s.per_second, s.unit, s.batch, s.median_s
                );
            }
            Ok(())
        }
        Command::Bench {
            cmd:
                BenchCommand::Cei {
                    experiment,
                    steps,
                    json,
                    sets,
                },
        } => {
            let exp = Experiment::load(&experiment, &sets)?;
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
        Command::Bench {
            cmd:
                BenchCommand::TrainStep {
                    json,
                    steps,
                    configs,
                    plain,
                    whole,
                },
        } => bench_train_step(json, steps, &configs, plain, whole),
        Command::Bench {
            cmd: BenchCommand::Kernels { reps },
        } => Ok(entprog::bench::kernels::run(reps)?),
    }
}

fn bench_train_step(json: bool, steps: usize, names: &[String], plain: bool, whole: bool) -> Result<()> {
    use entprog::bench::train_step::{default_configs, measure, BenchConfig};
    use entprog::model::ops::Kernels;
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

fn bench_alloc(pairs: usize, reps: usize) {
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
