//! A fixed `alloc` workload (Vec growth and shrink, String, BTreeMap, Box of alignment 64 and
//! 4096), built twice: with uefi-pool-alloc's `PoolAllocator`, and with feature `stub-allocator`
//! with the few lines of AllocatePool/FreePool that Rust std / r-efi-alloc use (Size + Align for
//! alignments above 8). The difference in .text is the code the library adds to a Rust app.
//! Built by scripts/rust-firmware-test.sh; never booted (it would return EFI_SUCCESS).
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
extern crate alloc;

#[cfg(target_os = "uefi")]
mod probe {
    use alloc::boxed::Box;
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Write;
    use core::hint::black_box;

    use uefi_raw::table::system::SystemTable;
    use uefi_raw::{Handle, Status};

    #[repr(align(64))]
    struct Line([u8; 64]);
    #[repr(align(4096))]
    struct Page([u8; 4096]);

    #[cfg(not(feature = "stub-allocator"))]
    #[global_allocator]
    static A: uefi_pool_alloc::PoolAllocator = uefi_pool_alloc::PoolAllocator::new();

    #[cfg(not(feature = "stub-allocator"))]
    unsafe fn init(image: Handle, st: *mut SystemTable) -> bool {
        // SAFETY: the caller's contract.
        unsafe { uefi_pool_alloc::PoolAllocator::init(image, st) }.is_ok()
    }

    #[cfg(feature = "stub-allocator")]
    #[global_allocator]
    static A: stub::Stub = stub::Stub;

    #[cfg(feature = "stub-allocator")]
    unsafe fn init(_image: Handle, st: *mut SystemTable) -> bool {
        // SAFETY: the caller's contract.
        unsafe { stub::init(st) }
    }

    /// Rust std's UEFI allocator in a nutshell: AllocatePool(size) up to align 8, else
    /// AllocatePool(size + align) with the pool pointer stored below the aligned one.
    #[cfg(feature = "stub-allocator")]
    mod stub {
        use core::alloc::{GlobalAlloc, Layout};
        use core::ptr;
        use core::sync::atomic::{AtomicPtr, Ordering};

        use uefi_raw::Status;
        use uefi_raw::table::boot::{BootServices, MemoryType};
        use uefi_raw::table::system::SystemTable;

        static BS: AtomicPtr<BootServices> = AtomicPtr::new(ptr::null_mut());

        pub unsafe fn init(st: *mut SystemTable) -> bool {
            // SAFETY: the firmware's system table.
            BS.store(unsafe { (*st).boot_services }, Ordering::Relaxed);
            true
        }

        pub struct Stub;

        unsafe impl GlobalAlloc for Stub {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let bs = BS.load(Ordering::Relaxed);
                let align = layout.align();
                let size = if align <= 8 {
                    layout.size()
                } else {
                    layout.size() + align
                };
                let mut pool = ptr::null_mut();
                // SAFETY: boot services are live while the probe runs.
                if unsafe { ((*bs).allocate_pool)(MemoryType::LOADER_DATA, size, &mut pool) }
                    != Status::SUCCESS
                {
                    return ptr::null_mut();
                }
                if align <= 8 {
                    return pool;
                }
                let offset = align - pool.addr() % align;
                let aligned = pool.wrapping_add(offset);
                // SAFETY: offset >= 8, so the word below `aligned` lies in the block.
                unsafe { aligned.cast::<*mut u8>().sub(1).write(pool) };
                aligned
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                let bs = BS.load(Ordering::Relaxed);
                let pool = if layout.align() <= 8 {
                    ptr
                } else {
                    // SAFETY: written by alloc.
                    unsafe { ptr.cast::<*mut u8>().sub(1).read() }
                };
                // SAFETY: a block of alloc.
                let _ = unsafe { ((*bs).free_pool)(pool) };
            }
        }
    }

    #[unsafe(export_name = "efi_main")]
    extern "efiapi" fn efi_main(image: Handle, st: *mut SystemTable) -> Status {
        // SAFETY: the firmware's image handle and system table.
        if !unsafe { init(image, st) } {
            return Status::LOAD_ERROR;
        }
        let mut v: Vec<u32> = Vec::new();
        for i in 0..black_box(1000) {
            v.push(i);
        }
        v.truncate(black_box(10));
        v.shrink_to_fit();
        let mut s = String::new();
        let _ = write!(s, "{} {}", v.len(), black_box(42));
        let mut map = BTreeMap::new();
        for i in 0..black_box(100u32) {
            map.insert(i, i * 2);
        }
        let line = Box::new(Line([black_box(1); 64]));
        let page = Box::new(Page([black_box(2); 4096]));
        let sum = v.iter().sum::<u32>()
            + s.len() as u32
            + map.values().sum::<u32>()
            + u32::from(line.0[63])
            + u32::from(page.0[4095]);
        if black_box(sum) == 0 {
            Status::ABORTED
        } else {
            Status::SUCCESS
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "uefi"))]
fn main() {}
