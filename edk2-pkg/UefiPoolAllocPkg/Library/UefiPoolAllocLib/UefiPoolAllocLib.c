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

#if !defined (MDEPKG_NDEBUG)

/**
  Makes a call the library refused for its arguments visible, as EDK2 does for a bad FreePool:
  a DEBUG_ERROR line naming the function and the pointer, then an ASSERT unless
  PcdUefiPoolAllocAssertOnInvalidCall is FALSE. Registered in DEBUG builds only.

  @param[in] Function  The library function that refused the call.
  @param[in] Pointer   The pointer it was given, or NULL.
**/
STATIC
VOID
EFIAPI
UefiPoolAllocLibInvalidCall (
  IN CONST CHAR8  *Function,
  IN VOID         *Pointer
  )
{
  DEBUG ((DEBUG_ERROR, "UefiPoolAllocLib: %a (%p): invalid call refused\n", Function, Pointer));
  if (FeaturePcdGet (PcdUefiPoolAllocAssertOnInvalidCall)) {
    ASSERT (FALSE);
  }
}

#endif

/**
  Initialises uefi-pool-alloc for this module: pool_init_ex with the module's image handle, its
  system table, PcdUefiPoolAllocMemoryType, PcdUefiPoolAllocPassThrough and
  PcdUefiPoolAllocPrivate; the module joins the boot's shared allocator state unless the last
  is TRUE. DEBUG builds also register the handler that reports invalid calls.

  @param[in] ImageHandle  The module's image handle.
  @param[in] SystemTable  The module's system table.

  @retval EFI_SUCCESS  The library is ready.
  @retval other        pool_init_ex failed (bad PcdUefiPoolAllocMemoryType, or CreateEvent failed);
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

  //
  // DEBUG builds with debug code enabled report invalid calls; RELEASE builds register nothing.
  // (Not DEBUG_CODE_BEGIN: EDK2 2022.11's trips clang 19's -Wunused-but-set-variable.)
  //
 #if !defined (MDEPKG_NDEBUG)
  if (DebugCodeEnabled ()) {
    pool_set_invalid_call_handler (UefiPoolAllocLibInvalidCall);
  }

 #endif

  Status = pool_init_ex (
             ImageHandle,
             SystemTable,
             PcdGet32 (PcdUefiPoolAllocMemoryType),
             (FeaturePcdGet (PcdUefiPoolAllocPassThrough) ? POOL_PASS_THROUGH : 0) |
             (FeaturePcdGet (PcdUefiPoolAllocPrivate) ? POOL_PRIVATE : 0)
             );
  if (EFI_ERROR (Status)) {
    DEBUG ((
      DEBUG_ERROR,
      "UefiPoolAllocLib: pool_init_ex (memory type 0x%x) failed: %r\n",
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
      "UefiPoolAllocLib: %Lu live blocks (%Lu bytes) in the %a allocator state at unload, peak %Lu bytes, "
      "%Lu bytes requested, %Lu failed requests, %Lu invalid calls\n",
      Stats.LiveBlocks,
      Stats.LiveBytes,
      FeaturePcdGet (PcdUefiPoolAllocPrivate) ? "module's private" : "boot's shared",
      Stats.PeakBytes,
      Stats.RequestedBytes,
      Stats.FailedRequests,
      Stats.InvalidCalls
      ));
    //
    // A shared state's blocks may be any module's, and outlive this one by design.
    //
    if (FeaturePcdGet (PcdUefiPoolAllocPrivate) && (Stats.LiveBlocks != 0)) {
      DEBUG ((DEBUG_WARN, "UefiPoolAllocLib: %Lu blocks not freed at unload\n", Stats.LiveBlocks));
    }
  }

  Status = pool_fini ();
  if (EFI_ERROR (Status) && (Status != EFI_NOT_STARTED)) {
    DEBUG ((DEBUG_WARN, "UefiPoolAllocLib: pool_fini: %r\n", Status));
  }

  return EFI_SUCCESS;
}
