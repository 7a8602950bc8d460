//! Fused, vectorised CPU kernels with forward and backward for the
//! transformer's hot path (candle custom ops): the linear layer (bias,
//! input GELU or residual folded into its GEMM), attention read straight out
//! of the packed qkv projection that recomputes its probabilities in backward
//! instead of keeping the N x M matrix (self-attention and the gated
//! reference attention in one op), GELU, LayerNorm with adaLN shift/scale,
//! the gated residual `x + gate * y` and the residual add. Each is checked
//! against the plain candle composition in `tests/kernels.rs`; callers
//! choose the fused path with a config switch and fall back to the
//! composition on other devices.
//!
//! Backward passes compute only the gradients of inputs that track one
//! (`Tensor::track_op`): a frozen prefix's output needs no input gradient,
//! and skipping it is where freezing saves time.
//!
//! Fewer ops pay twice in candle 0.11: its backward keeps every node's
//! tensor alive until the end and spends a fresh zero tensor plus an add on
//! every node's gradient (`GradStore::or_insert`), so folding a neighbour
//! into a kernel (the GELU into the next linear, reshapes into the ops that
//! read the packed layout) saves both memory and time.

pub mod adamw;
pub mod attention;
mod attention_backward;
mod attention_forward;
mod attention_ops;
mod attention_plan;
mod attention_reference;
pub mod gelu;
pub mod linear;
pub(crate) mod matmul;
pub mod norm;
pub mod residual;
pub(crate) mod simd;

pub use attention::{attention, cross_attention_packed, self_and_reference_attention_packed, self_attention_packed};
pub use gelu::{gelu, gelu_erf};
pub use linear::{gelu_linear, linear, linear_residual};
pub use norm::modulated_layer_norm;
pub use residual::{add, gated_residual};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};

/// Runs `f` on a worker thread of rayon's global pool and waits for it; in
/// the pool already, runs it in place.
///
/// Called from a thread outside the pool (the main thread), every parallel
/// op (candle's, `gemm`'s, the kernels') is injected into the pool and its
/// caller sleeps until the workers finish, while the workers spin between
/// ops and compete with the caller's serial work for the cores. On a worker,
/// the caller takes part in its own parallel ops. Measured with interleaved
/// steps in one process (16 each, 2 threads): `default-image-full` 0.334 ->
/// 0.303 s and `default-video-full` 0.285 -> 0.259 s median step (-9%).
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Elements per parallel task for elementwise work: large enough that rayon's
/// scheduling is noise (a task is ~10-50 us of work), small enough to split a
/// 1M-element tensor 32 ways.
pub(crate) const CHUNK: usize = 32 * 1024;

/// Minimum items per rayon task when each item has `per_item` elements, so
/// that small tensors run on one thread instead of paying for a fork-join.
pub(crate) fn min_len(per_item: usize) -> usize {
    CHUNK.div_ceil(per_item.max(1))
}

/// `b` mutable chunks of `len` elements each of `v`, or `b` empty chunks when
/// `len` is 0 (a gradient that is not wanted), for zipping per-sample work.
pub(crate) fn split(v: &mut [f32], len: usize, b: usize) -> Vec<&mut [f32]> {
    if len == 0 {
        (0..b).map(|_| <&mut [f32]>::default()).collect()
    } else {
        v.chunks_mut(len).collect()
    }
}

/// The f32 slice of a contiguous CPU storage.
pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{op}: expected a contiguous input, got strides {:?}", l.stride())
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        other => bail!("{op}: expected f32, got {:?}", other.dtype()),
    }
}

/// The f32 data of a contiguous CPU tensor's storage (used in backward, where
/// inputs arrive as tensors): `let (s, l) = t.storage_and_layout(); data(&s, l, op)`.
pub(crate) fn data<'a>(s: &'a Storage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(s) => slice(s, l, op),
        _ => bail!("{op}: the fused kernels run on the CPU only"),
    }
}

/// A fresh tensor of `shape` from `data` on `like`'s device.
pub(crate) fn tensor_like(data: Vec<f32>, like: &Tensor) -> Result<Tensor> {
    Tensor::from_vec(data, like.shape(), like.device())
}
