//! `GlobalAlloc` for Rust firmware, on the same allocation core as the C exports (one state, one
//! set of statistics, blocks interchangeable through the C API where its free allows).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use uefi_raw::table::system::SystemTable;
use uefi_raw::{Handle, Status};

use crate::call::{self, Call};
use crate::firmware::{self, POOL_MEMORY_TYPE_DEFAULT};
use crate::limits::{FRONT_LIMIT, POOL_ALIGN};
use crate::refusal::Caller;
use crate::route::{self, Owner};
use crate::stats::{self, PoolStats};
use crate::{aligned, raw};

/// The library as a Rust global allocator:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: uefi_pool_alloc::PoolAllocator = uefi_pool_alloc::PoolAllocator::new();
/// ```
///
/// `Layout`s up to 1 KiB (size and alignment) come from the small-block front: no firmware call
/// per block, no header. Larger ones with an alignment up to 8 take the raw path (`AllocatePool`
/// itself, no header, since `dealloc` is told the layout); larger alignments the pool path
/// (header, firmware-aware requests) or pages (above 2 KiB of alignment). `realloc` keeps a block
/// in place when it fits, moves a block growing past 1 KiB to pages (which then grow in place
/// when the pages after them are free), and moves otherwise. Its blocks cannot be freed with the
/// firmware's FreePool: see [`FirmwarePool`] for memory that can. Nothing panics: every failure
/// is a null pointer, which `alloc` turns into `handle_alloc_error` as usual. Until
/// [`PoolAllocator::init`] (or the C `pool_init`) runs, and after ExitBootServices, every
/// allocation returns null.
#[derive(Debug, Default)]
pub struct PoolAllocator(());

impl PoolAllocator {
    /// The allocator; it holds no state of its own.
    pub const fn new() -> PoolAllocator {
        PoolAllocator(())
    }

    /// Initialises the library from the image's handle and system table, with the image's
    /// `ImageDataType` as memory type (else `EfiBootServicesData`). Calling it when the library
    /// is initialised already (from C `pool_init`, say) succeeds and changes nothing.
    ///
    /// # Safety
    /// `system_table` is the image's system table and `image` its handle (or null).
    pub unsafe fn init(image: Handle, system_table: *mut SystemTable) -> Result<(), Status> {
        // SAFETY: the caller's contract.
        unsafe { Self::init_with_memory_type(image, system_table, POOL_MEMORY_TYPE_DEFAULT) }
    }

    /// [`PoolAllocator::init`] with an explicit memory type (see `pool_init`).
    ///
    /// # Safety
    /// As for [`PoolAllocator::init`].
    pub unsafe fn init_with_memory_type(
        image: Handle,
        system_table: *mut SystemTable,
        memory_type: u32,
    ) -> Result<(), Status> {
        // SAFETY: the caller's contract.
        unsafe { Self::init_with_options(image, system_table, memory_type, 0) }
    }

    /// [`PoolAllocator::init`] with an explicit memory type and options (see `pool_init_ex`:
    /// [`POOL_PASS_THROUGH`](crate::POOL_PASS_THROUGH) sends every block to the firmware,
    /// [`POOL_PRIVATE`](crate::POOL_PRIVATE) keeps the image out of the boot's shared state).
    ///
    /// # Safety
    /// As for [`PoolAllocator::init`].
    pub unsafe fn init_with_options(
        image: Handle,
        system_table: *mut SystemTable,
        memory_type: u32,
        options: u32,
    ) -> Result<(), Status> {
        // SAFETY: the caller's contract.
        match unsafe { firmware::init(image, system_table, memory_type, options) } {
            Status::SUCCESS | Status::ALREADY_STARTED => Ok(()),
            error => Err(error),
        }
    }

    /// The library's statistics, C and Rust blocks together, of every image sharing the state.
    pub fn stats(&self) -> PoolStats {
        call::run(Caller::STATS, |_| stats::snapshot())
    }

    /// Gives idle pages of the small-block front back to the firmware (`pool_trim`); returns how
    /// many.
    pub fn trim(&self) -> usize {
        call::run(Caller::TRIM, crate::front::trim)
    }
}

