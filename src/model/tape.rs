//! Segmented backward: gradients flow back one block at a time, and each
//! block's forward tensors are freed as soon as its backward is done.
//!
//! Candle's `Tensor::backward` walks the whole graph from the loss and every
//! node keeps its tensor until the walk ends, so the peak of a training step
//! is all forward activations *plus* every parameter gradient and the
//! in-flight activation gradients (measured on `default-image-full`: forward
//! ends at 95 MB above the step's start, the step peaks at 118 MB; PyTorch
//! frees what each node saved as soon as its backward has run and peaks at
//! the end of its forward). A [`Tape`] cuts the graph at block boundaries:
//! the output of each segment is copied into a fresh leaf variable that the
//! next segment reads, so the graph of segment k ends at its input. Backward
//! then runs the head (the loss) first, reads the gradient of its input
//! variable, seeds segment k's output with it, runs that segment alone, drops
//! it, and so on to the first. The result is the same gradients (up to the
//! order of floating-point sums where a tensor feeds several segments, e.g.
//! the time embedding every block reads), with the peak at about the end of
//! forward.
//!
//! With recomputation on ([`Tape::recomputing`], `train.activation_checkpointing
//! = "blocks"`), a block segment keeps only its output: [`Tape::checkpoint`]
//! stores how to run the block again from its (kept) input, and backward
//! reruns it just before seeding it, so the block's activations live only
//! while its own backward runs. The recomputed root equals the stored one
//! bit for bit (the same ops on the same inputs and thread count), so the
//! gradients are the same too.
//!
//! Candle offers no hook to free a node during its own backward walk and
//! keeps `Tensor::op` crate-private, so there is no crate to lean on; the cut
//! needs only public API (`Var`, `CustomOp1`, `GradStore`).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, TensorId, Var};

/// A segment's root: kept from the forward pass, or recomputed in backward.
enum Root {
    Stored(Tensor),
    Recompute(Box<dyn Fn() -> Result<Tensor> + Send>),
}

/// Records the cuts of one forward pass and runs its backward segment by
/// segment. A tape is used once: [`Tape::backward`] consumes it.
pub struct Tape {
    /// False for [`Tape::whole`]: no cuts, one whole-graph backward.
    enabled: bool,
    /// Whether block segments are checkpointed ([`Tape::checkpoint`]).
    recompute: bool,
    /// Per segment, in forward order, its cut outputs: the tensor the segment
    /// computed (the root of its graph), or how to compute it again, and the
    /// leaf variable later segments read instead.
    segments: Vec<Vec<(Root, Var)>>,
    /// Every cut variable, by id (their gradients are passed on, not returned).
    cuts: HashMap<TensorId, Var>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// An empty tape that cuts at every segment output.
    pub fn new() -> Self {
        Self {
            enabled: true,
            recompute: false,
            segments: Vec::new(),
            cuts: HashMap::new(),
        }
    }

    /// A tape that cuts nothing: the forward pass keeps one graph and
    /// [`Tape::backward`] is `loss.backward()` (inference, or to measure what
    /// the cuts save).
    pub fn whole() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// The same tape, recomputing checkpointed segments in backward when
    /// `on` (a whole-graph tape ignores it).
    pub fn recomputing(self, on: bool) -> Self {
        Self {
            recompute: on && self.enabled,
            ..self
        }
    }

    /// Whether the forward pass should checkpoint its blocks.
    pub fn recomputes(&self) -> bool {
        self.recompute
    }

    /// Cuts the graph at `y`, the output of the current segment, keeping
    /// only its value: backward calls `rerun` to compute it again with its
    /// graph. `y` without a graph is returned as is (nothing to recompute).
    pub fn checkpoint(&mut self, y: Tensor, rerun: Box<dyn Fn() -> Result<Tensor> + Send>) -> Result<Tensor> {
        if !self.recompute || !y.track_op() || y.is_variable() {
            return self.cut(y);
        }
        let Some(segment) = self.segments.last_mut() else {
            candle_core::bail!("Tape::checkpoint before Tape::segment")
        };
        // The graph of `y` goes with it: only the value is copied.
        let var = Var::from_tensor(&y.detach())?;
        drop(y);
        let out = var.as_tensor().clone();
        self.cuts.insert(var.id(), var.clone());
        segment.push((Root::Recompute(rerun), var));
        Ok(out)
    }

