/** @file
  The C half of the mixed C + Rust firmware image: plain C code, compiled by clang for the UEFI
  target against include/uefi_pool_alloc.h alone (its standalone typedefs), calling the library's
  C API. The Rust half (src/mixed.rs) allocates what these functions free and frees what they
  allocate, and compares its statistics with the ones C reads.

  Every function is EFIAPI: the Rust side declares them extern "efiapi".
**/

#include "uefi_pool_alloc.h"

/* The header's standalone typedefs cover what its prototypes need; the rest is ours. */
typedef unsigned char UINT8;
#define NULL ((VOID *)0)

/* The byte at Index of a block filled with Seed; src/mixed.rs computes the same. */
static UINT8 pattern(UINT8 Seed, UINTN Index) {
  return (UINT8)(Seed + (UINT8)(Index * 7) + (UINT8)(Index >> 8));
}

static VOID fill(VOID *Block, UINTN Size, UINT8 Seed) {
  UINT8 *bytes = Block;
  for (UINTN i = 0; i < Size; i++) {
    bytes[i] = pattern(Seed, i);
  }
}

/* A second pool_init from C, after Rust's PoolAllocator::init: must leave the shared state be. */
EFI_STATUS EFIAPI mixed_c_init(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  return pool_init(ImageHandle, SystemTable, POOL_MEMORY_TYPE_DEFAULT);
}

/* A block of pool_aligned_alloc, filled with Seed's pattern. */
VOID *EFIAPI mixed_c_aligned_alloc(UINTN Size, UINTN Align, UINT8 Seed) {
  VOID *block = pool_aligned_alloc(Size, Align);
  if (block != NULL) {
    fill(block, Size, Seed);
  }
  return block;
}

/* A block of pool_raw_alloc, filled with Seed's pattern. */
VOID *EFIAPI mixed_c_raw_alloc(UINTN Size, UINT8 Seed) {
  VOID *block = pool_raw_alloc(Size);
  if (block != NULL) {
    fill(block, Size, Seed);
  }
  return block;
}

/* TRUE if the Size bytes at Block hold Seed's pattern (Rust filled them). */
BOOLEAN EFIAPI mixed_c_holds(const VOID *Block, UINTN Size, UINT8 Seed) {
  const UINT8 *bytes = Block;
  for (UINTN i = 0; i < Size; i++) {
    if (bytes[i] != pattern(Seed, i)) {
      return 0;
    }
  }
  return 1;
}

EFI_STATUS EFIAPI mixed_c_aligned_free(VOID *Block) { return pool_aligned_free(Block); }

EFI_STATUS EFIAPI mixed_c_raw_free(VOID *Block) { return pool_raw_free(Block); }

VOID *EFIAPI mixed_c_aligned_realloc(VOID *Block, UINTN NewSize) {
  return pool_aligned_realloc(Block, NewSize);
}

UINTN EFIAPI mixed_c_usable_size(VOID *Block) { return pool_usable_size(Block); }

/* The statistics as C sees them. */
EFI_STATUS EFIAPI mixed_c_stats(POOL_STATS *Stats) { return pool_stats(Stats); }

/* A burst of C-only traffic (aligned, raw, realloc) that leaves nothing behind: returns how many
   blocks failed to allocate, hold their contents or free. */
UINTN EFIAPI mixed_c_churn(UINTN Rounds) {
  UINTN failures = 0;
  for (UINTN round = 0; round < Rounds; round++) {
    UINTN size = 1 + (round * 37) % 700;
    UINTN align = (UINTN)8 << (round % 7); /* 8 .. 512 */
    UINT8 seed = (UINT8)round;
    UINT8 *a = mixed_c_aligned_alloc(size, align, seed);
    UINT8 *r = mixed_c_raw_alloc(size, (UINT8)(seed + 1));
    if (a == NULL || r == NULL || ((UINTN)a & (align - 1)) != 0) {
      failures++;
    }
    if (a != NULL) {
      UINT8 *b = pool_aligned_realloc(a, size * 3);
      if (b == NULL || ((UINTN)b & (align - 1)) != 0 || !mixed_c_holds(b, size, seed)) {
        failures++;
      }
      if (b != NULL) {
        a = b;
      }
      if (pool_aligned_free(a) != 0) {
        failures++;
      }
    }
    if (r != NULL) {
      if (!mixed_c_holds(r, size, (UINT8)(seed + 1)) || pool_raw_free(r) != 0) {
        failures++;
      }
    }
  }
  return failures;
}
