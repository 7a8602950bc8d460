//! entprog: a research harness that reproduces and probes Ent-Prog
//! (Entropy-Guided Prioritized Progressive Learning, arXiv 2511.21136).
//!
//! Module map (one file per paper concept, see DESIGN.md):
//! - [`config`]: figment loading of `experiments/*.toml`, validation, hashing.
//! - [`seed`]: named ChaCha streams derived from one root seed.
//! - [`data`]: synthetic dance datasets, Parquet shards, loaders, importer.

pub mod config;
pub mod data;
pub mod seed;
