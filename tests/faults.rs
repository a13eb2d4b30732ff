//! Firmware failures injected at every allocation call of a long workload, and notify functions
//! re-entering the library from inside every firmware call: nothing leaks, nothing is lost, the
//! statistics stay exact.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::model::{free_all, run};
use common::*;

const SEED: u64 = 11;

/// Runs the workload after `prepare` (given the simulator and the indices its next allocation
/// and service calls will have); returns how many allocation and service calls it made and how
/// many interrupt hooks the simulator skipped (due while the caller held TPL_NOTIFY).
fn checked_run(
    ops: usize,
    may_fail: bool,
    prepare: impl FnOnce(&Sim, u64, u64),
) -> (u64, u64, u64) {
    let fw = Booted::edk2();
    let (allocations, services) = (fw.sim.allocation_calls(), fw.sim.service_calls());
    let skipped = fw.sim.interrupts_skipped();
    prepare(&fw.sim, allocations, services);
    let before = stats();
    free_all(run(SEED, ops, may_fail, &fw.sim));
    let after = stats();
    assert_eq!(
        (after.live_blocks, after.live_bytes),
        (before.live_blocks, before.live_bytes)
    );
    fw.assert_clean();
    fw.assert_no_leaks();
    (
        fw.sim.allocation_calls() - allocations,
        fw.sim.service_calls() - services,
        fw.sim.interrupts_skipped() - skipped,
    )
}

#[test]
fn a_failure_at_any_allocation_call_loses_and_leaks_nothing() {
    let ops = scaled(160, 24);
    let (calls, _, _) = checked_run(ops, false, |_, _, _| {});
    assert!(calls > ops as u64 / 3, "the workload allocates");
    for index in 0..calls {
        checked_run(ops, true, |sim, first, _| {
            sim.fail_allocation_at(first + index)
        });
        checked_run(ops, true, |sim, first, _| {
            sim.fail_allocations_from(first + index)
        });
    }
}

#[test]
fn notify_functions_may_use_the_library_inside_any_firmware_call() {
    let ops = scaled(120, 16);
    let (_, calls, _) = checked_run(ops, false, |_, _, _| {});
    let ran = Arc::new(AtomicU64::new(0));
    let (mut skipped, mut due) = (0, 0);
    for index in 0..calls {
        let counter = ran.clone();
        let (_, run_calls, run_skipped) = checked_run(ops, false, |sim, _, first| {
            let armed = sim.interrupt_at_call(
                first + index,
                Box::new(move || {
                    let blocks = [
                        alloc(100, 64),
                        alloc(5000, 4096),
                        pool_raw_alloc(40).cast::<u8>(),
                        alloc(0, 16),
                    ];
                    let filled = [40, 40, 40, 0];
                    for (i, &b) in blocks.iter().enumerate() {
                        assert!(!b.is_null());
                        fill(b, filled[i], i as u8);
                    }
                    assert_eq!(realloc(blocks[0], 10), blocks[0]);
                    for (i, &b) in blocks.iter().enumerate() {
                        assert!(holds(
                            b,
                            filled[i].min(if i == 0 { 10 } else { 40 }),
                            i as u8
                        ));
                    }
                    assert_eq!(free(blocks[0]), SUCCESS);
                    assert_eq!(free(blocks[1]), SUCCESS);
                    assert_eq!(unsafe { pool_raw_free(blocks[2].cast()) }, SUCCESS);
                    assert_eq!(free(blocks[3]), SUCCESS);
                    counter.fetch_add(1, Ordering::Relaxed);
                }),
            );
            assert!(armed);
        });
        skipped += run_skipped;
        // Where the host places the firmware's blocks (Miri randomises it) can change how many
        // pages the front takes, so a run may end before the call its hook waits for.
        due += u64::from(run_calls > index);
    }
    // Hooks due while the library holds TPL_NOTIFY (index and front page changes, and the
    // TPL calls themselves) are skipped, as a timer would be; every other due one ran. The
    // front's steps between two firmware calls are interrupted in tests/front.rs.
    let ran = ran.load(Ordering::Relaxed);
    assert_eq!(
        ran + skipped,
        due,
        "{ran} ran, {skipped} skipped, {due} due of {calls}"
    );
    assert!(ran > 0 && due * 4 >= calls * 3);
}
