//! The page path: blocks of whole pages for alignments above 2 KiB and sizes of 16 MiB and more.
//!
//! For `Align > 4096` it over-allocates `Align/4096 - 1` pages and gives the unaligned head and
//! the unused tail back at once (as the Linux EFI stub does), so a block holds exactly
//! `ceil(Size/4096)` pages: no header, no slack. Blocks are found through the registry.

use core::ptr;

use crate::firmware::Services;
use crate::limits::{PAGE_SIZE, align_up};
use crate::registry::{self, PageBlock, pages_for};
use crate::stats;
use uefi_raw::Status;

/// A new block of `size` bytes at `align` (a power of two up to `POOL_MAX_ALIGN`), or NULL.
#[inline(never)]
pub(crate) fn alloc(services: Services, size: usize, align: usize) -> *mut u8 {
    let pages = pages_for(size);
    let slack = align.max(PAGE_SIZE) / PAGE_SIZE - 1;
    let Some(start) = services.allocate_pages(pages + slack) else {
        stats::refused();
        return ptr::null_mut();
    };
    let address = align_up(start, align.max(PAGE_SIZE));
    let head = (address - start) / PAGE_SIZE;
    // Giving back the unaligned head and tail cannot fail for pages just allocated.
    let _ = services.free_pages(start, head);
    let _ = services.free_pages(address + pages * PAGE_SIZE, slack - head);

    let block = PageBlock {
        address,
        size,
        align,
    };
    let recorded = registry::insert(&services.raise_tpl(), services, block);
    if !recorded {
        let _ = services.free_pages(address, pages);
        stats::refused();
        return ptr::null_mut();
    }
    stats::requested(pages * PAGE_SIZE);
    stats::allocated(size);
    ptr::with_exposed_provenance_mut(address)
}

/// The live page-path block at `ptr`.
#[inline(never)]
pub(crate) fn find(services: Services, ptr: *mut u8) -> Option<PageBlock> {
    registry::find(&services.raise_tpl(), ptr.addr())
}

/// Frees the page-path block at `ptr`; `None` if there is none.
#[inline(never)]
pub(crate) fn free(services: Services, ptr: *mut u8) -> Option<Status> {
    let block = registry::remove(&services.raise_tpl(), services, ptr.addr())?;
    let status = services.free_pages(block.address, block.pages());
    if status == Status::SUCCESS {
        stats::freed(block.size);
    }
    Some(status)
}

/// What [`resize`] did.
pub(crate) enum Resize {
    /// `ptr` is not a page-path block.
    NotFound,
    /// The block now holds the new size, at the same address.
    Done,
    /// The block could not change in place (or its size was not the expected one); it is as
    /// it was.
    Kept(PageBlock),
}

/// Makes the page-path block at `ptr` hold `size` bytes without moving it, if its size is
/// `expected` (when given): a shrink gives whole tail pages back, a grow claims the pages right
/// after the block if they are free.
#[inline(never)]
pub(crate) fn resize(
    services: Services,
    ptr: *mut u8,
    size: usize,
    expected: Option<usize>,
) -> Resize {
    let exclusive = services.raise_tpl();
    let Some(block) = registry::find(&exclusive, ptr.addr()) else {
        return Resize::NotFound;
    };
    if expected.is_some_and(|expected| expected != block.size) {
        return Resize::Kept(block);
    }
    let (old_pages, new_pages) = (block.pages(), pages_for(size));
    let tail = block.address + new_pages.min(old_pages) * PAGE_SIZE;
    if new_pages > old_pages {
        if !services.allocate_pages_at(tail, new_pages - old_pages) {
            return Resize::Kept(block);
        }
        stats::requested((new_pages - old_pages) * PAGE_SIZE);
    } else {
        let _ = services.free_pages(tail, old_pages - new_pages);
    }
    registry::update(&exclusive, PageBlock { size, ..block });
    if size >= block.size {
        stats::grew(size - block.size);
    } else {
        stats::shrank(block.size - size);
    }
    Resize::Done
}
