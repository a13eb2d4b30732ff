//! The only place that touches the system table: initialisation, the memory type, the
//! ExitBootServices event and thin wrappers over the Boot Services the allocators use.
//!
//! Every entry point asks [`services`] for the table anew: EDK2 sets `ST->BootServices` to NULL
//! (and zeroes the table a cached pointer would see) at ExitBootServices, so a cached pointer is
//! never used.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, Ordering};

use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::table::boot::{AllocateType, BootServices, EventType, MemoryType, Tpl};
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Event, Handle, Status};

use crate::{residue, shared};

/// `pool_init`'s memory type meaning "the image's `ImageDataType`, else `EfiBootServicesData`".
/// It lies in the range the UEFI spec reserves (`EfiMaxMemoryType..0x6FFFFFFF`), so it can never
/// be a real memory type.
pub const POOL_MEMORY_TYPE_DEFAULT: u32 = 0x6FFF_FFFF;

const UNINITIALISED: u8 = 0;
const STARTING: u8 = 1;
const READY: u8 = 2;
const EXITED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINITIALISED);
static SYSTEM_TABLE: AtomicPtr<SystemTable> = AtomicPtr::new(ptr::null_mut());
static EXIT_EVENT: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
static MEMORY_TYPE: AtomicU32 = AtomicU32::new(0);
static OPTIONS: AtomicU32 = AtomicU32::new(0);

/// `pool_init_ex` option: every block goes to the firmware (the pool and page paths), none to
/// the small-block front, so that firmware debugging tools (EDK2's heap guard, memory profile)
/// see each one. Blocks the front holds from before stay valid.
pub const POOL_PASS_THROUGH: u32 = 1;

/// `pool_init_ex` option: the image keeps an allocator state of its own instead of sharing the
/// boot's. Other images then refuse its blocks as foreign, and it theirs; its idle pages are its
/// own. The first successful `pool_init_ex` of an image decides, for the image's life.
pub const POOL_PRIVATE: u32 = 2;

const OPTIONS_KNOWN: u32 = POOL_PASS_THROUGH | POOL_PRIVATE;

/// The memory type of the library's own bookkeeping (the index, the front's records and slack
/// tables): the image's memory type with a private state, `EfiBootServicesData` with a shared
/// one, which any image may outlive.
static BOOKKEEPING_TYPE: AtomicU32 = AtomicU32::new(0);

/// Whether small blocks come from the front (not `POOL_PASS_THROUGH`).
#[inline(always)]
pub(crate) fn front_enabled() -> bool {
    OPTIONS.load(Ordering::Relaxed) & POOL_PASS_THROUGH == 0
}

/// Set while the library is ready with the front on (cleared first at ExitBootServices).
static FRONT_READY: AtomicBool = AtomicBool::new(false);

/// Whether small blocks come from the front now: the library is ready, the front on, and the
/// system table still has boot services (firmware may clear them without our event).
#[inline(always)]
pub(crate) fn front_ready() -> bool {
    FRONT_READY.load(Ordering::Acquire) && services().is_ok()
}

/// Boot Services as found at the start of one library call.
#[derive(Clone, Copy)]
pub(crate) struct Services(*const BootServices);

/// Why no Boot Services are available.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Unavailable {
    /// `pool_init` has not run (or `pool_fini` ran).
    NotStarted,
    /// ExitBootServices was signalled or the firmware cleared `ST->BootServices`.
    Exited,
}

impl Unavailable {
    pub(crate) fn status(self) -> Status {
        match self {
            Unavailable::NotStarted => Status::NOT_STARTED,
            Unavailable::Exited => Status::UNSUPPORTED,
        }
    }
}

/// Boot Services, if the library is initialised and boot services are still alive.
#[inline(always)]
pub(crate) fn services() -> Result<Services, Unavailable> {
    match STATE.load(Ordering::Acquire) {
        READY => {}
        EXITED => return Err(Unavailable::Exited),
        _ => return Err(Unavailable::NotStarted),
    }
    let st = SYSTEM_TABLE.load(Ordering::Relaxed);
    // SAFETY: `init` stored a table it validated; firmware keeps it mapped for the image's life.
    let bs = unsafe { ptr::addr_of!((*st).boot_services).read_volatile() };
    if bs.is_null() {
        return Err(Unavailable::Exited);
    }
    Ok(Services(bs))
}

