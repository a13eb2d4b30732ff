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

  Where blocks come from: pool_aligned_alloc and its kin serve blocks up to POOL_FRONT_LIMIT
  (1 KiB) at alignments up to 1 KiB from the small-block front: size classes in 4 KiB pages the
  library takes from the firmware, with no firmware call and no header per block. Larger blocks
  come from AllocatePool with an 8-byte header below the pointer (the pool path) or from
  AllocatePages (the page path). pool_init_ex (POOL_PASS_THROUGH) turns the front off, so that
  firmware debugging tools see every block.

  Not FreePool memory: no block of pool_aligned_alloc, pool_aligned_calloc or
  pool_aligned_realloc may be passed to the firmware's FreePool, nor handed to a caller that
  will free it so (UEFI interfaces that return strings, device paths or handle buffers): such
  memory must come from pool_raw_alloc or from Boot Services directly.

  What a free checks: for a block of the front, certainly. A double free, a pointer into the
  middle of a block and a pointer into a page the front does not own are refused before
  anything changes, and free reads nothing but the library's own metadata. For a pool-path
  block, probably. The header carries a 20-bit tag keyed per boot, and a forged or random header
  word passes it about once in 2^20 (11 in 2^24 random words, measured by the unit tests). No
  allocator can tell a stale pointer from the new block of the same size that took its address.

  One allocator per boot: every image that links this library (each EDK2 driver and application
  has its own copy) shares one allocator state by default. The first copy to call pool_init
  publishes it in EfiBootServicesData pool, as the interface of a protocol of the project's own
  GUID (UEFI_POOL_ALLOC_SHARED_STATE_GUID) on a handle of its own; later copies find it. Any image
  can then free, resize, shrink and query any image's blocks, and pool_stats counts the whole
  boot. Only data is shared, never code, so an image may unload while its blocks live on
  elsewhere. Blocks take the memory type of the image that allocates them (a realloc, of the
  image that reallocs), and each memory type has its own front pages. pool_init_ex
  (POOL_PRIVATE) keeps an image apart, as does a firmware without protocol services. A copy
  finds only states of its own layout version: copies of other versions in the same firmware
  keep their own state, and refuse each other's blocks with EFI_INVALID_PARAMETER as foreign.

  Idle memory: once every block is freed, the front keeps at most one page per size class and
  memory type used, plus the records and index entries that describe those pages. pool_trim gives
  all of it back, and the library also trims and retries once when the firmware refuses an
  allocation. A shared state stays allocated until the OS reclaims boot services memory.

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

/* Limits that depend on the pointer width (POOL_MAX_SIZE) follow the including compiler's. */
#if defined(_WIN64) || (defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 8)
#define UEFI_POOL_ALLOC_64BIT
#elif defined(_WIN32) || (defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 4)
#define UEFI_POOL_ALLOC_32BIT
#else
#error "uefi_pool_alloc.h: cannot tell whether pointers are 32 or 64 bits wide"
#endif

/* The protocol GUID under which images publish shared allocator states (an EFI_GUID
   initializer): for tools that look at them; the library finds them itself. */
#define UEFI_POOL_ALLOC_SHARED_STATE_GUID \
  { 0x57bcab77, 0xd32f, 0x43cf, { 0x9d, 0x27, 0xd2, 0x4a, 0x39, 0x80, 0x2b, 0x5a } }
