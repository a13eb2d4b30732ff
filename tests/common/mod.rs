//! Shared by the host tests: a booted library on a simulated firmware, statistics deltas and a
//! seeded generator.
#![allow(dead_code, unused_imports)]

pub mod model;

pub use uefi_pool_alloc::ffi::*;
pub use uefi_pool_alloc::{
    POOL_DEFAULT_ALIGN, POOL_MAX_ALIGN, POOL_MAX_SIZE, POOL_MEMORY_TYPE_DEFAULT, POOL_PASS_THROUGH,
    PoolStats,
};
pub use uefi_pool_alloc_sim::uefi_raw::Status;
pub use uefi_pool_alloc_sim::uefi_raw::table::boot::MemoryType;
pub use uefi_pool_alloc_sim::{Residue, Sim, SimConfig};

pub const SUCCESS: usize = Status::SUCCESS.0;
pub const INVALID_PARAMETER: usize = Status::INVALID_PARAMETER.0;
pub const NOT_STARTED: usize = Status::NOT_STARTED.0;
pub const UNSUPPORTED: usize = Status::UNSUPPORTED.0;
pub const ALREADY_STARTED: usize = Status::ALREADY_STARTED.0;
/// Bytes of one slot of the page index (two words: 16 on 64-bit targets, 8 on 32-bit ones).
pub const INDEX_SLOT: u64 = 2 * size_of::<usize>() as u64;

/// Sizes that stay cheap under Miri.
pub const fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

/// A simulated firmware, with the library's memory of the previous one's pages forgotten (a
/// failed test may have left blocks behind in memory that no longer exists).
pub fn fresh_sim(config: SimConfig) -> Sim {
    let sim = Sim::new(config);
    uefi_pool_alloc::forget_state();
    sim
}

/// The library initialised on a simulated firmware; `pool_fini` on drop.
pub struct Booted {
    pub sim: Sim,
}

impl Booted {
    pub fn new(config: SimConfig) -> Booted {
        Booted::with_options(config, 0)
    }

    /// `pool_init_ex` with `options` on a firmware of `config`.
    pub fn with_options(config: SimConfig, options: u32) -> Booted {
        let sim = fresh_sim(config);
        let status = unsafe {
            pool_init_ex(
                sim.image_handle(),
                sim.system_table().cast(),
                POOL_MEMORY_TYPE_DEFAULT,
                options,
            )
        };
        assert_eq!(status, SUCCESS, "pool_init_ex");
        Booted { sim }
    }

    pub fn edk2() -> Booted {
        Booted::new(SimConfig::default())
    }

    /// EDK2's pool pattern with `POOL_PASS_THROUGH`: every block from the pool or page path.
    pub fn pass_through() -> Booted {
        Booted::with_options(SimConfig::default(), POOL_PASS_THROUGH)
    }

    pub fn with_residue(residue: Residue) -> Booted {
        Booted::new(SimConfig {
            residue,
            ..SimConfig::default()
        })
    }

    /// `with_residue` with `POOL_PASS_THROUGH`.
    pub fn pass_through_with_residue(residue: Residue) -> Booted {
        Booted::with_options(
            SimConfig {
                residue,
                ..SimConfig::default()
            },
            POOL_PASS_THROUGH,
        )
    }

    /// Asserts that the firmware never saw a bad free or TPL misuse from the library.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.sim.bad_frees(),
            0,
            "the library passed a bad block to the firmware"
        );
        assert_eq!(self.sim.tpl_violations(), 0, "TPL misuse");
        assert_eq!(
            self.sim.forbidden_calls(),
            0,
            "memory service after ExitBootServices"
        );
    }

    /// Asserts that, once `pool_trim` gave idle pages back, nothing the library allocated is
    /// still held by the firmware.
    pub fn assert_no_leaks(&self) {
        pool_trim();
        assert_eq!(self.sim.live_pool_blocks(), 0, "pool blocks leaked");
        assert_eq!(self.sim.live_pages(), 0, "pages leaked");
        assert_eq!(stats().bookkeeping_bytes, 0, "bookkeeping left");
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        pool_fini();
    }
}

pub fn stats() -> PoolStats {
    let mut stats = PoolStats::default();
    assert_eq!(unsafe { pool_stats(&mut stats) }, SUCCESS);
    stats
}

/// Bytes requested from the firmware by `f` for callers' blocks.
pub fn requested_by(f: impl FnOnce()) -> u64 {
    let before = stats().requested_bytes;
    f();
    stats().requested_bytes - before
}

pub fn alloc(size: usize, align: usize) -> *mut u8 {
    pool_aligned_alloc(size, align).cast()
}

pub fn free(ptr: *mut u8) -> usize {
    unsafe { pool_aligned_free(ptr.cast()) }
}

pub fn usable(ptr: *mut u8) -> usize {
    unsafe { pool_usable_size(ptr.cast()) }
}

pub fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
    unsafe { pool_aligned_realloc(ptr.cast(), size).cast() }
}

pub fn fill(ptr: *mut u8, len: usize, seed: u8) {
    for i in 0..len {
        unsafe { ptr.add(i).write(seed.wrapping_add(i as u8)) };
    }
}

pub fn holds(ptr: *const u8, len: usize, seed: u8) -> bool {
    (0..len).all(|i| unsafe { ptr.add(i).read() } == seed.wrapping_add(i as u8))
}

/// xorshift64*: deterministic, seedable, good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Log-uniform in 0..=max.
    pub fn size(&mut self, max: usize) -> usize {
        let bits = self.below(max.ilog2() as u64 + 1);
        (self.next() as usize) & ((1usize << bits) - 1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
