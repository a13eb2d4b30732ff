//! The C ABI: every exported function, thin (argument conversion, then the allocation core).
//! `cargo xtask header` turns this file into `include/uefi_pool_alloc.h`, so the doc comments here are the
//! header's documentation, in EDK2's doxygen style.
//!
//! Every function is safe to call before `pool_init` (allocation returns NULL, free returns
//! `EFI_NOT_STARTED`) and after ExitBootServices (NULL, `EFI_UNSUPPORTED`), and up to
//! `TPL_NOTIFY`, also from a notify function that interrupted another call.
//!
//! Functions taking a block pointer read the 8 bytes below it to validate it: pass NULL, a
//! pointer this library returned, or at least a pointer into readable memory with 8 readable
//! bytes below it (any pool or stack address is). Page-aligned pointers and pointers into page 0
//! are checked without reading memory.
// C names, and the pointer contract above stands for every function's `# Safety` section.
#![allow(non_camel_case_types, non_snake_case, clippy::missing_safety_doc)]
// Doxygen's `@param[in]` is not a rustdoc link.
#![allow(rustdoc::broken_intra_doc_links)]

use core::ffi::{c_char, c_void};

use crate::call;
use crate::refusal::{self, Caller};
use crate::stats::{self, PoolStats};
use crate::{aligned, firmware, front, raw};

/// `UINTN`: from the EDK2 or gnu-efi headers when present, else from this header's prologue.
pub type UINTN = usize;
/// `UINT32`.
pub type UINT32 = u32;
/// `BOOLEAN`: 0 or 1.
pub type BOOLEAN = u8;
/// `VOID`.
pub type VOID = c_void;
/// `EFI_STATUS`.
pub type EFI_STATUS = usize;
/// `EFI_HANDLE`.
pub type EFI_HANDLE = *mut c_void;
/// `EFI_SYSTEM_TABLE`.
pub type EFI_SYSTEM_TABLE = uefi_raw::table::system::SystemTable;

/// Initialises the library for this image. Call it once, before any other function (an EDK2
/// library constructor does); until then allocation returns NULL.
///
/// Records SystemTable, checks MemoryType and registers an EVT_SIGNAL_EXIT_BOOT_SERVICES event
/// (TPL_NOTIFY) after which the library is inert. The system table is read anew on every call, and
/// a NULL SystemTable->BootServices also makes the library inert. The first successful call
/// joins the boot's shared allocator state, publishing it if no image did (see the file's
/// description); an image that cannot (no protocol services, no memory) stays private.
///
/// @param[in] ImageHandle  The image's handle; used to find its ImageDataType.
/// @param[in] SystemTable  The image's system table.
/// @param[in] MemoryType   The memory type of every block: EfiLoaderCode..EfiRuntimeServicesData,
///                         EfiACPIReclaimMemory, EfiACPIMemoryNVS, EfiReservedMemoryType or an
///                         OEM/OS type (0x70000000 and above); or POOL_MEMORY_TYPE_DEFAULT for the
///                         image's ImageDataType, else EfiBootServicesData.
///
/// @retval EFI_SUCCESS            The library is ready.
/// @retval EFI_INVALID_PARAMETER  SystemTable is NULL, not a system table or has no boot services;
///                                or MemoryType cannot hold pool memory.
/// @retval EFI_ALREADY_STARTED    The library was initialised already; nothing changed.
/// @retval other                  CreateEvent failed; the library stays uninitialised.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_init(
    ImageHandle: EFI_HANDLE,
    SystemTable: *mut EFI_SYSTEM_TABLE,
    MemoryType: UINT32,
) -> EFI_STATUS {
    // SAFETY: the caller passes its image handle and system table.
    unsafe { firmware::init(ImageHandle, SystemTable, MemoryType, 0) }.0
}

