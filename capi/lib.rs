//! The C static library (`libuefi_pool_alloc.a`; a COFF archive on `*-unknown-uefi`, ELF on
//! `*-unknown-none`). All exports come from the `uefi-pool-alloc` crate's `ffi` module.
#![no_std]

pub use allocator::ffi::*;

/// The library has no panicking path (release builds check that no panic machinery is linked);
/// should one appear, halting beats unwinding through firmware.
#[panic_handler]
fn halt(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
