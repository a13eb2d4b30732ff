//! `GlobalAlloc` for Rust firmware, on the same allocation core as the C exports (one state, one
//! set of statistics, blocks interchangeable through the C API where its free allows).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use uefi_raw::table::system::SystemTable;
use uefi_raw::{Handle, Status};

use crate::aligned;
use crate::firmware::{self, POOL_MEMORY_TYPE_DEFAULT};
use crate::limits::POOL_ALIGN;
use crate::raw::{self, OtherPaths};
use crate::refusal::Caller;
use crate::stats::{self, PoolStats};

/// The library as a Rust global allocator:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: uefi_pool_alloc::PoolAllocator = uefi_pool_alloc::PoolAllocator::new();
/// ```
///
/// `Layout`s with an alignment up to 8 take the raw path: `AllocatePool` itself, no header, since
/// `dealloc` is told the layout. Larger alignments take the aligned path (header, firmware-aware
/// requests, pages above 2 KiB). `realloc` shrinks in place, grows in place where the block's
/// slack allows, and moves otherwise. Nothing panics: every failure is a null pointer, which
/// `alloc` turns into `handle_alloc_error` as usual. Until [`PoolAllocator::init`] (or the C
/// `pool_init`) runs, and after ExitBootServices, every allocation returns null.
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
        match unsafe { firmware::init(image, system_table, memory_type) } {
            Status::SUCCESS | Status::ALREADY_STARTED => Ok(()),
            error => Err(error),
        }
    }

    /// The library's statistics, C and Rust blocks together.
    pub fn stats(&self) -> PoolStats {
        stats::snapshot()
    }
}

fn takes_raw_path(layout: Layout) -> bool {
    layout.align() <= POOL_ALIGN
}

unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if takes_raw_path(layout) {
            raw::alloc(layout.size(), Caller::RUST_ALLOC)
        } else {
            aligned::alloc(layout.size(), layout.align(), Caller::RUST_ALLOC)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if takes_raw_path(layout) {
            let block = raw::alloc(layout.size(), Caller::RUST_ALLOC);
            if !block.is_null() {
                // SAFETY: the block holds `layout.size()` bytes.
                unsafe { ptr::write_bytes(block, 0, layout.size()) };
            }
            block
        } else {
            aligned::alloc_zeroed(1, layout.size(), layout.align(), Caller::RUST_ALLOC)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // A failure (boot services gone, a pointer that is not a block) leaks: dealloc has no
        // way to report it, and panicking in firmware is worse.
        // SAFETY: `ptr` is a block of this allocator with this layout.
        let _ = unsafe {
            if takes_raw_path(layout) {
                raw::free(ptr, OtherPaths::Free, Caller::RUST_DEALLOC)
            } else {
                aligned::free(ptr, Caller::RUST_DEALLOC)
            }
        };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !takes_raw_path(layout) {
            // SAFETY: `ptr` is a live aligned block.
            return unsafe { aligned::realloc(ptr, new_size, Caller::RUST_REALLOC) };
        }
        if new_size <= layout.size() {
            // A pool block cannot give memory back in place; it simply keeps its size.
            return ptr;
        }
        let new = raw::alloc(new_size, Caller::RUST_REALLOC);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct, the old one holds `layout.size()` bytes.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size());
                let _ = raw::free(ptr, OtherPaths::Free, Caller::RUST_REALLOC);
            }
        }
        new
    }
}
