//! Several images of one boot, each linking its own copy of the library (simulated with
//! `uefi_pool_alloc::Image`: each has its own statics): they share one allocator state, so that
//! any image frees, resizes and queries any other's blocks on every path, under random
//! interleaving and re-entrant calls from other images; each memory type keeps its own pages;
//! a private image and a state of another layout keep apart cleanly.

mod common;

use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::model::{free_all, run_by};
use common::*;
use uefi_pool_alloc::{Image, POOL_PRIVATE, SHARED_STATE_GUID, as_image};
use uefi_pool_alloc_sim::uefi_raw::table::boot::Tpl;

/// Every simulated image and foreign state the tests made: leaked, as images live for the boot,
/// and kept reachable, so that Miri does not count them as leaks.
static KEPT: Mutex<Vec<&'static dyn Sync>> = Mutex::new(Vec::new());

fn images(count: usize) -> Vec<&'static Image> {
    (0..count)
        .map(|_| {
            let image: &'static Image = Box::leak(Box::new(Image::new()));
            KEPT.lock().unwrap().push(image);
            image
        })
        .collect()
}

/// A firmware with a protocol database, where images can share.
fn sharing_sim() -> Sim {
    fresh_sim(SimConfig {
        protocols: true,
        ..SimConfig::default()
    })
}

/// `pool_init_ex` as `image`, whose handle is made from `number`.
fn init(sim: &Sim, image: &'static Image, number: usize, memory_type: MemoryType, options: u32) {
    let status = as_image(image, || unsafe {
        pool_init_ex(
            ptr::without_provenance_mut(0x1_0000 + number * 16),
            sim.system_table().cast(),
            memory_type.0,
            options,
        )
    });
    assert_eq!(status, SUCCESS, "pool_init_ex of image {number}");
}

