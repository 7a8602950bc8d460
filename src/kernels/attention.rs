//! Fused multi-head attention, softmax(q k^T / sqrt(d)) v, that never keeps
//! the N x M probability matrix for backward: backward recomputes each block
//! of probabilities from q and k (as FlashAttention does), so what stays
//! alive between forward and backward grows with N + M, not N * M.
//!
//! Per (batch, head) unit and block of up to [`BLOCK`] query rows, with
//! S = q k^T / sqrt(d) and P = softmax(S), the work is five small GEMMs and
//! two row passes:
//!   forward:  S = q k^T / sqrt(d);  P = softmax(S);  o = P v
//!   backward: dP = do v^T;  D_i = do_i . o_i;  dS = P (dP - D) / sqrt(d);
//!             dq = dS k;  dk += dS^T q;  dv += P^T do
//!
//! q, k and v are strided views, so three layouts share one kernel without
//! copies: separate q `[b, n, h, d]`, k and v `[b, m, h, d]`
//! ([`attention`]); the packed output of a qkv projection `[b, n, 3 h d]`
//! ([`self_attention_packed`], output `[b, n, h d]`, no reshapes on either
//! side); and queries of one packed projection against
//! the keys and values of another whose batch is shared by `frames`
//! consecutive query batches ([`cross_attention_packed`]: every frame of a
//! clip attends to its clip's reference tokens, with no repeat copies).
//! Gradients come back in the layout of the inputs.
//!
//! Forward splits over query batches; backward over key/value batches (each
//! task owns the gradient rows of its keys and values and of the queries
//! that attend to them), so results do not depend on scheduling.
//!
//! [`BLOCK`]: super::attention_plan::BLOCK

use candle_core::{Result, Tensor};

use super::attention_ops::{CrossPacked, SelfPacked, Separate};
use super::attention_reference::SelfAndReference;

/// softmax(q k^T / sqrt(d)) v for q `[b, n, h, d]`, k and v `[b, m, h, d]`
/// (f32, CPU); returns `[b, n, h, d]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Separate)
}

/// Self-attention over `heads` heads of the packed output of a qkv
/// projection, `[b, n, 3 h d]` (q, k, v, each head-major); returns the heads
/// side by side, `[b, n, h d]`, as the output projection takes them.
pub fn self_attention_packed(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(SelfPacked(heads))
}

/// Attention of the queries of `qkv` `[b, n, 3 h d]` over the keys and
/// values of `kv` `[b / t, m, 3 h d]` (its query part is ignored and gets a
/// zero gradient), query batch i using key/value batch i / t; returns
/// `[b, n, h d]`.
pub fn cross_attention_packed(qkv: &Tensor, kv: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?.apply_op2(&kv.contiguous()?, CrossPacked(heads))
}

/// [`self_attention_packed`] of `qkv` `[b, n, 3 h d]` plus `scale` `[b]`
/// times [`cross_attention_packed`] of `qkv` over `kv` `[b / t, m, 3 h d]`,
/// in one op: the reference part adds into the output, and backward sums
/// both parts' query gradients itself; returns `[b, n, h d]`.
pub fn self_and_reference_attention_packed(qkv: &Tensor, kv: &Tensor, scale: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?
        .apply_op3(&kv.contiguous()?, &scale.contiguous()?, SelfAndReference(heads))
}
