/** @file
  In-firmware benchmark of uefi-pool-alloc (issues 4 and 10), one boot: workloads W1..W7 and an
  alignment sweep, each against the library, a naive `Size + Align` wrapper written here (the
  Zig / uefi-rs / Rust std scheme: an 8-byte header word just below the aligned pointer holding
  the pool pointer) and the raw floor (AllocatePool/FreePool called directly), so every ratio
  comes from one boot.

  Output: machine-readable lines on the serial port, parsed by bench/report.py:

    bench meta KEY=VALUE ...                       (arch, seed, repetitions, firmware, ...)
    bench calib insns=N ticks=T                    (a loop of known length: ticks/instruction)
    bench probe KEY=TICKS ...                      (memcpy and page/pool costs behind W6)
    bench W<n> <scheme> ops=N ticks=T alloc_ticks=.. free_ticks=.. peak_pages=P other_peak=..
          other_after=.. rest_pages=.. requested=R bookkeeping=B leak=0|1 [state=warm|cold]
          [KEY=VALUE ...]
    bench W6steps <scheme> SIZE:TICKS ...          (one repetition, step by step)
    bench sweep <scheme> align=A size=S blocks=N pages=P ... leak=0|1
    bench done errors=E

  Schemes: lib, naive, raw; W2 also `pages` (AllocatePages(1), the true floor), W4/W5
  `raw_same` (raw AllocatePool of the naive wrapper's request size) and W5 `libraw`
  (pool_raw_alloc), W6 `pagegrow` (a harness emulation of page-backed growth in place), W7 (pool
  path pairs, 1536 B at Align 64) `lib` and `raw_same` (raw of the library's request size).

  `ticks` are rdtsc (x64, IA32) or cntvct_el0 (AArch64) ticks for the whole timed part; under QEMU's
  -icount they count guest instructions (see `bench calib`). `peak_pages` are pages of the
  benchmark's memory type (EfiLoaderData, the library's type and the harness's) in the memory
  map at the workload's peak minus before it, read with GetMemoryMap into a static buffer.
  `requested` is what the scheme asked the firmware for over the workload (the library: its
  RequestedBytes counter; the others: summed here), `bookkeeping` the library's
  BookkeepingBytes at the peak. `rest_pages` are the pages still held once every block is freed
  (the library's idle front pages and metadata), before pool_trim. `leak=0` means that after
  pool_trim the pages of that type and, for the library, LiveBlocks/LiveBytes/BookkeepingBytes
  are back to their values before the workload (which starts after a pool_trim too);
  `other_peak` / `other_after` count the pages of every other allocated type the firmware took
  meanwhile (BootServicesData memory-map entries), reported, not judged.

  Build and run: scripts/bench.sh. Files: this one, plus tests/uefi/c/report.c (serial output,
  formatting, counter) and tests/uefi/c/util.c (memory map, statistics, PRNG), compiled in.
**/

#include "util.h"


typedef unsigned long long ull;

#define MEM_TYPE   EfiLoaderData
#define SEED       0x5EED0004ULL

#if defined(__x86_64__)
#define ARCH_NAME "x64"
#elif defined(__i386__)
#define ARCH_NAME "ia32"
#else
#define ARCH_NAME "aa64"
#endif

/* Workload sizes (issue 4). */
#define W1_BLOCKS  10000
#define W1_SIZE    64
#define W1_ALIGN   32
#define W2_BLOCKS  256
#define W2_SIZE    4096
#define W2_ALIGN   4096
#define W3_BLOCKS  5000
#define W45_PAIRS  200000
#ifndef W45_COLD_PAIRS
#define W45_COLD_PAIRS 5000
#endif
#define W45_SIZE   64
#define W7_SIZE    1536
#define W7_ALIGN   64
#ifndef W6_REPS
#define W6_REPS    1000
#endif
#define W6_START   16
#define W6_END     (1024 * 1024)
#define W6_ALIGN   16
#define SWEEP_BLOCKS 512
#define SWEEP_SIZE   64

/* Repetitions of the short workloads, so that each timed part is long enough for plain TCG's
   clock; peak and leak are taken from the first repetition. */
#ifndef BENCH_ORDER
#define BENCH_ORDER 0
#endif
#ifndef W1_REPS
#define W1_REPS 3
#endif
#ifndef W2_REPS
#define W2_REPS 5
#endif
#ifndef W3_REPS
#define W3_REPS 1
#endif

static UINTN mErrors;

static void error(const char *What) {
  mErrors++;
  say("bench error %s", What);
}

/* ---- Schemes ---------------------------------------------------------------------------- */

typedef enum { LIB, NAIVE, RAW, LIBRAW } SCHEME;

static const char *scheme_name(SCHEME Sc) {
  switch (Sc) {
  case LIB:    return "lib";
  case NAIVE:  return "naive";
  case RAW:    return "raw";
  default:     return "libraw";
  }
}

/* Bytes the harness asked the firmware for on behalf of the naive and raw schemes. */
static UINT64 mHarnessRequested;

static inline VOID *raw_alloc(UINTN Size) {
  VOID *p;
  if (gBS->AllocatePool(MEM_TYPE, Size, &p) != EFI_SUCCESS) {
    return NULL;
  }
  mHarnessRequested += Size;
  return p;
}

