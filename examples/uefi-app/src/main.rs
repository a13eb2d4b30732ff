//! A UEFI application written with the `uefi` crate whose `#[global_allocator]` is
//! uefi-pool-alloc's `PoolAllocator`: Rust's collections, over-aligned boxes and the `uefi`
//! crate's own allocating calls all run on it. It prints one line per check, then
//! `N passed, M failed`, and shuts the machine down.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use uefi::proto::loaded_image::LoadedImage;
use uefi::runtime::ResetType;
use uefi::{CString16, boot, println, runtime, table};
use uefi_pool_alloc::PoolAllocator;

#[global_allocator]
static ALLOCATOR: PoolAllocator = PoolAllocator::new();

static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

fn check(ok: bool, name: &str) {
    if ok {
        PASSED.fetch_add(1, Ordering::Relaxed);
        println!("ok - {name}");
    } else {
        FAILED.fetch_add(1, Ordering::Relaxed);
        println!("FAIL - {name}");
    }
}

/// A type the firmware's pool (8-byte alignment) cannot hold on its own.
#[repr(C, align(4096))]
struct Page([u8; 4096]);

#[uefi::entry]
fn main() -> uefi::Status {
    let system_table = table::system_table_raw().expect("the uefi crate set the system table");
    // SAFETY: this image's handle and system table, before the first allocation.
    let init = unsafe { PoolAllocator::init(boot::image_handle().as_ptr(), system_table.as_ptr()) };
    check(init.is_ok(), "PoolAllocator::init");
    let start = ALLOCATOR.stats();

    let numbers: Vec<u64> = (0..10_000).collect();
    check(
        numbers.iter().sum::<u64>() == 49_995_000,
        "a Vec grown to 10,000 elements",
    );

    let pages: Vec<Box<Page>> = (0..16u8).map(|i| Box::new(Page([i; 4096]))).collect();
    check(
        pages.iter().enumerate().all(|(i, page)| {
            (&raw const **page).addr().is_multiple_of(4096)
                && page.0.iter().all(|&b| usize::from(b) == i)
        }),
        "16 boxes at alignment 4096",
    );

    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("{i},"));
    }
    text.truncate(10);
    text.shrink_to_fit();
    check(
        text == "0,1,2,3,4,",
        "a String grown, truncated and shrunk in place",
    );

    let name = CString16::try_from("uefi-pool-alloc").ok();
    check(
        name.as_ref().is_some_and(|name| name.num_chars() == 15),
        "the uefi crate's CString16",
    );
    // find_handles returns a Vec: the uefi crate allocates through the global allocator.
    let images = boot::find_handles::<LoadedImage>().unwrap_or_default();
    check(
        images.contains(&boot::image_handle()),
        "uefi's find_handles finds this image",
    );

    let live = ALLOCATOR.stats();
    check(
        live.live_blocks > start.live_blocks + 16,
        "the statistics count the live blocks",
    );
    drop((numbers, pages, text, name, images));
    let end = ALLOCATOR.stats();
    check(
        (end.live_blocks, end.live_bytes) == (start.live_blocks, start.live_bytes),
        "every block freed: live blocks and bytes back to their start",
    );
    ALLOCATOR.trim();
    check(
        ALLOCATOR.stats().front_pages == 0,
        "trim gives every idle small-block page back",
    );

    println!(
        "{} passed, {} failed",
        PASSED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed)
    );
    runtime::reset(ResetType::SHUTDOWN, uefi::Status::SUCCESS, None)
}
