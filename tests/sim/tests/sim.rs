//! Tests of the simulated firmware itself, through its Boot Services table.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use uefi_pool_alloc_sim::uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_pool_alloc_sim::uefi_raw::table::Revision;
use uefi_pool_alloc_sim::uefi_raw::table::boot::{
    AllocateType, BootServices, EventType, MemoryType, Tpl,
};
use uefi_pool_alloc_sim::uefi_raw::table::system::SystemTable;
use uefi_pool_alloc_sim::uefi_raw::{Event, Guid, Status, guid};
use uefi_pool_alloc_sim::{Residue, Sim, SimConfig};

const PAGE: usize = 4096;

fn sim_with(residue: Residue) -> Sim {
    Sim::new(SimConfig {
        residue,
        ..SimConfig::default()
    })
}

fn bs(sim: &Sim) -> *const BootServices {
    // SAFETY: the sim's own system table.
    unsafe { (*sim.system_table()).boot_services }
}

fn alloc_pool(bs: *const BootServices, ty: MemoryType, size: usize) -> (Status, *mut u8) {
    let mut p = std::ptr::null_mut();
    // SAFETY: a valid out parameter.
    let status = unsafe { ((*bs).allocate_pool)(ty, size, &mut p) };
    (status, p)
}

fn pool(bs: *const BootServices, size: usize) -> *mut u8 {
    let (status, p) = alloc_pool(bs, MemoryType::LOADER_DATA, size);
    assert_eq!(status, Status::SUCCESS);
    p
}

fn free_pool(bs: *const BootServices, p: *mut u8) -> Status {
    // SAFETY: the firmware validates the pointer.
    unsafe { ((*bs).free_pool)(p) }
}

fn alloc_pages(
    bs: *const BootServices,
    ty: AllocateType,
    count: usize,
    addr: u64,
) -> (Status, u64) {
    let mut a = addr;
    // SAFETY: a valid in/out parameter.
    let status = unsafe { ((*bs).allocate_pages)(ty, MemoryType::LOADER_DATA, count, &mut a) };
    (status, a)
}

fn pages(bs: *const BootServices, count: usize) -> u64 {
    let (status, a) = alloc_pages(bs, AllocateType::ANY_PAGES, count, 0);
    assert_eq!(status, Status::SUCCESS);
    a
}

fn free_pages(bs: *const BootServices, addr: u64, count: usize) -> Status {
    // SAFETY: the firmware validates the range.
    unsafe { ((*bs).free_pages)(addr, count) }
}

/// A page address as a pointer, as a library would make it.
fn page_ptr(addr: u64) -> *mut u8 {
    std::ptr::with_exposed_provenance_mut(addr as usize)
}

#[test]
fn system_table_is_populated() {
    let sim = Sim::new(SimConfig::default());
    let st: &SystemTable = unsafe { &*sim.system_table() };
    assert_eq!(st.header.signature, 0x5453_5953_2049_4249);
    assert_eq!(st.header.revision, Revision::EFI_2_70);
    assert!(!st.boot_services.is_null());
    assert_eq!(st.boot_services, sim.boot_services());
    let bs = unsafe { &*st.boot_services };
    assert_eq!(bs.header.signature, 0x5652_4553_544f_4f42);
    assert_eq!(bs.header.size as usize, size_of::<BootServices>());
    assert_eq!(unsafe { *st.firmware_vendor }, u16::from(b'u'));
    assert!(!sim.image_handle().is_null());
}

