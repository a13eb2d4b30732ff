/** @file
  Firmware test of uefi-pool-alloc's C library: one boot, every exported function and every
  class of bad input, inside OVMF (x64) or AAVMF (AArch64). One line per check on the serial
  port, then `N passed, M failed`, then ResetSystem(EfiResetShutdown).

  Phases, in boot order: before pool_init; pool_init/pool_fini and memory types; statistics;
  pool residues; aligned allocation at every alignment; bytes requested from firmware; bad
  input; realloc; calloc; shrink/remap; random operations with a re-entrant timer
  (test_random.c); ExitBootServices.

  Build and boot: scripts/firmware-test.sh [x64|aa64|all]. Files: efi_min.h (UEFI types),
  report.c (serial output, formatting, check counting), util.c (memory map, statistics,
  patterns, PRNG), test_random.c (random phase and timer).
**/

#include "util.h"


#define MAX_SIZE ((UINTN)POOL_MAX_SIZE)
#define MAX_ALIGN ((UINTN)POOL_MAX_ALIGN)
#define OEM_TYPE 0x80000000U
/* Width-independent extremes of UINTN (32 bits on IA32). */
#define TOP_BIT  ((UINTN)1 << (sizeof(UINTN) * 8 - 1))
#define HALF_BIT ((UINTN)1 << (sizeof(UINTN) * 4))

typedef unsigned long long ull;

#if defined(__x86_64__)
#define ARCH_NAME "x64"
#elif defined(__i386__)
#define ARCH_NAME "IA32"
#elif defined(__riscv)
#define ARCH_NAME "RISC-V 64"
#else
#define ARCH_NAME "AArch64"
#endif

/* ---- Small helpers ---------------------------------------------------------------------- */

static EFI_LOADED_IMAGE_PROTOCOL *loaded_image(void) {
  static EFI_GUID guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
  VOID *interface = NULL;
  if (gBS->HandleProtocol(gImage, &guid, &interface) != EFI_SUCCESS) {
    return NULL;
  }
  return interface;
}

static const char *size_text(UINTN Size) {
  if (Size >= MiB && Size % MiB == 0) {
    return S("%llu MiB", (ull)(Size / MiB));
  }
  if (Size >= KiB && Size % KiB == 0) {
    return S("%llu KiB", (ull)(Size / KiB));
  }
  return S("%llu", (ull)Size);
}

static const char *ascii(const CHAR16 *Text) {
  static char out[128];
  UINTN n = 0;
  for (; Text != NULL && *Text != 0 && n + 1 < sizeof out; Text++) {
    out[n++] = *Text < 0x7F && *Text >= 0x20 ? (char)*Text : '?';
  }
  out[n] = '\0';
  return out;
}

static BOOLEAN intact(const VOID *Block, UINTN Size, UINT64 Seed) {
  return pattern_find_error(Block, Size, Seed) == MAX_UINTN;
}

/* A live-count delta check: blocks and bytes relative to a snapshot. */
static BOOLEAN live_is(const POOL_STATS *Base, long long Blocks, long long Bytes, const char *Name) {
  POOL_STATS s = stats_now();
  BOOLEAN ok = s.LiveBlocks == Base->LiveBlocks + (UINT64)Blocks &&
               s.LiveBytes == Base->LiveBytes + (UINT64)Bytes;
  return check(ok, Name,
               S("LiveBlocks %lld, LiveBytes %lld relative to the start; expected %lld, %lld",
                 (long long)(s.LiveBlocks - Base->LiveBlocks),
                 (long long)(s.LiveBytes - Base->LiveBytes), Blocks, Bytes));
}

/* ---- Before pool_init ------------------------------------------------------------------- */

static void test_before_init(void) {
  POOL_STATS s0, s1, s2;
  UINT64 stack[16];
  for (UINTN i = 0; i < 16; i++) {
    stack[i] = 0x5A5A5A5A5A5A5A5AULL + i;
  }
  VOID *foreign = &stack[8];

  check_status(pool_stats(&s0), EFI_SUCCESS, "before pool_init: pool_stats works");
  check(stats_equal(&s0, &stats_at_entry),
        "before pool_init: every counter starts at 0 (EDK2: where its own checks left the boot's shared state)",
        stats_diff(&stats_at_entry, &s0));
  check(pool_aligned_alloc(64, 16) == NULL, "before pool_init: pool_aligned_alloc returns NULL", NULL);
  check(pool_aligned_calloc(4, 16, 16) == NULL, "before pool_init: pool_aligned_calloc returns NULL", NULL);
  check(pool_aligned_realloc(NULL, 64) == NULL, "before pool_init: pool_aligned_realloc(NULL, 64) returns NULL", NULL);
  check(pool_raw_alloc(64) == NULL, "before pool_init: pool_raw_alloc returns NULL", NULL);
  check_status(pool_aligned_free(foreign), EFI_NOT_STARTED, "before pool_init: pool_aligned_free returns EFI_NOT_STARTED");
  check_status(pool_raw_free(foreign), EFI_NOT_STARTED, "before pool_init: pool_raw_free returns EFI_NOT_STARTED");
  check_status(pool_aligned_free(NULL), EFI_SUCCESS, "before pool_init: pool_aligned_free(NULL) succeeds");
  check_status(pool_raw_free(NULL), EFI_SUCCESS, "before pool_init: pool_raw_free(NULL) succeeds");
  check(pool_usable_size(foreign) == 0, "before pool_init: pool_usable_size returns 0", NULL);
  check(pool_shrink(foreign, 16, 8) == FALSE, "before pool_init: pool_shrink returns FALSE", NULL);
  check(pool_remap(foreign, 16, 8) == NULL, "before pool_init: pool_remap returns NULL", NULL);
  check(pool_aligned_realloc(foreign, 8) == NULL, "before pool_init: pool_aligned_realloc of a pointer returns NULL", NULL);
  check_status(pool_fini(), EFI_NOT_STARTED, "before pool_init: pool_fini returns EFI_NOT_STARTED");
  check(EFI_NOT_STARTED == (EFI_ERROR_BIT | 19) && (sizeof(UINTN) != 8 || EFI_NOT_STARTED == 0x8000000000000013ULL),
        "before pool_init: EFI_NOT_STARTED is the error bit | 19", NULL);
  s1 = stats_now();
  check(stats_equal(&s0, &s1), "before pool_init: no call changed the statistics", stats_diff(&s0, &s1));
  BOOLEAN stack_ok = TRUE;
  for (UINTN i = 0; i < 16; i++) {
    stack_ok &= stack[i] == 0x5A5A5A5A5A5A5A5AULL + i;
  }
  check(stack_ok, "before pool_init: the foreign buffer is untouched", NULL);
  check_status(pool_stats(NULL), EFI_INVALID_PARAMETER, "before pool_init: pool_stats(NULL) returns EFI_INVALID_PARAMETER");
  s2 = stats_now();
  s1.InvalidCalls++;
  check(stats_equal(&s1, &s2), "before pool_init: pool_stats(NULL) counts one invalid call", stats_diff(&s1, &s2));
}

/* ---- pool_init / pool_fini and memory types --------------------------------------------- */

