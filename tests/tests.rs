//! The integration tests, one binary (ripgrep's `tests/tests.rs`): the crate
//! and its dependencies (candle, polars) are linked once instead of once per
//! file. Each module is one area of the harness; [`util`] holds what several
//! share. Run one area with a filter: `cargo test --release --test tests data::`.
//!
//! One binary means one process: the counting allocator's peaks
//! (`entprog::memory`) are shared by every test running at the time, so the
//! tests that measure peaks run in a process of their own
//! ([`util::in_own_process`]).

/// Shared helpers: shipped profiles, a small dataset, tensor comparison, process isolation.
mod util;

/// The configuration surface as a property: every key settable, presets under explicit keys.
mod config_surface;
/// The cost model against measured steps, activation checkpointing, `entprog cost`.
mod cost;
/// The offline dance feature networks: determinism, reuse, the keypoint head, bad settings.
mod dance;
/// Dance datasets: regeneration, renderer invariants, loaders, import, bad profiles.
mod data;
/// The docs' promises: relative links resolve, named commands and `just` recipes exist.
mod docs;
/// Ent-Prog block scoring (CEI) on the tiny model.
mod entprog;
/// Frame metrics against scikit-image / OpenCV / DisCo, the Frechet distance, `entprog metrics`.
mod eval;
/// Where cells run: --jobs 2 and --executor slurm against a real Slurm equal a serial run.
mod executors;
/// Configuration layers and errors, config hashes, run folders and locks, Parquet tables.
mod foundation;
/// The Hugging Face Hub layer against a loopback Hub: pulls, offline cache, bad downloads, export.
mod hub;
/// Fused CPU kernels against the candle compositions they replace.
mod kernels;
/// The rooms of src/: no folder import cycles, no source file over 450 lines.
mod layout;
/// The denoiser: parameter layout (insta snapshots), gates, FLOPs and peak memory, the tape.
mod model;
/// The standard feature networks against their PyTorch references; `entprog metrics --weights`.
mod nets;
/// Progressive schedules: adaptive decisions, replay, resume, fixed schedules, scorers.
mod schedule;
/// A real single-node Slurm (munged, slurmctld, slurmd under a temp dir) for tests that submit jobs.
mod slurm_cluster;
/// `reproduce table3 --profile smoke` end to end: snapshot, reuse, determinism, kill and rerun.
mod study;
/// Every target at the smoke profile (`reproduce all`), grouped targets, the `all` plan, bad targets.
mod targets;
/// The trainer: overfitting, resume, NaN stop, frozen blocks, stage hand-over.
mod train;
