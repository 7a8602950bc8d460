//! The denoiser: a DiT (Peebles & Xie 2023) in pixel space with adaLN-zero
//! timestep modulation, per-block pose injection, gated reference attention,
//! and temporal blocks, every unit gated (docs/paper.md §1-2, docs/design.md#model).
//!
//! Forward order: reference encoder (`reference.embed`, `reference.NN`), pose
//! guider (`pose`), patch and time embeddings (`embed`, `time`), then
//! `spatial.00`, `temporal.00`, `spatial.01`, ... and the final layer (`final`).
//! Each stage starts exactly at the previous model: adaLN modulations, pose
//! projections, reference gates and temporal output projections all start at
//! zero, so a newly enabled path contributes nothing until it is trained.
//!
//! Freezing pays because candle builds a graph only from variables: a frozen
//! unit hands out detached weights, so everything upstream of the first
//! trainable unit runs without recording backward state, and frozen linear
//! layers downstream use the input-gradient-only op.

use candle_core::{Device, Result, Tensor};

use super::block::{BlockId, BlockKind, Gate, GateError, Gates, PARTS};
use super::embed::{PatchEmbed, TimeEmbed};
use super::final_layer::FinalLayer;
use super::params::{Param, ParamBuilder};
use super::pose_guider::PoseGuider;
use super::reference::ReferenceEncoder;
pub use super::spatial::SpatialBlock;
use super::temporal::TemporalBlock;
use super::{ModelConfig, ModelError};

/// One denoising call's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Noisy clips x_tau `[b, t, 3, H, W]` (images: t = 1).
    pub x_t: &'a Tensor,
    /// Diffusion timestep tau per clip.
    pub timesteps: &'a [usize],
    /// Reference images `[b, 3, H, W]`, or none (unconditional).
    pub reference: Option<&'a Tensor>,
    /// Pose maps `[b, t, 3, H, W]`, or none (unconditional).
    pub poses: Option<&'a Tensor>,
    /// Per clip 1 (keep conditions) or 0 (drop them: classifier-free guidance);
    /// none keeps all.
    pub cond_keep: Option<&'a [f32]>,
}

/// `[b, ...]` -> `[b t, ...]`, each clip's row repeated for its `t` frames.
pub(super) fn repeat_frames(x: &Tensor, t: usize) -> Result<Tensor> {
    if t == 1 {
        return Ok(x.clone());
    }
    let mut dims = x.dims().to_vec();
    let b = dims[0];
    dims.insert(1, t);
    let mut out = dims[1..].to_vec();
    out[0] = b * t;
    x.unsqueeze(1)?.broadcast_as(dims)?.contiguous()?.reshape(out)
}

/// The pose-guided video denoiser eps_theta(x_tau, tau, reference, poses).
pub struct Denoiser {
    pub(super) cfg: ModelConfig,
    pub(super) params: Vec<Param>,
    pub(super) gates: Gates,
    pub(super) embed: PatchEmbed,
    pub(super) time: TimeEmbed,
    pub(super) pose: PoseGuider,
    pub(super) reference: ReferenceEncoder,
    pub(super) spatial: Vec<SpatialBlock>,
    pub(super) temporal: Vec<TemporalBlock>,
    pub(super) final_layer: FinalLayer,
    pub(super) device: Device,
}

impl Denoiser {
    /// Builds every parameter from the `init.<name>` streams of `seed`; all
    /// units start trainable.
    pub fn new(cfg: ModelConfig, seed: u64, device: &Device) -> std::result::Result<Self, ModelError> {
        Self::build(cfg, seed, device).map_err(|e| ModelError::Tensor {
            context: "building the denoiser".into(),
            source: e,
        })
    }

    /// Sorted `(name, shape)` of the parameters `cfg` would have, without
    /// allocating them (works for the `paper` preset on a laptop).
    pub fn shapes_of(cfg: &ModelConfig) -> std::result::Result<Vec<(String, Vec<usize>)>, ModelError> {
        let root = ParamBuilder::dry();
        Self::build_with(cfg.clone(), &root).map_err(|e| ModelError::Tensor {
            context: "listing parameters".into(),
            source: e,
        })?;
        let mut v = root.shapes();
        v.sort();
        Ok(v)
    }

    fn build(cfg: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::build_with(cfg, &ParamBuilder::new(seed, device))
    }

    fn build_with(cfg: ModelConfig, root: &ParamBuilder) -> Result<Self> {
        let root = root.clone();
        let device = root.device().clone();
        let device = &device;
        let fo = cfg.frozen_linear_op;
        let reference = ReferenceEncoder::new(&root, &cfg)?;
        let pose = PoseGuider::new(&root.unit("pose"), cfg.patch, cfg.pose_hidden, cfg.pose_dim, fo)?;
        let embed = PatchEmbed::new(&root.unit("embed"), cfg.image_size, cfg.patch, cfg.dim, fo)?;
        let time = TimeEmbed::new(&root.unit("time"), cfg.dim, fo)?;
        let mut spatial = Vec::new();
        let mut temporal = Vec::new();
        for i in 0..cfg.depth {
            spatial.push(SpatialBlock::new(&root, i, &cfg)?);
            if cfg.temporal {
                temporal.push(TemporalBlock::new(&root, i, &cfg)?);
            }
        }
        let final_layer = FinalLayer::new(&root.unit("final"), &cfg)?;
        let params = root.params();
        let mut units: Vec<String> = PARTS.iter().map(|s| s.to_string()).collect();
        units.extend(block_ids(&cfg).iter().map(|id| id.to_string()));
        let gates = Gates::all(units, Gate::Trainable);
        Ok(Self {
            cfg,
            params,
            gates,
            embed,
            time,
            pose,
            reference,
            spatial,
            temporal,
            final_layer,
            device: device.clone(),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The device its parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every parameter, in creation order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Parameters whose unit is trainable now.
    pub fn trainable_params(&self) -> Vec<&Param> {
        self.params
            .iter()
            .filter(|p| self.gates.get(&p.unit) == Gate::Trainable)
            .collect()
    }

    /// Sorted `(name, shape)` of every parameter (the checkpoint layout).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<_> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.var.dims().to_vec()))
            .collect();
        v.sort();
        v
    }

    /// Current gates of all units.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    /// Replaces all gates (e.g. from a stage's gate plan).
    pub fn set_gates(&mut self, gates: Gates) -> std::result::Result<(), GateError> {
        for (unit, gate) in gates.iter() {
            self.gates.set(unit, gate)?;
        }
        Ok(())
    }

    /// Sets the gate of one unit (block or part).
    pub fn set_gate(&mut self, unit: &str, gate: Gate) -> std::result::Result<(), GateError> {
        self.gates.set(unit, gate)
    }

    pub(super) fn trains(&self, unit: &str) -> bool {
        self.gates.get(unit) == Gate::Trainable
    }

    pub(super) fn runs(&self, unit: &str) -> bool {
        self.gates.get(unit) != Gate::Skipped
    }
}

/// Block ids of a config in forward order.
pub fn block_ids(cfg: &ModelConfig) -> Vec<BlockId> {
    let mut ids: Vec<BlockId> = (0..cfg.reference_depth)
        .map(|i| BlockId::new(BlockKind::Reference, i))
        .collect();
    for i in 0..cfg.depth {
        ids.push(BlockId::new(BlockKind::Spatial, i));
        if cfg.temporal {
            ids.push(BlockId::new(BlockKind::Temporal, i));
        }
    }
    ids
}
