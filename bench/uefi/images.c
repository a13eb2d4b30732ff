/** @file
  One allocator per boot, measured (issue 11): N = 8 images, each with its own copy of
  uefi-pool-alloc (images_worker.c, embedded here and loaded from memory with LoadImage), each
  doing W1 (10 000 blocks of 64 B at alignment 32) and then freeing everything; once with every
  image private (POOL_PRIVATE: what each copy did before the shared state), once sharing the
  boot's state. For each: firmware memory held while the blocks live, and at rest (every block
  freed, no pool_trim), as
    pages   pages of BENCH_WORKER_TYPE in the memory map (the front's pages of blocks; with
            private states also each copy's bookkeeping, which is of the image's type),
    bytes   the library's BookkeepingBytes (index, records, slack tables: with a shared state in
            EfiBootServicesData, once; with private states one set per image, summed here),
  and their total in bytes, plus for the shared run the state's own pool block.

  Output, parsed by bench/report.py:
    bench images mode=private|shared n=N live_pages=P live_bookkeeping=B rest_pages=P
          rest_bookkeeping=B state_bytes=S trimmed_pages=P failures=F
    bench done errors=E

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#include "images.h"
#include "util.h"

#ifndef WORKER_EFI
#error "WORKER_EFI: the path of the built images_worker.efi"
#endif

__asm__(".section .rdata,\"dr\"\n"
        ".p2align 4\n"
        "worker_image:\n"
        ".incbin \"" WORKER_EFI "\"\n"
        "worker_image_end:\n"
        ".text\n");
extern const UINT8 worker_image[], worker_image_end[];

#define IMAGES 8

typedef unsigned long long ull;

static EFI_GUID mWorkerGuid = BENCH_WORKER_GUID;
static UINT64 mErrors;

/* The library's bookkeeping over the images: one state's when they share it, else the sum. */
static UINT64 bookkeeping(BENCH_WORKER **workers, BOOLEAN shared) {
  UINT64 sum = 0;
  for (UINTN i = 0; i < (shared ? 1 : IMAGES); i++) {
    POOL_STATS s;
    workers[i]->Stats(&s);
    sum += s.BookkeepingBytes;
  }
  return sum;
}

/* The size the shared state's header gives (bytes 12..15), 0 without a state. */
static UINT32 shared_state_bytes(void) {
  EFI_GUID guid = UEFI_POOL_ALLOC_SHARED_STATE_GUID;
  const UINT8 *state = NULL;
  if (gBS->LocateProtocol(&guid, NULL, (VOID **)&state) != EFI_SUCCESS || state == NULL) {
    return 0;
  }
  return *(const UINT32 *)(state + 12);
}

static void run(UINT32 options) {
  BOOLEAN shared = (options & POOL_PRIVATE) == 0;
  EFI_HANDLE images[IMAGES];
  BENCH_WORKER *workers[IMAGES];
  MAP_SUMMARY before, live, rest, after;
  UINTN failures = 0;
  map_read(&before);
  for (UINTN i = 0; i < IMAGES; i++) {
    images[i] = NULL;
    EFI_STATUS status = gBS->LoadImage(FALSE, gImage, NULL, (VOID *)worker_image,
                                       (UINTN)(worker_image_end - worker_image), &images[i]);
    if (status != EFI_SUCCESS) {
      say("bench error LoadImage: %s", status_name(status));
      mErrors++;
      return;
    }
    EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
    EFI_LOADED_IMAGE_PROTOCOL *loaded = NULL;
    gBS->HandleProtocol(images[i], &loaded_image_guid, (VOID **)&loaded);
    loaded->LoadOptions = &options;
    loaded->LoadOptionsSize = sizeof options;
    status = gBS->StartImage(images[i], NULL, NULL);
    workers[i] = NULL;
    if (status == EFI_SUCCESS) {
      status = gBS->HandleProtocol(images[i], &mWorkerGuid, (VOID **)&workers[i]);
    }
    if (status != EFI_SUCCESS || workers[i]->InitStatus != EFI_SUCCESS) {
      say("bench error worker %u: %s", (UINT32)i, status_name(status));
      mErrors++;
      return;
    }
    failures += workers[i]->Failures;
  }
  map_read(&live);
  UINT64 live_bookkeeping = bookkeeping(workers, shared);
  for (UINTN i = 0; i < IMAGES; i++) {
    if (workers[i]->FreeAll() != EFI_SUCCESS) {
      say("bench error worker %u: a free was refused", (UINT32)i);
      mErrors++;
    }
  }
  map_read(&rest);
  UINT64 rest_bookkeeping = bookkeeping(workers, shared);
  UINTN trimmed = 0;
  for (UINTN i = 0; i < IMAGES; i++) {
    trimmed += workers[i]->Trim();
    gBS->UnloadImage(images[i]);
  }
  map_read(&after);
  if (after.OemPages != before.OemPages) {
    say("bench error %s: %llu pages of the workers' type left after unloading", shared ? "shared" : "private",
        (ull)(after.OemPages - before.OemPages));
    mErrors++;
  }
  say("bench images mode=%s n=%u live_pages=%llu live_bookkeeping=%llu rest_pages=%llu "
      "rest_bookkeeping=%llu state_bytes=%llu trimmed_pages=%llu failures=%llu",
      shared ? "shared" : "private", IMAGES, (ull)(live.OemPages - before.OemPages), (ull)live_bookkeeping,
      (ull)(rest.OemPages - before.OemPages), (ull)rest_bookkeeping,
      (ull)(shared ? shared_state_bytes() : 0), (ull)trimmed, (ull)failures);
  mErrors += failures;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  app_start(ImageHandle, SystemTable);
  say("bench meta images=%u blocks=%u size=%u align=%u", IMAGES, BENCH_WORKER_BLOCKS,
      BENCH_WORKER_SIZE, BENCH_WORKER_ALIGN);
  run(POOL_PRIVATE);
  run(0);
  say("bench done errors=%llu", (ull)mErrors);
  gST->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, NULL);
  return EFI_SUCCESS;
}
