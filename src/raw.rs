//! The raw path: `AllocatePool` and `FreePool` with nothing added, for callers happy with the
//! 8-byte alignment UEFI guarantees.

use core::ptr;

use uefi_raw::Status;

use crate::call::Call;
use crate::firmware;
use crate::limits::POOL_MAX_SIZE;
use crate::refusal;
use crate::route::{self, Owner};
use crate::stats;

/// A pool block of `size` bytes (size 0 asks for 1, so that every firmware returns a unique
/// block), or NULL. Its bytes do not count as live: a C free cannot say how many they were, and
/// a block may be freed through either API.
pub(crate) fn alloc(size: usize, call: &Call) -> *mut u8 {
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if size > POOL_MAX_SIZE {
        refusal::invalid_call(call.caller, ptr::null_mut());
        return ptr::null_mut();
    }
    let request = size.max(1);
    let Some(block) = services.allocate_pool(request) else {
        stats::refused();
        return ptr::null_mut();
    };
    stats::requested(request);
    stats::allocated(0);
    block
}

/// Gives a raw block back with FreePool. A pointer the library knows as another path's block, or
/// that cannot be a pool block (page 0, not 8-aligned), never reaches FreePool.
///
/// # Safety
/// `ptr` is NULL or meets the pointer contract of `route::owner`.
pub(crate) unsafe fn free(ptr: *mut u8, call: &Call) -> Status {
    if ptr.is_null() {
        return Status::SUCCESS;
    }
    let services = match firmware::services() {
        Ok(services) => services,
        Err(unavailable) => return unavailable.status(),
    };
    // SAFETY: the caller's contract.
    if !matches!(unsafe { route::owner_of(ptr) }, Owner::Foreign) {
        refusal::invalid_call(call.caller, ptr);
        return Status::INVALID_PARAMETER;
    }
    free_pool(services, ptr, call)
}

/// FreePool of a pointer the library knows nothing of.
pub(crate) fn free_pool(services: firmware::Services, ptr: *mut u8, call: &Call) -> Status {
    let status = services.free_pool(ptr);
    if status == Status::SUCCESS {
        stats::freed(0);
    } else {
        refusal::invalid_call(call.caller, ptr);
    }
    status
}