#[test]
fn edk2_residue_is_24_mod_128_and_bit7_varies() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    let mut blocks = Vec::new();
    let (mut bit7_set, mut bit7_clear) = (false, false);
    for size in [
        0, 1, 8, 24, 88, 89, 100, 216, 600, 1000, 2000, 2648, 2649, 3000, 9000,
    ] {
        for _ in 0..8 {
            let p = pool(bs, size);
            assert_eq!(p.addr() % 128, 24, "size {size}");
            if size > 2648 {
                assert_eq!(p.addr() % PAGE, 24, "page-path block, size {size}");
            }
            if p.addr() & 128 != 0 {
                bit7_set = true;
            } else {
                bit7_clear = true;
            }
            // Garbage fill and an EDK2 pool head.
            let data = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(data.iter().all(|&b| b == 0xAF));
            let signature = unsafe { p.sub(24).cast::<u32>().read() };
            assert_eq!(signature.to_le_bytes(), *b"phd0");
            assert!(sim.block_contains(p, size));
            assert!(!sim.block_contains(p, size + 1));
            assert!(!sim.block_contains(p.wrapping_sub(1), 1));
            assert_eq!(sim.pool_block_size(p), Some(size));
            blocks.push(p);
        }
    }
    assert!(
        bit7_set && bit7_clear,
        "bit 7 of the data address must vary"
    );
    assert_eq!(sim.live_pool_blocks(), blocks.len());
    for &p in &blocks {
        assert_eq!(free_pool(bs, p), Status::SUCCESS);
        assert!(!sim.block_contains(p, 0));
    }
    assert_eq!(sim.live_pool_blocks(), 0);
    assert_eq!(sim.bad_frees(), 0);
}

#[test]
fn fixed_residues() {
    for r in [0, 8, 16, 24, 64, 2048, 4088] {
        let sim = sim_with(Residue::Fixed(r));
        let bs = bs(&sim);
        for size in [0, 1, 100, 5000] {
            let p = pool(bs, size);
            assert_eq!(p.addr() % PAGE, r, "residue {r} size {size}");
            unsafe { p.write_bytes(0, size) };
            assert_eq!(free_pool(bs, p), Status::SUCCESS);
        }
        assert_eq!(sim.bad_frees(), 0);
    }
}

#[test]
#[should_panic(expected = "multiple of 8")]
fn fixed_residue_must_be_multiple_of_8() {
    let _ = sim_with(Residue::Fixed(12));
}

fn residues(config: SimConfig, n: usize) -> Vec<usize> {
    let sim = Sim::new(config);
    let bs = bs(&sim);
    let blocks: Vec<_> = (0..n).map(|i| pool(bs, 1 + i)).collect();
    let out = blocks.iter().map(|p| p.addr() % PAGE).collect();
    for p in blocks {
        assert_eq!(free_pool(bs, p), Status::SUCCESS);
    }
    out
}

#[test]
fn random_residues_are_seeded_multiples_of_8() {
    let config = |seed| SimConfig {
        residue: Residue::Random,
        seed,
        ..SimConfig::default()
    };
    let a = residues(config(7), 24);
    assert!(a.iter().all(|r| r % 8 == 0));
    let mut distinct = a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 12, "{a:?}");
    assert!(a.iter().any(|r| r % 16 == 0) && a.iter().any(|r| r % 16 == 8));
    assert_eq!(a, residues(config(7), 24), "same seed, same placement");
    assert_ne!(a, residues(config(8), 24));
}

#[test]
fn alternating_residues() {
    let r = residues(
        SimConfig {
            residue: Residue::Alternating,
            ..SimConfig::default()
        },
        6,
    );
    assert_eq!(r, [8, 4088, 8, 4088, 8, 4088]);
}

