//! The simulated firmware's state and the logic behind each service.

use std::alloc::{Layout, alloc, dealloc};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::ptr;

use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::table::boot::{
    AllocateType, BootServices, EventNotifyFn, EventType, MemoryType, PAGE_SIZE, Tpl,
};
use uefi_raw::table::system::SystemTable;
use uefi_raw::table::{Header, Revision};
use uefi_raw::{Event, Guid, Handle, PhysicalAddress, Status, guid};

use crate::{Residue, SimConfig, services};

/// Largest pool request (and page allocation) the sim serves; above it: OUT_OF_RESOURCES.
pub const MAX_REQUEST: usize = 1 << 30;
/// EDK2 x64 `SIZE_OF_POOL_HEAD`.
pub const POOL_HEAD_SIZE: usize = 24;
/// EDK2 x64 `POOL_OVERHEAD` (head + tail).
const POOL_OVERHEAD: usize = 40;
/// EDK2 DxeCore pool bins (`mPoolSizeTable` << 7).
const EDK2_BINS: [usize; 7] = [128, 256, 384, 640, 1024, 1664, 2688];
/// `SIGNATURE_32('p','h','d','0')`.
const POOL_HEAD_SIGNATURE: u32 = u32::from_le_bytes(*b"phd0");
/// Byte pattern of newly allocated memory, so that tests notice missing zeroing.
pub const ALLOC_FILL: u8 = 0xAF;
/// Byte pattern written over memory being freed.
pub const FREE_FILL: u8 = 0xFD;
/// `EFI_BOOT_SERVICES_SIGNATURE` ("BOOTSERV").
const BOOT_SERVICES_SIGNATURE: u64 = 0x5652_4553_544f_4f42;
/// `EFI_EVENT_GROUP_EXIT_BOOT_SERVICES`.
pub const EXIT_BOOT_SERVICES_GROUP: Guid = guid!("27abf055-b1b8-4c26-8048-748f37baa2df");
/// `EFI_EVENT_GROUP_BEFORE_EXIT_BOOT_SERVICES`.
pub const BEFORE_EXIT_BOOT_SERVICES_GROUP: Guid = guid!("8be0e274-3970-4b44-80c5-1ab9502f3bfc");

/// `"uefi-pool-alloc-sim"` in UCS-2, NUL-terminated.
static VENDOR: [u16; 20] = {
    let s = b"uefi-pool-alloc-sim";
    let mut out = [0u16; 20];
    let mut i = 0;
    while i < s.len() {
        out[i] = s[i] as u16;
        i += 1;
    }
    out
};

/// EDK2's `POOL_HEAD` on x64 (24 bytes), written just before every data pointer.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
struct PoolHead {
    signature: u32,
    reserved: u32,
    ty: MemoryType,
    pad: u32,
    /// The internal (bin) size, as EDK2 records it.
    size: u64,
}
const _: () = assert!(size_of::<PoolHead>() == POOL_HEAD_SIZE);

/// One live AllocatePool block: its own 4096-aligned host allocation.
pub struct PoolBlock {
    base: *mut u8,
    layout: Layout,
    data_off: usize,
    /// Size requested by the caller.
    pub size: usize,
    /// Memory type requested by the caller.
    pub ty: MemoryType,
    head: PoolHead,
}

/// One AllocatePages allocation, kept until every page of it is free.
pub struct Region {
    base: *mut u8,
    live: Vec<bool>,
    /// Pages of this region currently allocated.
    pub live_count: usize,
    /// The memory type it was allocated as (pages claimed again at their address keep it).
    pub ty: MemoryType,
}

