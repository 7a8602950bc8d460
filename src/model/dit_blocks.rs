//! The denoiser as [`Blocks`]: its blocks' sizes and costs, their gates,
//! and predictions with each of a set of blocks skipped, reusing the shared
//! prefix of the main path.

use candle_core::Tensor;

use super::block::{BlockId, BlockInfo, BlockKind, Blocks, Gate, GateError};
use super::dit::{block_ids, Denoiser, Inputs};
use super::{flops, ModelError};

impl Denoiser {
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
