//! C and Rust in one image on one allocator: c/mixed.c (compiled by clang, linked in by
//! this crate's build.rs) allocates what Rust frees and frees what Rust allocates, and the statistics C reads
//! through `pool_stats` are the ones Rust reads through `PoolAllocator::stats`.
//!
//! Rust's `dealloc` frees a Layout of alignment <= 8 as a raw block (FreePool) and a larger one
//! as an aligned block (`pool_aligned_free`), so C's raw blocks come back through an align-1
//! Layout and C's aligned blocks through their own alignment. C frees Rust's blocks with
//! `pool_raw_free` (alignment <= 8) and `pool_aligned_free` (larger).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{CStr, c_char, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use uefi_pool_alloc::{PoolAllocator, PoolStats, ffi};
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Handle, Status};

use crate::report::{check, check_eq};
use crate::util::{Line, Page, aligned, fill, mismatch};

unsafe extern "efiapi" {
    fn mixed_c_init(image: Handle, st: *mut SystemTable) -> usize;
    fn mixed_c_aligned_alloc(size: usize, align: usize, seed: u8) -> *mut u8;
    fn mixed_c_raw_alloc(size: usize, seed: u8) -> *mut u8;
    fn mixed_c_holds(block: *const u8, size: usize, seed: u8) -> u8;
    fn mixed_c_aligned_free(block: *mut u8) -> usize;
    fn mixed_c_raw_free(block: *mut u8) -> usize;
    fn mixed_c_aligned_realloc(block: *mut u8, new_size: usize) -> *mut u8;
    fn mixed_c_usable_size(block: *mut u8) -> usize;
    fn mixed_c_stats(stats: *mut PoolStats) -> usize;
    fn mixed_c_churn(rounds: usize) -> usize;
}

fn c_stats() -> PoolStats {
    let mut stats = PoolStats::default();
    // SAFETY: a writable POOL_STATS.
    let status = unsafe { mixed_c_stats(&mut stats) };
    assert_eq!(status, 0, "pool_stats from C");
    stats
}

/// C's `pool_stats` and Rust's `stats()`, field by field.
fn check_agree(a: &PoolAllocator, when: &str) {
    check_eq(
        c_stats(),
        a.stats(),
        format_args!("mixed: C's pool_stats == Rust's stats() {when}"),
    );
}