impl Region {
    /// Addresses of the region's allocated pages.
    pub fn live_addresses(&self) -> impl Iterator<Item = usize> + '_ {
        let base = self.base.addr();
        self.live
            .iter()
            .enumerate()
            .filter(|(_, live)| **live)
            .map(move |(index, _)| base + index * PAGE_SIZE)
    }

    /// Addresses of the region's allocated pages whose page below is not part of the same run:
    /// where an allocation starts, or what is left of one after a head was freed.
    pub fn run_starts(&self) -> impl Iterator<Item = usize> + '_ {
        let base = self.base.addr();
        (0..self.live.len())
            .filter(|&index| self.live[index] && (index == 0 || !self.live[index - 1]))
            .map(move |index| base + index * PAGE_SIZE)
    }

    fn layout(&self) -> Layout {
        Layout::from_size_align(self.live.len() * PAGE_SIZE, PAGE_SIZE).expect("checked at alloc")
    }
}

/// A live event.
pub struct EventRec {
    token: *mut u64,
    ty: EventType,
    tpl: Tpl,
    notify: Option<EventNotifyFn>,
    context: *mut c_void,
    group: Option<Guid>,
    seq: u64,
}

/// A notification that [`crate::Sim::exit_boot_services`] must deliver.
pub struct Notification {
    key: usize,
    pub event: Event,
    pub notify: EventNotifyFn,
    pub context: *mut c_void,
    tpl: Tpl,
}

/// Everything the simulated firmware knows.
pub struct State {
    config: SimConfig,
    rng: u64,
    alternate: bool,
    pub st: *mut SystemTable,
    pub bs: *mut BootServices,
    loaded_image: *mut LoadedImageProtocol,
    pub image_handle: *mut u64,
    /// Live pool blocks by data address.
    pub pool: BTreeMap<usize, PoolBlock>,
    /// Page regions by base address.
    pub regions: BTreeMap<usize, Region>,
    /// Freed memory, kept mapped until the sim is dropped: real firmware leaves freed pool and
    /// page memory readable, and the library reads the 8 bytes below a pointer to refuse a
    /// double free.
    retired: Vec<(*mut u8, Layout)>,
    /// Live events by address.
    pub events: BTreeMap<usize, EventRec>,
    event_seq: u64,
    pub alloc_calls: u64,
    pub service_calls: u64,
    pub fail_at: BTreeSet<u64>,
    pub fail_from: Option<u64>,
    /// AllocatePages calls still to report their pages 4 GiB higher than they are.
    pub pages_above_4g: u64,
    /// The addresses so reported, and the pages they stand for.
    high_aliases: BTreeMap<u64, usize>,
    pub pool_requests: Vec<usize>,
    pub page_requests: Vec<usize>,
    pub memory_types: Vec<MemoryType>,
    pub bad_frees: u64,
    pub head_corruptions: u64,
    pub bad_closes: u64,
    pub tpl: Tpl,
    pub max_tpl: Tpl,
    pub tpl_violations: u64,
    pub forbidden_calls: u64,
    pub unsupported: Vec<&'static str>,
    pub hooks: Vec<(u64, Box<dyn FnMut() + Send>)>,
    pub interrupts_fired: u64,
    pub interrupts_skipped: u64,
    pub hook_panic: Option<Box<dyn Any + Send>>,
    in_ebs_notify: bool,
    pub exited: bool,
    pub ebs_notifications: u64,
    /// The protocol database: handle, GUID, interface.
    pub protocols: Vec<(usize, Guid, *mut c_void)>,
    next_handle: usize,
}

// SAFETY: the raw pointers are owned allocations of this state (or values the library passed in,
// which the sim only hands back); the state is only ever accessed under the `STATE` mutex.
unsafe impl Send for State {}

/// `type` values EDK2's AllocatePool and AllocatePages reject with INVALID_PARAMETER.
fn invalid_memory_type(ty: MemoryType) -> bool {
    (MemoryType::MAX.0..0x7000_0000).contains(&ty.0)
        || ty == MemoryType::CONVENTIONAL
        || ty == MemoryType::PERSISTENT_MEMORY
        || ty == MemoryType::UNACCEPTED
}

