//! The denoiser: a DiT (Peebles & Xie 2023) in pixel space with adaLN-zero
//! timestep modulation, per-block pose injection, gated reference attention,
//! and temporal blocks, every unit gated (PAPER.md §1-2, DESIGN.md "Model").
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

use candle_core::{DType, Device, Result, Tensor};

use super::attention::Attention;
use super::block::{BlockId, BlockInfo, BlockKind, Blocks, Gate, GateError, Gates, PARTS};
use super::embed::{unpatchify, PatchEmbed, TimeEmbed};
use super::layers::{Linear, Mlp};
use super::ops::{self, Kernels};
use super::params::{Init, Param, ParamBuilder};
use super::pose_guider::PoseGuider;
use super::reference::ReferenceEncoder;
use super::tape::Tape;
use super::temporal::TemporalBlock;
use super::{flops, ModelConfig, ModelError};

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

/// Per-frame conditioning shared by all spatial blocks of one forward pass.
struct Conditioning {
    /// Time embedding repeated per frame `[b t, d]`.
    c: Tensor,
    /// Pose tokens `[b t, N, pose_dim]` (already zeroed for dropped clips).
    pose: Option<Tensor>,
    /// Reference tokens `[b, N, d]` and the per-frame keep mask `[b t, 1, 1, 1]`.
    reference: Option<(Tensor, Tensor)>,
    /// Frames per clip.
    t: usize,
}

/// Unit `spatial.NN`: adaLN-zero transformer block with pose injection and
/// reference-extended attention.
#[derive(Debug, Clone)]
pub struct SpatialBlock {
    /// Stable id.
    pub id: BlockId,
    adaln: Linear,
    attn: Attention,
    mlp: Mlp,
    pose_proj: Linear,
    ref_gate: Param,
    eps: f64,
    kernels: Kernels,
}

impl SpatialBlock {
    fn new(root: &ParamBuilder, index: usize, cfg: &ModelConfig) -> Result<Self> {
        let id = BlockId::new(BlockKind::Spatial, index);
        let pb = root.unit(&id.to_string());
        let fo = cfg.frozen_linear_op;
        Ok(Self {
            id,
            adaln: Linear::new(&pb.pp("adaln"), cfg.dim, 6 * cfg.dim, Init::Zeros, true, fo)?.with_kernels(cfg.kernels),
            attn: Attention::new(&pb.pp("attn"), cfg.dim, cfg.heads, false, fo, cfg.kernels)?,
            mlp: Mlp::new(&pb.pp("mlp"), cfg.dim, cfg.mlp_ratio, fo, cfg.kernels)?,
            // No bias: zero pose tokens (a dropped condition) then add exactly nothing.
            pose_proj: Linear::new(&pb.pp("pose_proj"), cfg.pose_dim, cfg.dim, Init::Zeros, false, fo)?
                .with_kernels(cfg.kernels),
            ref_gate: pb.get(1, "ref_gate", Init::Zeros)?,
            eps: cfg.norm_eps,
            kernels: cfg.kernels,
        })
    }

    /// x `[b t, N, d]` -> same.
    fn forward(&self, x: &Tensor, cond: &Conditioning, tr: bool) -> Result<Tensor> {
        let mut x = x.clone();
        if let Some(pose) = &cond.pose {
            x = self.pose_proj.forward_residual(pose, &x, tr)?;
        }
        let m = self.adaln.forward(&ops::silu(&cond.c)?, tr)?.chunk(6, 1)?; // 6 x [b t, d]
        let kern = self.kernels;
        let m: Vec<Tensor> = m.into_iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
        let h = ops::modulated_norm(&x, &m[0], &m[1], self.eps, kern)?;
        // Reference tokens through this block's own projections, attended
        // separately and added through the gate: scale [b t, 1, 1, 1].
        let scale = match &cond.reference {
            Some((_, keep)) => Some(keep.broadcast_mul(&self.ref_gate.get(tr))?),
            None => None,
        };
        let reference = cond.reference.as_ref().map(|(tokens, _)| tokens).zip(scale.as_ref());
        let o = self.attn.attend(&h, reference, cond.t, tr)?; // [b t, N, d]
        let a = self.attn.project_out(&o, tr)?;
        let x = ops::gated_residual(&x, &a, &m[2], kern)?;
        let h = ops::modulated_norm(&x, &m[3], &m[4], self.eps, kern)?;
        ops::gated_residual(&x, &self.mlp.forward(&h, tr)?, &m[5], kern)
    }
}

