//! Every page-aligned pointer the library handed out, by address: an open-addressing hash table
//! in pool memory.
//!
//! Below a page-aligned pointer lies another page, possibly someone else's guard page, so the
//! library never reads there: page-path blocks (which have no header) and the pool-path blocks
//! that happen to be page-aligned are found here instead, and a page-aligned pointer the table
//! does not know is refused without touching memory. Every access happens at
//! `TPL_NOTIFY` (proved by the `RaisedTpl` argument): notify functions that call the library
//! cannot run meanwhile, and no lock exists that could deadlock. The table is freed when it
//! empties, so a leak-free program leaves the memory map as it found it.

use core::cell::UnsafeCell;
use core::mem::size_of;
use core::ptr;

use crate::firmware::{RaisedTpl, Services};
use crate::limits::PAGE_SIZE;
use crate::stats;

/// What the table knows of a page-aligned pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A page-path block.
    Pages(PageBlock),
    /// A pool-path block whose header (in its own pool block) describes it.
    PoolBlock,
}

/// A live page-path block. Its page count is always `pages_for(size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageBlock {
    pub address: usize,
    pub size: usize,
    pub align: usize,
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

/// One slot: the page-aligned address with, in its low 12 bits, log2(align) of a page-path block
/// or `POOL_BLOCK` (0 = empty); and the size of a page-path block.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: usize,
    size: usize,
}

const EMPTY: usize = 0;
const MIN_CAPACITY: usize = 16;
const LOW_BITS: usize = PAGE_SIZE - 1;
const POOL_BLOCK: usize = PAGE_SIZE / 2;

impl Slot {
    fn of(address: usize, entry: Entry) -> Slot {
        match entry {
            Entry::Pages(block) => Slot {
                key: address | block.align.trailing_zeros() as usize,
                size: block.size,
            },
            Entry::PoolBlock => Slot {
                key: address | POOL_BLOCK,
                size: 0,
            },
        }
    }

    fn address(self) -> usize {
        self.key & !LOW_BITS
    }

    fn entry(self) -> Entry {
        match self.key & LOW_BITS {
            POOL_BLOCK => Entry::PoolBlock,
            log2_align => Entry::Pages(PageBlock {
                address: self.address(),
                size: self.size,
                align: 1 << log2_align,
            }),
        }
    }
}

struct Table {
    slots: *mut Slot,
    /// A power of two, or 0 before the first insert.
    capacity: usize,
    len: usize,
}

struct Shared(UnsafeCell<Table>);

// SAFETY: only touched at TPL_NOTIFY (see the module docs); UEFI boot services run on one CPU.
unsafe impl Sync for Shared {}

static TABLE: Shared = Shared(UnsafeCell::new(Table {
    slots: ptr::null_mut(),
    capacity: 0,
    len: 0,
}));

/// Runs `f` on the table; the raised TPL excludes every other user meanwhile.
fn with_table<R>(_exclusive: &RaisedTpl, f: impl FnOnce(&mut Table) -> R) -> R {
    // SAFETY: only one `with_table` call runs at a time: it needs a raised TPL, which keeps
    // notify functions out, and none of its callers nests another.
    f(unsafe { &mut *TABLE.0.get() })
}

/// What the live block at `address` is.
pub(crate) fn find(exclusive: &RaisedTpl, address: usize) -> Option<Entry> {
    with_table(exclusive, |table| {
        table
            .position(address)
            .map(|index| table.slot(index).entry())
    })
}

/// Records a new block at `address`; `false` if the table could not grow (nothing recorded).
pub(crate) fn insert(
    exclusive: &RaisedTpl,
    services: Services,
    address: usize,
    entry: Entry,
) -> bool {
    with_table(exclusive, |table| {
        if (table.len + 1) * 4 > table.capacity * 3 && !table.grow(services) {
            return false;
        }
        table.put(Slot::of(address, entry));
        table.len += 1;
        true
    })
}

/// Changes the size of the recorded block at `block.address`.
pub(crate) fn update(exclusive: &RaisedTpl, block: PageBlock) {
    with_table(exclusive, |table| {
        if let Some(index) = table.position(block.address) {
            table.set(index, Slot::of(block.address, Entry::Pages(block)));
        }
    })
}