fn fini_all(images: &[&'static Image]) {
    for image in images {
        assert_eq!(as_image(image, || pool_fini()), SUCCESS);
    }
}

/// What is left once every block is freed and idle pages are trimmed: the published state, a
/// single pool block, and nothing else.
fn assert_only_the_state_is_left(sim: &Sim, image: &'static Image) {
    as_image(image, || pool_trim());
    assert_eq!(sim.live_pages(), 0, "pages left");
    let published = sim
        .interfaces(SHARED_STATE_GUID)
        .into_iter()
        .filter(|&state| sim.pool_block_size(state.cast()).is_some())
        .count();
    assert_eq!(published, 1, "the state is a pool block");
    assert_eq!(
        sim.live_pool_blocks(),
        published,
        "pool blocks other than the published state left"
    );
    assert_eq!(as_image(image, stats).bookkeeping_bytes, 0);
    assert_eq!(sim.bad_frees(), 0);
    assert_eq!(sim.tpl_violations(), 0);
}

const TYPES: [MemoryType; 3] = [
    MemoryType::LOADER_DATA,
    MemoryType::BOOT_SERVICES_DATA,
    MemoryType::RUNTIME_SERVICES_DATA,
];

/// (size, align) of a block of each path: the front, the pool path, the page path.
const SHAPES: [(usize, usize); 4] = [(64, 64), (200, 8), (3000, 16), (100, 8192)];

#[test]
fn every_image_frees_resizes_and_queries_every_others_blocks_on_every_path() {
    let sim = sharing_sim();
    let images = images(3);
    for (number, image) in images.iter().enumerate() {
        init(&sim, image, number, TYPES[number], 0);
    }
    assert_eq!(sim.interfaces(SHARED_STATE_GUID).len(), 1, "one state");
    let start = as_image(images[0], stats);
    for owner in 0..3 {
        for other in (0..3).filter(|&other| other != owner) {
            for (number, &(size, align)) in SHAPES.iter().enumerate() {
                let seed = (owner * 16 + other * 4 + number) as u8;
                let block = as_image(images[owner], || alloc(size, align));
                assert!(!block.is_null());
                if size <= 1024 || align > 2048 {
                    assert_eq!(sim.page_type(block.addr()), Some(TYPES[owner]));
                }
                fill(block, size, seed);
                let usable_there = as_image(images[other], || usable(block));
                assert_eq!(usable_there, as_image(images[owner], || usable(block)));
                assert!(usable_there >= size);
                assert!(
                    as_image(images[other], || unsafe {
                        pool_shrink(block.cast(), size, size / 2)
                    }) != 0,
                    "shrunk in place by another image"
                );
                let moved = as_image(images[other], || realloc(block, size * 3));
                assert!(!moved.is_null());
                assert_eq!(moved.addr() % align, 0);
                assert!(holds(moved, size / 2, seed));
                let third = 3 - owner - other;
                assert_eq!(as_image(images[third], || free(moved)), SUCCESS);
                assert_eq!(
                    as_image(images[owner], || free(moved)),
                    INVALID_PARAMETER,
                    "a double free from another image is refused"
                );
            }
            let raw = as_image(images[owner], || pool_raw_alloc(100));
            assert_eq!(
                as_image(images[other], || unsafe { pool_raw_free(raw) }),
                SUCCESS
            );
        }
    }
    let end: Vec<PoolStats> = images.iter().map(|image| as_image(image, stats)).collect();
    assert!(end.iter().all(|s| *s == end[0]), "one set of statistics");
    assert_eq!(
        (end[0].live_blocks, end[0].live_bytes),
        (start.live_blocks, start.live_bytes)
    );
    assert_eq!(end[0].invalid_calls - start.invalid_calls, 6 * 4);
    assert_only_the_state_is_left(&sim, images[0]);
    fini_all(&images);
}

#[test]
fn each_memory_type_has_its_own_pages() {
    let sim = sharing_sim();
    let images = images(3);
    for (number, image) in images.iter().enumerate() {
        init(&sim, image, number, TYPES[number], 0);
    }
    // Interleaved allocations of one class: every page holds one memory type only.
    let per_type = scaled(200, 90);
    let blocks: Vec<(usize, *mut u8)> = (0..3 * per_type)
        .map(|i| (i % 3, as_image(images[i % 3], || alloc(48, 16))))
        .collect();
    for &(owner, block) in &blocks {
        assert_eq!(sim.page_type(block.addr()), Some(TYPES[owner]));
    }
    let pages: std::collections::BTreeSet<usize> =
        blocks.iter().map(|(_, b)| b.addr() & !4095).collect();
    assert_eq!(
        pages.len(),
        3 * per_type.div_ceil(4096 / 48),
        "no page shared by two types"
    );
    for (number, (_, block)) in blocks.into_iter().enumerate() {
        assert_eq!(as_image(images[(number + 1) % 3], || free(block)), SUCCESS);
    }
    assert_only_the_state_is_left(&sim, images[1]);
    fini_all(&images);
}

#[test]
fn a_page_block_grows_in_place_only_by_pages_of_its_own_memory_type() {
    let sim = sharing_sim();
    let images = images(3);
    init(&sim, images[0], 0, MemoryType::LOADER_DATA, 0);
    init(&sim, images[1], 1, MemoryType::LOADER_DATA, 0);
    init(&sim, images[2], 2, MemoryType::RUNTIME_SERVICES_DATA, 0);
    let pages_of = |block: *mut u8| -> Vec<Option<MemoryType>> {
        (0..3)
            .map(|page| sim.page_type(block.addr() + page * 4096))
            .collect()
    };
    let block = as_image(images[0], || alloc(3 * 4096, 4096));
    fill(block, 4096, 7);
    // Shrinking frees the tail pages, so that growing can claim them again.
    let shrink = |image| {
        let shrunk = as_image(image, || unsafe {
            pool_shrink(block.cast(), 3 * 4096, 4096)
        });
        assert!(shrunk != 0);
    };
    shrink(images[0]);
    assert_eq!(
        as_image(images[1], || realloc(block, 3 * 4096)),
        block,
        "grown in place by an image of the same memory type"
    );
    assert_eq!(pages_of(block), [Some(MemoryType::LOADER_DATA); 3]);
    shrink(images[1]);
    let moved = as_image(images[2], || realloc(block, 3 * 4096));
    assert_ne!(moved, block, "moved by an image of another memory type");
    assert_eq!(
        pages_of(moved),
        [Some(MemoryType::RUNTIME_SERVICES_DATA); 3]
    );
    assert!(holds(moved, 4096, 7));
    assert_eq!(as_image(images[0], || free(moved)), SUCCESS);
    assert_only_the_state_is_left(&sim, images[0]);
    fini_all(&images);
}

#[test]
fn memory_types_beyond_the_fronts_eight_kinds_go_to_the_pool() {
    let sim = sharing_sim();
    let images = images(9);
    let oem = |number: usize| MemoryType(0x7000_0000 + number as u32);
    for (number, image) in images.iter().enumerate() {
        init(&sim, image, number, oem(number), 0);
    }
    let blocks: Vec<*mut u8> = images
        .iter()
        .map(|image| as_image(image, || alloc(64, 8)))
        .collect();
    for (number, block) in blocks.iter().enumerate().take(8) {
        assert_eq!(sim.page_type(block.addr()), Some(oem(number)), "front page");
    }
    assert_eq!(sim.page_type(blocks[8].addr()), None, "a pool block");
    for block in blocks {
        assert_eq!(as_image(images[0], || free(block)), SUCCESS);
    }
    assert_only_the_state_is_left(&sim, images[0]);
    fini_all(&images);
}

#[test]
fn an_image_that_unloads_leaves_its_blocks_to_the_others() {
    let sim = sharing_sim();
    let images = images(2);
    init(&sim, images[0], 0, MemoryType::BOOT_SERVICES_DATA, 0);
    init(&sim, images[1], 1, MemoryType::LOADER_DATA, 0);
    let blocks: Vec<*mut u8> = SHAPES
        .iter()
        .map(|&(size, align)| as_image(images[0], || alloc(size, align)))
        .collect();
    // Unloading: the EDK2 destructor's pool_fini; nothing of the image stays registered.
    assert_eq!(as_image(images[0], || pool_fini()), SUCCESS);
    for block in blocks {
        assert_eq!(as_image(images[1], || free(block)), SUCCESS);
    }
    assert_only_the_state_is_left(&sim, images[1]);
    assert_eq!(as_image(images[1], || pool_fini()), SUCCESS);
}

/// Frees `blocks` (of `owner`) as `other`, which must refuse every one and leave it intact; then
/// frees them as `owner`.
fn refused_across(owner: &'static Image, other: &'static Image, blocks: &[(*mut u8, usize)]) {
    for (number, &(block, size)) in blocks.iter().enumerate() {
        assert_eq!(as_image(other, || free(block)), INVALID_PARAMETER);
        assert_eq!(as_image(other, || usable(block)), 0);
        assert!(as_image(other, || realloc(block, 10)).is_null());
        assert!(holds(block, size, number as u8), "refused without harm");
    }
    for &(block, _) in blocks {
        assert_eq!(as_image(owner, || free(block)), SUCCESS);
    }
}

fn blocks_of_every_path(image: &'static Image) -> Vec<(*mut u8, usize)> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(number, &(size, align))| {
            let block = as_image(image, || alloc(size, align));
            fill(block, size, number as u8);
            (block, size)
        })
        .collect()
}

