//! One library call, and how calls nest.
//!
//! Boot services run on one CPU, but a notify function (a timer, an event) can interrupt a
//! library call at any instruction and call the library again, so calls nest like a stack. The
//! front and the index read records and tables without a lock; what would pull memory from under
//! an interrupted call (giving a page back, handing a record or page to another class, replacing
//! the index table) happens only in the outermost call, when no other call is half done. A
//! nested call leaves such work pending, and the outermost call does it as it returns.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::front;
use crate::refusal::Caller;

/// How many calls are in progress (`State::calls`, counted over every image that shares the
/// state), with [`PENDING`] set while deferred work waits.
#[inline(always)]
fn calls() -> &'static AtomicUsize {
    &crate::shared::state().calls
}

const PENDING: usize = 1 << (usize::BITS - 1);

/// A library call in progress: from the public entry point to its return.
pub(crate) struct Call {
    /// The public function called, for reports of refused calls.
    pub caller: Caller,
}

/// Runs `f` as one library call of `caller`; as the outermost call returns, pending work is
/// done.
#[inline(always)]
pub(crate) fn run<R>(caller: Caller, f: impl FnOnce(&Call) -> R) -> R {
    // The state never changes during a call (only `pool_init`, which is no call, chooses it).
    let calls = calls();
    calls.fetch_add(1, Relaxed);
    let result = f(&Call { caller });
    if calls.fetch_sub(1, Relaxed) == PENDING | 1 {
        settle_pending(caller);
    }
    result
}

impl Call {
    /// Whether no other library call is half done beneath this one.
    #[inline]
    pub(crate) fn outermost(&self) -> bool {
        calls().load(Relaxed) & !PENDING == 1
    }

    /// Leaves work for the outermost call to do as it returns.
    #[cold]
    pub(crate) fn defer(&self) {
        calls().fetch_or(PENDING, Relaxed);
    }
}

/// The outermost call returns with work pending: do it, as a call of its own.
#[cold]
#[inline(never)]
fn settle_pending(caller: Caller) {
    run(caller, |call| {
        calls().fetch_and(!PENDING, Relaxed);
        front::settle_pending(call);
    });
}