/// Unit `final`: adaLN-zero norm and a zero-initialised projection to patches.
#[derive(Debug, Clone)]
struct FinalLayer {
    adaln: Linear,
    proj: Linear,
    eps: f64,
    kernels: Kernels,
}

impl FinalLayer {
    fn new(pb: &ParamBuilder, cfg: &ModelConfig) -> Result<Self> {
        let fo = cfg.frozen_linear_op;
        Ok(Self {
            adaln: Linear::new(&pb.pp("adaln"), cfg.dim, 2 * cfg.dim, Init::Zeros, true, fo)?.with_kernels(cfg.kernels),
            proj: Linear::new(&pb.pp("proj"), cfg.dim, cfg.patch_dim(), Init::Zeros, true, fo)?
                .with_kernels(cfg.kernels),
            eps: cfg.norm_eps,
            kernels: cfg.kernels,
        })
    }

    fn forward(&self, x: &Tensor, c: &Tensor, tr: bool) -> Result<Tensor> {
        let m = self.adaln.forward(&ops::silu(c)?, tr)?.chunk(2, 1)?;
        let (shift, scale) = (m[0].contiguous()?, m[1].contiguous()?);
        self.proj
            .forward(&ops::modulated_norm(x, &shift, &scale, self.eps, self.kernels)?, tr)
    }
}

/// The pose-guided video denoiser eps_theta(x_tau, tau, reference, poses).
pub struct Denoiser {
    cfg: ModelConfig,
    params: Vec<Param>,
    gates: Gates,
    embed: PatchEmbed,
    time: TimeEmbed,
    pose: PoseGuider,
    reference: ReferenceEncoder,
    spatial: Vec<SpatialBlock>,
    temporal: Vec<TemporalBlock>,
    final_layer: FinalLayer,
    device: Device,
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

    fn trains(&self, unit: &str) -> bool {
        self.gates.get(unit) == Gate::Trainable
    }

    fn runs(&self, unit: &str) -> bool {
        self.gates.get(unit) != Gate::Skipped
    }

    /// Predicted noise eps_hat `[b, t, 3, H, W]`.
    pub fn forward(&self, inp: &Inputs) -> std::result::Result<Tensor, ModelError> {
        self.forward_taped(inp, &mut Tape::whole())
    }

    /// [`Denoiser::forward`] recording on `tape`: for training, the graph is
    /// cut after the conditioning and after every main-path block (see
    /// [`Tape`]), so that `tape.backward(loss)` frees each block's tensors
    /// once its gradients are through. [`Tape::whole`] cuts nothing.
    pub fn forward_taped(&self, inp: &Inputs, tape: &mut Tape) -> std::result::Result<Tensor, ModelError> {
        self.check_inputs(inp)?;
        crate::kernels::in_pool(|| self.forward_inner(inp, tape)).map_err(|e| ModelError::Tensor {
            context: "denoiser forward".into(),
            source: e,
        })
    }

    /// Conditioning and embedded tokens of a forward pass, before the first block.
    fn prepare(&self, inp: &Inputs) -> Result<(Conditioning, Tensor)> {
        let (b, t, ch, h, w) = inp.x_t.dims5()?;
        let keep = match inp.cond_keep {
            Some(k) => Tensor::from_slice(k, b, &self.device)?,
            None => Tensor::ones(b, DType::F32, &self.device)?,
        };
        let keep_frames = repeat_frames(&keep, t)?.reshape((b * t, 1, 1, 1))?;
        let pose = match inp.poses.filter(|_| self.runs("pose")) {
            Some(p) => {
                let tokens = self.pose.forward(&p.reshape((b * t, ch, h, w))?, self.trains("pose"))?;
                Some(tokens.broadcast_mul(&keep_frames.squeeze(3)?)?)
            }
            None => None,
        };
        let reference = match inp.reference.filter(|_| self.runs("reference.embed")) {
            Some(r) => Some((self.encode_reference(r)?, keep_frames)),
            None => None,
        };
        let c = self.time.forward(inp.timesteps, self.trains("time"), &self.device)?; // [b, d]
        let cond = Conditioning {
            c: repeat_frames(&c, t)?,
            pose,
            reference,
            t,
        };
        let x = self
            .embed
            .forward(&inp.x_t.reshape((b * t, ch, h, w))?, self.trains("embed"))?;
        Ok((cond, x))
    }

