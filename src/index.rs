//! Every page the library owns or hands out at a page boundary, by address: an open-addressing
//! hash table in firmware memory, read without a lock.
//!
//! It holds the front's pages (with their records), page-path blocks and the pool-path blocks
//! that happen to be page-aligned. Below a page-aligned pointer lies another page, possibly
//! someone else's guard page, so the library never reads there: such pointers are found here or
//! refused without touching memory; and a pointer inside a front page is recognised here with
//! certainty, before anything in the page is trusted.
//!
//! Readers take no lock: a notify function may interrupt a lookup at any point. Writers insert
//! and update at `TPL_NOTIFY` (one at a time), only into empty slots; a removal turns the key into
//! a tombstone with one compare-exchange, so of two racing removals exactly one wins, and a slot
//! never holds another key until the table is rebuilt. Rebuilding (growing, shrinking, dropping
//! tombstones) and freeing the table happen only in the outermost library call ([`Call`]), when
//! no reader is half done; nested calls may fill the table up to 7/8 meanwhile.
//!
//! The table's first `OVERFLOW_REACH` bytes hold no slot that is ever read or written: the table
//! may start a page, right above a page of caller blocks whose last block overflows.

use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::call::Call;
use crate::firmware::{RaisedTpl, Services};
use crate::limits::{OVERFLOW_REACH, PAGE_SIZE};
use crate::records::Record;
use crate::stats;

/// What the table knows of a page address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A page of the small-block front, described by its record.
    Front(*mut Record),
    /// A page-path block starting here.
    Pages(PageBlock),
    /// A pool-path block whose pointer is this address; its header (in its own pool block) is
    /// right below.
    PoolBlock,
}

/// A live page-path block. Its page count is always `pages_for(size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageBlock {
    pub address: usize,
    pub size: usize,
    pub align: usize,
    /// The kind (`front.rs`) of the memory type its pages were allocated as, if it has one: a
    /// block grows in place only by pages of its own type.
    pub kind: Option<usize>,
}

/// Pages a block of `size` bytes occupies: at least one, so that size 0 gets a unique address.
#[inline]
pub(crate) const fn pages_for(size: usize) -> usize {
    if size == 0 {
        1
    } else {
        size.div_ceil(PAGE_SIZE)
    }
}

impl PageBlock {
    pub(crate) fn pages(&self) -> usize {
        pages_for(self.size)
    }
}

/// One slot: the page address with the kind of entry in its low 12 bits ([`POOL_BLOCK`],
/// [`FRONT`], or for a page-path block log2 of its alignment and its kind plus one, 0 for none),
/// and a value (a page-path block's size, a front page's record).
#[repr(C)]
struct Slot {
    key: AtomicUsize,
    value: AtomicUsize,
}

const EMPTY: usize = 0;
const TOMBSTONE: usize = usize::MAX;
const LOW_BITS: usize = PAGE_SIZE - 1;
const POOL_BLOCK: usize = 0x800;
const FRONT: usize = 0x801;
const LOG2_ALIGN: usize = 0x1F;
const KIND_SHIFT: u32 = 5;
const KIND_CODE: usize = 0xF;
const _: () = assert!(crate::limits::POOL_MAX_ALIGN.trailing_zeros() as usize <= LOG2_ALIGN);
const _: () = assert!(crate::records::KINDS < KIND_CODE && (KIND_CODE << KIND_SHIFT) < POOL_BLOCK);
const MIN_LOG2: usize = 5;
/// Slots at the table's start that are never used (see the module docs).
const UNUSED: usize = OVERFLOW_REACH / size_of::<Slot>();

/// The index's share of the allocator's state (`shared.rs`). The table's slots, or null, and
/// log2 of its capacity change only while no reader is half done (see the module docs), so a
/// reader always sees a matching pair.
#[repr(C)]
pub(crate) struct Index {
    slots: AtomicPtr<Slot>,
    log2: AtomicUsize,
    /// The capacity minus one, kept with `log2`.
    mask: AtomicUsize,
    /// Slots holding a key or a tombstone.
    used: AtomicUsize,
    /// Slots holding a key.
    live: AtomicUsize,
}

impl Index {
    pub(crate) const fn new() -> Index {
        Index {
            slots: AtomicPtr::new(ptr::null_mut()),
            log2: AtomicUsize::new(0),
            mask: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }
    }
}

#[inline(always)]
fn index() -> &'static Index {
    &crate::shared::state().index
}

fn key_of(address: usize, entry: Entry) -> (usize, usize) {
    match entry {
        Entry::Front(record) => (address | FRONT, record.expose_provenance()),
        Entry::Pages(block) => {
            let kind = block.kind.map_or(0, |kind| kind + 1) << KIND_SHIFT;
            (
                address | block.align.trailing_zeros() as usize | kind,
                block.size,
            )
        }
        Entry::PoolBlock => (address | POOL_BLOCK, 0),
    }
}