/// Forgets the block at `address` and returns what it was.
pub(crate) fn remove(exclusive: &RaisedTpl, services: Services, address: usize) -> Option<Entry> {
    with_table(exclusive, |table| {
        let index = table.position(address)?;
        let removed = table.slot(index).entry();
        table.delete(index);
        table.len -= 1;
        if table.len == 0 {
            table.release(services);
        }
        Some(removed)
    })
}

impl Table {
    fn mask(&self) -> usize {
        self.capacity - 1
    }

    fn slot(&self, index: usize) -> Slot {
        // SAFETY: `index <= mask` and `slots` holds `capacity` slots.
        unsafe { self.slots.add(index).read() }
    }

    fn set(&mut self, index: usize, slot: Slot) {
        // SAFETY: as in `slot`.
        unsafe { self.slots.add(index).write(slot) }
    }

    fn home(&self, address: usize) -> usize {
        ((address / PAGE_SIZE).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 20) & self.mask()
    }

    fn position(&self, address: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut index = self.home(address);
        loop {
            let slot = self.slot(index);
            if slot.key == EMPTY {
                return None;
            }
            if slot.address() == address {
                return Some(index);
            }
            index = (index + 1) & self.mask();
        }
    }

    /// Stores `slot` in the first free place of its probe sequence; the table has room.
    fn put(&mut self, slot: Slot) {
        let mut index = self.home(slot.address());
        while self.slot(index).key != EMPTY {
            index = (index + 1) & self.mask();
        }
        self.set(index, slot);
    }

    /// Empties `index`, moving later slots of the same probe run back (no tombstones).
    fn delete(&mut self, mut hole: usize) {
        let mut next = hole;
        loop {
            next = (next + 1) & self.mask();
            let slot = self.slot(next);
            if slot.key == EMPTY {
                break;
            }
            let home = self.home(slot.address());
            // The slot may fill the hole unless its home lies cyclically in (hole, next].
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.set(hole, slot);
                hole = next;
            }
        }
        self.set(
            hole,
            Slot {
                key: EMPTY,
                size: 0,
            },
        );
    }

    fn grow(&mut self, services: Services) -> bool {
        let capacity = if self.capacity == 0 {
            MIN_CAPACITY
        } else {
            self.capacity * 2
        };
        let bytes = capacity * size_of::<Slot>();
        // From a page on, whole pages: a pool block of n pages costs n + 1 with EDK2's header.
        let memory = if bytes >= PAGE_SIZE {
            services
                .allocate_pages(bytes / PAGE_SIZE)
                .map(ptr::with_exposed_provenance_mut)
        } else {
            services.allocate_pool(bytes)
        };
        let Some(memory) = memory else {
            return false;
        };
        let old = Table {
            slots: self.slots,
            capacity: self.capacity,
            len: self.len,
        };
        self.slots = memory.cast();
        self.capacity = capacity;
        // SAFETY: `memory` holds `bytes` bytes, at least 8-aligned.
        unsafe { ptr::write_bytes(memory, 0, bytes) };
        for index in 0..old.capacity {
            let slot = old.slot(index);
            if slot.key != EMPTY {
                self.put(slot);
            }
        }
        stats::bookkeeping(old.bytes(), bytes);
        old.free(services);
        true
    }

    fn release(&mut self, services: Services) {
        stats::bookkeeping(self.bytes(), 0);
        let old = Table {
            slots: self.slots,
            capacity: self.capacity,
            len: 0,
        };
        *self = Table {
            slots: ptr::null_mut(),
            capacity: 0,
            len: 0,
        };
        old.free(services);
    }

    fn bytes(&self) -> usize {
        self.capacity * size_of::<Slot>()
    }

    fn free(self, services: Services) {
        let bytes = self.bytes();
        if bytes >= PAGE_SIZE {
            let _ = services.free_pages(self.slots.addr(), bytes / PAGE_SIZE);
        } else if !self.slots.is_null() {
            let _ = services.free_pool(self.slots.cast());
        }
    }
}
