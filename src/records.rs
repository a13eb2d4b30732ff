//! The front's page records: one per front page, out of the page's reach, in pages of their
//! own (83 records a page after a small header), handed out and taken back at `TPL_NOTIFY`.
//!
//! A record holds the page's slot bitmap, its address and class, its per-slot slack (when some
//! live block is smaller than its class) and the links of the list the page is on. Nothing of it
//! lies in the data page, so a block that overflows can spoil its neighbours' bytes, never the
//! bookkeeping that decides what is free.

use core::cell::Cell;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::classes::{GEOMETRY, Geometry};
use crate::firmware::{RaisedTpl, Services};
use crate::limits::{OVERFLOW_REACH, PAGE_SIZE};
use crate::stats;

/// One front page.
#[repr(C)]
pub(crate) struct Record {
    /// One bit per slot, set while the slot holds a live block; bits of slots that do not exist
    /// are always set.
    pub bits: [AtomicU64; 2],
    /// The page's address, with the class and list state in the low bits.
    page: AtomicUsize,
    /// Per-slot slack (the class size minus the block's size: `u8` for classes below 256 bytes,
    /// `u16` above), in an internal block; null while every live block is exactly its class size.
    pub slack: AtomicPtr<u8>,
    /// Links of the class's list of partly used pages, or of a record page's free records.
    /// Changed only at `TPL_NOTIFY`.
    pub next: Cell<*mut Record>,
    pub prev: Cell<*mut Record>,
}

// 48 bytes on 64-bit targets, 32 on 32-bit ones.
const _: () = assert!(size_of::<Record>() == 16 + 4 * size_of::<usize>());

/// Where a page stands with its class.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// The class allocates from it.
    Current = 0,
    /// On the class's list of partly used pages.
    Listed = 1,
    /// On no list: it was full when it stopped being current.
    Detached = 2,
}

const CLASS_MASK: usize = 0x1F;
const STATE_SHIFT: u32 = 5;
/// The page's kind (the front's pages of one memory type, `front.rs`): 3 bits.
const KIND_SHIFT: u32 = 7;
/// Kinds a record can name.
pub(crate) const KINDS: usize = 8;
const _: () = assert!(crate::classes::CLASSES <= CLASS_MASK + 1);
const _: () = assert!(KINDS << KIND_SHIFT <= PAGE_SIZE);

/// The bitmap word of `slot` (below 128): masked, so that indexing with it needs no bounds
/// check (the library links no panic code).
#[inline(always)]
pub(crate) const fn word_of(slot: usize) -> usize {
    (slot / 64) & 1
}

/// A record's page address and class, read together.
#[derive(Clone, Copy)]
pub(crate) struct Placement(usize);

impl Placement {
    #[inline(always)]
    pub(crate) fn page(self) -> usize {
        self.0 & !(PAGE_SIZE - 1)
    }

    #[inline(always)]
    pub(crate) fn class(self) -> usize {
        self.0 & CLASS_MASK
    }

    /// The kind of page: which memory type's classes it belongs to.
    #[inline(always)]
    pub(crate) fn kind(self) -> usize {
        (self.0 >> KIND_SHIFT) & (KINDS - 1)
    }

    #[inline(always)]
    pub(crate) fn geometry(self) -> &'static Geometry {
        // SAFETY: records are written only by `alloc`, with a class below CLASSES.
        unsafe { GEOMETRY.get_unchecked(self.class()) }
    }
}

impl Record {
    /// The page's address and class (they never change while the record is in use).
    #[inline(always)]
    pub(crate) fn placement(&self) -> Placement {
        Placement(self.page.load(Ordering::Relaxed))
    }

    #[inline(always)]
    pub(crate) fn page(&self) -> usize {
        self.placement().page()
    }

    #[inline(always)]
    pub(crate) fn class(&self) -> usize {
        self.placement().class()
    }

    pub(crate) fn state(&self) -> State {
        match (self.page.load(Ordering::Relaxed) >> STATE_SHIFT) & 3 {
            0 => State::Current,
            1 => State::Listed,
            _ => State::Detached,
        }
    }

    /// Sets the state; only at TPL_NOTIFY.
    pub(crate) fn set_state(&self, state: State) {
        let word = self.page.load(Ordering::Relaxed) & !(3 << STATE_SHIFT);
        self.page
            .store(word | (state as usize) << STATE_SHIFT, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn geometry(&self) -> &'static Geometry {
        self.placement().geometry()
    }

    /// The bitmap word holding `slot`'s bit.
    #[inline(always)]
    pub(crate) fn word(&self, slot: usize) -> &AtomicU64 {
        &self.bits[word_of(slot)]
    }

    /// Takes a free slot, if the page has one.
    #[inline(always)]
    pub(crate) fn take(&self) -> Option<usize> {
        for (index, word) in self.bits.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            while bits != !0 {
                let bit = (!bits).trailing_zeros();
                crate::hooks::step();
                match word.compare_exchange_weak(
                    bits,
                    bits | 1 << bit,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(index * 64 + bit as usize),
                    Err(now) => bits = now,
                }
            }
        }
        None
    }