/// pool_init with options: POOL_PASS_THROUGH sends every block to the firmware (AllocatePool or
/// AllocatePages per block, none from the small-block front), so that firmware debugging tools
/// such as EDK2's heap guard, use-after-free detection and memory profile see each one; blocks
/// the front holds from before stay valid. POOL_PRIVATE keeps the image's allocator state its
/// own instead of sharing the boot's: other images refuse its blocks, and it theirs. The first
/// successful call of an image decides between shared and private for the image's life. The EDK2
/// library passes PcdUefiPoolAllocPassThrough and PcdUefiPoolAllocPrivate.
///
/// @param[in] ImageHandle  As for pool_init.
/// @param[in] SystemTable  As for pool_init.
/// @param[in] MemoryType   As for pool_init.
/// @param[in] Options      0, or POOL_PASS_THROUGH and/or POOL_PRIVATE.
///
/// @retval EFI_SUCCESS            The library is ready.
/// @retval EFI_INVALID_PARAMETER  As for pool_init, or an unknown bit in Options.
/// @retval EFI_ALREADY_STARTED    The library was initialised already; nothing changed.
/// @retval other                  CreateEvent failed; the library stays uninitialised.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_init_ex(
    ImageHandle: EFI_HANDLE,
    SystemTable: *mut EFI_SYSTEM_TABLE,
    MemoryType: UINT32,
    Options: UINT32,
) -> EFI_STATUS {
    // SAFETY: the caller passes its image handle and system table.
    unsafe { firmware::init(ImageHandle, SystemTable, MemoryType, Options) }.0
}

/// Undoes pool_init, for images that unload (an EDK2 library destructor calls it): gives idle
/// pages back as pool_trim does, then closes the ExitBootServices event. Live blocks stay valid:
/// other images sharing the state can free them, and so can this one after a new pool_init.
///
/// @retval EFI_SUCCESS      The library is uninitialised.
/// @retval EFI_NOT_STARTED  The library was not initialised.
/// @retval EFI_UNSUPPORTED  Boot services have ended.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_fini() -> EFI_STATUS {
    call::run(Caller::FINI, |call| {
        front::trim(call);
        firmware::fini().0
    })
}

/// Allocates Size bytes aligned to Align, for any power-of-two Align up to POOL_MAX_ALIGN.
///
/// Up to POOL_FRONT_LIMIT bytes at alignments up to POOL_FRONT_LIMIT come from the small-block
/// front: the smallest size class (32 B to 1 KiB) that holds Size and whose natural alignment
/// meets Align, in a page of the library's, with no firmware call. Above that, alignments up to
/// 2 KiB and sizes below 16 MiB come from AllocatePool with an 8-byte header below the pointer.
/// The request never exceeds Size + max(Align, 8), and where the firmware's pool pointers follow
/// a pattern (EDK2 X64: 24 mod 128) it is as small as that pattern allows. Larger alignments and
/// sizes come from AllocatePages as exactly ceil(Size/4096) pages. Size 0 gives a unique block
/// of usable size 0. The block is not a FreePool block (see the file's description).
///
/// @param[in] Size   Bytes to allocate, at most POOL_MAX_SIZE.
/// @param[in] Align  Alignment: a power of two, at most POOL_MAX_ALIGN.
///
/// @return  The block, to be released with pool_aligned_free. NULL if Align or Size is out of
///          range, the firmware has no memory, the library is not initialised or boot services
///          have ended.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_aligned_alloc(Size: UINTN, Align: UINTN) -> *mut VOID {
    call::run(Caller::ALIGNED_ALLOC, |call| {
        aligned::alloc_inline(Size, Align, call)
    })
    .cast()
}

/// Allocates Count * Size zeroed bytes aligned to Align.
///
/// @param[in] Count  Number of elements.
/// @param[in] Size   Bytes per element.
/// @param[in] Align  Alignment, as for pool_aligned_alloc.
///
/// @return  The zeroed block, to be released with pool_aligned_free; NULL if Count * Size
///          overflows and in every case pool_aligned_alloc returns NULL.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_aligned_calloc(Count: UINTN, Size: UINTN, Align: UINTN) -> *mut VOID {
    call::run(Caller::ALIGNED_CALLOC, |call| {
        aligned::alloc_zeroed(Count, Size, Align, call)
    })
    .cast()
}

/// Resizes a block of pool_aligned_alloc without being told its old size, keeping its alignment.
/// The block stays where it is when NewSize fits its usable size (shrinking a page-backed block
/// gives whole pages back; growing one takes the pages after it if free); otherwise a new block is
/// allocated, the contents copied and the old block freed. ReallocatePool, by contrast, needs the
/// old size and always moves.
///
/// @param[in] Ptr      A block of pool_aligned_alloc, or NULL to allocate NewSize bytes at
///                     POOL_DEFAULT_ALIGN.
/// @param[in] NewSize  The new size, at most POOL_MAX_SIZE. 0 keeps a block of size 0.
///
/// @return  The block (Ptr or a new pointer). NULL if there is no memory, NewSize is out of range
///          or Ptr is not a live block of pool_aligned_alloc; the old block is then unchanged.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_aligned_realloc(Ptr: *mut VOID, NewSize: UINTN) -> *mut VOID {
    // SAFETY: the header's contract on block pointers.
    call::run(Caller::ALIGNED_REALLOC, |call| {
        // SAFETY: the header's contract on block pointers.
        unsafe { aligned::realloc(Ptr.cast(), NewSize, call) }
    })
    .cast()
}

