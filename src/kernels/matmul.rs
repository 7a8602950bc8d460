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
        tiny((m, n, k), dst, accumulate, lhs, rhs, alpha);
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

/// The plain-loop product for tiny sizes, vectorised over the contiguous
/// direction where there is one (AVX2 + FMA when the CPU has them).
///
/// # Safety
/// As for [`gemm`].
unsafe fn tiny(dims: (usize, usize, usize), dst: MatMut, accumulate: bool, lhs: Mat, rhs: Mat, alpha: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(dims: (usize, usize, usize), dst: MatMut, accumulate: bool, lhs: Mat, rhs: Mat, alpha: f32) {
            tiny_body(dims, dst, accumulate, lhs, rhs, alpha)
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return avx2(dims, dst, accumulate, lhs, rhs, alpha);
        }
    }
    tiny_body(dims, dst, accumulate, lhs, rhs, alpha)
}

#[inline(always)]
unsafe fn tiny_body((m, n, k): (usize, usize, usize), dst: MatMut, accumulate: bool, lhs: Mat, rhs: Mat, alpha: f32) {
    let at = |v: Mat, i: usize, j: usize| *v.ptr.offset(i as isize * v.rs + j as isize * v.cs);
    if rhs.cs == 1 && dst.cs == 1 {
        // dst row i += sum_p alpha lhs[i, p] rhs[p, :], contiguous along the row.
        for i in 0..m {
            let row = std::slice::from_raw_parts_mut(dst.ptr.offset(i as isize * dst.rs), n);
            if !accumulate {
                row.fill(0.0);
            }
            for p in 0..k {
                let a = alpha * at(lhs, i, p);
                let r = std::slice::from_raw_parts(rhs.ptr.offset(p as isize * rhs.rs), n);
                for (d, &r) in row.iter_mut().zip(r) {
                    *d += a * r;
                }
            }
        }
    } else if lhs.cs == 1 && rhs.rs == 1 {
        // dst[i, j] = alpha (lhs row i . rhs column j), both contiguous.
        for i in 0..m {
            let a = std::slice::from_raw_parts(lhs.ptr.offset(i as isize * lhs.rs), k);
            for j in 0..n {
                let b = std::slice::from_raw_parts(rhs.ptr.offset(j as isize * rhs.cs), k);
                let d = dst.ptr.offset(i as isize * dst.rs + j as isize * dst.cs);
                let v = alpha * dot8(a, b);
                *d = if accumulate { *d + v } else { v };
            }
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let acc: f32 = (0..k).map(|p| at(lhs, i, p) * at(rhs, p, j)).sum();
                let d = dst.ptr.offset(i as isize * dst.rs + j as isize * dst.cs);
                *d = if accumulate { *d + alpha * acc } else { alpha * acc };
            }
        }
    }
}

/// a . b in eight interleaved lanes (vectorisable without reassociation).
#[inline(always)]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}