#[test]
fn allocate_pool_parameter_checks() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    for ty in [
        MemoryType::MAX,
        MemoryType(0x6FFF_FFFF),
        MemoryType::CONVENTIONAL,
        MemoryType::PERSISTENT_MEMORY,
        MemoryType::UNACCEPTED,
    ] {
        assert_eq!(alloc_pool(bs, ty, 8).0, Status::INVALID_PARAMETER, "{ty:?}");
    }
    let null = unsafe { ((*bs).allocate_pool)(MemoryType::LOADER_DATA, 8, std::ptr::null_mut()) };
    assert_eq!(null, Status::INVALID_PARAMETER);
    for ty in [
        MemoryType::BOOT_SERVICES_DATA,
        MemoryType::RUNTIME_SERVICES_DATA,
        MemoryType(0x7000_0000),
        MemoryType(0x8000_0000),
    ] {
        let (status, p) = alloc_pool(bs, ty, 8);
        assert_eq!(status, Status::SUCCESS);
        assert_eq!(sim.pool_block_type(p), Some(ty));
        assert_eq!(free_pool(bs, p), Status::SUCCESS);
    }
    assert_eq!(
        alloc_pool(bs, MemoryType::LOADER_DATA, (1 << 30) + 1).0,
        Status::OUT_OF_RESOURCES
    );
    assert_eq!(
        alloc_pool(bs, MemoryType::LOADER_DATA, usize::MAX - 40).0,
        Status::OUT_OF_RESOURCES
    );
    assert_eq!(sim.live_pool_blocks(), 0);
    assert_eq!(
        sim.pool_requests(),
        [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, (1 << 30) + 1, usize::MAX - 40]
    );
    assert_eq!(sim.memory_types_used()[0], MemoryType::MAX);
    assert!(sim.memory_types_used().contains(&MemoryType(0x8000_0000)));
    assert_eq!(sim.allocation_calls(), 12);
}

#[test]
fn fault_injection() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    sim.fail_allocation_at(1);
    sim.fail_allocation_at(3);
    let a = pool(bs, 16); // 0
    assert_eq!(
        alloc_pool(bs, MemoryType::LOADER_DATA, 16).0,
        Status::OUT_OF_RESOURCES
    ); // 1
    let b = pages(bs, 1); // 2
    assert_eq!(
        alloc_pages(bs, AllocateType::ANY_PAGES, 1, 0).0,
        Status::OUT_OF_RESOURCES
    ); // 3
    assert_eq!(free_pool(bs, a), Status::SUCCESS); // not an allocation call
    assert_eq!(free_pages(bs, b, 1), Status::SUCCESS);
    assert_eq!(sim.allocation_calls(), 4);
    assert_eq!(sim.service_calls(), 6);
    sim.fail_allocations_from(5);
    let c = pool(bs, 16); // 4
    for _ in 0..3 {
        assert_eq!(
            alloc_pool(bs, MemoryType::LOADER_DATA, 16).0,
            Status::OUT_OF_RESOURCES
        );
        assert_eq!(
            alloc_pages(bs, AllocateType::ANY_PAGES, 1, 0).0,
            Status::OUT_OF_RESOURCES
        );
    }
    sim.clear_failures();
    let d = pool(bs, 16);
    assert_eq!(sim.pool_requests().len(), 7);
    assert_eq!(sim.page_requests(), [1, 1, 1, 1, 1]);
    assert_eq!(free_pool(bs, c), Status::SUCCESS);
    assert_eq!(free_pool(bs, d), Status::SUCCESS);
    assert_eq!(sim.live_pool_blocks() + sim.live_pages(), 0);
}

#[test]
fn bad_pool_frees_are_rejected_without_touching_memory() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    let p = pool(bs, 64);
    assert_eq!(
        free_pool(bs, std::ptr::null_mut()),
        Status::INVALID_PARAMETER
    );
    let mut local = 0u64;
    assert_eq!(
        free_pool(bs, (&raw mut local).cast()),
        Status::INVALID_PARAMETER
    );
    // Never dereferenced: a dangling pointer is rejected just the same.
    assert_eq!(
        free_pool(bs, std::ptr::without_provenance_mut(0x1234_5678)),
        Status::INVALID_PARAMETER
    );
    assert_eq!(free_pool(bs, p.wrapping_add(8)), Status::INVALID_PARAMETER);
    assert_eq!(sim.bad_frees(), 4);
    assert_eq!(free_pool(bs, p), Status::SUCCESS);
    assert_eq!(free_pool(bs, p), Status::INVALID_PARAMETER, "double free");
    assert_eq!(sim.bad_frees(), 5);

    // An underrun that overwrites the pool head makes FreePool refuse the block.
    let q = pool(bs, 32);
    unsafe { q.sub(24).write(0) };
    assert_eq!(free_pool(bs, q), Status::INVALID_PARAMETER);
    assert_eq!(sim.head_corruptions(), 1);
    assert_eq!(sim.bad_frees(), 6);
    let report = sim.finish();
    assert_eq!(
        report.leaked_pool_blocks, 1,
        "the refused block is freed by the sim"
    );
    assert_eq!(report.bad_frees, 6);
}

