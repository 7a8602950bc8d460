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
    /// Build, inspect, preview and import datasets.
    Data {
        #[command(subcommand)]
        cmd: entprog::data::DataCommand,
    },
    /// Train one stage of an experiment in its run folder (resumes if interrupted).
    Train(entprog::train::cli::TrainArgs),
    /// Generate a clip from a checkpoint for a dataset video, beside the ground truth and poses.
    Sample(entprog::train::cli::SampleArgs),
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
    /// Fused CPU kernels against the candle compositions they replace (forward + backward).
    Kernels {
        /// Repetitions; the median is reported.
        #[arg(long, default_value_t = 21)]
        reps: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
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
        Command::Train(args) => Ok(entprog::train::cli::train(&args, cli.quiet)?),
        Command::Sample(args) => Ok(entprog::train::cli::sample(&args)?),
        Command::Data { cmd } => Ok(entprog::data::cli::run(cmd, cli.quiet)?),
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
            cmd: BenchCommand::Kernels { reps },
        } => Ok(entprog::kernels::bench::run(reps)?),
    }
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
