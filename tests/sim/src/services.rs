//! The `extern "efiapi"` functions in the simulated Boot Services table.
//!
//! They cannot capture, so each one locks the global state. The lock is never held while
//! library code (an interrupt hook) runs.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::table::boot::{
    AllocateType, BootServices, EventNotifyFn, EventType, InterfaceType, MemoryDescriptor,
    MemoryType, OpenProtocolInformationEntry, TimerDelay, Tpl,
};
use uefi_raw::table::{Header, Revision};
use uefi_raw::{Boolean, Char16, Event, Guid, Handle, PhysicalAddress, Status};

use crate::lock_state;
use crate::state::State;

/// Runs `f` on the state, or returns `None` when no `Sim` exists (a stale function pointer).
fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    lock_state().as_mut().map(f)
}

/// Common frame of AllocatePool, FreePool, AllocatePages and FreePages: numbering, TPL and
/// ExitBootServices checks, then the interrupt hooks armed for this call, run without the lock.
fn memory_service(f: impl FnOnce(&mut State) -> Status) -> Status {
    let (status, run, hooks) = {
        let mut guard = lock_state();
        let Some(state) = guard.as_mut() else {
            return Status::NOT_READY;
        };
        let (index, allowed) = state.begin_memory_service();
        let status = if allowed {
            f(state)
        } else {
            Status::UNSUPPORTED
        };
        let (run, hooks) = state.take_hooks(index);
        (status, run, hooks)
    };
    if run {
        hooks.into_iter().for_each(run_hook);
    }
    status
}

/// Runs one interrupt hook at TPL_CALLBACK (or the current TPL if higher), catching a panic.
fn run_hook(mut hook: Box<dyn FnMut() + Send>) {
    let Some(old) = with_state(|s| {
        let old = s.tpl;
        s.set_tpl(old.max(Tpl::CALLBACK));
        s.interrupts_fired += 1;
        old
    }) else {
        return;
    };
    let result = catch_unwind(AssertUnwindSafe(&mut hook));
    drop(hook);
    with_state(|s| {
        s.tpl = old;
        if let Err(payload) = result {
            s.hook_panic.get_or_insert(payload);
        }
    });
}

unsafe extern "efiapi" fn raise_tpl(new_tpl: Tpl) -> Tpl {
    with_state(|s| s.raise_tpl(new_tpl)).unwrap_or(Tpl::APPLICATION)
}

unsafe extern "efiapi" fn restore_tpl(old_tpl: Tpl) {
    with_state(|s| s.restore_tpl(old_tpl));
}

unsafe extern "efiapi" fn allocate_pages(
    alloc_ty: AllocateType,
    mem_ty: MemoryType,
    count: usize,
    addr: *mut PhysicalAddress,
) -> Status {
    // SAFETY: the caller passes a valid (or null) out parameter, as the UEFI spec requires.
    memory_service(|s| unsafe { s.allocate_pages(alloc_ty, mem_ty, count, addr) })
}

unsafe extern "efiapi" fn free_pages(addr: PhysicalAddress, pages: usize) -> Status {
    memory_service(|s| s.free_pages(addr, pages))
}

unsafe extern "efiapi" fn allocate_pool(
    pool_type: MemoryType,
    size: usize,
    buffer: *mut *mut u8,
) -> Status {
    // SAFETY: the caller passes a valid (or null) out parameter, as the UEFI spec requires.
    memory_service(|s| unsafe { s.allocate_pool(pool_type, size, buffer) })
}

unsafe extern "efiapi" fn free_pool(buffer: *mut u8) -> Status {
    memory_service(|s| s.free_pool(buffer))
}

