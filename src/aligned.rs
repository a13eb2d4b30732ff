//! The aligned API: blocks of any power-of-two alignment, from the front (small blocks), the
//! pool path or the page path, and the operations that need no old size: free, realloc, usable
//! size, checked shrink. Where a pointer belongs is decided in `route.rs`.

use core::ptr;

use uefi_raw::Status;

use crate::call::Call;
use crate::classes;
use crate::firmware::{self, Services};
use crate::limits::{
    FRONT_LIMIT, MAX_POOL_PATH_ALIGN, MAX_POOL_PATH_SIZE, POOL_DEFAULT_ALIGN, POOL_MAX_ALIGN,
    POOL_MAX_SIZE,
};
use crate::route::{self, Owner};
use crate::{front, pages, pool, refusal, stats};

/// A block of `size` bytes aligned to `align`, or NULL. See `pool_aligned_alloc`.
#[inline(never)]
pub(crate) fn alloc(size: usize, align: usize, call: &Call) -> *mut u8 {
    alloc_inline(size, align, call)
}

/// [`alloc`], inlined into the entry points whose speed matters: a small block takes the
/// front's fast path, anything else [`alloc_general`].
#[inline(always)]
pub(crate) fn alloc_inline(size: usize, align: usize, call: &Call) -> *mut u8 {
    if firmware::front_ready()
        && align.is_power_of_two()
        && let Some(class) = classes::class_of(size, align)
    {
        return front::alloc(class, size, call);
    }
    alloc_general(size, align, call)
}

/// Every request but a small block with the front ready: checks, then the pool or page path.
#[inline(never)]
fn alloc_general(size: usize, align: usize, call: &Call) -> *mut u8 {
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if !align.is_power_of_two() || align > POOL_MAX_ALIGN || size > POOL_MAX_SIZE {
        return rejected(ptr::null_mut(), call, ptr::null_mut());
    }
    if firmware::front_enabled()
        && let Some(class) = classes::class_of(size, align)
    {
        return front::alloc(class, size, call);
    }
    from_firmware(services, size, align, false, call)
}

/// A pool-path or page-path block (the page path for `growing` blocks above the front's limit);
/// when the firmware refuses, idle pages are given back and the request made once more.
#[inline(never)]
fn from_firmware(
    services: Services,
    size: usize,
    align: usize,
    growing: bool,
    call: &Call,
) -> *mut u8 {
    let allocate = || {
        if align > MAX_POOL_PATH_ALIGN
            || size > MAX_POOL_PATH_SIZE
            || (growing && size > FRONT_LIMIT)
        {
            pages::alloc(services, size, align, call)
        } else {
            pool::alloc(services, size, align, call)
        }
    };
    let mut block = allocate();
    if block.is_null() && front::trim(call) > 0 {
        block = allocate();
    }
    if block.is_null() {
        stats::refused();
    }
    block
}

/// `count * size` zeroed bytes aligned to `align`, or NULL. See `pool_aligned_calloc`.
pub(crate) fn alloc_zeroed(count: usize, size: usize, align: usize, call: &Call) -> *mut u8 {
    let Some(bytes) = count.checked_mul(size) else {
        if firmware::services().is_ok() {
            refusal::invalid_call(call.caller, ptr::null_mut());
        }
        return ptr::null_mut();
    };
    let ptr = alloc(bytes, align, call);
    if !ptr.is_null() {
        // SAFETY: the block holds `bytes` bytes.
        unsafe { ptr::write_bytes(ptr, 0, bytes) };
    }
    ptr
}

/// Frees a block of this API. See `pool_aligned_free`.
///
/// # Safety
/// `ptr` is NULL or meets the pointer contract of `route::owner`.
#[inline(never)]
pub(crate) unsafe fn free(ptr: *mut u8, call: &Call) -> Status {
    // SAFETY: the caller's contract.
    unsafe { free_inline(ptr, call) }
}

/// [`free`], inlined into the entry points whose speed matters.
///
/// # Safety
/// As for [`free`].
#[inline(always)]
pub(crate) unsafe fn free_inline(ptr: *mut u8, call: &Call) -> Status {
    if ptr.is_null() {
        return Status::SUCCESS;
    }
    if firmware::services().is_ok() {
        // SAFETY: the caller's contract.
        let owner = unsafe { route::owner(ptr) };
        // A front block needs no firmware to be freed.
        if let Owner::Front(record) = owner {
            return match front::free(record, ptr.addr(), call) {
                Some(_) => Status::SUCCESS,
                None => rejected(Status::INVALID_PARAMETER, call, ptr),
            };
        }
        // SAFETY: as above; `owner` is what `route` says of `ptr`.
        return unsafe { free_general(ptr, owner, call) };
    }
    match firmware::services() {
        Err(unavailable) => unavailable.status(),
        // SAFETY: as above.
        Ok(_) => unsafe { free_general(ptr, route::owner_of(ptr), call) },
    }
}