static void test_init(void) {
  static EFI_SYSTEM_TABLE fake;

  check_status(pool_init(gImage, NULL, POOL_MEMORY_TYPE_DEFAULT), EFI_INVALID_PARAMETER,
               "pool_init: NULL system table refused");
  fake = *gST;
  fake.Hdr.Signature ^= 0x20;
  check_status(pool_init(gImage, &fake, POOL_MEMORY_TYPE_DEFAULT), EFI_INVALID_PARAMETER,
               "pool_init: system table with a wrong signature refused");
  fake = *gST;
  fake.BootServices = NULL;
  check_status(pool_init(gImage, &fake, POOL_MEMORY_TYPE_DEFAULT), EFI_INVALID_PARAMETER,
               "pool_init: system table without boot services refused");
  static const UINT32 bad_types[] = {
      EfiConventionalMemory, EfiUnusableMemory, EfiMemoryMappedIO, EfiMemoryMappedIOPortSpace,
      EfiPalCode, EfiPersistentMemory, EfiUnacceptedMemoryType, EfiMaxMemoryType, 0x6FFFFFFEU,
  };
  for (UINTN i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
    check_status(pool_init(gImage, gST, bad_types[i]), EFI_INVALID_PARAMETER,
                 S("pool_init: memory type %u (%s) refused", bad_types[i], memory_type_name(bad_types[i])));
  }
  check(pool_aligned_alloc(64, 16) == NULL && pool_fini() == EFI_NOT_STARTED,
        "pool_init: refused calls leave the library uninitialised", NULL);

  /* An explicit type. */
  check_status(pool_init(gImage, gST, EfiBootServicesData), EFI_SUCCESS,
               "pool_init: EfiBootServicesData accepted");
  {
    /* One allocator per boot: the state this image shares is found under the header's GUID,
       with the library's signature and layout version 1. */
    EFI_GUID shared_guid = UEFI_POOL_ALLOC_SHARED_STATE_GUID;
    VOID *state = NULL;
    EFI_STATUS found = gBS->LocateProtocol(&shared_guid, NULL, &state);
    const UINT8 *bytes = state;
    BOOLEAN ours = found == EFI_SUCCESS && state != NULL;
    for (UINTN i = 0; ours && i < 8; i++) {
      ours = bytes[i] == (UINT8)"UPASTATE"[i];
    }
    ours = ours && *(const UINT32 *)(bytes + 8) == 1;
    check(ours, "pool_init: the shared allocator state is published under UEFI_POOL_ALLOC_SHARED_STATE_GUID",
          S("LocateProtocol: %s, %p", status_name(found), state));
  }
  UINT8 *p = pool_aligned_alloc(64, 64);
  UINT8 *pg = pool_aligned_alloc(2 * 4096, 4096);
  UINT8 *r = pool_raw_alloc(64);
  UINT32 tp = map_type_of(p), tpg = map_type_of(pg), tr = map_type_of(r);
  check(p != NULL && pg != NULL && r != NULL && tp == EfiBootServicesData &&
            tpg == EfiBootServicesData && tr == EfiBootServicesData,
        "memory type: blocks of pool_init(EfiBootServicesData) are EfiBootServicesData",
        S("%p %s, %p %s, %p %s", p, memory_type_name(tp), pg, memory_type_name(tpg), r,
          memory_type_name(tr)));
  pattern_fill(p, 64, 1);
  pattern_fill(pg, 8192, 2);
  pattern_fill(r, 64, 3);
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_ALREADY_STARTED,
               "pool_init: a second call returns EFI_ALREADY_STARTED");
  check_status(pool_init(gImage, gST, EfiLoaderData), EFI_ALREADY_STARTED,
               "pool_init: a second call with another type returns EFI_ALREADY_STARTED");
  UINT8 *q = pool_aligned_alloc(64, 64);
  UINT32 tq = map_type_of(q);
  check(q != NULL && tq == EfiBootServicesData,
        "pool_init: a refused second call changes nothing (still EfiBootServicesData)",
        S("%p %s", q, memory_type_name(tq)));
  pool_aligned_free(q);

  check_status(pool_fini(), EFI_SUCCESS, "pool_fini: succeeds");
  check_status(pool_fini(), EFI_NOT_STARTED, "pool_fini: a second call returns EFI_NOT_STARTED");
  check(pool_aligned_alloc(64, 16) == NULL && pool_raw_alloc(64) == NULL &&
            pool_aligned_calloc(1, 64, 16) == NULL && pool_aligned_realloc(NULL, 64) == NULL,
        "pool_fini: allocation returns NULL afterwards", NULL);
  check_status(pool_aligned_free(p), EFI_NOT_STARTED, "pool_fini: pool_aligned_free returns EFI_NOT_STARTED");
  check_status(pool_aligned_free(pg), EFI_NOT_STARTED,
               "pool_fini: pool_aligned_free of a page-backed block returns EFI_NOT_STARTED");
  check_status(pool_raw_free(r), EFI_NOT_STARTED, "pool_fini: pool_raw_free returns EFI_NOT_STARTED");
  check(pool_usable_size(p) == 0 && pool_shrink(p, 64, 32) == FALSE &&
            pool_remap(p, 64, 32) == NULL && pool_aligned_realloc(p, 32) == NULL,
        "pool_fini: usable_size, shrink, remap and realloc are inert", NULL);

  /* An OEM type; the blocks of the first initialisation are freed under this one. */
  MAP_SUMMARY m0, m1, m2;
  check_status(pool_init(gImage, gST, OEM_TYPE), EFI_SUCCESS,
               "pool_init: OEM memory type 0x80000000 accepted");
  map_read(&m0);
  UINT8 *o = pool_aligned_alloc(100, 32);
  UINT8 *opg = pool_aligned_alloc(3 * 4096, 4096);
  UINT8 *oraw = pool_raw_alloc(10);
  map_read(&m1);
  UINT32 to = map_type_of(o), topg = map_type_of(opg), toraw = map_type_of(oraw);
  check(o != NULL && opg != NULL && oraw != NULL && to == OEM_TYPE && topg == OEM_TYPE &&
            toraw == OEM_TYPE && m1.OemPages >= m0.OemPages + 3,
        "memory type: blocks of pool_init(0x80000000) have that OEM type",
        S("%s %s %s, OEM pages %llu->%llu", memory_type_name(to), memory_type_name(topg),
          memory_type_name(toraw), (ull)m0.OemPages, (ull)m1.OemPages));
  check(intact(p, 64, 1) && intact(pg, 8192, 2) && intact(r, 64, 3),
        "pool_init again: blocks of before pool_fini are intact", NULL);
  check_status(pool_aligned_free(p), EFI_SUCCESS,
               "pool_init again: an aligned block of before pool_fini is freed");
  check_status(pool_aligned_free(pg), EFI_SUCCESS,
               "pool_init again: a page-backed block of before pool_fini is freed");
  check_status(pool_raw_free(r), EFI_SUCCESS,
               "pool_init again: a raw block of before pool_fini is freed");
  EFI_STATUS s1 = pool_aligned_free(o), s2 = pool_aligned_free(opg), s3 = pool_raw_free(oraw);
  pool_trim();
  map_read(&m2);
  check(s1 == EFI_SUCCESS && s2 == EFI_SUCCESS && s3 == EFI_SUCCESS && m2.OemPages == m0.OemPages,
        "memory type: OEM blocks freed, their pages returned (after pool_trim)",
        S("%s %s %s, OEM pages %llu->%llu", status_name(s1), status_name(s2), status_name(s3),
          (ull)m0.OemPages, (ull)m2.OemPages));
  check_status(pool_fini(), EFI_SUCCESS, "pool_fini: succeeds after an OEM-type pool_init");

  /* The default without an image handle. */
  check_status(pool_init(NULL, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_SUCCESS,
               "pool_init: POOL_MEMORY_TYPE_DEFAULT without an image handle accepted");
  p = pool_aligned_alloc(64, 16);
  tp = map_type_of(p);
  check(p != NULL && tp == EfiBootServicesData,
        "memory type: the default without an image handle is EfiBootServicesData",
        S("%p %s", p, memory_type_name(tp)));
  pool_aligned_free(p);
  check_status(pool_fini(), EFI_SUCCESS, "pool_fini: succeeds after a handle-less pool_init");

  /* The default: the image's ImageDataType. */
  EFI_LOADED_IMAGE_PROTOCOL *image = loaded_image();
  check(image != NULL && image->ImageDataType == EfiLoaderData,
        "LoadedImage: the app's ImageDataType is EfiLoaderData",
        image == NULL ? "no LoadedImage protocol" : memory_type_name(image->ImageDataType));
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_SUCCESS,
               "pool_init: POOL_MEMORY_TYPE_DEFAULT accepted");
  map_read(&m0);
  UINT8 *big = pool_aligned_alloc(1 * MiB, 16);
  map_read(&m1);
  UINT32 tbig = map_type_of(big);
  check(big != NULL && tbig == EfiLoaderData &&
            m1.Pages[EfiLoaderData] >= m0.Pages[EfiLoaderData] + 256,
        "memory type: the default is EfiLoaderData (1 MiB adds >= 256 EfiLoaderData pages)",
        S("%p %s, LoaderData pages %llu->%llu", big, memory_type_name(tbig),
          (ull)m0.Pages[EfiLoaderData], (ull)m1.Pages[EfiLoaderData]));
  info("1 MiB at Align 16 added %llu EfiLoaderData pages",
       (ull)(m1.Pages[EfiLoaderData] - m0.Pages[EfiLoaderData]));
  UINT8 *bigpg = pool_aligned_alloc(64 * KiB, 64 * KiB);
  UINT32 tbigpg = map_type_of(bigpg);
  check(bigpg != NULL && tbigpg == EfiLoaderData, "memory type: page-backed blocks of the default are EfiLoaderData",
        S("%p %s", bigpg, memory_type_name(tbigpg)));
  pool_aligned_free(big);
  pool_aligned_free(bigpg);
  pool_trim();
  map_read(&m2);
  check(m2.Pages[EfiLoaderData] == m0.Pages[EfiLoaderData],
        "memory type: EfiLoaderData pages return after the frees",
        S("%llu->%llu", (ull)m0.Pages[EfiLoaderData], (ull)m2.Pages[EfiLoaderData]));

  /* pool_fini with live blocks of every path, then pool_init again. */
  POOL_STATS base = stats_now();
  UINT8 *a = pool_aligned_alloc(200, 32);
  UINT8 *b = pool_aligned_alloc(3 * 4096, 4096);
  UINT8 *c = pool_raw_alloc(200);
  check(a != NULL && b != NULL && c != NULL, "pool_fini cycle: blocks allocated", NULL);
  pattern_fill(a, 200, 11);
  pattern_fill(b, 3 * 4096, 12);
  pattern_fill(c, 200, 13);
  check_status(pool_fini(), EFI_SUCCESS, "pool_fini cycle: pool_fini with live blocks succeeds");
  check(pool_aligned_alloc(64, 16) == NULL, "pool_fini cycle: allocation returns NULL", NULL);
  check_status(pool_aligned_free(b), EFI_NOT_STARTED,
               "pool_fini cycle: pool_aligned_free returns EFI_NOT_STARTED, block kept");
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_SUCCESS,
               "pool_fini cycle: pool_init succeeds again");
  UINTN ua = pool_usable_size(a), ub = pool_usable_size(b);
  check(intact(a, 200, 11) && intact(b, 3 * 4096, 12) && intact(c, 200, 13) && ua >= 200 &&
            ub == 3 * 4096,
        "pool_fini cycle: blocks intact and known after pool_init",
        S("usable sizes %llu, %llu", (ull)ua, (ull)ub));
  check_status(pool_aligned_free(a), EFI_SUCCESS, "pool_fini cycle: aligned block freed");
  check_status(pool_aligned_free(b), EFI_SUCCESS, "pool_fini cycle: page-backed block freed");
  check_status(pool_raw_free(c), EFI_SUCCESS, "pool_fini cycle: raw block freed");
  live_is(&base, 0, 0, "pool_fini cycle: statistics balance");
}

/* ---- Statistics ------------------------------------------------------------------------- */

static void test_stats(void) {
  pool_trim();
  POOL_STATS s0 = stats_now();
  UINT8 *a = pool_aligned_alloc(100, 16);
  live_is(&s0, 1, 100, "pool_stats: aligned 100 B counts 1 block, 100 bytes");
  UINT8 *b = pool_aligned_alloc(5000, 4096);
  live_is(&s0, 2, 5100, "pool_stats: page-backed 5000 B counts 1 block, 5000 bytes");
  POOL_STATS s = stats_now();
  check(s.BookkeepingBytes > s0.BookkeepingBytes, "pool_stats: BookkeepingBytes grows with a page-backed block",
        S("%llu->%llu", (ull)s0.BookkeepingBytes, (ull)s.BookkeepingBytes));
  info("BookkeepingBytes with one page-backed block: %llu", (ull)(s.BookkeepingBytes - s0.BookkeepingBytes));
  UINT8 *r = pool_raw_alloc(300);
  live_is(&s0, 3, 5100, "pool_stats: raw 300 B counts 1 block, 0 bytes");
  UINT8 *c = pool_aligned_calloc(10, 30, 64);
  live_is(&s0, 4, 5400, "pool_stats: calloc 10 x 30 B counts 1 block, 300 bytes");
  UINT8 *a2 = pool_aligned_realloc(a, 50);
  check(a2 == a, "pool_stats: realloc 100 -> 50 stays in place", NULL);
  live_is(&s0, 4, 5350, "pool_stats: realloc 100 -> 50 counts -50 bytes");
  check(pool_shrink(b, 5000, 4000), "pool_stats: pool_shrink of the page-backed block succeeds", NULL);
  live_is(&s0, 4, 4350, "pool_stats: pool_shrink 5000 -> 4000 counts -1000 bytes");
  UINT8 *c2 = pool_aligned_realloc(c, 10000);
  check(c2 != NULL, "pool_stats: realloc 300 -> 10000 succeeds", NULL);
  live_is(&s0, 4, 14050, "pool_stats: realloc 300 -> 10000 counts +9700 bytes, no extra block");
  s = stats_now();
  UINT64 expected_peak = s0.PeakBytes > s0.LiveBytes + 14050 ? s0.PeakBytes : s0.LiveBytes + 14050;
  check(s.PeakBytes == expected_peak, "pool_stats: PeakBytes is the highest live byte count",
        S("%llu, expected %llu", (ull)s.PeakBytes, (ull)expected_peak));
  check(s.RequestedBytes > s0.RequestedBytes, "pool_stats: RequestedBytes grows", NULL);
  EFI_STATUS f1 = pool_aligned_free(a2), f2 = pool_aligned_free(b), f3 = pool_raw_free(r),
             f4 = pool_aligned_free(c2);
  check(f1 == EFI_SUCCESS && f2 == EFI_SUCCESS && f3 == EFI_SUCCESS && f4 == EFI_SUCCESS,
        "pool_stats: sequence freed", NULL);
  live_is(&s0, 0, 0, "pool_stats: LiveBlocks and LiveBytes back to the start");
  pool_trim();
  s = stats_now();
  check(s.BookkeepingBytes == s0.BookkeepingBytes && s.FailedRequests == s0.FailedRequests &&
            s.InvalidCalls == s0.InvalidCalls,
        "pool_stats: no bookkeeping left after pool_trim, no failure, no invalid call", stats_diff(&s0, &s));

  /* FailedRequests: valid arguments the firmware cannot satisfy. */
  for (UINTN i = 0; i < 4; i++) {
    static const char *const names[4] = {
        "pool_aligned_alloc(POOL_MAX_SIZE, 16)",
        "pool_raw_alloc(POOL_MAX_SIZE)",
        "pool_aligned_calloc(POOL_MAX_SIZE / 1024, 1024, 8)",
        "pool_aligned_alloc(1 GiB, POOL_MAX_ALIGN)",
    };
    pool_trim(); /* a refusal gives idle pages back before it retries: nothing idle here */
    POOL_STATS before = stats_now();
    VOID *result = i == 0   ? pool_aligned_alloc(MAX_SIZE, 16)
                   : i == 1 ? pool_raw_alloc(MAX_SIZE)
                   : i == 2 ? pool_aligned_calloc(MAX_SIZE / 1024, 1024, 8)
                            : pool_aligned_alloc(MAX_ALIGN, MAX_ALIGN);
    POOL_STATS after = stats_now(), expected = before;
    expected.FailedRequests++;
    check(result == NULL && stats_equal(&expected, &after),
          S("pool_stats: %s refused by the firmware counts one failed request, nothing else", names[i]),
          S("returned %p; %s", result, stats_diff(&before, &after)));
  }

  s0 = stats_now();
  check_status(pool_stats(NULL), EFI_INVALID_PARAMETER, "pool_stats(NULL) returns EFI_INVALID_PARAMETER");
  s = stats_now();
  s0.InvalidCalls++;
  check(stats_equal(&s0, &s), "pool_stats: InvalidCalls counts pool_stats(NULL)", stats_diff(&s0, &s));
}

