//! Pool allocators of any alignment for UEFI firmware, on top of Boot Services `AllocatePool`,
//! `FreePool` and `AllocatePages`, for firmware written in C (through a static library and
//! `include/uefi_pool_alloc.h`), in EDK2 (a library class), and in Rust ([`PoolAllocator`]).
//!
//! - **The aligned path**: any power-of-two alignment up to 1 GiB. An 8-byte header below the
//!   pointer makes frees checked (foreign, interior and double frees are refused with
//!   `EFI_INVALID_PARAMETER`) and lets realloc and the usable-size query work without the old
//!   size. Requests never exceed `Size + max(Align, 8)`, and where the firmware's pool pointers
//!   follow a pattern (EDK2: 24 mod 128) they are as small as the pattern allows: 64 bytes at
//!   alignment 32 ask for 72 and fit EDK2's 128-byte bin. Alignments above 2 KiB and sizes of
//!   16 MiB or more take whole pages, exactly `ceil(Size / 4096)` of them.
//! - **The raw path**: `AllocatePool` itself, no overhead, the 8-byte alignment UEFI guarantees.
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
//!     let line = alloc::boxed::Box::new(Line([0; 64])); // 64-aligned: asks the firmware for 104 bytes, not 128
//!     drop(line);
//!     Status::SUCCESS
//! }
//!
//! #[repr(align(64))]
//! struct Line([u8; 64]);
//! ```
//!
//! Data flows one way: caller → [`ffi`] or [`PoolAllocator`] → allocation core (`aligned`,
//! `raw`, `pages`, with `block`, `residue`, `registry`, `stats`) → `firmware` → Boot Services.
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
mod stats;

pub mod ffi;

pub use firmware::{POOL_MEMORY_TYPE_DEFAULT, POOL_PASS_THROUGH};
pub use global::{FirmwarePool, PoolAllocator};
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use hooks::{forget_state, set_step_hook};
pub use limits::{
    POOL_DEFAULT_ALIGN, POOL_FRONT_LIMIT, POOL_MAX_ALIGN, POOL_MAX_SIZE, POOL_SIZE_CLASSES,
};
pub use stats::{PoolStats, snapshot as stats};
