//! Bytes requested from firmware (the `requested_bytes` delta) for one `Box<[u8; 64]>`-like
//! allocation at alignments 8, 64 and 4096, and for a `Box` of a 4 KiB page-aligned type, next
//! to what uefi-rs's and Rust std's (r-efi-alloc's) allocators ask for the same Layout.

use core::alloc::{GlobalAlloc, Layout};

use uefi_pool_alloc::PoolAllocator;

use crate::report::check;

/// uefi-rs: AllocatePool(size) up to align 8; whole pages (AllocatePages) when align is 4096
/// and the size a multiple of it; otherwise AllocatePool(size + align).
fn uefi_rs(size: usize, align: usize) -> usize {
    let pages = align == 4096 && size.is_multiple_of(4096);
    if align <= 8 || pages {
        size
    } else {
        size + align
    }
}

/// Rust std on UEFI (r-efi-alloc): AllocatePool(size) up to align 8, else size + align.
fn std(size: usize, align: usize) -> usize {
    if align <= 8 { size } else { size + align }
}

/// Bytes the library asked the firmware for to allocate `layout` (None if the block is null
/// or misaligned), and the bytes its page registry held meanwhile.
fn requested(a: &PoolAllocator, layout: Layout) -> Option<(u64, u64)> {
    let before = a.stats().requested_bytes;
    // SAFETY: a non-zero-sized layout; the block is freed at once.
    let block = unsafe { a.alloc(layout) };
    if block.is_null() || !block.addr().is_multiple_of(layout.align()) {
        return None;
    }
    let now = a.stats();
    // SAFETY: allocated above with this layout.
    unsafe { a.dealloc(block, layout) };
    Some((now.requested_bytes - before, now.bookkeeping_bytes))
}

pub fn run(a: &PoolAllocator) {
    // Where the firmware's pool pointers fall: the library's firmware-aware padding learns it.
    let probe = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: freed at once.
    let pool = unsafe { a.alloc(probe) };
    info!(
        "firmware pool pointers: {:#x}, i.e. {} mod 64, {} mod 128",
        pool.addr(),
        pool.addr() % 64,
        pool.addr() % 128
    );
    // SAFETY: allocated above.
    unsafe { a.dealloc(pool, probe) };

    info!("bytes requested from firmware per allocation (uefi-pool-alloc | uefi-rs | Rust std):");
    for (what, size, align) in [
        ("Box<[u8; 64]>, Align 8", 64, 8),
        ("Box<[u8; 64]>-like, Align 64", 64, 64),
        ("Box<[u8; 64]>-like, Align 4096", 64, 4096),
        ("Box<[u8; 4096]>-like, Align 4096", 4096, 4096),
    ] {
        let layout = Layout::from_size_align(size, align).unwrap();
        let Some((ours, registry)) = requested(a, layout) else {
            check(
                false,
                format_args!("requested bytes: {what}"),
                "no aligned block",
            );
            continue;
        };
        let (theirs, std) = (uefi_rs(size, align), std(size, align));
        if align > 2048 {
            info!(
                "  {what:<33} {ours:>5} | {theirs:>5} | {std:>5}  (ours: AllocatePages; \
                 page registry {registry} B meanwhile)"
            );
        } else {
            info!("  {what:<33} {ours:>5} | {theirs:>5} | {std:>5}");
        }
        // The library's bound: pool requests never exceed Size + max(Align, 8); page blocks
        // take ceil(Size / 4096) pages.
        let bound = if align > 2048 {
            size.div_ceil(4096) * 4096
        } else {
            size + align.max(8)
        };
        check(
            ours as usize <= bound,
            format_args!("requested bytes: {what}: {ours} <= {bound}"),
            "over the library's bound",
        );
    }
    info!(
        "the page registry is shared by all live page blocks and freed with the last: now {} B",
        a.stats().bookkeeping_bytes
    );
}
