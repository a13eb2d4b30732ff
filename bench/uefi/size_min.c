/** @file
  The smallest use of uefi-pool-alloc's C API: initialise, allocate one aligned block, free it.
  scripts/bench.sh links it only to read, from lld-link's map, how much code the library adds
  to an image that needs nothing else (docs/benchmarks.md, *Code size*).
**/

#include "uefi_pool_alloc.h"

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  EFI_STATUS status = pool_init(ImageHandle, SystemTable, POOL_MEMORY_TYPE_DEFAULT);
  if (status != 0) {
    return status;
  }
  return pool_aligned_free(pool_aligned_alloc(64, 64));
}
