/** @file
  Helpers of the firmware test app: the firmware's memory map summed by type (into a static
  buffer, so that looking does not allocate), block patterns, statistics and a PRNG.
**/

#ifndef UTIL_H_
#define UTIL_H_

#include "report.h"

extern EFI_HANDLE gImage;
extern EFI_SYSTEM_TABLE *gST;
extern EFI_BOOT_SERVICES *gBS;

/* Every app's first call: records the image, its system table and boot services in the globals
   above, disables the watchdog and calibrates the timer. */
void app_start(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable);

#define KiB ((UINTN)1024)
#define MiB (1024 * KiB)

/* ---- Memory map ------------------------------------------------------------------------- */

#define MAP_TYPES 16   /* EfiReservedMemoryType .. EfiUnacceptedMemoryType */

typedef struct {
  EFI_STATUS Status;
  UINTN      MapKey;
  UINTN      Entries;
  UINT64     Pages[MAP_TYPES];
  UINT64     OemPages;     /* types 0x70000000 and above */
  UINT64     OtherPages;   /* anything else */
} MAP_SUMMARY;

/* Reads the memory map into the static buffer and sums the pages of each type. */
EFI_STATUS map_read(MAP_SUMMARY *Summary);
/* The memory type of the descriptor holding Address; 0xFFFFFFFF if none does. */
UINT32 map_type_of(const VOID *Address);
/* TRUE if both summaries have the same page count for every type; else Why says which differ. */
BOOLEAN map_same(const MAP_SUMMARY *Before, const MAP_SUMMARY *After, const char **Why);
/* Conventional pages After lacks that no other type of After holds (pages gone from the map
   itself); 0 if any other type differs or conventional memory did not shrink. */
UINT64 map_pages_vanished(const MAP_SUMMARY *Before, const MAP_SUMMARY *After);
/* Pages of Type that After gained exactly as conventional memory shrank, with nothing else
   changed; 0 otherwise. */
UINT64 map_pages_taken_as(const MAP_SUMMARY *Before, const MAP_SUMMARY *After, UINT32 Type);
/* Whether gST->FirmwareVendor starts with Vendor. */
BOOLEAN firmware_vendor_is(const CHAR16 *Vendor);
const char *memory_type_name(UINT32 Type);
/* Bytes in the largest run of contiguous EfiConventionalMemory (adjacent descriptors merged). */
UINT64 map_largest_free_run(void);

/* ---- Statistics ------------------------------------------------------------------------- */

/* The statistics the test starts from: zero, or in the EDK2 build those of the boot's shared
   state after the EDK2 checks. */
extern POOL_STATS stats_at_entry;
POOL_STATS stats_now(void);
BOOLEAN stats_equal(const POOL_STATS *A, const POOL_STATS *B);
/* The fields that differ, "Field a->b, ...". */
const char *stats_diff(const POOL_STATS *Before, const POOL_STATS *After);

/* ---- Patterns --------------------------------------------------------------------------- */

/* Fills Size bytes at Block with a pattern derived from Seed. */
void pattern_fill(VOID *Block, UINTN Size, UINT64 Seed);
/* Checks the pattern; returns the offset of the first wrong byte, or MAX_UINTN if all match. */
UINTN pattern_find_error(const VOID *Block, UINTN Size, UINT64 Seed);
/* Whether Size bytes at Block are all zero. */
BOOLEAN all_zero(const VOID *Block, UINTN Size);

/* ---- PRNG: xorshift64* ------------------------------------------------------------------ */

typedef struct {
  UINT64 State;
} RNG;

UINT64 rng_next(RNG *Rng);
/* Uniform in 0..Bound-1 (Bound > 0). */
UINT64 rng_below(RNG *Rng, UINT64 Bound);

static inline BOOLEAN is_aligned(const VOID *Pointer, UINTN Align) {
  return ((UINTN)Pointer & (Align - 1)) == 0;
}

/* ---- Phases in other files -------------------------------------------------------------- */

/* test_random.c: 100 000 seeded random operations with a periodic timer whose notify function
   allocates and frees through the library too. */
void test_random(void);

#endif /* UTIL_H_ */
