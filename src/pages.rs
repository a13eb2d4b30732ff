//! The page path: blocks of whole pages for alignments above 2 KiB and sizes of 16 MiB and more,
//! and for blocks that grow past the front (so that they can grow in place).
//!
//! For `Align > 4096` it over-allocates `Align/4096 - 1` pages and gives the unaligned head and
//! the unused tail back at once (as the Linux EFI stub does), so a block holds exactly
//! `ceil(Size/4096)` pages: no header, no slack. The index records each block.

use core::ptr;

use uefi_raw::Status;

use crate::call::Call;
use crate::firmware::Services;
use crate::index::{self, Entry, PageBlock, pages_for};
use crate::limits::{PAGE_SIZE, align_up};
use crate::stats;

/// A new block of `size` bytes at `align` (a power of two up to `POOL_MAX_ALIGN`), or NULL (the
/// caller counts the refusal).
#[inline(never)]
pub(crate) fn alloc(services: Services, size: usize, align: usize, call: &Call) -> *mut u8 {
    let pages = pages_for(size);
    let slack = align.max(PAGE_SIZE) / PAGE_SIZE - 1;
    let Some(start) = services.allocate_pages(pages + slack) else {
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
        kind: crate::front::kind(),
    };
    let recorded = services.raise_tpl().is_some_and(|exclusive| {
        index::insert(&exclusive, call, services, address, Entry::Pages(block))
    });
    if !recorded {
        let _ = services.free_pages(address, pages);
        return ptr::null_mut();
    }
    stats::requested(pages * PAGE_SIZE);
    stats::allocated(size);
    ptr::with_exposed_provenance_mut(address)
}

/// Frees the page-path block `block`; `None` if a racing free took it first.
#[inline(never)]
pub(crate) fn free(services: Services, block: PageBlock, call: &Call) -> Option<Status> {
    // The entry is claimed first: of two racing frees, one gets it, and its size is the one
    // recorded now.
    let Some(Entry::Pages(block)) = index::remove(block.address) else {
        return None;
    };
    let status = services.free_pages(block.address, block.pages());
    if status == Status::SUCCESS {
        stats::freed(block.size);
    }
    index::tidy(call, services, false);
    Some(status)
}

/// Makes the page-path block at `block.address` hold `size` bytes without moving it, if its size
/// is `expected` (when given): a shrink gives whole tail pages back, a grow claims the pages
/// right after the block if they are free and the block has this image's memory type. `false`
/// if it cannot (nothing changed).
#[inline(never)]
pub(crate) fn resize(
    services: Services,
    block: PageBlock,
    size: usize,
    expected: Option<usize>,
) -> bool {
    let Some(exclusive) = services.raise_tpl() else {
        return false;
    };
    // Read again at TPL_NOTIFY: no notify function changes it meanwhile.
    let Some(Entry::Pages(block)) = index::find(block.address) else {
        return false;
    };
    if expected.is_some_and(|expected| expected != block.size) {
        return false;
    }
    let (old_pages, new_pages) = (block.pages(), pages_for(size));
    let tail = block.address + new_pages.min(old_pages) * PAGE_SIZE;
    if new_pages > old_pages {
        // Pages of this image's memory type: only for a block of the same type (another image
        // of the boot may have allocated it), so that no block spans two types.
        if block.kind.is_none()
            || block.kind != crate::front::kind()
            || !services.allocate_pages_at(tail, new_pages - old_pages)
        {
            return false;
        }
        stats::requested((new_pages - old_pages) * PAGE_SIZE);
    } else {
        let _ = services.free_pages(tail, old_pages - new_pages);
    }
    index::update(&exclusive, PageBlock { size, ..block });
    if size >= block.size {
        stats::grew(size - block.size);
    } else {
        stats::shrank(block.size - size);
    }
    true
}
