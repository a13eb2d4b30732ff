/** @file
  Helpers of the firmware test app: memory map, statistics, patterns, PRNG.
**/

#include "util.h"

EFI_HANDLE gImage;
EFI_SYSTEM_TABLE *gST;
EFI_BOOT_SERVICES *gBS;

void app_start(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  gImage = ImageHandle;
  gST = SystemTable;
  gBS = SystemTable->BootServices;
  gBS->SetWatchdogTimer(0, 0, 0, NULL);
  timer_init(gBS);
}

/* ---- Memory map ------------------------------------------------------------------------- */

/* Static, so that reading the map never allocates: OVMF's map has ~100 descriptors of 48 B. */
static UINT64 mMapBuffer[64 * 1024 / sizeof(UINT64)];
static UINTN mMapSize, mDescriptorSize;

static EFI_STATUS map_fetch(UINTN *MapKey) {
  UINTN size = sizeof mMapBuffer;
  UINT32 version;
  EFI_STATUS status = gBS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)mMapBuffer, MapKey,
                                        &mDescriptorSize, &version);
  mMapSize = status == EFI_SUCCESS ? size : 0;
  return status;
}

static const EFI_MEMORY_DESCRIPTOR *map_entry(UINTN Index) {
  return (const EFI_MEMORY_DESCRIPTOR *)((const UINT8 *)mMapBuffer + Index * mDescriptorSize);
}

EFI_STATUS map_read(MAP_SUMMARY *Summary) {
  for (UINTN i = 0; i < MAP_TYPES; i++) {
    Summary->Pages[i] = 0;
  }
  Summary->OemPages = 0;
  Summary->OtherPages = 0;
  Summary->Entries = 0;
  Summary->Status = map_fetch(&Summary->MapKey);
  if (Summary->Status != EFI_SUCCESS) {
    return Summary->Status;
  }
  Summary->Entries = mMapSize / mDescriptorSize;
  for (UINTN i = 0; i < Summary->Entries; i++) {
    const EFI_MEMORY_DESCRIPTOR *d = map_entry(i);
    if (d->Type < MAP_TYPES) {
      Summary->Pages[d->Type] += d->NumberOfPages;
    } else if (d->Type >= 0x70000000U) {
      Summary->OemPages += d->NumberOfPages;
    } else {
      Summary->OtherPages += d->NumberOfPages;
    }
  }
  return EFI_SUCCESS;
}

UINT32 map_type_of(const VOID *Address) {
  UINTN key;
  if (map_fetch(&key) != EFI_SUCCESS) {
    return 0xFFFFFFFFU;
  }
  UINT64 address = (UINT64)(UINTN)Address;
  for (UINTN i = 0; i < mMapSize / mDescriptorSize; i++) {
    const EFI_MEMORY_DESCRIPTOR *d = map_entry(i);
    if (address >= d->PhysicalStart && address - d->PhysicalStart < d->NumberOfPages * EFI_PAGE_SIZE) {
      return d->Type;
    }
  }
  return 0xFFFFFFFFU;
}

UINT64 map_largest_free_run(void) {
  UINTN key;
  if (map_fetch(&key) != EFI_SUCCESS) {
    return 0;
  }
  /* Descriptors come sorted by address from EDK2, but do not rely on it: grow each run by
     looking for a free descriptor that starts where it ends. */
  UINTN count = mMapSize / mDescriptorSize;
  UINT64 largest = 0;
  for (UINTN i = 0; i < count; i++) {
    const EFI_MEMORY_DESCRIPTOR *d = map_entry(i);
    if (d->Type != EfiConventionalMemory) {
      continue;
    }
    UINT64 start = d->PhysicalStart, end = start + d->NumberOfPages * EFI_PAGE_SIZE;
    for (BOOLEAN grew = TRUE; grew;) {
      grew = FALSE;
      for (UINTN j = 0; j < count; j++) {
        const EFI_MEMORY_DESCRIPTOR *e = map_entry(j);
        if (e->Type == EfiConventionalMemory && e->PhysicalStart == end && e->NumberOfPages != 0) {
          end += e->NumberOfPages * EFI_PAGE_SIZE;
          grew = TRUE;
        }
      }
    }
    if (end - start > largest) {
      largest = end - start;
    }
  }
  return largest;
}