#[test]
fn page_subranges_can_be_freed() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    let a = pages(bs, 8);
    assert_eq!(a % PAGE as u64, 0);
    let p = page_ptr(a);
    unsafe {
        assert!(
            std::slice::from_raw_parts(p, 8 * PAGE)
                .iter()
                .all(|&b| b == 0xAF)
        );
        p.write_bytes(1, 8 * PAGE);
    }
    assert_eq!(sim.live_pages(), 8);
    assert!(sim.block_contains(p, 8 * PAGE));
    assert!(!sim.block_contains(p, 8 * PAGE + 1));
    let page = |i: u64| a + i * PAGE as u64;

    // Trim head and tail, as an aligned allocation does.
    assert_eq!(free_pages(bs, page(0), 2), Status::SUCCESS);
    assert_eq!(free_pages(bs, page(5), 3), Status::SUCCESS);
    assert_eq!(sim.live_pages(), 3);
    assert!(sim.block_contains(page_ptr(page(2)), 3 * PAGE));
    assert!(!sim.block_contains(page_ptr(page(1)), PAGE + 1));
    assert!(!sim.block_contains(page_ptr(page(4)), PAGE + 1));
    assert_eq!(sim.bad_frees(), 0);

    // Wrong ranges.
    assert_eq!(
        free_pages(bs, page(0), 1),
        Status::NOT_FOUND,
        "already freed"
    );
    assert_eq!(
        free_pages(bs, page(4), 2),
        Status::NOT_FOUND,
        "partly freed"
    );
    assert_eq!(
        free_pages(bs, page(2), 9),
        Status::NOT_FOUND,
        "past the region"
    );
    assert_eq!(
        free_pages(bs, page(2) + 8, 1),
        Status::INVALID_PARAMETER,
        "misaligned"
    );
    assert_eq!(
        free_pages(bs, page(2), 0),
        Status::INVALID_PARAMETER,
        "no pages"
    );
    assert_eq!(free_pages(bs, 0x1000, 1), Status::NOT_FOUND, "unknown");
    assert_eq!(sim.bad_frees(), 6);
    assert_eq!(sim.live_pages(), 3);

    // Shrink by freeing a tail page, then re-grow in place with AllocatePages(ADDRESS).
    assert_eq!(free_pages(bs, page(4), 1), Status::SUCCESS);
    assert_eq!(
        alloc_pages(bs, AllocateType::ADDRESS, 2, page(4)),
        (Status::SUCCESS, page(4))
    );
    assert!(
        unsafe { std::slice::from_raw_parts(page_ptr(page(4)), 2 * PAGE) }
            .iter()
            .all(|&b| b == 0xAF)
    );
    assert_eq!(sim.live_pages(), 4);
    assert_eq!(
        alloc_pages(bs, AllocateType::ADDRESS, 1, page(3)).0,
        Status::NOT_FOUND,
        "in use"
    );
    assert_eq!(
        alloc_pages(bs, AllocateType::ADDRESS, 3, page(6)).0,
        Status::NOT_FOUND,
        "past the region"
    );
    assert_eq!(
        alloc_pages(bs, AllocateType::ADDRESS, 1, 0x1000).0,
        Status::NOT_FOUND,
        "not the sim's"
    );

    assert_eq!(free_pages(bs, page(2), 4), Status::SUCCESS);
    assert_eq!(sim.live_pages(), 0);
    assert_eq!(sim.bad_frees(), 6);
    assert_eq!(
        free_pages(bs, page(2), 1),
        Status::NOT_FOUND,
        "region released"
    );
}

