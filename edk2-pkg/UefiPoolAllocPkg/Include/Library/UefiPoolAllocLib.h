/** @file
  UefiPoolAllocLib: pool allocations of any alignment for UEFI drivers and applications, on top
  of Boot Services AllocatePool/FreePool/AllocatePages (uefi-pool-alloc, a Rust library).

  The API itself is declared in UefiPoolAllocLib/uefi_pool_alloc.h, generated from the Rust
  sources (src/ffi.rs) and copied here by scripts/edk2-refresh.sh together with the prebuilt
  archives: never edit it. This header only makes sure EDK2's Uefi.h comes first, so that the
  generated header uses EDK2's types and EFIAPI.

  The library constructor calls pool_init (ImageHandle, SystemTable,
  PcdUefiPoolAllocMemoryType) before the module's entry point; the destructor calls pool_fini when
  the module unloads. Modules only call the allocation functions:

    VOID  *Buffer = pool_aligned_alloc (Size, SIZE_4KB);
    ...
    pool_aligned_free (Buffer);

  Copyright (c) uefi-pool-alloc contributors.
  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#ifndef UEFI_POOL_ALLOC_LIB_H_
#define UEFI_POOL_ALLOC_LIB_H_

#include <Uefi.h>
#include <Library/UefiPoolAllocLib/uefi_pool_alloc.h>

#endif