static inline void raw_free(VOID *P) { gBS->FreePool(P); }

/* The naive wrapper: request Size + max(Align, 8), put the pool pointer in the word below the
   first Align-aligned address that leaves room for it (Zig's pool_allocator; uefi-rs and
   r-efi-alloc do the same above 8). Align 8 keeps the header, as a C API whose free takes
   only the pointer must. */
static inline VOID *naive_alloc(UINTN Size, UINTN Align) {
  UINTN extra = Align > 8 ? Align : 8;
  if (Size > MAX_UINTN - extra) {
    return NULL;
  }
  VOID *raw;
  if (gBS->AllocatePool(MEM_TYPE, Size + extra, &raw) != EFI_SUCCESS) {
    return NULL;
  }
  mHarnessRequested += Size + extra;
  UINTN p = ((UINTN)raw + 8 + Align - 1) & ~(Align - 1);
  ((VOID **)p)[-1] = raw;
  return (VOID *)p;
}

static inline void naive_free(VOID *P) { gBS->FreePool(((VOID **)P)[-1]); }

static __attribute__((always_inline)) inline VOID *scheme_alloc(SCHEME Sc, UINTN Size, UINTN Align) {
  switch (Sc) {
  case LIB:    return pool_aligned_alloc(Size, Align);
  case NAIVE:  return naive_alloc(Size, Align);
  case RAW:    return raw_alloc(Size);
  default:     return pool_raw_alloc(Size);
  }
}

static __attribute__((always_inline)) inline void scheme_free(SCHEME Sc, VOID *P) {
  switch (Sc) {
  case LIB:    pool_aligned_free(P); break;
  case NAIVE:  naive_free(P); break;
  case RAW:    raw_free(P); break;
  default:     pool_raw_free(P); break;
  }
}

/* Realloc as each scheme does it: the library without the old size; the others allocate,
   copy and free (Rust std's realloc_fallback; EDK2's ReallocatePool, minus the zeroing). */
static __attribute__((always_inline)) inline VOID *scheme_realloc(SCHEME Sc, VOID *P, UINTN Old, UINTN New,
                                                                  UINTN Align) {
  if (Sc == LIB) {
    return pool_aligned_realloc(P, New);
  }
  VOID *n = scheme_alloc(Sc, New, Align);
  if (n != NULL && P != NULL) {
    __builtin_memcpy(n, P, Old < New ? Old : New);
    scheme_free(Sc, P);
  }
  return n;
}

/* ---- Measurement helpers ---------------------------------------------------------------- */

typedef struct {
  MAP_SUMMARY Map;
  POOL_STATS  Stats;
  UINT64      Harness;
} SNAP;

static void snap(SNAP *Out) {
  map_read(&Out->Map);
  Out->Stats = stats_now();
  Out->Harness = mHarnessRequested;
}

/* The snapshot a workload starts from: the library first gives back what it keeps idle from
   earlier workloads (its front's empty pages, its index table), so that every scheme starts
   from the same map and raw "cold" pairs find no pool page of the library's kept alive. */
static void snap_before(SNAP *Before) {
  pool_trim();
  snap(Before);
}

static long long pages_delta(const SNAP *Before, const SNAP *After) {
  return (long long)After->Map.Pages[MEM_TYPE] - (long long)Before->Map.Pages[MEM_TYPE];
}

/* Pages the firmware took for itself meanwhile, in every other allocated type (mostly
   BootServicesData: memory-map descriptors and the like). */
static long long other_delta(const SNAP *Before, const SNAP *After) {
  long long d = 0;
  for (UINTN t = 0; t < MAP_TYPES; t++) {
    if (t != MEM_TYPE && t != EfiConventionalMemory) {
      d += (long long)After->Map.Pages[t] - (long long)Before->Map.Pages[t];
    }
  }
  return d + (long long)After->Map.OemPages - (long long)Before->Map.OemPages;
}

static UINT64 requested_delta(SCHEME Sc, const SNAP *Before, const SNAP *After) {
  if (Sc == LIB || Sc == LIBRAW) {
    return After->Stats.RequestedBytes - Before->Stats.RequestedBytes;
  }
  return After->Harness - Before->Harness;
}

/* Leak check after a workload: 0 if, after pool_trim, the pages of the benchmark's memory type
   and the library's live counters are back to where they were. Other types (firmware
   bookkeeping) are reported in *Other, not counted as a leak of the scheme; the pages held
   before pool_trim in *Rest. */
static int leaked(const SNAP *Before, const char *Where, long long *Other, long long *Rest) {
  SNAP after;
  /* Memory at rest: what the scheme still holds once every block is freed (the library's idle
     front pages), before pool_trim gives it back. */
  snap(&after);
  *Rest = pages_delta(Before, &after);
  pool_trim();
  snap(&after);
  BOOLEAN pages_same = after.Map.Status == EFI_SUCCESS &&
                       after.Map.Pages[MEM_TYPE] == Before->Map.Pages[MEM_TYPE];
  BOOLEAN stats_same = after.Stats.LiveBlocks == Before->Stats.LiveBlocks &&
                       after.Stats.LiveBytes == Before->Stats.LiveBytes &&
                       after.Stats.BookkeepingBytes == Before->Stats.BookkeepingBytes;
  const char *why;
  if (!map_same(&Before->Map, &after.Map, &why)) {
    say("bench note %s: memory map differs: %s", Where, why);
  }
  if (!stats_same) {
    say("bench note %s: library counters differ: %s", Where, stats_diff(&Before->Stats, &after.Stats));
  }
  *Other = other_delta(Before, &after);
  return !(pages_same && stats_same);
}

