//! The pool path: blocks above the front's limit (and every block in pass-through mode) up to
//! 16 MiB at alignments up to 2 KiB, carved from one `AllocatePool` block each, with the 8-byte
//! header below the pointer (`block.rs`) and firmware-aware padding (`residue.rs`).

use core::ptr;

use uefi_raw::Status;

use crate::block::{self, Block};
use crate::call::Call;
use crate::firmware::Services;
use crate::index::{self, Entry};
use crate::limits::{HEADER_SIZE, MAX_POOL_PATH_SIZE, PAGE_SIZE, POOL_ALIGN, align_up};
use crate::{residue, stats};

/// A pool-path block of `size` bytes at `align` (at most 2 KiB), or NULL (the caller counts the
/// refusal).
pub(crate) fn alloc(services: Services, size: usize, align: usize, call: &Call) -> *mut u8 {
    let align = align.max(POOL_ALIGN);
    let predicted = residue::padding(align);
    match place(services, size, align, predicted, call) {
        Placement::Misfit if predicted < align => match place(services, size, align, align, call) {
            Placement::Placed(ptr) => ptr,
            _ => ptr::null_mut(),
        },
        Placement::Placed(ptr) => ptr,
        _ => ptr::null_mut(),
    }
}

enum Placement {
    Placed(*mut u8),
    /// The pool pointer left too little room before the aligned pointer; nothing is held.
    Misfit,
    Refused,
}

/// Asks the firmware for `size + padding` bytes and places the header and an `align`-aligned
/// pointer in them, if they fit.
fn place(services: Services, size: usize, align: usize, padding: usize, call: &Call) -> Placement {
    let request = size + padding;
    let Some(pool) = services.allocate_pool(request) else {
        return Placement::Refused;
    };
    stats::requested(request);
    residue::observe(pool.addr());
    let offset = align_up(pool.addr() + HEADER_SIZE, align) - pool.addr();
    if offset > padding || pool.addr() % POOL_ALIGN != 0 {
        // With `padding == align` only a firmware breaking UEFI's 8-byte pool alignment gets
        // here: the caller gets NULL.
        let _ = services.free_pool(pool);
        return Placement::Misfit;
    }
    let ptr = pool.wrapping_add(offset);
    // Below a page-aligned pointer nothing is read unless the index vouches for it.
    if ptr.addr() % PAGE_SIZE == 0 && !register(services, ptr, call) {
        let _ = services.free_pool(pool);
        return Placement::Refused;
    }
    // SAFETY: `pool` holds `size + padding` bytes and `HEADER_SIZE <= offset <= padding`.
    unsafe {
        block::write(
            ptr,
            Block {
                size,
                tail: padding - offset,
                align,
                offset,
                word: 0,
            },
        )
    };
    stats::allocated(size);
    Placement::Placed(ptr)
}

#[cold]
fn register(services: Services, ptr: *mut u8, call: &Call) -> bool {
    services.raise_tpl().is_some_and(|exclusive| {
        index::insert(&exclusive, call, services, ptr.addr(), Entry::PoolBlock)
    })
}

/// Frees the pool-path block `block` at `ptr`: its header is retired first (so of two racing
/// frees one wins, and a block whose header was spoilt stays registered), then the index
/// forgets a page-aligned one.
///
/// # Safety
/// `block` was read from `ptr`.
pub(crate) unsafe fn free(
    services: Services,
    ptr: *mut u8,
    block: Block,
    call: &Call,
) -> Option<Status> {
    // SAFETY: the caller's contract.
    if !unsafe { block::retire(ptr, block) } {
        return None;
    }
    let page_aligned = ptr.addr() % PAGE_SIZE == 0;
    if page_aligned {
        let _ = index::remove(ptr.addr());
    }
    let status = services.free_pool(block::pool_pointer(ptr, block));
    if status == Status::SUCCESS {
        stats::freed(block.size);
    }
    if page_aligned {
        index::tidy(call, services, false);
    }
    Some(status)
}

/// Rewrites the header for `size` (within the block's capacity and the header's range);
/// `false` if it does not fit or changed meanwhile.
///
/// # Safety
/// `block` was read from `ptr`.
pub(crate) unsafe fn resize(ptr: *mut u8, block: Block, size: usize) -> bool {
    if size > MAX_POOL_PATH_SIZE || size > block.capacity() {
        return false;
    }
    // SAFETY: the caller's contract.
    if !unsafe { block::replace(ptr, block, block.resized(size)) } {
        return false;
    }
    if size >= block.size {
        stats::grew(size - block.size);
    } else {
        stats::shrank(block.size - size);
    }
    true
}