#[test]
fn a_private_image_and_the_sharing_ones_refuse_each_others_blocks() {
    let sim = sharing_sim();
    let images = images(3);
    init(&sim, images[0], 0, MemoryType::LOADER_DATA, 0);
    init(&sim, images[1], 1, MemoryType::LOADER_DATA, POOL_PRIVATE);
    init(&sim, images[2], 2, MemoryType::LOADER_DATA, 0);
    assert_eq!(sim.interfaces(SHARED_STATE_GUID).len(), 1);
    let invalid = |image| as_image(image, stats).invalid_calls;
    let (private_before, shared_before) = (invalid(images[1]), invalid(images[0]));
    refused_across(images[0], images[1], &blocks_of_every_path(images[0]));
    let private_refused = invalid(images[1]) - private_before;
    assert_eq!(
        invalid(images[0]),
        shared_before,
        "not counted by the others"
    );
    refused_across(images[1], images[2], &blocks_of_every_path(images[1]));
    assert_eq!(invalid(images[1]) - private_before, private_refused);
    assert_eq!(invalid(images[0]) - shared_before, private_refused);
    assert!(private_refused >= 2 * SHAPES.len() as u64);
    as_image(images[1], || pool_trim());
    assert_only_the_state_is_left(&sim, images[0]);
    fini_all(&images);
}

#[test]
fn a_state_of_another_layout_is_left_untouched() {
    let sim = sharing_sim();
    // Another copy's state: the signature, then a layout version and size not ours.
    let mut foreign = Vec::new();
    foreign.extend_from_slice(b"UPASTATE");
    foreign.extend_from_slice(&0xFFFF_u32.to_le_bytes());
    foreign.extend_from_slice(&4096_u32.to_le_bytes());
    foreign.resize(4096, 0xA5);
    let foreign: &'static mut [u8] = Box::leak(foreign.into_boxed_slice());
    let snapshot = foreign.to_vec();
    sim.install(SHARED_STATE_GUID, foreign.as_mut_ptr().cast());
    let foreign: &'static [u8] = foreign;
    KEPT.lock().unwrap().push(Box::leak(Box::new(foreign)));
    let images = images(2);
    init(&sim, images[0], 0, MemoryType::LOADER_DATA, 0);
    init(&sim, images[1], 1, MemoryType::BOOT_SERVICES_DATA, 0);
    assert_eq!(
        sim.interfaces(SHARED_STATE_GUID).len(),
        2,
        "a state of our layout beside the other"
    );
    let blocks = blocks_of_every_path(images[0]);
    for (block, _) in blocks {
        assert_eq!(as_image(images[1], || free(block)), SUCCESS);
    }
    assert_eq!(*foreign, *snapshot, "the other layout's state untouched");
    assert_only_the_state_is_left(&sim, images[0]);
    fini_all(&images);
}

