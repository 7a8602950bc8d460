//! entprog: a research harness that reproduces and probes Ent-Prog
//! (Entropy-Guided Prioritized Progressive Learning, arXiv 2511.21136).
//!
//! Module map, top to bottom (a folder imports only folders below it; the
//! `entprog` binary's `cli/` sits above all of them; docs/design.md):
//! - [`report`]: Polars reports from the result tables, with intervals over seeds and verdicts.
//! - [`study`]: reproduce targets, their cell graph, the serial, `--jobs` and Slurm executors, evaluation cells, `entprog cei`, the skip probe.
//! - [`bench`]: benchmarks of the harness itself.
//! - [`train`]: THE training loop that asks a policy per step, AdamW, CEI evidence, logs, replay of a run.
//! - [`eval`]: frame metrics (SSIM, PSNR, L1 and DisCo's variants), feature networks, sampled evaluation.
//! - [`experiment`]: the experiment schema composing every section; a resolved [`experiment::Experiment`].
//! - [`entprog`]: schedules as policies, the supernet's decision rule, CEI and other block scores (no IO).
//! - [`data`]: synthetic dance datasets, Parquet shards, loaders, importer, Hub datasets.
//! - [`hub`]: `hf://` references pinned to commits, the shared Hub cache, verified pulls.
//! - [`results`]: run-folder formats: manifests, locks, Parquet tables, checkpoints, GIFs, column readers.
//! - [`model`]: the gated pose-guided video denoiser and its `Blocks` trait.
//! - [`diffusion`]: noise schedules, eps and v losses, DDPM/DDIM samplers with guidance.
//! - [`kernels`]: fused CPU kernels (GELU, attention, modulated norm, gated residual).
//! - [`plot`]: PNG charts with plotters and the embedded DejaVu Sans (bars, curves, state maps, image sheets).
//! - [`config`]: the loading machinery: figment layers, `extends`, validation, hashing (a leaf).
//! - [`seed`], [`memory`], [`progress`]: named seed streams, the counting allocator, progress bars.

pub mod bench;
pub mod config;
pub mod cost;
pub mod data;
pub mod diffusion;
pub mod entprog;
pub mod eval;
pub mod experiment;
pub mod hub;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod plot;
pub mod progress;
pub mod report;
pub mod results;
pub mod seed;
pub mod study;
pub mod train;
