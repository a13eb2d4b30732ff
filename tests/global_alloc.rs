//! The Rust `GlobalAlloc` on the simulated firmware: the front for layouts up to 1 KiB, the raw
//! path without a header above that for alignments up to 8, the pool and page paths for larger
//! alignments, in-place realloc, exact statistics, and blocks shared with the C API.

mod common;

use core::alloc::{GlobalAlloc, Layout};

use common::*;
use uefi_pool_alloc::PoolAllocator;

static ALLOCATOR: PoolAllocator = PoolAllocator::new();

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn init_shares_the_c_state() {
    let sim = fresh_sim(SimConfig::default());
    assert!(
        unsafe { ALLOCATOR.alloc(layout(8, 8)) }.is_null(),
        "null before init"
    );
    unsafe { PoolAllocator::init(sim.image_handle(), sim.system_table()) }.unwrap();
    unsafe { PoolAllocator::init(sim.image_handle(), sim.system_table()) }
        .expect("a second init is fine");
    assert_eq!(
        unsafe {
            pool_init(
                sim.image_handle(),
                sim.system_table().cast(),
                POOL_MEMORY_TYPE_DEFAULT,
            )
        },
        ALREADY_STARTED,
        "C sees the same state"
    );
    assert_eq!(
        unsafe {
            PoolAllocator::init_with_memory_type(sim.image_handle(), core::ptr::null_mut(), 2)
        },
        Err(Status::INVALID_PARAMETER)
    );
    assert_eq!(pool_fini(), SUCCESS);
}

