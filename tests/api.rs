//! Every exported function on a simulated firmware: results, alignment, requested bytes, and
//! every bad-input class with its documented answer.

mod common;

use common::*;
use core::ptr;

#[test]
fn before_init_everything_fails_cleanly() {
    let sim = fresh_sim(SimConfig::default());
    assert!(alloc(64, 16).is_null());
    assert!(pool_raw_alloc(64).is_null());
    assert!(pool_aligned_calloc(4, 4, 16).is_null());
    let mut word = [0u64; 4];
    let inside = unsafe { word.as_mut_ptr().add(2) }.cast::<u8>();
    assert_eq!(free(inside), NOT_STARTED);
    assert_eq!(unsafe { pool_raw_free(inside.cast()) }, NOT_STARTED);
    assert_eq!(free(ptr::null_mut()), SUCCESS);
    assert_eq!(unsafe { pool_raw_free(ptr::null_mut()) }, SUCCESS);
    assert!(realloc(ptr::null_mut(), 8).is_null());
    assert_eq!(usable(inside), 0);
    assert_eq!(unsafe { pool_shrink(inside.cast(), 8, 4) }, 0);
    assert_eq!(pool_fini(), NOT_STARTED);
    stats();
    assert_eq!(sim.service_calls(), 0, "no firmware call before init");
}

#[test]
fn init_validates_its_arguments() {
    let sim = fresh_sim(SimConfig::default());
    let image = sim.image_handle();
    let st = sim.system_table();
    assert_eq!(
        unsafe { pool_init(image, ptr::null_mut(), POOL_MEMORY_TYPE_DEFAULT) },
        INVALID_PARAMETER
    );
    let mut forged = unsafe { st.read() };
    forged.header.signature ^= 1;
    assert_eq!(
        unsafe { pool_init(image, (&raw mut forged).cast(), POOL_MEMORY_TYPE_DEFAULT) },
        INVALID_PARAMETER
    );
    for bad in [7, 8, 11, 12, 13, 14, 15, 16, 0x6FFF_FFFE, 0x1234] {
        assert_eq!(
            unsafe { pool_init(image, st.cast(), bad) },
            INVALID_PARAMETER,
            "memory type {bad:#x}"
        );
    }
    assert_eq!(
        unsafe { pool_init(image, st.cast(), MemoryType::RUNTIME_SERVICES_DATA.0) },
        SUCCESS
    );
    assert_eq!(
        unsafe { pool_init(image, st.cast(), MemoryType::LOADER_DATA.0) },
        ALREADY_STARTED
    );
    let block = alloc(64, 64);
    assert_eq!(sim.memory_types_used(), [MemoryType::RUNTIME_SERVICES_DATA]);
    assert_eq!(sim.live_events(), 1, "one ExitBootServices event");
    assert_eq!(pool_fini(), SUCCESS);
    assert_eq!(sim.live_events(), 0);
    assert_eq!(free(block), NOT_STARTED, "inert after fini");
    assert_eq!(
        unsafe { pool_init(image, st.cast(), 0x8000_0000) },
        SUCCESS,
        "OS-defined types are valid"
    );
    assert_eq!(free(block), SUCCESS, "blocks survive fini and init");
    assert_eq!(pool_fini(), SUCCESS);
    assert_eq!(sim.bad_frees(), 0);
}

#[test]
fn default_memory_type_is_the_image_data_type_else_boot_services_data() {
    for (image_type, expected) in [
        (Some(MemoryType::LOADER_DATA), MemoryType::LOADER_DATA),
        (
            Some(MemoryType::RUNTIME_SERVICES_DATA),
            MemoryType::RUNTIME_SERVICES_DATA,
        ),
        (None, MemoryType::BOOT_SERVICES_DATA),
    ] {
        let fw = Booted::new(SimConfig {
            image_data_type: image_type,
            ..SimConfig::default()
        });
        let (a, b) = (alloc(10, 4096), pool_raw_alloc(10));
        assert_eq!(fw.sim.memory_types_used(), [expected]);
        assert_eq!(free(a), SUCCESS);
        assert_eq!(unsafe { pool_raw_free(b) }, SUCCESS);
    }
}

