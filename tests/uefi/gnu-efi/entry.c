/** @file
  Entry shim of the gnu-efi build of the C firmware test app (scripts/gnu-efi-test.sh).

  gnu-efi's crt0 (crt0-efi-x86_64.S) receives the firmware's Microsoft x64 call, runs _relocate
  and then calls efi_main(ImageHandle, SystemTable) with the System V convention: in a gnu-efi
  build efi_main is a plain ELF function. The test app's entry is EFIAPI (ms_abi), as in the
  clang/COFF build, so gnu-efi-test.sh compiles test_app.c with -Defi_main=test_app_efi_main and
  this file provides the System V efi_main that forwards to it. Every other call (firmware
  services, the library's API) stays EFIAPI through efi_min.h/uefi_pool_alloc.h.
**/

#include "efi_min.h"

EFI_STATUS EFIAPI test_app_efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable);

#if defined(__x86_64__)
/* The convention crt0 uses, stated rather than assumed from the compiler's default. */
__attribute__((sysv_abi))
#endif
EFI_STATUS efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable);

EFI_STATUS efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  return test_app_efi_main(ImageHandle, SystemTable);
}