#[test]
fn small_layouts_cost_no_firmware_call_per_block_and_large_ones_the_minimum() {
    let fw = Booted::edk2();
    let (pools, pages) = (fw.sim.pool_requests().len(), fw.sim.page_requests().len());
    let small: Vec<_> = (0..100)
        .map(|_| unsafe { ALLOCATOR.alloc(layout(64, 8)) })
        .collect();
    let lines: Vec<_> = (0..100)
        .map(|_| unsafe { ALLOCATOR.alloc(layout(64, 64)) })
        .collect();
    assert!(lines.iter().all(|line| line.addr() % 64 == 0));
    assert_eq!(
        fw.sim.page_requests()[pages..],
        [1; 5],
        "200 blocks of 64 B: 4 front pages of 64 blocks and a page of records"
    );
    assert_eq!(
        fw.sim.pool_requests().len() - pools,
        1,
        "and the index's first table"
    );
    let page = unsafe { ALLOCATOR.alloc(layout(64, 4096)) };
    let big = unsafe { ALLOCATOR.alloc(layout(5000, 8)) };
    assert_eq!(
        fw.sim.page_requests().last(),
        Some(&1),
        "align 4096: one page"
    );
    assert_eq!(
        fw.sim.pool_requests().last(),
        Some(&5000),
        "above the front at align 8: AllocatePool itself"
    );
    assert_eq!(page.addr() % 4096, 0);
    unsafe {
        for block in small.into_iter().chain(lines) {
            ALLOCATOR.dealloc(block, layout(64, 64));
        }
        ALLOCATOR.dealloc(page, layout(64, 4096));
        ALLOCATOR.dealloc(big, layout(5000, 8));
    }
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn realloc_stays_in_place_within_a_class_and_grows_in_pages() {
    let fw = Booted::edk2();
    let s0 = stats();
    let aligned = unsafe { ALLOCATOR.alloc(layout(100, 64)) };
    fill(aligned, 100, 4);
    assert_eq!(
        unsafe { ALLOCATOR.realloc(aligned, layout(100, 64), 128) },
        aligned,
        "within its class (128 bytes)"
    );
    assert_eq!(
        unsafe { ALLOCATOR.realloc(aligned, layout(128, 64), 20) },
        aligned,
        "shrink"
    );
    let moved = unsafe { ALLOCATOR.realloc(aligned, layout(20, 64), 500) };
    assert!(moved != aligned && holds(moved, 20, 4) && moved.addr() % 64 == 0);
    let paged = unsafe { ALLOCATOR.realloc(moved, layout(500, 64), 5000) };
    assert!(
        holds(paged, 20, 4) && paged.addr() % 4096 == 0,
        "past the front: pages"
    );
    let pages = fw.sim.page_requests().len();
    let grown = unsafe { ALLOCATOR.realloc(paged, layout(5000, 64), 10_000) };
    if grown == paged {
        assert_eq!(
            fw.sim.page_requests()[pages..],
            [1],
            "in place: the page after it"
        );
    }
    assert!(holds(grown, 20, 4));

    let raw = unsafe { ALLOCATOR.alloc(layout(3000, 4)) };
    fill(raw, 300, 5);
    assert_eq!(
        unsafe { ALLOCATOR.realloc(raw, layout(3000, 4), 30) },
        raw,
        "raw shrink in place"
    );
    let raw_grown = unsafe { ALLOCATOR.realloc(raw, layout(30, 4), 6000) };
    assert!(holds(raw_grown, 30, 5));
    assert_eq!(
        stats().live_bytes - s0.live_bytes,
        10_000,
        "raw blocks count 0 bytes"
    );
    assert_eq!(stats().live_blocks - s0.live_blocks, 2);
    unsafe {
        ALLOCATOR.dealloc(grown, layout(10_000, 64));
        ALLOCATOR.dealloc(raw_grown, layout(6000, 4));
    }
    let s1 = stats();
    assert_eq!(
        (s1.live_blocks, s1.live_bytes),
        (s0.live_blocks, s0.live_bytes)
    );
    fw.assert_clean();
    fw.assert_no_leaks();
}

#[test]
fn alloc_zeroed_zeroes_on_every_path() {
    let fw = Booted::edk2();
    for (size, align) in [(100, 1), (100, 32), (10_000, 4096), (5, 8)] {
        let block = unsafe { ALLOCATOR.alloc_zeroed(layout(size, align)) };
        assert!((0..size).all(|i| unsafe { block.add(i).read() } == 0));
        unsafe { ALLOCATOR.dealloc(block, layout(size, align)) };
    }
    fw.assert_no_leaks();
}

#[test]
fn c_and_rust_free_each_others_blocks() {
    let fw = Booted::edk2();
    let s0 = stats();
    let rust_aligned = unsafe { ALLOCATOR.alloc(layout(48, 32)) };
    assert_eq!(free(rust_aligned), SUCCESS, "C frees a Rust aligned block");
    let rust_small = unsafe { ALLOCATOR.alloc(layout(48, 8)) };
    assert_eq!(
        unsafe { pool_raw_free(rust_small.cast()) },
        INVALID_PARAMETER,
        "a Rust block of the front is no FreePool block"
    );
    assert_eq!(free(rust_small), SUCCESS, "C frees it as an aligned block");
    let rust_raw = unsafe { ALLOCATOR.alloc(layout(4800, 8)) };
    assert_eq!(
        unsafe { pool_raw_free(rust_raw.cast()) },
        SUCCESS,
        "C frees a Rust raw block"
    );
    let c_aligned = alloc(48, 128);
    unsafe { ALLOCATOR.dealloc(c_aligned, layout(48, 128)) };
    let c_raw = pool_raw_alloc(48).cast::<u8>();
    unsafe { ALLOCATOR.dealloc(c_raw, layout(48, 1)) };
    fw.assert_clean();
    fw.assert_no_leaks();
    let s1 = stats();
    assert_eq!(
        (s1.live_blocks, s1.live_bytes),
        (s0.live_blocks, s0.live_bytes),
        "statistics agree"
    );
}

#[test]
fn a_c_aligned_block_freed_through_a_small_layout_is_not_leaked() {
    let fw = Booted::edk2();
    let s0 = stats();
    let block = alloc(100, 8);
    unsafe { ALLOCATOR.dealloc(block, layout(100, 8)) };
    let grown = {
        let c_block = alloc(100, 4);
        fill(c_block, 100, 6);
        unsafe { ALLOCATOR.realloc(c_block, layout(100, 4), 5000) }
    };
    assert!(holds(grown, 100, 6));
    unsafe { ALLOCATOR.dealloc(grown, layout(5000, 4)) };
    let s1 = stats();
    assert_eq!(
        (s1.live_blocks, s1.live_bytes),
        (s0.live_blocks, s0.live_bytes)
    );
    assert_eq!(s1.invalid_calls, s0.invalid_calls);
    fw.assert_clean();
    fw.assert_no_leaks();
}
