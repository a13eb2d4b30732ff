//! The aligned path: blocks of any power-of-two alignment with an 8-byte header below the
//! pointer (or, for large alignments and sizes, whole pages found through the registry), and
//! the operations that need no old size: free, realloc, usable size, checked shrink.

use core::ptr;

use uefi_raw::Status;

use crate::block::{self, Block};
use crate::firmware::{self, Services};
use crate::limits::{
    HEADER_SIZE, MAX_POOL_PATH_ALIGN, MAX_POOL_PATH_SIZE, PAGE_SIZE, POOL_ALIGN,
    POOL_DEFAULT_ALIGN, POOL_MAX_ALIGN, POOL_MAX_SIZE, align_up,
};
use crate::pages::{self, Found, Resize};
use crate::refusal::{self, Caller};
use crate::{residue, stats};

/// A block of `size` bytes aligned to `align`, or NULL. See `pool_aligned_alloc`.
pub(crate) fn alloc(size: usize, align: usize, caller: Caller) -> *mut u8 {
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if !align.is_power_of_two() || align > POOL_MAX_ALIGN || size > POOL_MAX_SIZE {
        return rejected(ptr::null_mut(), caller, ptr::null_mut());
    }
    if align > MAX_POOL_PATH_ALIGN || size > MAX_POOL_PATH_SIZE {
        return pages::alloc(services, size, align);
    }
    let align = align.max(POOL_ALIGN);
    let predicted = residue::padding(align);
    match place(services, size, align, predicted) {
        Placement::Misfit if predicted < align => match place(services, size, align, align) {
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
fn place(services: Services, size: usize, align: usize, padding: usize) -> Placement {
    let request = size + padding;
    let Some(pool) = services.allocate_pool(request) else {
        stats::refused();
        return Placement::Refused;
    };
    stats::requested(request);
    residue::observe(pool.addr());
    let offset = align_up(pool.addr() + HEADER_SIZE, align) - pool.addr();
    if offset > padding || pool.addr() % POOL_ALIGN != 0 {
        let _ = services.free_pool(pool);
        if padding == align {
            // Only a firmware breaking UEFI's 8-byte pool alignment gets here.
            stats::refused();
        }
        return Placement::Misfit;
    }
    let ptr = pool.wrapping_add(offset);
    if is_page_aligned(ptr) && !pages::register_pool_block(services, ptr) {
        let _ = services.free_pool(pool);
        stats::refused();
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

/// `count * size` zeroed bytes aligned to `align`, or NULL. See `pool_aligned_calloc`.
pub(crate) fn alloc_zeroed(count: usize, size: usize, align: usize, caller: Caller) -> *mut u8 {
    let Some(bytes) = count.checked_mul(size) else {
        if firmware::services().is_ok() {
            refusal::invalid_call(caller, ptr::null_mut());
        }
        return ptr::null_mut();
    };
    let ptr = alloc(bytes, align, caller);
    if !ptr.is_null() {
        // SAFETY: the block holds `bytes` bytes.
        unsafe { ptr::write_bytes(ptr, 0, bytes) };
    }
    ptr
}

/// Frees a block of this path. See `pool_aligned_free`.
///
/// # Safety
/// `ptr` is NULL or points into readable memory with 8 readable bytes below it.
pub(crate) unsafe fn free(ptr: *mut u8, caller: Caller) -> Status {
    if ptr.is_null() {
        return Status::SUCCESS;
    }
    let services = match firmware::services() {
        Ok(services) => services,
        Err(unavailable) => return unavailable.status(),
    };
    if is_page_aligned(ptr) {
        match pages::free(services, ptr) {
            Found::Pages(status) => return status,
            Found::PoolBlock => {}
            Found::Nothing => return rejected(Status::INVALID_PARAMETER, caller, ptr),
        }
    }
    // SAFETY: the caller's contract.
    match unsafe { find_pool_block(ptr) } {
        // SAFETY: `block` was just read from `ptr`.
        Some(block) if unsafe { block::retire(ptr, block) } => {
            let status = services.free_pool(block::pool_pointer(ptr, block));
            if status == Status::SUCCESS {
                stats::freed(block.size);
            }
            status
        }
        _ => rejected(Status::INVALID_PARAMETER, caller, ptr),
    }
}

/// Resizes a block of this path, in place when it fits. See `pool_aligned_realloc`.
///
/// # Safety
/// `ptr` is NULL or points into readable memory with 8 readable bytes below it.
pub(crate) unsafe fn realloc(ptr: *mut u8, size: usize, caller: Caller) -> *mut u8 {
    if ptr.is_null() {
        return alloc(size, POOL_DEFAULT_ALIGN, caller);
    }
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if size > POOL_MAX_SIZE {
        return rejected(ptr::null_mut(), caller, ptr);
    }
    if is_page_aligned(ptr) {
        match pages::resize(services, ptr, size, None) {
            Found::Pages(Resize::Done) => return ptr,
            // SAFETY: `ptr` is a live page-path block of `block.size` bytes.
            Found::Pages(Resize::Kept(block)) => {
                return unsafe { moved(ptr, block.size, block.align, size, caller) };
            }
            Found::PoolBlock => {}
            Found::Nothing => return rejected(ptr::null_mut(), caller, ptr),
        }
    }
    // SAFETY: the caller's contract.
    let Some(block) = (unsafe { find_pool_block(ptr) }) else {
        return rejected(ptr::null_mut(), caller, ptr);
    };
    // SAFETY: `block` was just read from `ptr`.
    if size <= block.capacity() && unsafe { resize_pool_block(ptr, block, size, caller) } {
        return ptr;
    }
    // SAFETY: `ptr` is a live pool-path block of `block.size` bytes.
    unsafe { moved(ptr, block.size, block.align, size, caller) }
}

/// Moves a live block to a new one of `size` bytes and the same alignment; NULL (and the old
/// block intact) if there is no memory.
unsafe fn moved(
    ptr: *mut u8,
    old_size: usize,
    align: usize,
    size: usize,
    caller: Caller,
) -> *mut u8 {
    let new = alloc(size, align, caller);
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct; each holds the bytes copied.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(size));
            let _ = free(ptr, caller);
        }
    }
    new
}

/// Shrinks a block in place to `new_size`; see `pool_shrink`. Blocks this path does not know
/// (raw blocks) succeed untouched whenever `new_size <= old_size`.
///
/// # Safety
/// `ptr` is NULL or points into readable memory with 8 readable bytes below it.
pub(crate) unsafe fn shrink(
    ptr: *mut u8,
    old_size: usize,
    new_size: usize,
    caller: Caller,
) -> bool {
    let Ok(services) = firmware::services() else {
        return false;
    };
    if ptr.is_null() || new_size > old_size {
        return false;
    }
    if is_page_aligned(ptr) {
        match pages::resize(services, ptr, new_size, Some(old_size)) {
            Found::Pages(resize) => return matches!(resize, Resize::Done),
            Found::PoolBlock => {}
            // A raw block (never read below: the page under it may be a guard page).
            Found::Nothing => return true,
        }
    }
    // SAFETY: the caller's contract.
    match unsafe { find_pool_block(ptr) } {
        // SAFETY: `block` was just read from `ptr`.
        Some(block) => {
            block.size == old_size && unsafe { resize_pool_block(ptr, block, new_size, caller) }
        }
        None => true,
    }
}

/// Usable bytes at `ptr`, 0 for anything that is not a live block of this path.
///
/// # Safety
/// `ptr` is NULL or points into readable memory with 8 readable bytes below it.
pub(crate) unsafe fn usable_size(ptr: *mut u8) -> usize {
    let Ok(services) = firmware::services() else {
        return 0;
    };
    if ptr.is_null() {
        return 0;
    }
    if is_page_aligned(ptr) {
        match pages::find(services, ptr) {
            Found::Pages(block) => return block.pages() * PAGE_SIZE,
            Found::PoolBlock => {}
            Found::Nothing => return 0,
        }
    }
    // SAFETY: the caller's contract.
    unsafe { find_pool_block(ptr) }.map_or(0, |block| block.capacity())
}

/// Rewrites the header for `size` (within the block's capacity and the header's range).
unsafe fn resize_pool_block(ptr: *mut u8, block: Block, size: usize, caller: Caller) -> bool {
    if size > MAX_POOL_PATH_SIZE {
        return false;
    }
    // SAFETY: the caller read `block` from `ptr`.
    if !unsafe { block::replace(ptr, block, block.resized(size)) } {
        return rejected(false, caller, ptr);
    }
    if size >= block.size {
        stats::grew(size - block.size);
    } else {
        stats::shrank(block.size - size);
    }
    true
}

/// The pool-path block at `ptr`, if `ptr` is one.
unsafe fn find_pool_block(ptr: *mut u8) -> Option<Block> {
    // Page 0 holds no pool block, and is unmapped where firmware detects NULL dereferences.
    if ptr.addr() % POOL_ALIGN != 0 || ptr.addr() < PAGE_SIZE {
        return None;
    }
    // SAFETY: 8-aligned, and the caller vouches for the 8 bytes below.
    unsafe { block::read(ptr) }
}

fn is_page_aligned(ptr: *mut u8) -> bool {
    ptr.addr() % PAGE_SIZE == 0
}

/// Reports a call refused for its arguments and returns `result`.
fn rejected<T>(result: T, caller: Caller, ptr: *mut u8) -> T {
    refusal::invalid_call(caller, ptr);
    result
}
