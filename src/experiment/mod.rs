//! The experiment schema: what one `experiments/*.toml` file resolves to.
//! It composes the section configs that the folders below own (`[data]`,
//! `[model]`, `[diffusion]`, `[cei]`, `[schedule]`) with the sections of the
//! runners above it (`[train]`, `[eval]`), so the runners can take a whole
//! [`Experiment`] without a folder importing one that imports it back.
//! The loading machinery (figment layers, `extends`, validation, hashing)
//! is `crate::config`, a leaf.

pub mod eval;
pub mod pin;
pub mod resolved;
pub mod schema;
pub mod train;

pub use pin::pin_experiment;
pub use resolved::{resolve_experiment_path, Experiment};
pub use schema::{ExperimentConfig, OutputConfig, RunConfig, UNHASHED_KEYS};