#[test]
fn allocate_pages_parameter_checks() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    let (status, a) = alloc_pages(bs, AllocateType::MAX_ADDRESS, 2, u64::MAX);
    assert_eq!(status, Status::SUCCESS);
    assert_eq!(
        alloc_pages(bs, AllocateType::MAX_ADDRESS, 1, 0xFFF).0,
        Status::NOT_FOUND
    );
    assert_eq!(
        alloc_pages(bs, AllocateType(3), 1, 0).0,
        Status::INVALID_PARAMETER
    );
    assert_eq!(
        alloc_pages(bs, AllocateType::ANY_PAGES, 0, 0).0,
        Status::OUT_OF_RESOURCES
    );
    assert_eq!(
        alloc_pages(bs, AllocateType::ANY_PAGES, usize::MAX, 0).0,
        Status::OUT_OF_RESOURCES
    );
    let mut out = 0;
    let conventional = unsafe {
        ((*bs).allocate_pages)(
            AllocateType::ANY_PAGES,
            MemoryType::CONVENTIONAL,
            1,
            &mut out,
        )
    };
    assert_eq!(conventional, Status::INVALID_PARAMETER);
    let null = unsafe {
        ((*bs).allocate_pages)(
            AllocateType::ANY_PAGES,
            MemoryType::LOADER_DATA,
            1,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(null, Status::INVALID_PARAMETER);
    assert_eq!(sim.page_requests(), [2, 1, 1, 0, usize::MAX, 1, 1]);
    assert_eq!(free_pages(bs, a, 2), Status::SUCCESS);
    assert_eq!(sim.bad_frees(), 0);
}

#[test]
fn tpl_tracking() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    assert_eq!(sim.tpl(), Tpl::APPLICATION);
    let old = unsafe { ((*bs).raise_tpl)(Tpl::NOTIFY) };
    assert_eq!(old, Tpl::APPLICATION);
    assert_eq!(sim.tpl(), Tpl::NOTIFY);
    let p = pool(bs, 8); // allowed at NOTIFY
    assert_eq!(sim.tpl_violations(), 0);
    unsafe { ((*bs).restore_tpl)(old) };
    assert_eq!(sim.tpl(), Tpl::APPLICATION);
    assert_eq!(sim.max_tpl_seen(), Tpl::NOTIFY);

    unsafe {
        let old = ((*bs).raise_tpl)(Tpl::CALLBACK);
        let _ = ((*bs).raise_tpl)(Tpl::APPLICATION); // lowering through RaiseTpl
        ((*bs).restore_tpl)(old);
    }
    assert_eq!(sim.tpl_violations(), 1);
    unsafe {
        let old = ((*bs).raise_tpl)(Tpl::HIGH_LEVEL);
        assert_eq!(free_pool(bs, p), Status::SUCCESS); // a memory service above NOTIFY
        ((*bs).restore_tpl)(old);
        ((*bs).restore_tpl)(Tpl::NOTIFY); // restoring upwards
        ((*bs).restore_tpl)(Tpl::APPLICATION);
    }
    assert_eq!(sim.tpl_violations(), 3);
    assert_eq!(sim.max_tpl_seen(), Tpl::HIGH_LEVEL);
}

static EBS_LOG: Mutex<Vec<usize>> = Mutex::new(Vec::new());

unsafe extern "efiapi" fn log_notify(_event: Event, context: *mut c_void) {
    EBS_LOG.lock().unwrap().push(context.addr());
}

/// Allocates from an EBS notification, which the spec forbids.
unsafe extern "efiapi" fn allocating_notify(_event: Event, context: *mut c_void) {
    let bs = context.cast::<BootServices>();
    let (status, p) = alloc_pool(bs, MemoryType::LOADER_DATA, 8);
    assert_eq!(status, Status::SUCCESS);
    assert_eq!(free_pool(bs, p), Status::SUCCESS);
}

/// A context that is only a number.
fn tag(n: usize) -> *mut c_void {
    std::ptr::without_provenance_mut(n)
}

