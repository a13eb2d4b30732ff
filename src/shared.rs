//! The allocator's state, and how the images of one boot share it.
//!
//! Everything a block's free, resize or size query must find (the tag key, the page index, the
//! front's pages and records, the call depth, the statistics) lives in one [`State`]. It is either
//! private to this image (a static of its own) or, by default, shared by every image of the boot
//! that links a compatible copy of the library: the first copy to initialise allocates a `State`
//! in `EfiBootServicesData` pool and installs it as the interface of [`SHARED_STATE_GUID`] on a
//! handle of its own; later copies find it in `pool_init` and use it. Only data is shared, never
//! code: an image that unloads leaves nothing another image would call.
//!
//! Copies agree on a state only if its [`Header`] carries their signature, layout version and
//! size. A copy of another layout never touches a state it does not understand: it looks for one
//! of its own layout beside it (several can be installed under the GUID, one per layout), and
//! publishes one if there is none. Copies of different layouts thus keep apart, and refuse each
//! other's blocks as foreign.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use uefi_raw::table::boot::{BootServices, InterfaceType, MemoryType};
use uefi_raw::{Guid, Handle, Status, guid};

use crate::{front, index, records, stats};

/// The protocol GUID under which shared states are installed.
pub const SHARED_STATE_GUID: Guid = guid!("57bcab77-d32f-43cf-9d27-d24a39802b5a");

