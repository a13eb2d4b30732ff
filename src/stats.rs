//! Counters over every path, kept with atomics so that a notify function interrupting the
//! library mid-update leaves them exact.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Allocation statistics (`POOL_STATS` in C), of the allocator state the image uses: with a
/// shared state (the default), those of every image of the boot that shares it, whichever image
/// allocated or freed; with a private one (`POOL_PRIVATE`), the image's own. Counters start at 0
/// with the state and are never reset.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Blocks allocated and not yet freed, on every path.
    pub live_blocks: u64,
    /// Sum of the sizes callers asked for (or last resized to) of live blocks of the front, the
    /// pool path and the page path, from C or Rust. Raw-path blocks count as 0 bytes: C's
    /// `pool_raw_free` cannot say how large they were, and either API may free them.
    pub live_bytes: u64,
    /// The highest live byte count seen.
    pub peak_bytes: u64,
    /// Total bytes ever requested from firmware for callers' blocks (pool sizes; pages times
    /// 4096, the front's pages included), the extra request of a firmware-aware misprediction
    /// included.
    pub requested_bytes: u64,
    /// Bytes of firmware memory the library currently holds for its own bookkeeping: the page
    /// index, the front's page records and the pages of its slack tables.
    pub bookkeeping_bytes: u64,
    /// Allocations that returned NULL because the firmware refused.
    pub failed_requests: u64,
    /// Calls refused for bad arguments: sizes or alignments out of range, foreign, interior or
    /// already freed pointers, a NULL `Stats`.
    pub invalid_calls: u64,
    /// Pages of callers' blocks the small-block front holds from the firmware.
    pub front_pages: u64,
    /// Bytes of those pages not in a live block: free slots and the unused end of each page.
    pub front_idle_bytes: u64,
}

/// The statistics' share of the allocator's state (`shared.rs`).
#[repr(C)]
pub(crate) struct Counters {
    live_blocks: AtomicU64,
    live_bytes: AtomicU64,
    peak_bytes: AtomicU64,
    requested_bytes: AtomicU64,
    bookkeeping_bytes: AtomicU64,
    failed_requests: AtomicU64,
    invalid_calls: AtomicU64,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            live_blocks: AtomicU64::new(0),
            live_bytes: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
            requested_bytes: AtomicU64::new(0),
            bookkeeping_bytes: AtomicU64::new(0),
            failed_requests: AtomicU64::new(0),
            invalid_calls: AtomicU64::new(0),
        }
    }
}

#[inline(always)]
fn counters() -> &'static Counters {
    &crate::shared::state().counters
}

/// The firmware was asked for `bytes`.
#[inline]
pub(crate) fn requested(bytes: usize) {
    counters().requested_bytes.fetch_add(bytes as u64, Relaxed);
}

/// A block of `size` known bytes went live.
#[inline(always)]
pub(crate) fn allocated(size: usize) {
    let counters = counters();
    counters.live_blocks.fetch_add(1, Relaxed);
    grew_in(counters, size);
}

/// A block of `size` known bytes was freed.
#[inline(always)]
pub(crate) fn freed(size: usize) {
    let counters = counters();
    counters.live_blocks.fetch_sub(1, Relaxed);
    counters.live_bytes.fetch_sub(size as u64, Relaxed);
}

/// A live block grew in place by `bytes`.
#[inline]
pub(crate) fn grew(bytes: usize) {
    grew_in(counters(), bytes);
}

#[inline(always)]
fn grew_in(counters: &Counters, bytes: usize) {
    let live = counters.live_bytes.fetch_add(bytes as u64, Relaxed) + bytes as u64;
    // Most growth stays below the peak: a load is cheaper than a compare-exchange loop.
    if live > counters.peak_bytes.load(Relaxed) {
        counters.peak_bytes.fetch_max(live, Relaxed);
    }
}

/// A live block shrank in place by `bytes`.
#[inline]
pub(crate) fn shrank(bytes: usize) {
    counters().live_bytes.fetch_sub(bytes as u64, Relaxed);
}

/// The registry now holds `bytes` of firmware memory instead of `previous`.
pub(crate) fn bookkeeping(previous: usize, bytes: usize) {
    counters()
        .bookkeeping_bytes
        .fetch_add((bytes as u64).wrapping_sub(previous as u64), Relaxed);
}

/// The firmware refused an allocation.
#[cold]
pub(crate) fn refused() {
    counters().failed_requests.fetch_add(1, Relaxed);
}

/// A call was refused for its arguments.
#[cold]
pub(crate) fn invalid() {
    counters().invalid_calls.fetch_add(1, Relaxed);
}

/// A consistent-enough copy of the counters (each one is exact; they are read one by one).
pub fn snapshot() -> PoolStats {
    let (front_pages, front_idle_bytes) = crate::front::holdings();
    PoolStats {
        front_pages: front_pages as u64,
        front_idle_bytes: front_idle_bytes as u64,
        live_blocks: counters().live_blocks.load(Relaxed),
        live_bytes: counters().live_bytes.load(Relaxed),
        peak_bytes: counters().peak_bytes.load(Relaxed),
        requested_bytes: counters().requested_bytes.load(Relaxed),
        bookkeeping_bytes: counters().bookkeeping_bytes.load(Relaxed),
        failed_requests: counters().failed_requests.load(Relaxed),
        invalid_calls: counters().invalid_calls.load(Relaxed),
    }
}

#[cfg(feature = "test-hooks")]
pub(crate) fn forget_bookkeeping() {
    counters().bookkeeping_bytes.store(0, Relaxed);
}
