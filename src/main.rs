//! The `entprog` binary: parses the command line and dispatches to
//! `cli/`, one file per command; an error is one line and exit status 2.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // candle 0.11 runs its own elementwise ops (with the fused kernels only
    // the gradient sums of its backward are left) on a second, spin-waiting
    // pool beside rayon's; one thread there leaves both cores to rayon. With
    // the steps on a rayon worker (`kernels::in_pool`) this costs nothing on
    // a quiet machine and keeps steps stable under load
    // (docs/results/speed-vs-pytorch.md). A value the user sets wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::from(2)
        }
    }
}
