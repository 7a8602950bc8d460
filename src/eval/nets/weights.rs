//! Reading a feature network's weights from a safetensors file by local
//! path, under the tensor names of the reference PyTorch state dict.
//!
//! [`Weights`] plays the part of candle's `VarBuilder`: `pp("Mixed_5b")`
//! descends one module, `get(shape, "weight")` returns the tensor at the
//! dotted path, so the Rust field path is the checkpoint name. Unlike a
//! `VarBuilder` its errors name the file as well as the tensor and both
//! shapes, and it records which names were read, so a test can compare the
//! read set with the reference state dict's names.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};

/// A feature network's weights file did not load; one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The file is missing or is not a safetensors file.
    #[error("{}: cannot read as safetensors: {message}", path.display())]
    Open { path: PathBuf, message: String },
    /// A tensor the network needs is not in the file.
    #[error("{}: tensor {tensor} missing, expected shape {expected:?}", path.display())]
    Missing {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
    },
    /// A tensor has another shape than the network needs.
    #[error("{}: tensor {tensor} has shape {found:?}, expected {expected:?}", path.display())]
    Shape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// An input of the wrong shape or a failed tensor operation.
    #[error("{what}: {message}")]
    Forward { what: String, message: String },
}

impl NetError {
    /// Wraps a candle error of a forward pass, naming the network.
    pub fn forward(what: &str) -> impl Fn(candle_core::Error) -> NetError + '_ {
        move |e| NetError::Forward {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}

struct Store {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    /// Fabricate every requested tensor (timing only: `entprog bench nets`).
    synthetic: bool,
    read: Mutex<BTreeSet<String>>,
}

/// The tensors of one weights file, seen from one module path.
#[derive(Clone)]
pub struct Weights {
    store: Arc<Store>,
    prefix: String,
}

impl Weights {
    /// Loads every tensor of a safetensors file as f32 on the CPU.
    pub fn open(path: &Path) -> Result<Self, NetError> {
        let open = |message: String| NetError::Open {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(open("no such file".into()));
        }
        let raw = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| open(e.to_string()))?;
        let tensors = raw
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()
            .map_err(|e| open(e.to_string()))?;
        Ok(Self {
            store: Arc::new(Store {
                path: path.to_path_buf(),
                tensors,
                synthetic: false,
                read: Mutex::new(BTreeSet::new()),
            }),
            prefix: String::new(),
        })
    }

    /// Weights that answer every request with a tensor of the requested
    /// shape (0.01 everywhere, running variances 1): for timing a network
    /// without its checkpoint, never for scores.
    pub fn synthetic() -> Self {
        Self {
            store: Arc::new(Store {
                path: PathBuf::from("<synthetic>"),
                tensors: HashMap::new(),
                synthetic: true,
                read: Mutex::new(BTreeSet::new()),
            }),
            prefix: String::new(),
        }
    }

    /// The same file, one module deeper (`pp("branch1x1")`).
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        let prefix = match self.prefix.as_str() {
            "" => name.to_string(),
            p => format!("{p}.{name}"),
        };
        Self {
            store: self.store.clone(),
            prefix,
        }
    }

    /// The tensor `name` under this module path, checked against `shape`.
    pub fn get(&self, shape: &[usize], name: &str) -> Result<Tensor, NetError> {
        let full = match self.prefix.as_str() {
            "" => name.to_string(),
            p => format!("{p}.{name}"),
        };
        if self.store.synthetic {
            let value: f32 = if name == "running_var" { 1.0 } else { 0.01 };
            return Tensor::full(value, shape, &Device::Cpu).map_err(NetError::forward("synthetic weights"));
        }
        let t = self.store.tensors.get(&full).ok_or_else(|| NetError::Missing {
            path: self.store.path.clone(),
            tensor: full.clone(),
            expected: shape.to_vec(),
        })?;
        if t.dims() != shape {
            return Err(NetError::Shape {
                path: self.store.path.clone(),
                tensor: full,
                expected: shape.to_vec(),
                found: t.dims().to_vec(),
            });
        }
        self.store
            .read
            .lock()
            .expect("no panics while holding the lock")
            .insert(full);
        Ok(t.clone())
    }

    /// The file the weights came from.
    pub fn path(&self) -> &Path {
        &self.store.path
    }

    /// Every tensor name read so far, sorted.
    pub fn read_names(&self) -> Vec<String> {
        self.store
            .read
            .lock()
            .expect("no panics while holding the lock")
            .iter()
            .cloned()
            .collect()
    }
}
