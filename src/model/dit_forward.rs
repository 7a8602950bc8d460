//! The denoiser's forward pass: the conditioning and embedded tokens, the
//! main-path blocks in order under their gates, the final layer, and the
//! check of the inputs' shapes.

use candle_core::{DType, Result, Tensor};

use super::block::{BlockId, BlockKind};
use super::dit::{repeat_frames, Denoiser, Inputs};
use super::embed::unpatchify;
use super::ops;
use super::spatial::Conditioning;
use super::tape::Tape;
use super::ModelError;

impl Denoiser {
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
    pub(super) fn prepare(&self, inp: &Inputs) -> Result<(Conditioning, Tensor)> {
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
    pub(super) fn main_path(&self) -> Vec<BlockId> {
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
    pub(super) fn run_block(&self, id: BlockId, x: Tensor, cond: &Conditioning) -> Result<Tensor> {
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

    /// Block `id` run again on `x` (activation checkpointing): owns clones
    /// of the block, its input and the conditioning (shared storage, no copy).
    fn rerun_block(&self, id: BlockId, x: &Tensor, cond: &Conditioning) -> Box<dyn Fn() -> Result<Tensor> + Send> {
        let (x, tr) = (x.clone(), self.trains(&id.to_string()));
        match id.kind {
            BlockKind::Spatial => {
                let (block, cond) = (self.spatial[id.index].clone(), cond.clone());
                Box::new(move || block.forward(&x, &cond, tr))
            }
            BlockKind::Temporal => {
                let (block, t) = (self.temporal[id.index].clone(), cond.t);
                Box::new(move || block.forward(&x, t, tr))
            }
            BlockKind::Reference => unreachable!("reference blocks run inside the reference encoder"),
        }
    }

    /// The final layer and unpatchify: tokens -> eps_hat `[b, t, 3, H, W]`.
    pub(super) fn finish(&self, x: &Tensor, cond: &Conditioning, dims: &[usize]) -> Result<Tensor> {
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
            if tape.recomputes() {
                let rerun = self.rerun_block(id, &x, &cond);
                let y = self.run_block(id, x, &cond)?;
                x = tape.checkpoint(y, rerun)?;
            } else {
                x = self.run_block(id, x, &cond)?;
                x = tape.cut(x)?;
            }
        }
        self.finish(&x, &cond, inp.x_t.dims())
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

    pub(super) fn check_inputs(&self, inp: &Inputs) -> std::result::Result<(), ModelError> {
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
