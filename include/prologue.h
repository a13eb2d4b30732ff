/** @file
  uefi-pool-alloc: pool allocations of any alignment for UEFI firmware, on top of Boot Services
  AllocatePool/FreePool/AllocatePages, from a Rust static library.

  Include it after EDK2's <Uefi.h> (or <Base.h>, then it includes <Uefi.h> itself) or gnu-efi's
  <efi.h>, whose types it then uses, or on its own, when it defines the few UEFI types it needs.
  The environment is recognised by macros that are part of its API, never by include guards
  (EDK2's MdePkg has used #pragma once since edk2-stable202605): EDK2 by Base.h's RETURN_SUCCESS
  and ENCODE_ERROR, the UEFI types of EDK2, gnu-efi and the like by EFI_SYSTEM_TABLE_SIGNATURE.
  Define UEFI_POOL_ALLOC_NO_TYPES if your code has the types by other means: UINTN, UINT32,
  UINT64, BOOLEAN, CHAR8, VOID, EFI_STATUS, EFI_HANDLE, EFI_SYSTEM_TABLE, IN, OUT, CONST and
  EFIAPI.

  Every function uses EFIAPI, the UEFI calling convention (Microsoft x64 on X64), whatever the
  object format: on ELF x86-64 compilers EFIAPI must be __attribute__((ms_abi)), as EDK2's GCC
  and CLANGDWARF builds define it and gnu-efi does with GNU_EFI_USE_MS_ABI.
**/

#if defined(RETURN_SUCCESS) && defined(ENCODE_ERROR)
/* EDK2: its types and EFIAPI are used; with Base.h alone, EFI_SYSTEM_TABLE comes from Uefi.h. */
#if !defined(EFI_SYSTEM_TABLE_SIGNATURE)
#include <Uefi.h>
#endif
#elif defined(EFI_SYSTEM_TABLE_SIGNATURE)
/* gnu-efi's efi.h (or another set of UEFI definitions) came first: its types are used, and its
   EFIAPI must be the UEFI one. */
#if defined(__x86_64__) && !defined(_WIN32) && !defined(_MSC_VER) && !defined(HAVE_USE_MS_ABI)
#error "uefi_pool_alloc.h: EFIAPI is not ms_abi here; with gnu-efi, compile with -DGNU_EFI_USE_MS_ABI"
#endif
#elif !defined(UEFI_POOL_ALLOC_NO_TYPES)
#if defined(_WIN64)
typedef unsigned long long UINTN;
#else
typedef __UINTPTR_TYPE__ UINTN;
#endif
typedef unsigned int UINT32;
typedef unsigned long long UINT64;
typedef unsigned char BOOLEAN;
typedef char CHAR8;
typedef void VOID;
typedef UINTN EFI_STATUS;
typedef VOID *EFI_HANDLE;
typedef struct _EFI_SYSTEM_TABLE EFI_SYSTEM_TABLE;
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef CONST
#define CONST const
#endif
#ifndef EFIAPI
#if defined(__x86_64__) && !defined(_WIN32)
#define EFIAPI __attribute__((ms_abi))
#else
#define EFIAPI
#endif
#endif
#endif

#if defined(__x86_64__) && !defined(_WIN32) && !defined(_MSC_VER)
/* A compile-time proof that EFIAPI is the UEFI convention on ELF x86-64 compilers: with any
   other EFIAPI these two declarations conflict. */
void EFIAPI uefi_pool_alloc_requires_EFIAPI_to_be_ms_abi(void);
void __attribute__((ms_abi)) uefi_pool_alloc_requires_EFIAPI_to_be_ms_abi(void);
#endif
