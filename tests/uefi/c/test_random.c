/** @file
  100 000 seeded random operations (alloc, calloc, raw alloc, realloc, shrink, remap, free)
  over a table of up to 512 live blocks, while a periodic timer's notify function (TPL_CALLBACK)
  allocates, reallocates and frees through the library too. Every block carries a pattern that
  is checked before every realloc and free; statistics are compared exactly every 4096
  operations (at TPL_CALLBACK, so that the notify function cannot run meanwhile) and at the end,
  with the firmware's memory map.
**/

#include "util.h"

typedef unsigned long long ull;

#define OPERATIONS   100000
#define MAX_LIVE     512
#define CHECK_EVERY  4096
#define TIMER_PERIOD 10000   /* 100 ns units: 1 ms (OVMF's timer interrupt comes every 10 ms) */

/* What the timer's notify function does, a diagnostic switch (scripts/uboot-drift.sh): 0, the
   test, allocates and frees through the library; 1 only counts; 2 calls AllocatePool, FreePool,
   AllocatePages and FreePages itself, without the library, and frees all at the end. */
#ifndef UPA_TICK_MODE
#define UPA_TICK_MODE 0
#endif

typedef struct {
  UINT8 *Pointer;
  UINTN Size;     /* bytes holding the pattern (and counted in LiveBytes unless Raw) */
  UINTN Align;    /* alignment asked for; raw blocks: 8 */
  UINT64 Seed;
  BOOLEAN Raw;
} BLOCK;

static BLOCK mTable[MAX_LIVE];
static UINTN mLive;
static UINT64 mLiveBytes;   /* expected LiveBytes of the main table */
static RNG mRng = {0x9E3779B97F4A7C15ULL};
static UINT64 mNextSeed = 1;

static struct {
  UINT64 Allocs, Callocs, Raws, ReallocNulls, Frees, Reallocs, InPlace, Shrinks, Remaps,
      GrowRefusals;
} mOps;

static struct {
  UINT64 Nulls, BadStatus, Misaligned, Corrupt, SmallUsable, NotZero, ShrinkRefused, StatMismatch;
  const char *First;
} mErr;

static void error(UINT64 *Counter, const char *Detail) {
  if (mErr.First == NULL) {
    mErr.First = Detail;
  }
  (*Counter)++;
}

/* ---- The timer's notify function -------------------------------------------------------- */

#define RING 8

typedef struct {
  UINT8 *Pointer;
  UINTN Size;
  UINT64 Seed;
  UINT8 Kind;   /* 0 aligned, 1 raw, 2 page-backed */
} TICK_BLOCK;

static struct {
  volatile UINT64 Calls, Allocs, Frees, Reallocs, PageAllocs, Errors, Corrupt;
  volatile UINT64 LiveBlocks, LiveBytes;
  volatile BOOLEAN Stop;
  RNG Rng;
  UINT64 NextSeed;
  TICK_BLOCK Ring[RING];
} mTick = {.Rng = {0xD1B54A32D192ED03ULL}, .NextSeed = 1ULL << 40};

static void tick_free(TICK_BLOCK *Block) {
  if (pattern_find_error(Block->Pointer, Block->Size, Block->Seed) != MAX_UINTN) {
    mTick.Corrupt++;
  }
  EFI_STATUS status = Block->Kind == 1 ? pool_raw_free(Block->Pointer) : pool_aligned_free(Block->Pointer);
  if (status != EFI_SUCCESS) {
    mTick.Errors++;
  }
  mTick.Frees++;
  mTick.LiveBlocks--;
  if (Block->Kind != 1) {
    mTick.LiveBytes -= Block->Size;
  }
  Block->Pointer = NULL;
}

#if UPA_TICK_MODE == 2
static struct {
  VOID *Pool;
  EFI_PHYSICAL_ADDRESS Pages;
} mFirmwareRing[RING];

