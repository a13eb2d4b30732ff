/** @file
  Entry point of the EDK2 build of the firmware test. It adds what only an EDK2 build can show,
  then runs the shared test (tests/uefi/c, through Shared/) unchanged:

  1. The UefiPoolAllocLib constructor ran before this entry point: pool_init answers
     EFI_ALREADY_STARTED. pool_fini then returns the library to the state the shared test starts
     from (uninitialised, no statistics moved), so its checks are exactly those of the
     clang-built app.
  2. The driver path, for each module type the library serves besides applications: the sample
     driver built as a UEFI_DRIVER, a DXE_DRIVER and a DXE_RUNTIME_DRIVER, each using the library
     through its constructor with its own PcdUefiPoolAllocMemoryType, is loaded from a file
     system (gBS->LoadImage/StartImage), its self-test results and its allocations (their memory
     type in the memory map among them) are checked through the protocol it installs on its image
     handle, and it is unloaded (its library destructor runs).
  3. The invalid-call handler the constructor registers in DEBUG builds, and only there.

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

STATIC EFI_GUID  mSampleProtocolGuid = UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_GUID;

typedef struct {
  CONST CHAR8     *ModuleType;
  CONST CHAR16    *File;
  /// The memory type the platform DSC gives the driver's blocks.
  UINT32          MemoryType;
  /// Its PcdUefiPoolAllocPassThrough.
  BOOLEAN         PassThrough;
} SAMPLE_DRIVER;

STATIC CONST SAMPLE_DRIVER  mSampleDrivers[] = {
  { "UEFI_DRIVER",        L"\\UefiPoolAllocSampleDriver.efi",     EfiLoaderData,          TRUE  },
  { "DXE_DRIVER",         L"\\UefiPoolAllocSampleDxe.efi",        EfiBootServicesData,    FALSE },
  { "DXE_RUNTIME_DRIVER", L"\\UefiPoolAllocSampleRuntimeDxe.efi", EfiRuntimeServicesData, FALSE },
};

//
// Whether this build reports invalid calls: DEBUG builds (debug code enabled) do.
//
#if defined (MDEPKG_NDEBUG)
#define INVALID_CALLS_REPORTED  FALSE
#else
#define INVALID_CALLS_REPORTED  TRUE
#endif

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
  Checks that the library constructor registered its invalid-call handler in DEBUG builds and
  none in RELEASE builds.
**/
STATIC
VOID
CheckInvalidCallHandler (
  VOID
  )
{
  POOL_INVALID_CALL_HANDLER  Handler;

  Handler = pool_set_invalid_call_handler (NULL);
  pool_set_invalid_call_handler (Handler);
  check (
    (Handler != NULL) == INVALID_CALLS_REPORTED,
    INVALID_CALLS_REPORTED
    ? "EDK2: DEBUG build: the constructor registered the invalid-call handler (DEBUG_ERROR, ASSERT per PCD)"
    : "EDK2: RELEASE build: no invalid-call handler, nothing reported",
    S ("handler %p", (VOID *)Handler)
    );
}

