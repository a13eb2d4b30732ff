//! Host instruction counts of uefi-pool-alloc's own code, for `valgrind --tool=callgrind`.
//!
//! The library runs on the simulated firmware of `tests/sim`, with its `AllocatePool` and
//! `FreePool` replaced by trivial stubs (a bump allocator in a ring whose blocks sit at 24 mod
//! 128, as EDK2's do, and a free that does nothing), so that nearly every instruction counted is
//! the library's. Each scenario runs in its own process: one `#[no_mangle]` loop function per
//! scenario, whose inclusive instruction count callgrind reports; `scripts/bench.sh` subtracts
//! the inclusive count of `bench_floor`, the same loop calling the stubs directly through the
//! Boot Services table (what a caller of raw AllocatePool/FreePool executes), and divides by the
//! iteration count.
//!
//! ```text
//! bench-host SCENARIO [N]
//!   floor     N pairs of AllocatePool(104)/FreePool called directly (the firmware-call floor)
//!   empty     N iterations of the bare loop (floor of the realloc scenario)
//!   aligned   N pairs of pool_aligned_alloc(64, 64)/pool_aligned_free (C exports)
//!   aligned32 N pairs of pool_aligned_alloc(64, 32)/pool_aligned_free
//!   aligned8  N pairs of pool_aligned_alloc(64, 8)/pool_aligned_free
//!   raw       N pairs of pool_raw_alloc(64)/pool_raw_free
//!   realloc   N pool_aligned_realloc calls that stay in place (64 B at align 16: 64 -> 56 -> 64)
//!   global    N pairs of PoolAllocator::alloc/dealloc, Layout 64 B at align 64 (Rust API)
//!   naive     N pairs of the naive Size + Align wrapper (header word below the pointer), here
//! ```
//!
//! The C exports are called through a function pointer, as a C program linked against the
//! static library calls them (no cross-language inlining).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::hint::black_box;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use uefi_pool_alloc::PoolAllocator;
use uefi_pool_alloc::ffi;
use uefi_pool_alloc_sim::uefi_raw::Status;
use uefi_pool_alloc_sim::uefi_raw::table::boot::{BootServices, MemoryType};
use uefi_pool_alloc_sim::{Sim, SimConfig};

/// The stub pool: a ring of 4 MiB; blocks never overlap while fewer than ~16 000 are live.
const RING: usize = 4 << 20;
static RING_BASE: AtomicUsize = AtomicUsize::new(0);
static RING_NEXT: AtomicUsize = AtomicUsize::new(0);

/// AllocatePool: the next 128-byte multiple of the ring, plus 24 (EDK2's pool head).
unsafe extern "efiapi" fn stub_allocate_pool(
    _memory_type: MemoryType,
    size: usize,
    buffer: *mut *mut u8,
) -> Status {
    let offset = RING_NEXT.load(Relaxed);
    let step = (size + 40 + 127) & !127;
    let next = offset + step;
    RING_NEXT.store(if next + 8192 > RING { 0 } else { next }, Relaxed);
    // SAFETY: the caller passes a writable out-pointer.
    unsafe {
        buffer.write(ptr::with_exposed_provenance_mut(
            RING_BASE.load(Relaxed) + offset + 24,
        ))
    };
    Status::SUCCESS
}

/// FreePool: nothing to do.
unsafe extern "efiapi" fn stub_free_pool(_buffer: *mut u8) -> Status {
    Status::SUCCESS
}

type AlignedAlloc = extern "efiapi" fn(usize, usize) -> *mut c_void;
type AlignedFree = unsafe extern "efiapi" fn(*mut c_void) -> usize;
type Realloc = unsafe extern "efiapi" fn(*mut c_void, usize) -> *mut c_void;
type RawAlloc = extern "efiapi" fn(usize) -> *mut c_void;

#[unsafe(no_mangle)]
#[inline(never)]
fn bench_floor(bs: *mut BootServices, n: usize, size: usize) {
    for i in 0..n {
        let mut p = ptr::null_mut();
        // SAFETY: the stubs above, through the table as the library and C callers reach them.
        unsafe {
            let _ = ((*bs).allocate_pool)(MemoryType::LOADER_DATA, size, &mut p);
            ptr::write_volatile(p, i as u8);
            let _ = ((*bs).free_pool)(p);
        }
    }
}

#[unsafe(no_mangle)]
#[inline(never)]
fn bench_empty(block: *mut u8, n: usize) {
    for i in 0..n {
        // SAFETY: `block` is a live block.
        unsafe { ptr::write_volatile(block, i as u8) };
    }
}

#[unsafe(no_mangle)]
#[inline(never)]
fn bench_aligned(alloc: AlignedAlloc, free: AlignedFree, n: usize, size: usize, align: usize) {
    for i in 0..n {
        let p = alloc(size, align);
        // SAFETY: a live block of `size` >= 1 bytes.
        unsafe {
            ptr::write_volatile(p.cast::<u8>(), i as u8);
            free(p);
        }
    }
}

