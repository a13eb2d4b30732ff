//! The raw path: `AllocatePool` and `FreePool` with nothing added, for callers happy with the
//! 8-byte alignment UEFI guarantees.

use core::ptr;

use uefi_raw::Status;

use crate::firmware::{self, Services};
use crate::limits::{PAGE_SIZE, POOL_ALIGN, POOL_MAX_SIZE};
use crate::pages::{self, Found};
use crate::refusal::{self, Caller};
use crate::{aligned, block, stats};

/// A pool block of `size` bytes (size 0 asks for 1, so that every firmware returns a unique
/// block), or NULL. Its bytes do not count as live: a C free cannot say how many they were, and
/// a block may be freed through either API.
pub(crate) fn alloc(size: usize, caller: Caller) -> *mut u8 {
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    if size > POOL_MAX_SIZE {
        refusal::invalid_call(caller, ptr::null_mut());
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

/// What [`free`] does with a block of the aligned or page path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtherPaths {
    /// Refuse it (C: the caller used the wrong function).
    Refuse,
    /// Free it there (Rust: a `Layout` of alignment 8 or less may describe a C aligned block).
    Free,
}

/// Gives a raw block back. Pointers that cannot be pool blocks, and blocks of the aligned and page
/// paths (whose firmware block starts elsewhere), never reach FreePool.
///
/// # Safety
/// `ptr` is NULL or points into readable memory with 8 readable bytes below it.
pub(crate) unsafe fn free(ptr: *mut u8, other_paths: OtherPaths, caller: Caller) -> Status {
    if ptr.is_null() {
        return Status::SUCCESS;
    }
    let services = match firmware::services() {
        Ok(services) => services,
        Err(unavailable) => return unavailable.status(),
    };
    // SAFETY: the caller's contract.
    if unsafe { belongs_to_another_path(services, ptr) } {
        if other_paths == OtherPaths::Free {
            // SAFETY: the caller's contract.
            return unsafe { aligned::free(ptr, caller) };
        }
        refusal::invalid_call(caller, ptr);
        return Status::INVALID_PARAMETER;
    }
    let status = services.free_pool(ptr);
    if status == Status::SUCCESS {
        stats::freed(0);
    } else {
        refusal::invalid_call(caller, ptr);
    }
    status
}

/// Whether `ptr` is misaligned for pool or belongs to the aligned or page path. Below a
/// page-aligned pointer may lie a guard page, so only the registry is asked there.
unsafe fn belongs_to_another_path(services: Services, ptr: *mut u8) -> bool {
    // Page 0 holds no pool block, and is unmapped where firmware detects NULL dereferences.
    if ptr.addr() % POOL_ALIGN != 0 || ptr.addr() < PAGE_SIZE {
        return true;
    }
    if ptr.addr() % PAGE_SIZE == 0 {
        return !matches!(pages::find(services, ptr), Found::Nothing);
    }
    // SAFETY: 8-aligned and not page-aligned, so the 8 bytes below share its (readable) page.
    unsafe { block::read(ptr) }.is_some()
}