/* ---- Pool residues ---------------------------------------------------------------------- */

static void test_residues(void) {
  static const UINTN sizes[] = {
      0,    1,    2,    3,    7,    8,     9,     15,    16,    17,    24,    31,   32,
      33,   40,   48,   63,   64,   65,    100,   127,   128,   129,   200,   255,  256,
      257,  384,  500,  511,  512,  513,   1000,  1023,  1024,  1025,  2000,  2047, 2048,
      2049, 2600, 2648, 2649, 2700, 3000,  4000,  4095,  4096,  4097,  5000,  8000, 8191,
      8192, 8193, 12000, 16383, 16384, 16385, 30000, 32768, 40000, 65535, 65536,
  };
  enum { PER_SIZE = 4, COUNT = sizeof sizes / sizeof sizes[0] * PER_SIZE };
  static UINT8 *blocks[COUNT];
  UINT64 seen[2] = {0, 0};
  UINTN nulls = 0, misaligned = 0;
  POOL_STATS s0 = stats_now();
  for (UINTN i = 0; i < COUNT; i++) {
    UINTN size = sizes[i / PER_SIZE];
    blocks[i] = pool_raw_alloc(size);
    if (blocks[i] == NULL) {
      nulls++;
      continue;
    }
    UINTN residue = (UINTN)blocks[i] % 128;
    seen[residue / 64] |= 1ULL << (residue % 64);
    misaligned += !is_aligned(blocks[i], 8);
    pattern_fill(blocks[i], size, 100 + i);
  }
  char list[400];
  UINTN n = 0;
  list[0] = '\0';
  for (UINTN residue = 0; residue < 128; residue++) {
    if (seen[residue / 64] & (1ULL << (residue % 64))) {
      n += format(list + n, sizeof list - n, "%s%llu", n != 0 ? ", " : "", (ull)residue);
    }
  }
  info("raw pool pointers mod 128 seen: {%s} (%llu blocks of 0 B..64 KiB)", list, (ull)COUNT);
  check(nulls == 0 && misaligned == 0, S("raw alloc: %llu blocks of 0 B..64 KiB, all 8-aligned", (ull)COUNT),
        S("%llu NULL, %llu not 8-aligned", (ull)nulls, (ull)misaligned));
  BOOLEAN distinct = TRUE;
  for (UINTN i = 0; i < PER_SIZE; i++) {
    for (UINTN j = i + 1; j < PER_SIZE; j++) {
      distinct &= blocks[i] != blocks[j];
    }
  }
  check(distinct, "raw alloc: size 0 gives distinct blocks", NULL);
  live_is(&s0, COUNT, 0, "raw alloc: each raw block counts 1 block, 0 bytes");
  UINTN bad = 0, broken = 0;
  for (UINTN i = 0; i < COUNT; i++) {
    if (blocks[i] == NULL) {
      continue;
    }
    broken += !intact(blocks[i], sizes[i / PER_SIZE], 100 + i);
    bad += pool_raw_free(blocks[i]) != EFI_SUCCESS;
  }
  check(bad == 0 && broken == 0, "raw free: every raw block intact and freed",
        S("%llu damaged, %llu frees failed", (ull)broken, (ull)bad));
  live_is(&s0, 0, 0, "raw free: statistics balance");
}

/* ---- Aligned allocation at every alignment ---------------------------------------------- */

#define SWEEP_SIZES 7
/* Blocks up to this alignment stay live through the whole sweep (and are checked against each
   other); larger ones each take a run of Align free bytes, so with 256 MiB of guest RAM they
   are checked against the live ones and freed at once. */
#define SWEEP_LIVE_MAX_ALIGN (1 * MiB)
/* From this alignment on only sizes 0, 1 and 5000 (one, one and two pages): OVMF fills the
   Align - 4 KiB of slack the library gives back with 0xAF (DEBUG_CLEAR_MEMORY on FreePages),
   about 2 ms per MiB under TCG. */
#define SWEEP_FEW_SIZES_ALIGN (16 * MiB)

typedef struct {
  UINT8 *Pointer;
  UINTN Size;
  UINTN Align;
  UINTN Usable;
} SWEEP_BLOCK;

static SWEEP_BLOCK mSweep[31 * SWEEP_SIZES];
static UINTN mSweepCount;

/* The first live sweep block that [Start, Start + Length) overlaps, or NULL. */
static const SWEEP_BLOCK *sweep_overlap(UINTN Start, UINTN Length, UINTN Skip) {
  UINTN end = Start + (Length != 0 ? Length : 1);
  for (UINTN j = Skip; j < mSweepCount; j++) {
    UINTN sj = (UINTN)mSweep[j].Pointer, ej = sj + (mSweep[j].Usable != 0 ? mSweep[j].Usable : 1);
    if (Start < ej && sj < end) {
      return &mSweep[j];
    }
  }
  return NULL;
}

static void test_aligned_sweep(void) {
  static const UINTN sizes[SWEEP_SIZES] = {0, 1, 7, 64, 100, 4096, 5000};
  POOL_STATS s0 = stats_now();
  mSweepCount = 0;
  info("aligned alloc: largest free run before the sweep: %llu KiB", (ull)(map_largest_free_run() / 1024));

  char times[400];
  UINTN times_length = 0;
  times[0] = '\0';
  for (UINTN align = 1; align <= MAX_ALIGN; align <<= 1) {
    BOOLEAN live = align <= SWEEP_LIVE_MAX_ALIGN;
    UINT64 t0 = timer_ticks();
    BOOLEAN ok = TRUE;
    UINTN refused = 0;
    const char *detail = NULL;
    UINTN tried = 0;
    for (UINTN i = 0; i < SWEEP_SIZES; i++) {
      UINTN size = sizes[i];
      if (align >= SWEEP_FEW_SIZES_ALIGN && size != 0 && size != 1 && size != 5000) {
        continue;
      }
      tried++;
      POOL_STATS before = stats_now();
      UINT8 *p = pool_aligned_alloc(size, align);
      if (p == NULL) {
        /* Legitimate only when no free run could hold the block at this alignment: an aligned
           run of ceil(Size/4K) pages needs Align - 4 KiB more when the address is not chosen. */
        POOL_STATS after = stats_now();
        UINT64 run = map_largest_free_run();
        UINT64 need = ((size + 4095) / 4096 + (size == 0)) * 4096 + align - 4096;
        BOOLEAN counted = after.FailedRequests == before.FailedRequests + 1 &&
                          after.InvalidCalls == before.InvalidCalls;
        if (align <= SWEEP_LIVE_MAX_ALIGN || run >= need || !counted) {
          if (ok) {
            detail = S("size %llu: NULL (%s); largest free run %llu KiB, %llu KiB needed", (ull)size,
                       stats_diff(&before, &after), (ull)(run / 1024), (ull)(need / 1024));
          }
          ok = FALSE;
        }
        refused++;
        continue;
      }
      UINTN usable = pool_usable_size(p);
      if (!is_aligned(p, align) || usable < size) {
        if (ok) {
          detail = S("size %llu: %p, usable %llu", (ull)size, p, (ull)usable);
        }
        ok = FALSE;
      }
      const SWEEP_BLOCK *other = sweep_overlap((UINTN)p, usable, 0);
      if (other != NULL) {
        if (ok) {
          detail = S("size %llu: %p+%llu overlaps %p+%llu", (ull)size, p, (ull)usable, other->Pointer,
                     (ull)other->Usable);
        }
        ok = FALSE;
      }
      pattern_fill(p, usable, (UINT64)(UINTN)p);
      if (live) {
        mSweep[mSweepCount++] = (SWEEP_BLOCK){p, size, align, usable};
      } else {
        EFI_STATUS status = pool_aligned_free(p);
        if (status != EFI_SUCCESS) {
          if (ok) {
            detail = S("size %llu: free %s", (ull)size, status_name(status));
          }
          ok = FALSE;
        }
      }
    }
    if (!live) {
      times_length += format(times + times_length, sizeof times - times_length, "%s%s %llu ms (%llu refused)",
                             times_length != 0 ? ", " : "", size_text(align), (ull)ticks_to_ms(timer_ticks() - t0),
                             (ull)refused);
    }
    const char *what = live           ? "aligned, usable >= size, kept live"
                       : refused == tried ? "refused: no free run of Align bytes in 256 MiB, counted as failed requests"
                       : refused != 0     ? "aligned, freed at once; refused where no free run of Align + Size bytes"
                                          : "aligned, usable >= size, freed at once";
    check(ok, S("aligned alloc: Align %s, sizes %s: %s", size_text(align),
                align >= SWEEP_FEW_SIZES_ALIGN ? "0, 1, 5000" : "0..5000", what), detail);
  }

  info("aligned alloc: the blocks at each Align above 1 MiB took %s", times);

  UINTN overlaps = 0;
  const char *detail = NULL;
  for (UINTN i = 0; i < mSweepCount; i++) {
    const SWEEP_BLOCK *other = sweep_overlap((UINTN)mSweep[i].Pointer, mSweep[i].Usable, i + 1);
    if (other != NULL && overlaps++ == 0) {
      detail = S("%p+%llu and %p+%llu", mSweep[i].Pointer, (ull)mSweep[i].Usable, other->Pointer,
                 (ull)other->Usable);
    }
  }
  check(overlaps == 0, S("aligned alloc: all %llu live blocks pairwise disjoint", (ull)mSweepCount), detail);
  UINTN broken = 0, failed = 0;
  UINT64 bytes = 0;
  for (UINTN i = 0; i < mSweepCount; i++) {
    broken += !intact(mSweep[i].Pointer, mSweep[i].Usable, (UINT64)(UINTN)mSweep[i].Pointer);
    bytes += mSweep[i].Size;
  }
  check(broken == 0, "aligned alloc: every block writable over its usable size without touching another",
        S("%llu blocks damaged", (ull)broken));
  live_is(&s0, (long long)mSweepCount, (long long)bytes,
          "aligned alloc: statistics count every live sweep block and its size");
  for (UINTN i = 0; i < mSweepCount; i++) {
    failed += pool_aligned_free(mSweep[i].Pointer) != EFI_SUCCESS;
  }
  check(failed == 0, "aligned free: every sweep block freed", S("%llu frees failed", (ull)failed));
  live_is(&s0, 0, 0, "aligned free: statistics balance after the sweep");
}

