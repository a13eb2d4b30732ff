/** @file
  The demo: what uefi-pool-alloc asks of the firmware, beside what other wrappers ask, measured
  in the firmware it runs in. Prints a report over the serial port and shuts the machine down.
**/

#include "../tests/uefi/c/util.h"

#if defined(__x86_64__)
#define ARCH_NAME "x64"
#else
#define ARCH_NAME "AArch64"
#endif


/* DxeCore's pool (MdeModulePkg Pool.c): 40 bytes of head and tail, the request rounded to 8, the
   smallest bin that fits, whole pages above the largest bin. */
static UINTN edk2_block(UINTN Request) {
  static const UINTN bins[] = {128, 256, 384, 640, 1024, 1664, 2688};
  UINTN internal = ((Request + 7) & ~(UINTN)7) + 40;
  for (UINTN i = 0; i < sizeof bins / sizeof bins[0]; i++) {
    if (internal <= bins[i]) {
      return bins[i];
    }
  }
  return (internal + 4095) & ~(UINTN)4095;
}

/* Zig's pool_allocator: an 8-byte header always, Size + max(8, Align). */
static UINTN zig_request(UINTN Size, UINTN Align) {
  return Size + (Align > 8 ? Align : 8);
}

/* uefi-rs: AllocatePool(Size) up to Align 8; whole pages for Align 4096 and a multiple of 4096;
   else Size + Align. Rust std (r-efi-alloc) is the same without the page case. */
static UINTN uefi_rs_request(UINTN Size, UINTN Align) {
  if (Align <= 8) {
    return Size;
  }
  return (Align == 4096 && Size % 4096 == 0) ? Size : Size + Align;
}

static UINTN rust_std_request(UINTN Size, UINTN Align) {
  return Align <= 8 ? Size : Size + Align;
}

static void show(const char *Who, UINTN Request, BOOLEAN Pages) {
  if (Pages) {
    say("    %-28s %7llu bytes -> %2llu page(s)", Who, (unsigned long long)Request,
        (unsigned long long)((Request + 4095) / 4096));
  } else {
    say("    %-28s %7llu bytes -> EDK2 block of %llu", Who, (unsigned long long)Request,
        (unsigned long long)edk2_block(Request));
  }
}

static void table(void) {
  static const struct {
    UINTN Size, Align;
  } cases[] = {{64, 8}, {64, 16}, {64, 32}, {64, 64}, {64, 128}, {200, 128}, {2600, 64}, {4096, 4096}, {100, 65536}};
  say("");
  say("Bytes requested from firmware per allocation (this firmware's pool is EDK2's):");
  /* Teach the library this firmware's pool pattern first, as any program's first blocks do. */
  VOID *warmup[4];
  for (UINTN i = 0; i < 4; i++) {
    warmup[i] = pool_aligned_alloc(8, 16);
  }
  for (UINTN i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    UINTN size = cases[i].Size, align = cases[i].Align;
    POOL_STATS before = stats_now();
    VOID *block = pool_aligned_alloc(size, align);
    POOL_STATS after = stats_now();
    UINTN request = (UINTN)(after.RequestedBytes - before.RequestedBytes);
    BOOLEAN pages = request % 4096 == 0 && request >= size && align >= 4096;
    say("  %llu B at Align %llu: %s", (unsigned long long)size, (unsigned long long)align,
        is_aligned(block, align) ? "aligned" : "NOT ALIGNED");
    show("uefi-pool-alloc", request, pages);
    show("Zig pool_allocator", zig_request(size, align), FALSE);
    show("uefi-rs", uefi_rs_request(size, align), align == 4096 && size % 4096 == 0);
    show("Rust std (r-efi-alloc)", rust_std_request(size, align), FALSE);
    pool_aligned_free(block);
  }
  for (UINTN i = 0; i < 4; i++) {
    pool_aligned_free(warmup[i]);
  }
}

static void residues(void) {
  UINTN seen = 0;
  VOID *blocks[32];
  for (UINTN i = 0; i < 32; i++) {
    blocks[i] = pool_raw_alloc(1 + i * 97);
    seen |= (UINTN)1 << (((UINTN)blocks[i] & 127) / 8);
  }
  for (UINTN i = 0; i < 32; i++) {
    pool_raw_free(blocks[i]);
  }
  say("");
  say("AllocatePool pointers mod 128 in this firmware (32 blocks of 1..3008 bytes):");
  for (UINTN r = 0; r < 16; r++) {
    if (seen & ((UINTN)1 << r)) {
      say("  %llu", (unsigned long long)(r * 8));
    }
  }
}

static void print_stats(const char *When) {
  POOL_STATS s = stats_now();
  say("  %-34s live %llu blocks / %llu bytes, peak %llu bytes, requested %llu bytes, "
      "bookkeeping %llu, failed %llu, invalid %llu",
      When, (unsigned long long)s.LiveBlocks, (unsigned long long)s.LiveBytes, (unsigned long long)s.PeakBytes,
      (unsigned long long)s.RequestedBytes, (unsigned long long)s.BookkeepingBytes,
      (unsigned long long)s.FailedRequests, (unsigned long long)s.InvalidCalls);
}

static void live_stats(void) {
  VOID *blocks[6];
  say("");
  say("Live statistics (pool_stats):");
  print_stats("after the table:");
  blocks[0] = pool_aligned_alloc(1000, 64);
  blocks[1] = pool_aligned_calloc(10, 100, 32);
  blocks[2] = pool_aligned_alloc(3 * 4096, 4096);
  blocks[3] = pool_raw_alloc(500);
  blocks[4] = pool_aligned_realloc(NULL, 300);
  blocks[5] = pool_aligned_realloc(blocks[4], 100);
  print_stats("with 5 blocks live:");
  say("  usable sizes: %llu, %llu, %llu, (raw: %llu), %llu", (unsigned long long)pool_usable_size(blocks[0]),
      (unsigned long long)pool_usable_size(blocks[1]), (unsigned long long)pool_usable_size(blocks[2]),
      (unsigned long long)pool_usable_size(blocks[3]), (unsigned long long)pool_usable_size(blocks[5]));
  EFI_STATUS first = pool_aligned_free(blocks[0]);
  EFI_STATUS second = pool_aligned_free(blocks[0]);
  say("  free: %s; the same block again: %s; an interior pointer: %s", status_name(first), status_name(second),
      status_name(pool_aligned_free((UINT8 *)blocks[1] + 16)));
  pool_aligned_free(blocks[1]);
  pool_aligned_free(blocks[2]);
  pool_raw_free(blocks[3]);
  pool_aligned_free(blocks[5]);
  print_stats("after freeing them:");
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  app_start(ImageHandle, SystemTable);
  say("");
  say("uefi-pool-alloc demo (%s)", ARCH_NAME);
  EFI_STATUS status = pool_init(ImageHandle, SystemTable, POOL_MEMORY_TYPE_DEFAULT);
  say("pool_init: %s", status_name(status));
  if (status == EFI_SUCCESS) {
    residues();
    table();
    live_stats();
  }
  say("");
  say("demo done");
  gST->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, NULL);
  return EFI_SUCCESS;
}