#[test]
fn every_alignment_and_size_is_served_aligned_and_inside_the_block() {
    let fw = Booted::edk2();
    let max_align_log2 = scaled(22, 13);
    let mut live = Vec::new();
    for align_log2 in 0..=max_align_log2 {
        let align = 1usize << align_log2;
        for size in [0, 1, 7, 64, 100, 4096, 5000, scaled(20000, 5000)] {
            let block = alloc(size, align);
            assert!(!block.is_null(), "{size} at {align}");
            assert_eq!(block.addr() % align, 0, "{size} at {align}");
            let capacity = usable(block);
            assert!(capacity >= size);
            assert!(
                capacity == 0 || fw.sim.block_contains(block, capacity),
                "{size} at {align}: outside the firmware block"
            );
            fill(block, capacity, align_log2 as u8);
            live.push((block, capacity, align_log2 as u8));
        }
    }
    for &(block, capacity, seed) in &live {
        assert!(holds(block, capacity, seed), "blocks overlap");
        assert_eq!(free(block), SUCCESS);
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn size_zero_gives_unique_blocks() {
    for front in [true, false] {
        let fw = if front {
            Booted::edk2()
        } else {
            Booted::pass_through()
        };
        let s0 = stats();
        let blocks: Vec<_> = [1, 16, 4096]
            .iter()
            .flat_map(|&a| [alloc(0, a), alloc(0, a)])
            .collect();
        let raw = [pool_raw_alloc(0), pool_raw_alloc(0)];
        for (i, &b) in blocks.iter().enumerate() {
            assert!(!b.is_null());
            assert!(blocks[..i].iter().all(|&other| other != b), "unique");
        }
        assert!(!raw[0].is_null() && raw[0] != raw[1]);
        // The front's smallest class, the pool path's exact size, or a page.
        let expected = if front { 32 } else { 0 };
        assert!(
            blocks
                .iter()
                .all(|&b| usable(b) == expected || b.addr() % 4096 == 0)
        );
        assert_eq!(stats().live_bytes, s0.live_bytes, "size 0 counts 0 bytes");
        blocks.iter().for_each(|&b| assert_eq!(free(b), SUCCESS));
        raw.iter()
            .for_each(|&b| assert_eq!(unsafe { pool_raw_free(b) }, SUCCESS));
        fw.assert_clean();
        fw.assert_no_leaks();
    }
}

#[test]
fn requests_fit_edk2_bins_once_the_residue_is_learned() {
    let _fw = Booted::pass_through();
    // Teach the pattern (24 mod 128): the first blocks may ask for Size + Align.
    let warmup: Vec<_> = (0..8).map(|_| alloc(8, 16)).collect();
    for (size, align, expected) in [
        (64, 8, 72),
        (64, 16, 72),
        (64, 32, 72),
        (64, 64, 104),
        (64, 128, 168),
        (200, 128, 304),
        // Bit 7 of EDK2 pool pointers varies (24 or 152 mod 256): the worst case, 232, not 256.
        (64, 256, 296),
        (3000, 2048, 3000 + 2024),
    ] {
        let mut block = ptr::null_mut();
        let requested = requested_by(|| block = alloc(size, align));
        assert_eq!(requested, expected, "{size} at {align}");
        assert!(
            requested <= (size + align.max(8)) as u64,
            "never above Size + max(8, Align)"
        );
        assert_eq!(free(block), SUCCESS);
    }
    let mut page = ptr::null_mut();
    assert_eq!(
        requested_by(|| page = alloc(4096, 4096)),
        4096,
        "one page, no header"
    );
    assert_eq!(free(page), SUCCESS);
    warmup
        .into_iter()
        .for_each(|b| assert_eq!(free(b), SUCCESS));
}

#[test]
fn requests_never_exceed_the_bound_on_any_residue_pattern() {
    for residue in [
        Residue::Fixed(0),
        Residue::Fixed(8),
        Residue::Fixed(2040),
        Residue::Random,
        Residue::Alternating,
    ] {
        let fw = Booted::pass_through_with_residue(residue);
        let mut rng = Rng::new(7);
        let mut mispredictions = 0;
        for _ in 0..scaled(400, 40) {
            let (size, align) = (rng.size(3000), 1 << rng.below(12));
            let calls = fw.sim.pool_requests().len();
            let bookkeeping = stats().bookkeeping_bytes;
            let block = alloc(size, align);
            assert_eq!(block.addr() % align, 0);
            let mut requests = fw.sim.pool_requests()[calls..].to_vec();
            if stats().bookkeeping_bytes > bookkeeping {
                // The registry's first table, made for a page-aligned block after its request.
                assert_eq!(requests.pop(), Some(stats().bookkeeping_bytes as usize));
            }
            mispredictions += requests.len() - 1;
            let kept = *requests.last().unwrap();
            assert!(
                kept <= size + align.max(8),
                "{residue:?}: {size} at {align} asked {kept}"
            );
            assert_eq!(free(block), SUCCESS);
        }
        assert!(
            mispredictions <= 8,
            "{residue:?}: {mispredictions} mispredictions, at most one per learned bit"
        );
        fw.assert_clean();
        fw.assert_no_leaks();
    }
}

#[test]
fn bad_sizes_and_alignments_return_null_without_asking_the_firmware() {
    let fw = Booted::edk2();
    let before = stats().invalid_calls;
    let calls = fw.sim.allocation_calls();
    let window = (0x28..=0x2E).map(|d| usize::MAX - d); // EDK2 wraps 0x…FFD1..=0x…FFD7 to 0
    for align in [0, 3, 24, 48, POOL_MAX_ALIGN * 2, usize::MAX] {
        assert!(alloc(8, align).is_null(), "align {align}");
    }
    for size in [POOL_MAX_SIZE + 1, usize::MAX, usize::MAX - 4095]
        .into_iter()
        .chain(window)
    {
        assert!(alloc(size, 16).is_null(), "size {size:#x}");
        assert!(alloc(size, 4096).is_null(), "size {size:#x}");
        assert!(pool_raw_alloc(size).is_null(), "size {size:#x}");
    }
    assert!(
        pool_aligned_calloc(usize::MAX / 2, 3, 16).is_null(),
        "count * size overflows"
    );
    let half = 1 << (usize::BITS / 2);
    assert!(pool_aligned_calloc(half, half, 8).is_null());
    assert_eq!(
        fw.sim.allocation_calls(),
        calls,
        "nothing reached the firmware"
    );
    assert_eq!(stats().invalid_calls - before, 6 + 3 * 10 + 2);
}

#[test]
fn foreign_interior_and_freed_pointers_are_refused_and_nothing_is_freed() {
    let fw = Booted::edk2();
    let mut stack = [0u64; 8];
    let foreign = unsafe { stack.as_mut_ptr().add(4) }.cast::<u8>();
    let block = alloc(256, 64);
    let page = alloc(8192, 4096);
    let raw = pool_raw_alloc(100).cast::<u8>();
    fill(block, 256, 1);
    let before = stats();
    let invalid = [
        foreign,
        unsafe { block.add(8) },
        unsafe { block.add(16) },
        unsafe { block.add(1) },
        unsafe { page.add(4096) },
        unsafe { page.add(8) },
        raw,
    ];
    for &p in &invalid {
        assert_eq!(free(p), INVALID_PARAMETER, "{p:p}");
        assert_eq!(usable(p), 0);
        assert!(realloc(p, 10).is_null());
    }
    assert_eq!(
        unsafe { pool_raw_free(block.cast()) },
        INVALID_PARAMETER,
        "aligned block through raw free"
    );
    assert_eq!(
        unsafe { pool_raw_free(page.cast()) },
        INVALID_PARAMETER,
        "page block through raw free"
    );
    assert_eq!(
        unsafe { pool_raw_free(block.add(1).cast()) },
        INVALID_PARAMETER,
        "misaligned"
    );
    let after = stats();
    assert_eq!(after.live_blocks, before.live_blocks);
    assert_eq!(after.live_bytes, before.live_bytes);
    assert_eq!(
        after.invalid_calls - before.invalid_calls,
        2 * invalid.len() as u64 + 3
    );
    assert!(holds(block, 256, 1), "contents untouched");
    assert_eq!(fw.sim.bad_frees(), 0, "no bad pointer reached FreePool");

    assert_eq!(free(block), SUCCESS);
    assert_eq!(free(block), INVALID_PARAMETER, "double free");
    assert_eq!(free(page), SUCCESS);
    assert_eq!(free(page), INVALID_PARAMETER, "double free of pages");
    assert_eq!(unsafe { pool_raw_free(raw.cast()) }, SUCCESS);
    assert_eq!(fw.sim.bad_frees(), 0);
    fw.assert_no_leaks();
}

#[test]
fn realloc_needs_no_old_size_and_stays_in_place_when_it_fits() {
    let fw = Booted::pass_through_with_residue(Residue::Fixed(56));
    // The first block, before any residue is known, asks Size + 64; on residue 56 it uses 8 of
    // the 64 and keeps 56 bytes of tail.
    let block = alloc(100, 64);
    assert_eq!(usable(block), 156);
    fill(block, 100, 3);
    assert_eq!(realloc(block, 150), block, "grows into the tail");
    assert_eq!(realloc(block, 10), block, "shrinks in place");
    assert_eq!(realloc(block, 156), block, "and back");
    assert!(holds(block, 10, 3));
    let moved = realloc(block, 1000);
    assert_ne!(moved, block);
    assert_eq!(moved.addr() % 64, 0, "keeps the alignment");
    assert!(holds(moved, 10, 3), "contents copied");
    assert_eq!(free(block), INVALID_PARAMETER, "the old block is gone");
    let fresh = realloc(ptr::null_mut(), 24);
    assert_eq!(fresh.addr() % POOL_DEFAULT_ALIGN, 0);
    assert_eq!(realloc(fresh, 0), fresh, "size 0 keeps a block");
    assert_eq!(free(fresh), SUCCESS);

    // Failure leaves the old block intact.
    fw.sim.fail_allocations_from(fw.sim.allocation_calls());
    assert!(realloc(moved, 100_000).is_null());
    assert!(realloc(moved, POOL_MAX_SIZE + 1).is_null());
    fw.sim.clear_failures();
    assert!(holds(moved, 10, 3));
    assert_eq!(free(moved), SUCCESS);
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn page_blocks_shrink_in_place_and_give_pages_back() {
    let fw = Booted::edk2();
    let block = alloc(5 * 4096, 8192);
    assert_eq!(block.addr() % 8192, 0);
    assert_eq!(fw.sim.live_pages(), 5, "head and tail slack given back");
    fill(block, 5 * 4096, 9);
    assert_eq!(realloc(block, 4096 + 1), block);
    assert_eq!(fw.sim.live_pages(), 2);
    assert_eq!(usable(block), 2 * 4096);
    assert!(unsafe { pool_shrink(block.cast(), 4097, 100) } != 0);
    assert_eq!(fw.sim.live_pages(), 1);
    assert!(holds(block, 100, 9));
    let grown = realloc(block, 3 * 4096);
    assert!(holds(grown, 100, 9));
    assert_eq!(grown.addr() % 8192, 0);
    assert_eq!(fw.sim.live_pages(), 3);
    assert_eq!(free(grown), SUCCESS);
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn calloc_zeroes_and_checks_the_product() {
    let fw = Booted::edk2();
    for (count, size, align) in [(10, 10, 16), (3, 1000, 64), (2, 6000, 4096), (0, 5, 8)] {
        let block = pool_aligned_calloc(count, size, align).cast::<u8>();
        assert!(!block.is_null());
        assert_eq!(block.addr() % align, 0);
        assert!((0..count * size).all(|i| unsafe { block.add(i).read() } == 0));
        assert_eq!(free(block), SUCCESS);
    }
    fw.assert_clean();
}

#[test]
fn shrink_and_remap_work_for_both_kinds_and_refuse_growth() {
    let fw = Booted::edk2();
    let aligned = alloc(100, 32);
    let raw = pool_raw_alloc(100);
    let before = stats().live_bytes;
    unsafe {
        assert_eq!(pool_shrink(aligned.cast(), 100, 100), 1, "same size");
        assert_eq!(pool_shrink(aligned.cast(), 100, 40), 1);
        assert_eq!(
            stats().live_bytes,
            before - 60,
            "the header records the new size"
        );
        assert_eq!(pool_shrink(aligned.cast(), 40, 41), 0, "growth refused");
        assert_eq!(pool_shrink(aligned.cast(), 100, 10), 0, "wrong old size");
        assert_eq!(pool_remap(aligned.cast(), 40, 20), aligned.cast());
        assert!(pool_remap(aligned.cast(), 20, 30).is_null());
        assert_eq!(pool_shrink(raw, 100, 50), 1);
        assert_eq!(pool_shrink(raw, 50, 51), 0);
        assert_eq!(pool_remap(raw, 100, 1), raw);
        assert!(pool_remap(raw, 1, 2).is_null());
        assert_eq!(pool_shrink(ptr::null_mut(), 1, 0), 0);
    }
    assert_eq!(free(aligned), SUCCESS);
    assert_eq!(unsafe { pool_raw_free(raw) }, SUCCESS);
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn stats_are_exact() {
    let fw = Booted::edk2();
    let s0 = stats();
    let a = alloc(1000, 16);
    let b = alloc(50_000, 8192);
    let c = pool_raw_alloc(77);
    let s1 = stats();
    assert_eq!(s1.live_blocks - s0.live_blocks, 3);
    assert_eq!(
        s1.live_bytes - s0.live_bytes,
        51_000,
        "raw blocks count 0 bytes"
    );
    assert!(s1.peak_bytes >= s1.live_bytes);
    assert_eq!(
        s1.bookkeeping_bytes,
        32 * INDEX_SLOT + 2 * 4096,
        "an index of 32 slots, a page of records and a page of slack tables (1000 B in 1 KiB)"
    );
    assert_eq!(
        (s1.front_pages, s1.front_idle_bytes),
        (1, 4096 - 1024),
        "one front page holding one 1 KiB block"
    );
    assert_eq!(realloc(a, 10), a);
    assert_eq!(stats().live_bytes - s0.live_bytes, 50_010);
    let mut out = PoolStats::default();
    assert_eq!(unsafe { pool_stats(ptr::null_mut()) }, INVALID_PARAMETER);
    assert_eq!(unsafe { pool_stats(&mut out) }, SUCCESS);
    assert_eq!(out.invalid_calls - s1.invalid_calls, 1);
    fw.sim.fail_allocation_at(fw.sim.allocation_calls());
    assert!(alloc(10, 16).is_null());
    assert_eq!(stats().failed_requests - s1.failed_requests, 1);
    for p in [a, b] {
        assert_eq!(free(p), SUCCESS);
    }
    assert_eq!(unsafe { pool_raw_free(c) }, SUCCESS);
    let s2 = stats();
    assert_eq!(
        (s2.live_blocks, s2.live_bytes),
        (s0.live_blocks, s0.live_bytes)
    );
    fw.assert_no_leaks();
}

#[test]
fn page_aligned_foreign_pointers_are_refused_without_reading_below_them() {
    // Nothing is readable below this buffer (Miri would report the read): as with a guard page.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);
    let fw = Booted::edk2();
    let page = Box::into_raw(Box::new(Page([0; 4096]))).cast::<u8>();
    let before = stats().invalid_calls;
    assert_eq!(free(page), INVALID_PARAMETER);
    assert_eq!(usable(page), 0);
    assert!(realloc(page, 10).is_null());
    assert_eq!(
        unsafe { pool_shrink(page.cast(), 10, 5) },
        1,
        "taken for a raw block"
    );
    assert_eq!(stats().invalid_calls - before, 2);
    drop(unsafe { Box::from_raw(page.cast::<Page>()) });
    // Nor in page 0, unmapped where firmware catches NULL dereferences.
    for address in [8, 16, 4088] {
        let low = core::ptr::without_provenance_mut::<u8>(address);
        assert_eq!(free(low), INVALID_PARAMETER);
        assert_eq!(unsafe { pool_raw_free(low.cast()) }, INVALID_PARAMETER);
        assert_eq!(usable(low), 0);
        assert!(realloc(low, 1).is_null());
    }
    fw.assert_clean();
}

#[test]
fn the_index_grows_into_whole_pages_and_goes_away() {
    let fw = Booted::pass_through();
    // Enough blocks for a table of a whole page: 256 slots of 16 bytes, or 512 of 8 on 32-bit.
    let count = 150 * 16 / INDEX_SLOT as usize;
    let blocks: Vec<_> = (0..count).map(|_| alloc(1, 4096)).collect();
    assert!(blocks.iter().all(|b| !b.is_null()));
    assert_eq!(
        stats().bookkeeping_bytes,
        4096,
        "one page of slots, from AllocatePages"
    );
    assert_eq!(fw.sim.live_pages(), count + 1);
    for &block in blocks.iter().rev() {
        assert_eq!(free(block), SUCCESS);
    }
    assert_eq!(
        stats().bookkeeping_bytes,
        32 * INDEX_SLOT,
        "shrunk back to the smallest table, which stays until pool_trim"
    );
    assert_eq!(pool_trim(), 0, "no front page to give back");
    assert_eq!(stats().bookkeeping_bytes, 0);
    fw.assert_clean();
    fw.assert_no_leaks();
}

static REFUSED: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

unsafe extern "efiapi" fn record_refusal(function: *const core::ffi::c_char, pointer: *mut VOID) {
    let name = unsafe { core::ffi::CStr::from_ptr(function) };
    REFUSED
        .lock()
        .unwrap()
        .push((name.to_str().unwrap().to_string(), pointer as usize));
}

#[test]
fn every_refused_call_reaches_the_handler_with_its_function_and_pointer() {
    let fw = Booted::edk2();
    REFUSED.lock().unwrap().clear();
    assert!(pool_set_invalid_call_handler(Some(record_refusal)).is_none());
    let before = stats().invalid_calls;
    let mut stack = [0u64; 4];
    let foreign = unsafe { stack.as_mut_ptr().add(2) }.cast::<u8>();
    let block = alloc(64, 64);
    let raw = pool_raw_alloc(32);

    assert!(alloc(8, 3).is_null());
    assert!(pool_aligned_calloc(usize::MAX, 2, 8).is_null());
    assert!(pool_raw_alloc(usize::MAX).is_null());
    assert_eq!(free(foreign), INVALID_PARAMETER);
    assert!(realloc(foreign, 8).is_null());
    assert!(realloc(block, usize::MAX).is_null());
    assert_eq!(unsafe { pool_raw_free(block.cast()) }, INVALID_PARAMETER);
    assert_eq!(unsafe { pool_stats(ptr::null_mut()) }, INVALID_PARAMETER);
    assert_eq!(free(block), SUCCESS, "valid calls are not reported");
    assert_eq!(unsafe { pool_raw_free(raw) }, SUCCESS);
    assert_eq!(free(block), INVALID_PARAMETER, "double free");

    // The handler given back is ours: set again, it records (function pointers are not
    // compared: Miri does not promise them unique).
    let handler = pool_set_invalid_call_handler(None);
    assert!(alloc(8, 3).is_null(), "no handler: only counted");
    assert!(pool_set_invalid_call_handler(handler).is_none());
    assert!(alloc(8, 5).is_null());
    assert!(pool_set_invalid_call_handler(None).is_some());
    let refused = REFUSED.lock().unwrap().clone();
    let expected: Vec<(String, usize)> = [
        ("pool_aligned_alloc", 0),
        ("pool_aligned_calloc", 0),
        ("pool_raw_alloc", 0),
        ("pool_aligned_free", foreign as usize),
        ("pool_aligned_realloc", foreign as usize),
        ("pool_aligned_realloc", block as usize),
        ("pool_raw_free", block as usize),
        ("pool_stats", 0),
        ("pool_aligned_free", block as usize),
        ("pool_aligned_alloc", 0),
    ]
    .into_iter()
    .map(|(name, pointer)| (name.to_string(), pointer))
    .collect();
    assert_eq!(refused, expected);
    assert_eq!(stats().invalid_calls - before, expected.len() as u64 + 1);
    fw.assert_no_leaks();
}

/// A 32-bit image cannot use pages above 4 GiB: the library gives such pages back and fails the
/// request, on the page path and for a front refill alike, leaking and corrupting nothing.
#[cfg(target_pointer_width = "32")]
#[test]
fn pages_above_4_gib_are_given_back_on_32_bit_targets() {
    let fw = Booted::edk2();
    let (before, pages) = (stats(), fw.sim.live_pages());
    fw.sim.report_pages_above_4g(u64::MAX);
    assert!(alloc(8192, 4096).is_null(), "page path");
    assert!(alloc(64, 64).is_null(), "front refill");
    assert_eq!(stats().failed_requests - before.failed_requests, 2);
    assert_eq!(fw.sim.live_pages(), pages, "every such page given back");
    fw.sim.report_pages_above_4g(0);
    for (size, align) in [(8192, 4096), (64, 64)] {
        let block = alloc(size, align);
        assert!(!block.is_null());
        fill(block, size, 7);
        assert!(holds(block, size, 7));
        assert_eq!(free(block), SUCCESS);
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}
