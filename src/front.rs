//! The small-block front: blocks up to `FRONT_LIMIT` bytes from 4 KiB pages the library takes
//! from the firmware, in size classes (`classes.rs`), without a firmware call per block.
//!
//! Each page holds blocks of one class and is described by a record out of its reach
//! (`records.rs`), found from any pointer through the index (`index.rs`). Allocation takes a free
//! bit of the class's current page with one compare-exchange; free clears the block's bit with
//! one fetch-and, which also tells a double free (the bit was clear) with certainty, after the
//! pointer was checked to be a slot start of a page the front owns. Neither raises the TPL: a
//! notify function interrupting either between two instructions and calling the library meets
//! consistent bitmaps (no free list, so no ABA).
//!
//! Changing which pages a class has is rare and happens at `TPL_NOTIFY`: a full current page is
//! replaced by a partly used one (a list per class) or a new page; a full page that gets a free
//! slot joins that list; a page left without a live block goes back to the firmware, unless it is
//! the class's current page (so a lone alloc/free pair costs no firmware call). Giving memory back
//! happens only in the outermost library call (`call.rs`); a nested call leaves it pending.
//!
//! Idle memory: after every block is freed, the front holds at most one page per class used
//! (its current page) and the records and index entries describing them; `pool_trim` gives
//! those back too.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::call::Call;
use crate::classes::{CLASSES, Geometry, INTERNAL, INTERNAL_SIZE};
use crate::firmware::{self, RaisedTpl, Services};
use crate::index::{self, Entry};
use crate::limits::PAGE_SIZE;
use crate::records::{self, Placement, Record, State};
use crate::{hooks, stats};

/// A class's pages.
struct Class {
    /// The page allocations come from, or null.
    current: AtomicPtr<Record>,
    /// Partly used pages, doubly linked through the records; changed only at TPL_NOTIFY.
    listed: Cell<*mut Record>,
}

struct Classes([Class; CLASSES]);
// SAFETY: `current` is atomic; `listed` is touched only at TPL_NOTIFY, and boot services run on
// one CPU.
unsafe impl Sync for Classes {}

static STATE: Classes = Classes(
    [const {
        Class {
            current: AtomicPtr::new(ptr::null_mut()),
            listed: Cell::new(ptr::null_mut()),
        }
    }; CLASSES],
);

/// The pages of `class`.
#[inline(always)]
fn class_state(class: usize) -> &'static Class {
    debug_assert!(class < CLASSES);
    // SAFETY: every class comes from `classes::class_of`, is INTERNAL, or is a record's, which
    // `records::alloc` wrote with a class below CLASSES. (Indexing would link panic code.)
    unsafe { STATE.0.get_unchecked(class) }
}

/// Pages of caller blocks the front holds (internal pages count as bookkeeping).
static PAGES: AtomicUsize = AtomicUsize::new(0);

/// A block of `class` holding `size` bytes, or NULL when no page can be had.
#[inline(always)]
pub(crate) fn alloc(class: usize, size: usize, call: &Call) -> *mut u8 {
    let Some((record, slot)) = take(class, call) else {
        return ptr::null_mut();
    };
    let placement = record.placement();
    let geometry = placement.geometry();
    if !set_slack(record, geometry, slot, geometry.size() - size, call) {
        release_slot(record, slot, call);
        return ptr::null_mut();
    }
    stats::allocated(size);
    ptr::with_exposed_provenance_mut(placement.page() + slot * geometry.size())
}

/// A free slot of `class`, taken.
#[inline(always)]
fn take(class: usize, call: &Call) -> Option<(&'static Record, usize)> {
    let class_state = class_state(class);
    loop {
        let current = class_state.current.load(Ordering::Acquire);
        hooks::step();
        // SAFETY: a current record stays valid while this call runs (see `call.rs`).
        if let Some(record) = unsafe { current.as_ref() } {
            if let Some(slot) = record.take() {
                return Some((record, slot));
            }
        }
        if !refill(class, current, call) {
            return None;
        }
    }
}

