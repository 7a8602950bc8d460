//! Strided f32 matrix products for the fused kernels: the `gemm` crate
//! (the GEMM candle's own CPU matmul calls) for anything of real size, and
//! a plain loop for the tiny products of one-frame temporal attention,
//! where the crate's dispatch and packing would cost more than the maths.
//!
//! A [`Mat`] is a pointer with a row and a column stride, so transposes and
//! the q, k, v slices of a packed projection are views, never copies.

use gemm::Parallelism;

/// A read-only strided matrix: element (i, j) is at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Mat {
    /// Row-major view of `v` with rows `rs` apart.
    pub fn rows(v: &[f32], rs: usize) -> Self {
        Self {
            ptr: v.as_ptr(),
            rs: rs as isize,
            cs: 1,
        }
    }

    /// The transpose (a view).
    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// A writable strided matrix.
#[derive(Clone, Copy)]
pub(crate) struct MatMut {
    pub ptr: *mut f32,
    pub rs: isize,
    pub cs: isize,
}

impl MatMut {
    /// Row-major view of `v` with rows `rs` apart.
    pub fn rows(v: &mut [f32], rs: usize) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            rs: rs as isize,
            cs: 1,
        }
    }
}

// SAFETY: the views are plain pointers; callers hand them to threads only
// for disjoint output regions (documented at each use).
unsafe impl Send for MatMut {}
unsafe impl Sync for MatMut {}
unsafe impl Send for Mat {}
unsafe impl Sync for Mat {}

/// Products below this many multiply-adds take the plain loop.
const TINY: usize = 2048;

/// dst (m x n) = alpha * lhs (m x k) rhs (k x n), plus dst itself when
/// `accumulate`. `threads > 1` lets the crate split large products over the
/// rayon pool (its split is over output blocks, so results do not depend on
/// the thread count's timing).
///
/// # Safety
/// All three views must be valid for the given sizes and strides, and `dst`
/// must not overlap `lhs` or `rhs` or be written by anyone else meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    (m, n, k): (usize, usize, usize),
    dst: MatMut,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
    alpha: f32,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if m * n * k < TINY {
        for i in 0..m as isize {
            for j in 0..n as isize {
                let mut acc = 0f32;
                for p in 0..k as isize {
                    acc += *lhs.ptr.offset(i * lhs.rs + p * lhs.cs) * *rhs.ptr.offset(p * rhs.rs + j * rhs.cs);
                }
                let d = dst.ptr.offset(i * dst.rs + j * dst.cs);
                *d = if accumulate { *d + alpha * acc } else { alpha * acc };
            }
        }
        return;
    }
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // The crate's convention: dst = alpha_dst * dst + beta * lhs rhs.
    gemm::gemm(
        m, n, k, dst.ptr, dst.cs, dst.rs, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs, 1.0, alpha,
        false, false, false, par,
    );
}