fn live(stats: PoolStats) -> (u64, u64) {
    (stats.live_blocks, stats.live_bytes)
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

pub fn run(a: &PoolAllocator, image: Handle, st: *mut SystemTable) {
    // SAFETY: the image's handle and system table.
    check_eq(
        Status(unsafe { mixed_c_init(image, st) }),
        Status::ALREADY_STARTED,
        "mixed: C's pool_init after PoolAllocator::init: EFI_ALREADY_STARTED (one state, one init)",
    );
    let start = a.stats();
    check_agree(a, "at the start");

    c_allocates_rust_frees(a, start);
    rust_allocates_c_frees(a);
    wrong_free_is_refused(a);
    refusals_reach_the_handler(a);

    // SAFETY: plain C code on the library.
    let failures = unsafe { mixed_c_churn(300) };
    check_eq(
        failures,
        0,
        "mixed: 300 rounds of C-only aligned/raw/realloc traffic",
    );

    check_eq(
        live(a.stats()),
        live(start),
        "mixed: live_blocks and live_bytes back to their start",
    );
    check_agree(a, "at the end");
}

/// C allocates an aligned block, a page-path block and a raw block; Rust checks them and frees
/// them through `dealloc` and through the C API called from Rust.
fn c_allocates_rust_frees(a: &PoolAllocator, start: PoolStats) {
    // SAFETY: plain calls into the C half.
    let (c_aligned, c_page, c_raw) = unsafe {
        (
            mixed_c_aligned_alloc(100, 64, 1),
            mixed_c_aligned_alloc(64, 8192, 2),
            mixed_c_raw_alloc(50, 3),
        )
    };
    let all = !c_aligned.is_null() && !c_page.is_null() && !c_raw.is_null();
    check(
        all,
        "mixed: C allocated aligned (100 @ 64), page (64 @ 8192) and raw (50) blocks",
        "NULL",
    );
    if !all {
        return;
    }
    // SAFETY: the blocks hold these sizes.
    let contents = unsafe {
        mismatch(core::slice::from_raw_parts(c_aligned, 100), 1).is_none()
            && mismatch(core::slice::from_raw_parts(c_page, 64), 2).is_none()
            && mismatch(core::slice::from_raw_parts(c_raw, 50), 3).is_none()
    };
    check(
        contents && aligned(c_aligned, 64) && aligned(c_page, 8192),
        "mixed: Rust reads C's blocks: aligned, C's contents",
        "misaligned or wrong contents",
    );
    let now = a.stats();
    check_eq(
        (
            now.live_blocks - start.live_blocks,
            now.live_bytes - start.live_bytes,
        ),
        (3, 164),
        "mixed: Rust's stats() count C's 3 blocks and 164 bytes (raw blocks count 0)",
    );
    check_agree(a, "with C's blocks live");

    // SAFETY: C's blocks, freed once each.
    unsafe {
        a.dealloc(c_aligned, layout(100, 64));
        a.dealloc(c_raw, layout(50, 1));
    }
    // SAFETY: as above; the C API called from Rust.
    let status = unsafe { ffi::pool_aligned_free(c_page.cast::<c_void>()) };
    check_eq(
        Status(status),
        Status::SUCCESS,
        "mixed: Rust's pool_aligned_free of C's page block",
    );
    check_eq(
        live(a.stats()),
        live(start),
        "mixed: Rust's dealloc freed C's aligned and raw blocks (statistics back to the start)",
    );
}

/// Rust allocates `Box`es and a `Vec` of every path (the front, alignment 64, pages, raw); C checks
/// and frees them.
fn rust_allocates_c_frees(a: &PoolAllocator) {
    let start = a.stats();
    let mut bytes = Box::new([0u8; 48]);
    fill(&mut *bytes, 4);
    let line = Box::new(Line([0x44; 64]));
    let page = Box::new(Page([0x55; 4096]));
    let mut v: Vec<u8> = vec![0; 10_000];
    fill(&mut v, 6);
    let (v_ptr, v_len) = (v.as_mut_ptr(), v.len());
    core::mem::forget(v);
    let bytes = Box::into_raw(bytes).cast::<u8>();
    let line = Box::into_raw(line).cast::<u8>();
    let page = Box::into_raw(page).cast::<u8>();
    check_agree(a, "with Rust's blocks live");

    // SAFETY: live blocks of these sizes.
    let (held, line_usable, raw_usable) = unsafe {
        (
            mixed_c_holds(bytes, 48, 4) == 1
                && mixed_c_holds(v_ptr, v_len, 6) == 1
                && core::slice::from_raw_parts(line, 64)
                    .iter()
                    .all(|&b| b == 0x44)
                && core::slice::from_raw_parts(page, 4096)
                    .iter()
                    .all(|&b| b == 0x55),
            mixed_c_usable_size(line),
            mixed_c_usable_size(bytes),
        )
    };
    check(
        held,
        "mixed: C reads Rust's Box<[u8; 48]>, Box<align 64>, Box<align 4096>, Vec<u8>",
        "wrong contents",
    );
    // SAFETY: a live raw block.
    let vec_usable = unsafe { mixed_c_usable_size(v_ptr) };
    check(
        line_usable >= 64 && raw_usable == 48 && vec_usable == 0,
        "mixed: C's pool_usable_size: >= 64 for Rust's Box<align 64>, 48 for its Box<[u8; 48]> \
         (a front block), 0 for its 10 000-byte Vec (a raw block)",
        format_args!("{line_usable}, {raw_usable} and {vec_usable}"),
    );

    // SAFETY: Rust's blocks, each freed once, by the C function matching its path.
    let statuses = unsafe {
        [
            mixed_c_aligned_free(bytes),
            mixed_c_aligned_free(line),
            mixed_c_aligned_free(page),
            mixed_c_raw_free(v_ptr),
        ]
    };
    check_eq(
        statuses,
        [0; 4],
        "mixed: C frees Rust's front, aligned, page and raw Vec blocks",
    );
    check_eq(
        live(a.stats()),
        live(start),
        "mixed: statistics back once C freed Rust's blocks",
    );

    // C resizes a Rust block (keeping its alignment); Rust frees the result.
    let line = Box::into_raw(Box::new(Line([0x66; 64]))).cast::<u8>();
    // SAFETY: a live aligned block; the C API keeps its alignment.
    let grown = unsafe { mixed_c_aligned_realloc(line, 1000) };
    // SAFETY: the grown block holds 1000 bytes, 64 of them kept.
    let kept = !grown.is_null()
        && aligned(grown, 64)
        && unsafe { core::slice::from_raw_parts(grown, 64) }
            .iter()
            .all(|&b| b == 0x66);
    check(
        kept,
        "mixed: C's pool_aligned_realloc of Rust's Box<align 64> to 1000 bytes: aligned, kept",
        "lost",
    );
    check_eq(
        a.stats().live_bytes - start.live_bytes,
        1000,
        "mixed: live_bytes follow C's realloc of a Rust block",
    );
    if !grown.is_null() {
        // SAFETY: a live aligned block; Rust's dealloc of alignment 64 is pool_aligned_free.
        unsafe { a.dealloc(grown, layout(1000, 64)) };
    }
    check_eq(
        live(a.stats()),
        live(start),
        "mixed: Rust's dealloc of C's resized block",
    );
}

/// Each C free refuses the other path's Rust block and leaves it intact.
fn wrong_free_is_refused(a: &PoolAllocator) {
    let start = a.stats();
    // Above the front's 1 KiB at alignment 1: a raw block, straight from AllocatePool.
    let mut raw = Box::new([0u8; 2000]);
    fill(&mut *raw, 7);
    let raw = Box::into_raw(raw);
    let line = Box::into_raw(Box::new(Line([0x77; 64])));
    // SAFETY: live blocks; each C free validates what it is given.
    let (aligned_status, raw_status) = unsafe {
        (
            mixed_c_aligned_free(raw.cast()),
            mixed_c_raw_free(line.cast()),
        )
    };
    check_eq(
        (Status(aligned_status), Status(raw_status)),
        (Status::INVALID_PARAMETER, Status::INVALID_PARAMETER),
        "mixed: pool_aligned_free of a Rust raw block and pool_raw_free of a Rust aligned block are refused",
    );
    // SAFETY: both blocks are still live and ours.
    let (raw, line) = unsafe { (Box::from_raw(raw), Box::from_raw(line)) };
    check(
        mismatch(&*raw, 7).is_none() && line.0.iter().all(|&b| b == 0x77),
        "mixed: the refused blocks are intact",
        "overwritten",
    );
    drop((raw, line));
    let end = a.stats();
    check_eq(
        (
            end.live_blocks,
            end.live_bytes,
            end.invalid_calls - start.invalid_calls,
        ),
        (start.live_blocks, start.live_bytes, 2),
        "mixed: Rust frees them normally; invalid_calls counted the 2 refusals",
    );
}

static REFUSED_FUNCTION: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());
static REFUSED_POINTER: AtomicUsize = AtomicUsize::new(0);
static REFUSALS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "efiapi" fn record_refusal(function: *const c_char, pointer: *mut c_void) {
    REFUSED_FUNCTION.store(function.cast_mut(), Ordering::Relaxed);
    REFUSED_POINTER.store(pointer as usize, Ordering::Relaxed);
    REFUSALS.fetch_add(1, Ordering::Relaxed);
}

