//! Dance datasets: a seeded procedural renderer of a dancing person, three
//! synthetic profiles mirroring the paper's datasets (TikTok, UBC-Fashion,
//! Bilibili; docs/paper.md section 6), Hugging Face-layout Parquet shards, the
//! loaders the trainer reads, and an importer for real frame folders.
//!
//! Files, one concept each:
//! - [`profile`]: a dataset profile (`datasets/<name>.toml`), validated;
//!   `profile_sections` holds its camera, scene, clothing and motion sections.
//! - [`config`]: the `[data]` section of an experiment config.
//! - [`raster`]: a small anti-aliased coverage rasterizer (capsules, ellipses, polygons).
//! - [`figure`]: an identity (proportions, tones, outfit) and its 3D skeleton.
//!   `identity` draws the person and `outfit` the garments.
//! - [`choreography`]: seeded keyframed dance motion, turns, gait.
//! - [`scene`]: backgrounds and the hand-held / studio camera.
//!   `camera` frames the clip; `backdrop` draws the three kinds of background.
//! - [`pose`]: 18 COCO-order keypoints and the OpenPose-style pose map.
//! - `parts`: the body as depth-sorted filled shapes with cloth patterns.
//!   `torso` and `head` are its larger parts; `shading` colours them.
//! - [`render`]: one frame: RGB, pose map, keypoints, person mask.
//! - [`generate`]: a whole synthetic dataset from a profile.
//! - [`shards`]: Parquet shards, manifest, staging.
//!   `shard_file` reads and writes one shard, `manifest` is `manifest.json`,
//!   `staging` writes a dataset atomically.
//! - [`card`]: the dataset card with the Hub's YAML header.
//! - [`hub`]: `hf://datasets/...` references pulled and checked as datasets.
//! - [`dataset`]: a built dataset decoded into memory.
//! - [`loader`]: image- and video-mode batches, deterministic order.
//! - [`import`]: real frame-folder datasets into the same shards.
//! - [`preview`]: contact sheets and GIFs.

mod backdrop;
mod camera;
pub mod card;
pub mod choreography;
pub mod config;
pub mod dataset;
pub mod error;
pub mod figure;
pub mod generate;
mod head;
pub mod hub;
mod identity;
pub mod import;
pub mod loader;
mod manifest;
mod outfit;
mod parts;
pub mod pose;
pub mod preview;
pub mod profile;
mod profile_sections;
pub mod raster;
pub mod render;
pub mod scene;
mod shading;
mod shard_file;
pub mod shards;
mod staging;
mod torso;

pub use config::{DataConfig, MixedLoader};
pub use dataset::{Dataset, Split, Video};
pub use error::DataError;
pub use generate::{build, ensure_built};
pub use import::{import_frames, ImportOptions};
pub use loader::{Batch, Loader};
pub use profile::DatasetProfile;
pub use shards::{DatasetManifest, ShardInfo};
