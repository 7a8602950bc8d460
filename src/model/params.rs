//! Named parameters, each owned by one gated unit, created from seeded streams.
//!
//! Every parameter is a candle `Var` named by its field path
//! (`spatial.07.attn.qkv.weight`), so the checkpoint name is the Rust path
//! (docs/style.md §2). Its initial values come from the stream
//! `init.<name>` of the model seed, so adding a layer never shifts another
//! layer's initialisation. At forward time a parameter is handed out as the
//! variable itself when its unit trains and as a detached tensor otherwise,
//! so frozen weights never enter the autograd graph and gates can change
//! between steps without rebuilding anything.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::{Device, Result, Shape, Tensor, Var};
use rand::Rng;

use crate::diffusion::loss::normal_vec;
use crate::seed;

/// A parameter name and its shape.
pub type NamedShape = (String, Vec<usize>);

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (adaLN-zero modulations, zero-initialised output projections, gates).
    Zeros,
    /// All ones.
    Ones,
    /// Uniform in [-a, a] with a = sqrt(6 / (fan_in + fan_out)) (Xavier; DiT's linear init).
    XavierUniform,
    /// Normal with the given standard deviation.
    Normal(f64),
}

/// One parameter: its name, the unit whose gate governs it, and its storage.
#[derive(Debug, Clone)]
pub struct Param {
    /// Checkpoint name, the field path.
    pub name: String,
    /// Gated unit that owns it (`spatial.07`, `embed`, ...).
    pub unit: String,
    /// The values.
    pub var: Var,
}

impl Param {
    /// The tensor to compute with: the variable when `trainable`, else a
    /// detached view of the same storage (no gradient is tracked).
    pub fn get(&self, trainable: bool) -> Tensor {
        if trainable {
            self.var.as_tensor().clone()
        } else {
            self.var.as_detached_tensor()
        }
    }
}

/// Creates parameters under a path prefix, recording them in creation order.
#[derive(Clone)]
pub struct ParamBuilder {
    registry: Rc<RefCell<Vec<Param>>>,
    path: String,
    unit: String,
    seed: u64,
    device: Device,
    /// Record names and shapes only (one-element placeholders), for listing
    /// the parameters of presets too large to allocate.
    dry: bool,
    shapes: Rc<RefCell<Vec<NamedShape>>>,
}

impl ParamBuilder {
    /// A root builder for a model seeded `seed`.
    pub fn new(seed: u64, device: &Device) -> Self {
        Self {
            registry: Rc::default(),
            path: String::new(),
            unit: String::new(),
            seed,
            device: device.clone(),
            dry: false,
            shapes: Rc::default(),
        }
    }

    /// A root builder that allocates no parameter memory; only
    /// [`ParamBuilder::shapes`] is meaningful afterwards.
    pub fn dry() -> Self {
        Self {
            dry: true,
            ..Self::new(0, &Device::Cpu)
        }
    }

    /// `(name, shape)` of every parameter created so far, in creation order.
    pub fn shapes(&self) -> Vec<NamedShape> {
        self.shapes.borrow().clone()
    }

    /// A child builder: names gain `.name`.
    pub fn pp(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        Self { path, ..self.clone() }
    }

    /// A child builder that also starts a new gated unit named by the full path.
    pub fn unit(&self, name: &str) -> Self {
        let child = self.pp(name);
        Self {
            unit: child.path.clone(),
            ..child
        }
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Creates parameter `name` of `shape` (`[fan_out, fan_in, ...]` for weights).
    pub fn get(&self, shape: impl Into<Shape>, name: &str, init: Init) -> Result<Param> {
        let shape: Shape = shape.into();
        let full = self.pp(name).path;
        self.shapes.borrow_mut().push((full.clone(), shape.dims().to_vec()));
        if self.dry {
            let var = Var::zeros(1, candle_core::DType::F32, &self.device)?;
            return Ok(Param {
                name: full,
                unit: self.unit.clone(),
                var,
            });
        }
        let n = shape.elem_count();
        let mut rng = seed::stream(self.seed, &format!("init.{full}"), 0);
        let values: Vec<f32> = match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal(std) => normal_vec(&mut rng, n).into_iter().map(|v| v * std as f32).collect(),
            Init::XavierUniform => {
                let dims = shape.dims();
                let receptive: usize = dims.iter().skip(2).product();
                let fan_out = dims[0] * receptive;
                let fan_in = dims.get(1).copied().unwrap_or(1) * receptive;
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                (0..n).map(|_| rng.random_range(-a..a)).collect()
            }
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, &self.device)?)?;
        let p = Param {
            name: full,
            unit: self.unit.clone(),
            var,
        };
        self.registry.borrow_mut().push(p.clone());
        Ok(p)
    }

    /// All parameters created so far through this builder or any of its children.
    pub fn params(&self) -> Vec<Param> {
        self.registry.borrow().clone()
    }
}