fn create_event(
    bs: *const BootServices,
    ty: EventType,
    tpl: Tpl,
    notify: Option<uefi_pool_alloc_sim::uefi_raw::table::boot::EventNotifyFn>,
    ctx: *mut c_void,
) -> (Status, Event) {
    let mut ev = std::ptr::null_mut();
    let status = unsafe { ((*bs).create_event)(ty, tpl, notify, ctx, &mut ev) };
    (status, ev)
}

#[test]
fn exit_boot_services_signals_events() {
    const EBS_GROUP: Guid = guid!("27abf055-b1b8-4c26-8048-748f37baa2df");
    const BEFORE_EBS_GROUP: Guid = guid!("8be0e274-3970-4b44-80c5-1ab9502f3bfc");
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    EBS_LOG.lock().unwrap().clear();
    let ebs = EventType::SIGNAL_EXIT_BOOT_SERVICES;
    let (s1, e1) = create_event(bs, ebs, Tpl::CALLBACK, Some(log_notify), tag(1));
    let (s2, e2) = create_event(bs, ebs, Tpl::NOTIFY, Some(log_notify), tag(2));
    let (s3, e3) = create_event(bs, ebs, Tpl::NOTIFY, Some(log_notify), tag(3));
    let (s4, _) = create_event(
        bs,
        EventType::NOTIFY_SIGNAL,
        Tpl::NOTIFY,
        Some(log_notify),
        tag(4),
    );
    let mut e5 = std::ptr::null_mut();
    let s5 = unsafe {
        ((*bs).create_event_ex)(
            EventType::NOTIFY_SIGNAL,
            Tpl::CALLBACK,
            Some(log_notify),
            std::ptr::without_provenance(5),
            &EBS_GROUP,
            &mut e5,
        )
    };
    let mut e6 = std::ptr::null_mut();
    let s6 = unsafe {
        ((*bs).create_event_ex)(
            EventType::NOTIFY_SIGNAL,
            Tpl::CALLBACK,
            Some(log_notify),
            std::ptr::without_provenance(6),
            &BEFORE_EBS_GROUP,
            &mut e6,
        )
    };
    let (s7, _) = create_event(
        bs,
        ebs,
        Tpl::CALLBACK,
        Some(allocating_notify),
        bs.cast_mut().cast(),
    );
    assert!(
        [s1, s2, s3, s4, s5, s6, s7]
            .iter()
            .all(|&s| s == Status::SUCCESS)
    );
    let distinct: std::collections::BTreeSet<_> =
        [e1, e2, e3, e5, e6].iter().map(|e| e.addr()).collect();
    assert_eq!(distinct.len(), 5);
    assert!(!distinct.contains(&0));

    // Parameter checks.
    assert_eq!(
        create_event(bs, ebs, Tpl::NOTIFY, None, tag(0)).0,
        Status::INVALID_PARAMETER
    );
    assert_eq!(
        create_event(bs, ebs, Tpl::APPLICATION, Some(log_notify), tag(0)).0,
        Status::INVALID_PARAMETER
    );
    assert_eq!(
        create_event(bs, ebs, Tpl::HIGH_LEVEL, Some(log_notify), tag(0)).0,
        Status::INVALID_PARAMETER
    );
    assert_eq!(
        unsafe { ((*bs).close_event)(std::ptr::without_provenance_mut(0x99)) },
        Status::INVALID_PARAMETER
    );
    assert_eq!(sim.bad_event_closes(), 1);

    assert_eq!(unsafe { ((*bs).close_event)(e3) }, Status::SUCCESS);
    assert_eq!(sim.live_events(), 6);
    sim.exit_boot_services();
    // BEFORE group first, then by TPL (highest first), then in creation order; 3 was closed,
    // 4 is not an EBS event.
    assert_eq!(*EBS_LOG.lock().unwrap(), [6, 2, 1, 5]);
    assert_eq!(sim.ebs_notifications(), 5);
    assert_eq!(sim.max_tpl_seen(), Tpl::NOTIFY);
    assert_eq!(sim.tpl(), Tpl::APPLICATION);
    assert_eq!(
        sim.forbidden_calls(),
        2,
        "AllocatePool and FreePool from a notification"
    );
    assert!(sim.boot_services_exited());
    assert!(unsafe { (*sim.system_table()).boot_services }.is_null());

    // A cached Boot Services pointer still works as a table, but the services refuse.
    assert_eq!(
        alloc_pool(bs, MemoryType::LOADER_DATA, 8).0,
        Status::UNSUPPORTED
    );
    assert_eq!(sim.forbidden_calls(), 3);
    sim.exit_boot_services(); // no second round
    assert_eq!(EBS_LOG.lock().unwrap().len(), 4);
    let report = sim.finish();
    assert_eq!(report.leaked_events, 6);
}