/// Whether UEFI lets pool memory be of this type. Stricter than EDK2, which also accepts
/// unusable, MMIO and PAL code types for pool.
pub(crate) fn is_pool_memory_type(memory_type: u32) -> bool {
    const ACPI_RECLAIM: u32 = MemoryType::ACPI_RECLAIM.0;
    const ACPI_NON_VOLATILE: u32 = MemoryType::ACPI_NON_VOLATILE.0;
    const OEM_RESERVED_MIN: u32 = 0x7000_0000;
    matches!(memory_type, 0..=6 | ACPI_RECLAIM | ACPI_NON_VOLATILE)
        || memory_type >= OEM_RESERVED_MIN
}

/// Records the system table and memory type and hooks ExitBootServices. See `pool_init`.
///
/// # Safety
/// `system_table` must be NULL or the image's system table; `image` the image's handle or NULL.
pub(crate) unsafe fn init(
    image: Handle,
    system_table: *mut SystemTable,
    memory_type: u32,
    options: u32,
) -> Status {
    if system_table.is_null() || options & !OPTIONS_KNOWN != 0 {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: the caller passes the firmware's table.
    let (signature, bs) = unsafe {
        (
            (*system_table).header.signature,
            (*system_table).boot_services,
        )
    };
    if signature != SystemTable::SIGNATURE || bs.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let memory_type = if memory_type == POOL_MEMORY_TYPE_DEFAULT {
        // SAFETY: `bs` is live (checked above).
        unsafe { image_data_type(bs, image) }.unwrap_or(MemoryType::BOOT_SERVICES_DATA.0)
    } else if is_pool_memory_type(memory_type) {
        memory_type
    } else {
        return Status::INVALID_PARAMETER;
    };
    if STATE
        .compare_exchange(
            UNINITIALISED,
            STARTING,
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return Status::ALREADY_STARTED;
    }
    let mut event: Event = ptr::null_mut();
    // SAFETY: `bs` is live; the notify function and its NULL context stay valid until `fini`.
    let status = unsafe {
        ((*bs).create_event)(
            EventType::SIGNAL_EXIT_BOOT_SERVICES,
            Tpl::NOTIFY,
            Some(on_exit_boot_services),
            ptr::null_mut(),
            &mut event,
        )
    };
    if status != Status::SUCCESS {
        STATE.store(UNINITIALISED, Ordering::Release);
        return status;
    }
    EXIT_EVENT.store(event, Ordering::Relaxed);
    SYSTEM_TABLE.store(system_table, Ordering::Relaxed);
    MEMORY_TYPE.store(memory_type, Ordering::Relaxed);
    // A state's key survives fini/init cycles so that blocks allocated before stay valid; the
    // tag hash mixes it, so the raw addresses serve.
    let key = (system_table as u64 ^ (image as u64).rotate_left(29)) | 1;
    let services = Services(bs);
    // At TPL_NOTIFY, so that two images cannot both publish a state; a caller above it (outside
    // the contract) stays private.
    let private = options & POOL_PRIVATE != 0;
    match services.raise_tpl() {
        // SAFETY: `bs` is live.
        Some(_exclusive) => unsafe { shared::decide(bs, private, key) },
        None => unsafe { shared::decide(bs, true, key) },
    }
    let bookkeeping = if shared::is_shared() {
        MemoryType::BOOT_SERVICES_DATA.0
    } else {
        memory_type
    };
    BOOKKEEPING_TYPE.store(bookkeeping, Ordering::Relaxed);
    residue::forget();
    // Every image claims a kind, the front on or not: page-path blocks are told apart by it.
    let front = crate::front::claim_kind(memory_type) && options & POOL_PASS_THROUGH == 0;
    OPTIONS.store(
        options | if front { 0 } else { POOL_PASS_THROUGH },
        Ordering::Relaxed,
    );
    STATE.store(READY, Ordering::Release);
    FRONT_READY.store(front, Ordering::Release);
    Status::SUCCESS
}

/// Closes the ExitBootServices event; the library is uninitialised afterwards. Blocks stay valid
/// and can be freed after a new `init`.
pub(crate) fn fini() -> Status {
    if let Err(unavailable) = services() {
        return unavailable.status();
    }
    FRONT_READY.store(false, Ordering::Release);
    if STATE
        .compare_exchange(READY, STARTING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Status::NOT_STARTED;
    }
    let st = SYSTEM_TABLE.load(Ordering::Relaxed);
    // SAFETY: checked live by `services` above; the event was created by `init`.
    let status =
        unsafe { ((*(*st).boot_services).close_event)(EXIT_EVENT.load(Ordering::Relaxed)) };
    STATE.store(UNINITIALISED, Ordering::Release);
    status
}

/// Makes the library inert: from here on allocation returns NULL and free reports
/// `EFI_UNSUPPORTED` without touching firmware.
unsafe extern "efiapi" fn on_exit_boot_services(_event: Event, _context: *mut c_void) {
    FRONT_READY.store(false, Ordering::Release);
    STATE.store(EXITED, Ordering::Release);
}

/// The image's `ImageDataType`, if its LoadedImage protocol can be found.
unsafe fn image_data_type(bs: *const BootServices, image: Handle) -> Option<u32> {
    if image.is_null() {
        return None;
    }
    let mut interface: *mut c_void = ptr::null_mut();
    // SAFETY: `bs` is live; HandleProtocol validates the handle.
    let status =
        unsafe { ((*bs).handle_protocol)(image, &LoadedImageProtocol::GUID, &mut interface) };
    if status != Status::SUCCESS || interface.is_null() {
        return None;
    }
    // SAFETY: the firmware returned the image's LoadedImage protocol.
    let data_type = unsafe { (*interface.cast::<LoadedImageProtocol>()).image_data_type.0 };
    is_pool_memory_type(data_type).then_some(data_type)
}

/// Raised task priority, restored on drop. Keeps notify functions that may call the library out
/// of the index and the front's page lists while they change; not a lock, so it cannot
/// deadlock.
pub(crate) struct RaisedTpl {
    services: Services,
    previous: Tpl,
}

impl Drop for RaisedTpl {
    fn drop(&mut self) {
        // SAFETY: the table was live when the TPL was raised and the call has not returned since.
        unsafe { ((*self.services.0).restore_tpl)(self.previous) }
    }
}

impl Services {
    fn memory_type() -> MemoryType {
        MemoryType(MEMORY_TYPE.load(Ordering::Relaxed))
    }

    fn bookkeeping_type() -> MemoryType {
        MemoryType(BOOKKEEPING_TYPE.load(Ordering::Relaxed))
    }

    /// `AllocatePool` of the library's memory type; `None` on any failure, including the
    /// NULL-with-success some firmware returns for size 0.
    #[inline(always)]
    pub(crate) fn allocate_pool(self, size: usize) -> Option<*mut u8> {
        self.allocate_pool_of(Self::memory_type(), size)
    }

    /// [`Self::allocate_pool`] of the bookkeeping memory type.
    pub(crate) fn allocate_bookkeeping_pool(self, size: usize) -> Option<*mut u8> {
        self.allocate_pool_of(Self::bookkeeping_type(), size)
    }

    #[inline(always)]
    fn allocate_pool_of(self, memory_type: MemoryType, size: usize) -> Option<*mut u8> {
        let mut buffer = ptr::null_mut();
        // SAFETY: `self` was live at the start of this library call.
        let status = unsafe { ((*self.0).allocate_pool)(memory_type, size, &mut buffer) };
        (status == Status::SUCCESS && !buffer.is_null()).then_some(buffer)
    }

    #[inline]
    pub(crate) fn free_pool(self, buffer: *mut u8) -> Status {
        // SAFETY: as above; the caller passes a block it got from `allocate_pool`.
        unsafe { ((*self.0).free_pool)(buffer) }
    }

    /// `AllocatePages(AllocateAnyPages)`. Address 0 is a valid answer from firmware but not a
    /// usable pointer, so such pages are held while asking again, then returned.
    pub(crate) fn allocate_pages(self, pages: usize) -> Option<usize> {
        self.allocate_any_pages(Self::memory_type(), pages)
    }

    /// [`Self::allocate_pages`] of the bookkeeping memory type.
    pub(crate) fn allocate_bookkeeping_pages(self, pages: usize) -> Option<usize> {
        self.allocate_any_pages(Self::bookkeeping_type(), pages)
    }

    fn allocate_any_pages(self, memory_type: MemoryType, pages: usize) -> Option<usize> {
        let any = AllocateType::ANY_PAGES;
        let first = self.allocate_pages_of(any, memory_type, 0, pages)?;
        if first != 0 {
            return Some(first);
        }
        let second = self.allocate_pages_of(any, memory_type, 0, pages);
        let _ = self.free_pages(0, pages);
        second.filter(|&address| address != 0)
    }

    /// `AllocatePages(AllocateAddress)`: the pages at `address`, if they are free.
    pub(crate) fn allocate_pages_at(self, address: usize, pages: usize) -> bool {
        let at = AllocateType::ADDRESS;
        self.allocate_pages_of(at, Self::memory_type(), address, pages) == Some(address)
    }

    fn allocate_pages_of(
        self,
        kind: AllocateType,
        memory_type: MemoryType,
        address: usize,
        pages: usize,
    ) -> Option<usize> {
        let mut memory = address as u64;
        // SAFETY: `self` was live at the start of this library call.
        let status = unsafe { ((*self.0).allocate_pages)(kind, memory_type, pages, &mut memory) };
        if status != Status::SUCCESS {
            return None;
        }
        // A 32-bit image cannot address pages above 4 GiB: give them back.
        let address = usize::try_from(memory).ok();
        if address.is_none() {
            // SAFETY: as above; these are the pages just allocated.
            let _ = unsafe { ((*self.0).free_pages)(memory, pages) };
        }
        address
    }

    pub(crate) fn free_pages(self, address: usize, pages: usize) -> Status {
        if pages == 0 {
            return Status::SUCCESS;
        }
        // SAFETY: as above; the caller passes pages it got from `allocate_pages`.
        unsafe { ((*self.0).free_pages)(address as u64, pages) }
    }

    /// Raises the TPL to `TPL_NOTIFY`, the highest level at which UEFI allows pool calls; `None`
    /// for a caller already above it (outside the contract): the TPL is then left as it was.
    /// The current TPL is read by raising to `TPL_HIGH_LEVEL`, which is never lower.
    #[inline(never)]
    pub(crate) fn raise_tpl(self) -> Option<RaisedTpl> {
        // SAFETY: `self` was live at the start of this library call.
        unsafe {
            let previous = ((*self.0).raise_tpl)(Tpl::HIGH_LEVEL);
            if previous > Tpl::NOTIFY {
                ((*self.0).restore_tpl)(previous);
                return None;
            }
            ((*self.0).restore_tpl)(Tpl::NOTIFY);
            Some(RaisedTpl {
                services: self,
                previous,
            })
        }
    }
}

/// Swaps this module's per-image statics with `saved` (see `hooks::Image`).
#[cfg(feature = "test-hooks")]
pub(crate) fn swap_image(saved: &mut [usize]) {
    use Ordering::Relaxed;
    let [
        state,
        table,
        event,
        memory_type,
        options,
        bookkeeping,
        front,
        ..,
    ] = saved
    else {
        return;
    };
    *state = STATE.swap(*state as u8, Relaxed) as usize;
    *table = SYSTEM_TABLE
        .swap(ptr::with_exposed_provenance_mut(*table), Relaxed)
        .expose_provenance();
    *event = EXIT_EVENT
        .swap(ptr::with_exposed_provenance_mut(*event), Relaxed)
        .expose_provenance();
    *memory_type = MEMORY_TYPE.swap(*memory_type as u32, Relaxed) as usize;
    *options = OPTIONS.swap(*options as u32, Relaxed) as usize;
    *bookkeeping = BOOKKEEPING_TYPE.swap(*bookkeeping as u32, Relaxed) as usize;
    *front = FRONT_READY.swap(*front != 0, Relaxed) as usize;
}
