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
//! Each memory type has its own set of classes, a kind (up to `KINDS` per state): an image
//! allocates from the kind of its `pool_init` memory type, and a freed block goes back to its
//! page's kind, whichever image frees it, so no page ever holds blocks of two memory types.
//!
//! Idle memory: after every block is freed, the front holds at most one page per class and kind
//! used (its current page) and the records and index entries describing them; `pool_trim` gives
//! those back too.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::call::Call;
use crate::classes::{CLASSES, Geometry, INTERNAL, INTERNAL_SIZE};
use crate::firmware::{self, RaisedTpl, Services};
use crate::index::{self, Entry};
use crate::limits::PAGE_SIZE;
use crate::records::{self, KINDS, Placement, Record, State};
use crate::{hooks, stats};

/// A class's pages.
struct Class {
    /// The page allocations come from, or null.
    current: AtomicPtr<Record>,
    /// Partly used pages, doubly linked through the records; changed only at TPL_NOTIFY.
    listed: Cell<*mut Record>,
}

/// The front's pages of one memory type: a kind (a record names its kind).
#[repr(C)]
struct Kind {
    /// The memory type plus one (every u32 is a memory type), or [`UNCLAIMED`].
    memory_type: AtomicU64,
    classes: [Class; CLASSES],
}

const UNCLAIMED: u64 = 0;

/// The front's share of the allocator's state (`shared.rs`).
#[repr(C)]
pub(crate) struct Front {
    /// Pages of caller blocks the front holds (internal pages count as bookkeeping).
    pages: AtomicUsize,
    /// Set while `sweep` walks the index (at TPL_NOTIFY, in the outermost call).
    sweeping: AtomicBool,
    kinds: [Kind; KINDS],
}

impl Front {
    pub(crate) const fn new() -> Front {
        Front {
            pages: AtomicUsize::new(0),
            sweeping: AtomicBool::new(false),
            kinds: [const {
                Kind {
                    memory_type: AtomicU64::new(UNCLAIMED),
                    classes: [const {
                        Class {
                            current: AtomicPtr::new(ptr::null_mut()),
                            listed: Cell::new(ptr::null_mut()),
                        }
                    }; CLASSES],
                }
            }; KINDS],
        }
    }
}

#[inline(always)]
fn front() -> &'static Front {
    &crate::shared::state().front
}

/// The kind this image's blocks come from (that of `pool_init`'s memory type), or [`NO_KIND`].
static KIND: AtomicUsize = AtomicUsize::new(NO_KIND);
const NO_KIND: usize = KINDS;
/// That kind's classes in the state: what the allocation path reads, one load instead of two.
static OWN_CLASSES: AtomicPtr<Class> = AtomicPtr::new(ptr::null_mut());

/// The pages of `class` of `kind`.
#[inline(always)]
fn class_state(kind: usize, class: usize) -> &'static Class {
    debug_assert!(class < CLASSES && kind < KINDS);
    // SAFETY: every class comes from `classes::class_of`, is INTERNAL, or is a record's, which
    // `records::alloc` wrote with a class below CLASSES; kinds are masked below KINDS. (Indexing
    // would link panic code.)
    unsafe {
        front()
            .kinds
            .get_unchecked(kind % KINDS)
            .classes
            .get_unchecked(class)
    }
}

/// The pages of `record`'s class.
#[inline(always)]
fn class_of_record(placement: Placement) -> &'static Class {
    class_state(placement.kind(), placement.class())
}