/// The code type that goes with an image data type.
fn code_type(data: MemoryType) -> MemoryType {
    match data {
        MemoryType::BOOT_SERVICES_DATA => MemoryType::BOOT_SERVICES_CODE,
        MemoryType::RUNTIME_SERVICES_DATA => MemoryType::RUNTIME_SERVICES_CODE,
        _ => MemoryType::LOADER_CODE,
    }
}

impl State {
    pub fn new(config: SimConfig) -> Self {
        let bs = Box::into_raw(Box::new(services::boot_services_table(
            BOOT_SERVICES_SIGNATURE,
            Revision::EFI_2_70,
        )));
        let defaults = SystemTable::default();
        let st = Box::into_raw(Box::new(SystemTable {
            header: Header {
                revision: Revision::EFI_2_70,
                ..defaults.header
            },
            firmware_vendor: VENDOR.as_ptr(),
            firmware_revision: 0x0001_0000,
            boot_services: bs,
            ..defaults
        }));
        let image_handle = Box::into_raw(Box::new(0x1A6E_u64));
        let data_ty = config.image_data_type.unwrap_or(MemoryType::LOADER_DATA);
        let loaded_image = Box::into_raw(Box::new(LoadedImageProtocol {
            revision: 0x1000,
            parent_handle: ptr::null_mut(),
            system_table: st,
            device_handle: ptr::null_mut(),
            file_path: ptr::null(),
            reserved: ptr::null(),
            load_options_size: 0,
            load_options: ptr::null(),
            image_base: ptr::null(),
            image_size: 0,
            image_code_type: code_type(data_ty),
            image_data_type: data_ty,
            unload: None,
        }));
        State {
            rng: config.seed,
            config,
            alternate: false,
            st,
            bs,
            loaded_image,
            image_handle,
            pool: BTreeMap::new(),
            regions: BTreeMap::new(),
            retired: Vec::new(),
            events: BTreeMap::new(),
            event_seq: 0,
            alloc_calls: 0,
            service_calls: 0,
            fail_at: BTreeSet::new(),
            fail_from: None,
            pages_above_4g: 0,
            high_aliases: BTreeMap::new(),
            pool_requests: Vec::new(),
            page_requests: Vec::new(),
            memory_types: Vec::new(),
            bad_frees: 0,
            head_corruptions: 0,
            bad_closes: 0,
            tpl: Tpl::APPLICATION,
            max_tpl: Tpl::APPLICATION,
            tpl_violations: 0,
            forbidden_calls: 0,
            unsupported: Vec::new(),
            hooks: Vec::new(),
            interrupts_fired: 0,
            interrupts_skipped: 0,
            hook_panic: None,
            in_ebs_notify: false,
            exited: false,
            ebs_notifications: 0,
            protocols: Vec::new(),
            next_handle: 0,
        }
    }