/// Records `slack` for `slot`; `false` if a slack table was needed and none could be had.
#[inline(always)]
fn set_slack(record: &Record, geometry: &Geometry, slot: usize, slack: usize, call: &Call) -> bool {
    let mut table = record.slack.load(Ordering::Acquire);
    if table.is_null() {
        if slack == 0 {
            return true;
        }
        table = slack_table(record, call);
        if table.is_null() {
            return false;
        }
    }
    // SAFETY: the table holds an entry per slot; only the block's owner writes its entry.
    unsafe {
        if geometry.size() < 256 {
            table.add(slot).write(slack as u8);
        } else {
            table.cast::<u16>().add(slot).write(slack as u16);
        }
    }
    true
}

/// The slack recorded for `slot`.
#[inline(always)]
fn slack_of(record: &Record, geometry: &Geometry, slot: usize) -> usize {
    let table = record.slack.load(Ordering::Acquire);
    if table.is_null() {
        return 0;
    }
    // SAFETY: as in `set_slack`.
    unsafe {
        if geometry.size() < 256 {
            table.add(slot).read() as usize
        } else {
            table.cast::<u16>().add(slot).read() as usize
        }
    }
}

/// The record's slack table, made (all zero: every live block so far is exact) if it has none.
#[cold]
#[inline(never)]
fn slack_table(record: &Record, call: &Call) -> *mut u8 {
    let Ok(services) = firmware::services() else {
        return ptr::null_mut();
    };
    let Some(_exclusive) = services.raise_tpl() else {
        return ptr::null_mut();
    };
    let existing = record.slack.load(Ordering::Acquire);
    if !existing.is_null() {
        return existing;
    }
    let Some((holder, slot)) = take(INTERNAL, call) else {
        return ptr::null_mut();
    };
    let table = ptr::with_exposed_provenance_mut(holder.page() + slot * INTERNAL_SIZE);
    // SAFETY: a fresh internal block of INTERNAL_SIZE bytes.
    unsafe { ptr::write_bytes(table, 0, INTERNAL_SIZE) };
    record.slack.store(table, Ordering::Release);
    table
}

/// Undoes a `take` whose block could not be completed.
#[cold]
fn release_slot(record: &Record, slot: usize, call: &Call) {
    let bit = 1 << (slot % 64);
    let old = record.word(slot).fetch_and(!bit, Ordering::Release);
    after_free(record, record.placement(), slot, old, old & !bit, call);
}

/// Where `address` sits in `record`'s page: its slot, if it is the start of a slot.
#[inline(always)]
fn slot_of(page: usize, geometry: &Geometry, address: usize) -> Option<usize> {
    let offset = address - page;
    let slot = geometry.slot_at(offset);
    (slot * geometry.size() == offset && slot < geometry.slots()).then_some(slot)
}

/// The live block at `address` in `record`'s page: its slot and size; `None` for an internal
/// page, a pointer inside a block, past the last slot or at a free slot.
#[inline(always)]
fn live_block(record: &Record, address: usize) -> Option<(usize, usize)> {
    let placement = record.placement();
    if placement.class() == INTERNAL {
        return None;
    }
    let geometry = placement.geometry();
    let slot = slot_of(placement.page(), geometry, address)?;
    let live = record.word(slot).load(Ordering::Acquire) & 1 << (slot % 64) != 0;
    live.then(|| (slot, geometry.size() - slack_of(record, geometry, slot)))
}

/// Frees the caller block at `address` in `record`'s page and returns its size; `None`, with
/// nothing changed, for anything but a live caller block's start (a double free included).
#[inline(always)]
pub(crate) fn free(record: &Record, address: usize, call: &Call) -> Option<usize> {
    let placement = record.placement();
    if placement.class() == INTERNAL {
        return None;
    }
    let size = free_block(record, placement, address, call)?;
    stats::freed(size);
    Some(size)
}

