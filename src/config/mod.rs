//! Experiment configuration: figment layers, schema, validation, hashing.
//!
//! Two stages (STYLE.md §4): what figment merges, with unknown keys denied
//! ([`load`]), then validation of ranges and cross-field rules ([`Validate`]);
//! [`Experiment`] adds the derived values (name, hash, files).

pub mod experiment;
pub mod hash;
pub mod load;
pub mod schema;
pub mod validate;

pub use experiment::{resolve_experiment_path, Experiment};
pub use hash::{config_hash, run_id};
pub use load::{load, ConfigError};
pub use schema::{ExperimentConfig, OutputConfig, RunConfig, UNHASHED_KEYS};
pub use validate::{check, key, Invalid, Validate};
