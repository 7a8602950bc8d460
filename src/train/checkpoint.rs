//! Checkpoints: one safetensors file holding the weights (`model.<name>`),
//! AdamW moments (`adamw.m.<name>`, `adamw.v.<name>`), EMA weights
//! (`ema.<name>`), and in its metadata (key `entprog`) a JSON
//! [`TrainState`]: step, per-parameter AdamW step counts, the root seed and
//! the next index of every random stream, the gates, and the config hash.
//! Files are written to a temporary name and renamed, so a crash never
//! leaves a half-written checkpoint where the last good one was.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::{Denoiser, Gates};

use super::adamw::Moments;

/// Errors reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("checkpoint {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The safetensors container is malformed.
    #[error("checkpoint {path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A tensor in the file does not fit the model.
    #[error("checkpoint {path}: tensor `{name}` has shape {got:?}, the model expects {expected:?}")]
    Shape {
        path: PathBuf,
        name: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor operation failed.
    #[error("checkpoint {path}: {source}")]
    Tensor { path: PathBuf, source: candle_core::Error },
}

/// Everything about a run's progress that is not a tensor.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Number of completed steps (the next step to run).
    pub step: u64,
    /// Root seed of the run.
    pub seed: u64,
    /// Next index of each named random stream (`noise`, `timesteps`,
    /// `cond_dropout`, `data`); streams are indexed by step, so each equals
    /// `step`, recorded so a reader need not know that.
    pub streams: BTreeMap<String, u64>,
    /// AdamW update count per parameter name.
    pub adam_steps: BTreeMap<String, u64>,
    /// Gates at the time of saving.
    pub gates: Gates,
    /// Loss of the last completed step.
    pub last_loss: Option<f32>,
    /// Hash of the resolved experiment config, when known.
    pub config_hash: Option<String>,
    /// The model's config, so a checkpoint alone rebuilds its model (`entprog sample`).
    #[serde(default)]
    pub model: Option<crate::model::ModelConfig>,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// Progress metadata.
    pub state: TrainState,
    /// Model weights by parameter name.
    pub weights: BTreeMap<String, Tensor>,
    /// AdamW state by parameter name.
    pub moments: BTreeMap<String, Moments>,
    /// EMA weights by parameter name (empty when EMA is off).
    pub ema: BTreeMap<String, Tensor>,
}

const META_KEY: &str = "entprog";

/// Writes a checkpoint of `model` with optimizer `moments`, `ema` weights and `state`.
pub fn save(
    path: &Path,
    model: &Denoiser,
    moments: &BTreeMap<String, Moments>,
    ema: Option<&BTreeMap<String, Tensor>>,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for p in model.params() {
        tensors.push((format!("model.{}", p.name), p.var.as_tensor().detach()));
    }
    for (name, m) in moments {
        tensors.push((format!("adamw.m.{name}"), m.m.clone()));
        tensors.push((format!("adamw.v.{name}"), m.v.clone()));
    }
    for (name, w) in ema.into_iter().flatten() {
        tensors.push((format!("ema.{name}"), w.clone()));
    }
    let json = serde_json::to_string(state).map_err(|e| CheckpointError::Format {
        path: path.into(),
        message: e.to_string(),
    })?;
    let meta = HashMap::from([(META_KEY.to_string(), json)]);
    let io = |source| CheckpointError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta), &tmp).map_err(|e| {
        CheckpointError::Format {
            path: tmp.clone(),
            message: e.to_string(),
        }
    })?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.into(),
        source,
    })?;
    let fmt = |message: String| CheckpointError::Format {
        path: path.into(),
        message,
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fmt(e.to_string()))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| fmt(format!("no `{META_KEY}` metadata")))?;
    let state: TrainState = serde_json::from_str(json).map_err(|e| fmt(e.to_string()))?;
    let all = candle_core::safetensors::load_buffer(&bytes, device).map_err(|source| CheckpointError::Tensor {
        path: path.into(),
        source,
    })?;
    let mut ck = Checkpoint {
        state,
        weights: BTreeMap::new(),
        moments: BTreeMap::new(),
        ema: BTreeMap::new(),
    };
    let mut m_parts = BTreeMap::new();
    let mut v_parts = BTreeMap::new();
    for (name, t) in all {
        if let Some(n) = name.strip_prefix("model.") {
            ck.weights.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("adamw.m.") {
            m_parts.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("adamw.v.") {
            v_parts.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("ema.") {
            ck.ema.insert(n.to_string(), t);
        } else {
            return Err(fmt(format!("unexpected tensor `{name}`")));
        }
    }
    for (name, m) in m_parts {
        let v = v_parts
            .remove(&name)
            .ok_or_else(|| fmt(format!("adamw.m.{name} has no adamw.v")))?;
        let step = ck.state.adam_steps.get(&name).copied().unwrap_or(0);
        ck.moments.insert(name, Moments { m, v, step });
    }
    Ok(ck)
}

/// What [`load_weights`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadReport {
    /// Parameters set from the checkpoint.
    pub loaded: usize,
    /// Model parameters absent from the checkpoint (they keep their
    /// initialisation: new zero-initialised paths of a later stage).
    pub missing: Vec<String>,
    /// Checkpoint tensors the model has no parameter for.
    pub unexpected: Vec<String>,
}

/// Copies `weights` into the model's parameters by name; shapes must match.
pub fn load_weights(
    path: &Path,
    model: &Denoiser,
    weights: &BTreeMap<String, Tensor>,
) -> Result<LoadReport, CheckpointError> {
    let mut report = LoadReport::default();
    for p in model.params() {
        match weights.get(&p.name) {
            Some(t) if t.dims() != p.var.dims() => {
                return Err(CheckpointError::Shape {
                    path: path.into(),
                    name: p.name.clone(),
                    got: t.dims().to_vec(),
                    expected: p.var.dims().to_vec(),
                })
            }
            Some(t) => {
                p.var.set(t).map_err(|source| CheckpointError::Tensor {
                    path: path.into(),
                    source,
                })?;
                report.loaded += 1;
            }
            None => report.missing.push(p.name.clone()),
        }
    }
    let known: std::collections::BTreeSet<&str> = model.params().iter().map(|p| p.name.as_str()).collect();
    report.unexpected = weights
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect();
    Ok(report)
}
