/** @file
  Entry point of the EDK2 build of the firmware test. It adds what only an EDK2 build can show,
  then runs the shared test (tests/uefi/c, through Shared/) unchanged:

  1. The UefiPoolAllocLib constructor ran before this entry point: pool_init answers
     EFI_ALREADY_STARTED. pool_fini (after the driver checks) then returns the library to the
     state the shared test starts from (uninitialised, no statistics moved), so its checks are
     exactly those of the clang-built app.
  2. The driver path, for each module type the library serves besides applications: the sample
     driver built as a UEFI_DRIVER, a DXE_DRIVER and a DXE_RUNTIME_DRIVER, each using the library
     through its constructor with its own PcdUefiPoolAllocMemoryType, is loaded from a file
     system (gBS->LoadImage/StartImage), its self-test results and its allocations (their memory
     type in the memory map among them) are checked through the protocol it installs on its image
     handle, and it is unloaded (its library destructor runs).
  3. One allocator per boot: with each driver, blocks of every path (front, pool, pages) change
     hands between the driver's copy of the library and the application's: each frees,
     shrinks, reallocates and queries the other's; a driver unloads while its blocks live on
     and the application frees them after; a private driver (PcdUefiPoolAllocPrivate) and the
     application refuse each other's blocks without harm; a state of another layout, installed
     under the same GUID, is left untouched; and once the drivers are gone and idle pages
     trimmed, the memory map is as it was before the first driver loaded.
  4. The invalid-call handler the constructor registers in DEBUG builds, and only there.

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
STATIC EFI_GUID  mSharedStateGuid    = UEFI_POOL_ALLOC_SHARED_STATE_GUID;

typedef struct {
  CONST CHAR8     *ModuleType;
  CONST CHAR16    *File;
  /// The memory type the platform DSC gives the driver's blocks.
  UINT32          MemoryType;
  /// Its PcdUefiPoolAllocPassThrough.
  BOOLEAN         PassThrough;
  /// Its PcdUefiPoolAllocPrivate.
  BOOLEAN         Private;
} SAMPLE_DRIVER;

STATIC CONST SAMPLE_DRIVER  mSampleDrivers[] = {
  { "UEFI_DRIVER",         L"\\UefiPoolAllocSampleDriver.efi",     EfiLoaderData,          TRUE,  FALSE },
  { "DXE_DRIVER",          L"\\UefiPoolAllocSampleDxe.efi",        EfiBootServicesData,    FALSE, FALSE },
  { "DXE_RUNTIME_DRIVER",  L"\\UefiPoolAllocSampleRuntimeDxe.efi", EfiRuntimeServicesData, FALSE, FALSE },
  { "private DXE_DRIVER",  L"\\UefiPoolAllocSamplePrivateDxe.efi", EfiBootServicesData,    FALSE, TRUE  },
};

//
// (Size, Align) of a block of each path: the small-block front, the pool path, the page path.
//
STATIC CONST UINTN  mShapes[3][2] = {
  { 100,      64   },
  { 3000,     16   },
  { 3 * 4096, 4096 },
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
    stats_equal (&Before, &After) && After.LiveBlocks == 0,
    "EDK2: nothing is left allocated, and pool_fini changes no statistic",
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
  Connects every controller: the firmware connects the boot device only when it boots a file
  from it directly, and the sample drivers are on another disk.
**/
STATIC
VOID
ConnectAll (
  VOID
  )
{
  EFI_HANDLE  *Handles;
  UINTN       Count;
  UINTN       Index;

  if (!EFI_ERROR (gBS->LocateHandleBuffer (AllHandles, NULL, NULL, &Count, &Handles))) {
    for (Index = 0; Index < Count; Index++) {
      gBS->ConnectController (Handles[Index], NULL, NULL, TRUE);
    }

    FreePool (Handles);
  }
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
  Whether a block still holds the pattern pattern_fill wrote.

  @param[in] Block  The block.
  @param[in] Size   Bytes to check.
  @param[in] Seed   The pattern's seed.

  @retval TRUE   Every byte is as written.
  @retval FALSE  A byte differs.
**/
STATIC
BOOLEAN
Intact (
  IN CONST VOID  *Block,
  IN UINTN       Size,
  IN UINT64      Seed
  )
{
  return pattern_find_error (Block, Size, Seed) == MAX_UINTN;
}

/**
  One allocator per boot, between the application and a sample driver: blocks of every path
  that one allocates, the other queries, shrinks, reallocates and frees; for a private driver,
  each refuses the other's blocks and leaves them intact.

  @param[in]  Type      The driver's module type, for the report.
  @param[in]  Protocol  The driver's protocol.
  @param[out] Orphans   Blocks of every path the driver allocated and left live, for the
                        application to free after the driver unloads (NULL for a private
                        driver).
**/
STATIC
VOID
CheckSharing (
  IN  CONST CHAR8                      *Type,
  IN  UEFI_POOL_ALLOC_SAMPLE_PROTOCOL  *Protocol,
  OUT UINT8                            *Orphans[3]
  )
{
  UINTN       Index;
  UINTN       Size;
  UINTN       Align;
  UINT8       *Theirs;
  UINT8       *Ours;
  UINT8       *Moved;
  UINTN       Usable;
  POOL_STATS  Mine;
  POOL_STATS  Driver;
  MAP_SUMMARY Before;
  MAP_SUMMARY After;
  CONST CHAR8 *Why;
  BOOLEAN     Same;

  for (Index = 0; Index < 3; Index++) {
    Orphans[Index] = NULL;
  }

  pool_trim ();
  map_read (&Before);

  for (Index = 0; Index < 3; Index++) {
    Size   = mShapes[Index][0];
    Align  = mShapes[Index][1];
    Theirs = Protocol->AlignedAlloc (Size, Align);
    Ours   = pool_aligned_alloc (Size, Align);
    if (!check (Theirs != NULL && Ours != NULL, S ("EDK2 %s: sharing: a block of %u B at %u each", Type, (UINT32)Size, (UINT32)Align), NULL)) {
      return;
    }

    pattern_fill (Theirs, Size, 0x5A0 + Index);
    pattern_fill (Ours, Size, 0xA50 + Index);
    if (Protocol->Private) {
      check (
        pool_usable_size (Theirs) == 0 && pool_aligned_realloc (Theirs, 2 * Size) == NULL &&
        pool_aligned_free (Theirs) == EFI_INVALID_PARAMETER && Intact (Theirs, Size, 0x5A0 + Index),
        S ("EDK2 %s: the application refuses the private driver's block of %u B at %u, which stays intact", Type, (UINT32)Size, (UINT32)Align),
        NULL
        );
      check (
        Protocol->UsableSize (Ours) == 0 && Protocol->AlignedFree (Ours) == EFI_INVALID_PARAMETER && Intact (Ours, Size, 0xA50 + Index),
        S ("EDK2 %s: the private driver refuses the application's block of %u B at %u, which stays intact", Type, (UINT32)Size, (UINT32)Align),
        NULL
        );
      check (
        Protocol->AlignedFree (Theirs) == EFI_SUCCESS && pool_aligned_free (Ours) == EFI_SUCCESS,
        S ("EDK2 %s: each frees its own block of %u B at %u", Type, (UINT32)Size, (UINT32)Align),
        NULL
        );
      continue;
    }

    Usable = pool_usable_size (Theirs);
    check (
      Usable >= Size && Usable == Protocol->UsableSize (Theirs) && Protocol->UsableSize (Ours) == pool_usable_size (Ours),
      S ("EDK2 %s: sharing: each gives the other's block of %u B at %u its usable size", Type, (UINT32)Size, (UINT32)Align),
      S ("%u", (UINT32)Usable)
      );
    check (
      pool_shrink (Theirs, Size, Size / 2) && Intact (Theirs, Size / 2, 0x5A0 + Index),
      S ("EDK2 %s: sharing: the application shrinks the driver's block of %u B at %u in place", Type, (UINT32)Size, (UINT32)Align),
      NULL
      );
    Moved = pool_aligned_realloc (Theirs, 2 * Size);
    check (
      Moved != NULL && is_aligned (Moved, Align) && Intact (Moved, Size / 2, 0x5A0 + Index),
      S ("EDK2 %s: sharing: the application reallocates the driver's block of %u B at %u, contents and alignment kept", Type, (UINT32)Size, (UINT32)Align),
      S ("%p", Moved)
      );
    check (
      Moved != NULL && pool_aligned_free (Moved) == EFI_SUCCESS && Protocol->AlignedFree (Ours) == EFI_SUCCESS,
      S ("EDK2 %s: sharing: each frees the other's block of %u B at %u", Type, (UINT32)Size, (UINT32)Align),
      NULL
      );
    //
    // Through the application only: the DXE_DRIVER ASSERTs on invalid calls (its one ASSERT is
    // its self-test's).
    //
    check (
      pool_aligned_free (Moved) == EFI_INVALID_PARAMETER && pool_aligned_free (Ours) == EFI_INVALID_PARAMETER,
      S ("EDK2 %s: sharing: a second free of a block the driver freed, or of its own, is refused", Type),
      NULL
      );
  }

  pool_trim ();
  map_read (&After);
  Same = map_same (&Before, &After, &Why);
  //
  // U-Boot's map loses conventional pages that no type holds (as in test_random.c's check).
  //
  if (!Same && (map_pages_vanished (&Before, &After) > 0) && firmware_vendor_is (L"Das U-Boot")) {
    info ("EDK2 %s: U-Boot's memory map lost %u conventional pages that no type holds", Type, (UINT32)map_pages_vanished (&Before, &After));
    Same = TRUE;
  }

  check (
    Same,
    S ("EDK2 %s: the memory map is as before the blocks changed hands, once pool_trim gave idle pages back", Type),
    Why
    );

  pool_stats (&Mine);
  Protocol->Stats (&Driver);
  check (
    stats_equal (&Mine, &Driver) != Protocol->Private,
    Protocol->Private
    ? S ("EDK2 %s: the private driver's pool_stats are its own", Type)
    : S ("EDK2 %s: sharing: the driver's pool_stats and the application's are one", Type),
    stats_diff (&Mine, &Driver)
    );

  for (Index = 0; Index < 3; Index++) {
    if (!Protocol->Private) {
      Orphans[Index] = Protocol->AlignedAlloc (mShapes[Index][0], mShapes[Index][1]);
      if (Orphans[Index] != NULL) {
        pattern_fill (Orphans[Index], mShapes[Index][0], 0x0F0 + Index);
      }
    }
  }
}

/**
  Frees, after their driver unloaded, the blocks CheckSharing left live.

  @param[in] Type     The driver's module type, for the report.
  @param[in] Orphans  The blocks (all NULL for a private driver).
**/
STATIC
VOID
FreeOrphans (
  IN CONST CHAR8  *Type,
  IN UINT8        *Orphans[3]
  )
{
  UINTN    Index;
  BOOLEAN  Ok;

  if (Orphans[0] == NULL) {
    return;
  }

  Ok = TRUE;
  for (Index = 0; Index < 3; Index++) {
    Ok = Ok && Orphans[Index] != NULL && Intact (Orphans[Index], mShapes[Index][0], 0x0F0 + Index) &&
         pool_aligned_free (Orphans[Index]) == EFI_SUCCESS;
  }

  check (Ok, S ("EDK2 %s: sharing: after it unloaded, the application frees its live blocks of every path, intact", Type), NULL);
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
  UINT8                            *Orphans[3];

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
  //
  // Bytes of the front's pages in live blocks: a front block adds its class size (128).
  //
  check (
    (Now.FrontPages * 4096 - Now.FrontIdleBytes > Start.FrontPages * 4096 - Start.FrontIdleBytes) != Sample->PassThrough,
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
  check (
    Now.LiveBlocks == Start.LiveBlocks && Now.LiveBytes == Start.LiveBytes,
    S ("EDK2 %s: nothing left allocated", Type),
    stats_diff (&Start, &Now)
    );
  check (Protocol->Private == Sample->Private, S ("EDK2 %s: PcdUefiPoolAllocPrivate %u", Type, Sample->Private), NULL);
  CheckSharing (Type, Protocol, Orphans);

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
  FreeOrphans (Type, Orphans);
}

/**
  Which memory type, if any, holds more pages in one memory map summary than in another.

  @param[in] Before  The earlier summary.
  @param[in] After   The later summary.
  @param[in] Except  A type not compared (EfiMaxMemoryType: none).

  @return  NULL if no type but EfiConventionalMemory and Except gained pages; else which did.
**/
STATIC
CONST CHAR8 *
MapGained (
  IN CONST MAP_SUMMARY  *Before,
  IN CONST MAP_SUMMARY  *After,
  IN UINT32             Except
  )
{
  UINT32  Type;

  if ((Before->Status != EFI_SUCCESS) || (After->Status != EFI_SUCCESS)) {
    return "GetMemoryMap failed";
  }

  for (Type = 0; Type < MAP_TYPES; Type++) {
    if ((Type != EfiConventionalMemory) && (Type != Except) && (After->Pages[Type] > Before->Pages[Type])) {
      return S ("%s pages %llu->%llu", memory_type_name (Type), (unsigned long long)Before->Pages[Type], (unsigned long long)After->Pages[Type]);
    }
  }

  if ((After->OemPages > Before->OemPages) || (After->OtherPages > Before->OtherPages)) {
    return "OEM or other pages gained";
  }

  return NULL;
}

/**
  Every sample driver in turn, with a state of another layout installed beside the boot's under
  the shared-state GUID; then the memory map, which must be as before the first driver loaded.

  @param[in] ImageHandle  The application's image handle.
**/
STATIC
VOID
CheckDrivers (
  IN EFI_HANDLE  ImageHandle
  )
{
  STATIC UINT8  Foreign[64];
  EFI_HANDLE    ForeignHandle;
  EFI_HANDLE    *Handles;
  UINTN         Count;
  UINTN         Index;
  MAP_SUMMARY   Before;
  MAP_SUMMARY   Around;
  MAP_SUMMARY   After;
  CONST CHAR8   *Why;
  CONST CHAR8   *Type;
  CONST CHAR8   *Gained;
  BOOLEAN       Runtime;
  BOOLEAN       Untouched;
  EFI_HANDLE    Driver;
  POOL_STATS    Start;
  POOL_STATS    End;

  //
  // What a copy of the library with another layout would have published: the signature, then
  // layout version 0xFFFF and a size that are not this library's.
  //
  for (Index = 0; Index < sizeof Foreign; Index++) {
    Foreign[Index] = Index < 8 ? "UPASTATE"[Index] : 0xA5;
  }

  *(UINT32 *)(Foreign + 8)  = 0xFFFF;
  *(UINT32 *)(Foreign + 12) = sizeof Foreign;
  ForeignHandle             = NULL;
  check_status (
    gBS->InstallProtocolInterface (&ForeignHandle, &mSharedStateGuid, EFI_NATIVE_INTERFACE, Foreign),
    EFI_SUCCESS,
    "EDK2: a state of another layout version installed under UEFI_POOL_ALLOC_SHARED_STATE_GUID"
    );

  //
  // The first image loaded from the drivers' disk makes the firmware take memory for itself
  // (5 or 6 pages of EfiBootServicesData): load each one once, without starting it (its library
  // constructor does not run), before the memory map is read.
  //
  ConnectAll ();
  for (Index = 0; Index < ARRAY_SIZE (mSampleDrivers); Index++) {
    if (!EFI_ERROR (LoadSampleDriver (ImageHandle, mSampleDrivers[Index].File, &Driver))) {
      gBS->UnloadImage (Driver);
    }
  }

  pool_trim ();
  pool_stats (&Start);
  map_read (&Before);
  for (Index = 0; Index < ARRAY_SIZE (mSampleDrivers); Index++) {
    Type = mSampleDrivers[Index].ModuleType;
    map_read (&Around);
    CheckDriver (ImageHandle, &mSampleDrivers[Index]);
    pool_trim ();
    map_read (&After);
    //
    // Loading and unloading an image moves the firmware's own EfiBootServicesData (its pool,
    // and page tables in strict-NX builds: one page seen), and the firmware keeps
    // RuntimeServicesData of an unloaded runtime driver (96 pages on AArch64): those are not
    // compared here. The library's pages of those types are checked while the driver is loaded
    // (CheckSharing) and by the statistics once every driver is gone.
    //
    Runtime = mSampleDrivers[Index].MemoryType == EfiRuntimeServicesData;
    After.Pages[EfiBootServicesData] = Around.Pages[EfiBootServicesData];
    Gained                           = MapGained (&Around, &After, Runtime ? EfiRuntimeServicesData : EfiMaxMemoryType);
    check (
      Gained == NULL,
      S ("EDK2 %s: after it unloaded and the application freed its last blocks, no memory type holds more pages than before it loaded (the firmware's %s aside)", Type, Runtime ? "BootServicesData and RuntimeServicesData" : "BootServicesData"),
      Gained
      );
  }

  pool_trim ();
  pool_stats (&End);
  check (
    End.LiveBlocks == Start.LiveBlocks && End.LiveBytes == Start.LiveBytes && End.FrontPages == 0 && End.BookkeepingBytes == 0,
    "EDK2: after the drivers unloaded, their blocks freed by the application and pool_trim, the shared state holds no block, page or bookkeeping",
    stats_diff (&Start, &End)
    );
  //
  // Loading, starting and unloading images moves the firmware's own memory (its pool pages,
  // and on AArch64 the 64 KiB runtime granules of each runtime driver load): shown, not
  // checked. The library's pages are checked around each driver's sharing, while it is loaded.
  //
  map_read (&After);
  info (
    "memory map after the drivers, against before: %s",
    map_same (&Before, &After, &Why) ? "the same" : Why
    );

  Count = 0;
  if (!EFI_ERROR (gBS->LocateHandleBuffer (ByProtocol, &mSharedStateGuid, NULL, &Count, &Handles))) {
    FreePool (Handles);
  }

  Untouched = Foreign[8] == 0xFF && Foreign[9] == 0xFF && Foreign[10] == 0 && Foreign[16] == 0xA5 && Foreign[63] == 0xA5;
  check (
    Count == 2 && Untouched,
    "EDK2: the state of another layout is left untouched beside the one every driver shared",
    S ("%u states", (UINT32)Count)
    );
  gBS->UninstallProtocolInterface (ForeignHandle, &mSharedStateGuid, Foreign);
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
  CheckInvalidCallHandler ();
  CheckDrivers (ImageHandle);
  CheckConstructor (ImageHandle, SystemTable);
  //
  // The shared test starts from the statistics of the boot's shared state as these checks left
  // them (the plain application starts from zero).
  //
  pool_stats (&stats_at_entry);
  return efi_main (ImageHandle, SystemTable);
}