/* ---- Bytes requested from firmware ------------------------------------------------------ */

/* The firmware's pool pattern modulo Align (a power of two up to 2048), as the library learns
   it: TRUE with the residue every pool pointer shares, FALSE if they differ below Align.
   EDK2 X64: 24 mod 128; U-Boot: 64 mod 4096, whatever the size. */
static BOOLEAN pool_residue(UINTN Align, UINTN *Residue) {
  enum { N = 8 };
  VOID *blocks[N];
  BOOLEAN same = TRUE;
  for (UINTN i = 0; i < N; i++) {
    if (gBS->AllocatePool(EfiLoaderData, 40 + 24 * i, &blocks[i]) != EFI_SUCCESS) {
      blocks[i] = NULL;
      same = FALSE;
      continue;
    }
    same &= ((UINTN)blocks[i] & (Align - 1)) == ((UINTN)blocks[0] & (Align - 1));
  }
  *Residue = (UINTN)blocks[0] & (Align - 1);
  for (UINTN i = 0; i < N; i++) {
    if (blocks[i] != NULL) {
      gBS->FreePool(blocks[i]);
    }
  }
  return same;
}

static void requested_row(UINTN Size, UINTN Align) {
  enum { N = 8 };
  VOID *blocks[N];
  UINT64 deltas[N];
  UINTN worst = Size + (Align > 8 ? Align : 8);
  BOOLEAN ok = TRUE;
  char list[160];
  UINTN n = 0;
  for (UINTN i = 0; i < N; i++) {
    POOL_STATS before = stats_now();
    blocks[i] = pool_aligned_alloc(Size, Align);
    POOL_STATS after = stats_now();
    deltas[i] = after.RequestedBytes - before.RequestedBytes;
    ok &= blocks[i] != NULL && deltas[i] <= worst && is_aligned(blocks[i], Align);
    n += format(list + n, sizeof list - n, "%s%llu", i != 0 ? " " : "", (ull)deltas[i]);
  }
  UINTN zig = worst;
  UINTN rust_std = Align <= 8 ? Size : Size + Align;
  UINTN uefi_rs = Align <= 8 ? Size : (Align == 4096 && Size % 4096 == 0) ? Size : Size + Align;
  info("requested bytes, %4llu B at Align %4llu: library %s | Zig %llu, uefi-rs %llu, Rust std %llu",
       (ull)Size, (ull)Align, list, (ull)zig, (ull)uefi_rs, (ull)rust_std);
  check(ok, S("requested bytes: %llu B at Align %llu never above Size + max(8, Align) = %llu", (ull)Size,
              (ull)Align, (ull)worst),
        list);
  UINTN residue;
  if (Size == 64 && Align == 32 && pool_residue(Align, &residue)) {
    /* The 8-byte header below the data: the data starts at the first aligned address at least 8
       bytes above the pool pointer (EDK2 X64, 24 mod 32: 72 bytes; U-Boot, 0 mod 32: 96). */
    UINTN minimum = Size + (((residue + 8 + Align - 1) & ~(Align - 1)) - residue);
    BOOLEAN exact = TRUE;
    for (UINTN i = N / 2; i < N; i++) {
      exact &= deltas[i] == minimum;
    }
    check(exact,
          S("requested bytes: 64 B at Align 32 asks for exactly the %llu the firmware's pool pattern "
            "(%llu mod 32) allows, once it is learned",
            (ull)minimum, (ull)residue),
          list);
  }
  for (UINTN i = 0; i < N; i++) {
    pool_aligned_free(blocks[i]);
  }
}

static void test_requested_bytes(void) {
  /* The pool path's requests, every block going to the firmware (pass-through). A fresh
     pool_init forgets the residue pattern: the first rows show the learning. */
  check_status(pool_fini(), EFI_SUCCESS, "requested bytes: pool_fini to forget the residue pattern");
  check_status(pool_init_ex(gImage, gST, POOL_MEMORY_TYPE_DEFAULT, POOL_PASS_THROUGH), EFI_SUCCESS,
               "requested bytes: pool_init_ex(POOL_PASS_THROUGH)");
  requested_row(64, 16);
  requested_row(64, 32);
  requested_row(64, 64);
  requested_row(64, 128);
  requested_row(4096, 4096);
  requested_row(64, 8);
  requested_row(1000, 256);
  requested_row(3000, 2048);
  check_status(pool_fini(), EFI_SUCCESS, "requested bytes: pool_fini");
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_SUCCESS,
               "requested bytes: pool_init, the front on again");
}

/* ---- Bad input -------------------------------------------------------------------------- */

static struct {
  POOL_STATS Stats;
  MAP_SUMMARY Map;
} mBad;

static void bad_begin(void) {
  pool_trim(); /* a refused allocation gives idle pages back: nothing idle here */
  mBad.Stats = stats_now();
  map_read(&mBad.Map);
}

/* One check: the call's result, the statistics (unchanged but for InvalidCalls += Invalid and
   FailedRequests += Failed) and the memory map (unchanged). */
static void bad_end(BOOLEAN ResultOk, const char *ResultDetail, UINT64 Invalid, UINT64 Failed,
                    const char *Name) {
  POOL_STATS s = stats_now();
  MAP_SUMMARY m;
  map_read(&m);
  POOL_STATS expected = mBad.Stats;
  expected.InvalidCalls += Invalid;
  expected.FailedRequests += Failed;
  const char *why = "";
  BOOLEAN same_map = map_same(&mBad.Map, &m, &why);
  BOOLEAN same_stats = stats_equal(&expected, &s);
  check(ResultOk && same_stats && same_map, Name,
        !ResultOk     ? ResultDetail
        : !same_stats ? S("statistics: %s (expected InvalidCalls +%llu, FailedRequests +%llu)",
                          stats_diff(&mBad.Stats, &s), (ull)Invalid, (ull)Failed)
                      : S("memory map changed: %s", why));
}

#define BAD_NULL(Expr, Invalid, Name)                                                         \
  do {                                                                                        \
    bad_begin();                                                                              \
    VOID *result_ = (Expr);                                                                   \
    bad_end(result_ == NULL, S("returned %p", result_), (Invalid), 0, (Name));                \
  } while (0)

#define BAD_STATUS_IS(Expr, Expected, Name)                                                   \
  do {                                                                                        \
    bad_begin();                                                                              \
    EFI_STATUS status_ = (Expr);                                                              \
    bad_end(status_ == (Expected), S("got %s", status_name(status_)), 1, 0, (Name));          \
  } while (0)
#define BAD_STATUS(Expr, Name) BAD_STATUS_IS(Expr, EFI_INVALID_PARAMETER, Name)

/* pool_raw_free of a pointer FreePool never handed out (not the library's either: it passes it
   on), expected to give FreePool's own answer, asked first; a success there is expected as
   EFI_INVALID_PARAMETER, so it fails. EDK2: EFI_INVALID_PARAMETER; U-Boot: EFI_NOT_FOUND where
   its memory map shows nothing allocated (x86_64: the stack, near 1 MiB), else
   EFI_INVALID_PARAMETER. */
#define BAD_FREEPOOL(Ptr, What)                                                               \
  do {                                                                                        \
    EFI_STATUS answer_ = gBS->FreePool(Ptr);                                                  \
    answer_ = EFI_ERROR(answer_) ? answer_ : EFI_INVALID_PARAMETER;                           \
    BAD_STATUS_IS(pool_raw_free(Ptr), answer_,                                                \
                  S("bad input: pool_raw_free(%s) refused by FreePool, with its answer (%s)", \
                    (What), status_name(answer_)));                                           \
  } while (0)

/* What this firmware's FreePool answers for a block freed before (EDK2: EFI_INVALID_PARAMETER,
   U-Boot: EFI_NOT_FOUND); pool_raw_free passes it on. */
static EFI_STATUS firmware_double_free_status(void) {
  VOID *block = NULL;
  if (gBS->AllocatePool(EfiLoaderData, 64, &block) != EFI_SUCCESS) {
    return EFI_OUT_OF_RESOURCES;
  }
  gBS->FreePool(block);
  return gBS->FreePool(block);
}

