//! entprog: a research harness that reproduces and probes Ent-Prog
//! (Entropy-Guided Prioritized Progressive Learning, arXiv 2511.21136).
//!
//! Module map (one file per paper concept, see DESIGN.md):
//! - [`config`]: figment loading of `experiments/*.toml`, validation, hashing.
//! - [`seed`]: named ChaCha streams derived from one root seed.
//! - [`data`]: synthetic dance datasets, Parquet shards, loaders, importer.
//! - [`results`]: run folders, manifests, locks, typed Parquet writers.
//! - [`memory`]: counting global allocator (the paper's memory column).
//! - [`progress`]: progress bars or log lines.
//! - [`model`]: the gated pose-guided video denoiser and its `Blocks` trait.
//! - [`diffusion`]: noise schedules, eps and v losses, DDPM/DDIM samplers with guidance.
//! - [`train`]: THE training loop that asks a policy per step, AdamW, checkpoints, logs.
//! - [`kernels`]: fused CPU kernels (GELU, attention, modulated norm, gated residual).
//! - [`entprog`]: schedules as policies, the supernet's decision rule, CEI and other block scores.
//! - [`study`]: reproduce targets, their cell graph and runner, evaluation cells, `entprog cei`, the skip probe.
//! - [`plot`]: PNG charts with plotters and the embedded DejaVu Sans (bars, curves, state maps, image sheets).
//! - [`report`]: Polars reports from the result tables, with intervals over seeds and verdicts.
//! - [`eval`]: frame metrics (SSIM, PSNR, L1 and DisCo's variants), the Frechet distance, `entprog metrics`.
//! - [`hub`]: `hf://` references pinned to commits, the shared Hub cache, verified pulls.

pub mod bench;
pub mod config;
pub mod data;
pub mod diffusion;
pub mod entprog;
pub mod eval;
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