/**
  Loads a sample driver from the first file system that has it.

  @param[in]  ImageHandle  The application's image handle (the parent).
  @param[in]  File         The driver's file name.
  @param[out] Driver       The driver's image handle.

  @return  The status of the last LoadImage, or EFI_NOT_FOUND without file systems.
**/
STATIC
EFI_STATUS
LoadSampleDriver (
  IN  EFI_HANDLE    ImageHandle,
  IN  CONST CHAR16  *File,
  OUT EFI_HANDLE    *Driver
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
    Path = FileDevicePath (Handles[Index], File);
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
  The driver path of one module type: load, start, use and unload a sample driver.

  @param[in] ImageHandle  The application's image handle.
  @param[in] Sample       The driver.
**/
STATIC
VOID
CheckDriver (
  IN EFI_HANDLE           ImageHandle,
  IN CONST SAMPLE_DRIVER  *Sample
  )
{
  EFI_STATUS                       Status;
  EFI_HANDLE                       Driver;
  UEFI_POOL_ALLOC_SAMPLE_PROTOCOL  *Protocol;
  POOL_STATS                       Start;
  POOL_STATS                       Now;
  UINT8                            *Small;
  UINT8                            *Paged;
  UINT32                           SmallType;
  UINT32                           PagedType;
  VOID                             *Interface;
  CONST CHAR8                      *Type;

  Type   = Sample->ModuleType;
  Status = LoadSampleDriver (ImageHandle, Sample->File, &Driver);
  if (!check (
         Status == EFI_SUCCESS,
         S ("EDK2 %s: gBS->LoadImage loads it from a file system", Type),
         status_name (Status)
         ))
  {
    return;
  }

  check_status (gBS->StartImage (Driver, NULL, NULL), EFI_SUCCESS, S ("EDK2 %s: gBS->StartImage runs it", Type));
  Protocol = NULL;
  Status   = gBS->HandleProtocol (Driver, &mSampleProtocolGuid, (VOID **)&Protocol);
  if (!check (
         Status == EFI_SUCCESS && Protocol != NULL && Protocol->Revision == UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_REVISION,
         S ("EDK2 %s: its protocol is installed on its image handle", Type),
         status_name (Status)
         ))
  {
    gBS->UnloadImage (Driver);
    return;
  }

  info (
    "%s: PcdUefiPoolAllocMemoryType %s, self-test %u passed, %u failed",
    Type,
    memory_type_name (Protocol->MemoryType),
    Protocol->SelfTestPassed,
    Protocol->SelfTestFailed
    );
  check (
    Protocol->SelfTestPassed > 0 && Protocol->SelfTestFailed == 0,
    S ("EDK2 %s: its allocations through the library, at its entry point, all passed", Type),
    S ("%u passed, %u failed", Protocol->SelfTestPassed, Protocol->SelfTestFailed)
    );
  check (
    Protocol->InvalidCallHandler == INVALID_CALLS_REPORTED,
    S ("EDK2 %s: its constructor registered the invalid-call handler in DEBUG builds only", Type),
    S ("registered: %u", Protocol->InvalidCallHandler)
    );

  Protocol->Stats (&Start);
  Small     = Protocol->AlignedAlloc (100, 64);
  Paged     = Protocol->AlignedAlloc (3 * 4096, 4096);
  SmallType = map_type_of (Small);
  PagedType = map_type_of (Paged);
  check (
    Small != NULL && Paged != NULL && is_aligned (Small, 64) && is_aligned (Paged, 4096),
    S ("EDK2 %s: its pool_aligned_alloc returns aligned blocks (64 B pool, 4 KiB pages)", Type),
    S ("%p %p", Small, Paged)
    );
  check (
    Protocol->MemoryType == Sample->MemoryType && SmallType == Sample->MemoryType && PagedType == Sample->MemoryType,
    S ("EDK2 %s: its blocks are %s in the memory map, as its PCD says", Type, memory_type_name (Sample->MemoryType)),
    S ("%s and %s, PCD %s", memory_type_name (SmallType), memory_type_name (PagedType), memory_type_name (Protocol->MemoryType))
    );
  Protocol->Stats (&Now);
  check (
    Now.LiveBlocks == Start.LiveBlocks + 2 && Now.LiveBytes == Start.LiveBytes + 100 + 3 * 4096,
    S ("EDK2 %s: its statistics count the two blocks", Type),
    stats_diff (&Start, &Now)
    );
  check (
    (Now.FrontPages != 0) != Sample->PassThrough,
    Sample->PassThrough
    ? S ("EDK2 %s: PcdUefiPoolAllocPassThrough TRUE: its 100-byte block came from the firmware, no front page", Type)
    : S ("EDK2 %s: its 100-byte block came from the small-block front", Type),
    S ("FrontPages %llu", (unsigned long long)Now.FrontPages)
    );
  check (
    Protocol->AlignedFree (Small) == EFI_SUCCESS && Protocol->AlignedFree (Paged) == EFI_SUCCESS,
    S ("EDK2 %s: its pool_aligned_free frees them", Type),
    NULL
    );
  Protocol->Stats (&Now);
  check (Now.LiveBlocks == 0 && Now.LiveBytes == 0, S ("EDK2 %s: nothing left allocated", Type), stats_diff (&Start, &Now));

  check_status (
    gBS->UnloadImage (Driver),
    EFI_SUCCESS,
    S ("EDK2 %s: gBS->UnloadImage unloads it (library destructor: pool_fini)", Type)
    );
  check (
    gBS->LocateProtocol (&mSampleProtocolGuid, NULL, &Interface) == EFI_NOT_FOUND,
    S ("EDK2 %s: its protocol is gone after unload", Type),
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
  UINTN  Index;

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
  CheckInvalidCallHandler ();
  for (Index = 0; Index < ARRAY_SIZE (mSampleDrivers); Index++) {
    CheckDriver (ImageHandle, &mSampleDrivers[Index]);
  }

  return efi_main (ImageHandle, SystemTable);
}
