//! Shared by the tests: a seeded generator, byte patterns (the same as c/mixed.c's), types of
//! large alignment, and the counting global allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU64, Ordering};

use uefi_pool_alloc::{PoolAllocator, ffi};

/// xorshift64: deterministic, so a failing run replays exactly.
pub struct Rng(u64);

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// The byte at `index` of a block filled with `seed` (c/mixed.c computes the same).
pub fn pattern(seed: u8, index: usize) -> u8 {
    seed.wrapping_add(index.wrapping_mul(7) as u8)
        .wrapping_add((index >> 8) as u8)
}

pub fn fill(bytes: &mut [u8], seed: u8) {
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern(seed, index);
    }
}

/// The first index at which `bytes` differ from `seed`'s pattern.
pub fn mismatch(bytes: &[u8], seed: u8) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .position(|(index, &byte)| byte != pattern(seed, index))
}

/// A cache line: takes the aligned path (pool, 8-byte header).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct Line(pub [u8; 64]);

/// A page: takes the page path (AllocatePages, no header).
#[repr(C, align(4096))]
#[derive(Clone, Copy)]
pub struct Page(pub [u8; 4096]);

impl Line {
    /// Element `index` of a vector filled with `seed`: every byte the same.
    pub fn nth(seed: u8, index: usize) -> Line {
        Line([pattern(seed, index); 64])
    }

    pub fn is_nth(&self, seed: u8, index: usize) -> bool {
        self.0.iter().all(|&byte| byte == pattern(seed, index))
    }
}

impl Page {
    pub fn nth(seed: u8, index: usize) -> Page {
        Page([pattern(seed, index); 4096])
    }

    /// First, middle and last byte: enough to see a page lost or swapped by a move.
    pub fn is_nth(&self, seed: u8, index: usize) -> bool {
        let want = pattern(seed, index);
        self.0[0] == want && self.0[2048] == want && self.0[4095] == want
    }
}

/// Whether `ptr` is aligned to `align`.
pub fn aligned<T>(ptr: *const T, align: usize) -> bool {
    ptr.addr().is_multiple_of(align)
}

/// A free-running counter: the TSC on x86, the virtual counter on AArch64.
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc has no side effect.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(target_arch = "x86")]
    // SAFETY: as above.
    unsafe {
        core::arch::x86::_rdtsc()
    }
    #[cfg(target_arch = "aarch64")]
    {
        let value: u64;
        // SAFETY: reading the virtual counter has no side effect.
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack))
        };
        value
    }
}

/// Counter ticks per millisecond: the TSC measured against a 10 ms Stall, the AArch64 counter
/// from its frequency register.
///
/// # Safety
/// Boot services are live.
pub unsafe fn ticks_per_ms(bs: *mut uefi_raw::table::boot::BootServices) -> u64 {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        let start = ticks();
        // SAFETY: the caller's contract.
        let _ = unsafe { ((*bs).stall)(10_000) };
        ((ticks() - start) / 10).max(1)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let _ = bs;
        let hz: u64;
        // SAFETY: reading the counter frequency has no side effect.
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
        (hz / 1000).max(1)
    }
}

/// The test app's global allocator: a [`PoolAllocator`] that also counts, independently of the
/// library, the bytes its statistics should call live: every block the library tracks (its
/// `pool_usable_size` is not 0: front, pool and page blocks, not raw ones) at its layout's size.
pub struct Counted {
    inner: &'static PoolAllocator,
    tracked: AtomicU64,
}

impl Counted {
    pub const fn new(inner: &'static PoolAllocator) -> Counted {
        Counted {
            inner,
            tracked: AtomicU64::new(0),
        }
    }

    /// Bytes the library's `live_bytes` should count for Rust's blocks.
    pub fn tracked(&self) -> u64 {
        self.tracked.load(Ordering::Relaxed)
    }

    fn counts(block: *mut u8) -> bool {
        // SAFETY: a live block of the allocator.
        !block.is_null() && unsafe { ffi::pool_usable_size(block.cast()) } != 0
    }
}

unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for the inner allocator.
        let block = unsafe { self.inner.alloc(layout) };
        if Self::counts(block) {
            self.tracked
                .fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for the inner allocator.
        let block = unsafe { self.inner.alloc_zeroed(layout) };
        if Self::counts(block) {
            self.tracked
                .fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if Self::counts(block) {
            self.tracked
                .fetch_sub(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: as for the inner allocator.
        unsafe { self.inner.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let counted = Self::counts(block);
        // SAFETY: as for the inner allocator.
        let new = unsafe { self.inner.realloc(block, layout, new_size) };
        if !new.is_null() {
            if counted {
                self.tracked
                    .fetch_sub(layout.size() as u64, Ordering::Relaxed);
            }
            if Self::counts(new) {
                self.tracked.fetch_add(new_size as u64, Ordering::Relaxed);
            }
        }
        new
    }
}