static void test_bad_input(void) {
  POOL_STATS s0 = stats_now();

  /* Alignments. */
  static const UINTN bad_aligns[] = {0, 3, 24, 2 * (UINTN)POOL_MAX_ALIGN, TOP_BIT, MAX_UINTN};
  for (UINTN i = 0; i < sizeof bad_aligns / sizeof bad_aligns[0]; i++) {
    BAD_NULL(pool_aligned_alloc(64, bad_aligns[i]), 1,
             S("bad input: pool_aligned_alloc(64, Align 0x%llx) returns NULL", (ull)bad_aligns[i]));
  }
  BAD_NULL(pool_aligned_calloc(4, 16, 3), 1, "bad input: pool_aligned_calloc(4, 16, Align 3) returns NULL");
  BAD_NULL(pool_aligned_alloc(0, 0), 1, "bad input: pool_aligned_alloc(0, Align 0) returns NULL");

  /* Sizes. */
  static const UINTN bad_sizes[] = {MAX_SIZE + 1, MAX_UINTN, MAX_UINTN - 0xFFF, TOP_BIT};
  for (UINTN i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    UINTN size = bad_sizes[i];
    BAD_NULL(pool_aligned_alloc(size, 8), 1, S("bad input: pool_aligned_alloc(0x%llx, 8) returns NULL", (ull)size));
    BAD_NULL(pool_aligned_alloc(size, 4096), 1,
             S("bad input: pool_aligned_alloc(0x%llx, 4096) returns NULL", (ull)size));
    BAD_NULL(pool_raw_alloc(size), 1, S("bad input: pool_raw_alloc(0x%llx) returns NULL", (ull)size));
    BAD_NULL(pool_aligned_calloc(1, size, 16), 1,
             S("bad input: pool_aligned_calloc(1, 0x%llx, 16) returns NULL", (ull)size));
    BAD_NULL(pool_aligned_realloc(NULL, size), 1,
             S("bad input: pool_aligned_realloc(NULL, 0x%llx) returns NULL", (ull)size));
  }
  /* EDK2's wrap window: ALIGN_VARIABLE(Size) + 40 wraps to 0 for 0x...FFD1..0x...FFD7. */
  {
    UINTN nonnull = 0;
    bad_begin();
    for (UINTN size = MAX_UINTN - 0x2E; size <= MAX_UINTN - 0x28; size++) {
      nonnull += pool_aligned_alloc(size, 8) != NULL;
      nonnull += pool_aligned_alloc(size, 64) != NULL;
      nonnull += pool_raw_alloc(size) != NULL;
      nonnull += pool_aligned_calloc(1, size, 8) != NULL;
      nonnull += pool_aligned_realloc(NULL, size) != NULL;
    }
    bad_end(nonnull == 0, S("%llu calls returned a block", (ull)nonnull), 35, 0,
            "bad input: sizes 0x...FFD1..0x...FFD7 (EDK2's wrap window) refused by all 5 allocators");
  }

  /* calloc overflow: Count * Size wraps. */
  static const UINTN calloc_bad[][2] = {
      {MAX_UINTN / 2 + 1, 2},                    /* wraps to 0 */
      {HALF_BIT + 1, HALF_BIT},                  /* wraps to HALF_BIT */
      {3, MAX_UINTN / 3 + 1},                    /* wraps to 2 */
      {MAX_UINTN, MAX_UINTN},                    /* wraps to 1 */
  };
  for (UINTN i = 0; i < 4; i++) {
    BAD_NULL(pool_aligned_calloc(calloc_bad[i][0], calloc_bad[i][1], 16), 1,
             S("bad input: pool_aligned_calloc(0x%llx, 0x%llx) overflow returns NULL", (ull)calloc_bad[i][0],
               (ull)calloc_bad[i][1]));
  }
  BAD_NULL(pool_aligned_calloc(MAX_SIZE / 16 + 1, 16, 16), 1,
           "bad input: pool_aligned_calloc product above POOL_MAX_SIZE returns NULL");

  /* Blocks to abuse. */
  UINT8 *A = pool_aligned_alloc(64, 16);
  UINT8 *R = pool_raw_alloc(100);
  UINT8 *P = pool_aligned_alloc(8192, 4096);
  UINT8 *P64 = pool_aligned_alloc(5000, 64 * KiB);
  UINT8 *K = pool_aligned_alloc(100, 16);
  check(A && R && P && P64 && K, "bad input: blocks to abuse allocated", NULL);
  UINTN uA = pool_usable_size(A), uP = pool_usable_size(P), uK = pool_usable_size(K);
  pattern_fill(A, uA, 21);
  pattern_fill(R, 100, 22);
  pattern_fill(P, uP, 23);
  pattern_fill(P64, 5000, 24);
  pattern_fill(K, uK, 25);

  /* realloc to impossible sizes: NULL, the old block intact. */
  static const UINTN huge[] = {MAX_SIZE + 1, MAX_UINTN, MAX_UINTN - 0x2E, MAX_UINTN - 0x28};
  for (UINTN i = 0; i < 4; i++) {
    BAD_NULL(pool_aligned_realloc(K, huge[i]), 1,
             S("bad input: pool_aligned_realloc(block, 0x%llx) returns NULL", (ull)huge[i]));
    BAD_NULL(pool_aligned_realloc(P, huge[i]), 1,
             S("bad input: pool_aligned_realloc(page block, 0x%llx) returns NULL", (ull)huge[i]));
  }
  /* POOL_MAX_SIZE is valid input that no firmware can satisfy: a failed request. */
  {
    bad_begin();
    VOID *r1 = pool_aligned_realloc(K, MAX_SIZE);
    bad_end(r1 == NULL, S("returned %p", r1), 0, 1,
            "bad input: pool_aligned_realloc(block, POOL_MAX_SIZE): NULL, one failed request");
    bad_begin();
    VOID *r2 = pool_aligned_realloc(P, MAX_SIZE);
    bad_end(r2 == NULL, S("returned %p", r2), 0, 1,
            "bad input: pool_aligned_realloc(page block, POOL_MAX_SIZE): NULL, one failed request");
  }
  check(intact(K, uK, 25) && pool_usable_size(K) == uK && intact(P, uP, 23) && pool_usable_size(P) == uP,
        "bad input: blocks refused a huge realloc are unchanged", NULL);

  /* Foreign, interior, misaligned and cross-path pointers. */
  UINT64 stack[32];
  for (UINTN i = 0; i < 32; i++) {
    stack[i] = 0xC3C3C3C3C3C3C3C3ULL ^ i;
  }
  /* 8-aligned but not page-aligned. The address goes through a volatile: EDK2's GCC IA32 code
     assumes a 16-aligned stack where OVMF IA32 gives less (a UINT64 array was seen at 4 mod 8),
     and would fold the rounding away. */
  volatile UINTN stack_address = (UINTN)&stack[16];
  UINT8 *S8 = (UINT8 *)(stack_address & ~(UINTN)7);
  if (is_aligned(S8, 4096)) {
    S8 += 8;
  }
  BAD_STATUS(pool_aligned_free(S8), "bad input: pool_aligned_free(stack buffer) refused");
  BAD_FREEPOOL(S8, "stack buffer");
  BAD_STATUS(pool_aligned_free(A + 8), "bad input: pool_aligned_free(block + 8) refused");
  BAD_STATUS(pool_aligned_free(A + 16), "bad input: pool_aligned_free(block + 16) refused");
  BAD_STATUS(pool_raw_free(A + 8), "bad input: pool_raw_free(aligned block + 8) refused (by FreePool)");
  BAD_STATUS(pool_aligned_free(R + 8), "bad input: pool_aligned_free(raw block + 8) refused");
  BAD_STATUS(pool_aligned_free(R + 16), "bad input: pool_aligned_free(raw block + 16) refused");
  BAD_FREEPOOL(R + 16, "raw block + 16");
  BAD_STATUS(pool_aligned_free(P + 8), "bad input: pool_aligned_free(page block + 8) refused");
  BAD_STATUS(pool_aligned_free(P + 4096), "bad input: pool_aligned_free(page block + 4096) refused");
  BAD_STATUS(pool_aligned_free(A + 1), "bad input: pool_aligned_free(misaligned block + 1) refused");
  BAD_STATUS(pool_aligned_free(A + 4), "bad input: pool_aligned_free(misaligned block + 4) refused");
  BAD_STATUS(pool_raw_free(R + 4), "bad input: pool_raw_free(misaligned block + 4) refused");
  BAD_STATUS(pool_raw_free(R + 1), "bad input: pool_raw_free(misaligned block + 1) refused");
  BAD_STATUS(pool_aligned_free(R), "bad input: pool_aligned_free(raw block) refused");
  BAD_STATUS(pool_raw_free(A), "bad input: pool_raw_free(aligned block) refused");
  BAD_STATUS(pool_raw_free(K), "bad input: pool_raw_free(another aligned block) refused");
  BAD_STATUS(pool_raw_free(P), "bad input: pool_raw_free(page block, Align 4096) refused");
  BAD_STATUS(pool_raw_free(P64), "bad input: pool_raw_free(page block, Align 64 KiB) refused");

  /* A page-aligned pointer the library never handed out (firmware pages of our own, so that the
     page below is readable whatever reads it). */
  EFI_PHYSICAL_ADDRESS own = 0;
  EFI_STATUS own_status = gBS->AllocatePages(AllocateAnyPages, EfiLoaderData, 2, &own);
  check_status(own_status, EFI_SUCCESS, "bad input: two firmware pages of our own allocated");
  UINT8 *F = (UINT8 *)(UINTN)own + 4096;
  for (UINTN i = 0; i < 8192; i++) {
    ((UINT8 *)(UINTN)own)[i] = (UINT8)(0x3C ^ i);
  }
  BAD_STATUS(pool_aligned_free(F), "bad input: pool_aligned_free(page-aligned foreign pointer) refused");
  BAD_FREEPOOL(F, "page-aligned foreign pointer");
  BAD_NULL(pool_aligned_realloc(F, 100), 1, "bad input: pool_aligned_realloc(page-aligned foreign pointer) returns NULL");
  {
    bad_begin();
    UINTN usable = pool_usable_size(F);
    BOOLEAN shrunk = pool_shrink(F, 64, 32);
    bad_end(usable == 0 && shrunk, S("usable %llu, shrink %u", (ull)usable, shrunk), 0, 0,
            "bad input: page-aligned foreign pointer: usable size 0, shrink TRUE without effect");
  }
  BOOLEAN own_ok = TRUE;
  for (UINTN i = 0; i < 8192; i++) {
    own_ok &= ((UINT8 *)(UINTN)own)[i] == (UINT8)(0x3C ^ i);
  }
  check(own_ok && gBS->FreePages(own, 2) == EFI_SUCCESS,
        "bad input: our own pages untouched and freed", NULL);

  /* Double frees. */
  UINT8 *T = pool_aligned_alloc(64, 16);
  UINT8 *U = pool_aligned_alloc(8192, 4096);
  UINT8 *W = pool_raw_alloc(64);
  check(T && U && W && pool_aligned_free(T) == EFI_SUCCESS && pool_aligned_free(U) == EFI_SUCCESS &&
            pool_raw_free(W) == EFI_SUCCESS,
        "bad input: blocks for double frees allocated and freed once", NULL);
  BAD_STATUS(pool_aligned_free(T), "bad input: double pool_aligned_free refused");
  BAD_STATUS(pool_aligned_free(U), "bad input: double pool_aligned_free of a page block refused");
  EFI_STATUS firmware_answer = firmware_double_free_status();
  check(EFI_ERROR(firmware_answer), S("bad input: the firmware's FreePool refuses a double free (%s)",
                                      status_name(firmware_answer)), NULL);
  BAD_STATUS_IS(pool_raw_free(W), firmware_answer,
                S("bad input: double pool_raw_free refused by FreePool, with its answer (%s)",
                  status_name(firmware_answer)));

  /* usable_size of foreign pointers: 0, nothing counted. */
  {
    bad_begin();
    UINTN sizes[9] = {pool_usable_size(NULL),  pool_usable_size(S8),     pool_usable_size(A + 8),
                      pool_usable_size(A + 4), pool_usable_size(R),      pool_usable_size(P + 4096),
                      pool_usable_size(T),     pool_usable_size(U),      pool_usable_size(R + 16)};
    BOOLEAN zero = TRUE;
    for (UINTN i = 0; i < 9; i++) {
      zero &= sizes[i] == 0;
    }
    bad_end(zero, S("%llu %llu %llu %llu %llu %llu %llu %llu %llu", (ull)sizes[0], (ull)sizes[1], (ull)sizes[2],
                    (ull)sizes[3], (ull)sizes[4], (ull)sizes[5], (ull)sizes[6], (ull)sizes[7], (ull)sizes[8]),
            0, 0, "bad input: pool_usable_size of NULL, stack, interior, misaligned, raw, freed pointers is 0");
  }
  /* realloc of foreign pointers: NULL, one invalid call each. */
  BAD_NULL(pool_aligned_realloc(S8, 100), 1, "bad input: pool_aligned_realloc(stack buffer) returns NULL");
  BAD_NULL(pool_aligned_realloc(A + 16, 100), 1, "bad input: pool_aligned_realloc(block + 16) returns NULL");
  BAD_NULL(pool_aligned_realloc(A + 4, 100), 1, "bad input: pool_aligned_realloc(misaligned) returns NULL");
  BAD_NULL(pool_aligned_realloc(R, 100), 1, "bad input: pool_aligned_realloc(raw block) returns NULL");
  BAD_NULL(pool_aligned_realloc(P + 4096, 100), 1, "bad input: pool_aligned_realloc(page block + 4096) returns NULL");
  BAD_NULL(pool_aligned_realloc(T, 100), 1, "bad input: pool_aligned_realloc(freed block) returns NULL");
  BAD_NULL(pool_aligned_realloc(U, 100), 1, "bad input: pool_aligned_realloc(freed page block) returns NULL");
  /* shrink/remap of pointers the aligned path does not know: TRUE/Ptr, nothing touched. */
  {
    bad_begin();
    BOOLEAN s1 = pool_shrink(S8, 64, 32);
    VOID *s2 = pool_remap(S8, 64, 64);
    BOOLEAN s3 = pool_shrink(S8, 64, 65);
    VOID *s4 = pool_remap(S8, 64, 65);
    BOOLEAN s5 = pool_shrink(NULL, 0, 0);
    VOID *s6 = pool_remap(NULL, 0, 0);
    bad_end(s1 && s2 == S8 && !s3 && s4 == NULL && !s5 && s6 == NULL,
            S("%u %p %u %p %u %p", s1, s2, s3, s4, s5, s6), 0, 0,
            "bad input: pool_shrink/pool_remap of a stack buffer: shrink TRUE, grow FALSE; NULL FALSE");
  }
  BOOLEAN stack_ok = TRUE;
  for (UINTN i = 0; i < 32; i++) {
    stack_ok &= stack[i] == (0xC3C3C3C3C3C3C3C3ULL ^ i);
  }
  check(stack_ok, "bad input: the stack buffer is untouched", NULL);

  /* The abused blocks are intact and can be freed. */
  check(intact(A, uA, 21) && intact(R, 100, 22) && intact(P, uP, 23) && intact(P64, 5000, 24) &&
            intact(K, uK, 25) && pool_usable_size(A) == uA && pool_usable_size(P) == uP &&
            pool_usable_size(P64) == 8192,
        "bad input: every abused block is intact, its usable size unchanged", NULL);
  EFI_STATUS f[5] = {pool_aligned_free(A), pool_raw_free(R), pool_aligned_free(P),
                     pool_aligned_free(P64), pool_aligned_free(K)};
  check(f[0] == EFI_SUCCESS && f[1] == EFI_SUCCESS && f[2] == EFI_SUCCESS && f[3] == EFI_SUCCESS &&
            f[4] == EFI_SUCCESS,
        "bad input: every abused block frees normally",
        S("%s %s %s %s %s", status_name(f[0]), status_name(f[1]), status_name(f[2]), status_name(f[3]),
          status_name(f[4])));
  live_is(&s0, 0, 0, "bad input: statistics balance");
}

