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
/// test, so that a failed test cannot leave the next one pointing into freed memory. The image
/// goes back to its private state, to decide afresh at its next `pool_init`.
#[cfg(feature = "test-hooks")]
pub fn forget_state() {
    crate::shared::forget();
    crate::front::forget();
    crate::index::forget();
    crate::records::forget();
    crate::stats::forget_bookkeeping();
}

/// Another image linking the library, for the host tests: the per-image statics (the firmware
/// table, the memory type, the options, the learned pool pattern, the invalid-call handler, the
/// front's kind, the choice of state) are swapped in while [`as_image`] runs. Test builds only.
#[cfg(feature = "test-hooks")]
pub struct Image {
    saved: core::cell::UnsafeCell<Saved>,
    private: crate::shared::State,
}

#[cfg(feature = "test-hooks")]
#[derive(Default)]
struct Saved {
    firmware: [usize; 7],
    residue: [usize; 2],
    handler: usize,
    kind: [usize; 2],
    shared: [usize; 3],
}

// SAFETY: the host tests run the library on one thread at a time (the sim's lock).
#[cfg(feature = "test-hooks")]
unsafe impl Sync for Image {}

#[cfg(feature = "test-hooks")]
impl Image {
    /// An image that has not called `pool_init` yet.
    pub const fn new() -> Image {
        Image {
            saved: core::cell::UnsafeCell::new(Saved {
                firmware: [0; 7],
                residue: [0; 2],
                handler: 0,
                kind: [0; 2],
                shared: [0; 3],
            }),
            private: crate::shared::State::new(),
        }
    }

    /// Exchanges the statics with this image's saved ones: in place while it is active, saved
    /// while it is not.
    fn swap(&self) {
        // SAFETY: one thread; the saved values are touched only here.
        let saved = unsafe { &mut *self.saved.get() };
        crate::firmware::swap_image(&mut saved.firmware);
        crate::residue::swap_image(&mut saved.residue);
        crate::refusal::swap_image(&mut saved.handler);
        crate::front::swap_image(&mut saved.kind);
        crate::shared::swap_image(&mut saved.shared, &self.private);
    }
}

#[cfg(feature = "test-hooks")]
impl Default for Image {
    fn default() -> Image {
        Image::new()
    }
}

/// The image whose statics are in place; null for the test's own (see [`as_image`]).
#[cfg(feature = "test-hooks")]
static ACTIVE: AtomicPtr<Image> = AtomicPtr::new(core::ptr::null_mut());

/// Where the test's own statics wait while another image runs.
#[cfg(feature = "test-hooks")]
static OUTSIDE: Image = Image::new();

/// Puts `to`'s statics in place of `from`'s (null: the test's own).
#[cfg(feature = "test-hooks")]
fn switch(from: *mut Image, to: *mut Image) {
    // SAFETY: images are 'static in the tests, or OUTSIDE.
    unsafe { from.as_ref() }.unwrap_or(&OUTSIDE).swap();
    unsafe { to.as_ref() }.unwrap_or(&OUTSIDE).swap();
    ACTIVE.store(to, Ordering::Relaxed);
}

/// Runs `f` as a call from `image`, which may nest inside a call of another image (a notify
/// function of one image interrupting another's library call). Test builds only.
#[cfg(feature = "test-hooks")]
pub fn as_image<R>(image: &'static Image, f: impl FnOnce() -> R) -> R {
    let previous = ACTIVE.load(Ordering::Relaxed);
    let image = core::ptr::from_ref(image).cast_mut();
    if previous == image {
        return f();
    }
    switch(previous, image);
    let result = f();
    switch(image, previous);
    result
}

/// Where the page index starts in firmware memory, or null without one. Test builds only.
#[cfg(feature = "test-hooks")]
pub fn index_table() -> *mut u8 {
    crate::index::table_start()
}
