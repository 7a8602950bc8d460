//! The `entprog` command line: one file per command, each a thin
//! translation from arguments to library calls and from their typed results
//! to what is printed. clap lives only here; `main.rs` only dispatches.
//! Library errors are printed as one line (`error: <what>: <where>: <why>`)
//! and exit with status 2.

mod bench;
mod cei;
mod config;
mod cost;
mod data;
mod eval;
mod hub;
mod metrics;
mod nets;
mod probe_skip;
mod rank;
mod replay;
mod report;
mod reproduce;
mod sample;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "entprog",
    version,
    about = "Ent-Prog research harness: train, score, schedule, evaluate, report"
)]
pub struct Cli {
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
        cmd: config::ConfigCommand,
    },
    /// Rank the blocks of an experiment's starting model by CEI (writes blocks.parquet and cei.png).
    Cei(cei::Args),
    /// Rank the blocks an experiment's schedule trains, in its starting model, once with
    /// schedule.scorer (writes ranking.json, blocks.parquet, runs.parquet, cei.png); runs
    /// given the printed folder as schedule.ranking train on it instead of scoring themselves.
    Rank(rank::Args),
    /// Figure 1b-c: skip k random blocks of the starting model (k = the paper's 8..23 of 28,
    /// scaled to the model) over seeded trials; writes probe_skip.parquet.
    ProbeSkip(probe_skip::Args),
    /// Rebuild a finished run's schedule from its Parquet files and check it against what ran.
    Replay(replay::Args),
    /// Build, inspect, preview and import datasets.
    Data {
        #[command(subcommand)]
        cmd: data::DataCommand,
    },
    /// Reproduce a paper table or figure: every cell from data to report (reuses finished cells).
    Reproduce(reproduce::Args),
    /// Rebuild a target's report from the results on disk (no training).
    Report(report::Args),
    /// Train one stage of an experiment in its run folder (resumes if interrupted).
    Train(train::Args),
    /// Generate a clip from a checkpoint for a dataset video, beside the ground truth and poses.
    Sample(sample::Args),
    /// Evaluate a finished training run: generate test clips at one or more sampler settings and score them.
    Eval(eval::Args),
    /// Score two folders of PNG frames (SSIM, PSNR, L1 and DisCo's variants), matched by file name.
    Metrics(metrics::Args),
    /// The offline dance feature networks (fid_dance, fvd_dance, lpips_dance, pose adherence).
    Nets {
        #[command(subcommand)]
        cmd: nets::NetsCommand,
    },
    /// Pull files from the Hugging Face Hub into its cache, list repositories, export runs for upload.
    Hub {
        #[command(subcommand)]
        cmd: hub::HubCommand,
    },
    /// Predicted FLOPs, peak memory and time of a training step per candidate m
    /// (docs/cost-model.md); --calibrate measures this machine; --validate checks the model.
    Cost(cost::Args),
    /// Micro-benchmarks of the harness itself.
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCommand,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Config { cmd } => config::run(cmd),
        Command::Cei(args) => cei::run(args),
        Command::Rank(args) => rank::run(args),
        Command::ProbeSkip(args) => probe_skip::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Data { cmd } => data::run(cmd, quiet),
        Command::Reproduce(args) => reproduce::run(args, quiet),
        Command::Report(args) => report::run(args),
        Command::Train(args) => train::run(args, quiet),
        Command::Sample(args) => sample::run(args),
        Command::Eval(args) => eval::run(args, quiet),
        Command::Metrics(args) => metrics::run(args),
        Command::Nets { cmd } => nets::run(cmd, quiet),
        Command::Hub { cmd } => hub::run(cmd, quiet),
        Command::Cost(args) => cost::run(args),
        Command::Bench { cmd } => bench::run(cmd),
    }
}

/// The error and its causes on one line, `a: b: c`, each cause once: the
/// crate's error types already show their source in their own message, so a
/// cause whose text is already there is not repeated.
pub fn one_line(e: &anyhow::Error) -> String {
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
