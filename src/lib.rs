//! Pool allocators of any alignment for UEFI firmware, on top of Boot Services `AllocatePool`,
//! `FreePool` and `AllocatePages`.
//!
//! - The aligned path: any power-of-two alignment, an 8-byte header below the pointer that makes
//!   frees checked and realloc / usable size work without the old size, firmware-aware requests
//!   that fit EDK2's pool bins, and whole pages for large alignments and sizes.
//! - The raw path: `AllocatePool` itself, no overhead, 8-byte alignment.
//!
//! C callers use the exports in [`ffi`] through `include/uefi_pool_alloc.h`.
//!
//! Data flows one way: caller → [`ffi`] → allocation core (`aligned`, `raw`, `pages`, with
//! `block`, `residue`, `registry`, `stats`) → `firmware` → Boot Services.
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

mod aligned;
mod block;
mod firmware;
mod limits;
mod pages;
mod raw;
mod registry;
mod residue;
mod stats;

pub mod ffi;
mod global;

pub use firmware::POOL_MEMORY_TYPE_DEFAULT;
pub use global::PoolAllocator;
pub use limits::{POOL_DEFAULT_ALIGN, POOL_MAX_ALIGN, POOL_MAX_SIZE};
pub use stats::{PoolStats, snapshot as stats};
