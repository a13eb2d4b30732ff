//! Whose a block pointer is: the one place that tells the front's, the page path's and the pool
//! path's blocks from everything else, for every operation that takes a pointer.
//!
//! The index is asked first, about the page holding the pointer: it knows the front's pages and
//! every page-aligned block with certainty, without reading the page. Only a pointer the index
//! does not place, not page-aligned, is checked by the pool-path header 8 bytes below it, which
//! lies in the same page; below a page-aligned pointer nothing is ever read.

use crate::block::{self, Block};
use crate::index::{self, Entry, PageBlock};
use crate::limits::{PAGE_SIZE, POOL_ALIGN};
use crate::records::Record;

/// Where a pointer belongs.
pub(crate) enum Owner {
    /// A page of the front: the record says whether the pointer is a live block there.
    Front(&'static Record),
    /// The start of a page-path block.
    Pages(PageBlock),
    /// A pool-path block, whose header below the pointer is valid.
    Pool(Block),
    /// Not one of the library's aligned, front or page blocks: possibly a raw pool block.
    Foreign,
    /// Nothing any free may take: page 0, a pointer that is not 8-aligned, or one inside a
    /// page-path block.
    Invalid,
}

/// Whose `ptr` (not NULL) is.
///
/// # Safety
/// `ptr` points into readable memory with 8 readable bytes below it, unless it is page-aligned,
/// in page 0 or not 8-aligned (the header's pointer contract).
#[inline(always)]
pub(crate) unsafe fn owner(ptr: *mut u8) -> Owner {
    let address = ptr.addr();
    let page = address & !(PAGE_SIZE - 1);
    // Page 0 holds no block and is unmapped where firmware detects NULL dereferences.
    if page == 0 {
        return Owner::Invalid;
    }
    match index::find_inline(page) {
        // SAFETY: a record stays valid while the call that found it runs.
        Some(Entry::Front(record)) => return Owner::Front(unsafe { &*record }),
        Some(Entry::Pages(block)) if block.address == address => return Owner::Pages(block),
        Some(Entry::Pages(_)) => return Owner::Invalid,
        // Its own pool block lies below it: the header may be read.
        Some(Entry::PoolBlock) if page == address => {}
        _ if page == address => return Owner::Foreign,
        _ => {}
    }
    if address % POOL_ALIGN != 0 {
        return Owner::Invalid;
    }
    // SAFETY: 8-aligned, and the 8 bytes below are in the same page or the block's own.
    match unsafe { block::read(ptr) } {
        Some(block) => Owner::Pool(block),
        None => Owner::Foreign,
    }
}

/// [`owner`], not inlined: for the entry points whose size matters more than their speed.
///
/// # Safety
/// As for [`owner`].
#[inline(never)]
pub(crate) unsafe fn owner_of(ptr: *mut u8) -> Owner {
    // SAFETY: the caller's contract.
    unsafe { owner(ptr) }
}
