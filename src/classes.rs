//! The front's size classes: which class serves a request, and each class's page geometry.
//!
//! Classes are spaced at most 25 % apart from 32 to 1024 bytes. A block of a class lies at a
//! multiple of the class size from its 4 KiB page start, so every class is naturally aligned to
//! the largest power of two dividing its size, and a request of `(size, align)` takes the
//! smallest class that holds `align_up(size, align)` bytes: that class size is always a multiple
//! of `align` (checked for every case by the tests below), so the block is aligned.

use crate::limits::{FRONT_LIMIT, PAGE_SIZE, align_up};

/// Block sizes of the classes a caller's request can take.
const SIZES: [usize; USER_CLASSES] = [
    32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024,
];

/// Classes that serve callers.
pub(crate) const USER_CLASSES: usize = crate::limits::POOL_SIZE_CLASSES;

/// The class the front's own metadata (per-slot slack arrays) comes from: pages of 128-byte
/// blocks that no caller's pointer can free. Slot 0 stays unused: it is within an overflow's
/// reach from the page below (`OVERFLOW_REACH`).
pub(crate) const INTERNAL: usize = USER_CLASSES;

/// Bytes of one internal block.
pub(crate) const INTERNAL_SIZE: usize = 128;

const _: () = assert!(INTERNAL_SIZE >= crate::limits::OVERFLOW_REACH);

/// Every class, the internal one last.
pub(crate) const CLASSES: usize = USER_CLASSES + 1;

/// The page layout of a class.
pub(crate) struct Geometry {
    /// The bitmap of a page without a live block: bits of slots that do not exist are set, so
    /// that they are never handed out and "all ones" means full.
    pub empty: [u64; 2],
    /// `offset / size == (offset * magic) >> 32` for every offset inside a page.
    magic: u32,
    size: u16,
    slots: u16,
}

impl Geometry {
    /// Bytes per block.
    #[inline(always)]
    pub(crate) fn size(&self) -> usize {
        self.size as usize
    }

    /// Blocks per page (at most 128: two words of bitmap).
    #[inline(always)]
    pub(crate) fn slots(&self) -> usize {
        self.slots as usize
    }

    /// `offset / size` for an offset inside a page.
    #[inline(always)]
    pub(crate) fn slot_at(&self, offset: usize) -> usize {
        ((offset as u64 * self.magic as u64) >> 32) as usize
    }
}

const fn geometry(size: usize, first_slot_unused: bool) -> Geometry {
    let slots = PAGE_SIZE / size;
    let empty0 = if slots >= 64 { 0 } else { !0 << slots } | first_slot_unused as u64;
    let empty1 = if slots >= 128 {
        0
    } else if slots > 64 {
        !0 << (slots - 64)
    } else {
        !0
    };
    Geometry {
        empty: [empty0, empty1],
        magic: ((1u64 << 32) / size as u64 + 1) as u32,
        size: size as u16,
        slots: slots as u16,
    }
}

/// The geometry of every class, indexed by class.
pub(crate) static GEOMETRY: [Geometry; CLASSES] = {
    let mut table = [const { geometry(INTERNAL_SIZE, true) }; CLASSES];
    let mut class = 0;
    while class < USER_CLASSES {
        table[class] = geometry(SIZES[class], false);
        class += 1;
    }
    table
};

/// The class for `n` bytes (0..=FRONT_LIMIT), indexed by `n.div_ceil(16)`.
static BY_SIXTEENTHS: [u8; FRONT_LIMIT / 16 + 1] = {
    let mut table = [0u8; FRONT_LIMIT / 16 + 1];
    let mut index = 0;
    while index < table.len() {
        let mut class = 0;
        while SIZES[class] < index * 16 {
            class += 1;
        }
        table[index] = class as u8;
        index += 1;
    }
    table
};

/// The class serving `size` bytes at `align` (a power of two), if the front serves it.
#[inline(always)]
pub(crate) fn class_of(size: usize, align: usize) -> Option<usize> {
    if size > FRONT_LIMIT || align > FRONT_LIMIT {
        return None;
    }
    // At most FRONT_LIMIT: both are, and `align` is a power of two. Size 0 takes `align`
    // bytes, so that its class is aligned too.
    let bytes = align_up(size.max(1), align);
    // `get`: the bound is not evident to the compiler, and the library links no panic code.
    BY_SIXTEENTHS
        .get(bytes.div_ceil(16))
        .map(|&class| class as usize)
}

impl Geometry {
    /// The alignment every block of the class has: the largest power of two dividing its size.
    pub(crate) fn natural_align(&self) -> usize {
        1 << self.size().trailing_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_gets_a_class_that_fits_and_aligns_it() {
        let mut align = 1;
        while align <= FRONT_LIMIT {
            for size in 0..=FRONT_LIMIT {
                let class = class_of(size, align).unwrap();
                let block = GEOMETRY[class].size();
                assert!(block >= size, "{size} at {align}: class {block}");
                assert_eq!(block % align, 0, "{size} at {align}: class {block}");
                assert!(GEOMETRY[class].natural_align() >= align);
                // No smaller class would do.
                if class > 0 {
                    let smaller = GEOMETRY[class - 1].size();
                    assert!(smaller < size || smaller % align != 0, "{size} at {align}");
                }
            }
            align *= 2;
        }
        assert_eq!(class_of(FRONT_LIMIT + 1, 8), None);
        assert_eq!(class_of(8, 2 * FRONT_LIMIT), None);
    }

    #[test]
    fn the_magic_divides_every_offset_of_a_page() {
        for geometry in &GEOMETRY {
            assert!(geometry.slots() <= 128 && geometry.slots() >= 4);
            for offset in 0..PAGE_SIZE {
                assert_eq!(geometry.slot_at(offset), offset / geometry.size());
            }
            let free = geometry.empty[0].count_zeros() + geometry.empty[1].count_zeros();
            let unused = usize::from(core::ptr::eq(geometry, &GEOMETRY[INTERNAL]));
            assert_eq!(free as usize, geometry.slots() - unused);
        }
    }
}