    /// The denoiser's main-path blocks in forward order: `spatial.00`,
    /// `temporal.00`, `spatial.01`, ...
    fn main_path(&self) -> Vec<BlockId> {
        let mut ids = Vec::with_capacity(self.spatial.len() + self.temporal.len());
        for (i, block) in self.spatial.iter().enumerate() {
            ids.push(block.id);
            if let Some(tb) = self.temporal.get(i) {
                ids.push(tb.id);
            }
        }
        ids
    }

    /// Runs main-path block `id` on `x` unless its gate skips it.
    fn run_block(&self, id: BlockId, x: Tensor, cond: &Conditioning) -> Result<Tensor> {
        let unit = id.to_string();
        if !self.runs(&unit) {
            return Ok(x);
        }
        let tr = self.trains(&unit);
        match id.kind {
            BlockKind::Spatial => self.spatial[id.index].forward(&x, cond, tr),
            BlockKind::Temporal => self.temporal[id.index].forward(&x, cond.t, tr),
            BlockKind::Reference => unreachable!("reference blocks run inside the reference encoder"),
        }
    }

    /// The final layer and unpatchify: tokens -> eps_hat `[b, t, 3, H, W]`.
    fn finish(&self, x: &Tensor, cond: &Conditioning, dims: &[usize]) -> Result<Tensor> {
        let out = self.final_layer.forward(x, &cond.c, self.trains("final"))?;
        unpatchify(&out, self.cfg.patch, 3)?.reshape(dims)
    }

    fn forward_inner(&self, inp: &Inputs, tape: &mut Tape) -> Result<Tensor> {
        let (mut cond, x) = self.prepare(inp)?;
        tape.segment();
        cond.c = tape.cut(cond.c)?;
        cond.pose = cond.pose.map(|p| tape.cut(p)).transpose()?;
        cond.reference = match cond.reference {
            Some((tokens, keep)) => Some((tape.cut(tokens)?, keep)),
            None => None,
        };
        let mut x = tape.cut(x)?;
        for id in self.main_path() {
            tape.segment();
            x = self.run_block(id, x, &cond)?;
            x = tape.cut(x)?;
        }
        self.finish(&x, &cond, inp.x_t.dims())
    }

    /// Predictions with each of `ids` skipped in turn, main-path blocks
    /// reusing the shared prefix: one pass to the deepest requested block
    /// keeps the tokens entering each, and each skipped prediction reruns
    /// only the blocks after it. Reference blocks change the reference
    /// tokens every spatial block reads, so they rerun the whole network.
    ///
    /// With `with_base`, the pass goes on to the end and also returns the
    /// prediction under the current gates (the same operations as
    /// [`Denoiser::forward`], so the same numbers).
    fn each_skipped_inner(
        &mut self,
        inp: &Inputs,
        ids: &[BlockId],
        with_base: bool,
    ) -> std::result::Result<(Option<Tensor>, Vec<Tensor>), ModelError> {
        let tensor = |e| ModelError::Tensor {
            context: "denoiser forward (prefix reuse)".into(),
            source: e,
        };
        self.check_inputs(inp)?;
        let path = self.main_path();
        let mut out: Vec<Option<Tensor>> = vec![None; ids.len()];
        for (slot, &id) in ids.iter().enumerate() {
            if id.kind == BlockKind::Reference {
                let before = self.gates.block(id);
                self.gates.set(&id.to_string(), Gate::Skipped)?;
                let pred = self.forward(inp);
                self.gates.set(&id.to_string(), before)?;
                out[slot] = Some(pred?.detach());
            } else if !path.contains(&id) {
                return Err(GateError::UnknownUnit {
                    unit: id.to_string(),
                    known: path.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
                }
                .into());
            }
        }
        if !with_base && out.iter().all(Option::is_some) {
            return Ok((None, out.into_iter().flatten().collect()));
        }
        let (cond, mut x) = self.prepare(inp).map_err(tensor)?;
        for (j, &id) in path.iter().enumerate() {
            for (slot, _) in ids.iter().enumerate().filter(|(_, &s)| s == id) {
                let mut y = x.clone();
                for &later in &path[j + 1..] {
                    y = self.run_block(later, y, &cond).map_err(tensor)?;
                }
                // Detached: the suffix's graph is freed now, not when every
                // prediction of the batch is done (26 suffix graphs of a
                // default batch held 5.7 GB).
                out[slot] = Some(self.finish(&y, &cond, inp.x_t.dims()).map_err(tensor)?.detach());
            }
            if !with_base && out.iter().all(Option::is_some) {
                break;
            }
            x = self.run_block(id, x, &cond).map_err(tensor)?;
        }
        let base = match with_base {
            true => Some(self.finish(&x, &cond, inp.x_t.dims()).map_err(tensor)?.detach()),
            false => None,
        };
        Ok((base, out.into_iter().flatten().collect()))
    }