#[test]
fn copies_of_two_layout_versions_keep_two_states_and_refuse_each_others_blocks() {
    let sim = sharing_sim();
    let images = images(4);
    // Images 1 and 3 play copies of a later layout version (published second, found second).
    for (number, image) in images.iter().enumerate() {
        if number % 2 == 1 {
            as_image(image, || uefi_pool_alloc::mock_layout_version(2));
        }
        init(&sim, image, number, MemoryType::LOADER_DATA, 0);
    }
    assert_eq!(
        sim.interfaces(SHARED_STATE_GUID).len(),
        2,
        "one state per layout"
    );
    for (owner, other) in [(0, 1), (1, 0), (3, 2), (2, 3)] {
        refused_across(
            images[owner],
            images[other],
            &blocks_of_every_path(images[owner]),
        );
    }
    for (owner, other) in [(0, 2), (1, 3)] {
        for (block, _) in blocks_of_every_path(images[owner]) {
            assert_eq!(
                as_image(images[other], || free(block)),
                SUCCESS,
                "the same layout shares"
            );
        }
    }
    for image in &images {
        as_image(image, || pool_trim());
    }
    assert_eq!(sim.live_pages(), 0);
    assert_eq!(sim.live_pool_blocks(), 2, "the two states");
    fini_all(&images);
}

#[test]
fn without_protocol_services_every_image_stays_private() {
    let sim = fresh_sim(SimConfig::default());
    let images = images(2);
    init(&sim, images[0], 0, MemoryType::LOADER_DATA, 0);
    init(&sim, images[1], 1, MemoryType::LOADER_DATA, 0);
    assert_eq!(sim.pool_requests().len(), 0, "no state allocated");
    refused_across(images[0], images[1], &blocks_of_every_path(images[0]));
    for image in &images {
        as_image(image, || pool_trim());
    }
    assert_eq!((sim.live_pages(), sim.live_pool_blocks()), (0, 0));
    fini_all(&images);
}

// ---- Random work of eight images, with re-entrant calls from others -------------------------

static SHARERS: Mutex<Vec<&'static Image>> = Mutex::new(Vec::new());
static STEP: AtomicUsize = AtomicUsize::new(0);
static NESTED: AtomicUsize = AtomicUsize::new(0);

/// Every 7th step of the library, a notify function of another image allocates, hands over and
/// frees blocks of the front and the pool path.
fn interrupt_from_another_image() {
    let step = STEP.fetch_add(1, Ordering::Relaxed);
    if step % 7 != 0 {
        return;
    }
    let images = SHARERS.lock().unwrap().clone();
    let ran = Sim::interrupt_now(Tpl::CALLBACK, || {
        let allocator = images[step % images.len()];
        let freer = images[(step / 7) % images.len()];
        let blocks: Vec<*mut u8> = [(32, 8), (64, 64), (1500, 8)]
            .into_iter()
            .map(|(size, align)| {
                let block = as_image(allocator, || alloc(size, align));
                assert!(!block.is_null());
                fill(block, size, step as u8);
                block
            })
            .collect();
        for (block, size) in blocks.into_iter().zip([32, 64, 1500]) {
            assert!(holds(block, size, step as u8));
            assert_eq!(as_image(freer, || free(block)), SUCCESS);
        }
    });
    NESTED.fetch_add(usize::from(ran), Ordering::Relaxed);
}

#[test]
fn eight_images_at_random_with_reentrant_calls_from_others_keep_every_byte() {
    let sim = sharing_sim();
    let images = images(8);
    for (number, image) in images.iter().enumerate() {
        init(&sim, image, number, TYPES[number % 3], 0);
    }
    let start = as_image(images[0], stats);
    *SHARERS.lock().unwrap() = images.clone();
    uefi_pool_alloc::set_step_hook(Some(interrupt_from_another_image));
    let by_any = &mut |chooser: u64, operation: &mut dyn FnMut()| {
        as_image(images[(chooser % 8) as usize], operation)
    };
    let live = run_by(5, scaled(3000, 200), false, &sim, by_any);
    let mut freer = 0;
    let handed_over: Vec<_> = live.into_iter().collect();
    for block in handed_over {
        freer += 3;
        as_image(images[freer % 8], || free_all(vec![block]));
    }
    uefi_pool_alloc::set_step_hook(None);
    assert!(NESTED.load(Ordering::Relaxed) > 10, "notify functions ran");
    let end = as_image(images[7], stats);
    assert_eq!(
        (end.live_blocks, end.live_bytes, end.invalid_calls),
        (start.live_blocks, start.live_bytes, start.invalid_calls)
    );
    assert_only_the_state_is_left(&sim, images[3]);
    fini_all(&images);
}
