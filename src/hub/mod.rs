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
//! - [`inputs`]: checkpoint references made local (pinning is `crate::experiment::pin`).
//! - [`export`]: a finished run as a folder ready to upload (weights, config, model card).

pub mod cache;
pub mod client;
mod download;
pub mod env;
pub mod error;
pub mod export;
pub mod inputs;
pub mod reference;
pub mod verify;

pub use client::{Hub, Pulled, RepoInfo};
pub use env::HubEnv;
pub use error::HubError;
pub use inputs::{checkpoint, Checkpoint};
pub use reference::{HubRef, RepoKind};