/// The last refusal the handler saw: (count, function, pointer).
fn last_refusal() -> (usize, &'static str, usize) {
    let function = REFUSED_FUNCTION.load(Ordering::Relaxed);
    let name = if function.is_null() {
        "none"
    } else {
        // SAFETY: the library passes a NUL-terminated static name.
        unsafe { CStr::from_ptr(function) }.to_str().unwrap_or("?")
    };
    (
        REFUSALS.load(Ordering::Relaxed),
        name,
        REFUSED_POINTER.load(Ordering::Relaxed),
    )
}

/// The invalid-call handler hears of refusals from Rust's GlobalAlloc and from C, by name.
fn refusals_reach_the_handler(a: &PoolAllocator) {
    let previous = ffi::pool_set_invalid_call_handler(Some(record_refusal));
    let lines = Box::into_raw(Box::new([Line([1; 64]), Line([2; 64])]));
    // SAFETY: inside the live block: the second line is 64-aligned and not a block.
    let interior = unsafe { lines.cast::<Line>().add(1) }.cast::<u8>();
    // SAFETY: dealloc validates the pointer and refuses it; nothing is freed.
    unsafe { a.dealloc(interior, layout(64, 64)) };
    check_eq(
        last_refusal(),
        (1, "PoolAllocator::dealloc", interior as usize),
        "handler: Rust's dealloc of an interior pointer is reported as PoolAllocator::dealloc",
    );
    // SAFETY: as above, through C.
    let status = unsafe { mixed_c_aligned_free(interior) };
    check_eq(
        (Status(status), last_refusal()),
        (
            Status::INVALID_PARAMETER,
            (2, "pool_aligned_free", interior as usize),
        ),
        "handler: C's pool_aligned_free of it is reported as pool_aligned_free",
    );
    // SAFETY: the block is live and ours.
    drop(unsafe { Box::from_raw(lines) });
    check_eq(last_refusal().0, 2, "handler: valid frees are not reported");
    let ours = ffi::pool_set_invalid_call_handler(previous);
    check(
        ours.is_some_and(|f| {
            core::ptr::fn_addr_eq(f, record_refusal as unsafe extern "efiapi" fn(_, _))
        }),
        "handler: pool_set_invalid_call_handler gives back the handler set",
        "another one",
    );
}
