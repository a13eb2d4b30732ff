/** @file
  Entry point of the EDK2 build of the firmware test. It adds what only an EDK2 build can show,
  then runs the shared test (tests/uefi/c, through Shared/) unchanged:

  1. The UefiPoolAllocLib constructor ran before this entry point: pool_init answers
     EFI_ALREADY_STARTED. pool_fini then returns the library to the state the shared test starts
     from (uninitialised, no statistics moved), so its checks are exactly those of the
     clang-built app.
  2. The driver path: UefiPoolAllocSampleDriver.efi, a UEFI_DRIVER using the library through its
     constructor with its own PcdUefiPoolAllocMemoryType, is loaded from a file system
     (gBS->LoadImage/StartImage), its self-test results and its allocations are checked through
     the protocol it installs, and it is unloaded (its library destructor runs).

  Every check goes through the shared report.c, so the closing "N passed, M failed" line counts
  these too.

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#include <Uefi.h>
#include <Protocol/SimpleFileSystem.h>
#include <Library/DevicePathLib.h>
#include <Library/MemoryAllocationLib.h>
#include <Library/UefiPoolAllocLib.h>

#include "Shared/util.h"
#include "../Include/UefiPoolAllocSampleProtocol.h"

#define SAMPLE_DRIVER_FILE  L"\\UefiPoolAllocSampleDriver.efi"

STATIC EFI_GUID  mSampleProtocolGuid = UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_GUID;

/**
  Checks that the library constructor initialised the library, then uninitialises it.

  @param[in] ImageHandle  The application's image handle.
  @param[in] SystemTable  The system table.
**/
STATIC
VOID
CheckConstructor (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  )
{
  POOL_STATS  Before;
  POOL_STATS  After;

  pool_stats (&Before);
  check_status (
    pool_init (ImageHandle, SystemTable, POOL_MEMORY_TYPE_DEFAULT),
    EFI_ALREADY_STARTED,
    "EDK2: the UefiPoolAllocLib constructor initialised the library (pool_init: EFI_ALREADY_STARTED)"
    );
  check_status (pool_fini (), EFI_SUCCESS, "EDK2: pool_fini undoes the constructor's pool_init");
  pool_stats (&After);
  check (
    stats_equal (&Before, &After) && After.LiveBlocks == 0 && After.RequestedBytes == 0,
    "EDK2: the constructor allocated nothing, the statistics are untouched",
    stats_diff (&Before, &After)
    );
}

/**
  Loads the sample driver from the first file system that has it.

  @param[in]  ImageHandle  The application's image handle (the parent).
  @param[out] Driver       The driver's image handle.

  @return  The status of the last LoadImage, or EFI_NOT_FOUND without file systems.
**/
STATIC
EFI_STATUS
LoadSampleDriver (
  IN  EFI_HANDLE  ImageHandle,
  OUT EFI_HANDLE  *Driver
  )
{
  EFI_STATUS                Status;
  EFI_HANDLE                *Handles;
  UINTN                     Count;
  UINTN                     Index;
  EFI_DEVICE_PATH_PROTOCOL  *Path;

  //
  // The firmware connects the boot device only when it boots a file from it directly: connect
  // every controller, so that the file systems of the other disks appear.
  //
  Status = gBS->LocateHandleBuffer (AllHandles, NULL, NULL, &Count, &Handles);
  if (!EFI_ERROR (Status)) {
    for (Index = 0; Index < Count; Index++) {
      gBS->ConnectController (Handles[Index], NULL, NULL, TRUE);
    }

    FreePool (Handles);
  }

  Status = gBS->LocateHandleBuffer (ByProtocol, &gEfiSimpleFileSystemProtocolGuid, NULL, &Count, &Handles);
  if (EFI_ERROR (Status)) {
    return EFI_NOT_FOUND;
  }

  info ("%u file systems", (UINT32)Count);

  Status = EFI_NOT_FOUND;
  for (Index = 0; Index < Count; Index++) {
    Path = FileDevicePath (Handles[Index], SAMPLE_DRIVER_FILE);
    if (Path == NULL) {
      continue;
    }

    *Driver = NULL;
    Status  = gBS->LoadImage (FALSE, ImageHandle, Path, NULL, 0, Driver);
    FreePool (Path);
    if (!EFI_ERROR (Status)) {
      break;
    }
  }

  FreePool (Handles);
  return Status;
}

