/** @file
  A worker image of the one-allocator-per-boot benchmark (images.c): a boot service driver that
  links its own copy of uefi-pool-alloc, initialises it for BENCH_WORKER_TYPE, shared or private
  as its load options say (a UINT32 of pool_init_ex options), allocates W1 (10 000 blocks of
  64 B at alignment 32) and keeps them until the loader asks, through the protocol it installs
  on its image handle, for them to be freed. Unloading runs pool_fini.

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#include "images.h"

static EFI_GUID     mWorkerGuid = BENCH_WORKER_GUID;
static BENCH_WORKER mWorker;
static VOID         *mBlocks[BENCH_WORKER_BLOCKS];

static EFI_STATUS EFIAPI free_all(VOID) {
  EFI_STATUS status = EFI_SUCCESS;
  for (UINTN i = 0; i < BENCH_WORKER_BLOCKS; i++) {
    if (mBlocks[i] != NULL && pool_aligned_free(mBlocks[i]) != EFI_SUCCESS) {
      status = EFI_INVALID_PARAMETER;
    }
    mBlocks[i] = NULL;
  }
  return status;
}

static EFI_STATUS EFIAPI unload(EFI_HANDLE ImageHandle) {
  (void)ImageHandle;
  free_all();
  pool_fini();
  return EFI_SUCCESS;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
  EFI_LOADED_IMAGE_PROTOCOL *self = NULL;
  UINT32 options = 0;
  EFI_BOOT_SERVICES *bs = SystemTable->BootServices;
  if (bs->HandleProtocol(ImageHandle, &loaded_image_guid, (VOID **)&self) != EFI_SUCCESS) {
    return EFI_UNSUPPORTED;
  }
  if (self->LoadOptionsSize == sizeof options) {
    options = *(const UINT32 *)self->LoadOptions;
  }
  self->Unload = unload;
  mWorker.InitStatus = pool_init_ex(ImageHandle, SystemTable, BENCH_WORKER_TYPE, options);
  for (UINTN i = 0; i < BENCH_WORKER_BLOCKS; i++) {
    mBlocks[i] = pool_aligned_alloc(BENCH_WORKER_SIZE, BENCH_WORKER_ALIGN);
    mWorker.Failures += mBlocks[i] == NULL;
  }
  mWorker.FreeAll = free_all;
  mWorker.Stats = pool_stats;
  mWorker.Trim = pool_trim;
  EFI_HANDLE handle = ImageHandle;
  return bs->InstallProtocolInterface(&handle, &mWorkerGuid, 0, &mWorker);
}
