//! entprog: a research harness that reproduces and probes Ent-Prog
//! (Entropy-Guided Prioritized Progressive Learning, arXiv 2511.21136).
//!
//! Module map (one file per paper concept, see DESIGN.md):
//! - [`config`]: figment loading of `experiments/*.toml`, validation, hashing.
//! - [`seed`]: named ChaCha streams derived from one root seed.

pub mod config;
pub mod diffusion;
pub mod model;
pub mod seed;
pub mod train;