/* ---- Workload data, generated from the seed before anything is timed ---------------------- */

static VOID *mPtrs[W1_BLOCKS];
static UINT32 mW3Size[W3_BLOCKS];
static UINT32 mW3Align[W3_BLOCKS];
static UINT32 mW3Order[W3_BLOCKS];

/* 2^(k/64) * 2^16 for k = 0..64, for log-uniform sizes without floating point. */
static const UINT32 kExp2[65] = {
    65536, 66250, 66971, 67700, 68438, 69183, 69936, 70698, 71468, 72246, 73032, 73828, 74632,
    75444, 76266, 77096, 77936, 78785, 79642, 80510, 81386, 82273, 83169, 84074, 84990, 85915,
    86851, 87796, 88752, 89719, 90696, 91684, 92682, 93691, 94711, 95743, 96785, 97839, 98905,
    99982, 101070, 102171, 103283, 104408, 105545, 106694, 107856, 109031, 110218, 111418,
    112631, 113858, 115098, 116351, 117618, 118899, 120194, 121502, 122825, 124163, 125515,
    126882, 128263, 129660, 131072};

/* Log-uniform in 1..8192: 2^u with u uniform in [0, 13), in 1/2^16 steps. */
static UINT32 log_uniform_size(RNG *Rng) {
  UINT64 u = rng_below(Rng, 13ULL << 16);
  UINT32 whole = (UINT32)(u >> 16), frac = (UINT32)(u & 0xFFFF);
  UINT32 k = frac >> 10, rest = frac & 0x3FF;
  UINT64 mant = kExp2[k] + (((UINT64)(kExp2[k + 1] - kExp2[k]) * rest) >> 10);
  UINT64 size = (mant << whole) >> 16;
  return size < 1 ? 1 : size > 8192 ? 8192 : (UINT32)size;
}

static void generate_w3(void) {
  static const UINT32 aligns[6] = {8, 16, 32, 64, 128, 4096};
  static const UINT32 weights[6] = {40, 25, 15, 10, 5, 5};
  RNG rng = {SEED ^ 3};
  UINT64 sizes = 0;
  UINT32 count[6] = {0};
  for (UINTN i = 0; i < W3_BLOCKS; i++) {
    mW3Size[i] = log_uniform_size(&rng);
    UINT32 w = (UINT32)rng_below(&rng, 100), j = 0;
    while (w >= weights[j]) {
      w -= weights[j++];
    }
    mW3Align[i] = aligns[j];
    count[j]++;
    sizes += mW3Size[i];
    mW3Order[i] = (UINT32)i;
  }
  for (UINTN i = W3_BLOCKS - 1; i > 0; i--) {   /* Fisher-Yates */
    UINTN j = (UINTN)rng_below(&rng, i + 1);
    UINT32 t = mW3Order[i];
    mW3Order[i] = mW3Order[j];
    mW3Order[j] = t;
  }
  say("bench meta w3_bytes=%llu w3_align8=%u w3_align16=%u w3_align32=%u w3_align64=%u "
      "w3_align128=%u w3_align4096=%u",
      (ull)sizes, count[0], count[1], count[2], count[3], count[4], count[5]);
}

/* ---- Output ----------------------------------------------------------------------------- */

typedef struct {
  UINT64 Ops, Ticks, AllocTicks, FreeTicks;
  long long PeakPages, OtherPeak, OtherAfter, RestPages;
  UINT64 Requested, Bookkeeping;
  int Leak;
} RESULT;

static void emit(const char *Workload, const char *Scheme, const RESULT *R, const char *Extra) {
  say("bench %s %s ops=%llu ticks=%llu alloc_ticks=%llu free_ticks=%llu peak_pages=%lld "
      "other_peak=%lld other_after=%lld rest_pages=%lld requested=%llu bookkeeping=%llu leak=%d %s",
      Workload, Scheme, R->Ops, R->Ticks, R->AllocTicks, R->FreeTicks, R->PeakPages, R->OtherPeak,
      R->OtherAfter, R->RestPages, R->Requested, R->Bookkeeping, R->Leak, Extra);
}

static void finish(RESULT *R, SCHEME Sc, const SNAP *Before, const SNAP *Peak) {
  R->Ticks = R->AllocTicks + R->FreeTicks;
  R->PeakPages = pages_delta(Before, Peak);
  R->OtherPeak = other_delta(Before, Peak);
  R->Requested = requested_delta(Sc, Before, Peak);
  R->Bookkeeping = Peak->Stats.BookkeepingBytes - Before->Stats.BookkeepingBytes;
}