unsafe extern "efiapi" fn create_event(
    ty: EventType,
    notify_tpl: Tpl,
    notify_func: Option<EventNotifyFn>,
    notify_ctx: *mut c_void,
    out_event: *mut Event,
) -> Status {
    // SAFETY: the caller passes a valid (or null) out parameter.
    with_state(|s| unsafe {
        s.create_event(ty, notify_tpl, notify_func, notify_ctx, None, out_event)
    })
    .unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn create_event_ex(
    ty: EventType,
    notify_tpl: Tpl,
    notify_fn: Option<EventNotifyFn>,
    notify_ctx: *const c_void,
    event_group: *const Guid,
    out_event: *mut Event,
) -> Status {
    // SAFETY: the caller passes a valid (or null) group GUID.
    let group = (!event_group.is_null()).then(|| unsafe { event_group.read_unaligned() });
    // SAFETY: the caller passes a valid (or null) out parameter.
    with_state(|s| unsafe {
        s.create_event(
            ty,
            notify_tpl,
            notify_fn,
            notify_ctx.cast_mut(),
            group,
            out_event,
        )
    })
    .unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn close_event(event: Event) -> Status {
    with_state(|s| s.close_event(event)).unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn handle_protocol(
    handle: Handle,
    proto: *const Guid,
    out_proto: *mut *mut c_void,
) -> Status {
    // SAFETY: the caller passes a valid (or null) GUID and out parameter.
    with_state(|s| unsafe { s.handle_protocol(handle, proto, out_proto) })
        .unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn install_protocol_interface(
    handle: *mut Handle,
    guid: *const Guid,
    _interface_type: InterfaceType,
    interface: *const c_void,
) -> Status {
    // SAFETY: the caller passes valid pointers, as UEFI requires.
    with_state(|s| unsafe { s.install_protocol_interface(handle, guid, interface) })
        .unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn locate_handle(
    search: i32,
    guid: *const Guid,
    _key: *const c_void,
    size: *mut usize,
    buffer: *mut Handle,
) -> Status {
    // SAFETY: as above.
    with_state(|s| unsafe { s.locate_handle(search, guid, size, buffer) })
        .unwrap_or(Status::NOT_READY)
}

unsafe extern "efiapi" fn copy_mem(dest: *mut u8, src: *const u8, len: usize) {
    // SAFETY: CopyMem's contract (overlap allowed).
    unsafe { ptr::copy(src, dest, len) }
}

unsafe extern "efiapi" fn set_mem(buffer: *mut u8, len: usize, value: u8) {
    // SAFETY: SetMem's contract.
    unsafe { ptr::write_bytes(buffer, value, len) }
}

/// Records a call to an unimplemented service.
fn note_unsupported(name: &'static str) -> Status {
    with_state(|s| s.unsupported.push(name));
    Status::UNSUPPORTED
}

/// Generates a typed stub per unimplemented service: it records its name and returns
/// `UNSUPPORTED`.
macro_rules! unsupported {
    ($($name:ident($($arg:ty),*);)*) => {$(
        unsafe extern "efiapi" fn $name($(_: $arg),*) -> Status {
            note_unsupported(stringify!($name))
        }
    )*};
}

unsupported! {
    get_memory_map(*mut usize, *mut MemoryDescriptor, *mut usize, *mut usize, *mut u32);
    set_timer(Event, TimerDelay, u64);
    wait_for_event(usize, *const Event, *mut usize);
    signal_event(Event);
    check_event(Event);
    reinstall_protocol_interface(Handle, *const Guid, *const c_void, *const c_void);
    uninstall_protocol_interface(Handle, *const Guid, *const c_void);
    register_protocol_notify(*const Guid, Event, *mut *mut c_void);
    locate_device_path(*const Guid, *mut *const DevicePathProtocol, *mut Handle);
    install_configuration_table(*const Guid, *const c_void);
    load_image(Boolean, Handle, *const DevicePathProtocol, *const u8, usize, *mut Handle);
    start_image(Handle, *mut usize, *mut *mut Char16);
    exit(Handle, Status, usize, *mut Char16);
    unload_image(Handle);
    exit_boot_services(Handle, usize);
    get_next_monotonic_count(*mut u64);
    stall(usize);
    set_watchdog_timer(usize, u64, usize, *const u16);
    connect_controller(Handle, *const Handle, *const DevicePathProtocol, Boolean);
    disconnect_controller(Handle, Handle, Handle);
    open_protocol(Handle, *const Guid, *mut *mut c_void, Handle, Handle, u32);
    close_protocol(Handle, *const Guid, Handle, Handle);
    open_protocol_information(Handle, *const Guid, *mut *mut OpenProtocolInformationEntry, *mut usize);
    protocols_per_handle(Handle, *mut *mut *const Guid, *mut usize);
    locate_handle_buffer(i32, *const Guid, *const c_void, *mut usize, *mut *mut Handle);
    locate_protocol(*const Guid, *const c_void, *mut *mut c_void);
    calculate_crc32(*const c_void, usize, *mut u32);
}

/// Stand-in for the two C-variadic services (stable Rust cannot define a variadic function).
/// Their table entries are this function transmuted to the variadic type: calling them is
/// undefined behaviour, and the library never does.
unsafe extern "C" fn install_multiple_protocol_interfaces(_: *mut Handle) -> Status {
    note_unsupported("install_multiple_protocol_interfaces")
}

/// See [`install_multiple_protocol_interfaces`].
unsafe extern "C" fn uninstall_multiple_protocol_interfaces(_: Handle) -> Status {
    note_unsupported("uninstall_multiple_protocol_interfaces")
}

/// A fully populated Boot Services table.
pub fn boot_services_table(signature: u64, revision: Revision) -> BootServices {
    type Install = unsafe extern "C" fn(*mut Handle) -> Status;
    type InstallVariadic = unsafe extern "C" fn(*mut Handle, ...) -> Status;
    type Uninstall = unsafe extern "C" fn(Handle) -> Status;
    type UninstallVariadic = unsafe extern "C" fn(Handle, ...) -> Status;
    BootServices {
        header: Header {
            signature,
            revision,
            size: size_of::<BootServices>() as u32,
            crc: 0,
            reserved: 0,
        },
        raise_tpl,
        restore_tpl,
        allocate_pages,
        free_pages,
        get_memory_map,
        allocate_pool,
        free_pool,
        create_event,
        set_timer,
        wait_for_event,
        signal_event,
        close_event,
        check_event,
        install_protocol_interface,
        reinstall_protocol_interface,
        uninstall_protocol_interface,
        handle_protocol,
        reserved: ptr::null_mut(),
        register_protocol_notify,
        locate_handle,
        locate_device_path,
        install_configuration_table,
        load_image,
        start_image,
        exit,
        unload_image,
        exit_boot_services,
        get_next_monotonic_count,
        stall,
        set_watchdog_timer,
        connect_controller,
        disconnect_controller,
        open_protocol,
        close_protocol,
        open_protocol_information,
        protocols_per_handle,
        locate_handle_buffer,
        locate_protocol,
        // SAFETY: function pointers of the same size; never called (see the stubs' docs).
        install_multiple_protocol_interfaces: unsafe {
            std::mem::transmute::<Install, InstallVariadic>(install_multiple_protocol_interfaces)
        },
        // SAFETY: as above.
        uninstall_multiple_protocol_interfaces: unsafe {
            std::mem::transmute::<Uninstall, UninstallVariadic>(
                uninstall_multiple_protocol_interfaces,
            )
        },
        calculate_crc32,
        copy_mem,
        set_mem,
        create_event_ex,
    }
}
