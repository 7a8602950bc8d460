//! The Hugging Face Hub: `hf://` references to models and datasets at a
//! pinned commit, pulled into the cache Python's `huggingface_hub` shares,
//! verified before the cache trusts them, and served offline from it.
//!
//! - [`reference`]: `hf://[datasets/]<org>/<name>[@<revision>][/<path>]`, parsed.
//! - [`env`]: `HF_HOME` / `HF_HUB_CACHE`, `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`.
//! - [`cache`]: the `models--org--name/{blobs,snapshots,refs}` layout; atomic placement.
//! - [`verify`]: size and ETag digest checks of a download.
//! - [`client`]: resolve, list and pull over the `hf-hub` crate.
//! - `download`: one body fetched, resumed and verified into `blobs/`.
//! - [`dataset`]: dataset repositories in the shard layout, checked before loading.
//! - [`inputs`]: references in run configs pinned to commits, made local.
//! - [`export`]: a finished run as a folder ready to upload (weights, config, model card).
//! - [`cli`]: `entprog hub pull`, `ls` and `export`.

pub mod cache;
pub mod cli;
pub mod client;
pub mod dataset;
mod download;
pub mod env;
pub mod error;
pub mod export;
pub mod inputs;
pub mod reference;
pub mod verify;

pub use cli::HubCommand;
pub use client::{Hub, Pulled, RepoInfo};
pub use dataset::dataset_dir;
pub use env::HubEnv;
pub use error::HubError;
pub use inputs::{checkpoint, pin_experiment, Checkpoint};
pub use reference::{HubRef, RepoKind};
