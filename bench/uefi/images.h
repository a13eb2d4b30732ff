/** @file
  One allocator per boot, measured (issue 11): the protocol through which the loader
  (images.c) drives each of its N worker images (images_worker.c), each a boot service driver
  with its own copy of uefi-pool-alloc.

  SPDX-License-Identifier: MIT OR Apache-2.0
**/

#ifndef BENCH_IMAGES_H_
#define BENCH_IMAGES_H_

#include "efi_min.h"
#include "uefi_pool_alloc.h"

#define BENCH_WORKER_GUID \
  { 0x3c5e1d2a, 0x6b7f, 0x4e90, { 0x8a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71 } }

/* The workers' memory type: an OEM type nothing else in the firmware uses, so that the memory
   map counts the workers' blocks' pages exactly. */
#define BENCH_WORKER_TYPE 0x70000042U

/* W1 of the main benchmark, per worker. */
#define BENCH_WORKER_BLOCKS 10000
#define BENCH_WORKER_SIZE   64
#define BENCH_WORKER_ALIGN  32

typedef struct {
  /* pool_init_ex's answer and the allocations that returned NULL. */
  EFI_STATUS InitStatus;
  UINTN      Failures;
  EFI_STATUS (EFIAPI *FreeAll)(VOID);
  EFI_STATUS (EFIAPI *Stats)(OUT POOL_STATS *Stats);
  UINTN      (EFIAPI *Trim)(VOID);
} BENCH_WORKER;

#endif