#[inline(always)]
fn entry_of(key: usize, value: usize) -> Entry {
    match key & LOW_BITS {
        FRONT => Entry::Front(ptr::with_exposed_provenance_mut(value)),
        POOL_BLOCK => Entry::PoolBlock,
        bits => Entry::Pages(PageBlock {
            address: key & !LOW_BITS,
            size: value,
            align: 1 << (bits & LOG2_ALIGN),
            kind: ((bits >> KIND_SHIFT) & KIND_CODE).checked_sub(1),
        }),
    }
}

/// A view of the current table.
#[derive(Clone, Copy)]
struct Table {
    slots: *mut Slot,
    log2: usize,
    mask: usize,
}

impl Table {
    #[inline(always)]
    fn load() -> Option<Table> {
        let index = index();
        let slots = index.slots.load(Ordering::Acquire);
        (!slots.is_null()).then(|| Table {
            slots,
            log2: index.log2.load(Ordering::Relaxed),
            mask: index.mask.load(Ordering::Relaxed),
        })
    }

    #[inline(always)]
    fn capacity(self) -> usize {
        self.mask + 1
    }

    /// Slots that can hold a key.
    #[inline(always)]
    fn usable(self) -> usize {
        self.capacity() - UNUSED
    }

    /// The slot at `index` of a probe sequence: the sequence wraps round the capacity and the
    /// unused slots stand for the first usable one, so every sequence meets every usable slot.
    #[inline(always)]
    fn slot(self, index: usize) -> &'static Slot {
        // SAFETY: the index is masked to the capacity; the table stays allocated while any call
        // that loaded it is in progress (only the outermost call frees it).
        unsafe { &*self.slots.add((index & self.mask).max(UNUSED)) }
    }

    #[inline(always)]
    fn home(self, address: usize) -> usize {
        (((address / PAGE_SIZE) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.log2))
            as usize
    }

    /// The slot holding `address` (a page address), with its key. A tombstone never matches:
    /// its page bits are all ones, above any address.
    #[inline(always)]
    fn position(self, address: usize) -> Option<(&'static Slot, usize)> {
        let mut index = self.home(address);
        loop {
            let slot = self.slot(index);
            let key = slot.key.load(Ordering::Acquire);
            if key ^ address < PAGE_SIZE {
                return Some((slot, key));
            }
            if key == EMPTY {
                return None;
            }
            index += 1;
        }
    }

    /// Stores a key and value in the first empty slot of its probe sequence (there is one).
    fn put(self, key: usize, value: usize) {
        let mut index = self.home(key & !LOW_BITS);
        while self.slot(index).key.load(Ordering::Relaxed) != EMPTY {
            index += 1;
        }
        let slot = self.slot(index);
        slot.value.store(value, Ordering::Relaxed);
        // A reader that sees the key sees the value.
        slot.key.store(key, Ordering::Release);
    }

    fn bytes(self) -> usize {
        self.capacity() * size_of::<Slot>()
    }
}

/// What the library handed out or owns at the page address `address`.
#[inline(never)]
pub(crate) fn find(address: usize) -> Option<Entry> {
    find_inline(address)
}

/// [`find`], inlined into the free path.
#[inline(always)]
pub(crate) fn find_inline(address: usize) -> Option<Entry> {
    let table = Table::load()?;
    let (slot, key) = table.position(address)?;
    crate::hooks::step();
    Some(entry_of(key, slot.value.load(Ordering::Relaxed)))
}

/// Removes the entry at `address` and returns it; of racing removals exactly one gets it.
pub(crate) fn remove(address: usize) -> Option<Entry> {
    let table = Table::load()?;
    loop {
        let (slot, key) = table.position(address)?;
        if slot
            .key
            .compare_exchange(key, TOMBSTONE, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            index().live.fetch_sub(1, Ordering::Relaxed);
            return Some(entry_of(key, slot.value.load(Ordering::Relaxed)));
        }
    }
}

/// Records `entry` at `address`; `false` if the table is full and cannot grow now (nothing
/// recorded). Grows, or drops tombstones, in the outermost call once 3/4 of the slots are used;
/// a nested call may fill them up to 7/8.
pub(crate) fn insert(
    _exclusive: &RaisedTpl,
    call: &Call,
    services: Services,
    address: usize,
    entry: Entry,
) -> bool {
    let used = index().used.load(Ordering::Relaxed) + 1;
    let mut table = Table::load();
    let capacity = table.map_or(0, Table::usable);
    if used * 4 > capacity * 3 {
        // A first table frees nothing, so any call may make it.
        if table.is_none() || call.outermost() {
            let live = index().live.load(Ordering::Relaxed) + 1;
            // Half full after the rebuild: room to grow before the next one.
            table = rebuild(services, live * 2);
        } else if used * 8 > capacity * 7 {
            return false;
        }
    }
    let Some(table) = table else {
        return false;
    };
    let (key, value) = key_of(address, entry);
    table.put(key, value);
    index().used.fetch_add(1, Ordering::Relaxed);
    index().live.fetch_add(1, Ordering::Relaxed);
    true
}