/**
  The driver path: load, start, use and unload the sample driver.

  @param[in] ImageHandle  The application's image handle.
**/
STATIC
VOID
CheckDriver (
  IN EFI_HANDLE  ImageHandle
  )
{
  EFI_STATUS                       Status;
  EFI_HANDLE                       Driver;
  UEFI_POOL_ALLOC_SAMPLE_PROTOCOL  *Sample;
  POOL_STATS                       Start;
  POOL_STATS                       Now;
  UINT8                            *Small;
  UINT8                            *Paged;
  UINT32                           SmallType;
  UINT32                           PagedType;
  VOID                             *Interface;

  Status = LoadSampleDriver (ImageHandle, &Driver);
  if (!check (
         Status == EFI_SUCCESS,
         "EDK2 driver: gBS->LoadImage loads UefiPoolAllocSampleDriver.efi from a file system",
         status_name (Status)
         ))
  {
    return;
  }

  check_status (gBS->StartImage (Driver, NULL, NULL), EFI_SUCCESS, "EDK2 driver: gBS->StartImage runs it");
  Sample = NULL;
  Status = gBS->LocateProtocol (&mSampleProtocolGuid, NULL, (VOID **)&Sample);
  if (!check (
         Status == EFI_SUCCESS && Sample != NULL && Sample->Revision == UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_REVISION,
         "EDK2 driver: its protocol is installed",
         status_name (Status)
         ))
  {
    gBS->UnloadImage (Driver);
    return;
  }

  info (
    "sample driver: PcdUefiPoolAllocMemoryType %s, self-test %u passed, %u failed",
    memory_type_name (Sample->MemoryType),
    Sample->SelfTestPassed,
    Sample->SelfTestFailed
    );
  check (
    Sample->SelfTestPassed > 0 && Sample->SelfTestFailed == 0,
    "EDK2 driver: its allocations through the library, at its entry point, all passed",
    S ("%u passed, %u failed", Sample->SelfTestPassed, Sample->SelfTestFailed)
    );

  Sample->Stats (&Start);
  Small     = Sample->AlignedAlloc (100, 64);
  Paged     = Sample->AlignedAlloc (3 * 4096, 4096);
  SmallType = map_type_of (Small);
  PagedType = map_type_of (Paged);
  check (
    Small != NULL && Paged != NULL && is_aligned (Small, 64) && is_aligned (Paged, 4096),
    "EDK2 driver: its pool_aligned_alloc returns aligned blocks (64 B pool, 4 KiB pages)",
    S ("%p %p", Small, Paged)
    );
  check (
    Sample->MemoryType != EfiBootServicesData && SmallType == Sample->MemoryType && PagedType == Sample->MemoryType,
    "EDK2 driver: its blocks have the memory type of its PCD override, not the default",
    S ("%s and %s, PCD %s", memory_type_name (SmallType), memory_type_name (PagedType), memory_type_name (Sample->MemoryType))
    );
  Sample->Stats (&Now);
  check (
    Now.LiveBlocks == Start.LiveBlocks + 2 && Now.LiveBytes == Start.LiveBytes + 100 + 3 * 4096,
    "EDK2 driver: its statistics count the two blocks",
    stats_diff (&Start, &Now)
    );
  check (
    Sample->AlignedFree (Small) == EFI_SUCCESS && Sample->AlignedFree (Paged) == EFI_SUCCESS,
    "EDK2 driver: its pool_aligned_free frees them",
    NULL
    );
  Sample->Stats (&Now);
  check (Now.LiveBlocks == 0 && Now.LiveBytes == 0, "EDK2 driver: nothing left allocated", stats_diff (&Start, &Now));

  check_status (gBS->UnloadImage (Driver), EFI_SUCCESS, "EDK2 driver: gBS->UnloadImage unloads it (library destructor: pool_fini)");
  check (
    gBS->LocateProtocol (&mSampleProtocolGuid, NULL, &Interface) == EFI_NOT_FOUND,
    "EDK2 driver: its protocol is gone after unload",
    NULL
    );
}

/**
  The application's entry point (the INF's ENTRY_POINT): EDK2-specific checks, then the shared
  test, which ends with ResetSystem.

  @param[in] ImageHandle  The application's image handle.
  @param[in] SystemTable  The system table.

  @return  Does not return.
**/
EFI_STATUS
EFIAPI
UefiPoolAllocTestMain (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  )
{
  //
  // The shared test's globals (EdkCompat.h renames gST/gBS to them): its helpers used here
  // (map_type_of) need them before efi_main sets them again.
  //
  gImage = ImageHandle;
  gST    = SystemTable;
  gBS    = SystemTable->BootServices;
  gBS->SetWatchdogTimer (0, 0, 0, NULL);

  say ("");
  say ("uefi-pool-alloc EDK2 checks");
  CheckConstructor (ImageHandle, SystemTable);
  CheckDriver (ImageHandle);

  return efi_main (ImageHandle, SystemTable);
}
