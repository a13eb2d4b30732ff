/** @file
  UefiPoolAllocLib's C shim: the library constructor and destructor around the prebuilt
  uefi-pool-alloc Rust library (Prebuilt/), which provides every function of
  Library/UefiPoolAllocLib.h.

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#include <Uefi.h>
#include <Library/DebugLib.h>
#include <Library/PcdLib.h>
#include <Library/UefiPoolAllocLib.h>

//
// Written by scripts/edk2-refresh.sh together with the prebuilts. It names a symbol that only
// the prebuilts of that same refresh define: a prebuilt from another refresh (or copied by hand)
// fails to link instead of linking silently. Including it also makes this file, and so the
// library's archive, rebuild whenever the prebuilts change (BaseTools does not track
// SLINK_FLAGS inputs).
//
#include "Prebuilt/UefiPoolAllocPrebuilt.h"

extern CONST UINT8  UEFI_POOL_ALLOC_PREBUILT_ID[];

/**
  Initialises uefi-pool-alloc for this module: pool_init with the module's image handle, its
  system table and PcdUefiPoolAllocMemoryType.

  @param[in] ImageHandle  The module's image handle.
  @param[in] SystemTable  The module's system table.

  @retval EFI_SUCCESS  The library is ready.
  @retval other        pool_init failed (bad PcdUefiPoolAllocMemoryType, or CreateEvent failed);
                       allocation returns NULL.
**/
EFI_STATUS
EFIAPI
UefiPoolAllocLibConstructor (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  )
{
  EFI_STATUS  Status;

  //
  // A read the compiler cannot drop: the prebuilts' identity symbol must be linked.
  //
  if (*(volatile CONST UINT8 *)UEFI_POOL_ALLOC_PREBUILT_ID != UEFI_POOL_ALLOC_PREBUILT_ID_BYTE) {
    DEBUG ((DEBUG_ERROR, "UefiPoolAllocLib: prebuilt identity mismatch\n"));
    return EFI_INCOMPATIBLE_VERSION;
  }

  Status = pool_init (ImageHandle, SystemTable, PcdGet32 (PcdUefiPoolAllocMemoryType));
  if (EFI_ERROR (Status)) {
    DEBUG ((
      DEBUG_ERROR,
      "UefiPoolAllocLib: pool_init (memory type 0x%x) failed: %r\n",
      PcdGet32 (PcdUefiPoolAllocMemoryType),
      Status
      ));
  }

  return Status;
}

/**
  Undoes the constructor when the module unloads (pool_fini: the ExitBootServices event is
  closed, so no callback into the unloaded image remains). With PcdUefiPoolAllocStatistics, the
  allocation statistics are reported first.

  @param[in] ImageHandle  The module's image handle.
  @param[in] SystemTable  The module's system table.

  @retval EFI_SUCCESS  Always: blocks still live stay valid, and the library is inert after
                       ExitBootServices anyway.
**/
EFI_STATUS
EFIAPI
UefiPoolAllocLibDestructor (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  )
{
  POOL_STATS  Stats;
  EFI_STATUS  Status;

  if (FeaturePcdGet (PcdUefiPoolAllocStatistics) && !EFI_ERROR (pool_stats (&Stats))) {
    DEBUG ((
      DEBUG_INFO,
      "UefiPoolAllocLib: %Lu live blocks (%Lu bytes), peak %Lu bytes, %Lu bytes requested, "
      "%Lu failed requests, %Lu invalid calls\n",
      Stats.LiveBlocks,
      Stats.LiveBytes,
      Stats.PeakBytes,
      Stats.RequestedBytes,
      Stats.FailedRequests,
      Stats.InvalidCalls
      ));
    if (Stats.LiveBlocks != 0) {
      DEBUG ((DEBUG_WARN, "UefiPoolAllocLib: %Lu blocks not freed at unload\n", Stats.LiveBlocks));
    }
  }

  Status = pool_fini ();
  if (EFI_ERROR (Status) && (Status != EFI_NOT_STARTED)) {
    DEBUG ((DEBUG_WARN, "UefiPoolAllocLib: pool_fini: %r\n", Status));
  }

  return EFI_SUCCESS;
}