    /// Starts a segment: the cuts that follow are its outputs.
    pub fn segment(&mut self) {
        if self.enabled {
            self.segments.push(Vec::new());
        }
    }

    /// Number of cuts made so far (leaf variables created).
    pub fn cuts(&self) -> usize {
        self.cuts.len()
    }

    /// Cuts the graph at `y`, an output of the current segment, and returns
    /// the tensor the rest of the forward pass must read in its place: a leaf
    /// copy of `y` when `y` depends on a variable, else `y` itself (nothing
    /// upstream trains, or `y` is already a cut, as for a skipped block).
    pub fn cut(&mut self, y: Tensor) -> Result<Tensor> {
        if !self.enabled || !y.track_op() || y.is_variable() {
            return Ok(y);
        }
        let Some(segment) = self.segments.last_mut() else {
            candle_core::bail!("Tape::cut before Tape::segment")
        };
        let var = Var::from_tensor(&y)?;
        let out = var.as_tensor().clone();
        self.cuts.insert(var.id(), var.clone());
        segment.push((Root::Stored(y), var));
        Ok(out)
    }

    /// Backward from `loss` (a scalar computed from the last segment's cut
    /// outputs): every parameter's gradient, as `loss.backward()` would give
    /// them, with each segment's graph freed once its backward has run.
    pub fn backward(mut self, loss: Tensor) -> Result<GradStore> {
        let mut pending: HashMap<TensorId, Tensor> = HashMap::new();
        let mut total = loss.backward()?;
        drop(loss);
        self.pass_on(&mut total, &mut pending)?;
        while let Some(segment) = self.segments.pop() {
            let mut seed: Option<Tensor> = None;
            for (root, var) in &segment {
                if let Some(g) = pending.remove(&var.id()) {
                    let s = match root {
                        Root::Stored(root) => seeded(root, g)?,
                        Root::Recompute(rerun) => seeded(&rerun()?, g)?,
                    };
                    seed = Some(match seed {
                        None => s,
                        Some(acc) => (acc + s)?,
                    });
                }
            }
            for (_, var) in &segment {
                self.cuts.remove(&var.id());
            }
            drop(segment);
            let Some(seed) = seed else { continue };
            let mut grads = seed.backward()?;
            drop(seed);
            self.pass_on(&mut grads, &mut pending)?;
            total.extend(grads)?;
        }
        Ok(total)
    }

    /// Moves the gradients of cut variables out of `grads` into `pending`
    /// (summed with what later segments already gave them).
    fn pass_on(&self, grads: &mut GradStore, pending: &mut HashMap<TensorId, Tensor>) -> Result<()> {
        let ids: Vec<TensorId> = grads
            .get_ids()
            .filter(|id| self.cuts.contains_key(id))
            .copied()
            .collect();
        for id in ids {
            let g = grads.remove(self.cuts[&id].as_tensor()).expect("listed above");
            let g = match pending.remove(&id) {
                Some(acc) => (acc + g)?,
                None => g,
            };
            pending.insert(id, g);
        }
        Ok(())
    }
}

/// A scalar whose gradient with respect to `root` is `grad`: a custom op on
/// the CPU (no extra pass over the data), `sum(root * grad)` elsewhere.
fn seeded(root: &Tensor, grad: Tensor) -> Result<Tensor> {
    if root.device().is_cpu() && root.dtype() == DType::F32 {
        root.apply_op1(Seed(grad))
    } else {
        (root * grad.detach())?.sum_all()
    }
}

/// Forward: a zero scalar; backward: the stored gradient for its input.
struct Seed(Tensor);

impl CustomOp1 for Seed {
    fn name(&self) -> &'static str {
        "tape-seed"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(vec![0.0]), Shape::from(())))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, _grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.0.clone()))
    }
}