#[test]
fn handle_protocol_loaded_image() {
    let get = |sim: &Sim, handle, guid: &Guid| {
        let mut out = std::ptr::null_mut();
        let status = unsafe { ((*bs(sim)).handle_protocol)(handle, guid, &mut out) };
        (status, out.cast::<LoadedImageProtocol>())
    };
    {
        let sim = Sim::new(SimConfig::default());
        let (status, li) = get(&sim, sim.image_handle(), &LoadedImageProtocol::GUID);
        assert_eq!(status, Status::SUCCESS);
        let li = unsafe { &*li };
        assert_eq!(li.image_data_type, MemoryType::LOADER_DATA);
        assert_eq!(li.image_code_type, MemoryType::LOADER_CODE);
        assert_eq!(li.system_table, sim.system_table().cast_const());
        let other = guid!("00000000-0000-0000-0000-000000000001");
        assert_eq!(get(&sim, sim.image_handle(), &other).0, Status::UNSUPPORTED);
        let mut x = 0u8;
        assert_eq!(
            get(&sim, (&raw mut x).cast(), &LoadedImageProtocol::GUID).0,
            Status::UNSUPPORTED
        );
        assert_eq!(
            get(&sim, std::ptr::null_mut(), &LoadedImageProtocol::GUID).0,
            Status::INVALID_PARAMETER
        );
    }
    {
        let config = SimConfig {
            image_data_type: Some(MemoryType::BOOT_SERVICES_DATA),
            ..SimConfig::default()
        };
        let sim = Sim::new(config);
        let (status, li) = get(&sim, sim.image_handle(), &LoadedImageProtocol::GUID);
        assert_eq!(status, Status::SUCCESS);
        assert_eq!(
            unsafe { (*li).image_data_type },
            MemoryType::BOOT_SERVICES_DATA
        );
    }
    {
        let sim = Sim::new(SimConfig {
            image_data_type: None,
            ..SimConfig::default()
        });
        assert_eq!(
            get(&sim, sim.image_handle(), &LoadedImageProtocol::GUID).0,
            Status::UNSUPPORTED
        );
    }
}

/// Raw pointers are not `Send`; hooks run on the same thread anyway.
#[derive(Clone, Copy)]
struct SendBs(*const BootServices);
unsafe impl Send for SendBs {}
impl SendBs {
    fn get(self) -> *const BootServices {
        self.0
    }
}