/* ---- The small-block front -------------------------------------------------------------- */

static void test_front(void) {
  enum { COUNT = 1000 };
  static UINT8 *blocks[COUNT];
  MAP_SUMMARY m0, m1, m2;
  pool_trim();
  POOL_STATS s0 = stats_now();
  map_read(&m0);
  for (UINTN i = 0; i < COUNT; i++) {
    blocks[i] = pool_aligned_alloc(64, 32);
  }
  map_read(&m1);
  POOL_STATS s1 = stats_now();
  BOOLEAN ok = TRUE;
  for (UINTN i = 0; i < COUNT; i++) {
    ok &= blocks[i] != NULL && is_aligned(blocks[i], 64);
    if (blocks[i] != NULL) {
      pattern_fill(blocks[i], 64, i);
    }
  }
  UINT64 pages = m1.Pages[EfiLoaderData] - m0.Pages[EfiLoaderData], data = (COUNT + 63) / 64;
  info("front: %u blocks of 64 B at Align 32 took %llu EfiLoaderData pages (%llu of blocks); raw AllocatePool would take %u",
       COUNT, (ull)pages, (ull)data, COUNT / 32);
  check(ok, "front: 1000 blocks of 64 B at Align 32, all 64-aligned (their class's natural alignment)", NULL);
  check(s1.RequestedBytes - s0.RequestedBytes == data * 4096 && s1.FrontPages - s0.FrontPages == data,
        "front: 64 blocks per page, one AllocatePages per 64 blocks, no AllocatePool per block",
        S("RequestedBytes +%llu, FrontPages +%llu", (ull)(s1.RequestedBytes - s0.RequestedBytes),
          (ull)(s1.FrontPages - s0.FrontPages)));
  check(pages >= data && pages <= data + 3, "front: the memory map grows by the blocks' pages and at most 3 of bookkeeping",
        S("%llu pages", (ull)pages));

  /* Bad pointers into a front page: refused with certainty, nothing changes. */
  UINT8 *page = (UINT8 *)((UINTN)blocks[0] & ~(UINTN)4095);
  UINT8 *victim = blocks[1];
  check_status(pool_aligned_free(victim), EFI_SUCCESS, "front: a block is freed");
  POOL_STATS s2 = stats_now();
  EFI_STATUS st[5] = {
      pool_aligned_free(victim),          /* double free */
      pool_aligned_free(blocks[2] + 8),   /* interior */
      pool_aligned_free(blocks[3] + 32),  /* interior, 32-aligned */
      pool_raw_free(blocks[4]),           /* a front block is no FreePool block */
      pool_aligned_free(page + 4096 - 8), /* inside the last slot */
  };
  POOL_STATS s3 = stats_now();
  ok = TRUE;
  for (UINTN i = 0; i < 5; i++) {
    ok &= st[i] == EFI_INVALID_PARAMETER;
  }
  check(ok && s3.InvalidCalls == s2.InvalidCalls + 5 && s3.LiveBlocks == s2.LiveBlocks,
        "front: double, interior and FreePool-style frees of front blocks refused, nothing freed",
        S("%s %s %s %s %s; %s", status_name(st[0]), status_name(st[1]), status_name(st[2]), status_name(st[3]),
          status_name(st[4]), stats_diff(&s2, &s3)));

  /* An overflow spoils the neighbours' bytes, never what decides which slot is free. */
  for (UINTN i = 0; i < 4096; i++) {
    ((volatile UINT8 *)page)[i] = 0xFF;
  }
  UINTN freed = 0, again = 0, twice = 0;
  for (UINTN i = 2; i < 34; i++) {
    freed += pool_aligned_free(blocks[i]) == EFI_SUCCESS;
    twice += pool_aligned_free(blocks[i]) == EFI_INVALID_PARAMETER;
  }
  /* The class's current page (the last one, 24 slots free) serves first, then this one. */
  static UINT8 *extra[24];
  for (UINTN i = 0; i < 24; i++) {
    extra[i] = pool_aligned_alloc(64, 32);
  }
  for (UINTN i = 1; i < 34; i++) {
    blocks[i] = pool_aligned_alloc(64, 32);
    again += blocks[i] != NULL && ((UINTN)blocks[i] & ~(UINTN)4095) == (UINTN)page;
    for (UINTN j = 1; j < i; j++) {
      again -= blocks[j] == blocks[i];
    }
  }
  check(freed == 32 && twice == 32 && again == 33,
        "front: after its whole page was scribbled over, frees and double frees are told apart and the 33 free slots come back once each",
        S("%llu freed, %llu double frees refused, %llu slots reused", (ull)freed, (ull)twice, (ull)again));
  for (UINTN i = 0; i < 24; i++) {
    pool_aligned_free(extra[i]);
  }
  UINTN damaged = 0;
  for (UINTN i = 64; i < COUNT; i++) {
    damaged += !intact(blocks[i], 64, i);
  }
  check(damaged == 0, "front: blocks of other pages untouched", S("%llu damaged", (ull)damaged));
  for (UINTN i = 0; i < COUNT; i++) {
    pool_aligned_free(blocks[i]);
  }
  POOL_STATS idle = stats_now();
  UINTN trimmed = pool_trim();
  map_read(&m2);
  const char *why = "";
  BOOLEAN same = map_same(&m0, &m2, &why); /* before check(): its arguments' order is unspecified */
  check(idle.FrontPages == 1 && trimmed == 1 && same,
        "front: after the frees one empty page stays (the class's current one); pool_trim gives it back and the map is as before",
        S("%llu idle, %llu given back; %s", (ull)idle.FrontPages, (ull)trimmed, why));

  /* Pass-through: every block from the firmware. */
  check_status(pool_fini(), EFI_SUCCESS, "front: pool_fini");
  check_status(pool_init_ex(gImage, gST, POOL_MEMORY_TYPE_DEFAULT, POOL_PASS_THROUGH), EFI_SUCCESS,
               "pass-through: pool_init_ex(POOL_PASS_THROUGH)");
  POOL_STATS p0 = stats_now();
  for (UINTN i = 0; i < 10; i++) {
    blocks[i] = pool_aligned_alloc(64, 32);
  }
  POOL_STATS p1 = stats_now();
  for (UINTN i = 0; i < 10; i++) {
    pool_aligned_free(blocks[i]);
  }
  check(p1.FrontPages == 0 && p1.RequestedBytes - p0.RequestedBytes <= 10 * 96,
        "pass-through: small blocks come from AllocatePool, one each, none from the front",
        S("FrontPages %llu, RequestedBytes +%llu", (ull)p1.FrontPages, (ull)(p1.RequestedBytes - p0.RequestedBytes)));
  check_status(pool_init_ex(gImage, gST, POOL_MEMORY_TYPE_DEFAULT, (POOL_PASS_THROUGH | POOL_PRIVATE) << 1),
               EFI_INVALID_PARAMETER, "pass-through: an unknown option is refused");
  check_status(pool_fini(), EFI_SUCCESS, "pass-through: pool_fini");
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_SUCCESS, "pass-through: pool_init, the front on");
}

/* ---- Invalid-call handler ---------------------------------------------------------------- */

static struct {
  UINTN Calls;
  const CHAR8 *Function;
  VOID *Pointer;
} mRefused;

static VOID EFIAPI record_refusal(IN CONST CHAR8 *Function, IN VOID *Pointer) {
  mRefused.Calls++;
  mRefused.Function = Function;
  mRefused.Pointer = Pointer;
}

static BOOLEAN same_text(const char *A, const char *B) {
  while (*A != 0 && *A == *B) {
    A++;
    B++;
  }
  return *A == *B;
}

