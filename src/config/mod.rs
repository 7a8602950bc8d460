//! Configuration machinery, a leaf every folder uses: figment layers with
//! `extends` chains, the environment and `--set` flags ([`load`]), then
//! validation of ranges and cross-field rules ([`Validate`], two stages as
//! in docs/style.md §4), and the canonical config hash ([`hash`]). The
//! experiment schema that composes the folders' sections is
//! `crate::experiment`.

pub mod describe;
pub mod extends;
pub mod hash;
pub mod load;
pub mod validate;

pub use hash::{config_hash, run_id};
pub use load::{load, ConfigError};
pub use validate::{check, key, Invalid, Validate};
