//! The C program's checks, on the simulated firmware.

use uefi_pool_alloc_sim::{Sim, SimConfig};

#[test]
fn the_c_program_passes_every_check() {
    let sim = Sim::new(SimConfig::default());
    let failed = unsafe { host_c_tests::c_api_test(sim.image_handle(), sim.system_table().cast()) };
    assert_eq!(failed, 0, "failed C checks (see the output above)");
    assert_eq!(sim.bad_frees(), 0);
    assert_eq!(
        sim.live_pool_blocks() + sim.live_pages(),
        0,
        "the C program leaked"
    );
}