#[inline(always)]
fn free_block(record: &Record, placement: Placement, address: usize, call: &Call) -> Option<usize> {
    let geometry = placement.geometry();
    let slot = slot_of(placement.page(), geometry, address)?;
    // Before the bit is cleared: afterwards the slot may belong to a new block.
    let size = geometry.size() - slack_of(record, geometry, slot);
    let bit = 1 << (slot % 64);
    hooks::step();
    let old = record.word(slot).fetch_and(!bit, Ordering::Release);
    if old & bit == 0 {
        return None;
    }
    after_free(record, placement, slot, old, old & !bit, call);
    Some(size)
}

/// A page that was full or is now empty may need to change lists, unless it is its class's
/// current page.
#[inline(always)]
fn after_free(record: &Record, placement: Placement, slot: usize, old: u64, new: u64, call: &Call) {
    if (old == !0 || new == placement.geometry().empty[records::word_of(slot)])
        && !ptr::eq(
            class_state(placement.class())
                .current
                .load(Ordering::Relaxed),
            record,
        )
    {
        settle(record, call);
    }
}

/// Usable bytes of the caller block at `address`: its class size.
pub(crate) fn usable_size(record: &Record, address: usize) -> Option<usize> {
    live_block(record, address).map(|_| record.geometry().size())
}

/// The size of the caller block at `address`, and the alignment every block of its class has.
pub(crate) fn block(record: &Record, address: usize) -> Option<(usize, usize)> {
    let (_, size) = live_block(record, address)?;
    Some((size, record.geometry().natural_align()))
}

/// Makes the caller block at `address` hold `size` bytes in place, if its size is `expected`
/// (when given) and `size` fits its class.
pub(crate) fn resize(
    record: &Record,
    address: usize,
    size: usize,
    expected: Option<usize>,
    call: &Call,
) -> bool {
    let Some((slot, old)) = live_block(record, address) else {
        return false;
    };
    let geometry = record.geometry();
    if expected.is_some_and(|expected| expected != old)
        || size > geometry.size()
        || !set_slack(record, geometry, slot, geometry.size() - size, call)
    {
        return false;
    }
    if size >= old {
        stats::grew(size - old);
    } else {
        stats::shrank(old - size);
    }
    true
}

/// Finds the class a page with a free slot: a listed page, else a new one; `false` if there is
/// none to be had (or the caller runs above TPL_NOTIFY).
#[cold]
#[inline(never)]
fn refill(class: usize, seen: *mut Record, call: &Call) -> bool {
    let Ok(services) = firmware::services() else {
        return false;
    };
    let Some(exclusive) = services.raise_tpl() else {
        return false;
    };
    let class_state = class_state(class);
    let current = class_state.current.load(Ordering::Acquire);
    // SAFETY: records stay valid while this call runs.
    if let Some(record) = unsafe { current.as_ref() } {
        if current != seen || !record.is_full() {
            // A nested call refilled, or freed a slot: try again.
            return true;
        }
    }
    let next = match unlink_first(class) {
        Some(record) => record,
        None => match new_page(&exclusive, services, class, call) {
            Some(record) => record,
            None => return false,
        },
    };
    // SAFETY: as above.
    if let Some(full) = unsafe { current.as_ref() } {
        full.set_state(State::Detached);
    }
    // SAFETY: `next` is a live record.
    unsafe { (*next).set_state(State::Current) };
    class_state.current.store(next, Ordering::Release);
    true
}