/// Frees a block that is not the front's, with the firmware.
///
/// # Safety
/// `owner` is what `route::owner` said of `ptr` in this call.
#[inline(never)]
unsafe fn free_general(ptr: *mut u8, owner: Owner, call: &Call) -> Status {
    match firmware::services() {
        // SAFETY: the caller's contract.
        Ok(services) => unsafe { free_owned(services, ptr, owner, call) },
        Err(unavailable) => unavailable.status(),
    }
}

/// Frees `ptr`, found to be `owner`'s; `Foreign` and `Invalid` pointers are refused.
///
/// # Safety
/// `owner` is what `route::owner` said of `ptr` in this call.
#[inline(always)]
pub(crate) unsafe fn free_owned(
    services: Services,
    ptr: *mut u8,
    owner: Owner,
    call: &Call,
) -> Status {
    let freed = match owner {
        Owner::Front(record) => front::free(record, ptr.addr(), call).map(|_| Status::SUCCESS),
        Owner::Pages(block) => pages::free(services, block, call),
        // SAFETY: `block` was read from `ptr` (the caller's contract).
        Owner::Pool(block) => unsafe { pool::free(services, ptr, block, call) },
        Owner::Foreign | Owner::Invalid => None,
    };
    freed.unwrap_or_else(|| rejected(Status::INVALID_PARAMETER, call, ptr))
}

/// Resizes a block of this API, in place when it fits. See `pool_aligned_realloc`.
///
/// # Safety
/// `ptr` is NULL or meets the pointer contract of `route::owner`.
pub(crate) unsafe fn realloc(ptr: *mut u8, size: usize, call: &Call) -> *mut u8 {
    if ptr.is_null() {
        return alloc(size, POOL_DEFAULT_ALIGN, call);
    }
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if size > POOL_MAX_SIZE {
        return rejected(ptr::null_mut(), call, ptr);
    }
    // SAFETY: the caller's contract.
    let (old_size, align) = match unsafe { route::owner_of(ptr) } {
        Owner::Front(record) => {
            if front::resize(record, ptr.addr(), size, None, call) {
                return ptr;
            }
            match front::block(record, ptr.addr()) {
                Some(block) => block,
                None => return rejected(ptr::null_mut(), call, ptr),
            }
        }
        Owner::Pages(block) => {
            if pages::resize(services, block, size, None) {
                return ptr;
            }
            (block.size, block.align)
        }
        Owner::Pool(block) => {
            // SAFETY: `block` was just read from `ptr`.
            if unsafe { pool::resize(ptr, block, size) } {
                return ptr;
            }
            (block.size, block.align)
        }
        Owner::Foreign | Owner::Invalid => return rejected(ptr::null_mut(), call, ptr),
    };
    // A block that grows past the front moves to pages, where it can grow in place next time.
    let new = if size > old_size && size > FRONT_LIMIT {
        from_firmware(services, size, align, true, call)
    } else {
        alloc(size, align, call)
    };
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct; each holds the bytes copied.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(size));
            let _ = free(ptr, call);
        }
    }
    new
}

/// Shrinks a block in place to `new_size`; see `pool_shrink`. Pointers that are no block of this
/// API (raw blocks) succeed untouched whenever `new_size <= old_size`.
///
/// # Safety
/// `ptr` is NULL or meets the pointer contract of `route::owner`.
pub(crate) unsafe fn shrink(ptr: *mut u8, old_size: usize, new_size: usize, call: &Call) -> bool {
    let Ok(services) = firmware::services() else {
        return false;
    };
    if ptr.is_null() || new_size > old_size {
        return false;
    }
    // SAFETY: the caller's contract.
    match unsafe { route::owner_of(ptr) } {
        Owner::Front(record) => front::resize(record, ptr.addr(), new_size, Some(old_size), call),
        Owner::Pages(block) => pages::resize(services, block, new_size, Some(old_size)),
        // SAFETY: `block` was just read from `ptr`.
        Owner::Pool(block) => {
            block.size == old_size && unsafe { pool::resize(ptr, block, new_size) }
        }
        Owner::Foreign => true,
        Owner::Invalid => false,
    }
}

/// Usable bytes at `ptr`, 0 for anything that is not a live block of this API.
///
/// # Safety
/// `ptr` is NULL or meets the pointer contract of `route::owner`.
pub(crate) unsafe fn usable_size(ptr: *mut u8) -> usize {
    if ptr.is_null() || firmware::services().is_err() {
        return 0;
    }
    // SAFETY: the caller's contract.
    match unsafe { route::owner_of(ptr) } {
        Owner::Front(record) => front::usable_size(record, ptr.addr()).unwrap_or(0),
        Owner::Pages(block) => block.pages() * crate::limits::PAGE_SIZE,
        Owner::Pool(block) => block.capacity(),
        Owner::Foreign | Owner::Invalid => 0,
    }
}

/// Reports a call refused for its arguments and returns `result`.
fn rejected<T>(result: T, call: &Call, ptr: *mut u8) -> T {
    refusal::invalid_call(call.caller, ptr);
    result
}
