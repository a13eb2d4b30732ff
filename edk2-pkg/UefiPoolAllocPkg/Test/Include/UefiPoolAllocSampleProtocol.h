/** @file
  A private protocol of the package's sample drivers (Test/UefiPoolAllocSampleDriver: one source
  built as a UEFI_DRIVER, a DXE_DRIVER and a DXE_RUNTIME_DRIVER), installed on the driver's image
  handle, through which the test application checks, in firmware, that a driver initialised by
  the UefiPoolAllocLib constructor allocates with the memory type its PCD gives, and that the
  driver and the application free, resize and query each other's blocks (one allocator per
  boot), unless the driver is built private.

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#ifndef UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_H_
#define UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_H_

#include <Library/UefiPoolAllocLib.h>

#define UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_GUID \
  { 0x9DEAF3BA, 0x79DF, 0x481F, { 0xB4, 0x9D, 0x34, 0x6C, 0x3E, 0x8F, 0x15, 0xD1 } }

#define UEFI_POOL_ALLOC_SAMPLE_PROTOCOL_REVISION  3

typedef struct {
  UINT32        Revision;
  /// PcdUefiPoolAllocMemoryType as the driver was built with.
  UINT32        MemoryType;
  /// What the driver's own checks at its entry point found.
  UINT32        SelfTestPassed;
  UINT32        SelfTestFailed;
  /// Whether the library constructor registered its invalid-call handler (DEBUG builds).
  BOOLEAN       InvalidCallHandler;
  /// The driver's uefi-pool-alloc functions, called on the driver's behalf.
  VOID          *(EFIAPI *AlignedAlloc)(IN UINTN Size, IN UINTN Align);
  EFI_STATUS    (EFIAPI *AlignedFree)(IN VOID *Ptr);
  EFI_STATUS    (EFIAPI *Stats)(OUT POOL_STATS *Stats);
  VOID          *(EFIAPI *AlignedRealloc)(IN VOID *Ptr, IN UINTN NewSize);
  UINTN         (EFIAPI *UsableSize)(IN VOID *Ptr);
  /// PcdUefiPoolAllocPrivate as the driver was built with.
  BOOLEAN       Private;
} UEFI_POOL_ALLOC_SAMPLE_PROTOCOL;

#endif