/// Frees a block of pool_aligned_alloc, pool_aligned_calloc or pool_aligned_realloc. The pointer
/// is checked first. A pointer this library did not return, a pointer into the middle of a
/// block, a raw block or a block already freed is refused and nothing is freed. The check is
/// certain for the small-block front, and about 1 in 2^20 uncertain for the pool path's header
/// tag (see the file's description).
///
/// @param[in] Ptr  The block, or NULL.
///
/// @retval EFI_SUCCESS            The block was freed, or Ptr is NULL.
/// @retval EFI_INVALID_PARAMETER  Ptr is not a live block of the aligned allocator.
/// @retval EFI_NOT_STARTED        The library is not initialised; nothing was freed.
/// @retval EFI_UNSUPPORTED        Boot services have ended; the memory stays allocated.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_aligned_free(Ptr: *mut VOID) -> EFI_STATUS {
    // SAFETY: the header's contract on block pointers.
    call::run(Caller::ALIGNED_FREE, |call| {
        // SAFETY: the header's contract on block pointers.
        unsafe { aligned::free(Ptr.cast(), call) }
    })
    .0
}

/// Allocates Size bytes with AllocatePool and nothing else: no header, no overhead, the 8-byte
/// alignment UEFI guarantees (EDK2 X64 pool pointers are 24 mod 128, so never 16-aligned).
/// Size 0 asks the firmware for 1 byte, so every firmware returns a unique block.
///
/// @param[in] Size  Bytes to allocate, at most POOL_MAX_SIZE.
///
/// This is the function for memory a caller will release with FreePool: buffers that a UEFI
/// interface returns to its callers.
///
/// @return  The block, to be released with pool_raw_free (or FreePool); NULL on failure.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_raw_alloc(Size: UINTN) -> *mut VOID {
    call::run(Caller::RAW_ALLOC, |call| raw::alloc(Size, call)).cast()
}

/// Frees a block of pool_raw_alloc (or any AllocatePool block) with FreePool. Blocks of the aligned
/// and page paths, and pointers that are not 8-aligned, are refused without calling the firmware
/// (whose debug builds ASSERT on a bad FreePool). Any other pointer goes to FreePool, which reads
/// the firmware's pool head below it (24 bytes on EDK2): pass only NULL or pool blocks.
///
/// @param[in] Ptr  The block, or NULL.
///
/// @retval EFI_SUCCESS            The block was freed, or Ptr is NULL.
/// @retval EFI_INVALID_PARAMETER  Ptr is not a pool block, as found by this library or FreePool.
/// @retval EFI_NOT_STARTED        The library is not initialised; nothing was freed.
/// @retval EFI_UNSUPPORTED        Boot services have ended; the memory stays allocated.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_raw_free(Ptr: *mut VOID) -> EFI_STATUS {
    // SAFETY: the header's contract on block pointers.
    call::run(Caller::RAW_FREE, |call| {
        // SAFETY: the header's contract on block pointers.
        unsafe { raw::free(Ptr.cast(), call) }
    })
    .0
}

/// Shrinks a block in place, for blocks of both the aligned and the raw allocator: shrinking or
/// keeping the size succeeds and the contents stay untouched; growing is refused. A block of the
/// aligned allocator whose size is OldSize records NewSize (and a page-backed one gives whole tail
/// pages back); any other block is left as it is, which is all a raw block needs.
///
/// @param[in] Ptr      The block.
/// @param[in] OldSize  Its current size.
/// @param[in] NewSize  The size wanted.
///
/// @retval TRUE   The block now holds NewSize bytes at Ptr.
/// @retval FALSE  NewSize > OldSize, Ptr is NULL, OldSize is not the size of the aligned block
///                at Ptr, Ptr can be no block (not 8-aligned, in page 0 or inside a page-path
///                block), or the library is not initialised or boot services have ended.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_shrink(
    Ptr: *mut VOID,
    OldSize: UINTN,
    NewSize: UINTN,
) -> BOOLEAN {
    // SAFETY: the header's contract on block pointers.
    call::run(Caller::SHRINK, |call| {
        // SAFETY: the header's contract on block pointers.
        unsafe { aligned::shrink(Ptr.cast(), OldSize, NewSize, call) }
    })
    .into()
}

