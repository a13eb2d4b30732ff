//! The C static library (`libuefi_pool_alloc.a`; a COFF archive on `*-unknown-uefi`, ELF on
//! `*-unknown-none`). All exports come from the `uefi-pool-alloc` crate's `ffi` module.
// Firmware targets only; a host build (cargo test --workspace) links std and its handler.
#![cfg_attr(any(target_os = "uefi", target_os = "none"), no_std)]

pub use allocator::ffi::*;

/// The library has no panicking path (release builds check that no panic machinery is linked);
/// should one appear, halting beats unwinding through firmware.
#[cfg(any(target_os = "uefi", target_os = "none"))]
#[panic_handler]
fn halt(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