/* One specialised copy per scheme: no scheme switch inside the timed loops. */
#define PER_SCHEME(Sc, CALL)                                                                  \
  switch (Sc) {                                                                               \
  case LIB:   { const SCHEME s_ = LIB; CALL; } break;                                         \
  case NAIVE: { const SCHEME s_ = NAIVE; CALL; } break;                                       \
  default:    { const SCHEME s_ = RAW; CALL; } break;                                         \
  }

/* ---- W1 / W2 / W3: blocks allocated (all live at the peak), then freed -------------------- */

/* Sizes[i] / Aligns[i] (or Size / Align when the arrays are NULL), freed in Order (or in
   allocation order). */
static __attribute__((always_inline)) inline void
live_blocks(const char *Name, SCHEME Sc, UINTN N, UINTN Size, UINTN Align, const UINT32 *Sizes,
            const UINT32 *Aligns, const UINT32 *Order, UINTN Reps) {
  RESULT r = {0};
  SNAP before, peak;
  for (UINTN rep = 0; rep < Reps; rep++) {
    if (rep == 0) {
      snap_before(&before);
    }
    UINT64 t0 = timer_ticks();
    for (UINTN i = 0; i < N; i++) {
      mPtrs[i] = scheme_alloc(Sc, Sizes != NULL ? Sizes[i] : Size, Aligns != NULL ? Aligns[i] : Align);
    }
    UINT64 t1 = timer_ticks();
    if (rep == 0) {
      snap(&peak);
      for (UINTN i = 0; i < N; i++) {
        UINTN a = Sc == RAW ? 8 : Aligns != NULL ? Aligns[i] : Align;
        if (mPtrs[i] == NULL || !is_aligned(mPtrs[i], a)) {
          error(S("%s %s: block %llu is %p", Name, scheme_name(Sc), (ull)i, mPtrs[i]));
          break;
        }
      }
    }
    UINT64 t2 = timer_ticks();
    for (UINTN i = 0; i < N; i++) {
      scheme_free(Sc, mPtrs[Order != NULL ? Order[i] : i]);
    }
    UINT64 t3 = timer_ticks();
    r.AllocTicks += t1 - t0;
    r.FreeTicks += t3 - t2;
    if (rep == 0) {
      r.Leak = leaked(&before, S("%s %s", Name, scheme_name(Sc)), &r.OtherAfter, &r.RestPages);
    }
  }
  r.Ops = 2 * N * Reps;
  finish(&r, Sc, &before, &peak);
  emit(Name, scheme_name(Sc), &r,
       S("reps=%llu blocks=%llu size=%llu align=%llu", (ull)Reps, (ull)N, (ull)Size, (ull)Align));
}

static void w1(SCHEME Sc) {
  PER_SCHEME(Sc, live_blocks("W1", s_, W1_BLOCKS, W1_SIZE, W1_ALIGN, NULL, NULL, NULL, W1_REPS))
}
static void w2(SCHEME Sc) {
  PER_SCHEME(Sc, live_blocks("W2", s_, W2_BLOCKS, W2_SIZE, W2_ALIGN, NULL, NULL, NULL, W2_REPS))
}
static void w3(SCHEME Sc) {
  PER_SCHEME(Sc, live_blocks("W3", s_, W3_BLOCKS, 0, 0, mW3Size, mW3Align, mW3Order, W3_REPS))
}

/* The true floor of W2: AllocatePages(1) per block, 4 KiB-aligned by definition. */
static void w2_pages(void) {
  static EFI_PHYSICAL_ADDRESS pages[W2_BLOCKS];
  RESULT r = {0};
  SNAP before, peak;
  for (UINTN rep = 0; rep < W2_REPS; rep++) {
    if (rep == 0) {
      snap_before(&before);
    }
    UINT64 t0 = timer_ticks();
    for (UINTN i = 0; i < W2_BLOCKS; i++) {
      if (gBS->AllocatePages(AllocateAnyPages, MEM_TYPE, 1, &pages[i]) != EFI_SUCCESS) {
        pages[i] = 0;
      }
    }
    UINT64 t1 = timer_ticks();
    if (rep == 0) {
      snap(&peak);
    }
    UINT64 t2 = timer_ticks();
    for (UINTN i = 0; i < W2_BLOCKS; i++) {
      gBS->FreePages(pages[i], 1);
    }
    UINT64 t3 = timer_ticks();
    r.AllocTicks += t1 - t0;
    r.FreeTicks += t3 - t2;
    if (rep == 0) {
      r.Leak = leaked(&before, "W2 pages", &r.OtherAfter, &r.RestPages);
    }
  }
  r.Ops = 2 * W2_BLOCKS * W2_REPS;
  finish(&r, RAW, &before, &peak);
  r.Requested = (UINT64)W2_BLOCKS * EFI_PAGE_SIZE;
  emit("W2", "pages", &r,
       S("reps=%u blocks=%u size=%u align=%u", W2_REPS, W2_BLOCKS, W2_SIZE, W2_ALIGN));
}

/* ---- W4 / W5: alloc/free pairs ----------------------------------------------------------- */

