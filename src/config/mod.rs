//! Experiment configuration: figment layers, schema, validation, hashing.

pub mod validate;

pub use validate::{check, key, Invalid, Validate};