static void firmware_ring_free(UINTN Slot) {
  if (mFirmwareRing[Slot].Pool != NULL) {
    gBS->FreePool(mFirmwareRing[Slot].Pool);
    mFirmwareRing[Slot].Pool = NULL;
  }
  if (mFirmwareRing[Slot].Pages != 0) {
    gBS->FreePages(mFirmwareRing[Slot].Pages, 2);
    mFirmwareRing[Slot].Pages = 0;
  }
}

static void tick_firmware(UINT64 Calls) {
  UINTN slot = (UINTN)(Calls % RING);
  firmware_ring_free(slot);
  if (gBS->AllocatePool(EfiLoaderData, 64 + (UINTN)(Calls % 2000), &mFirmwareRing[slot].Pool) != EFI_SUCCESS) {
    mFirmwareRing[slot].Pool = NULL;
  }
  if (Calls % 16 == 0 &&
      gBS->AllocatePages(AllocateAnyPages, EfiLoaderData, 2, &mFirmwareRing[slot].Pages) != EFI_SUCCESS) {
    mFirmwareRing[slot].Pages = 0;
  }
}
#endif

static VOID EFIAPI on_tick(EFI_EVENT Event, VOID *Context) {
  (void)Event;
  (void)Context;
  if (mTick.Stop) {
    return;
  }
  UINT64 calls = ++mTick.Calls;
#if UPA_TICK_MODE == 1
  return;
#elif UPA_TICK_MODE == 2
  tick_firmware(calls);
  return;
#endif
  TICK_BLOCK *slot = &mTick.Ring[calls % RING];
  UINT64 r = rng_next(&mTick.Rng);

  /* Now and then, resize an aligned block instead of replacing it. */
  if (slot->Pointer != NULL && slot->Kind == 0 && (r & 3) == 0) {
    UINTN size = (UINTN)((r >> 8) % 3000);
    UINT8 *p = pool_aligned_realloc(slot->Pointer, size);
    if (p == NULL) {
      mTick.Errors++;
      return;
    }
    UINTN kept = size < slot->Size ? size : slot->Size;
    if (pattern_find_error(p, kept, slot->Seed) != MAX_UINTN) {
      mTick.Corrupt++;
    }
    mTick.LiveBytes += size;
    mTick.LiveBytes -= slot->Size;
    slot->Pointer = p;
    slot->Size = size;
    slot->Seed = mTick.NextSeed++;
    pattern_fill(p, size, slot->Seed);
    mTick.Reallocs++;
    return;
  }

  if (slot->Pointer != NULL) {
    tick_free(slot);
  }
  UINT8 kind = calls % 16 == 0 ? 2 : (UINT8)((r >> 1) & 1);
  UINTN size, align = 8;
  UINT8 *p;
  if (kind == 2) {
    size = (r >> 4) & 1 ? 8192 : 5000;
    align = (r >> 5) & 1 ? 4096 : 64 * KiB;
    p = pool_aligned_alloc(size, align);
    mTick.PageAllocs++;
  } else if (kind == 1) {
    size = (UINTN)((r >> 8) % 2048);
    p = pool_raw_alloc(size);
  } else {
    static const UINTN aligns[4] = {8, 16, 64, 256};
    align = aligns[(r >> 4) & 3];
    size = (UINTN)((r >> 8) % 2048);
    p = pool_aligned_alloc(size, align);
  }
  if (p == NULL || !is_aligned(p, align)) {
    mTick.Errors++;
    if (p == NULL) {
      return;
    }
  }
  mTick.Allocs++;
  mTick.LiveBlocks++;
  if (kind != 1) {
    mTick.LiveBytes += size;
  }
  slot->Pointer = p;
  slot->Size = size;
  slot->Kind = kind;
  slot->Seed = mTick.NextSeed++;
  pattern_fill(p, size, slot->Seed);
}

/* ---- Main-loop operations --------------------------------------------------------------- */

