//! Memory accounting: a counting global allocator with current and peak
//! bytes, and scoped peaks for one phase (the paper's memory column).
//!
//! Every heap allocation of the process (tensors included: candle's CPU
//! storage is a `Vec`) passes through [`CountingAlloc`], which adds two
//! relaxed atomic read-modify-writes (the current count; the peak only when
//! it rises) to the system allocator. Overhead, measured with
//! `entprog bench alloc` on the 2-core development machine (median of 7 runs
//! of 1M allocate/free pairs, other builds running): 5-14 ns per pair, on top
//! of 8-30 ns for the system allocator alone (64 B to 1 MiB). That doubles an
//! allocation-bound micro-loop but is noise next to tensor work: a training
//! step makes thousands of allocations and runs for tens of milliseconds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live and peak bytes.
pub struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[inline]
fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    // A plain load first: most allocations do not raise the peak, and the
    // read-modify-write of `fetch_max` costs several times a load.
    if now > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

#[inline]
fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only updates counters afterwards.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Bytes currently allocated by the whole process.
pub fn current_bytes() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Highest [`current_bytes`] since the process started (or since the
/// innermost live [`PeakScope`] started).
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Measures the peak of one phase: on start the global peak is reset to the
/// current level; on drop the earlier peak is restored if it was higher, so
/// scopes nest and the process-wide peak stays true. The counters are
/// process-wide: phases measured on two threads at once would reset each
/// other's peaks, so measure one phase at a time.
pub struct PeakScope {
    baseline: usize,
    saved_peak: usize,
}

impl PeakScope {
    /// Starts a phase.
    pub fn start() -> Self {
        let baseline = current_bytes();
        let saved_peak = PEAK.swap(baseline, Ordering::Relaxed);
        Self { baseline, saved_peak }
    }

    /// Highest allocated bytes (whole process) since the phase started.
    pub fn peak(&self) -> usize {
        peak_bytes()
    }

    /// Highest bytes above the level at the start of the phase: what the
    /// phase itself needed at its worst.
    pub fn peak_above_start(&self) -> usize {
        peak_bytes().saturating_sub(self.baseline)
    }

    /// Bytes allocated at the start of the phase.
    pub fn baseline(&self) -> usize {
        self.baseline
    }
}

impl Drop for PeakScope {
    fn drop(&mut self) {
        PEAK.fetch_max(self.saved_peak, Ordering::Relaxed);
    }
}

/// Times `n` allocate/free pairs of `size` bytes through `alloc` (for the
/// overhead figure above; used by `entprog bench alloc`). Returns ns per pair.
pub fn time_alloc_pairs<A: GlobalAlloc>(alloc: &A, n: usize, size: usize) -> f64 {
    let layout = Layout::from_size_align(size, 8).expect("valid layout");
    let t = std::time::Instant::now();
    for _ in 0..n {
        // SAFETY: layout has non-zero size; the pointer is freed with the same layout.
        unsafe {
            let p = alloc.alloc(layout);
            std::hint::black_box(p);
            alloc.dealloc(p, layout);
        }
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Scopes reset the process-wide peak: tests that use them take turns.
    static ONE_PHASE_AT_A_TIME: Mutex<()> = Mutex::new(());
    const SLACK: usize = 64 << 10;

    #[test]
    fn a_phase_sees_its_own_allocation_as_its_peak() {
        let _turn = ONE_PHASE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let scope = PeakScope::start();
        let v = vec![0u8; 8 << 20];
        std::hint::black_box(&v);
        drop(v);
        // The counters are process-wide: the test harness's other threads may
        // free a few bytes meanwhile (seen: 24), so allow a small slack.
        assert!(
            scope.peak_above_start() >= (8 << 20) - SLACK,
            "{}",
            scope.peak_above_start()
        );
    }

    #[test]
    fn scopes_nest_and_restore_the_outer_peak() {
        let _turn = ONE_PHASE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let outer = PeakScope::start();
        let big = vec![1u8; 16 << 20];
        std::hint::black_box(&big);
        drop(big);
        {
            let inner = PeakScope::start();
            let small = vec![1u8; 1 << 20];
            std::hint::black_box(&small);
            assert!(inner.peak_above_start() >= (1 << 20) - SLACK);
        }
        assert!(outer.peak_above_start() >= (16 << 20) - SLACK);
    }
}