    /// splitmix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn set_tpl(&mut self, tpl: Tpl) {
        self.tpl = tpl;
        self.max_tpl = self.max_tpl.max(tpl);
    }

    // ---- bookkeeping shared by the four memory services ----

    /// Numbers a memory service call and checks when it is made. Returns the call's index and
    /// whether the service may run (false after ExitBootServices).
    pub fn begin_memory_service(&mut self) -> (u64, bool) {
        let index = self.service_calls;
        self.service_calls += 1;
        if self.tpl > Tpl::NOTIFY {
            self.tpl_violations += 1;
        }
        if self.exited || self.in_ebs_notify {
            self.forbidden_calls += 1;
        }
        (index, !self.exited)
    }

    /// Takes the hooks armed for call `index`, and whether they may run now: a timer notification
    /// at TPL_CALLBACK fires only below TPL_NOTIFY, and never after ExitBootServices. Hooks that
    /// may not run are counted as skipped; the caller drops them outside the lock.
    pub fn take_hooks(&mut self, index: u64) -> (bool, Vec<Box<dyn FnMut() + Send>>) {
        let mut taken = Vec::new();
        let mut i = 0;
        while i < self.hooks.len() {
            if self.hooks[i].0 == index {
                taken.push(self.hooks.remove(i).1);
            } else {
                i += 1;
            }
        }
        let run = self.tpl < Tpl::NOTIFY && !self.exited;
        if !run {
            self.interrupts_skipped += taken.len() as u64;
        }
        (run, taken)
    }

    /// Numbers an allocation call, records its memory type and decides whether it fails by
    /// injection.
    fn begin_allocation(&mut self, ty: MemoryType) -> (u64, bool) {
        let index = self.alloc_calls;
        self.alloc_calls += 1;
        if !self.memory_types.contains(&ty) {
            self.memory_types.push(ty);
        }
        let fail = self.fail_at.contains(&index) || self.fail_from.is_some_and(|f| index >= f);
        (index, fail)
    }

    // ---- pool ----

    /// Data offset from a 4096-aligned base, and the internal size recorded in the head.
    fn place_pool(&mut self, size: usize) -> (usize, usize) {
        let internal = size.next_multiple_of(8) + POOL_OVERHEAD;
        let residue = match self.config.residue {
            Residue::Edk2 => {
                return match EDK2_BINS.iter().find(|&&bin| bin >= internal) {
                    Some(&bin) => {
                        let slots = ((PAGE_SIZE - bin) / 128 + 1) as u64;
                        let slot = (self.next_random() % slots) as usize;
                        (slot * 128 + POOL_HEAD_SIZE, bin)
                    }
                    None => (POOL_HEAD_SIZE, internal.next_multiple_of(PAGE_SIZE)),
                };
            }
            Residue::Fixed(r) => r % PAGE_SIZE,
            Residue::Random => (self.next_random() % (PAGE_SIZE as u64 / 8)) as usize * 8,
            Residue::Alternating => {
                self.alternate = !self.alternate;
                if self.alternate { 8 } else { PAGE_SIZE - 8 }
            }
        };
        // The head must fit before the data inside the same allocation.
        let data_off = if residue < POOL_HEAD_SIZE {
            residue + PAGE_SIZE
        } else {
            residue
        };
        (data_off, internal)
    }

    /// AllocatePool.
    ///
    /// # Safety
    /// `buffer` is null or valid for a pointer write.
    pub unsafe fn allocate_pool(
        &mut self,
        ty: MemoryType,
        size: usize,
        buffer: *mut *mut u8,
    ) -> Status {
        self.pool_requests.push(size);
        let (_, fail) = self.begin_allocation(ty);
        if invalid_memory_type(ty) || buffer.is_null() {
            return Status::INVALID_PARAMETER;
        }
        if fail || size > MAX_REQUEST {
            return Status::OUT_OF_RESOURCES;
        }
        let (data_off, internal) = self.place_pool(size);
        // A zero-size block still gets a byte, so that its data pointer is in bounds and unique.
        let layout = Layout::from_size_align(data_off + size.max(1), PAGE_SIZE).expect("bounded");
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            return Status::OUT_OF_RESOURCES;
        }
        let head = PoolHead {
            signature: POOL_HEAD_SIGNATURE,
            reserved: 0,
            ty,
            pad: 0,
            size: internal as u64,
        };
        // SAFETY: data_off >= 24 and data_off + size fits in the allocation; the head is 8-aligned
        // because base is 4096-aligned and data_off is a multiple of 8.
        let data = unsafe {
            let data = base.add(data_off);
            data.sub(POOL_HEAD_SIZE).cast::<PoolHead>().write(head);
            ptr::write_bytes(data, ALLOC_FILL, size);
            buffer.write(data);
            data
        };
        self.pool.insert(
            data.addr(),
            PoolBlock {
                base,
                layout,
                data_off,
                size,
                ty,
                head,
            },
        );
        Status::SUCCESS
    }

    /// FreePool. Never touches memory it did not allocate: the pointer is looked up first.
    pub fn free_pool(&mut self, buffer: *mut u8) -> Status {
        if buffer.is_null() {
            self.bad_frees += 1;
            return Status::INVALID_PARAMETER;
        }
        let Some(block) = self.pool.get(&buffer.addr()) else {
            self.bad_frees += 1;
            return Status::INVALID_PARAMETER;
        };
        // SAFETY: the head lies inside the block's own allocation.
        let head = unsafe {
            block
                .base
                .add(block.data_off - POOL_HEAD_SIZE)
                .cast::<PoolHead>()
                .read()
        };
        if head != block.head {
            self.bad_frees += 1;
            self.head_corruptions += 1;
            return Status::INVALID_PARAMETER;
        }
        let block = self.pool.remove(&buffer.addr()).expect("found above");
        // SAFETY: the block's own allocation, freed exactly once.
        unsafe {
            ptr::write_bytes(block.base, FREE_FILL, block.layout.size());
        }
        self.retired.push((block.base, block.layout));
        Status::SUCCESS
    }

    // ---- pages ----

    /// The region holding `addr`, if any.
    fn region_at(&self, addr: usize) -> Option<(usize, &Region)> {
        let (&base, region) = self.regions.range(..=addr).next_back()?;
        (addr < base + region.live.len() * PAGE_SIZE).then_some((base, region))
    }

    /// AllocatePages.
    ///
    /// # Safety
    /// `memory` is null or valid for a u64 read and write.
    pub unsafe fn allocate_pages(
        &mut self,
        alloc_ty: AllocateType,
        ty: MemoryType,
        count: usize,
        memory: *mut PhysicalAddress,
    ) -> Status {
        self.page_requests.push(count);
        let (_, fail) = self.begin_allocation(ty);
        if alloc_ty.0 >= AllocateType::MAX_ALLOCATE_TYPE.0
            || invalid_memory_type(ty)
            || memory.is_null()
        {
            return Status::INVALID_PARAMETER;
        }
        if fail {
            return Status::OUT_OF_RESOURCES;
        }
        // SAFETY: the caller's in/out parameter.
        let requested = unsafe { memory.read() };
        if alloc_ty == AllocateType::ADDRESS {
            return match self.claim_pages(requested, count) {
                Some(()) => Status::SUCCESS,
                None => Status::NOT_FOUND,
            };
        }
        // EDK2's FindFreePages finds nothing for 0 pages.
        if count == 0 || count > MAX_REQUEST / PAGE_SIZE {
            return Status::OUT_OF_RESOURCES;
        }
        let layout = Layout::from_size_align(count * PAGE_SIZE, PAGE_SIZE).expect("bounded");
        // SAFETY: non-zero size.
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            return Status::OUT_OF_RESOURCES;
        }
        let addr = base.expose_provenance();
        if alloc_ty == AllocateType::MAX_ADDRESS && (addr + layout.size() - 1) as u64 > requested {
            // SAFETY: just allocated with this layout.
            unsafe { dealloc(base, layout) };
            return Status::NOT_FOUND;
        }
        let reported = if self.pages_above_4g > 0 {
            self.pages_above_4g -= 1;
            let high = addr as u64 + (1 << 32);
            self.high_aliases.insert(high, addr);
            high
        } else {
            addr as u64
        };
        // SAFETY: fresh allocation of layout.size() bytes; the caller's out parameter.
        unsafe {
            ptr::write_bytes(base, ALLOC_FILL, layout.size());
            memory.write(reported);
        }
        self.regions.insert(
            addr,
            Region {
                base,
                live: vec![true; count],
                live_count: count,
                ty,
            },
        );
        Status::SUCCESS
    }

    /// AllocatePages(ADDRESS): succeeds only if every requested page is a free page of a region
    /// the sim still holds.
    fn claim_pages(&mut self, addr: u64, count: usize) -> Option<()> {
        let addr = usize::try_from(addr).ok()?;
        if addr % PAGE_SIZE != 0 || count == 0 {
            return None;
        }
        let (base, region) = self.region_at(addr)?;
        let first = (addr - base) / PAGE_SIZE;
        let pages = region.live.get(first..first.checked_add(count)?)?;
        if pages.iter().any(|&live| live) {
            return None;
        }
        let region = self.regions.get_mut(&base).expect("found above");
        region.live[first..first + count].fill(true);
        region.live_count += count;
        // SAFETY: inside the region's own allocation.
        unsafe {
            ptr::write_bytes(
                region.base.add(first * PAGE_SIZE),
                ALLOC_FILL,
                count * PAGE_SIZE,
            )
        };
        Some(())
    }

    /// FreePages: any range of allocated pages of one region.
    pub fn free_pages(&mut self, addr: PhysicalAddress, count: usize) -> Status {
        let status = self.try_free_pages(addr, count);
        if status.is_error() {
            self.bad_frees += 1;
        }
        status
    }

    fn try_free_pages(&mut self, addr: PhysicalAddress, count: usize) -> Status {
        let addr = self
            .high_aliases
            .remove(&addr)
            .map_or(addr, |real| real as u64);
        let Ok(addr) = usize::try_from(addr) else {
            return Status::NOT_FOUND;
        };
        if addr % PAGE_SIZE != 0 || count == 0 {
            return Status::INVALID_PARAMETER;
        }
        let Some((base, region)) = self.region_at(addr) else {
            return Status::NOT_FOUND;
        };
        let first = (addr - base) / PAGE_SIZE;
        let Some(pages) = first
            .checked_add(count)
            .and_then(|end| region.live.get(first..end))
        else {
            return Status::NOT_FOUND;
        };
        if !pages.iter().all(|&live| live) {
            return Status::NOT_FOUND;
        }
        let region = self.regions.get_mut(&base).expect("found above");
        region.live[first..first + count].fill(false);
        region.live_count -= count;
        // SAFETY: inside the region's own allocation.
        unsafe {
            ptr::write_bytes(
                region.base.add(first * PAGE_SIZE),
                FREE_FILL,
                count * PAGE_SIZE,
            )
        };
        if region.live_count == 0 {
            let region = self.regions.remove(&base).expect("found above");
            self.retired.push((region.base, region.layout()));
        }
        Status::SUCCESS
    }

    /// Whether `[addr, addr + len)` is inside one live pool block or live pages of one region.
    pub fn block_contains(&self, addr: usize, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        if let Some((&data, block)) = self.pool.range(..=addr).next_back() {
            if end <= data + block.size {
                return true;
            }
        }
        let Some((base, region)) = self.region_at(addr) else {
            return false;
        };
        let first = (addr - base) / PAGE_SIZE;
        let last = if len == 0 {
            first
        } else {
            (end - 1 - base) / PAGE_SIZE
        };
        region
            .live
            .get(first..=last)
            .is_some_and(|pages| pages.iter().all(|&live| live))
    }

    // ---- TPL ----

    pub fn raise_tpl(&mut self, new: Tpl) -> Tpl {
        let old = self.tpl;
        if new < old || new > Tpl::HIGH_LEVEL {
            self.tpl_violations += 1;
        }
        self.set_tpl(new);
        old
    }

    pub fn restore_tpl(&mut self, old: Tpl) {
        if old > self.tpl {
            self.tpl_violations += 1;
        }
        self.set_tpl(old);
    }

    // ---- events ----

    /// CreateEvent / CreateEventEx, with EDK2's parameter checks.
    ///
    /// # Safety
    /// `out` is null or valid for an Event write.
    pub unsafe fn create_event(
        &mut self,
        ty: EventType,
        tpl: Tpl,
        notify: Option<EventNotifyFn>,
        context: *mut c_void,
        group: Option<Guid>,
        out: *mut Event,
    ) -> Status {
        let both = EventType::NOTIFY_WAIT | EventType::NOTIFY_SIGNAL;
        let special = ty == EventType::SIGNAL_EXIT_BOOT_SERVICES
            || ty == EventType::SIGNAL_VIRTUAL_ADDRESS_CHANGE;
        if out.is_null() || ty.contains(both) || (special && group.is_some()) {
            return Status::INVALID_PARAMETER;
        }
        if ty.intersects(both)
            && (notify.is_none() || tpl <= Tpl::APPLICATION || tpl >= Tpl::HIGH_LEVEL)
        {
            return Status::INVALID_PARAMETER;
        }
        let token = Box::into_raw(Box::new(self.event_seq));
        self.events.insert(
            token.addr(),
            EventRec {
                token,
                ty,
                tpl,
                notify,
                context,
                group,
                seq: self.event_seq,
            },
        );
        self.event_seq += 1;
        // SAFETY: the caller's out parameter.
        unsafe { out.write(token.cast()) };
        Status::SUCCESS
    }

    pub fn close_event(&mut self, event: Event) -> Status {
        match self.events.remove(&event.addr()) {
            Some(rec) => {
                // SAFETY: the event's own token, freed once.
                drop(unsafe { Box::from_raw(rec.token) });
                Status::SUCCESS
            }
            None => {
                self.bad_closes += 1;
                Status::INVALID_PARAMETER
            }
        }
    }

    /// Starts ExitBootServices: the notifications to deliver, in order.
    pub fn begin_exit_boot_services(&mut self) -> Vec<Notification> {
        if self.exited || self.in_ebs_notify {
            return Vec::new();
        }
        self.in_ebs_notify = true;
        let mut list: Vec<(u8, &EventRec)> = self
            .events
            .values()
            .filter(|e| e.ty.contains(EventType::NOTIFY_SIGNAL) && e.notify.is_some())
            .filter_map(|e| {
                if e.group == Some(BEFORE_EXIT_BOOT_SERVICES_GROUP) {
                    Some((0, e))
                } else if e.group == Some(EXIT_BOOT_SERVICES_GROUP)
                    || e.ty == EventType::SIGNAL_EXIT_BOOT_SERVICES
                {
                    Some((1, e))
                } else {
                    None
                }
            })
            .collect();
        list.sort_by_key(|&(phase, e)| (phase, std::cmp::Reverse(e.tpl), e.seq));
        list.into_iter()
            .map(|(_, e)| Notification {
                key: e.token.addr(),
                event: e.token.cast(),
                notify: e.notify.expect("filtered"),
                context: e.context,
                tpl: e.tpl,
            })
            .collect()
    }

    /// Before a notification: whether its event is still open; if so the TPL goes to the
    /// event's and the old TPL is returned.
    pub fn enter_notification(&mut self, n: &Notification) -> Option<Tpl> {
        if !self.events.contains_key(&n.key) {
            return None;
        }
        self.ebs_notifications += 1;
        let old = self.tpl;
        self.set_tpl(n.tpl);
        Some(old)
    }

    pub fn finish_exit_boot_services(&mut self) {
        if self.exited {
            return;
        }
        self.in_ebs_notify = false;
        self.exited = true;
        // SAFETY: the sim's own system table.
        unsafe { (*self.st).boot_services = ptr::null_mut() };
    }

    // ---- protocols ----

    /// HandleProtocol: only LoadedImage on the image handle.
    ///
    /// # Safety
    /// `guid` is null or valid for reading; `out` is null or valid for a pointer write.
    pub unsafe fn handle_protocol(
        &mut self,
        handle: *mut c_void,
        guid: *const Guid,
        out: *mut *mut c_void,
    ) -> Status {
        if handle.is_null() || guid.is_null() || out.is_null() {
            return Status::INVALID_PARAMETER;
        }
        // SAFETY: caller's contract.
        let guid = unsafe { guid.read_unaligned() };
        if let Some(entry) = self
            .protocols
            .iter()
            .find(|entry| entry.0 == handle.addr() && entry.1 == guid)
        {
            // SAFETY: caller's contract.
            unsafe { out.write(entry.2) };
            return Status::SUCCESS;
        }
        if handle.addr() != self.image_handle.addr()
            || guid != LoadedImageProtocol::GUID
            || self.config.image_data_type.is_none()
        {
            return Status::UNSUPPORTED;
        }
        // SAFETY: caller's contract.
        unsafe { out.write(self.loaded_image.cast()) };
        Status::SUCCESS
    }
}