const char *memory_type_name(UINT32 Type) {
  static const char *const names[MAP_TYPES] = {
      "Reserved",      "LoaderCode",       "LoaderData",  "BootServicesCode",
      "BootServicesData", "RuntimeServicesCode", "RuntimeServicesData", "Conventional",
      "Unusable",      "ACPIReclaim",      "ACPINVS",     "MMIO",
      "MMIOPortSpace", "PalCode",          "Persistent",  "Unaccepted",
  };
  if (Type < MAP_TYPES) {
    return names[Type];
  }
  return S("type 0x%x", Type);
}

BOOLEAN map_same(const MAP_SUMMARY *Before, const MAP_SUMMARY *After, const char **Why) {
  static char why[512];
  UINTN n = 0;
  why[0] = '\0';
  if (Before->Status != EFI_SUCCESS || After->Status != EFI_SUCCESS) {
    format(why, sizeof why, "GetMemoryMap failed: %s / %s", status_name(Before->Status),
           status_name(After->Status));
    *Why = why;
    return FALSE;
  }
  for (UINT32 t = 0; t < MAP_TYPES; t++) {
    if (Before->Pages[t] != After->Pages[t]) {
      n += format(why + n, sizeof why - n, "%s%s pages %llu->%llu", n != 0 ? ", " : "",
                  memory_type_name(t), (unsigned long long)Before->Pages[t],
                  (unsigned long long)After->Pages[t]);
    }
  }
  if (Before->OemPages != After->OemPages) {
    n += format(why + n, sizeof why - n, "%sOEM pages %llu->%llu", n != 0 ? ", " : "",
                (unsigned long long)Before->OemPages, (unsigned long long)After->OemPages);
  }
  if (Before->OtherPages != After->OtherPages) {
    n += format(why + n, sizeof why - n, "%sother pages %llu->%llu", n != 0 ? ", " : "",
                (unsigned long long)Before->OtherPages, (unsigned long long)After->OtherPages);
  }
  *Why = why;
  return n == 0;
}

UINT64 map_pages_vanished(const MAP_SUMMARY *Before, const MAP_SUMMARY *After) {
  if (Before->Status != EFI_SUCCESS || After->Status != EFI_SUCCESS || Before->OemPages != After->OemPages ||
      Before->OtherPages != After->OtherPages) {
    return 0;
  }
  for (UINT32 t = 0; t < MAP_TYPES; t++) {
    if (t != EfiConventionalMemory && Before->Pages[t] != After->Pages[t]) {
      return 0;
    }
  }
  UINT64 before = Before->Pages[EfiConventionalMemory], after = After->Pages[EfiConventionalMemory];
  return after < before ? before - after : 0;
}

UINT64 map_pages_taken_as(const MAP_SUMMARY *Before, const MAP_SUMMARY *After, UINT32 Type) {
  if (Before->Status != EFI_SUCCESS || After->Status != EFI_SUCCESS || Before->OemPages != After->OemPages ||
      Before->OtherPages != After->OtherPages || After->Pages[Type] <= Before->Pages[Type]) {
    return 0;
  }
  UINT64 taken = After->Pages[Type] - Before->Pages[Type];
  for (UINT32 t = 0; t < MAP_TYPES; t++) {
    UINT64 expected = t == Type ? Before->Pages[t] + taken
                      : t == EfiConventionalMemory ? Before->Pages[t] - taken
                                                   : Before->Pages[t];
    if (After->Pages[t] != expected) {
      return 0;
    }
  }
  return taken;
}

