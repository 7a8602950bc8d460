//! The geometry of fused attention: the problem's sizes, where q, k and v
//! live in the inputs (strided views), and the checked plan that ties them
//! together.

use candle_core::{bail, Layout, Result};

use super::matmul::{Mat, MatMut};

/// Query rows per block: the scratch is two `[BLOCK, m]` matrices per task.
pub(super) const BLOCK: usize = 64;

#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    /// Query batches.
    pub(super) b: usize,
    /// Query batches per key/value batch.
    pub(super) frames: usize,
    pub(super) n: usize,
    pub(super) m: usize,
    pub(super) h: usize,
    pub(super) d: usize,
}

/// Where q, k or v lives: element (batch, row, head, i) is input `src` at
/// `off + batch * bs + row * rs + head * d + i`.
#[derive(Clone, Copy, Debug)]
pub(super) struct View {
    pub(super) src: usize,
    pub(super) off: usize,
    pub(super) rs: usize,
    pub(super) bs: usize,
}

impl View {
    /// The `[rows, d]` matrix of (batch, first row, head) in `base`.
    pub(super) fn mat(&self, base: *const f32, d: usize, batch: usize, row: usize, head: usize) -> Mat {
        let off = self.off + batch * self.bs + row * self.rs + head * d;
        // SAFETY (of the callers' later reads): the plan was checked against
        // the input lengths in `Plan::check`.
        Mat {
            ptr: base.wrapping_add(off),
            rs: self.rs as isize,
            cs: 1,
        }
    }

    pub(super) fn mat_mut(&self, base: *mut f32, d: usize, batch: usize, row: usize, head: usize) -> MatMut {
        let off = self.off + batch * self.bs + row * self.rs + head * d;
        MatMut {
            ptr: base.wrapping_add(off),
            rs: self.rs as isize,
            cs: 1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) dims: Dims,
    pub(super) q: View,
    pub(super) k: View,
    pub(super) v: View,
}

impl Plan {
    pub(super) fn scale(&self) -> f32 {
        1.0 / (self.dims.d as f32).sqrt()
    }

    /// Fails unless every element the plan reads lies inside its input.
    pub(super) fn check(&self, lens: &[usize]) -> Result<()> {
        let Dims { b, frames, n, m, h, d } = self.dims;
        let kv_b = b / frames;
        for (view, batches, rows) in [(self.q, b, n), (self.k, kv_b, m), (self.v, kv_b, m)] {
            let end = |batches: usize, rows: usize| view.off + (batches - 1) * view.bs + (rows - 1) * view.rs + h * d;
            if batches == 0 || rows == 0 || end(batches, rows) > lens[view.src] {
                bail!(
                    "fused-attention: view {view:?} of {:?} exceeds input of {} elements",
                    self.dims,
                    lens[view.src]
                )
            }
        }
        Ok(())
    }
}

/// The inputs' base pointers, indexed by `View::src`.
pub(super) struct Inputs<'a>(pub(super) Vec<&'a [f32]>);

impl Inputs<'_> {
    pub(super) fn base(&self, v: View) -> *const f32 {
        self.0[v.src].as_ptr()
    }
}

/// `[b, rows, 3 h d]` -> (b, rows, h, d).
pub(super) fn packed_dims(l: &Layout, h: usize) -> Result<(usize, usize, usize, usize)> {
    match l.dims() {
        &[b, rows, w] if h > 0 && w % (3 * h) == 0 => Ok((b, rows, h, w / (3 * h))),
        other => bail!("fused-attention: expected a packed qkv [b, n, 3 * {h} * d], got {other:?}"),
    }
}

/// View of part `i` (0 q, 1 k, 2 v) of input `src`, a packed `[_, rows, 3, h, d]`.
pub(super) fn packed_view(src: usize, i: usize, rows: usize, h: usize, d: usize) -> View {
    View {
        src,
        off: i * h * d,
        rs: 3 * h * d,
        bs: rows * 3 * h * d,
    }
}
