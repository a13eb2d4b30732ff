/* A C user of uefi_pool_alloc.h on the host: every function through its EFIAPI prototype, with
   arguments in every register position, and the POOL_STATS layout. Returns the failures. */
#include <stdio.h>
#include <string.h>

#include "uefi_pool_alloc.h"

#define EFI_ERROR_BIT ((EFI_STATUS)1 << (sizeof(EFI_STATUS) * 8 - 1))
#define EFI_SUCCESS ((EFI_STATUS)0)
#define EFI_INVALID_PARAMETER (EFI_ERROR_BIT | 2)
#define EFI_ALREADY_STARTED (EFI_ERROR_BIT | 20)

static int passed, failed;

static void check(int ok, const char *what) {
  printf("%s - %s\n", ok ? "ok" : "FAIL", what);
  failed += !ok;
  passed += ok;
}

static int aligned(const void *p, UINTN align) {
  return ((UINTN)p & (align - 1)) == 0;
}

int c_api_test(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table) {
  POOL_STATS before, after;
  unsigned char *block, *zeroed, *grown, *raw, *page;
  UINTN i;

  check(sizeof(POOL_STATS) == 9 * sizeof(UINT64), "POOL_STATS has nine UINT64 counters");
  check(pool_init(image, system_table, 0x12345) == EFI_INVALID_PARAMETER, "invalid memory type refused");
  check(pool_init(image, system_table, POOL_MEMORY_TYPE_DEFAULT) == EFI_SUCCESS, "pool_init");
  check(pool_init(image, system_table, POOL_MEMORY_TYPE_DEFAULT) == EFI_ALREADY_STARTED, "second pool_init");
  check(pool_stats(&before) == EFI_SUCCESS, "pool_stats");

  block = pool_aligned_alloc(100, 64);
  check(block != NULL && aligned(block, 64), "pool_aligned_alloc(100, 64)");
  check(pool_usable_size(block) >= 100, "pool_usable_size");
  memset(block, 0x5A, 100);
  zeroed = pool_aligned_calloc(3, 7, 32);
  check(zeroed != NULL && aligned(zeroed, 32), "pool_aligned_calloc(3, 7, 32)");
  for (i = 0; i < 21 && zeroed[i] == 0; i++) {
  }
  check(i == 21, "calloc memory is zero");
  check(pool_aligned_calloc((UINTN)-1, 2, 8) == NULL, "calloc overflow");
  check(pool_aligned_alloc(8, 3) == NULL, "alignment 3 refused");
  check(pool_aligned_alloc(POOL_MAX_SIZE + 1, 8) == NULL, "size above POOL_MAX_SIZE refused");

  grown = pool_aligned_realloc(block, 5000);
  check(grown != NULL && aligned(grown, 64) && grown[99] == 0x5A, "realloc moves with contents and alignment");
  check(pool_shrink(grown, 5000, 10) == 1, "pool_shrink");
  check(pool_shrink(grown, 10, 11) == 0, "pool_shrink refuses growth");
  check(pool_remap(grown, 10, 5) == grown, "pool_remap shrinks in place");
  check(pool_remap(grown, 5, 6) == NULL, "pool_remap refuses growth");

  raw = pool_raw_alloc(33);
  check(raw != NULL && aligned(raw, 8), "pool_raw_alloc");
  check(pool_aligned_free(raw) == EFI_INVALID_PARAMETER, "raw block refused by pool_aligned_free");
  page = pool_aligned_alloc(3 * 4096, 16384);
  check(page != NULL && aligned(page, 16384), "page-backed alloc at 16 KiB");
  check(pool_raw_free(page) == EFI_INVALID_PARAMETER, "page block refused by pool_raw_free");

  check(pool_stats(&after) == EFI_SUCCESS && after.LiveBlocks - before.LiveBlocks == 4, "LiveBlocks counts four");
  check(after.LiveBytes - before.LiveBytes == 5 + 21 + 3 * 4096, "LiveBytes counts known sizes");

  check(pool_aligned_free(grown) == EFI_SUCCESS, "free moved block");
  check(pool_aligned_free(grown) == EFI_INVALID_PARAMETER, "double free refused");
  check(pool_aligned_free(zeroed + 8) == EFI_INVALID_PARAMETER, "interior pointer refused");
  check(pool_aligned_free(zeroed) == EFI_SUCCESS, "free calloc block");
  check(pool_aligned_free(page) == EFI_SUCCESS, "free page block");
  check(pool_raw_free(raw) == EFI_SUCCESS, "pool_raw_free");
  check(pool_aligned_free(NULL) == EFI_SUCCESS, "free(NULL)");
  check(pool_stats(NULL) == EFI_INVALID_PARAMETER, "pool_stats(NULL)");
  check(pool_stats(&after) == EFI_SUCCESS && after.LiveBlocks == before.LiveBlocks &&
            after.LiveBytes == before.LiveBytes,
        "stats balance");
  check(pool_fini() == EFI_SUCCESS, "pool_fini");
  printf("%d passed, %d failed\n", passed, failed);
  return failed;
}