/// Changes the size recorded for the page-path block at `block.address`.
pub(crate) fn update(_exclusive: &RaisedTpl, block: PageBlock) {
    if let Some((slot, _)) = Table::load().and_then(|table| table.position(block.address)) {
        slot.value.store(block.size, Ordering::Relaxed);
    }
}

/// In the outermost call, after removals: shrinks a table that holds few entries (below 1/8,
/// back to half full), drops tombstones, and frees the table once it is empty and `all`
/// (pool_trim) asks for it. The smallest table otherwise stays, so that a loop of one
/// page-aligned block does not pay for a table each time.
pub(crate) fn tidy(call: &Call, services: Services, all: bool) {
    let Some(table) = Table::load() else {
        return;
    };
    let live = index().live.load(Ordering::Relaxed);
    let used = index().used.load(Ordering::Relaxed);
    let shrink = live * 8 < table.usable() && table.log2 > MIN_LOG2;
    let tombstones = used > live * 2 + table.usable() / 4;
    if !((live == 0 && (all || used > 0)) || shrink || tombstones) || !call.outermost() {
        return;
    }
    let Some(_exclusive) = services.raise_tpl() else {
        return;
    };
    if live == 0 && all {
        release(table, services);
        index().slots.store(ptr::null_mut(), Ordering::Release);
        index().used.store(0, Ordering::Relaxed);
    } else if live == 0 && !shrink {
        // Only tombstones left: clear them in place, no new table.
        // SAFETY: the table's own slots; no reader is half done (outermost call, TPL_NOTIFY).
        unsafe { ptr::write_bytes(table.slots, 0, table.capacity()) };
        index().used.store(0, Ordering::Relaxed);
    } else {
        let _ = rebuild(services, live * 2);
    }
}

/// Calls `f` with every front page's record (a lock-free snapshot: entries added or removed
/// meanwhile may be missed).
pub(crate) fn for_each_front(mut f: impl FnMut(*mut Record)) {
    let Some(table) = Table::load() else {
        return;
    };
    for index in UNUSED..table.capacity() {
        let slot = table.slot(index);
        let key = slot.key.load(Ordering::Acquire);
        if key != TOMBSTONE && key & LOW_BITS == FRONT {
            f(ptr::with_exposed_provenance_mut(
                slot.value.load(Ordering::Relaxed),
            ));
        }
    }
}

/// A new table of at least `wanted` slots (at least 16) holding the live entries, replacing and
/// freeing the old one; the old table if memory is short.
fn rebuild(services: Services, wanted: usize) -> Option<Table> {
    let old = Table::load();
    let log2 = wanted
        .max(1 << MIN_LOG2)
        .next_power_of_two()
        .trailing_zeros() as usize;
    let bytes = (1 << log2) * size_of::<Slot>();
    // From a page on, whole pages: a pool block of n pages costs n + 1 with EDK2's header.
    let memory = if bytes >= PAGE_SIZE {
        services
            .allocate_bookkeeping_pages(bytes / PAGE_SIZE)
            .map(ptr::with_exposed_provenance_mut)
    } else {
        services.allocate_bookkeeping_pool(bytes)
    };
    let Some(memory) = memory else {
        return old;
    };
    // SAFETY: `memory` holds `bytes` bytes, at least 8-aligned; zero is an empty slot.
    unsafe { ptr::write_bytes(memory, 0, bytes) };
    let new = Table {
        slots: memory.cast(),
        log2,
        mask: (1 << log2) - 1,
    };
    let mut live = 0;
    if let Some(old) = old {
        for index in UNUSED..old.capacity() {
            let slot = old.slot(index);
            let key = slot.key.load(Ordering::Relaxed);
            if key != EMPTY && key != TOMBSTONE {
                new.put(key, slot.value.load(Ordering::Relaxed));
                live += 1;
            }
        }
    }
    index().log2.store(log2, Ordering::Relaxed);
    index().mask.store(new.mask, Ordering::Relaxed);
    index().slots.store(new.slots, Ordering::Release);
    index().used.store(live, Ordering::Relaxed);
    index().live.store(live, Ordering::Relaxed);
    stats::bookkeeping(0, bytes);
    if let Some(old) = old {
        release(old, services);
    }
    Some(new)
}

fn release(table: Table, services: Services) {
    let bytes = table.bytes();
    stats::bookkeeping(bytes, 0);
    if bytes >= PAGE_SIZE {
        let _ = services.free_pages(table.slots.addr(), bytes / PAGE_SIZE);
    } else {
        let _ = services.free_pool(table.slots.cast());
    }
}

#[cfg(feature = "test-hooks")]
pub(crate) fn table_start() -> *mut u8 {
    index().slots.load(Ordering::Relaxed).cast()
}

#[cfg(feature = "test-hooks")]
pub(crate) fn forget() {
    index().slots.store(ptr::null_mut(), Ordering::Relaxed);
    index().used.store(0, Ordering::Relaxed);
    index().live.store(0, Ordering::Relaxed);
}
