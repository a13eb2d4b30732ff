//! The small-block front on the simulated firmware: no firmware call per block, certain refusal
//! of every bad pointer into its pages, metadata out of an overflow's reach, bounded idle memory
//! and `pool_trim`, the firmware's refusal at every page refill, re-entrant calls at every step
//! of alloc and free, pass-through mode.

mod common;

use core::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use uefi_pool_alloc_sim::uefi_raw::table::boot::Tpl;

#[test]
fn small_blocks_come_from_pages_without_a_firmware_call_each() {
    let fw = Booted::edk2();
    let (pools, pages) = (fw.sim.pool_requests().len(), fw.sim.page_requests().len());
    let count = scaled(1000, 130);
    let blocks: Vec<_> = (0..count).map(|_| alloc(64, 32)).collect();
    let mut sorted: Vec<_> = blocks.iter().map(|b| b.addr()).collect();
    sorted.sort_unstable();
    assert!(
        sorted.windows(2).all(|w| w[1] - w[0] >= 64),
        "distinct, 64 bytes apart"
    );
    assert!(
        blocks.iter().all(|b| b.addr() % 64 == 0),
        "class 64 is 64-aligned"
    );
    let data_pages = count.div_ceil(64);
    assert_eq!(
        fw.sim.page_requests().len() - pages,
        data_pages + 1,
        "a page per 64 blocks, and one page of records"
    );
    assert!(
        fw.sim.pool_requests().len() - pools <= 3,
        "pool memory only for the index table"
    );
    let s = stats();
    assert_eq!(s.front_pages, data_pages as u64);
    assert_eq!(s.front_idle_bytes, (data_pages * 64 - count) as u64 * 64);
    for (i, &b) in blocks.iter().enumerate() {
        fill(b, 64, i as u8);
    }
    for (i, &b) in blocks.iter().enumerate() {
        assert!(holds(b, 64, i as u8));
        assert_eq!(free(b), SUCCESS);
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

/// Every slot class of the front hands out naturally aligned, distinct blocks.
#[test]
fn every_class_serves_every_alignment_it_promises() {
    let fw = Booted::edk2();
    let mut live = Vec::new();
    for align in [1, 8, 16, 32, 64, 128, 256, 512, 1024] {
        for size in [0, 1, 24, 33, 48, 100, 200, 333, 700, 1000, 1024] {
            let block = alloc(size, align);
            assert!(
                !block.is_null() && block.addr() % align == 0,
                "{size} at {align}"
            );
            assert!(usable(block) >= size);
            fill(block, usable(block), size as u8);
            live.push((block, usable(block), size as u8));
        }
    }
    for &(block, len, seed) in &live {
        assert!(holds(block, len, seed), "blocks overlap");
    }
    let s = stats();
    for (block, _, _) in live {
        assert_eq!(free(block), SUCCESS);
    }
    assert!(s.front_pages > 0);
    fw.assert_clean();
    fw.assert_no_leaks();
}

static REFUSALS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "efiapi" fn count_refusal(_function: *const core::ffi::c_char, _pointer: *mut VOID) {
    REFUSALS.fetch_add(1, Ordering::Relaxed);
}

/// The page of a live front block, every slot of it accounted for.
fn page_of(block: *mut u8) -> *mut u8 {
    block.with_addr(block.addr() & !4095)
}

#[test]
fn every_bad_pointer_into_the_front_is_refused_with_certainty() {
    let fw = Booted::edk2();
    // A class-48 page: 85 slots, 16 bytes left over at its end.
    let blocks: Vec<_> = (0..10).map(|_| alloc(48, 16)).collect();
    let page = page_of(blocks[0]);
    assert!(blocks.iter().all(|&b| page_of(b) == page), "one page");
    for (i, &b) in blocks.iter().enumerate() {
        fill(b, 48, i as u8);
    }
    // A block of another size in another page, with a slack table (100 of 128 bytes).
    let odd = alloc(100, 8);
    fill(odd, 100, 77);
    assert_eq!(free(blocks[9]), SUCCESS);
    let mut bad: Vec<*mut u8> = Vec::new();
    for offset in [1, 8, 16, 24, 40, 47, 49, 96 + 8] {
        bad.push(unsafe { page.add(offset) }); // inside a live block
    }
    bad.push(unsafe { page.add(9 * 48) }); // the slot just freed: a double free
    bad.push(unsafe { page.add(20 * 48) }); // a slot never used
    bad.push(unsafe { page.add(85 * 48) }); // past the last slot, in the page's spare 16 bytes
    bad.push(unsafe { page.add(4088) });
    let before = stats();
    REFUSALS.store(0, Ordering::Relaxed);
    let previous = pool_set_invalid_call_handler(Some(count_refusal));
    for &p in &bad {
        assert_eq!(free(p), INVALID_PARAMETER, "{:#x}", p.addr() - page.addr());
        assert_eq!(usable(p), 0);
        assert!(realloc(p, 8).is_null());
        assert_eq!(unsafe { pool_raw_free(p.cast()) }, INVALID_PARAMETER);
        assert_eq!(unsafe { pool_shrink(p.cast(), 48, 8) }, 0);
    }
    pool_set_invalid_call_handler(previous);
    let after = stats();
    assert_eq!(
        after.invalid_calls - before.invalid_calls,
        3 * bad.len() as u64,
        "free, realloc and raw free refuse each; usable size and shrink answer 0"
    );
    assert_eq!(REFUSALS.load(Ordering::Relaxed), 3 * bad.len());
    assert_eq!(
        (after.live_blocks, after.live_bytes),
        (before.live_blocks, before.live_bytes)
    );
    for (i, &b) in blocks[..9].iter().enumerate() {
        assert!(holds(b, 48, i as u8), "nothing changed");
        assert_eq!(free(b), SUCCESS);
    }
    assert!(holds(odd, 100, 77));
    assert_eq!(free(odd), SUCCESS);
    assert_eq!(fw.sim.bad_frees(), 0, "no bad pointer reached the firmware");
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn a_pointer_into_the_fronts_own_metadata_is_refused() {
    let fw = Booted::edk2();
    // 100 bytes in the 112-byte class: its page gets a slack table, an internal block.
    let block = alloc(100, 16);
    let s = stats();
    assert_eq!(
        s.bookkeeping_bytes,
        32 * INDEX_SLOT + 2 * 4096,
        "index, records, slack tables"
    );
    // The slack table's page is the front's but no caller's: find it among the pages the
    // firmware handed out, and try every 128-byte slot of it.
    let data = page_of(block).addr();
    let internal_pages: Vec<usize> = fw
        .sim
        .live_page_addresses()
        .into_iter()
        .filter(|&p| p != data)
        .collect();
    let before = stats().invalid_calls;
    let mut refused = 0;
    for page in internal_pages {
        for slot in 0..32 {
            let p = ptr::with_exposed_provenance_mut::<u8>(page + slot * 128);
            if usable(p) == 0 {
                assert_eq!(free(p), INVALID_PARAMETER);
                refused += 1;
            }
        }
    }
    assert!(refused >= 32, "no internal block is a caller's");
    assert_eq!(stats().invalid_calls - before, refused);
    assert_eq!(free(block), SUCCESS);
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn an_overflow_spoils_neighbouring_bytes_never_the_bookkeeping() {
    let fw = Booted::edk2();
    for overflow in [1, 8, 63, 64] {
        let blocks: Vec<_> = (0..64).map(|_| alloc(64, 64)).collect();
        let page = page_of(blocks[0]);
        assert!(blocks.iter().all(|&b| page_of(b) == page), "one full page");
        // Every block overflows into the next one (the last one up to its page's end).
        for (i, &b) in blocks.iter().enumerate() {
            let len = if i == 63 { 64 } else { 64 + overflow };
            fill(b, len, 0xA5);
        }
        // The whole page scribbled over, as by a wild write: the front reads none of it.
        unsafe { ptr::write_bytes(page, 0xFF, 4096) };
        let before = stats();
        for &b in &blocks[..32] {
            assert_eq!(free(b), SUCCESS);
            assert_eq!(free(b), INVALID_PARAMETER, "a double free is still caught");
        }
        // No block is handed out twice: the 32 freed slots come back once each.
        let again: Vec<_> = (0..32).map(|_| alloc(64, 64)).collect();
        let mut all: Vec<_> = again
            .iter()
            .chain(&blocks[32..])
            .map(|b| b.addr())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 64);
        assert!(again.iter().all(|&b| page_of(b) == page));
        for b in again.into_iter().chain(blocks[32..].iter().copied()) {
            assert_eq!(free(b), SUCCESS);
        }
        let after = stats();
        assert_eq!(after.live_blocks, before.live_blocks - 64);
        assert_eq!(after.invalid_calls - before.invalid_calls, 32);
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

/// The last block of a page may overflow into the next page, whatever that holds: records, slack
/// tables and the index keep out of the first 64 bytes of every page the library allocates (and
/// of the index, which may start a page), so such an overflow spoils caller bytes only.
#[test]
fn an_overflow_into_the_next_page_never_reaches_the_bookkeeping() {
    let fw = Booted::edk2();
    // Few pages: the index is a pool block; many: it takes pages of its own.
    for count in [scaled(60, 30), scaled(3000, 60)] {
        // Sizes below their classes, so that slack tables exist.
        let sizes = [20, 50, 100, 250, 1000];
        let blocks: Vec<_> = (0..count)
            .map(|i| alloc(sizes[i % sizes.len()], 8))
            .collect();
        let index = uefi_pool_alloc::index_table();
        assert!(!index.is_null());
        // SAFETY: the first 64 bytes of live firmware pages and of the index.
        unsafe {
            for page in fw.sim.page_run_starts() {
                ptr::write_bytes(ptr::with_exposed_provenance_mut::<u8>(page), 0x5A, 64);
            }
            ptr::write_bytes(index, 0x5A, 64);
        }
        for (i, &b) in blocks.iter().enumerate() {
            assert!(usable(b) >= sizes[i % sizes.len()], "block {i}");
        }
        let before = stats();
        for &b in &blocks {
            assert_eq!(free(b), SUCCESS);
            assert_eq!(free(b), INVALID_PARAMETER);
        }
        let after = stats();
        assert_eq!(after.live_blocks, before.live_blocks - count as u64);
        assert_eq!(
            after.live_bytes,
            before.live_bytes
                - blocks
                    .iter()
                    .enumerate()
                    .map(|(i, _)| sizes[i % sizes.len()] as u64)
                    .sum::<u64>()
        );
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn idle_memory_is_bounded_and_pool_trim_gives_it_back() {
    let fw = Booted::edk2();
    let sizes = [16, 48, 64, 100, 200, 500, 1000];
    let blocks: Vec<_> = (0..scaled(2000, 200))
        .map(|i| alloc(sizes[i % sizes.len()], 8))
        .collect();
    let peak_pages = fw.sim.live_pages();
    for b in blocks {
        assert_eq!(free(b), SUCCESS);
    }
    let s = stats();
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
    // One empty page per class used (its current page), plus the records and slack tables.
    let classes_used = 7;
    assert!(
        s.front_pages as usize <= classes_used,
        "{} front pages",
        s.front_pages
    );
    assert_eq!(s.front_idle_bytes, s.front_pages * 4096);
    assert!(
        fw.sim.live_pages() <= classes_used + 3,
        "{} pages held after every free (peak {peak_pages})",
        fw.sim.live_pages()
    );
    assert_eq!(pool_trim() as u64, s.front_pages);
    assert_eq!(fw.sim.live_pages(), 0);
    assert_eq!(fw.sim.live_pool_blocks(), 0);
    assert_eq!(stats().bookkeeping_bytes, 0);
    assert_eq!(pool_trim(), 0, "nothing left");
    fw.assert_clean();
}

#[test]
fn a_lone_pair_costs_no_firmware_call() {
    let fw = Booted::edk2();
    let first = alloc(64, 64);
    assert_eq!(free(first), SUCCESS);
    let calls = fw.sim.service_calls();
    for _ in 0..100 {
        let block = alloc(64, 64);
        assert_eq!(block, first, "the current page stays, empty");
        assert_eq!(free(block), SUCCESS);
    }
    assert_eq!(fw.sim.service_calls(), calls);
    fw.assert_no_leaks();
}

#[test]
fn the_firmware_may_refuse_any_page_refill() {
    let fw = Booted::edk2();
    for attempt in 0..scaled(12, 4) as u64 {
        let calls = fw.sim.allocation_calls();
        fw.sim.fail_allocation_at(calls + attempt);
        let before = stats();
        let blocks: Vec<_> = (0..200).map(|i| alloc(16 + i % 300, 8)).collect();
        let refused = blocks.iter().filter(|b| b.is_null()).count();
        fw.sim.clear_failures();
        for &b in blocks.iter().filter(|b| !b.is_null()) {
            assert_eq!(free(b), SUCCESS);
        }
        let after = stats();
        assert_eq!(
            (after.live_blocks, after.live_bytes),
            (before.live_blocks, before.live_bytes)
        );
        assert_eq!(
            after.failed_requests - before.failed_requests,
            refused as u64
        );
        assert!(refused <= 1, "one refusal, one NULL");
        fw.assert_clean();
        fw.assert_no_leaks();
    }
}

#[test]
fn pass_through_sends_every_block_to_the_firmware() {
    let fw = Booted::pass_through();
    let pools = fw.sim.pool_requests().len();
    let blocks: Vec<_> = (0..10).map(|_| alloc(64, 32)).collect();
    assert_eq!(
        fw.sim.pool_requests().len() - pools,
        10,
        "one AllocatePool each"
    );
    assert_eq!(stats().front_pages, 0);
    for b in blocks {
        assert_eq!(free(b), SUCCESS);
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn blocks_of_the_front_outlive_a_switch_to_pass_through() {
    let fw = Booted::edk2();
    let small = alloc(64, 8);
    fill(small, 64, 3);
    assert_eq!(pool_fini(), SUCCESS);
    let status = unsafe {
        pool_init_ex(
            fw.sim.image_handle(),
            fw.sim.system_table().cast(),
            POOL_MEMORY_TYPE_DEFAULT,
            POOL_PASS_THROUGH,
        )
    };
    assert_eq!(status, SUCCESS);
    assert!(holds(small, 64, 3));
    assert_eq!(usable(small), 64);
    assert_eq!(free(small), SUCCESS);
    assert_eq!(
        unsafe {
            pool_init_ex(
                fw.sim.image_handle(),
                fw.sim.system_table().cast(),
                POOL_MEMORY_TYPE_DEFAULT,
                4,
            )
        },
        INVALID_PARAMETER,
        "an unknown option"
    );
    fw.assert_no_leaks();
}

// ---- Re-entrancy at every step --------------------------------------------------------------

/// What the hook does: count steps, and at step `TARGET` run `nested` once.
static STEPS: AtomicUsize = AtomicUsize::new(0);
static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static NESTED_RAN: AtomicBool = AtomicBool::new(false);
static NESTED: Mutex<Option<fn()>> = Mutex::new(None);

/// Steps taken while the library holds TPL_NOTIFY are counted but run nothing: no notify
/// function could run there.
fn on_step() {
    if STEPS.fetch_add(1, Ordering::Relaxed) == TARGET.load(Ordering::Relaxed) {
        let nested = NESTED.lock().unwrap().unwrap();
        let ran = Sim::interrupt_now(Tpl::CALLBACK, nested);
        NESTED_RAN.store(ran, Ordering::Relaxed);
        SKIPPED.fetch_add(usize::from(!ran), Ordering::Relaxed);
    }
}

static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// A notify function's work: blocks of the classes the scenario uses, pages filled and emptied
/// (refills and releases), a double free, all undone.
fn nested_work() {
    let mut blocks = Vec::new();
    for i in 0..70 {
        let b = alloc(64, 64);
        assert!(!b.is_null());
        fill(b, 64, i as u8);
        blocks.push(b);
    }
    let odd = alloc(40, 8);
    assert!(!odd.is_null());
    assert_eq!(free(odd), SUCCESS);
    assert_eq!(free(odd), INVALID_PARAMETER);
    for (i, b) in blocks.into_iter().enumerate() {
        assert!(holds(b, 64, i as u8));
        assert_eq!(free(b), SUCCESS);
    }
}

/// The outer scenario: fills a page and a half of class 64, frees them in an order that makes
/// pages full, partly used and empty, with blocks of another class in between.
fn scenario() -> Vec<*mut u8> {
    let mut blocks: Vec<_> = (0..100).map(|_| alloc(64, 64)).collect();
    let other = alloc(40, 8);
    assert!(blocks.iter().all(|b| !b.is_null()) && !other.is_null());
    for (i, &b) in blocks.iter().enumerate() {
        fill(b, 64, i as u8);
    }
    for b in blocks.drain(..60).rev() {
        assert_eq!(free(b), SUCCESS);
    }
    assert_eq!(free(other), SUCCESS);
    let more: Vec<_> = (0..30).map(|_| alloc(64, 64)).collect();
    for (i, &b) in blocks.iter().enumerate() {
        assert!(holds(b, 64, (i + 60) as u8));
    }
    blocks.extend(more);
    blocks
}

#[test]
fn a_reentrant_call_at_every_step_of_alloc_and_free_keeps_everything_consistent() {
    let fw = Booted::edk2();
    *NESTED.lock().unwrap() = Some(nested_work);
    uefi_pool_alloc::set_step_hook(Some(on_step));
    // First run: count the steps.
    TARGET.store(usize::MAX, Ordering::Relaxed);
    STEPS.store(0, Ordering::Relaxed);
    let blocks = scenario();
    blocks
        .into_iter()
        .for_each(|b| assert_eq!(free(b), SUCCESS));
    let steps = STEPS.load(Ordering::Relaxed);
    assert!(steps > 400, "{steps} steps");
    let stride = if cfg!(miri) { steps / 12 } else { 1 };
    SKIPPED.store(0, Ordering::Relaxed);
    let mut ran = 0;
    for target in (0..steps).step_by(stride) {
        let before = stats();
        TARGET.store(target, Ordering::Relaxed);
        STEPS.store(0, Ordering::Relaxed);
        NESTED_RAN.store(false, Ordering::Relaxed);
        let blocks = scenario();
        blocks
            .into_iter()
            .for_each(|b| assert_eq!(free(b), SUCCESS));
        let nested = NESTED_RAN.load(Ordering::Relaxed);
        ran += usize::from(nested);
        let after = stats();
        assert_eq!(
            (after.live_blocks, after.live_bytes),
            (before.live_blocks, before.live_bytes)
        );
        assert_eq!(
            after.invalid_calls - before.invalid_calls,
            u64::from(nested),
            "the nested double free only"
        );
        fw.assert_clean();
    }
    assert!(
        ran * 10 > steps.div_ceil(stride) * 9,
        "{ran} nested calls ran, {} steps were inside TPL_NOTIFY",
        SKIPPED.load(Ordering::Relaxed)
    );
    uefi_pool_alloc::set_step_hook(None);
    fw.assert_no_leaks();
}

#[test]
fn every_block_has_the_memory_type_of_the_current_pool_init_and_goes_back_to_its_own_pages() {
    let fw = Booted::edk2();
    let loader = alloc(64, 8);
    assert_eq!(pool_fini(), SUCCESS);
    let status = unsafe {
        pool_init(
            fw.sim.image_handle(),
            fw.sim.system_table().cast(),
            MemoryType::RUNTIME_SERVICES_DATA.0,
        )
    };
    assert_eq!(status, SUCCESS);
    let runtime = alloc(64, 8);
    assert_ne!(page_of(runtime), page_of(loader), "a page of the new type");
    assert_eq!(
        fw.sim.memory_types_used(),
        [MemoryType::LOADER_DATA, MemoryType::RUNTIME_SERVICES_DATA]
    );
    let pages = fw.sim.live_pages();
    assert_eq!(free(loader), SUCCESS, "a block of the old type is freed");
    assert_eq!(
        fw.sim.live_pages(),
        pages,
        "its page stays, idle, as the current page of the LoaderData classes"
    );
    assert_eq!(
        alloc(64, 8),
        runtime.wrapping_add(64),
        "new blocks keep the new type"
    );
    assert_eq!(free(runtime.wrapping_add(64)), SUCCESS);
    assert_eq!(free(runtime), SUCCESS);
    assert_eq!(pool_trim(), 2, "both idle pages go back");
    fw.assert_clean();
    fw.assert_no_leaks();
}