/// A block of `class` holding `size` bytes, or NULL when no page can be had.
#[inline(always)]
pub(crate) fn alloc(class: usize, size: usize, call: &Call) -> *mut u8 {
    // SAFETY: the front is ready, so `claim_kind` set OWN_CLASSES; classes come from
    // `classes::class_of`, below CLASSES.
    let own = unsafe { &*OWN_CLASSES.load(Ordering::Relaxed).add(class) };
    let Some((record, slot)) = take_from(own, KIND.load(Ordering::Relaxed), class, call) else {
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

/// A free slot of `class` of `kind`, taken.
#[inline(always)]
fn take(kind: usize, class: usize, call: &Call) -> Option<(&'static Record, usize)> {
    take_from(class_state(kind, class), kind, class, call)
}

/// [`take`] from `class_state`, the pages of `class` of `kind`.
#[inline(always)]
fn take_from(
    class_state: &'static Class,
    kind: usize,
    class: usize,
    call: &Call,
) -> Option<(&'static Record, usize)> {
    loop {
        let current = class_state.current.load(Ordering::Acquire);
        hooks::step();
        // SAFETY: a current record stays valid while this call runs (see `call.rs`).
        if let Some(record) = unsafe { current.as_ref() } {
            if let Some(slot) = record.take() {
                return Some((record, slot));
            }
        }
        if !refill(kind, class, current, call) {
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
    let Some((holder, slot)) = take(record.placement().kind(), INTERNAL, call) else {
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
            class_of_record(placement).current.load(Ordering::Relaxed),
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
fn refill(kind: usize, class: usize, seen: *mut Record, call: &Call) -> bool {
    let Ok(services) = firmware::services() else {
        return false;
    };
    let Some(exclusive) = services.raise_tpl() else {
        return false;
    };
    let class_state = class_state(kind, class);
    let current = class_state.current.load(Ordering::Acquire);
    // SAFETY: records stay valid while this call runs.
    if let Some(record) = unsafe { current.as_ref() } {
        if current != seen || !record.is_full() {
            // A nested call refilled, or freed a slot: try again.
            return true;
        }
    }
    let next = match unlink_first(kind, class) {
        Some(record) => record,
        None => match new_page(&exclusive, services, kind, class, call) {
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

/// A fresh page for `class` of `kind` with its record and index entry; the firmware's refusal
/// gets one retry after `pool_trim`'s work, in the outermost call. Internal pages are
/// bookkeeping, of the bookkeeping memory type.
fn new_page(
    exclusive: &RaisedTpl,
    services: Services,
    kind: usize,
    class: usize,
    call: &Call,
) -> Option<*mut Record> {
    let allocate = || {
        if class == INTERNAL {
            services.allocate_bookkeeping_pages(1)
        } else {
            services.allocate_pages(1)
        }
    };
    let page = allocate().or_else(|| {
        if call.outermost() && sweep(exclusive, services, call, true) > 0 {
            allocate()
        } else {
            None
        }
    });
    let Some(page) = page else {
        stats::refused();
        return None;
    };
    let record = records::alloc(exclusive, services, page, kind, class, State::Current);
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
        front().pages.fetch_add(1, Ordering::Relaxed);
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
        && !front().sweeping.load(Ordering::Relaxed)
    {
        index::tidy(call, services, false);
    }
}

/// Puts `record` where its bitmap says it belongs; returns 1 if its page went back to the
/// firmware. With `trim`, an empty current page goes back too.
fn settle_page(
    exclusive: &RaisedTpl,
    services: Services,
    record: &Record,
    call: &Call,
    trim: bool,
) -> usize {
    let class_state = class_of_record(record.placement());
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
        front().pages.fetch_sub(1, Ordering::Relaxed);
    }
}

fn link(record: &Record) {
    let class_state = class_of_record(record.placement());
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
            None => class_of_record(record.placement()).listed.set(next),
        }
        if let Some(next) = next.as_ref() {
            next.prev.set(prev);
        }
    }
}

fn unlink_first(kind: usize, class: usize) -> Option<*mut Record> {
    let head = class_state(kind, class).listed.get();
    // SAFETY: listed records are live; at TPL_NOTIFY.
    unsafe { head.as_ref() }.map(|record| {
        unlink(record);
        head
    })
}

/// Settles every front page (pending work, `pool_trim`); returns the caller pages given back.
/// Internal pages come second: giving caller pages back frees their slack tables.
fn sweep(exclusive: &RaisedTpl, services: Services, call: &Call, trim: bool) -> usize {
    let was_sweeping = front().sweeping.swap(true, Ordering::Relaxed);
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
    front().sweeping.store(was_sweeping, Ordering::Relaxed);
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

/// At `pool_init`: makes this image's blocks come from the kind of `memory_type`, claiming a
/// kind for it if no image claimed one yet; `false` if every kind belongs to another memory
/// type (the image then goes without the front). Pages of a memory type an earlier
/// `pool_init` chose keep their kind: their blocks stay valid and go back as usual.
pub(crate) fn claim_kind(memory_type: u32) -> bool {
    let memory_type = u64::from(memory_type) + 1;
    for (kind, slot) in front().kinds.iter().enumerate() {
        let claimed = match slot.memory_type.compare_exchange(
            UNCLAIMED,
            memory_type,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => true,
            Err(owner) => owner == memory_type,
        };
        if claimed {
            KIND.store(kind, Ordering::Relaxed);
            OWN_CLASSES.store(slot.classes.as_ptr().cast_mut(), Ordering::Relaxed);
            return true;
        }
    }
    KIND.store(NO_KIND, Ordering::Relaxed);
    OWN_CLASSES.store(ptr::null_mut(), Ordering::Relaxed);
    false
}

/// The kind of this image's memory type, if it has one.
pub(crate) fn kind() -> Option<usize> {
    let kind = KIND.load(Ordering::Relaxed);
    (kind < KINDS).then_some(kind)
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
    (front().pages.load(Ordering::Relaxed), idle)
}

/// Swaps this image's kind with `saved` (see `hooks::Image`).
#[cfg(feature = "test-hooks")]
pub(crate) fn swap_image(saved: &mut [usize; 2]) {
    *saved = [
        KIND.swap(saved[0], Ordering::Relaxed),
        OWN_CLASSES
            .swap(
                ptr::with_exposed_provenance_mut(saved[1]),
                Ordering::Relaxed,
            )
            .expose_provenance(),
    ];
}

/// Forgets every page of the state (see `hooks::forget_state`).
#[cfg(feature = "test-hooks")]
pub(crate) fn forget() {
    let front = front();
    for kind in &front.kinds {
        kind.memory_type.store(UNCLAIMED, Ordering::Relaxed);
        for class in &kind.classes {
            class.current.store(ptr::null_mut(), Ordering::Relaxed);
            class.listed.set(ptr::null_mut());
        }
    }
    front.pages.store(0, Ordering::Relaxed);
    KIND.store(NO_KIND, Ordering::Relaxed);
    OWN_CLASSES.store(ptr::null_mut(), Ordering::Relaxed);
}