/* Pairs of Size at Align. Warm: one block of the same scheme, size and alignment stays live
   meanwhile, as other blocks of a size class do in a running program, so the pool page of
   the class never empties. Cold: nothing else of the memory type is live, so on OVMF every
   free empties the page and every allocation takes a new one from the page allocator. */
static __attribute__((always_inline)) inline void
pairs_run(const char *Name, const char *Label, SCHEME Sc, UINTN Size, UINTN Align, BOOLEAN Warm,
          UINTN Pairs) {
  RESULT r = {0};
  SNAP before, peak;
  snap_before(&before);
  VOID *resident = Warm ? scheme_alloc(Sc, Size, Align) : NULL;
  VOID *first = scheme_alloc(Sc, Size, Align);
  snap(&peak);
  scheme_free(Sc, first);
  UINT64 t0 = timer_ticks();
  for (UINTN i = 0; i < Pairs; i++) {
    VOID *p = scheme_alloc(Sc, Size, Align);
    *(volatile UINT8 *)p = (UINT8)i;   /* a caller touches its block */
    scheme_free(Sc, p);
  }
  UINT64 t1 = timer_ticks();
  SNAP after;
  snap(&after);
  if (resident != NULL) {
    scheme_free(Sc, resident);
  }
  r.Ops = 2 * Pairs;
  r.AllocTicks = t1 - t0;
  finish(&r, Sc, &before, &peak);
  /* Bytes requested per block. */
  r.Requested = requested_delta(Sc, &before, &after) / (Pairs + 1 + (Warm ? 1 : 0));
  r.Leak = leaked(&before, S("%s %s %s", Name, Label, Warm ? "warm" : "cold"), &r.OtherAfter, &r.RestPages);
  emit(Name, Label, &r,
       S("state=%s pairs=%llu size=%llu align=%llu", Warm ? "warm" : "cold", (ull)Pairs, (ull)Size,
         (ull)Align));
}

static void pairs(const char *Name, const char *Label, SCHEME Sc, UINTN Size, UINTN Align) {
  switch (Sc) {
  case LIB:
    pairs_run(Name, Label, LIB, Size, Align, TRUE, W45_PAIRS);
    pairs_run(Name, Label, LIB, Size, Align, FALSE, W45_COLD_PAIRS);
    break;
  case NAIVE:
    pairs_run(Name, Label, NAIVE, Size, Align, TRUE, W45_PAIRS);
    pairs_run(Name, Label, NAIVE, Size, Align, FALSE, W45_COLD_PAIRS);
    break;
  case RAW:
    pairs_run(Name, Label, RAW, Size, Align, TRUE, W45_PAIRS);
    pairs_run(Name, Label, RAW, Size, Align, FALSE, W45_COLD_PAIRS);
    break;
  default:
    pairs_run(Name, Label, LIBRAW, Size, Align, TRUE, W45_PAIRS);
    pairs_run(Name, Label, LIBRAW, Size, Align, FALSE, W45_COLD_PAIRS);
    break;
  }
}

/* W4 (Align 64) and W5 (Align 8): the library (from its small-block front: no firmware call);
   the naive wrapper; raw AllocatePool of 64 bytes (what a caller needing no alignment pays)
   and of the naive wrapper's request size; and, for W5, the library's raw path. */
static void w45(const char *Name, UINTN Align) {
  pairs(Name, "lib", LIB, W45_SIZE, Align);
  pairs(Name, "naive", NAIVE, W45_SIZE, Align);
  pairs(Name, "raw_same", RAW, W45_SIZE + (Align > 8 ? Align : 8), 8);
  pairs(Name, "raw", RAW, W45_SIZE, 8);
  if (Align <= 8) {
    pairs(Name, "libraw", LIBRAW, W45_SIZE, 8);
  }
}

/* W7: pairs of blocks above the front's limit (1536 B at Align 64: the pool path, one
   AllocatePool each), against raw AllocatePool of the library's own request size (the same
   firmware size class), warm and cold. EDK2's 1664-byte class fits two such blocks in a page,
   so the resident block keeps the warm pair's page (larger classes hold one block per page and
   are never warm). */
static void w7(void) {
  pool_trim();
  POOL_STATS s0 = stats_now();
  VOID *probe = pool_aligned_alloc(W7_SIZE, W7_ALIGN);
  POOL_STATS s1 = stats_now();
  pool_aligned_free(probe);
  UINTN lib_request = (UINTN)(s1.RequestedBytes - s0.RequestedBytes);
  pairs("W7", "lib", LIB, W7_SIZE, W7_ALIGN);
  pairs("W7", "raw_same", RAW, lib_request, 8);
}

/* ---- W6: realloc growth 16 B -> 1 MiB by 1.5x, 1000 times -------------------------------- */

#define W6_MAX_STEPS 40