/// A fresh page for `class` with its record and index entry; the firmware's refusal gets one
/// retry after `pool_trim`'s work, in the outermost call.
fn new_page(
    exclusive: &RaisedTpl,
    services: Services,
    class: usize,
    call: &Call,
) -> Option<*mut Record> {
    let page = services.allocate_pages(1).or_else(|| {
        if call.outermost() && sweep(exclusive, services, call, true) > 0 {
            services.allocate_pages(1)
        } else {
            None
        }
    });
    let Some(page) = page else {
        stats::refused();
        return None;
    };
    let record = records::alloc(exclusive, services, page, class, State::Current);
    let indexed = record.filter(|&record| {
        let indexed = index::insert(exclusive, call, services, page, Entry::Front(record));
        if !indexed {
            records::free(exclusive, services, record);
        }
        indexed
    });
    if indexed.is_none() {
        let _ = services.free_pages(page, 1);
        stats::refused();
        return None;
    }
    if class == INTERNAL {
        stats::bookkeeping(0, PAGE_SIZE);
    } else {
        stats::requested(PAGE_SIZE);
        PAGES.fetch_add(1, Ordering::Relaxed);
    }
    indexed
}

/// A page that was full got a free slot, or one lost its last block: moves it between lists and
/// gives an empty one back (in the outermost call; a nested call leaves that pending).
#[cold]
#[inline(never)]
fn settle(record: &Record, call: &Call) {
    let Ok(services) = firmware::services() else {
        return;
    };
    let Some(exclusive) = services.raise_tpl() else {
        call.defer();
        return;
    };
    // Not while a sweep walks the index: the table must stay as it is under it.
    if settle_page(&exclusive, services, record, call, false) > 0
        && !SWEEPING.load(Ordering::Relaxed)
    {
        index::tidy(call, services, false);
    }
}

/// Set while `sweep` walks the index (at TPL_NOTIFY, in the outermost call).
static SWEEPING: AtomicBool = AtomicBool::new(false);

/// Puts `record` where its bitmap says it belongs; returns 1 if its page went back to the
/// firmware. With `trim`, an empty current page goes back too.
fn settle_page(
    exclusive: &RaisedTpl,
    services: Services,
    record: &Record,
    call: &Call,
    trim: bool,
) -> usize {
    let class_state = class_state(record.class());
    let current = ptr::eq(class_state.current.load(Ordering::Relaxed), record);
    if record.state() == State::Detached && !record.is_full() {
        link(record);
    }
    if !record.is_empty() || (current && !trim) {
        return 0;
    }
    if !call.outermost() {
        call.defer();
        return 0;
    }
    if current {
        class_state
            .current
            .store(ptr::null_mut(), Ordering::Release);
    } else if record.state() == State::Listed {
        unlink(record);
    }
    release(exclusive, services, record, call);
    1
}

/// Gives an empty page back with its slack table, record and index entry. Outermost call only.
fn release(exclusive: &RaisedTpl, services: Services, record: &Record, call: &Call) {
    let page = record.page();
    let class = record.class();
    let _ = index::remove(page);
    let table = record.slack.swap(ptr::null_mut(), Ordering::Relaxed);
    if !table.is_null() {
        // SAFETY: an internal block: its record is found in the index.
        if let Some(Entry::Front(holder)) = index::find(table.addr() & !(PAGE_SIZE - 1)) {
            let holder = unsafe { &*holder };
            let _ = free_block(holder, holder.placement(), table.addr(), call);
        }
    }
    let _ = services.free_pages(page, 1);
    records::free(exclusive, services, ptr::from_ref(record).cast_mut());
    if class == INTERNAL {
        stats::bookkeeping(PAGE_SIZE, 0);
    } else {
        PAGES.fetch_sub(1, Ordering::Relaxed);
    }
}

fn link(record: &Record) {
    let class_state = class_state(record.class());
    let head = class_state.listed.get();
    record.prev.set(ptr::null_mut());
    record.next.set(head);
    // SAFETY: listed records are live; at TPL_NOTIFY.
    if let Some(head) = unsafe { head.as_ref() } {
        head.prev.set(ptr::from_ref(record).cast_mut());
    }
    class_state.listed.set(ptr::from_ref(record).cast_mut());
    record.set_state(State::Listed);
}

