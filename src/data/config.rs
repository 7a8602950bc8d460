//! The `[data]` section of an experiment config: which dataset, where it
//! lives, and how clips are cut from it (paper section 1: images are one-frame
//! clips, stage 3 trains on T-frame clips).

use std::path::PathBuf;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Split};
use super::error::DataError;
use super::generate::ensure_built;
use super::loader::Loader;

use crate::config::{check, key, Invalid, Validate};

/// Dataset selection and clip shape for a run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Dataset name: `<root>/<dataset>.toml` (synthetic, built on demand) or an imported `<root>/<dataset>/`;
    /// or a Hub dataset repository in the same layout, `hf://datasets/<org>/<name>[@<revision>]`.
    pub dataset: String,
    /// More datasets whose batches interleave with `dataset`'s in training:
    /// step s draws a whole batch from dataset s mod k (k = 1 + this list's
    /// length), at that dataset's own step s div k. The foundation pretrains
    /// on all three dance datasets this way.
    pub mix: Vec<String>,
    /// Folder holding the dataset profiles and the built datasets.
    pub root: PathBuf,
    /// Frames per clip, T (1 = image mode: reference + one target frame and its pose).
    pub clip_frames: usize,
    /// Frame step between consecutive clip frames (1 = consecutive frames).
    pub stride: usize,
    /// Number of fixed held-out batches (test split) used for evaluation.
    pub eval_batches: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "tiktok".into(),
            mix: Vec::new(),
            root: PathBuf::from("datasets"),
            clip_frames: 1,
            stride: 1,
            eval_batches: 4,
        }
    }
}

/// The frame size (height, width) of dataset `name` under `root` and the
/// file it comes from, read without building: its profile, else the built
/// dataset's manifest; `None` for a Hub dataset or one that is not there yet.
pub fn frame_size(root: &std::path::Path, name: &str) -> Option<(usize, usize, PathBuf)> {
    if name.starts_with(crate::hub::reference::SCHEME) {
        return None;
    }
    let toml = super::profile::profile_path(root, name);
    if toml.is_file() {
        let p = super::profile::DatasetProfile::from_file(&toml).ok()?;
        return Some((p.height, p.width, toml));
    }
    let dir = root.join(name);
    let m = super::shards::DatasetManifest::read(&dir).ok()?;
    Some((m.height, m.width, dir.join("manifest.json")))
}

impl DataConfig {
    /// Refuses, in one line naming the keys, a dataset (`dataset` or one of
    /// `mix`) whose frames are not `image_size` square: found before the
    /// model is built or a cell starts, not at the first step.
    pub fn check_frame_size(&self, image_size: usize) -> Result<(), DataError> {
        for name in self.names() {
            if let Some((height, width, source_path)) = frame_size(&self.root, name) {
                if (height, width) != (image_size, image_size) {
                    return Err(DataError::Resolution {
                        name: name.into(),
                        source_path,
                        height,
                        width,
                        image_size,
                    });
                }
            }
        }
        Ok(())
    }

    /// Builds the dataset if needed (see [`ensure_built`]) and loads it into memory.
    pub fn open(&self) -> Result<Arc<Dataset>, DataError> {
        let dir = ensure_built(&self.root, &self.dataset)?;
        Ok(Arc::new(Dataset::open(&dir)?))
    }

    /// `dataset` then the `mix` datasets, in batch order.
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(self.dataset.as_str())
            .chain(self.mix.iter().map(String::as_str))
            .collect()
    }

    /// Training loaders of every dataset in [`Self::names`]; the first keeps
    /// `seed`, the others draw their order from derived seeds.
    pub fn mixed_loader(&self, split: Split, batch_size: usize, seed: u64) -> Result<MixedLoader, DataError> {
        let mut loaders = Vec::new();
        for (i, name) in self.names().into_iter().enumerate() {
            let ds = Arc::new(Dataset::open(&ensure_built(&self.root, name)?)?);
            let s = if i == 0 {
                seed
            } else {
                crate::seed::derive_seed(seed, "data-mix", i as u64)
            };
            loaders.push(self.loader(ds, split, batch_size, s));
        }
        Ok(MixedLoader { loaders })
    }

    /// A loader over `ds` with this section's clip shape.
    pub fn loader(&self, ds: Arc<Dataset>, split: Split, batch_size: usize, seed: u64) -> Loader {
        Loader::new(ds, split, self.clip_frames, self.stride, batch_size, seed)
    }

    /// Frames a clip spans in its video: (T - 1) * stride + 1.
    pub fn clip_span(&self) -> usize {
        (self.clip_frames.max(1) - 1) * self.stride.max(1) + 1
    }
}

