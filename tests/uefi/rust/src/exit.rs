//! ExitBootServices, last: afterwards the global allocator returns null for every Layout and
//! `dealloc` of a block allocated before leaks it quietly instead of calling dead firmware.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;

use uefi_pool_alloc::{PoolAllocator, ffi};
use uefi_raw::table::boot::MemoryDescriptor;
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Handle, Status};

use crate::report::{check, check_eq};

/// The memory map, in .bss: nothing may be allocated between GetMemoryMap and
/// ExitBootServices.
#[repr(C, align(8))]
struct MapBuffer([u8; 64 * 1024]);
static mut MAP: MapBuffer = MapBuffer([0; 64 * 1024]);

/// GetMemoryMap + ExitBootServices, twice at most (the map key can change in between once, when
/// an event allocates).
///
/// # Safety
/// Boot services are live; the image's handle and system table.
unsafe fn exit_boot_services(image: Handle, st: *mut SystemTable) -> Status {
    let mut status = Status::ABORTED;
    for _ in 0..2 {
        // SAFETY: boot services are live (the first call failed or has not run).
        unsafe {
            let bs = (*st).boot_services;
            let (mut size, mut key, mut descriptor_size, mut version) =
                (size_of::<MapBuffer>(), 0, 0, 0);
            let map = (&raw mut MAP).cast::<MemoryDescriptor>();
            status = ((*bs).get_memory_map)(
                &mut size,
                map,
                &mut key,
                &mut descriptor_size,
                &mut version,
            );
            if status != Status::SUCCESS {
                return status;
            }
            status = ((*bs).exit_boot_services)(image, key);
        }
        if status == Status::SUCCESS {
            break;
        }
    }
    status
}

pub fn run(a: &PoolAllocator, image: Handle, st: *mut SystemTable) {
    let raw_layout = Layout::from_size_align(64, 8).unwrap();
    let aligned_layout = Layout::from_size_align(64, 64).unwrap();
    // SAFETY: plain allocations, kept across ExitBootServices.
    let (raw, aligned) = unsafe { (a.alloc(raw_layout), a.alloc(aligned_layout)) };
    check(
        !raw.is_null() && !aligned.is_null(),
        "exit: two blocks allocated before ExitBootServices",
        "NULL",
    );
    let before = a.stats();

    say!("info: calling ExitBootServices; the rest is written after it");
    // SAFETY: boot services are live.
    let status = unsafe { exit_boot_services(image, st) };
    if !check_eq(
        status,
        Status::SUCCESS,
        "exit: GetMemoryMap + ExitBootServices",
    ) {
        return;
    }
    // SAFETY: EDK2 clears the pointer at ExitBootServices; reading the table is fine.
    let bs_cleared = unsafe { ptr::addr_of!((*st).boot_services).read_volatile() }.is_null();
    info!(
        "SystemTable->BootServices after ExitBootServices: {}",
        if bs_cleared { "NULL" } else { "kept" }
    );

    // The global allocator: every path returns null rather than calling firmware.
    // SAFETY: valid layouts; a null result is checked, never used.
    let nulls = unsafe {
        [
            alloc::alloc::alloc(raw_layout),
            alloc::alloc::alloc(aligned_layout),
            alloc::alloc::alloc(Layout::from_size_align(64, 4096).unwrap()),
            alloc::alloc::alloc_zeroed(Layout::from_size_align(100, 16).unwrap()),
            alloc::alloc::realloc(aligned, aligned_layout, 4000),
        ]
    };
    check(
        nulls.iter().all(|p| p.is_null()),
        "exit: alloc (align 8, 64, 4096), alloc_zeroed and realloc return null after ExitBootServices",
        format_args!("{nulls:?}"),
    );

    // SAFETY: the blocks are live; dealloc must leave them be (boot services are gone).
    unsafe {
        alloc::alloc::dealloc(raw, raw_layout);
        alloc::alloc::dealloc(aligned, aligned_layout);
    }
    let after = a.stats();
    check_eq(
        (after.live_blocks, after.live_bytes),
        (before.live_blocks, before.live_bytes),
        "exit: dealloc after ExitBootServices returns without touching firmware (blocks stay counted)",
    );
    // SAFETY: the library validates nothing after ExitBootServices; the C API says so.
    let statuses = unsafe {
        [
            ffi::pool_aligned_free(aligned.cast::<c_void>()),
            ffi::pool_raw_free(raw.cast::<c_void>()),
        ]
    };
    check_eq(
        statuses.map(Status),
        [Status::UNSUPPORTED; 2],
        "exit: the C API's frees report EFI_UNSUPPORTED",
    );
    check(
        a.stats() == after,
        "exit: stats() still readable and unchanged",
        "changed",
    );
}