fn unlink(record: &Record) {
    let (prev, next) = (record.prev.get(), record.next.get());
    // SAFETY: listed records are live; at TPL_NOTIFY.
    unsafe {
        match prev.as_ref() {
            Some(prev) => prev.next.set(next),
            None => class_state(record.class()).listed.set(next),
        }
        if let Some(next) = next.as_ref() {
            next.prev.set(prev);
        }
    }
}

fn unlink_first(class: usize) -> Option<*mut Record> {
    let head = class_state(class).listed.get();
    // SAFETY: listed records are live; at TPL_NOTIFY.
    unsafe { head.as_ref() }.map(|record| {
        unlink(record);
        head
    })
}

/// Settles every front page (pending work, `pool_trim`); returns the caller pages given back.
/// Internal pages come second: giving caller pages back frees their slack tables.
fn sweep(exclusive: &RaisedTpl, services: Services, call: &Call, trim: bool) -> usize {
    let was_sweeping = SWEEPING.swap(true, Ordering::Relaxed);
    let mut released = 0;
    for internal in [false, true] {
        index::for_each_front(|record| {
            // SAFETY: the index holds live records; none is freed before `settle_page` frees it.
            let record = unsafe { &*record };
            if (record.class() == INTERNAL) == internal {
                let given_back = settle_page(exclusive, services, record, call, trim);
                if !internal {
                    released += given_back;
                }
            }
        });
    }
    SWEEPING.store(was_sweeping, Ordering::Relaxed);
    released
}

/// Work left by nested calls: pages to settle or give back. Runs as the outermost call.
pub(crate) fn settle_pending(call: &Call) {
    let Ok(services) = firmware::services() else {
        return;
    };
    if let Some(exclusive) = services.raise_tpl() {
        sweep(&exclusive, services, call, false);
    }
    index::tidy(call, services, false);
}

/// Gives back every page without a live block (current pages too) and the metadata that only
/// described them; returns the pages of blocks given back. A nested call only asks for it to be
/// done as the outermost call returns, and returns 0.
pub(crate) fn trim(call: &Call) -> usize {
    let Ok(services) = firmware::services() else {
        return 0;
    };
    if !call.outermost() {
        call.defer();
        return 0;
    }
    let Some(exclusive) = services.raise_tpl() else {
        return 0;
    };
    let released = sweep(&exclusive, services, call, true);
    drop(exclusive);
    index::tidy(call, services, true);
    released
}

/// The memory type of the front's pages (`pool_init`'s), or `u32::MAX` before any.
static PAGE_TYPE: AtomicU32 = AtomicU32::new(u32::MAX);

/// At `pool_init` (no other call runs): pages of another memory type are retired, so that every
/// new block has the type asked for; their blocks stay valid and they go back once empty.
pub(crate) fn adopt_memory_type(memory_type: u32) {
    if PAGE_TYPE.swap(memory_type, Ordering::Relaxed) == memory_type {
        return;
    }
    index::for_each_front(|record| {
        // SAFETY: a live record; nothing else runs during pool_init.
        unsafe { &*record }.set_state(State::Retired);
    });
    for class in &STATE.0 {
        class.current.store(ptr::null_mut(), Ordering::Relaxed);
        class.listed.set(ptr::null_mut());
    }
}

/// Pages of caller blocks the front holds, and their bytes not in a live block.
pub(crate) fn holdings() -> (usize, usize) {
    let mut idle = 0;
    index::for_each_front(|record| {
        // SAFETY: a lock-free look at a live record.
        let record = unsafe { &*record };
        if record.class() != INTERNAL {
            idle += PAGE_SIZE - record.live() * record.geometry().size();
        }
    });
    (PAGES.load(Ordering::Relaxed), idle)
}

#[cfg(feature = "test-hooks")]
pub(crate) fn forget() {
    for class in &STATE.0 {
        class.current.store(ptr::null_mut(), Ordering::Relaxed);
        class.listed.set(ptr::null_mut());
    }
    PAGES.store(0, Ordering::Relaxed);
    PAGE_TYPE.store(u32::MAX, Ordering::Relaxed);
}
