/** @file
  A sample driver using UefiPoolAllocLib through its constructor, built as a UEFI_DRIVER, a
  DXE_DRIVER, a DXE_RUNTIME_DRIVER and a private DXE_DRIVER (one INF each, beside this file).

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#include <Uefi.h>
#include <Library/DebugLib.h>
#include <Library/PcdLib.h>
#include <Library/UefiBootServicesTableLib.h>
#include <Library/UefiPoolAllocLib.h>

#include "../Include/UefiPoolAllocSampleProtocol.h"

STATIC EFI_GUID                         mSampleProtocolGuid = UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_GUID;
STATIC UEFI_POOL_ALLOC_SAMPLE_PROTOCOL  mSample;

/**
  Counts one check of the entry point's self-test.

  @param[in] Ok    Whether it passed.
  @param[in] What  What was checked, for the DEBUG log.
**/
STATIC
VOID
Expect (
  IN BOOLEAN      Ok,
  IN CONST CHAR8  *What
  )
{
  if (Ok) {
    mSample.SelfTestPassed++;
  } else {
    mSample.SelfTestFailed++;
    DEBUG ((DEBUG_ERROR, "%a: FAIL: %a\n", gEfiCallerBaseName, What));
  }
}

/**
  Allocates through the library on every path and checks what comes back. Nothing here calls
  pool_init: the library constructor did, before the entry point.
**/
STATIC
VOID
SelfTest (
  VOID
  )
{
  STATIC CONST UINTN         Aligns[] = { 1, 8, 16, 64, 256, 4096, SIZE_64KB };
  POOL_STATS                 Start;
  POOL_STATS                 Now;
  POOL_INVALID_CALL_HANDLER  Handler;
  UINTN                      Index;
  UINTN                      Byte;
  UINT8                      *Block;
  UINT8                      *Grown;
  UINT8                      *Zeroed;
  VOID                       *Raw;
  BOOLEAN                    Same;

  Expect (pool_init (gImageHandle, gST, PcdGet32 (PcdUefiPoolAllocMemoryType)) == EFI_ALREADY_STARTED, "constructor ran");
  Handler                    = pool_set_invalid_call_handler (NULL);
  mSample.InvalidCallHandler = Handler != NULL;
  pool_set_invalid_call_handler (Handler);
  Expect (pool_stats (&Start) == EFI_SUCCESS, "pool_stats");

  for (Index = 0; Index < ARRAY_SIZE (Aligns); Index++) {
    Block = pool_aligned_alloc (100 + Aligns[Index], Aligns[Index]);
    Expect (Block != NULL && ((UINTN)Block & (Aligns[Index] - 1)) == 0, "pool_aligned_alloc aligned");
    if (Block == NULL) {
      continue;
    }

    for (Byte = 0; Byte < 100; Byte++) {
      Block[Byte] = (UINT8)(Byte + Index);
    }

    Expect (pool_usable_size (Block) >= 100 + Aligns[Index], "pool_usable_size");
    Grown = pool_aligned_realloc (Block, 3 * SIZE_4KB);
    Expect (Grown != NULL && ((UINTN)Grown & (Aligns[Index] - 1)) == 0, "pool_aligned_realloc keeps the alignment");
    if (Grown == NULL) {
      pool_aligned_free (Block);
      continue;
    }

    Same = TRUE;
    for (Byte = 0; Byte < 100; Byte++) {
      Same = Same && Grown[Byte] == (UINT8)(Byte + Index);
    }

    Expect (Same, "pool_aligned_realloc keeps the contents");
    Expect (pool_aligned_free (Grown) == EFI_SUCCESS, "pool_aligned_free");
  }

  Zeroed = pool_aligned_calloc (16, 32, 128);
  Same   = Zeroed != NULL && ((UINTN)Zeroed & 127) == 0;
  for (Byte = 0; Same && Byte < 16 * 32; Byte++) {
    Same = Zeroed[Byte] == 0;
  }

  Expect (Same, "pool_aligned_calloc zeroed and aligned");
  Expect (pool_shrink (Zeroed, 16 * 32, 64) && pool_usable_size (Zeroed) >= 64, "pool_shrink");
  Expect (pool_aligned_free (Zeroed) == EFI_SUCCESS, "pool_aligned_free of the calloc block");
  //
  // On purpose: in DEBUG builds the library reports it (DEBUG_ERROR, and an ASSERT where
  // PcdUefiPoolAllocAssertOnInvalidCall is TRUE, as for the DXE_DRIVER build).
  //
  Expect (pool_aligned_free (Zeroed) == EFI_INVALID_PARAMETER, "double free refused");

  Raw = pool_raw_alloc (333);
  Expect (Raw != NULL && ((UINTN)Raw & 7) == 0, "pool_raw_alloc");
  Expect (pool_raw_free (Raw) == EFI_SUCCESS, "pool_raw_free");

  Expect (pool_stats (&Now) == EFI_SUCCESS && Now.LiveBlocks == Start.LiveBlocks && Now.LiveBytes == Start.LiveBytes, "statistics balance");
  if ((Now.LiveBlocks != Start.LiveBlocks) || (Now.LiveBytes != Start.LiveBytes)) {
    DEBUG ((
      DEBUG_ERROR,
      "%a: live blocks %lu -> %lu, live bytes %lu -> %lu\n",
      gEfiCallerBaseName,
      Start.LiveBlocks,
      Now.LiveBlocks,
      Start.LiveBytes,
      Now.LiveBytes
      ));
  }

  Expect (Now.InvalidCalls == Start.InvalidCalls + 1, "one invalid call (the double free)");
}

/**
  Unloads the driver: uninstalls its protocol. The library destructor (pool_fini) runs after.

  @param[in] ImageHandle  The driver's image handle.

  @retval EFI_SUCCESS  The protocol is uninstalled.
  @retval other        UninstallProtocolInterface failed; the driver stays.
**/
EFI_STATUS
EFIAPI
UefiPoolAllocSampleDriverUnload (
  IN EFI_HANDLE  ImageHandle
  )
{
  EFI_STATUS  Status;

  Status = gBS->UninstallProtocolInterface (ImageHandle, &mSampleProtocolGuid, &mSample);
  DEBUG ((DEBUG_INFO, "%a: unloading: %r\n", gEfiCallerBaseName, Status));
  return Status;
}

/**
  The driver's entry point: runs the self-test and installs the protocol on its image handle.

  @param[in] ImageHandle  The driver's image handle.
  @param[in] SystemTable  The system table.

  @return  The status of InstallProtocolInterface.
**/
EFI_STATUS
EFIAPI
UefiPoolAllocSampleDriverEntry (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  )
{
  mSample.Revision       = UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_REVISION;
  mSample.MemoryType     = PcdGet32 (PcdUefiPoolAllocMemoryType);
  mSample.AlignedAlloc   = pool_aligned_alloc;
  mSample.AlignedFree    = pool_aligned_free;
  mSample.Stats          = pool_stats;
  mSample.AlignedRealloc = pool_aligned_realloc;
  mSample.UsableSize     = pool_usable_size;
  mSample.Private        = FeaturePcdGet (PcdUefiPoolAllocPrivate);
  SelfTest ();
  DEBUG ((
    DEBUG_INFO,
    "%a: memory type %u, self-test %u passed, %u failed\n",
    gEfiCallerBaseName,
    mSample.MemoryType,
    mSample.SelfTestPassed,
    mSample.SelfTestFailed
    ));

  return gBS->InstallProtocolInterface (&ImageHandle, &mSampleProtocolGuid, EFI_NATIVE_INTERFACE, &mSample);
}