/// pool_shrink returning a pointer: the block cannot move, so this is Ptr when pool_shrink would
/// return TRUE and NULL (the block unchanged) otherwise.
///
/// @param[in] Ptr      The block.
/// @param[in] OldSize  Its current size.
/// @param[in] NewSize  The size wanted.
///
/// @return  Ptr, or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_remap(
    Ptr: *mut VOID,
    OldSize: UINTN,
    NewSize: UINTN,
) -> *mut VOID {
    // SAFETY: the header's contract on block pointers.
    let shrunk = call::run(Caller::REMAP, |call| {
        // SAFETY: the header's contract on block pointers.
        unsafe { aligned::shrink(Ptr.cast(), OldSize, NewSize, call) }
    });
    if shrunk { Ptr } else { core::ptr::null_mut() }
}

/// Returns how many bytes of a block of the aligned allocator may be used: at least the size it
/// was allocated or last resized to, more where the block has slack.
///
/// @param[in] Ptr  The block.
///
/// @return  The usable size; 0 for NULL, raw blocks, foreign or freed pointers, and when the
///          library is not initialised or boot services have ended.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_usable_size(Ptr: *mut VOID) -> UINTN {
    call::run(Caller::USABLE_SIZE, |_| {
        // SAFETY: the header's contract on block pointers.
        unsafe { aligned::usable_size(Ptr.cast()) }
    })
}

/// Copies the allocation statistics of the allocator state the image uses: with a shared state,
/// those of every image of the boot that shares it; with a private one (POOL_PRIVATE), the
/// image's own. Works at any time, also before pool_init.
///
/// @param[out] Stats  Receives the statistics.
///
/// @retval EFI_SUCCESS            Stats was filled.
/// @retval EFI_INVALID_PARAMETER  Stats is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_stats(Stats: *mut PoolStats) -> EFI_STATUS {
    call::run(Caller::STATS, |call| {
        if Stats.is_null() {
            refusal::invalid_call(call.caller, core::ptr::null_mut());
            return uefi_raw::Status::INVALID_PARAMETER.0;
        }
        // SAFETY: the caller passes a writable POOL_STATS.
        unsafe { Stats.write(stats::snapshot()) };
        uefi_raw::Status::SUCCESS.0
    })
}

/// Gives back to the firmware every page of the small-block front that holds no live block
/// (the pages the front keeps for reuse: at most one per size class and memory type), and the
/// bookkeeping that only described them, for every image that shares the state. After every
/// block is freed and pool_trim returns, the library holds no firmware memory but a shared
/// state's own pool block. Called from a notify function that interrupted another library call,
/// it only asks for the work to be done as that call returns, and returns 0.
///
/// @return  The number of the front's pages given back; 0 if the library is not initialised or
///          boot services have ended.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_trim() -> UINTN {
    call::run(Caller::TRIM, front::trim)
}

/// A function the library calls for every call it refuses for its arguments (those
/// POOL_STATS.InvalidCalls counts): a pointer that is not a live block of the function it was
/// given to, a size or alignment out of range, a NULL Stats. Runs at the caller's TPL (up to
/// TPL_NOTIFY) before the refused call returns, and may call the library.
///
/// @param[in] Function  The name of the public function refused, e.g. "pool_aligned_free"
///                      ("PoolAllocator::dealloc" and the like for Rust's GlobalAlloc).
/// @param[in] Pointer   The block pointer passed, or NULL for calls without one.
pub type POOL_INVALID_CALL_HANDLER =
    Option<unsafe extern "efiapi" fn(Function: *const c_char, Pointer: *mut VOID)>;

/// Registers a function to be told about every call refused for its arguments, so that a bad
/// free is found where it happens rather than as a leak. The EDK2 library registers one in DEBUG
/// builds (a DEBUG_ERROR line, then an ASSERT unless PcdUefiPoolAllocAssertOnInvalidCall is
/// FALSE); RELEASE builds register none. Works at any time, also before pool_init.
///
/// @param[in] Handler  The function, or NULL for none.
///
/// @return  The function registered before, or NULL.
#[unsafe(no_mangle)]
pub extern "efiapi" fn pool_set_invalid_call_handler(
    Handler: POOL_INVALID_CALL_HANDLER,
) -> POOL_INVALID_CALL_HANDLER {
    refusal::set_handler(Handler)
}
