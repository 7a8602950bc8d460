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

/// The moments of one parameter.
#[derive(Debug, Clone)]
pub struct Moments {
    /// First moment m.
    pub m: Tensor,
    /// Second moment v.
    pub v: Tensor,
    /// Updates applied to this parameter so far.
    pub step: u64,
}

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
    /// The checkpoint was written by a model of another architecture.
    #[error(
        "checkpoint {path} was written by a model with model.{key} = {found}, this model has {expected} \
         (a checkpoint of another preset or architecture)"
    )]
    Architecture {
        path: PathBuf,
        key: &'static str,
        found: String,
        expected: String,
    },
    /// A tensor in the file names no parameter of the model.
    #[error(
        "checkpoint {path}: tensor `{name}` is not a parameter of this model \
         ({count} such tensors: a checkpoint of another preset or architecture)"
    )]
    Unexpected { path: PathBuf, name: String, count: usize },
    /// A parameter the model has is absent from a checkpoint it resumes from.
    #[error("checkpoint {path}: parameter `{name}` is missing ({count} missing), so the run cannot resume from it")]
    Missing { path: PathBuf, name: String, count: usize },
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
    /// The diffusion settings it was trained with (schedule, prediction), so
    /// `entprog sample` denoises as the model learned to. Absent in older
    /// checkpoints (read as the defaults of their time: cosine, eps).
    #[serde(default)]
    pub diffusion: Option<crate::diffusion::DiffusionConfig>,
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

/// The first architecture difference between the model that wrote a
/// checkpoint and `model` (settings that do not change the weights, such as
/// the kernel choice, are not compared).
pub fn check_architecture(
    path: &Path,
    written_by: &crate::model::ModelConfig,
    model: &crate::model::ModelConfig,
) -> Result<(), CheckpointError> {
    let fields: [(&'static str, String, String); 11] = [
        (
            "image_size",
            written_by.image_size.to_string(),
            model.image_size.to_string(),
        ),
        ("patch", written_by.patch.to_string(), model.patch.to_string()),
        ("dim", written_by.dim.to_string(), model.dim.to_string()),
        ("heads", written_by.heads.to_string(), model.heads.to_string()),
        ("depth", written_by.depth.to_string(), model.depth.to_string()),
        ("temporal", written_by.temporal.to_string(), model.temporal.to_string()),
        (
            "reference_depth",
            written_by.reference_depth.to_string(),
            model.reference_depth.to_string(),
        ),
        (
            "mlp_ratio",
            written_by.mlp_ratio.to_string(),
            model.mlp_ratio.to_string(),
        ),
        (
            "pose_hidden",
            written_by.pose_hidden.to_string(),
            model.pose_hidden.to_string(),
        ),
        ("pose_dim", written_by.pose_dim.to_string(), model.pose_dim.to_string()),
        ("norm_eps", written_by.norm_eps.to_string(), model.norm_eps.to_string()),
    ];
    match fields.into_iter().find(|(_, a, b)| a != b) {
        Some((key, found, expected)) => Err(CheckpointError::Architecture {
            path: path.into(),
            key,
            found,
            expected,
        }),
        None => Ok(()),
    }
}

/// Checks that a checkpoint fits `model` and copies its weights in: the
/// architecture it was written by (when recorded), every tensor's shape, no
/// tensor the model lacks, and (`resume`) no parameter missing. A stage's
/// start (`resume = false`) may add parameters; they keep their
/// initialisation and are listed in the report's `missing`.
pub fn load_fitting(
    path: &Path,
    model: &Denoiser,
    ck: &Checkpoint,
    resume: bool,
) -> Result<LoadReport, CheckpointError> {
    if let Some(written_by) = &ck.state.model {
        check_architecture(path, written_by, model.config())?;
    }
    let report = load_weights(path, model, &ck.weights)?;
    if let Some(name) = report.unexpected.first() {
        return Err(CheckpointError::Unexpected {
            path: path.into(),
            name: name.clone(),
            count: report.unexpected.len(),
        });
    }
    if let Some(name) = report.missing.first().filter(|_| resume) {
        return Err(CheckpointError::Missing {
            path: path.into(),
            name: name.clone(),
            count: report.missing.len(),
        });
    }
    Ok(report)
}

/// Loads the weights of the checkpoint at `path` into `model` as a stage's
/// start ([`load_fitting`] without `resume`): for `train.init_from`, and for
/// the scoring commands' starting model.
pub fn init_weights(path: &Path, model: &Denoiser) -> Result<LoadReport, CheckpointError> {
    let ck = load(path, model.device())?;
    load_fitting(path, model, &ck, false)
}

/// Copies `weights` into the model's parameters by name; shapes must match.
/// Tensors the model lacks and parameters the file lacks are only reported
/// ([`load_fitting`] refuses them).
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
