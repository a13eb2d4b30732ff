//! Host simulation of the UEFI Boot Services that `uefi-pool-alloc` uses.
//!
//! A [`Sim`] builds a [`SystemTable`] whose [`BootServices`] are real `extern "efiapi"` functions
//! backed by host memory:
//!
//! - `AllocatePool`/`FreePool` with EDK2's parameter checks, a pool head before every block and a
//!   configurable placement ([`Residue`]): by default EDK2 DxeCore's x64 pattern, where every data
//!   pointer is ≡ 24 (mod 128).
//! - `AllocatePages`/`FreePages` with page-by-page bookkeeping, so that any sub-range of an
//!   allocation can be freed.
//! - `RaiseTpl`/`RestoreTpl`, `CreateEvent`/`CreateEventEx`/`CloseEvent`, and `HandleProtocol` for
//!   the image's `LoadedImageProtocol`.
//!
//! Tests can inject allocation failures, interrupt a service call with a hook (a notify function
//! re-entering the library), signal ExitBootServices, and observe what the library did: live
//! blocks and pages, request sizes, rejected frees, TPL misuse.
//!
//! Only one `Sim` exists at a time in a process: [`Sim::new`] takes a process-wide lock and holds
//! it until the `Sim` is dropped, so tests running on parallel threads take turns. Everything the
//! simulated firmware allocated is released when the `Sim` is dropped.
//!
//! Pointers keep their provenance: pool data pointers are derived from the host allocation, page
//! addresses leave as integers with exposed provenance (a `PhysicalAddress` is a `u64`), and the
//! firmware never dereferences a pointer it did not hand out itself. The crate runs under Miri.

#![warn(missing_docs)]

mod services;
mod state;

use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use uefi_raw;
use uefi_raw::table::boot::{BootServices, MemoryType, Tpl};
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Guid, Handle};

use state::State;

/// Where `AllocatePool` places the data pointers it returns, as a residue modulo 4096.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residue {
    /// EDK2 DxeCore on x64: a 24-byte pool head precedes the data. A request's internal size
    /// (`round_up(size, 8) + 40`) picks the smallest bin of 128, 256, 384, 640, 1024, 1664 or 2688
    /// bytes, whose head sits at a (seeded-random) multiple of 128 inside a 4096-aligned page, so
    /// that every data pointer is ≡ 24 (mod 128) and bit 7 varies between blocks. Larger requests
    /// get whole pages with the head at the page start (data ≡ 24 mod 4096).
    Edk2,
    /// Every data pointer is ≡ this value (mod 4096). It must be a multiple of 8; it is taken
    /// modulo 4096.
    Fixed(usize),
    /// Every data pointer is a seeded-random multiple of 8 (mod 4096).
    Random,
    /// Adversarial: successive blocks alternate between 8 and 4088 (mod 4096), residues that
    /// differ in bits 4 to 11.
    Alternating,
}

/// Configuration of a [`Sim`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where `AllocatePool` places data.
    pub residue: Residue,
    /// `ImageDataType` of the image's `LoadedImageProtocol`; `None` makes
    /// `HandleProtocol(image_handle, LOADED_IMAGE)` fail with `UNSUPPORTED`.
    pub image_data_type: Option<MemoryType>,
    /// Seed for [`Residue::Random`] and for the bin slots of [`Residue::Edk2`].
    pub seed: u64,
    /// Whether `InstallProtocolInterface`, `LocateHandle` and `HandleProtocol` keep a protocol
    /// database (every image of a boot then shares the library's state); without it they answer
    /// `EFI_UNSUPPORTED` (except the image's LoadedImage), and each image stays private.
    pub protocols: bool,
}

impl Default for SimConfig {
    /// [`Residue::Edk2`], image data type `LOADER_DATA`, seed 1, no protocol database.
    fn default() -> Self {
        Self {
            residue: Residue::Edk2,
            image_data_type: Some(MemoryType::LOADER_DATA),
            seed: 1,
            protocols: false,
        }
    }
}

/// Final counters of a [`Sim`], returned by [`Sim::finish`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Pool blocks still allocated (the sim frees them).
    pub leaked_pool_blocks: usize,
    /// Pages still allocated (the sim frees them).
    pub leaked_pages: usize,
    /// Events never closed.
    pub leaked_events: usize,
    /// See [`Sim::bad_frees`].
    pub bad_frees: u64,
    /// See [`Sim::tpl_violations`].
    pub tpl_violations: u64,
    /// See [`Sim::forbidden_calls`].
    pub forbidden_calls: u64,
    /// See [`Sim::unsupported_calls`].
    pub unsupported_calls: Vec<&'static str>,
}

