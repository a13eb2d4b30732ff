//! Calls refused for their arguments: each one is counted (`POOL_STATS.InvalidCalls`) and, when
//! the image registered a handler (`pool_set_invalid_call_handler`; EDK2 DEBUG builds do), told
//! to it with the public function's name and the pointer passed, so that a bad free can be found.

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};
use core::{mem, ptr};

use crate::ffi::POOL_INVALID_CALL_HANDLER;
use crate::stats;

/// The public function a call came in through: its NUL-terminated name.
#[derive(Clone, Copy)]
pub(crate) struct Caller(*const c_char);

impl Caller {
    const fn named(name: &'static CStr) -> Caller {
        Caller(name.as_ptr())
    }

    pub(crate) const ALIGNED_ALLOC: Caller = Caller::named(c"pool_aligned_alloc");
    pub(crate) const ALIGNED_CALLOC: Caller = Caller::named(c"pool_aligned_calloc");
    pub(crate) const ALIGNED_REALLOC: Caller = Caller::named(c"pool_aligned_realloc");
    pub(crate) const ALIGNED_FREE: Caller = Caller::named(c"pool_aligned_free");
    pub(crate) const RAW_ALLOC: Caller = Caller::named(c"pool_raw_alloc");
    pub(crate) const RAW_FREE: Caller = Caller::named(c"pool_raw_free");
    pub(crate) const SHRINK: Caller = Caller::named(c"pool_shrink");
    pub(crate) const REMAP: Caller = Caller::named(c"pool_remap");
    pub(crate) const USABLE_SIZE: Caller = Caller::named(c"pool_usable_size");
    pub(crate) const STATS: Caller = Caller::named(c"pool_stats");
    pub(crate) const TRIM: Caller = Caller::named(c"pool_trim");
    pub(crate) const FINI: Caller = Caller::named(c"pool_fini");
    pub(crate) const RUST_ALLOC: Caller = Caller::named(c"PoolAllocator::alloc");
    pub(crate) const RUST_DEALLOC: Caller = Caller::named(c"PoolAllocator::dealloc");
    pub(crate) const RUST_REALLOC: Caller = Caller::named(c"PoolAllocator::realloc");
}

/// The registered handler, as a raw pointer (null: none).
static HANDLER: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Registers `handler` (None: none) and returns the previous one.
pub(crate) fn set_handler(handler: POOL_INVALID_CALL_HANDLER) -> POOL_INVALID_CALL_HANDLER {
    let new = handler.map_or(ptr::null_mut(), |f| f as *mut c_void);
    let old = HANDLER.swap(new, Ordering::AcqRel);
    // SAFETY: HANDLER only ever holds null or a function of this type.
    unsafe { mem::transmute::<*mut c_void, POOL_INVALID_CALL_HANDLER>(old) }
}

/// Counts a call refused for its arguments and tells the handler.
#[cold]
#[inline(never)]
pub(crate) fn invalid_call(caller: Caller, pointer: *mut u8) {
    stats::invalid();
    let handler = HANDLER.load(Ordering::Acquire);
    if !handler.is_null() {
        // SAFETY: HANDLER only ever holds null or a function of this type.
        let handler = unsafe {
            mem::transmute::<*mut c_void, unsafe extern "efiapi" fn(*const c_char, *mut c_void)>(
                handler,
            )
        };
        // SAFETY: the image registered it for exactly this call.
        unsafe { handler(caller.0, pointer.cast()) };
    }
}

/// Swaps the registered handler with `saved` (see `hooks::Image`).
#[cfg(feature = "test-hooks")]
pub(crate) fn swap_image(saved: &mut usize) {
    *saved = HANDLER
        .swap(ptr::with_exposed_provenance_mut(*saved), Ordering::Relaxed)
        .expose_provenance();
}