static __attribute__((always_inline)) inline void w6_run(SCHEME Sc) {
  RESULT r = {0};
  SNAP before, after;
  UINT64 steps = 0, copied = 0;
  long long peak_pages = 0, other_peak = 0;
  UINT64 step_ticks[W6_MAX_STEPS];
  UINTN step_size[W6_MAX_STEPS];
  snap_before(&before);
  /* One untimed, instrumented repetition: the memory map and the time of every step. */
  {
    UINTN size = W6_START;
    VOID *p = scheme_alloc(Sc, size, W6_ALIGN);
    while (p != NULL && size < W6_END && steps < W6_MAX_STEPS) {
      UINTN next = size + size / 2 > W6_END ? W6_END : size + size / 2;
      UINT64 t0 = timer_ticks();
      p = scheme_realloc(Sc, p, size, next, W6_ALIGN);
      step_ticks[steps] = timer_ticks() - t0;
      step_size[steps] = next;
      copied += size;
      size = next;
      SNAP m;
      snap(&m);
      peak_pages = pages_delta(&before, &m) > peak_pages ? pages_delta(&before, &m) : peak_pages;
      other_peak = other_delta(&before, &m) > other_peak ? other_delta(&before, &m) : other_peak;
      steps++;
    }
    if (p == NULL || !is_aligned(p, Sc == RAW ? 8 : W6_ALIGN)) {
      error(S("W6 %s: block %p", scheme_name(Sc), p));
    }
    scheme_free(Sc, p);
  }
  SNAP mid;
  snap(&mid);
  UINT64 t0 = timer_ticks();
  for (UINTN rep = 0; rep < W6_REPS; rep++) {
    UINTN size = W6_START;
    VOID *p = scheme_alloc(Sc, size, W6_ALIGN);
    while (size < W6_END) {
      UINTN next = size + size / 2 > W6_END ? W6_END : size + size / 2;
      p = scheme_realloc(Sc, p, size, next, W6_ALIGN);
      size = next;
    }
    scheme_free(Sc, p);
  }
  UINT64 t1 = timer_ticks();
  snap(&after);
  r.Ops = steps * W6_REPS;
  r.AllocTicks = t1 - t0;
  finish(&r, Sc, &before, &mid);
  r.PeakPages = peak_pages;
  r.OtherPeak = other_peak;
  r.Leak = leaked(&before, S("W6 %s", scheme_name(Sc)), &r.OtherAfter, &r.RestPages);
  emit("W6", scheme_name(Sc), &r,
       S("reps=%u steps=%llu copied=%llu", W6_REPS, (ull)steps, (ull)copied));
  char line[1024];
  UINTN n = format(line, sizeof line, "bench W6steps %s", scheme_name(Sc));
  for (UINTN i = 0; i < steps; i++) {
    n += format(line + n, sizeof line - n, " %llu:%llu", (ull)step_size[i], (ull)step_ticks[i]);
  }
  say("%s", line);
}

static void w6(SCHEME Sc) { PER_SCHEME(Sc, w6_run(s_)) }

/* What W6 would cost if blocks above 2 KiB lived in whole pages and grew in place when the
   pages after them are free (AllocatePages at that address), as the library's page path does
   for its own blocks: pool up to 2 KiB, then pages. A harness-only scheme ("pagegrow"), to
   measure a possible change of the library. */
typedef struct {
  VOID  *Pool;    /* pool block, or NULL */
  UINT64 Pages;   /* page block address, or 0 */
  UINTN  Count;   /* its pages */
} GROWN;

static UINT64 mInPlace, mMoved;

static inline UINTN pages_of(UINTN Size) { return (Size + EFI_PAGE_SIZE - 1) / EFI_PAGE_SIZE; }

static void grow_to(GROWN *B, UINTN Old, UINTN New) {
  if (New <= 2048) {
    VOID *n = raw_alloc(New);
    if (B->Pool != NULL) {
      __builtin_memcpy(n, B->Pool, Old < New ? Old : New);
      raw_free(B->Pool);
    }
    B->Pool = n;
    return;
  }
  UINTN want = pages_of(New);
  if (B->Pages != 0) {
    if (want <= B->Count) {
      mInPlace++;
      return;
    }
    EFI_PHYSICAL_ADDRESS tail = B->Pages + B->Count * EFI_PAGE_SIZE;
    if (gBS->AllocatePages(AllocateAddress, MEM_TYPE, want - B->Count, &tail) == EFI_SUCCESS) {
      B->Count = want;
      mInPlace++;
      return;
    }
  }
  EFI_PHYSICAL_ADDRESS n;
  if (gBS->AllocatePages(AllocateAnyPages, MEM_TYPE, want, &n) != EFI_SUCCESS) {
    error("pagegrow: no memory");
    return;
  }
  mMoved++;
  if (B->Pool != NULL) {
    __builtin_memcpy((VOID *)(UINTN)n, B->Pool, Old);
    raw_free(B->Pool);
    B->Pool = NULL;
  } else {
    __builtin_memcpy((VOID *)(UINTN)n, (VOID *)(UINTN)B->Pages, Old);
    gBS->FreePages(B->Pages, B->Count);
  }
  B->Pages = n;
  B->Count = want;
}

static void grown_free(GROWN *B) {
  if (B->Pool != NULL) {
    raw_free(B->Pool);
  } else if (B->Pages != 0) {
    gBS->FreePages(B->Pages, B->Count);
  }
}

