//! After ExitBootServices the library is inert: allocation returns NULL, free reports
//! EFI_UNSUPPORTED, and no firmware service is called. (Its own test binary: the library cannot
//! be re-initialised after boot services end.)

mod common;

use common::*;

/// Both checks in one test: once boot services end, the library stays inert for the process.
#[test]
fn the_library_goes_inert_when_boot_services_end() {
    a_cleared_boot_services_pointer_alone_makes_the_library_inert();
    let fw = Booted::edk2();
    let (aligned, page, raw) = (alloc(64, 32), alloc(8192, 4096), pool_raw_alloc(64));
    assert_eq!(fw.sim.live_events(), 1);
    fw.sim.exit_boot_services();
    assert_eq!(
        fw.sim.ebs_notifications(),
        1,
        "the library's event was signalled"
    );
    let calls = fw.sim.service_calls();
    assert!(alloc(64, 32).is_null());
    assert!(alloc(64, 4096).is_null());
    assert!(pool_raw_alloc(64).is_null());
    assert!(pool_aligned_calloc(1, 1, 1).is_null());
    assert!(realloc(aligned, 128).is_null());
    assert_eq!(free(aligned), UNSUPPORTED);
    assert_eq!(free(page), UNSUPPORTED);
    assert_eq!(unsafe { pool_raw_free(raw) }, UNSUPPORTED);
    assert_eq!(usable(aligned), 0);
    assert_eq!(unsafe { pool_shrink(aligned.cast(), 64, 1) }, 0);
    assert_eq!(pool_fini(), UNSUPPORTED);
    assert_eq!(
        unsafe {
            pool_init(
                fw.sim.image_handle(),
                fw.sim.system_table().cast(),
                POOL_MEMORY_TYPE_DEFAULT,
            )
        },
        INVALID_PARAMETER,
        "the table has no boot services any more"
    );
    assert_eq!(
        fw.sim.service_calls(),
        calls,
        "no firmware call after ExitBootServices"
    );
    fw.assert_clean();
}

/// Firmware that zeroes ST->BootServices without signalling our event (or before it runs).
fn a_cleared_boot_services_pointer_alone_makes_the_library_inert() {
    let sim = fresh_sim(SimConfig::default());
    // The library keeps the table's address, so every later change goes through that pointer.
    let table = Box::into_raw(Box::new(unsafe { sim.system_table().read() }));
    let services = unsafe { (*table).boot_services };
    assert_eq!(
        unsafe { pool_init(sim.image_handle(), table.cast(), POOL_MEMORY_TYPE_DEFAULT) },
        SUCCESS
    );
    let block = alloc(10, 16);
    unsafe { (*table).boot_services = core::ptr::null_mut() };
    assert!(alloc(10, 16).is_null());
    assert_eq!(free(block), UNSUPPORTED);
    unsafe { (*table).boot_services = services };
    assert_eq!(free(block), SUCCESS);
    assert_eq!(pool_fini(), SUCCESS);
    drop(unsafe { Box::from_raw(table) });
}
