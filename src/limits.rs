//! Every size and alignment limit of the library, in one place. The C header exports them.

/// Largest size any allocation function accepts (256 TiB on 64-bit targets): far beyond any
/// UEFI machine's memory, and far below the sizes at which firmware arithmetic wraps (EDK2
/// DxeCore turns `0x…FFD1..=0x…FFD7` into a zero-sized block and faults within 4 KiB of 2^64).
#[cfg(target_pointer_width = "64")]
pub const POOL_MAX_SIZE: usize = 0x0001_0000_0000_0000;

/// Largest size any allocation function accepts (1 GiB on 32-bit targets): with the largest
/// alignment added, a request and its page arithmetic stay within 2 GiB, far from wrapping.
#[cfg(target_pointer_width = "32")]
pub const POOL_MAX_SIZE: usize = 0x4000_0000;

/// Largest alignment accepted (1 GiB).
pub const POOL_MAX_ALIGN: usize = 0x4000_0000;

/// Alignment `pool_aligned_realloc(NULL, Size)` gives: `alignof(max_align_t)` of C on x64 and
/// AArch64.
pub const POOL_DEFAULT_ALIGN: usize = 16;

/// Largest size and alignment served by the small-block front: blocks in size classes of 32 to
/// 1024 bytes, from 4 KiB pages of the library's, without a firmware call per block. Larger blocks
/// come from AllocatePool (the pool path) or AllocatePages (the page path).
pub const POOL_FRONT_LIMIT: usize = 1024;

/// Size classes of the small-block front; after every block is freed it keeps at most one empty
/// page per class used (pool_trim gives those back).
pub const POOL_SIZE_CLASSES: usize = 18;

pub(crate) const FRONT_LIMIT: usize = POOL_FRONT_LIMIT;

/// UEFI page size.
pub(crate) const PAGE_SIZE: usize = 4096;

/// How far past its page a caller block's overflow is assumed to reach: the library keeps its
/// own metadata out of the first `OVERFLOW_REACH` bytes of every page it allocates, since the
/// page below may be a page of caller blocks.
pub(crate) const OVERFLOW_REACH: usize = 64;

/// Bytes of the header kept just below every pointer of the pool-backed aligned path.
pub(crate) const HEADER_SIZE: usize = 8;

/// Alignment every UEFI pool pointer has (UEFI spec, AllocatePool).
pub(crate) const POOL_ALIGN: usize = 8;

/// Largest alignment served from pool; larger ones always take the page path, which then
/// consumes less firmware memory (`ceil(Size/4K)` pages < `Size + Align`).
pub(crate) const MAX_POOL_PATH_ALIGN: usize = 2048;

/// Largest size served from pool with an 8-byte header (24-bit size field); larger blocks take
/// the page path, where the rounding to whole pages costs under 0.025 %.
pub(crate) const MAX_POOL_PATH_SIZE: usize = (1 << 24) - 1;

/// `value` rounded up to a multiple of `align` (a power of two); the caller rules out overflow.
#[inline]
pub(crate) const fn align_up(value: usize, align: usize) -> usize {
    (value + align - 1) & !(align - 1)
}