/* Log-uniform sizes 0..16 KiB, one in 64 up to 256 KiB. */
static UINTN random_size(void) {
  UINT64 r = rng_next(&mRng);
  UINTN bits = (r & 63) == 0 ? 15 + (UINTN)((r >> 6) % 4) : (UINTN)((r >> 6) % 15);
  return (UINTN)((r >> 16) % ((UINT64)1 << bits));
}

static UINTN random_align(void) {
  static const UINTN aligns[8] = {1, 8, 16, 32, 64, 128, 256, 4096};
  UINT64 r = rng_next(&mRng);
  return (r & 255) == 0 ? 64 * KiB : aligns[(r >> 8) & 7];
}

static BOOLEAN verify(const BLOCK *Block, UINTN Size, const char *When) {
  UINTN bad = pattern_find_error(Block->Pointer, Size, Block->Seed);
  if (bad != MAX_UINTN) {
    error(&mErr.Corrupt, S("%s: block %p (size %llu, Align %llu) damaged at offset %llu", When,
                           Block->Pointer, (ull)Block->Size, (ull)Block->Align, (ull)bad));
    return FALSE;
  }
  return TRUE;
}

/* Checks a block just placed (alignment, usable size) and fills it. */
static void settle(BLOCK *Block, const char *What) {
  UINTN need = Block->Raw ? 8 : Block->Align;
  if (!is_aligned(Block->Pointer, need)) {
    error(&mErr.Misaligned, S("%s: %p not aligned to %llu", What, Block->Pointer, (ull)need));
  }
  UINTN usable = pool_usable_size(Block->Pointer);
  if (Block->Raw ? usable != 0 : usable < Block->Size) {
    error(&mErr.SmallUsable, S("%s: %p size %llu, usable %llu", What, Block->Pointer, (ull)Block->Size,
                               (ull)usable));
  }
  Block->Seed = mNextSeed++;
  /* Writing the slack too checks that it belongs to the block (other blocks' patterns would
     show an overlap). */
  if (!Block->Raw && usable > Block->Size) {
    pattern_fill(Block->Pointer + Block->Size, usable - Block->Size, ~Block->Seed);
  }
  pattern_fill(Block->Pointer, Block->Size, Block->Seed);
}

static void op_alloc(void) {
  BLOCK *b = &mTable[mLive];
  UINT64 r = rng_below(&mRng, 100);
  UINTN size = random_size();
  b->Raw = FALSE;
  b->Align = random_align();
  if (r < 65) {
    b->Pointer = pool_aligned_alloc(size, b->Align);
    mOps.Allocs++;
  } else if (r < 80) {
    UINTN count = 1 + (UINTN)rng_below(&mRng, 8);
    size = size / count;
    b->Pointer = pool_aligned_calloc(count, size, b->Align);
    size *= count;
    if (b->Pointer != NULL && !all_zero(b->Pointer, size)) {
      error(&mErr.NotZero, S("calloc %p (%llu B) not zeroed", b->Pointer, (ull)size));
    }
    mOps.Callocs++;
  } else if (r < 92) {
    b->Pointer = pool_raw_alloc(size);
    b->Raw = TRUE;
    b->Align = 8;
    mOps.Raws++;
  } else {
    b->Pointer = pool_aligned_realloc(NULL, size);
    b->Align = POOL_DEFAULT_ALIGN;
    mOps.ReallocNulls++;
  }
  if (b->Pointer == NULL) {
    error(&mErr.Nulls, S("allocation of %llu B at Align %llu returned NULL", (ull)size, (ull)b->Align));
    return;
  }
  b->Size = size;
  settle(b, "alloc");
  mLive++;
  if (!b->Raw) {
    mLiveBytes += size;
  }
}

static void remove_at(UINTN Index) {
  mTable[Index] = mTable[--mLive];
}