impl State {
    /// Installs `interface` under `guid` on a new handle; returns the handle.
    pub fn install(&mut self, guid: Guid, interface: *mut c_void) -> usize {
        self.next_handle += 16;
        let handle = 0x4A4E_0000 + self.next_handle;
        self.protocols.push((handle, guid, interface));
        handle
    }

    /// InstallProtocolInterface, on a new handle only (the library needs no more).
    ///
    /// # Safety
    /// The pointers are valid, as UEFI requires.
    pub unsafe fn install_protocol_interface(
        &mut self,
        handle: *mut Handle,
        guid: *const Guid,
        interface: *const c_void,
    ) -> Status {
        if !self.config.protocols {
            return Status::UNSUPPORTED;
        }
        // SAFETY: caller's contract.
        unsafe {
            if handle.is_null() || guid.is_null() || !(*handle).is_null() {
                return Status::INVALID_PARAMETER;
            }
            let new = self.install(guid.read_unaligned(), interface.cast_mut());
            handle.write(ptr::with_exposed_provenance_mut(new));
        }
        Status::SUCCESS
    }

    /// LocateHandle(ByProtocol) as EDK2 answers it.
    ///
    /// # Safety
    /// The pointers are valid, as UEFI requires.
    pub unsafe fn locate_handle(
        &mut self,
        search: i32,
        guid: *const Guid,
        size: *mut usize,
        buffer: *mut Handle,
    ) -> Status {
        const BY_PROTOCOL: i32 = 2;
        if !self.config.protocols {
            return Status::UNSUPPORTED;
        }
        if search != BY_PROTOCOL || guid.is_null() || size.is_null() {
            return Status::INVALID_PARAMETER;
        }
        // SAFETY: caller's contract.
        let guid = unsafe { guid.read_unaligned() };
        let handles: Vec<usize> = self
            .protocols
            .iter()
            .filter(|entry| entry.1 == guid)
            .map(|entry| entry.0)
            .collect();
        if handles.is_empty() {
            return Status::NOT_FOUND;
        }
        let needed = handles.len() * size_of::<Handle>();
        // SAFETY: caller's contract: `buffer` holds `*size` bytes.
        unsafe {
            let room = size.read();
            size.write(needed);
            if room < needed {
                return Status::BUFFER_TOO_SMALL;
            }
            for (index, handle) in handles.into_iter().enumerate() {
                buffer
                    .add(index)
                    .write(ptr::with_exposed_provenance_mut(handle));
            }
        }
        Status::SUCCESS
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: every pointer below is an allocation of this state, freed exactly once.
        unsafe {
            for (_, block) in std::mem::take(&mut self.pool) {
                dealloc(block.base, block.layout);
            }
            for (_, region) in std::mem::take(&mut self.regions) {
                dealloc(region.base, region.layout());
            }
            for (base, layout) in std::mem::take(&mut self.retired) {
                dealloc(base, layout);
            }
            for (_, event) in std::mem::take(&mut self.events) {
                drop(Box::from_raw(event.token));
            }
            drop(Box::from_raw(self.loaded_image));
            drop(Box::from_raw(self.st));
            drop(Box::from_raw(self.bs));
            drop(Box::from_raw(self.image_handle));
        }
    }
}