/// Memory the firmware's `FreePool` can free: plain `AllocatePool` blocks (alignment 8 at most;
/// a larger alignment gets null). Blocks of [`PoolAllocator`] cannot be given to FreePool (they
/// live in the library's pages or carry a header), so memory that a UEFI interface hands to a
/// caller who frees it with FreePool (strings, device paths, handle buffers) must come from
/// here, from `pool_raw_alloc` in C, or from Boot Services directly. Its `dealloc` frees with
/// FreePool, after making sure the pointer is no block of the library's other paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct FirmwarePool;

unsafe impl GlobalAlloc for FirmwarePool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > POOL_ALIGN {
            return ptr::null_mut();
        }
        call::run(Caller::RUST_ALLOC, |call| raw::alloc(layout.size(), call))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` is a block of this allocator.
        call::run(Caller::RUST_DEALLOC, |call| {
            // SAFETY: `ptr` is a block of this allocator.
            let _ = unsafe { raw::free(ptr, call) };
        });
    }
}

/// Large blocks at alignments up to 8 come straight from AllocatePool: `dealloc` is told the
/// layout, so they need no header.
fn takes_raw_path(layout: Layout) -> bool {
    layout.align() <= POOL_ALIGN && (layout.size() > FRONT_LIMIT || !firmware::front_enabled())
}

/// Frees any block of the library whatever the layout says: C's aligned and front blocks may
/// come back through a Rust layout of alignment 8 or less, and C's raw blocks (foreign to the
/// aligned API) go to FreePool.
///
/// # Safety
/// `ptr` is a block of this allocator or of the C API.
unsafe fn release(ptr: *mut u8, call: &Call) {
    let Ok(services) = firmware::services() else {
        return;
    };
    // SAFETY: the caller's contract; `owner` is what `route` says of `ptr`.
    unsafe {
        match route::owner(ptr) {
            Owner::Foreign => {
                let _ = raw::free_pool(services, ptr, call);
            }
            owner => {
                let _ = aligned::free_owned(services, ptr, owner, call);
            }
        }
    }
}

unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        call::run(Caller::RUST_ALLOC, |call| {
            if takes_raw_path(layout) {
                raw::alloc(layout.size(), call)
            } else {
                aligned::alloc_inline(layout.size(), layout.align(), call)
            }
        })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        call::run(Caller::RUST_ALLOC, |call| {
            if takes_raw_path(layout) {
                let block = raw::alloc(layout.size(), call);
                if !block.is_null() {
                    // SAFETY: the block holds `layout.size()` bytes.
                    unsafe { ptr::write_bytes(block, 0, layout.size()) };
                }
                block
            } else {
                aligned::alloc_zeroed(1, layout.size(), layout.align(), call)
            }
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // A failure (boot services gone, a pointer that is not a block) leaks: dealloc has no
        // way to report it, and panicking in firmware is worse.
        if !ptr.is_null() {
            // SAFETY: `ptr` is a block of this allocator.
            call::run(Caller::RUST_DEALLOC, |call| unsafe { release(ptr, call) });
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        call::run(Caller::RUST_REALLOC, |call| {
            // What the block is, not what its layout would get now: a raw block shrunk in
            // place has a layout the front would serve.
            // SAFETY: `ptr` is a block of this allocator.
            if !matches!(unsafe { route::owner_of(ptr) }, Owner::Foreign) {
                // SAFETY: `ptr` is a live block of the aligned API.
                return unsafe { aligned::realloc(ptr, new_size, call) };
            }
            if new_size <= layout.size() {
                // A pool block cannot give memory back in place; it simply keeps its size.
                return ptr;
            }
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return ptr::null_mut();
            };
            let new = if takes_raw_path(new_layout) {
                raw::alloc(new_size, call)
            } else {
                aligned::alloc(new_size, layout.align(), call)
            };
            if !new.is_null() {
                // SAFETY: both blocks are live and distinct, the old one holds `layout.size()`
                // bytes.
                unsafe {
                    ptr::copy_nonoverlapping(ptr, new, layout.size());
                    release(ptr, call);
                }
            }
            new
        })
    }
}