static void op_free(UINTN Index) {
  BLOCK *b = &mTable[Index];
  verify(b, b->Size, "free");
  EFI_STATUS status = b->Raw ? pool_raw_free(b->Pointer) : pool_aligned_free(b->Pointer);
  if (status != EFI_SUCCESS) {
    error(&mErr.BadStatus, S("free of %p returned %s", b->Pointer, status_name(status)));
  }
  if (!b->Raw) {
    mLiveBytes -= b->Size;
  }
  mOps.Frees++;
  remove_at(Index);
}

static void op_realloc(UINTN Index) {
  BLOCK *b = &mTable[Index];
  verify(b, b->Size, "realloc");
  if (b->Raw) {
    /* A raw block can only shrink, through pool_shrink. */
    UINTN size = b->Size != 0 ? (UINTN)rng_below(&mRng, b->Size + 1) : 0;
    if (!pool_shrink(b->Pointer, b->Size, size)) {
      error(&mErr.ShrinkRefused, S("pool_shrink of raw %p %llu -> %llu refused", b->Pointer, (ull)b->Size,
                                   (ull)size));
    }
    b->Size = size;
    mOps.Shrinks++;
    return;
  }
  UINTN size = random_size();
  UINT8 *p = pool_aligned_realloc(b->Pointer, size);
  mOps.Reallocs++;
  if (p == NULL) {
    error(&mErr.Nulls, S("realloc of %p to %llu returned NULL", b->Pointer, (ull)size));
    return;
  }
  mOps.InPlace += p == b->Pointer;
  UINT8 *old = b->Pointer;
  b->Pointer = p;
  verify(b, size < b->Size ? size : b->Size, S("after realloc %p -> %p", old, p));
  mLiveBytes += size;
  mLiveBytes -= b->Size;
  b->Size = size;
  settle(b, "realloc");
}

static void op_shrink(UINTN Index) {
  BLOCK *b = &mTable[Index];
  UINT64 r = rng_next(&mRng);
  if ((r & 7) == 0) {
    /* A grow must be refused and change nothing. */
    BOOLEAN grew = (r & 8) ? pool_shrink(b->Pointer, b->Size, b->Size + 1)
                           : pool_remap(b->Pointer, b->Size, b->Size + 1) != NULL;
    if (grew) {
      error(&mErr.ShrinkRefused, S("grow of %p accepted by pool_shrink/pool_remap", b->Pointer));
    }
    mOps.GrowRefusals++;
    verify(b, b->Size, "refused grow");
    return;
  }
  UINTN size = b->Size != 0 ? (UINTN)((r >> 8) % (b->Size + 1)) : 0;
  BOOLEAN ok;
  if (r & 8) {
    ok = pool_shrink(b->Pointer, b->Size, size);
    mOps.Shrinks++;
  } else {
    ok = pool_remap(b->Pointer, b->Size, size) == b->Pointer;
    mOps.Remaps++;
  }
  if (!ok) {
    error(&mErr.ShrinkRefused, S("shrink of %p %llu -> %llu refused", b->Pointer, (ull)b->Size, (ull)size));
    return;
  }
  verify(b, size, "shrink");
  if (!b->Raw) {
    mLiveBytes -= b->Size - size;
  }
  b->Size = size;
}

/* LiveBlocks and LiveBytes against the main table and the notify function's ring, taken at
   TPL_CALLBACK so that the notify function cannot run in between. */
static void compare_stats(const POOL_STATS *Base, UINTN Operation) {
  EFI_TPL old = gBS->RaiseTPL(TPL_CALLBACK);
  POOL_STATS s = stats_now();
  UINT64 blocks = Base->LiveBlocks + mLive + mTick.LiveBlocks;
  UINT64 bytes = Base->LiveBytes + mLiveBytes + mTick.LiveBytes;
  gBS->RestoreTPL(old);
  if (s.LiveBlocks != blocks || s.LiveBytes != bytes) {
    error(&mErr.StatMismatch, S("at operation %llu: LiveBlocks %llu, LiveBytes %llu; expected %llu, %llu",
                                (ull)Operation, (ull)s.LiveBlocks, (ull)s.LiveBytes, (ull)blocks, (ull)bytes));
  }
}

