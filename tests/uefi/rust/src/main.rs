//! A Rust UEFI application whose `#[global_allocator]` is uefi-pool-alloc's `PoolAllocator`,
//! with C code (c/mixed.c) linked into the same image. It prints one line per check on the
//! serial port, `N passed, M failed`, and shuts the machine down.
//!
//! Order: before init; init; alloc churn; aligned types; growth and shrink_to_fit; zeroed
//! allocations; statistics back to their start; C and Rust on one allocator; bytes requested
//! from firmware (info lines); ExitBootServices; summary; ResetSystem.
//!
//! On the host (cargo build/clippy/test --workspace) it is an empty program.
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
extern crate alloc;

#[cfg(target_os = "uefi")]
#[macro_use]
mod report;

#[cfg(target_os = "uefi")]
mod churn;
#[cfg(target_os = "uefi")]
mod exit;
#[cfg(target_os = "uefi")]
mod measure;
#[cfg(target_os = "uefi")]
mod mixed;
#[cfg(target_os = "uefi")]
mod util;

#[cfg(target_os = "uefi")]
mod app {
    use core::alloc::Layout;
    use core::ptr;
    use core::sync::atomic::{AtomicPtr, Ordering};

    use uefi_pool_alloc::{PoolAllocator, PoolStats};
    use uefi_raw::table::runtime::ResetType;
    use uefi_raw::table::system::SystemTable;
    use uefi_raw::{Handle, Status};

    use crate::report::{check, check_eq, summary};
    use crate::{churn, exit, measure, mixed};

    /// The allocator under test.
    pub static A: PoolAllocator = PoolAllocator::new();

    /// The global allocator: `A`, with an independent count of the bytes it should report live.
    #[global_allocator]
    pub static COUNTED: crate::util::Counted = crate::util::Counted::new(&A);

    static SYSTEM_TABLE: AtomicPtr<SystemTable> = AtomicPtr::new(ptr::null_mut());

    #[unsafe(export_name = "efi_main")]
    extern "efiapi" fn efi_main(image: Handle, st: *mut SystemTable) -> Status {
        SYSTEM_TABLE.store(st, Ordering::Relaxed);
        say!("");
        info!(
            "rust-uefi-test on {}: uefi-pool-alloc's PoolAllocator as #[global_allocator]",
            match () {
                _ if cfg!(target_arch = "x86_64") => "x64",
                _ if cfg!(target_arch = "x86") => "ia32",
                _ => "aa64",
            }
        );

        // Before init every allocation is null (alloc would turn that into handle_alloc_error).
        // Asked of the allocator itself: LLVM may fold away a `__rust_alloc` whose result is
        // only compared with null.
        // SAFETY: a valid layout; the (null) result is only compared.
        let early = unsafe {
            core::alloc::GlobalAlloc::alloc(&COUNTED, Layout::from_size_align(16, 8).unwrap())
        };
        check(
            early.is_null(),
            "before init: alloc returns null",
            "got a block",
        );
        check_eq(
            A.stats(),
            PoolStats::default(),
            "before init: statistics all 0",
        );

        // SAFETY: the firmware's image handle and system table.
        let init = unsafe { PoolAllocator::init(image, st) };
        check_eq(init, Ok(()), "PoolAllocator::init");
        // SAFETY: as above.
        let again = unsafe { PoolAllocator::init(image, st) };
        check_eq(
            again,
            Ok(()),
            "PoolAllocator::init again: Ok, nothing changed",
        );
        if init.is_err() {
            finish();
        }

        // SAFETY: boot services are live.
        let per_ms = unsafe { crate::util::ticks_per_ms((*st).boot_services) };
        let begin = crate::util::ticks();
        let start = A.stats();
        churn::run(&A);
        churn::aligned_types(&A);
        churn::grow_and_shrink(&A);
        churn::zeroed();
        let end = A.stats();
        check_eq(
            (end.live_blocks, end.live_bytes),
            (start.live_blocks, start.live_bytes),
            "statistics: live_blocks and live_bytes back to their start once everything is dropped",
        );
        check(
            end.front_pages <= uefi_pool_alloc::POOL_SIZE_CLASSES as u64
                && end.front_idle_bytes == end.front_pages * 4096,
            "statistics: after everything is dropped, at most one empty front page per class",
            format_args!(
                "{} front pages, {} idle bytes",
                end.front_pages, end.front_idle_bytes
            ),
        );
        let trimmed = A.trim();
        check_eq(
            (trimmed as u64, A.stats().bookkeeping_bytes),
            (end.front_pages, 0),
            "statistics: PoolAllocator::trim gives those pages and all bookkeeping back",
        );
        check_eq(
            (end.invalid_calls, end.failed_requests),
            (start.invalid_calls, start.failed_requests),
            "statistics: no invalid call, no refused request",
        );
        info!(
            "after the Rust tests: peak {} live bytes, {} bytes requested from firmware",
            end.peak_bytes, end.requested_bytes
        );

        mixed::run(&A, image, st);
        measure::run(&A);
        info!(
            "the tests before ExitBootServices took {} ms",
            (crate::util::ticks() - begin) / per_ms
        );
        exit::run(&A, image, st);
        finish()
    }

    /// The summary line, then power off (runtime services outlive ExitBootServices).
    fn finish() -> ! {
        summary();
        let st = SYSTEM_TABLE.load(Ordering::Relaxed);
        // SAFETY: the firmware's system table; ResetSystem is a runtime service.
        unsafe {
            let rt = (*st).runtime_services;
            ((*rt).reset_system)(ResetType::SHUTDOWN, Status::SUCCESS, 0, ptr::null())
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        crate::report::fail_silently();
        say!("FAIL - panic: {info}");
        finish()
    }
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!(
        "rust-uefi-test is a UEFI application: build it for x86_64-unknown-uefi, \
         aarch64-unknown-uefi or i686-unknown-uefi (scripts/rust-firmware-test.sh boots it)"
    );
}