    /// Whether every slot is in use.
    pub(crate) fn is_full(&self) -> bool {
        self.bits
            .iter()
            .all(|word| word.load(Ordering::Relaxed) == !0)
    }

    /// Whether no slot is in use.
    pub(crate) fn is_empty(&self) -> bool {
        let empty = self.geometry().empty;
        self.bits[0].load(Ordering::Relaxed) == empty[0]
            && self.bits[1].load(Ordering::Relaxed) == empty[1]
    }

    /// Live blocks in the page.
    pub(crate) fn live(&self) -> usize {
        let empty = self.geometry().empty;
        (self.bits[0].load(Ordering::Relaxed) & !empty[0]).count_ones() as usize
            + (self.bits[1].load(Ordering::Relaxed) & !empty[1]).count_ones() as usize
    }
}

/// A page of records: `OVERFLOW_REACH` bytes left unused (an overflow from the page below may
/// reach them), this header in the next record's place, then the records.
#[repr(C)]
struct RecordPage {
    /// The next record page.
    next: *mut RecordPage,
    /// This page's free records, linked through `next`.
    free: *mut Record,
    /// Records handed out.
    used: usize,
}

const FIRST_RECORD: usize = OVERFLOW_REACH + size_of::<Record>();
const PER_PAGE: usize = (PAGE_SIZE - FIRST_RECORD) / size_of::<Record>();
const _: () = assert!(size_of::<RecordPage>() <= size_of::<Record>());

/// The records' share of the allocator's state (`shared.rs`): the list of record pages, changed
/// only at TPL_NOTIFY.
#[repr(C)]
pub(crate) struct RecordPages(Cell<*mut RecordPage>);

impl RecordPages {
    pub(crate) const fn new() -> RecordPages {
        RecordPages(Cell::new(ptr::null_mut()))
    }
}

#[inline(always)]
fn pages() -> &'static RecordPages {
    &crate::shared::state().records
}

/// A record for a page at `page` of `kind` and `class` in `state`, with every slot free; `None`
/// if a record page cannot be had.
pub(crate) fn alloc(
    _exclusive: &RaisedTpl,
    services: Services,
    page: usize,
    kind: usize,
    class: usize,
    state: State,
) -> Option<*mut Record> {
    let mut holder = pages().0.get();
    // SAFETY: record pages stay allocated while they hold a record; all at TPL_NOTIFY.
    unsafe {
        while !holder.is_null() && (*holder).free.is_null() {
            holder = (*holder).next;
        }
        if holder.is_null() {
            holder = new_page(services)?;
        }
        let record = (*holder).free;
        (*holder).free = (*record).next.get();
        (*holder).used += 1;
        // SAFETY: the front passes classes below CLASSES only.
        let empty = GEOMETRY.get_unchecked(class).empty;
        record.write(Record {
            bits: [AtomicU64::new(empty[0]), AtomicU64::new(empty[1])],
            page: AtomicUsize::new(
                page | class | (state as usize) << STATE_SHIFT | kind << KIND_SHIFT,
            ),
            slack: AtomicPtr::new(ptr::null_mut()),
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
        });
        Some(record)
    }
}

/// Gives a record back; its page of records goes back to the firmware once none is in use.
/// Only in the outermost call: nobody may still hold the record.
pub(crate) fn free(_exclusive: &RaisedTpl, services: Services, record: *mut Record) {
    let holder: *mut RecordPage =
        ptr::with_exposed_provenance_mut((record.addr() & !(PAGE_SIZE - 1)) + OVERFLOW_REACH);
    // SAFETY: `record` came from `alloc`, so its page is a live record page; at TPL_NOTIFY.
    unsafe {
        (*record).next.set((*holder).free);
        (*holder).free = record;
        (*holder).used -= 1;
        if (*holder).used == 0 {
            let mut link: *mut *mut RecordPage = pages().0.as_ptr();
            while *link != holder {
                link = &raw mut (**link).next;
            }
            *link = (*holder).next;
            let _ = services.free_pages(holder.addr() - OVERFLOW_REACH, 1);
            stats::bookkeeping(PAGE_SIZE, 0);
        }
    }
}

/// A new page of records, all free, at the head of the list.
unsafe fn new_page(services: Services) -> Option<*mut RecordPage> {
    let address = services.allocate_bookkeeping_pages(1)?;
    stats::bookkeeping(0, PAGE_SIZE);
    let holder: *mut RecordPage = ptr::with_exposed_provenance_mut(address + OVERFLOW_REACH);
    let first: *mut Record = ptr::with_exposed_provenance_mut(address + FIRST_RECORD);
    // SAFETY: a fresh page: the header and PER_PAGE records fit after OVERFLOW_REACH.
    unsafe {
        for index in 0..PER_PAGE {
            let record = first.add(index);
            let next = if index + 1 < PER_PAGE {
                first.add(index + 1)
            } else {
                ptr::null_mut()
            };
            ptr::addr_of_mut!((*record).next).write(Cell::new(next));
        }
        holder.write(RecordPage {
            next: pages().0.get(),
            free: first,
            used: 0,
        });
    }
    pages().0.set(holder);
    Some(holder)
}

#[cfg(feature = "test-hooks")]
pub(crate) fn forget() {
    pages().0.set(ptr::null_mut());
}