void test_random(void) {
  POOL_STATS base = stats_now();
  MAP_SUMMARY before, after;
  EFI_EVENT timer = NULL;

  EFI_STATUS status = gBS->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_tick, NULL, &timer);
  check_status(status, EFI_SUCCESS, "random: periodic timer event created");
  pool_trim();
  map_read(&before);
  if (status == EFI_SUCCESS) {
    status = gBS->SetTimer(timer, TimerPeriodic, TIMER_PERIOD);
    check_status(status, EFI_SUCCESS, "random: timer set to 1 ms periodic");
  }

  UINT64 t0 = timer_ticks();
  for (UINTN op = 0; op < OPERATIONS; op++) {
    UINT64 r = rng_below(&mRng, 100);
    if (mLive == 0 || (r < 45 && mLive < MAX_LIVE)) {
      op_alloc();
    } else if (r < 75) {
      op_free((UINTN)rng_below(&mRng, mLive));
    } else if (r < 92) {
      op_realloc((UINTN)rng_below(&mRng, mLive));
    } else {
      op_shrink((UINTN)rng_below(&mRng, mLive));
    }
    if (op % CHECK_EVERY == CHECK_EVERY - 1) {
      compare_stats(&base, op);
    }
  }
  UINT64 ms = ticks_to_ms(timer_ticks() - t0);

  /* Stop the notify function, then free everything. */
  mTick.Stop = TRUE;
  if (timer != NULL) {
    gBS->SetTimer(timer, TimerCancel, 0);
  }
  compare_stats(&base, OPERATIONS);
  EFI_TPL old = gBS->RaiseTPL(TPL_CALLBACK);
  for (UINTN i = 0; i < RING; i++) {
    if (mTick.Ring[i].Pointer != NULL) {
      tick_free(&mTick.Ring[i]);
    }
#if UPA_TICK_MODE == 2
    firmware_ring_free(i);
#endif
  }
  gBS->RestoreTPL(old);
  UINTN left = mLive;
  while (mLive > 0) {
    op_free(mLive - 1);
  }
  POOL_STATS idle = stats_now();
  UINTN trimmed = pool_trim();
  POOL_STATS end = stats_now();
  map_read(&after);
  if (timer != NULL) {
    gBS->CloseEvent(timer);
  }

  info("random: %llu operations in %llu ms: %llu aligned, %llu calloc, %llu raw, %llu realloc(NULL) allocations; "
       "%llu frees, %llu reallocs (%llu in place), %llu shrinks, %llu remaps, %llu refused grows; %llu blocks freed at the end",
       (ull)OPERATIONS, (ull)ms, (ull)mOps.Allocs, (ull)mOps.Callocs, (ull)mOps.Raws, (ull)mOps.ReallocNulls,
       (ull)mOps.Frees, (ull)mOps.Reallocs, (ull)mOps.InPlace, (ull)mOps.Shrinks, (ull)mOps.Remaps,
       (ull)mOps.GrowRefusals, (ull)left);
  info("re-entrancy: %llu timer callbacks: %llu allocations (%llu page-backed), %llu reallocs, %llu frees, %llu errors, %llu damaged blocks",
       (ull)mTick.Calls, (ull)mTick.Allocs, (ull)mTick.PageAllocs, (ull)mTick.Reallocs, (ull)mTick.Frees,
       (ull)mTick.Errors, (ull)mTick.Corrupt);
  info("random: peak %llu bytes live, %llu bytes requested from firmware during the phase", (ull)end.PeakBytes,
       (ull)(end.RequestedBytes - base.RequestedBytes));

  check(mErr.Nulls == 0 && mErr.BadStatus == 0, "random: no unexpected NULL or error status",
        S("%llu NULL, %llu bad status; first problem: %s", (ull)mErr.Nulls, (ull)mErr.BadStatus, mErr.First));
  check(mErr.Corrupt == 0, "random: every block kept its pattern (checked before each realloc and free)",
        S("%llu damaged; first problem: %s", (ull)mErr.Corrupt, mErr.First));
  check(mErr.Misaligned == 0 && mErr.SmallUsable == 0, "random: every block aligned, usable size >= size",
        S("%llu misaligned, %llu too small; first problem: %s", (ull)mErr.Misaligned, (ull)mErr.SmallUsable,
          mErr.First));
  check(mErr.NotZero == 0, "random: every calloc block zeroed", mErr.First);
  check(mErr.ShrinkRefused == 0, "random: shrinks succeed and grows are refused by pool_shrink/pool_remap",
        mErr.First);
  check(mErr.StatMismatch == 0, "random: LiveBlocks and LiveBytes exact every 4096 operations, timer included",
        mErr.First);
  info("random: after the last free the front kept %llu empty pages (%llu bytes of bookkeeping); pool_trim gave %llu back",
       (ull)idle.FrontPages, (ull)idle.BookkeepingBytes, (ull)trimmed);
  check(idle.FrontPages <= POOL_SIZE_CLASSES && trimmed == idle.FrontPages,
        "random: idle memory bounded (at most one empty page per size class) and given back by pool_trim",
        S("%llu front pages idle, %llu given back", (ull)idle.FrontPages, (ull)trimmed));
  check(end.LiveBlocks == 0 && end.LiveBytes == 0 && end.BookkeepingBytes == 0,
        "random: all freed, LiveBlocks == 0, LiveBytes == 0, no bookkeeping left after pool_trim",
        S("LiveBlocks %llu, LiveBytes %llu, BookkeepingBytes %llu", (ull)end.LiveBlocks, (ull)end.LiveBytes,
          (ull)end.BookkeepingBytes));
  check(end.InvalidCalls == base.InvalidCalls && end.FailedRequests == base.FailedRequests,
        "random: no invalid call, no failed request", stats_diff(&base, &end));
  const char *why = "";
  BOOLEAN same = map_same(&before, &after, &why); /* before check(): argument order is unspecified */
  /* U-Boot's map loses conventional pages when notify functions call its memory services, with
     or without this library (scripts/uboot-drift.sh measures it): there, what must hold is that
     no allocated type keeps a page. */
  UINT64 vanished = map_pages_vanished(&before, &after);
  if (!same && vanished > 0 && firmware_vendor_is(L"Das U-Boot")) {
    info("random: U-Boot's memory map lost %llu conventional pages that no type holds", (ull)vanished);
    same = TRUE;
  }
  /* The library's pages here are EfiLoaderData: EfiBootServicesData the phase added is the
     firmware's own (seen once in 2026.08 AAVMF, strict-NX DEBUG build: one page). */
  UINT64 firmware_took = map_pages_taken_as(&before, &after, EfiBootServicesData);
  if (!same && firmware_took > 0) {
    info("random: the firmware took %llu EfiBootServicesData pages for itself during the phase", (ull)firmware_took);
    same = TRUE;
  }
  check(same,
        "random: firmware memory map pages per type as before the phase (but for the firmware's own "
        "EfiBootServicesData, and U-Boot's lost pages)",
        why);
  check(mTick.Calls > 0, "re-entrancy: the timer's notify function ran",
        S("%llu callbacks", (ull)mTick.Calls));
  check(mTick.Errors == 0 && mTick.Corrupt == 0 && mTick.Allocs > 0 && mTick.LiveBlocks == 0 && mTick.LiveBytes == 0,
        "re-entrancy: notify-function allocations succeeded, kept their patterns, balanced",
        S("%llu errors, %llu damaged, %llu allocations, %llu live", (ull)mTick.Errors, (ull)mTick.Corrupt,
          (ull)mTick.Allocs, (ull)mTick.LiveBlocks));
}