/* The handler saw exactly one more refusal, of Function with Pointer. */
static void refusal_is(UINTN Calls, const char *Function, const VOID *Pointer, const char *Name) {
  check(mRefused.Calls == Calls && mRefused.Function != NULL && same_text(mRefused.Function, Function) &&
            mRefused.Pointer == Pointer,
        Name,
        S("%llu calls, last %s (%p)", (ull)mRefused.Calls, mRefused.Function ? mRefused.Function : "none",
          mRefused.Pointer));
}

/* The handler the EDK2 library registers in DEBUG builds is put back at the end. */
static void test_invalid_call_handler(void) {
  POOL_INVALID_CALL_HANDLER previous = pool_set_invalid_call_handler(record_refusal);
  UINT64 local[4] = {0};
  VOID *foreign = &local[2];
  UINT8 *block = pool_aligned_alloc(64, 64);

  pool_aligned_free(foreign);
  refusal_is(1, "pool_aligned_free", foreign, "handler: a foreign free names pool_aligned_free and the pointer");
  pool_aligned_alloc(8, 3);
  refusal_is(2, "pool_aligned_alloc", NULL, "handler: a bad alignment names pool_aligned_alloc, no pointer");
  pool_raw_free(block);
  refusal_is(3, "pool_raw_free", block, "handler: an aligned block through pool_raw_free names pool_raw_free");
  check(pool_aligned_free(block) == EFI_SUCCESS && mRefused.Calls == 3, "handler: a valid free is not reported",
        S("%llu calls", (ull)mRefused.Calls));
  pool_aligned_free(block);
  refusal_is(4, "pool_aligned_free", block, "handler: a double free is reported with the pointer");
  check(pool_set_invalid_call_handler(previous) == record_refusal, "handler: pool_set_invalid_call_handler returns the previous one",
        NULL);
}

/* ---- realloc ---------------------------------------------------------------------------- */

static void test_realloc(void) {
  POOL_STATS s0 = stats_now();
  MAP_SUMMARY m0, m1, m2;

  UINT8 *a = pool_aligned_alloc(100, 64);
  UINTN u = pool_usable_size(a);
  pattern_fill(a, u, 31);
  UINT8 *b = pool_aligned_realloc(a, u);
  check(b == a && intact(a, u, 31), "realloc: grow within the usable size stays in place",
        S("%p -> %p, usable %llu", a, b, (ull)u));
  b = pool_aligned_realloc(a, 50);
  check(b == a && intact(a, 50, 31) && pool_usable_size(a) == u,
        "realloc: shrink stays in place, contents and usable size kept", NULL);
  live_is(&s0, 1, 50, "realloc: in-place resizes are counted");
  UINT8 *c = pool_aligned_realloc(a, u + 1000);
  check(c != NULL && c != a && is_aligned(c, 64) && intact(c, 50, 31) && pool_usable_size(c) >= u + 1000,
        "realloc: grow beyond the usable size moves, keeps contents and Align 64",
        S("%p -> %p", a, c));
  live_is(&s0, 1, (long long)(u + 1000), "realloc: a move frees the old block");
  UINT8 *d = pool_aligned_realloc(c, 0);
  check(d == c, "realloc: to size 0 keeps the block in place", S("%p -> %p", c, d));
  live_is(&s0, 1, 0, "realloc: a size-0 block counts 0 bytes");
  check_status(pool_aligned_free(d), EFI_SUCCESS, "realloc: the size-0 block frees");

  UINT8 *e = pool_aligned_realloc(NULL, 100);
  check(e != NULL && is_aligned(e, POOL_DEFAULT_ALIGN) && pool_usable_size(e) >= 100,
        "realloc(NULL, 100): allocates at POOL_DEFAULT_ALIGN", S("%p", e));
  live_is(&s0, 1, 100, "realloc(NULL, 100): counts a block of 100 bytes");
  pool_aligned_free(e);

  UINT8 *f = pool_aligned_alloc(1500, 2048);
  pattern_fill(f, 1500, 32);
  UINT8 *g = pool_aligned_realloc(f, 6000);
  check(g != NULL && is_aligned(g, 2048) && intact(g, 1500, 32),
        "realloc: a moved Align 2048 block keeps its alignment and contents", S("%p -> %p", f, g));
  pool_aligned_free(g);

  /* Page-backed blocks: shrink in place gives pages back, grow in place or moves. */
  UINT8 *p = pool_aligned_alloc(64 * KiB, 4096);
  pattern_fill(p, 64 * KiB, 33);
  map_read(&m0);
  UINT8 *q = pool_aligned_realloc(p, 8192);
  map_read(&m1);
  check(q == p && intact(p, 8192, 33) && pool_usable_size(p) == 8192 &&
            m1.Pages[EfiLoaderData] + 14 == m0.Pages[EfiLoaderData],
        "realloc: page block 64 KiB -> 8 KiB shrinks in place, 14 pages given back",
        S("%p -> %p, usable %llu, LoaderData pages %llu->%llu", p, q, (ull)pool_usable_size(q),
          (ull)m0.Pages[EfiLoaderData], (ull)m1.Pages[EfiLoaderData]));
  UINT8 *r = pool_aligned_realloc(p, 64 * KiB);
  map_read(&m2);
  check(r != NULL && is_aligned(r, 4096) && intact(r, 8192, 33) && pool_usable_size(r) == 64 * KiB &&
            m2.Pages[EfiLoaderData] == m0.Pages[EfiLoaderData],
        "realloc: page block 8 KiB -> 64 KiB grows, contents kept, 16 pages again",
        S("%p -> %p, LoaderData pages %llu->%llu", p, r, (ull)m0.Pages[EfiLoaderData],
          (ull)m2.Pages[EfiLoaderData]));
  info("realloc: page block 8 KiB -> 64 KiB %s", r == p ? "grew in place" : "moved");
  live_is(&s0, 1, 64 * KiB, "realloc: page block counted at its new size");
  pool_aligned_free(r);

  UINT8 *h = pool_aligned_alloc(100000, 64 * KiB);
  pattern_fill(h, 100000, 34);
  UINT8 *i = pool_aligned_realloc(h, 400000);
  check(i != NULL && is_aligned(i, 64 * KiB) && intact(i, 100000, 34),
        "realloc: an Align 64 KiB page block grows keeping alignment and contents",
        S("%p -> %p (%s)", h, i, i == h ? "in place" : "moved"));
  UINT8 *j = pool_aligned_realloc(i, 4096);
  check(j == i && intact(j, 4096, 34) && pool_usable_size(j) == 4096,
        "realloc: an Align 64 KiB page block shrinks to one page in place", NULL);
  pool_aligned_free(j);

  /* Pool path to page path by size, and back down in place. */
  UINT8 *k = pool_aligned_alloc(1000, 16);
  pattern_fill(k, 1000, 35);
  map_read(&m0);
  UINT8 *l = pool_aligned_realloc(k, 20 * MiB);
  check(l != NULL && is_aligned(l, 4096) && intact(l, 1000, 35) && pool_usable_size(l) == 20 * MiB,
        "realloc: 1000 B -> 20 MiB moves to whole pages, contents kept", S("%p", l));
  UINT8 *n = pool_aligned_realloc(l, 1000);
  map_read(&m1);
  check(n == l && intact(n, 1000, 35) && pool_usable_size(n) == 4096 &&
            m1.Pages[EfiLoaderData] <= m0.Pages[EfiLoaderData] + 1,
        "realloc: 20 MiB -> 1000 B shrinks in place to one page",
        S("%p -> %p, LoaderData pages %llu->%llu", l, n, (ull)m0.Pages[EfiLoaderData],
          (ull)m1.Pages[EfiLoaderData]));
  live_is(&s0, 1, 1000, "realloc: statistics follow the page-path sizes");
  pool_aligned_free(n);
  live_is(&s0, 0, 0, "realloc: statistics balance");
}

/* ---- calloc ----------------------------------------------------------------------------- */

static void test_calloc(void) {
  static const UINTN sizes[] = {1, 64, 100, 1000, 5000, 65536};
  static const UINTN aligns[] = {8, 64, 4096};
  POOL_STATS s0 = stats_now();
  for (UINTN ai = 0; ai < 3; ai++) {
    UINTN align = aligns[ai], reused = 0;
    BOOLEAN ok = TRUE;
    const char *detail = NULL;
    for (UINTN si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
      UINTN size = sizes[si];
      UINT8 *p = pool_aligned_alloc(size, align);
      UINTN usable = pool_usable_size(p);
      for (UINTN i = 0; i < usable; i++) {
        p[i] = 0xA5;
      }
      pool_aligned_free(p);
      UINT8 *c = pool_aligned_calloc(1, size, align);
      reused += c == p;
      if (c == NULL || !is_aligned(c, align) || !all_zero(c, size)) {
        if (ok) {
          detail = S("size %llu: %p", (ull)size, c);
        }
        ok = FALSE;
      }
      pool_aligned_free(c);
    }
    check(ok, S("calloc: Align %llu, 1 B..64 KiB: zeroed after a dirty block of the same size", (ull)align),
          detail);
    info("calloc: Align %llu: %llu of 6 calloc blocks reused the dirty block", (ull)align, (ull)reused);
  }
  UINT8 *m = pool_aligned_calloc(10, 100, 32);
  check(m != NULL && is_aligned(m, 32) && all_zero(m, 1000) && pool_usable_size(m) >= 1000,
        "calloc: 10 x 100 B at Align 32 zeroed", NULL);
  live_is(&s0, 1, 1000, "calloc: counts Count * Size bytes");
  pool_aligned_free(m);
  UINT8 *z1 = pool_aligned_calloc(0, 5, 16), *z2 = pool_aligned_calloc(7, 0, 16);
  check(z1 != NULL && z2 != NULL && z1 != z2 && is_aligned(z1, 16) && is_aligned(z2, 16),
        "calloc: Count or Size 0 gives unique size-0 blocks", S("%p %p", z1, z2));
  pool_aligned_free(z1);
  pool_aligned_free(z2);
  live_is(&s0, 0, 0, "calloc: statistics balance");
}

/* ---- pool_shrink / pool_remap ----------------------------------------------------------- */

