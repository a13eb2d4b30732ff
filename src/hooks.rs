//! Test hooks (feature `test-hooks`): a function run between the atomic steps of the front and
//! the index, where the host tests make a re-entrant library call, as a notify function
//! interrupting the library at that instruction would; and a reset of the library's state
//! between simulated firmwares. Without the feature, [`step`] is nothing.

#[cfg(feature = "test-hooks")]
use core::sync::atomic::{AtomicPtr, Ordering};

#[cfg(feature = "test-hooks")]
static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// A point between two atomic steps.
#[inline(always)]
pub(crate) fn step() {
    #[cfg(feature = "test-hooks")]
    {
        let hook = HOOK.load(Ordering::Relaxed);
        if !hook.is_null() {
            // SAFETY: HOOK only ever holds null or a `fn()`.
            unsafe { core::mem::transmute::<*mut (), fn()>(hook)() };
        }
    }
}

/// Sets the function run at every [`step`] (None: nothing). Test builds only.
#[cfg(feature = "test-hooks")]
pub fn set_step_hook(hook: Option<fn()>) {
    HOOK.store(
        hook.map_or(core::ptr::null_mut(), |f| f as *mut ()),
        Ordering::Relaxed,
    );
}

/// Forgets every page, record and table the library holds, without giving anything back: for
/// the host tests, whose simulated firmware (and with it all that memory) is gone after each
/// test, so that a failed test cannot leave the next one pointing into freed memory.
#[cfg(feature = "test-hooks")]
pub fn forget_state() {
    crate::front::forget();
    crate::index::forget();
    crate::records::forget();
    crate::stats::forget_bookkeeping();
}

/// Where the page index starts in firmware memory, or null without one. Test builds only.
#[cfg(feature = "test-hooks")]
pub fn index_table() -> *mut u8 {
    crate::index::table_start()
}