/// Batches that alternate between datasets by step (see [`DataConfig::mix`]):
/// a pure function of the step, so resume draws what an uninterrupted run draws.
#[derive(Debug)]
pub struct MixedLoader {
    loaders: Vec<Loader>,
}

impl MixedLoader {
    /// The batch of training step `step`: dataset `step mod k`, its step `step div k`.
    pub fn batch(&self, step: u64, device: &candle_core::Device) -> Result<super::Batch, DataError> {
        let k = self.loaders.len() as u64;
        self.loaders[(step % k) as usize].batch(step / k, device)
    }

    /// Number of datasets mixed.
    pub fn len(&self) -> usize {
        self.loaders.len()
    }

    /// Never true: a mix holds at least the main dataset.
    pub fn is_empty(&self) -> bool {
        self.loaders.is_empty()
    }
}

impl Validate for DataConfig {
    fn validate(&self, prefix: &str, out: &mut Vec<Invalid>) {
        let k = |f: &str| key(prefix, f);
        let name_ok = !self.dataset.is_empty()
            && self
                .dataset
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match hub_dataset_problem(&self.dataset) {
            Some(problem) => check(out, problem.is_empty(), k("dataset"), problem),
            None => check(
                out,
                name_ok,
                k("dataset"),
                format!(
                    "{:?} is not a dataset name, expected letters, digits, '-' or '_'",
                    self.dataset
                ),
            ),
        }
        for (i, m) in self.mix.iter().enumerate() {
            match hub_dataset_problem(m) {
                Some(problem) => check(out, problem.is_empty(), k("mix"), format!("entry {i}: {problem}")),
                None => check(
                    out,
                    !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    k("mix"),
                    format!("entry {i}: {m:?} is not a dataset name, expected letters, digits, '-' or '_'"),
                ),
            }
            check(
                out,
                m != &self.dataset && !self.mix[..i].contains(m),
                k("mix"),
                format!("entry {i}: {m:?} is listed twice, expected each dataset once"),
            );
        }
        check(
            out,
            (1..=256).contains(&self.clip_frames),
            k("clip_frames"),
            format!("{} is out of range, expected 1..=256", self.clip_frames),
        );
        check(
            out,
            (1..=64).contains(&self.stride),
            k("stride"),
            format!("{} is out of range, expected 1..=64", self.stride),
        );
        check(
            out,
            self.eval_batches >= 1,
            k("eval_batches"),
            format!("{} is out of range, expected >= 1", self.eval_batches),
        );
    }
}

/// `None` for a plain name; for an `hf://` reference, what is wrong with it
/// (empty when it is a valid dataset reference).
fn hub_dataset_problem(name: &str) -> Option<String> {
    let parsed = crate::hub::HubRef::from_path(std::path::Path::new(name))?;
    Some(match parsed {
        Err(e) => e.to_string(),
        Ok(r) if r.kind != crate::hub::RepoKind::Dataset => {
            format!("{name:?} names a model repository, expected hf://datasets/<org>/<name>[@<revision>]")
        }
        Ok(_) => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_image_mode() {
        let c = DataConfig::default();
        let mut out = Vec::new();
        c.validate("data", &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(c.clip_span(), 1);
    }

    #[test]
    fn zero_clip_frames_names_the_key() {
        let c = DataConfig {
            clip_frames: 0,
            dataset: "../x".into(),
            ..DataConfig::default()
        };
        let mut out = Vec::new();
        c.validate("data", &mut out);
        let keys: Vec<&str> = out.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["data.dataset", "data.clip_frames"]);
    }

    #[test]
    fn hub_dataset_references_are_datasets_and_model_or_bad_references_are_not() {
        let problems = |dataset: &str, mix: &[&str]| {
            let c = DataConfig {
                dataset: dataset.into(),
                mix: mix.iter().map(|m| m.to_string()).collect(),
                ..DataConfig::default()
            };
            let mut out = Vec::new();
            c.validate("data", &mut out);
            out.iter().map(|i| i.to_string()).collect::<Vec<_>>()
        };
        assert!(problems("hf://datasets/org/dance@v1", &["tiktok", "hf://datasets/org/b"]).is_empty());
        let model = problems("hf://org/tiny", &[]);
        assert!(
            model.len() == 1 && model[0].contains("names a model repository"),
            "{model:?}"
        );
        let bad = problems("tiktok", &["hf://datasets/x"]);
        assert!(
            bad.len() == 1 && bad[0].contains("entry 0: `hf://datasets/x` is not a hub reference"),
            "{bad:?}"
        );
    }

    #[test]
    fn span_counts_stride_gaps() {
        let c = DataConfig {
            clip_frames: 8,
            stride: 2,
            ..DataConfig::default()
        };
        assert_eq!(c.clip_span(), 15);
    }
}
