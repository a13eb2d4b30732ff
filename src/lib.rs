//! Pool allocators of any alignment for UEFI firmware, on top of Boot Services `AllocatePool`,
//! `FreePool` and `AllocatePages`, for firmware written in C (through a static library and
//! `include/uefi_pool_alloc.h`), in EDK2 (a library class), and in Rust ([`PoolAllocator`]).
//!
//! - **The small-block front**: blocks up to 1 KiB at alignments up to 1 KiB, in 18 size classes
//!   of 32 B to 1 KiB, come from 4 KiB pages the library takes from the firmware. There is no
//!   firmware call and no header per block. Each page is described by a record out of the
//!   blocks' reach, so frees are checked with certainty: foreign, interior and double frees are
//!   refused with `EFI_INVALID_PARAMETER` before anything changes. Once every block is freed,
//!   at most one page per class and memory type used stays idle, and `pool_trim` gives that
//!   back too.
//!   [`PoolAllocator::init_with_options`] (or C's `pool_init_ex`) with [`POOL_PASS_THROUGH`] turns the
//!   front off, so that the firmware's debugging tools see every block.
//! - **The aligned path** above the front: any power-of-two alignment up to 1 GiB. An 8-byte
//!   header below the pointer, tagged with a per-boot key, makes frees checked (a forged word
//!   passes about once in 2^20) and lets realloc and the usable-size query work without the old
//!   size. Requests never exceed `Size + max(Align, 8)`, and where the firmware's pool pointers
//!   follow a pattern (EDK2 X64: 24 mod 128) they are as small as the pattern allows. Alignments
//!   above 2 KiB and sizes of 16 MiB or more take whole pages, exactly `ceil(Size / 4096)` of
//!   them.
//! - **The raw path**: `AllocatePool` itself, no overhead, the 8-byte alignment UEFI guarantees.
//!   It is the only memory that the firmware's `FreePool` may free. Buffers that a UEFI interface
//!   hands to callers who free them must come from it (C's `pool_raw_alloc`, Rust's
//!   [`FirmwarePool`]).
//! - **One allocator per boot**: every image linking the library (each EDK2 driver has its own
//!   copy) shares one allocator state, published by the first in firmware pool under
//!   [`SHARED_STATE_GUID`], so that any image frees, resizes and queries any other's blocks and
//!   idle pages do not multiply with the number of drivers. Only data is shared, and only
//!   between copies of the same state layout; [`POOL_PRIVATE`] keeps an image to itself.
//! - Every entry point is safe before initialisation and after ExitBootServices (NULL, or a
//!   status), never panics, and stays consistent when a notify function re-enters it.
//!
//! # From C
//!
//! ```c
//! #include <Uefi.h>              // or gnu-efi's <efi.h>, or nothing
//! #include "uefi_pool_alloc.h"
//!
//! EFI_STATUS EFIAPI efi_main(EFI_HANDLE Image, EFI_SYSTEM_TABLE *St) {
//!   pool_init(Image, St, POOL_MEMORY_TYPE_DEFAULT);   // the image's ImageDataType
//!   VOID *Dma = pool_aligned_alloc(4096, 64);
//!   Dma = pool_aligned_realloc(Dma, 8192);          // no old size needed
//!   pool_aligned_free(Dma);                          // EFI_INVALID_PARAMETER on a bad pointer
//!   return EFI_SUCCESS;
//! }
//! ```
//!
//! # From EDK2
//!
//! One line in the platform DSC, `UefiPoolAllocLib|UefiPoolAllocPkg/Library/UefiPoolAllocLib/UefiPoolAllocLib.inf`,
//! and `UefiPoolAllocLib` in the module's `[LibraryClasses]`; the library's constructor calls
//! `pool_init`, so module code just calls `pool_aligned_alloc (Size, Align)`.
//!
//! # From Rust
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! extern crate alloc;
//!
//! use uefi_pool_alloc::PoolAllocator;
//! use uefi_raw::{Handle, Status, table::system::SystemTable};
//!
//! #[global_allocator]
//! static ALLOCATOR: PoolAllocator = PoolAllocator::new();
//!
//! #[unsafe(export_name = "efi_main")]
//! extern "efiapi" fn main(image: Handle, system_table: *mut SystemTable) -> Status {
//!     if let Err(status) = unsafe { PoolAllocator::init(image, system_table) } {
//!         return status;
//!     }
//!     let line = alloc::boxed::Box::new(Line([0; 64])); // 64-aligned, from the front: no firmware call
//!     drop(line);
//!     Status::SUCCESS
//! }
//!
//! #[repr(align(64))]
//! struct Line([u8; 64]);
//! ```
//!
//! Data flows one way: caller → [`ffi`] or [`PoolAllocator`] → allocation core (`aligned`,
//! `raw`, `pages`, with `block`, `residue`, `index`, `stats`, all state in `shared`) → `firmware`
//! → Boot Services.
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

mod aligned;
mod block;
mod call;
mod classes;
mod firmware;
mod front;
mod global;
mod hooks;
mod index;
mod limits;
mod pages;
mod pool;
mod raw;
mod records;
mod refusal;
mod residue;
mod route;
mod shared;
mod stats;

pub mod ffi;

pub use firmware::{POOL_MEMORY_TYPE_DEFAULT, POOL_PASS_THROUGH, POOL_PRIVATE};
pub use global::{FirmwarePool, PoolAllocator};
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use hooks::{Image, as_image, forget_state, index_table, set_step_hook};
pub use limits::{
    POOL_DEFAULT_ALIGN, POOL_FRONT_LIMIT, POOL_MAX_ALIGN, POOL_MAX_SIZE, POOL_SIZE_CLASSES,
};
pub use shared::SHARED_STATE_GUID;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use shared::mock_layout_version;
pub use stats::{PoolStats, snapshot as stats};