#[test]
fn interrupt_hook_reenters_the_firmware() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    let shared = SendBs(bs);
    let seen_tpl = Arc::new(AtomicUsize::new(0));
    let inner = Arc::new(AtomicUsize::new(0));
    let (seen, inner_addr) = (seen_tpl.clone(), inner.clone());
    let p = pool(bs, 16); // call 0
    assert!(sim.interrupt_at_call(
        1,
        Box::new(move || {
            let bs = shared.get();
            // The TPL is CALLBACK while the hook runs.
            let old = unsafe { ((*bs).raise_tpl)(Tpl::CALLBACK) };
            unsafe { ((*bs).restore_tpl)(old) };
            seen.store(old.0, Ordering::SeqCst);
            // Re-enter the firmware: this is call 2.
            inner_addr.store(pool(bs, 100).addr(), Ordering::SeqCst);
        })
    ));
    assert!(sim.interrupt_at_call(
        2,
        Box::new(move || {
            // Armed for the call made inside the first hook: nests without deadlock.
            let _ = free_pool(shared.get(), std::ptr::null_mut()); // call 3
        })
    ));
    assert!(
        !sim.interrupt_at_call(0, Box::new(|| unreachable!())),
        "call 0 is past"
    );
    assert_eq!(free_pool(bs, p), Status::SUCCESS); // call 1: the hooks run inside it
    assert_eq!(seen_tpl.load(Ordering::SeqCst), Tpl::CALLBACK.0);
    assert_eq!(sim.interrupts_fired(), 2);
    assert_eq!(sim.service_calls(), 4);
    assert_eq!(sim.pool_requests(), [16, 100]);
    assert_eq!(sim.tpl(), Tpl::APPLICATION);
    assert_eq!(sim.max_tpl_seen(), Tpl::CALLBACK);
    assert_eq!(sim.bad_frees(), 1); // the nested FreePool(NULL)
    let q = inner.load(Ordering::SeqCst);
    assert_eq!(sim.live_pool_blocks(), 1);
    assert_eq!(
        sim.pool_block_size(std::ptr::without_provenance(q)),
        Some(100)
    );

    // Not below TPL_NOTIFY: the hook is skipped.
    assert!(sim.interrupt_at_call(4, Box::new(|| panic!("must not run at NOTIFY"))));
    unsafe {
        let old = ((*bs).raise_tpl)(Tpl::NOTIFY);
        let _ = pool(bs, 1); // call 4
        ((*bs).restore_tpl)(old);
    }
    assert_eq!(sim.interrupts_fired(), 2);
    assert_eq!(sim.interrupts_skipped(), 1);
    assert_eq!(sim.finish().leaked_pool_blocks, 2);
}

#[test]
fn hook_panic_is_resumed_when_the_sim_drops() {
    let result = std::panic::catch_unwind(|| {
        let sim = Sim::new(SimConfig::default());
        let bs = bs(&sim);
        sim.interrupt_at_call(0, Box::new(|| panic!("hook failed")));
        let p = pool(bs, 8); // the panic is caught inside the efiapi call
        assert_eq!(free_pool(bs, p), Status::SUCCESS);
        drop(sim);
    });
    let payload = result.expect_err("the hook's panic resurfaces");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"hook failed"));
    // The next Sim works despite the poisoned lock.
    let sim = Sim::new(SimConfig::default());
    assert_eq!(sim.live_pool_blocks(), 0);
}

#[test]
fn leaks_are_reported_and_freed() {
    {
        let sim = Sim::new(SimConfig::default());
        let bs = bs(&sim);
        let _ = pool(bs, 10);
        let _ = pages(bs, 3);
        let _ = create_event(bs, EventType::empty(), Tpl::APPLICATION, None, tag(0));
        let report = sim.finish();
        assert_eq!(
            (
                report.leaked_pool_blocks,
                report.leaked_pages,
                report.leaked_events
            ),
            (1, 3, 1)
        );
    }
    let sim = Sim::new(SimConfig::default());
    assert_eq!(
        (sim.live_pool_blocks(), sim.live_pages(), sim.live_events()),
        (0, 0, 0)
    );
    assert_eq!(sim.allocation_calls(), 0);
}

#[test]
fn other_services() {
    let sim = Sim::new(SimConfig::default());
    let bs = bs(&sim);
    assert_eq!(unsafe { ((*bs).stall)(10) }, Status::UNSUPPORTED);
    let mut count = 0;
    assert_eq!(
        unsafe { ((*bs).get_next_monotonic_count)(&mut count) },
        Status::UNSUPPORTED
    );
    assert_eq!(
        sim.unsupported_calls(),
        ["stall", "get_next_monotonic_count"]
    );
    let mut a = [0u8; 8];
    let b = [7u8; 8];
    unsafe {
        ((*bs).set_mem)(a.as_mut_ptr(), 4, 3);
        ((*bs).copy_mem)(a.as_mut_ptr().add(4), b.as_ptr(), 4);
    }
    assert_eq!(a, [3, 3, 3, 3, 7, 7, 7, 7]);
}
