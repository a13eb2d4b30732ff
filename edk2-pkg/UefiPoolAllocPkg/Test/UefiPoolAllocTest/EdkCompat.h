/** @file
  Lets the clang-built firmware test (tests/uefi/c, reached here through the Shared/ link)
  compile unchanged under EDK2: force-included into each of its sources (see the INF's
  [BuildOptions]), it brings EDK2's UEFI definitions in place of the test's own efi_min.h,
  whose include guard it defines, and adds the few names only efi_min.h has.

  The test keeps its own globals gImage/gST/gBS, which it sets in efi_main: they are renamed
  here so they do not collide with UefiBootServicesTableLib's gST/gBS, which this image also
  links (the library and EDK2's entry point use those).

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#ifndef UEFI_POOL_ALLOC_EDK_COMPAT_H_
#define UEFI_POOL_ALLOC_EDK_COMPAT_H_

#include <Uefi.h>
#include <Protocol/LoadedImage.h>
#include <Library/UefiPoolAllocLib.h>

//
// Skip tests/uefi/c/efi_min.h: EDK2 defines all of it, from the same specification.
//
#define EFI_MIN_H_

#define EFI_ERROR_BIT  MAX_BIT

#define gST  UpaTestSystemTable
#define gBS  UpaTestBootServices

//
// The shared sources use the UEFI 2.10 names; EDK2 2022.11 has them all (checked here so a
// tree without one fails at compile time, not in firmware).
//
_Static_assert (EfiUnacceptedMemoryType == 15 && EfiMaxMemoryType == 16, "EFI_MEMORY_TYPE");

//
// ProcessTestEntry in UefiPoolAllocTestMain.c runs the EDK2-specific checks, then this, the
// shared test's entry point, which never returns (it ends with ResetSystem).
//
EFI_STATUS
EFIAPI
efi_main (
  IN EFI_HANDLE        ImageHandle,
  IN EFI_SYSTEM_TABLE  *SystemTable
  );

#endif