#[unsafe(no_mangle)]
#[inline(never)]
fn bench_raw(alloc: RawAlloc, free: AlignedFree, n: usize, size: usize) {
    for i in 0..n {
        let p = alloc(size);
        // SAFETY: a live block of `size` >= 1 bytes.
        unsafe {
            ptr::write_volatile(p.cast::<u8>(), i as u8);
            free(p);
        }
    }
}

/// `n` reallocs of one block that alternate between `small` and `large`, both within its
/// capacity, so that none moves it.
#[unsafe(no_mangle)]
#[inline(never)]
fn bench_realloc(realloc: Realloc, block: *mut c_void, n: usize, small: usize, large: usize) {
    for i in 0..n {
        // SAFETY: `block` is a live aligned block whose capacity holds `large`.
        let p = unsafe { realloc(block, if i % 2 == 0 { small } else { large }) };
        // SAFETY: the same block, at least `small` bytes.
        unsafe { ptr::write_volatile(p.cast::<u8>(), i as u8) };
    }
}

#[unsafe(no_mangle)]
#[inline(never)]
fn bench_global(allocator: &PoolAllocator, n: usize, layout: Layout) {
    for i in 0..n {
        // SAFETY: a nonzero-size layout; the block is freed with the same layout.
        unsafe {
            let p = allocator.alloc(layout);
            ptr::write_volatile(p, i as u8);
            allocator.dealloc(p, layout);
        }
    }
}

/// The naive wrapper of Zig / uefi-rs / Rust std (r-efi-alloc): `Size + Align`, the pool
/// pointer in the word below the first aligned address past it.
#[unsafe(no_mangle)]
#[inline(never)]
fn bench_naive(bs: *mut BootServices, n: usize, size: usize, align: usize) {
    for i in 0..n {
        let mut raw = ptr::null_mut();
        // SAFETY: as in `bench_floor`; the header word lies inside the request.
        unsafe {
            let Some(request) = size.checked_add(align.max(8)) else {
                continue;
            };
            if ((*bs).allocate_pool)(MemoryType::LOADER_DATA, request, &mut raw) != Status::SUCCESS
            {
                continue;
            }
            let p = ((raw.addr() + 8 + align - 1) & !(align - 1)) as *mut u8;
            p.cast::<*mut u8>().sub(1).write(raw);
            ptr::write_volatile(p, i as u8);
            let _ = ((*bs).free_pool)(p.cast::<*mut u8>().sub(1).read());
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "aligned".into());
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("N"));

    let ring = vec![0u64; RING / 8].into_boxed_slice();
    RING_BASE.store(Box::leak(ring).as_mut_ptr().expose_provenance(), Relaxed);

    let sim = Sim::new(SimConfig::default());
    let bs = sim.boot_services();
    // SAFETY: the sim's table stays valid while `sim` lives; only these two entries change.
    unsafe {
        (*bs).allocate_pool = stub_allocate_pool;
        (*bs).free_pool = stub_free_pool;
    }
    // SAFETY: the sim's image handle and system table.
    let status = unsafe { ffi::pool_init(sim.image_handle(), sim.system_table(), 2) };
    assert_eq!(status, 0, "pool_init");
    // Learn the stub's residue first, as in firmware.
    for _ in 0..8 {
        // SAFETY: a fresh block.
        unsafe { ffi::pool_aligned_free(ffi::pool_aligned_alloc(64, 16)) };
    }

    let alloc: AlignedAlloc = black_box(ffi::pool_aligned_alloc);
    let free: AlignedFree = black_box(ffi::pool_aligned_free);
    let (size, align) = (black_box(64usize), black_box(64usize));
    match scenario.as_str() {
        "floor" => bench_floor(bs, n, black_box(104)),
        "empty" => bench_empty(black_box(Box::leak(Box::new(0u8))), n),
        "aligned" => bench_aligned(alloc, free, n, size, align),
        "aligned32" => bench_aligned(alloc, free, n, size, black_box(32)),
        "aligned8" => bench_aligned(alloc, free, n, size, black_box(8)),
        "raw" => bench_raw(
            black_box(ffi::pool_raw_alloc),
            black_box(ffi::pool_raw_free),
            n,
            size,
        ),
        "realloc" => {
            let block = ffi::pool_aligned_alloc(64, 16);
            // SAFETY: a live block of capacity >= 64.
            assert!(unsafe { ffi::pool_usable_size(block) } >= 64);
            bench_realloc(
                black_box(ffi::pool_aligned_realloc),
                block,
                n,
                black_box(56),
                black_box(64),
            );
            // SAFETY: still the same live block.
            unsafe { ffi::pool_aligned_free(block) };
        }
        "global" => {
            let layout = Layout::from_size_align(64, 64).expect("layout");
            bench_global(black_box(&PoolAllocator::new()), n, black_box(layout));
        }
        "naive" => bench_naive(bs, n, size, align),
        other => panic!("unknown scenario {other}"),
    }
    let stats = uefi_pool_alloc::stats();
    assert_eq!(stats.live_blocks, 0, "a scenario leaked");
    assert_eq!(stats.invalid_calls, 0, "a call was refused");
    assert_eq!(stats.failed_requests, 0, "an allocation failed");
    println!("{scenario} {n} ok");
}