/// "UPASTATE".
const SIGNATURE: u64 = u64::from_le_bytes(*b"UPASTATE");
/// Raised whenever [`State`]'s layout or the meaning of any of its fields changes.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// This copy's layout version: [`LAYOUT_VERSION`], which the host tests can change per
/// simulated image to play a copy of another version.
#[inline]
fn layout_version() -> u32 {
    #[cfg(feature = "test-hooks")]
    {
        match MOCK_LAYOUT_VERSION.load(Ordering::Relaxed) {
            0 => LAYOUT_VERSION,
            mocked => mocked,
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    LAYOUT_VERSION
}

/// 0, or the layout version this image plays (test builds only).
#[cfg(feature = "test-hooks")]
static MOCK_LAYOUT_VERSION: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Makes this image a copy of layout `version` (0: the real one). Test builds only.
#[cfg(feature = "test-hooks")]
pub fn mock_layout_version(version: u32) {
    MOCK_LAYOUT_VERSION.store(version, Ordering::Relaxed);
}

/// What a copy checks before it uses a state another copy published.
#[repr(C)]
pub(crate) struct Header {
    signature: u64,
    version: u32,
    size: u32,
}

impl Header {
    /// A private state's: all zero (with the rest of the state, it costs the image no data).
    const NONE: Header = Header {
        signature: 0,
        version: 0,
        size: 0,
    };

    fn ours() -> Header {
        Header {
            signature: SIGNATURE,
            version: layout_version(),
            size: size_of::<State>() as u32,
        }
    }

    fn is_ours(&self) -> bool {
        let ours = Header::ours();
        self.signature == ours.signature && self.version == ours.version && self.size == ours.size
    }
}

/// All the allocator's state that blocks depend on.
#[repr(C)]
pub(crate) struct State {
    header: Header,
    /// Binds block tags to this state (see `block.rs`); 0 until the first `pool_init`.
    pub key: AtomicU64,
    /// Library calls in progress over this state, from any image (see `call.rs`).
    pub calls: AtomicUsize,
    pub index: index::Index,
    pub records: records::RecordPages,
    pub front: front::Front,
    pub counters: stats::Counters,
}

// SAFETY: the non-atomic fields change only at TPL_NOTIFY, and boot services run on one CPU.
unsafe impl Sync for State {}

impl State {
    pub(crate) const fn new() -> State {
        State {
            header: Header::NONE,
            key: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            index: index::Index::new(),
            records: records::RecordPages::new(),
            front: front::Front::new(),
            counters: stats::Counters::new(),
        }
    }
}

static PRIVATE: State = State::new();
/// The state this image uses: [`PRIVATE`] until `pool_init` finds or publishes a shared one.
static CURRENT: AtomicPtr<State> = AtomicPtr::new(ptr::addr_of!(PRIVATE).cast_mut());
/// Whether the first successful `pool_init` decided between private and shared (it holds for
/// the image's life, so that blocks from before a `pool_fini` stay valid).
static DECIDED: AtomicUsize = AtomicUsize::new(0);

/// The state this image's calls work on.
#[inline(always)]
pub(crate) fn state() -> &'static State {
    // SAFETY: CURRENT points at PRIVATE or at a published state, which is never freed before
    // ExitBootServices (after which the library touches no state but its own statics).
    unsafe { &*CURRENT.load(Ordering::Relaxed) }
}

/// Whether this image works on a state shared with other images.
pub(crate) fn is_shared() -> bool {
    !ptr::eq(state(), &PRIVATE)
}

/// At the first successful `pool_init`: uses a compatible published state, or publishes one,
/// unless `private`; a firmware that cannot (no protocol services, no memory) leaves the image
/// private. Later calls keep the first decision. Runs at TPL_NOTIFY, so that two images cannot
/// both publish. Returns the key to use if this image's state has none yet.
///
/// # Safety
/// `bs` is the live Boot Services table.
pub(crate) unsafe fn decide(bs: *const BootServices, private: bool, fresh_key: u64) {
    if DECIDED.swap(1, Ordering::Relaxed) == 0 && !private {
        // SAFETY: the caller's contract.
        let shared = match unsafe { find(bs) } {
            Ok(Some(shared)) => Some(shared),
            Ok(None) => unsafe { publish(bs, fresh_key) },
            Err(()) => None,
        };
        if let Some(shared) = shared {
            CURRENT.store(shared, Ordering::Relaxed);
        }
    }
    let _ = state()
        .key
        .compare_exchange(0, fresh_key, Ordering::Relaxed, Ordering::Relaxed);
}

/// Handles a search for compatible states looks at: more layouts than this in one firmware is
/// not a case worth pool memory.
const SEARCHED: usize = 8;

/// A state of this layout installed by another image; `Err` if the firmware cannot search
/// (no protocol services).
unsafe fn find(bs: *const BootServices) -> Result<Option<*mut State>, ()> {
    const BY_PROTOCOL: i32 = 2;
    let mut handles = [ptr::null_mut::<c_void>(); SEARCHED];
    let mut bytes = size_of::<[Handle; SEARCHED]>();
    // SAFETY: `bs` is live; the buffer holds `bytes`.
    let status = unsafe {
        ((*bs).locate_handle)(
            BY_PROTOCOL,
            &SHARED_STATE_GUID,
            ptr::null(),
            &mut bytes,
            handles.as_mut_ptr(),
        )
    };
    match status {
        Status::SUCCESS => {}
        // None yet; or too many handles, of which none were returned: publish another.
        Status::NOT_FOUND | Status::BUFFER_TOO_SMALL => return Ok(None),
        _ => return Err(()),
    }
    let found = (bytes / size_of::<Handle>()).min(SEARCHED);
    Ok(handles[..found].iter().find_map(|&handle| {
        let mut interface: *mut c_void = ptr::null_mut();
        // SAFETY: `bs` is live; the handle came from LocateHandle.
        let status = unsafe { ((*bs).handle_protocol)(handle, &SHARED_STATE_GUID, &mut interface) };
        let header = interface.cast::<Header>();
        // SAFETY: an interface of this GUID starts with a Header, whatever its layout; one of
        // ours is 8-aligned (pool memory), and another copy's need not be.
        (status == Status::SUCCESS
            && !header.is_null()
            && header.is_aligned()
            && unsafe { header.read() }.is_ours())
        .then_some(interface.cast::<State>())
    }))
}

/// A fresh state in boot-services pool, installed on a new handle.
unsafe fn publish(bs: *const BootServices, key: u64) -> Option<*mut State> {
    let mut memory: *mut u8 = ptr::null_mut();
    // SAFETY: `bs` is live.
    let status = unsafe {
        ((*bs).allocate_pool)(
            MemoryType::BOOT_SERVICES_DATA,
            size_of::<State>(),
            &mut memory,
        )
    };
    if status != Status::SUCCESS || memory.is_null() {
        return None;
    }
    let shared = memory.cast::<State>();
    // SAFETY: a fresh pool block of the state's size, 8-aligned as every field needs.
    unsafe {
        shared.write(State::new());
        (*shared).header = Header::ours();
        (*shared).key.store(key, Ordering::Relaxed);
    }
    let mut handle: Handle = ptr::null_mut();
    // SAFETY: `bs` is live; the interface stays allocated for the rest of boot services.
    let status = unsafe {
        ((*bs).install_protocol_interface)(
            &mut handle,
            &SHARED_STATE_GUID,
            InterfaceType::NATIVE_INTERFACE,
            shared.cast(),
        )
    };
    if status != Status::SUCCESS {
        // SAFETY: the block just allocated, never published.
        let _ = unsafe { ((*bs).free_pool)(memory) };
        return None;
    }
    Some(shared)
}

/// Swaps this image's state choice and layout version with `saved` (see `hooks::Image`); a
/// null state stands for `own`, the image's private one.
#[cfg(feature = "test-hooks")]
pub(crate) fn swap_image(saved: &mut [usize; 3], own: &State) {
    let state = if saved[0] == 0 {
        ptr::from_ref(own).cast_mut()
    } else {
        ptr::with_exposed_provenance_mut(saved[0])
    };
    *saved = [
        CURRENT.swap(state, Ordering::Relaxed).expose_provenance(),
        DECIDED.swap(saved[1], Ordering::Relaxed),
        MOCK_LAYOUT_VERSION.swap(saved[2] as u32, Ordering::Relaxed) as usize,
    ];
}

/// Back to this image's private state, undecided, of the real layout version.
#[cfg(feature = "test-hooks")]
pub(crate) fn forget() {
    CURRENT.store(ptr::addr_of!(PRIVATE).cast_mut(), Ordering::Relaxed);
    DECIDED.store(0, Ordering::Relaxed);
    MOCK_LAYOUT_VERSION.store(0, Ordering::Relaxed);
}
