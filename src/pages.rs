//! The page path: blocks of whole pages for alignments above 2 KiB and sizes of 16 MiB and more;
//! and the lookup of every page-aligned pointer through the registry.
//!
//! For `Align > 4096` it over-allocates `Align/4096 - 1` pages and gives the unaligned head and
//! the unused tail back at once (as the Linux EFI stub does), so a block holds exactly
//! `ceil(Size/4096)` pages: no header, no slack.

use core::ptr;

use uefi_raw::Status;

use crate::firmware::Services;
use crate::limits::{PAGE_SIZE, align_up};
use crate::registry::{self, Entry, PageBlock, pages_for};
use crate::stats;

/// What the registry says about a page-aligned pointer, and what was done with it.
pub(crate) enum Found<T> {
    /// A page-path block: the result of the operation on it.
    Pages(T),
    /// A pool-path block: its header, right below the pointer, is the library's and readable.
    PoolBlock,
    /// Nothing the library handed out.
    Nothing,
}

impl From<Option<Entry>> for Found<PageBlock> {
    fn from(entry: Option<Entry>) -> Found<PageBlock> {
        match entry {
            Some(Entry::Pages(block)) => Found::Pages(block),
            Some(Entry::PoolBlock) => Found::PoolBlock,
            None => Found::Nothing,
        }
    }
}

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
    if !registry::insert(
        &services.raise_tpl(),
        services,
        address,
        Entry::Pages(block),
    ) {
        let _ = services.free_pages(address, pages);
        stats::refused();
        return ptr::null_mut();
    }
    stats::requested(pages * PAGE_SIZE);
    stats::allocated(size);
    ptr::with_exposed_provenance_mut(address)
}

/// Records a page-aligned pool-path block; `false` if the registry could not grow.
#[inline(never)]
pub(crate) fn register_pool_block(services: Services, ptr: *mut u8) -> bool {
    registry::insert(
        &services.raise_tpl(),
        services,
        ptr.addr(),
        Entry::PoolBlock,
    )
}

/// What the page-aligned `ptr` is.
#[inline(never)]
pub(crate) fn find(services: Services, ptr: *mut u8) -> Found<PageBlock> {
    registry::find(&services.raise_tpl(), ptr.addr()).into()
}

/// Frees the page-path block at the page-aligned `ptr`; a pool-path block is only forgotten
/// here, for the caller to free.
#[inline(never)]
pub(crate) fn free(services: Services, ptr: *mut u8) -> Found<Status> {
    let removed = registry::remove(&services.raise_tpl(), services, ptr.addr());
    match Found::<PageBlock>::from(removed) {
        Found::Pages(block) => {
            let status = services.free_pages(block.address, block.pages());
            if status == Status::SUCCESS {
                stats::freed(block.size);
            }
            Found::Pages(status)
        }
        Found::PoolBlock => Found::PoolBlock,
        Found::Nothing => Found::Nothing,
    }
}

/// What [`resize`] did to a page-path block.
pub(crate) enum Resize {
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
) -> Found<Resize> {
    let exclusive = services.raise_tpl();
    let block = match Found::<PageBlock>::from(registry::find(&exclusive, ptr.addr())) {
        Found::Pages(block) => block,
        Found::PoolBlock => return Found::PoolBlock,
        Found::Nothing => return Found::Nothing,
    };
    if expected.is_some_and(|expected| expected != block.size) {
        return Found::Pages(Resize::Kept(block));
    }
    let (old_pages, new_pages) = (block.pages(), pages_for(size));
    let tail = block.address + new_pages.min(old_pages) * PAGE_SIZE;
    if new_pages > old_pages {
        if !services.allocate_pages_at(tail, new_pages - old_pages) {
            return Found::Pages(Resize::Kept(block));
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
    Found::Pages(Resize::Done)
}
