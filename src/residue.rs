//! Firmware-aware padding: learns which low address bits every pool pointer shares, so that an
//! aligned block can ask for less than the worst-case `Size + Align`.
//!
//! Each firmware has its pattern, as measured: EDK2 X64 returns pool pointers at 24 mod 128
//! (pool heads sit at multiples of 128), EDK2 IA32 at 16 mod 128, U-Boot at 64 mod 4096 (32 on
//! RISC-V 64), since every AllocatePool there takes fresh pages. On EDK2 X64 a
//! 64-byte block at alignment 32 needs only `64 + 8` bytes: the header fills 24..32 and the data
//! starts at 32. Bits in which pool pointers differ only cost their worst case (EDK2's bit 7:
//! 232 bytes at alignment 256 instead of 256). A prediction that turns out wrong costs one extra
//! AllocatePool/FreePool pair and clears at least one agreed bit, so the library mispredicts at
//! most once per learned bit (8 times per boot) on any firmware.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::limits::{HEADER_SIZE, MAX_POOL_PATH_ALIGN, POOL_ALIGN};

/// Address bits learned: those below the largest pool-path alignment, above the 8 the UEFI spec
/// guarantees.
const LEARNED_BITS: usize = (MAX_POOL_PATH_ALIGN - 1) & !(POOL_ALIGN - 1);
const NOTHING_SEEN: usize = usize::MAX;

/// Low bits of the first pool pointer seen.
static FIRST: AtomicUsize = AtomicUsize::new(NOTHING_SEEN);
/// Bits in which every pool pointer seen so far agrees with `FIRST`. Only ever shrinks, so a
/// notify function that interrupts an update leaves it conservative, never wrong.
static AGREED: AtomicUsize = AtomicUsize::new(LEARNED_BITS);

/// Starts learning afresh (at `pool_init`: another firmware may be behind the new table).
pub(crate) fn forget() {
    FIRST.store(NOTHING_SEEN, Ordering::Relaxed);
    AGREED.store(LEARNED_BITS, Ordering::Relaxed);
}

/// Learns from a pointer the firmware returned.
#[inline]
pub(crate) fn observe(address: usize) {
    let low = address & LEARNED_BITS;
    let mut first = FIRST.load(Ordering::Relaxed);
    if first == NOTHING_SEEN {
        match FIRST.compare_exchange(NOTHING_SEEN, low, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => first = seen,
        }
    }
    let disagreeing = (low ^ first) & AGREED.load(Ordering::Relaxed);
    if disagreeing != 0 {
        AGREED.fetch_and(!disagreeing, Ordering::Relaxed);
    }
}

/// Bytes to request beyond the size for a block of `align` (a power of two, 8..=2048), enough
/// for the header and the alignment whatever the next pool pointer's unknown bits turn out to be,
/// if it agrees with the pointers seen so far on the bits they all shared. Never more than
/// `align`; exactly what is needed when every bit below `align` is known.
#[inline]
pub(crate) fn padding(align: usize) -> usize {
    let first = FIRST.load(Ordering::Relaxed);
    if first == NOTHING_SEEN {
        return align.max(HEADER_SIZE);
    }
    // A pool pointer p at residue m = p mod align (a multiple of 8) needs align - m bytes before
    // the next aligned address, or all of align when m = 0; the most is needed at the lowest
    // residue consistent with the known bits: the unknown ones 0.
    let lowest = first & AGREED.load(Ordering::Relaxed) & (align - 1);
    if lowest == 0 {
        align.max(HEADER_SIZE)
    } else {
        align - lowest
    }
}

/// Swaps what was learned with `saved` (see `hooks::Image`); `[0, 0]` stands for nothing seen.
#[cfg(feature = "test-hooks")]
pub(crate) fn swap_image(saved: &mut [usize; 2]) {
    let fresh = *saved == [0, 0];
    let (first, agreed) = if fresh {
        (NOTHING_SEEN, LEARNED_BITS)
    } else {
        (saved[0], saved[1])
    };
    *saved = [
        FIRST.swap(first, Ordering::Relaxed),
        AGREED.swap(agreed, Ordering::Relaxed),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    // The statics are shared by the tests of this module, so one test covers them in order.
    #[test]
    fn learns_edk2s_pattern_and_forgets_disagreeing_bits() {
        forget();
        assert_eq!(padding(32), 32, "nothing seen: the worst case");
        assert_eq!(padding(8), 8);
        observe(0x1000 + 24);
        observe(0x2000 + 128 + 24);
        assert_eq!(
            [padding(16), padding(32), padding(64), padding(128)],
            [8, 8, 40, 104]
        );
        assert_eq!(
            padding(256),
            232,
            "bit 7 differs: 24 or 152 mod 256, at most 232 needed"
        );
        observe(0x3000 + 8);
        assert_eq!(padding(16), 8, "bit 3 still agrees");
        assert_eq!(padding(32), 24, "bit 4 no longer does: 8 or 24 mod 32");
        forget();
        observe(0);
        assert_eq!(
            padding(2048),
            2048,
            "a pool pointer at 0 mod 2048 needs the whole alignment"
        );
    }
}