static void w6_pagegrow(void) {
  RESULT r = {0};
  SNAP before, mid;
  snap_before(&before);
  long long peak_pages = 0;
  UINT64 steps = 0;
  {
    GROWN b = {NULL, 0, 0};
    UINTN size = W6_START;
    grow_to(&b, 0, size);
    while (size < W6_END) {
      UINTN next = size + size / 2 > W6_END ? W6_END : size + size / 2;
      grow_to(&b, size, next);
      size = next;
      SNAP m;
      snap(&m);
      peak_pages = pages_delta(&before, &m) > peak_pages ? pages_delta(&before, &m) : peak_pages;
      steps++;
    }
    grown_free(&b);
  }
  snap(&mid);
  mInPlace = mMoved = 0;
  UINT64 t0 = timer_ticks();
  for (UINTN rep = 0; rep < W6_REPS; rep++) {
    GROWN b = {NULL, 0, 0};
    UINTN size = W6_START;
    grow_to(&b, 0, size);
    while (size < W6_END) {
      UINTN next = size + size / 2 > W6_END ? W6_END : size + size / 2;
      grow_to(&b, size, next);
      size = next;
    }
    grown_free(&b);
  }
  UINT64 t1 = timer_ticks();
  r.Ops = steps * W6_REPS;
  r.AllocTicks = t1 - t0;
  finish(&r, RAW, &before, &mid);
  r.PeakPages = peak_pages;
  r.Leak = leaked(&before, "W6 pagegrow", &r.OtherAfter, &r.RestPages);
  emit("W6", "pagegrow", &r,
       S("reps=%u steps=%llu in_place=%llu moved=%llu", W6_REPS, (ull)steps,
         (ull)(mInPlace / W6_REPS), (ull)(mMoved / W6_REPS)));
}

/* ---- Alignment sweep: firmware bytes per block against alignment ------------------------ */

static __attribute__((always_inline)) inline void sweep_one(SCHEME Sc, UINTN Align) {
  RESULT r = {0};
  SNAP before, peak;
  snap_before(&before);
  for (UINTN i = 0; i < SWEEP_BLOCKS; i++) {
    mPtrs[i] = scheme_alloc(Sc, SWEEP_SIZE, Align);
  }
  snap(&peak);
  BOOLEAN ok = TRUE;
  for (UINTN i = 0; i < SWEEP_BLOCKS; i++) {
    ok &= mPtrs[i] != NULL && is_aligned(mPtrs[i], Sc == RAW ? 8 : Align);
  }
  if (!ok) {
    error(S("sweep %s align %llu: a block is NULL or misaligned", scheme_name(Sc), (ull)Align));
  }
  for (UINTN i = 0; i < SWEEP_BLOCKS; i++) {
    scheme_free(Sc, mPtrs[i]);
  }
  finish(&r, Sc, &before, &peak);
  r.Leak = leaked(&before, S("sweep %s %llu", scheme_name(Sc), (ull)Align), &r.OtherAfter, &r.RestPages);
  say("bench sweep %s align=%llu size=%u blocks=%u pages=%lld other_peak=%lld other_after=%lld "
      "requested=%llu bookkeeping=%llu leak=%d",
      scheme_name(Sc), (ull)Align, SWEEP_SIZE, SWEEP_BLOCKS, r.PeakPages, r.OtherPeak,
      r.OtherAfter, r.Requested, r.Bookkeeping, r.Leak);
}

static void sweep(void) {
  for (UINTN align = 16; align <= 64 * 1024; align *= 2) {
    if (BENCH_ORDER % 2 == 0) {
      sweep_one(LIB, align);
      sweep_one(NAIVE, align);
    } else {
      sweep_one(NAIVE, align);
      sweep_one(LIB, align);
    }
  }
  sweep_one(RAW, 8);
}

/* ---- Calibration and probes -------------------------------------------------------------- */

/* Ticks of a loop of known length: under -icount, ticks per guest instruction. */
static void calibrate(void) {
  const UINT64 iterations = 2000000;
  UINT64 n = iterations;
  UINT64 t0 = timer_ticks();
#if defined(__x86_64__)
  __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
#elif defined(__i386__)
  UINT32 n32 = (UINT32)n;
  __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n32) : : "cc");
#else
  __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
#endif
  UINT64 t1 = timer_ticks();
  say("bench calib insns=%llu ticks=%llu", (ull)(2 * iterations), (ull)(t1 - t0));
}

/* Firmware costs behind W6: copying 1 MiB, and a 1 MiB pool block (page-backed in EDK2). */
static void probes(void) {
  VOID *a = raw_alloc(W6_END), *b = raw_alloc(W6_END);
  if (a == NULL || b == NULL) {
    error("probe: no memory");
    return;
  }
  UINT64 t0 = timer_ticks();
  __builtin_memcpy(b, a, W6_END);
  UINT64 t1 = timer_ticks();
  raw_free(b);
  UINT64 t2 = timer_ticks();
  b = raw_alloc(W6_END);
  UINT64 t3 = timer_ticks();
  raw_free(b);
  UINT64 t4 = timer_ticks();
  EFI_PHYSICAL_ADDRESS pages;
  gBS->AllocatePages(AllocateAnyPages, MEM_TYPE, W6_END / EFI_PAGE_SIZE, &pages);
  UINT64 t5 = timer_ticks();
  gBS->FreePages(pages, W6_END / EFI_PAGE_SIZE);
  UINT64 t6 = timer_ticks();
  raw_free(a);
  say("bench probe memcpy_1m=%llu pool_alloc_1m=%llu pool_free_1m=%llu pages_alloc_1m=%llu "
      "pages_free_1m=%llu",
      (ull)(t1 - t0), (ull)(t3 - t2), (ull)(t4 - t3), (ull)(t5 - t4), (ull)(t6 - t5));
}