    /// Reference image `[b, 3, H, W]` -> tokens `[b, N, d]`.
    fn encode_reference(&self, r: &Tensor) -> Result<Tensor> {
        let mut x = self.reference.embed.forward(r, self.trains("reference.embed"))?;
        for block in &self.reference.blocks {
            let unit = block.id.to_string();
            if self.runs(&unit) {
                x = block.forward(&x, self.trains(&unit))?;
            }
        }
        ops::norm(&x, self.cfg.norm_eps, self.cfg.kernels)
    }

    fn check_inputs(&self, inp: &Inputs) -> std::result::Result<(), ModelError> {
        let s = self.cfg.image_size;
        let dims = inp.x_t.dims();
        let ok = dims.len() == 5 && dims[2] == 3 && dims[3] == s && dims[4] == s;
        let bad = |name: &str, got: &[usize], expected: String| ModelError::Input {
            name: name.into(),
            got: got.to_vec(),
            expected,
        };
        if !ok {
            return Err(bad("x_t", dims, format!("[b, t, 3, {s}, {s}]")));
        }
        let (b, t) = (dims[0], dims[1]);
        if inp.timesteps.len() != b {
            return Err(bad("timesteps", &[inp.timesteps.len()], format!("[{b}]")));
        }
        if let Some(r) = inp.reference {
            if r.dims() != [b, 3, s, s] {
                return Err(bad("reference", r.dims(), format!("[{b}, 3, {s}, {s}]")));
            }
        }
        if let Some(p) = inp.poses {
            if p.dims() != [b, t, 3, s, s] {
                return Err(bad("poses", p.dims(), format!("[{b}, {t}, 3, {s}, {s}]")));
            }
        }
        if let Some(k) = inp.cond_keep {
            if k.len() != b {
                return Err(bad("cond_keep", &[k.len()], format!("[{b}]")));
            }
        }
        Ok(())
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

impl Blocks for Denoiser {
    type Input<'a> = Inputs<'a>;
    type Error = ModelError;

    fn predict(&self, input: &Inputs<'_>) -> std::result::Result<Tensor, ModelError> {
        self.forward(input)
    }

    fn blocks(&self) -> Vec<BlockInfo> {
        let per_unit = flops::unit_costs(&self.cfg, &self.gates, 1, 1);
        block_ids(&self.cfg)
            .into_iter()
            .map(|id| {
                let unit = id.to_string();
                let params = self
                    .params
                    .iter()
                    .filter(|p| p.unit == unit)
                    .map(|p| p.var.elem_count())
                    .sum();
                let forward_flops = per_unit.iter().find(|u| u.unit == unit).map_or(0, |u| u.forward());
                BlockInfo {
                    id,
                    params,
                    forward_flops,
                }
            })
            .collect()
    }

    fn block_gate(&self, id: BlockId) -> Gate {
        self.gates.block(id)
    }

    fn set_block_gate(&mut self, id: BlockId, gate: Gate) -> std::result::Result<(), GateError> {
        self.gates.set(&id.to_string(), gate)
    }

    fn predict_each_skipped(
        &mut self,
        input: &Inputs<'_>,
        ids: &[BlockId],
    ) -> std::result::Result<Vec<Tensor>, ModelError> {
        crate::kernels::in_pool(|| self.each_skipped_inner(input, ids, false)).map(|(_, skipped)| skipped)
    }

    fn predict_with_each_skipped(
        &mut self,
        input: &Inputs<'_>,
        ids: &[BlockId],
    ) -> std::result::Result<(Tensor, Vec<Tensor>), ModelError> {
        let (base, skipped) = crate::kernels::in_pool(|| self.each_skipped_inner(input, ids, true))?;
        Ok((base.expect("with_base returns the base prediction"), skipped))
    }
}