/// Serialises `Sim` instances across the test threads of one process.
static SIM_LOCK: Mutex<()> = Mutex::new(());
/// The simulated firmware's state: the `efiapi` functions cannot capture anything.
static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Locks [`STATE`], recovering from poisoning.
fn lock_state() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A simulated firmware. Holds the process-wide sim lock until dropped; dropping it frees
/// everything it allocated, including blocks the library leaked.
pub struct Sim {
    _lock: MutexGuard<'static, ()>,
}

impl Sim {
    /// Waits until no other `Sim` exists, then creates the firmware state.
    ///
    /// # Panics
    /// If `config.residue` is `Fixed(r)` with `r` not a multiple of 8.
    pub fn new(config: SimConfig) -> Sim {
        if let Residue::Fixed(r) = config.residue {
            assert!(r % 8 == 0, "Residue::Fixed({r}) is not a multiple of 8");
        }
        let lock = SIM_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = lock_state();
        // A previous Sim always takes its state on drop; anything left is from a Sim that was
        // leaked with mem::forget, and is dropped (and freed) here.
        *state = Some(State::new(config));
        drop(state);
        Sim { _lock: lock }
    }

    /// Runs `f` on the state under the state lock.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(lock_state().as_mut().expect("a live Sim has state"))
    }

    /// The system table: signature `EFI_SYSTEM_TABLE_SIGNATURE`, revision 2.70, `boot_services`
    /// pointing at the simulated services (null after [`Sim::exit_boot_services`]).
    pub fn system_table(&self) -> *mut SystemTable {
        self.with(|s| s.st)
    }

    /// The Boot Services table itself; it stays valid (and callable) after ExitBootServices,
    /// like a pointer a driver cached.
    pub fn boot_services(&self) -> *mut BootServices {
        self.with(|s| s.bs)
    }

    /// The image handle: `HandleProtocol(handle, &LoadedImageProtocol::GUID)` succeeds on it when
    /// `config.image_data_type` is `Some`.
    pub fn image_handle(&self) -> Handle {
        self.with(|s| s.image_handle.cast::<c_void>())
    }

    /// Makes allocation call number `index` (AllocatePool and AllocatePages calls are numbered
    /// together from 0) return `OUT_OF_RESOURCES`.
    pub fn fail_allocation_at(&self, index: u64) {
        self.with(|s| s.fail_at.insert(index));
    }

    /// Makes the next `calls` successful AllocatePages report their pages 4 GiB above where they
    /// are, as a firmware with memory above 4 GiB may hand a 32-bit image; FreePages takes the
    /// reported address back. Only meaningful for 32-bit code, which cannot address them.
    pub fn report_pages_above_4g(&self, calls: u64) {
        self.with(|s| s.pages_above_4g = calls);
    }

    /// Makes every allocation call numbered `index` or higher return `OUT_OF_RESOURCES`.
    pub fn fail_allocations_from(&self, index: u64) {
        self.with(|s| s.fail_from = Some(s.fail_from.map_or(index, |f| f.min(index))));
    }

    /// Cancels every injected failure.
    pub fn clear_failures(&self) {
        self.with(|s| {
            s.fail_at.clear();
            s.fail_from = None;
        });
    }

    /// Number of AllocatePool and AllocatePages calls so far (the index of the next one).
    pub fn allocation_calls(&self) -> u64 {
        self.with(|s| s.alloc_calls)
    }

    /// Number of AllocatePool, FreePool, AllocatePages and FreePages calls so far (the index of
    /// the next one, as used by [`Sim::interrupt_at_call`]).
    pub fn service_calls(&self) -> u64 {
        self.with(|s| s.service_calls)
    }

    /// Pool blocks currently allocated.
    pub fn live_pool_blocks(&self) -> usize {
        self.with(|s| s.pool.len())
    }

    /// Pages currently allocated.
    pub fn live_pages(&self) -> usize {
        self.with(|s| s.regions.values().map(|r| r.live_count).sum())
    }

    /// The address of every page currently allocated.
    pub fn live_page_addresses(&self) -> Vec<usize> {
        self.with(|s| {
            s.regions
                .values()
                .flat_map(|r| r.live_addresses())
                .collect()
        })
    }

    /// The first page of every run of allocated pages: the pages whose page below may belong to
    /// someone else.
    pub fn page_run_starts(&self) -> Vec<usize> {
        self.with(|s| s.regions.values().flat_map(|r| r.run_starts()).collect())
    }

    /// The size of every AllocatePool call, successful or not, in order.
    pub fn pool_requests(&self) -> Vec<usize> {
        self.with(|s| s.pool_requests.clone())
    }

    /// The page count of every AllocatePages call, successful or not, in order.
    pub fn page_requests(&self) -> Vec<usize> {
        self.with(|s| s.page_requests.clone())
    }

    /// FreePool/FreePages calls the firmware rejected: a null pointer, a pointer that is not a
    /// live block's data pointer (foreign, interior or double free), a corrupted pool head, a page range that is misaligned,
    /// empty or not entirely allocated. A correct library never causes one.
    pub fn bad_frees(&self) -> u64 {
        self.with(|s| s.bad_frees)
    }

    /// FreePool calls rejected because the block's pool head had been overwritten (an underrun
    /// by the library). Also counted in [`Sim::bad_frees`].
    pub fn head_corruptions(&self) -> u64 {
        self.with(|s| s.head_corruptions)
    }

    /// CloseEvent calls with an unknown event.
    pub fn bad_event_closes(&self) -> u64 {
        self.with(|s| s.bad_closes)
    }

    /// Distinct memory types passed to AllocatePool/AllocatePages (valid or not), in order of
    /// first use.
    pub fn memory_types_used(&self) -> Vec<MemoryType> {
        self.with(|s| s.memory_types.clone())
    }

    /// Whether `[ptr, ptr + len)` lies inside the requested bytes of one live pool block, or
    /// inside live pages of one AllocatePages region.
    pub fn block_contains(&self, ptr: *const u8, len: usize) -> bool {
        self.with(|s| s.block_contains(ptr.addr(), len))
    }

    /// The size requested for the live pool block whose data pointer is `ptr`.
    pub fn pool_block_size(&self, ptr: *const u8) -> Option<usize> {
        self.with(|s| s.pool.get(&ptr.addr()).map(|b| b.size))
    }

    /// The memory type of the live pool block whose data pointer is `ptr`.
    pub fn pool_block_type(&self, ptr: *const u8) -> Option<MemoryType> {
        self.with(|s| s.pool.get(&ptr.addr()).map(|b| b.ty))
    }

    /// The memory type of the live page holding `address`.
    pub fn page_type(&self, address: usize) -> Option<MemoryType> {
        self.with(|s| {
            s.regions
                .values()
                .find(|r| r.live_addresses().any(|page| page == address & !4095))
                .map(|r| r.ty)
        })
    }

    /// Interfaces installed under `guid`, in the order they were installed.
    pub fn interfaces(&self, guid: Guid) -> Vec<*mut c_void> {
        self.with(|s| {
            s.protocols
                .iter()
                .filter(|entry| entry.1 == guid)
                .map(|entry| entry.2)
                .collect()
        })
    }

    /// Installs `interface` under `guid` on a new handle, as another image would.
    pub fn install(&self, guid: Guid, interface: *mut c_void) {
        self.with(|s| s.install(guid, interface));
    }

    /// The current TPL.
    pub fn tpl(&self) -> Tpl {
        self.with(|s| s.tpl)
    }

    /// Runs `f` as the firmware runs a notify function of `tpl` that interrupts the caller, if
    /// the current TPL lets it run (below `tpl`, and boot services alive): at `tpl`, restoring
    /// the caller's TPL after. Returns whether it ran. Usable from any code of the test while the
    /// `Sim` lives (a test hook inside the library, say).
    pub fn interrupt_now(tpl: Tpl, f: impl FnOnce()) -> bool {
        let previous = {
            let mut guard = lock_state();
            let Some(state) = guard.as_mut() else {
                return false;
            };
            if state.tpl >= tpl || state.exited {
                return false;
            }
            let previous = state.tpl;
            state.set_tpl(tpl);
            previous
        };
        f();
        if let Some(state) = lock_state().as_mut() {
            state.set_tpl(previous);
        }
        true
    }

    /// The highest TPL reached so far (by RaiseTpl, an interrupt hook or an EBS notification).
    pub fn max_tpl_seen(&self) -> Tpl {
        self.with(|s| s.max_tpl)
    }

    /// TPL misuse that EDK2 would `ASSERT` on: RaiseTpl below the current level or above
    /// HIGH_LEVEL, RestoreTpl above the current level, and a memory service called above
    /// TPL_NOTIFY.
    pub fn tpl_violations(&self) -> u64 {
        self.with(|s| s.tpl_violations)
    }

    /// Memory service calls the UEFI spec forbids: from an ExitBootServices notification
    /// function, or after ExitBootServices (through a cached Boot Services pointer; such a call
    /// also returns `UNSUPPORTED` without doing anything).
    pub fn forbidden_calls(&self) -> u64 {
        self.with(|s| s.forbidden_calls)
    }

    /// Names of the unimplemented Boot Services called, in order (each returned `UNSUPPORTED`).
    pub fn unsupported_calls(&self) -> Vec<&'static str> {
        self.with(|s| s.unsupported.clone())
    }

    /// Simulates ExitBootServices as EDK2 does: calls the notify function of every live event in
    /// the BEFORE_EXIT_BOOT_SERVICES group, then of every event of type
    /// `SIGNAL_EXIT_BOOT_SERVICES` or in the EXIT_BOOT_SERVICES group (each group by TPL, highest
    /// first, then in creation order; the TPL is the event's during the call), then sets
    /// `SystemTable.boot_services` to null. The Boot Services table is left intact. A second call
    /// does nothing.
    pub fn exit_boot_services(&self) {
        let list = self.with(|s| s.begin_exit_boot_services());
        for ev in list {
            // The state lock is not held while a notify function runs: it may call the sim.
            let Some(old) = self.with(|s| s.enter_notification(&ev)) else {
                continue; // closed by an earlier notification
            };
            // SAFETY: the library registered this function and context for exactly this call.
            unsafe { (ev.notify)(ev.event, ev.context) };
            self.with(|s| s.tpl = old);
        }
        self.with(|s| s.finish_exit_boot_services());
    }

    /// Whether [`Sim::exit_boot_services`] has run.
    pub fn boot_services_exited(&self) -> bool {
        self.with(|s| s.exited)
    }

    /// Notify functions called by [`Sim::exit_boot_services`].
    pub fn ebs_notifications(&self) -> u64 {
        self.with(|s| s.ebs_notifications)
    }

    /// Events created and not closed.
    pub fn live_events(&self) -> usize {
        self.with(|s| s.events.len())
    }

    /// Runs `hook` from inside memory service call number `index` (AllocatePool, FreePool,
    /// AllocatePages and FreePages are numbered together from 0, see [`Sim::service_calls`]),
    /// after the service did its work and just before it returns, provided the TPL is then below
    /// TPL_NOTIFY, as a timer notification at TPL_CALLBACK would; otherwise the hook is dropped
    /// unrun (see [`Sim::interrupts_skipped`]). The TPL is raised to TPL_CALLBACK while the hook
    /// runs. The hook may call the library and so the sim again. A panic in the hook is caught
    /// and resumed when the `Sim` is dropped.
    ///
    /// Returns false (and drops the hook) if call `index` is already past.
    pub fn interrupt_at_call(&self, index: u64, hook: Box<dyn FnMut() + Send>) -> bool {
        self.with(|s| {
            if index < s.service_calls {
                return false;
            }
            s.hooks.push((index, hook));
            true
        })
    }

    /// Interrupt hooks that ran.
    pub fn interrupts_fired(&self) -> u64 {
        self.with(|s| s.interrupts_fired)
    }

    /// Interrupt hooks dropped because their call ran at TPL_NOTIFY or above, or after
    /// ExitBootServices.
    pub fn interrupts_skipped(&self) -> u64 {
        self.with(|s| s.interrupts_skipped)
    }

    /// Ends the simulation and returns its final counters, with what the library leaked.
    pub fn finish(self) -> SimReport {
        self.with(|s| SimReport {
            leaked_pool_blocks: s.pool.len(),
            leaked_pages: s.regions.values().map(|r| r.live_count).sum(),
            leaked_events: s.events.len(),
            bad_frees: s.bad_frees,
            tpl_violations: s.tpl_violations,
            forbidden_calls: s.forbidden_calls,
            unsupported_calls: s.unsupported.clone(),
        })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let state = lock_state().take();
        if let Some(mut state) = state {
            let panic = state.hook_panic.take();
            // Frees every block, page, event and table (hooks are dropped without the lock).
            drop(state);
            if let Some(payload) = panic {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(payload);
                }
            }
        }
    }
}