/* Every export of the library, so that the image holds all of its code and the map shows
   its full size (scripts/bench.sh reports it). */
typedef VOID (*ANY_FUNCTION)(VOID);
ANY_FUNCTION volatile gAllExports[] = {
    (ANY_FUNCTION)pool_init,          (ANY_FUNCTION)pool_fini,
    (ANY_FUNCTION)pool_aligned_alloc, (ANY_FUNCTION)pool_aligned_calloc,
    (ANY_FUNCTION)pool_aligned_realloc, (ANY_FUNCTION)pool_aligned_free,
    (ANY_FUNCTION)pool_raw_alloc,     (ANY_FUNCTION)pool_raw_free,
    (ANY_FUNCTION)pool_shrink,        (ANY_FUNCTION)pool_remap,
    (ANY_FUNCTION)pool_usable_size,   (ANY_FUNCTION)pool_stats,
};

/* ---- Main ------------------------------------------------------------------------------- */

typedef struct {
  const char *Name;
  void (*Run)(SCHEME);
} WORKLOAD;

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  app_start(ImageHandle, SystemTable);

  say("");
  say("bench meta arch=%s order=%u seed=0x%llx mem_type=%u w1_reps=%u w2_reps=%u w3_reps=%u w6_reps=%u "
      "w45_pairs=%u w45_cold_pairs=%u sweep_blocks=%u",
      ARCH_NAME, BENCH_ORDER, (ull)SEED, MEM_TYPE, W1_REPS, W2_REPS, W3_REPS, W6_REPS, W45_PAIRS,
      W45_COLD_PAIRS, SWEEP_BLOCKS);
  {
    char vendor[64];
    UINTN n = 0;
    for (const CHAR16 *v = gST->FirmwareVendor; v != NULL && *v != 0 && n + 1 < sizeof vendor; v++) {
      vendor[n++] = *v > 0x20 && *v < 0x7F ? (char)*v : '_';
    }
    vendor[n] = '\0';
    /* Ticks per millisecond, calibrated against Stall: virtual time under -icount. */
    UINT64 per_ms = 1000000000000ULL / (ticks_to_ms(1000000000000ULL) | 1);
    say("bench meta firmware=%s firmware_revision=0x%x uefi=0x%x ticks_per_ms=%llu", vendor,
        gST->FirmwareRevision, gST->Hdr.Revision, (ull)per_ms);
  }
  EFI_STATUS status = pool_init(ImageHandle, SystemTable, MEM_TYPE);
  if (status != EFI_SUCCESS) {
    error(S("pool_init: %s", status_name(status)));
  }
  /* Let the library learn the firmware's pool residue before anything is measured, as any
     program's first allocations would. */
  for (UINTN i = 0; i < 8; i++) {
    pool_aligned_free(pool_aligned_alloc(64, 16));
  }
  calibrate();
  generate_w3();
  probes();

  UINT64 start = timer_ticks();
  static const WORKLOAD workloads[] = {{"W1", w1}, {"W2", w2}, {"W3", w3}, {"W6", w6}};
  /* The order of the schemes rotates with BENCH_ORDER (one per -icount boot): the firmware
     keeps some state between them (its memory-map descriptor pages, the pool's free lists),
     and the spread over the boots shows how much that matters. */
  static const SCHEME orders[3][3] = {{LIB, NAIVE, RAW}, {NAIVE, RAW, LIB}, {RAW, LIB, NAIVE}};
  const SCHEME *order = orders[BENCH_ORDER % 3];
  for (UINTN i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
    UINT64 t = timer_ticks();
    for (UINTN k = 0; k < 3; k++) {
      workloads[i].Run(order[k]);
    }
    if (workloads[i].Run == w2) {
      w2_pages();
    }
    if (workloads[i].Run == w6) {
      w6_pagegrow();
    }
    say("bench phase %s ms=%llu", workloads[i].Name, (ull)ticks_to_ms(timer_ticks() - t));
  }
  UINT64 t = timer_ticks();
  w45("W4", 64);
  w45("W5", 8);
  w7();
  say("bench phase W4W5 ms=%llu", (ull)ticks_to_ms(timer_ticks() - t));
  t = timer_ticks();
  sweep();
  say("bench phase sweep ms=%llu", (ull)ticks_to_ms(timer_ticks() - t));
  calibrate();

  POOL_STATS s = stats_now();
  say("bench stats live_blocks=%llu bookkeeping=%llu failed=%llu invalid=%llu", (ull)s.LiveBlocks,
      (ull)s.BookkeepingBytes, (ull)s.FailedRequests, (ull)s.InvalidCalls);
  say("bench done errors=%llu ms=%llu", (ull)mErrors, (ull)ticks_to_ms(timer_ticks() - start));
  gST->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, NULL);
  for (;;) {
  }
}