static void test_shrink_remap(void) {
  POOL_STATS s0 = stats_now();
  MAP_SUMMARY m0, m1;

  /* Aligned, pool-backed. */
  UINT8 *a = pool_aligned_alloc(1000, 64);
  UINTN ua = pool_usable_size(a);
  pattern_fill(a, 1000, 41);
  check(pool_shrink(a, 1000, 500) == TRUE && intact(a, 500, 41) && pool_usable_size(a) == ua,
        "pool_shrink: aligned 1000 -> 500 succeeds in place, contents kept", NULL);
  live_is(&s0, 1, 500, "pool_shrink: aligned block counted at 500 bytes");
  check(pool_shrink(a, 500, 500) == TRUE, "pool_shrink: aligned same size succeeds", NULL);
  check(pool_shrink(a, 500, 600) == FALSE, "pool_shrink: aligned grow refused", NULL);
  check(pool_shrink(a, 999, 100) == FALSE, "pool_shrink: aligned block with a wrong (larger) OldSize refused",
        "returned TRUE for OldSize 999 on a 500-byte block");
  check(pool_shrink(a, 2000, 1500) == FALSE,
        "pool_shrink: aligned block with an OldSize above its real size refused (NewSize > capacity)",
        S("returned TRUE: caller told it holds 1500 bytes; usable size is %llu", (ull)pool_usable_size(a)));
  check(pool_shrink(a, 400, 300) == FALSE, "pool_shrink: aligned block with a wrong (smaller) OldSize refused",
        "returned TRUE for OldSize 400 on a 500-byte block");
  live_is(&s0, 1, 500, "pool_shrink: refused or ignored shrinks change no count");
  check(pool_remap(a, 500, 400) == a, "pool_remap: aligned shrink returns the same pointer", NULL);
  check(pool_remap(a, 400, 400) == a, "pool_remap: aligned same size returns the same pointer", NULL);
  check(pool_remap(a, 400, 800) == NULL, "pool_remap: aligned grow returns NULL", NULL);
  check(pool_remap(a, 123, 100) == NULL, "pool_remap: aligned block with a wrong OldSize returns NULL",
        "returned the pointer");
  check(intact(a, 400, 41), "pool_remap: contents kept", NULL);
  live_is(&s0, 1, 400, "pool_remap: aligned block counted at 400 bytes");
  check_status(pool_aligned_free(a), EFI_SUCCESS, "pool_shrink: the shrunk aligned block frees");

  /* Page-backed. */
  UINT8 *p = pool_aligned_alloc(64 * KiB, 4096);
  pattern_fill(p, 64 * KiB, 42);
  map_read(&m0);
  BOOLEAN shrunk = pool_shrink(p, 64 * KiB, 4096);
  map_read(&m1);
  check(shrunk && intact(p, 4096, 42) && pool_usable_size(p) == 4096 &&
            m1.Pages[EfiLoaderData] + 15 == m0.Pages[EfiLoaderData],
        "pool_shrink: page block 64 KiB -> 4 KiB in place, 15 pages given back",
        S("LoaderData pages %llu->%llu", (ull)m0.Pages[EfiLoaderData], (ull)m1.Pages[EfiLoaderData]));
  check(pool_shrink(p, 4096, 8192) == FALSE, "pool_shrink: page block grow refused", NULL);
  check(pool_shrink(p, 5000, 100) == FALSE, "pool_shrink: page block with a wrong OldSize refused", NULL);
  check(pool_shrink(p, 4096, 4096) == TRUE, "pool_shrink: page block same size succeeds", NULL);
  check(pool_remap(p, 4096, 100) == p, "pool_remap: page block shrink returns the same pointer", NULL);
  check(pool_remap(p, 100, 5000) == NULL, "pool_remap: page block grow returns NULL", NULL);
  check(pool_remap(p, 4096, 10) == NULL, "pool_remap: page block with a wrong OldSize returns NULL", NULL);
  check(intact(p, 100, 42) && pool_usable_size(p) == 4096, "pool_remap: page block contents kept", NULL);
  live_is(&s0, 1, 100, "pool_shrink: page block counted at 100 bytes");
  check_status(pool_aligned_free(p), EFI_SUCCESS, "pool_shrink: the shrunk page block frees");

  /* Raw: nothing to record, shrink and same succeed, grow is refused. */
  UINT8 *r = pool_raw_alloc(100);
  pattern_fill(r, 100, 43);
  check(pool_shrink(r, 100, 50) == TRUE, "pool_shrink: raw block shrink succeeds", NULL);
  check(pool_shrink(r, 50, 50) == TRUE, "pool_shrink: raw block same size succeeds", NULL);
  check(pool_shrink(r, 50, 100) == FALSE, "pool_shrink: raw block grow refused", NULL);
  check(pool_remap(r, 50, 20) == r, "pool_remap: raw block shrink returns the same pointer", NULL);
  check(pool_remap(r, 20, 200) == NULL, "pool_remap: raw block grow returns NULL", NULL);
  check(intact(r, 100, 43), "pool_shrink: raw block contents untouched", NULL);
  check_status(pool_raw_free(r), EFI_SUCCESS, "pool_shrink: the raw block frees with pool_raw_free");
  live_is(&s0, 0, 0, "pool_shrink: statistics balance");
}

/* ---- ExitBootServices ------------------------------------------------------------------- */

static void test_exit_boot_services(void) {
  UINT8 *a = pool_aligned_alloc(64, 16);
  UINT8 *pg = pool_aligned_alloc(8192, 4096);
  UINT8 *r = pool_raw_alloc(64);
  check(a != NULL && pg != NULL && r != NULL, "ExitBootServices: blocks allocated before", NULL);
  POOL_STATS s0 = stats_now();

  MAP_SUMMARY m;
  map_read(&m);
  EFI_STATUS first = gBS->ExitBootServices(gImage, m.MapKey), status = first;
  if (status == EFI_INVALID_PARAMETER) {
    /* A notify function changed the map after our GetMemoryMap: once more with a fresh key. */
    map_read(&m);
    status = gBS->ExitBootServices(gImage, m.MapKey);
  }
  info("ExitBootServices: first call %s%s", status_name(first),
       first == EFI_SUCCESS ? "" : S(", retry %s", status_name(status)));
  if (!check_status(status, EFI_SUCCESS, "ExitBootServices: succeeds")) {
    return;
  }
  gBS = NULL;   /* zeroed by the firmware; gST->BootServices is NULL now */

  check(gST->BootServices == NULL, "after ExitBootServices: the system table has no boot services", NULL);
  check(pool_aligned_alloc(64, 16) == NULL, "after ExitBootServices: pool_aligned_alloc returns NULL", NULL);
  check(pool_aligned_alloc(8192, 4096) == NULL, "after ExitBootServices: page-backed pool_aligned_alloc returns NULL", NULL);
  check(pool_raw_alloc(64) == NULL, "after ExitBootServices: pool_raw_alloc returns NULL", NULL);
  check(pool_aligned_calloc(2, 32, 16) == NULL, "after ExitBootServices: pool_aligned_calloc returns NULL", NULL);
  check(pool_aligned_realloc(NULL, 64) == NULL && pool_aligned_realloc(a, 128) == NULL,
        "after ExitBootServices: pool_aligned_realloc returns NULL", NULL);
  check_status(pool_aligned_free(a), EFI_UNSUPPORTED, "after ExitBootServices: pool_aligned_free returns EFI_UNSUPPORTED");
  check_status(pool_aligned_free(pg), EFI_UNSUPPORTED,
               "after ExitBootServices: pool_aligned_free of a page block returns EFI_UNSUPPORTED");
  check_status(pool_raw_free(r), EFI_UNSUPPORTED, "after ExitBootServices: pool_raw_free returns EFI_UNSUPPORTED");
  check_status(pool_aligned_free(NULL), EFI_SUCCESS, "after ExitBootServices: pool_aligned_free(NULL) succeeds");
  check_status(pool_raw_free(NULL), EFI_SUCCESS, "after ExitBootServices: pool_raw_free(NULL) succeeds");
  check_status(pool_fini(), EFI_UNSUPPORTED, "after ExitBootServices: pool_fini returns EFI_UNSUPPORTED");
  check_status(pool_init(gImage, gST, POOL_MEMORY_TYPE_DEFAULT), EFI_INVALID_PARAMETER,
               "after ExitBootServices: pool_init refused (no boot services)");
  check(pool_usable_size(a) == 0 && pool_usable_size(pg) == 0,
        "after ExitBootServices: pool_usable_size returns 0", NULL);
  check(pool_shrink(a, 64, 32) == FALSE && pool_remap(a, 64, 32) == NULL && pool_shrink(pg, 8192, 4096) == FALSE,
        "after ExitBootServices: pool_shrink/pool_remap refuse", NULL);
  POOL_STATS s;
  EFI_STATUS st = pool_stats(&s);
  check(st == EFI_SUCCESS && stats_equal(&s0, &s),
        "after ExitBootServices: pool_stats works, nothing changed (the blocks stay allocated)",
        S("%s; %s", status_name(st), stats_diff(&s0, &s)));
}

/* ---- Entry point ------------------------------------------------------------------------ */

typedef struct {
  const char *Name;
  void (*Run)(void);
} PHASE;

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  app_start(ImageHandle, SystemTable);

  say("");
  say("uefi-pool-alloc firmware test, %s", ARCH_NAME);
  info("firmware: %s, revision 0x%x; UEFI 0x%x", ascii(gST->FirmwareVendor), gST->FirmwareRevision,
       gST->Hdr.Revision);
  EFI_LOADED_IMAGE_PROTOCOL *image = loaded_image();
  if (image != NULL) {
    info("image at %p, %llu bytes", image->ImageBase, (ull)image->ImageSize);
  }

  static const PHASE phases[] = {
      {"before pool_init", test_before_init},
      {"pool_init/pool_fini", test_init},
      {"statistics", test_stats},
      {"residues", test_residues},
      {"alignment sweep", test_aligned_sweep},
      {"requested bytes", test_requested_bytes},
      {"small-block front", test_front},
      {"bad input", test_bad_input},
      {"invalid-call handler", test_invalid_call_handler},
      {"realloc", test_realloc},
      {"calloc", test_calloc},
      {"shrink/remap", test_shrink_remap},
      {"random operations", test_random},
  };
  UINT64 start = timer_ticks();
  for (UINTN i = 0; i < sizeof phases / sizeof phases[0]; i++) {
    UINT64 t0 = timer_ticks();
    phases[i].Run();
    info("phase '%s' took %llu ms", phases[i].Name, (ull)ticks_to_ms(timer_ticks() - t0));
  }
  pool_trim();
  POOL_STATS s = stats_now();
  check(s.LiveBlocks == 0 && s.LiveBytes == 0 && s.BookkeepingBytes == 0,
        "before ExitBootServices: nothing left allocated (after pool_trim)",
        S("LiveBlocks %llu, LiveBytes %llu, BookkeepingBytes %llu", (ull)s.LiveBlocks, (ull)s.LiveBytes,
          (ull)s.BookkeepingBytes));
  info("statistics: peak %llu bytes, %llu bytes requested from firmware, %llu failed requests, %llu invalid calls",
       (ull)s.PeakBytes, (ull)s.RequestedBytes, (ull)s.FailedRequests, (ull)s.InvalidCalls);
  info("all phases before ExitBootServices took %llu ms", (ull)ticks_to_ms(timer_ticks() - start));

  test_exit_boot_services();

  report_summary();
#if defined(__riscv)
  {
    /* U-Boot's runtime ResetSystem spins forever on RISC-V (it has no runtime reset there):
       ask the SBI firmware directly, System Reset extension "SRST", shutdown. Falls through to
       ResetSystem if the SBI lacks it. */
    register UINTN a0 __asm__("a0") = 0; /* SBI_SRST_RESET_TYPE_SHUTDOWN */
    register UINTN a1 __asm__("a1") = 0; /* no reason */
    register UINTN a6 __asm__("a6") = 0; /* function: system_reset */
    register UINTN a7 __asm__("a7") = 0x53525354;
    __asm__ volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
  }
#endif
  gST->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, NULL);
  for (;;) {
  }
}