BOOLEAN firmware_vendor_is(const CHAR16 *Vendor) {
  const CHAR16 *v = gST->FirmwareVendor;
  if (v == NULL) {
    return FALSE;
  }
  for (; *Vendor != 0; Vendor++, v++) {
    if (*v != *Vendor) {
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- Statistics ------------------------------------------------------------------------- */

POOL_STATS stats_at_entry;

POOL_STATS stats_now(void) {
  POOL_STATS s;
  pool_stats(&s);
  return s;
}

BOOLEAN stats_equal(const POOL_STATS *A, const POOL_STATS *B) {
  return A->LiveBlocks == B->LiveBlocks && A->LiveBytes == B->LiveBytes &&
         A->PeakBytes == B->PeakBytes && A->RequestedBytes == B->RequestedBytes &&
         A->BookkeepingBytes == B->BookkeepingBytes && A->FailedRequests == B->FailedRequests &&
         A->InvalidCalls == B->InvalidCalls;
}

const char *stats_diff(const POOL_STATS *Before, const POOL_STATS *After) {
  static char why[512];
  UINTN n = 0;
  why[0] = '\0';
#define FIELD(f)                                                                              \
  if (Before->f != After->f) {                                                                \
    n += format(why + n, sizeof why - n, "%s" #f " %llu->%llu", n != 0 ? ", " : "",           \
                (unsigned long long)Before->f, (unsigned long long)After->f);                 \
  }
  FIELD(LiveBlocks)
  FIELD(LiveBytes)
  FIELD(PeakBytes)
  FIELD(RequestedBytes)
  FIELD(BookkeepingBytes)
  FIELD(FailedRequests)
  FIELD(InvalidCalls)
#undef FIELD
  if (n == 0) {
    format(why, sizeof why, "no change");
  }
  return why;
}

/* ---- Patterns --------------------------------------------------------------------------- */

static inline UINT64 pattern_word(UINT64 Seed, UINTN Index) {
  return (Seed ^ ((UINT64)Index * 0x9E3779B97F4A7C15ULL)) + 0x632BE59BD9B4E019ULL;
}

void pattern_fill(VOID *Block, UINTN Size, UINT64 Seed) {
  UINT8 *p = Block;
  if (((UINTN)p & 7) == 0) {
    UINT64 *w = Block;
    UINTN words = Size / 8;
    for (UINTN i = 0; i < words; i++) {
      w[i] = pattern_word(Seed, i);
    }
    for (UINTN j = words * 8; j < Size; j++) {
      p[j] = (UINT8)(pattern_word(Seed, j / 8) >> (8 * (j % 8)));
    }
  } else {
    for (UINTN j = 0; j < Size; j++) {
      p[j] = (UINT8)(pattern_word(Seed, j / 8) >> (8 * (j % 8)));
    }
  }
}

UINTN pattern_find_error(const VOID *Block, UINTN Size, UINT64 Seed) {
  const UINT8 *p = Block;
  UINTN start = 0;
  if (((UINTN)p & 7) == 0) {
    const UINT64 *w = Block;
    UINTN words = Size / 8;
    for (UINTN i = 0; i < words; i++) {
      if (w[i] != pattern_word(Seed, i)) {
        start = i * 8;
        goto bytes;
      }
    }
    start = words * 8;
  }
bytes:
  for (UINTN j = start; j < Size; j++) {
    if (p[j] != (UINT8)(pattern_word(Seed, j / 8) >> (8 * (j % 8)))) {
      return j;
    }
  }
  return MAX_UINTN;
}

BOOLEAN all_zero(const VOID *Block, UINTN Size) {
  const UINT8 *p = Block;
  for (UINTN i = 0; i < Size; i++) {
    if (p[i] != 0) {
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- PRNG ------------------------------------------------------------------------------- */

UINT64 rng_next(RNG *Rng) {
  UINT64 x = Rng->State;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  Rng->State = x;
  return x * 0x2545F4914F6CDD1DULL;
}

UINT64 rng_below(RNG *Rng, UINT64 Bound) { return rng_next(Rng) % Bound; }
