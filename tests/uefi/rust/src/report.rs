//! Output straight to the serial port (no console escape codes, and it keeps working after
//! ExitBootServices) and the check counter. One line per check:
//!
//! ```text
//! ok - <name>
//! FAIL - <name>: <detail>
//! info: <text>
//! N passed, M failed
//! ```

use core::fmt::{self, Display, Write};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// The serial port as a `fmt::Write`; `\n` goes out as CR LF.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

/// COM1, a 16550 that the firmware has set up (115200 8N1): wait for THR empty, then write.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn put(byte: u8) {
    use core::arch::asm;
    const COM1: u16 = 0x3F8;
    const LSR: u16 = COM1 + 5;
    const THR_EMPTY: u8 = 0x20;
    for _ in 0..1_000_000 {
        let status: u8;
        // SAFETY: reading the UART's line status register has no side effect.
        unsafe {
            asm!("in al, dx", out("al") status, in("dx") LSR, options(nomem, nostack, preserves_flags))
        };
        if status & THR_EMPTY != 0 {
            break;
        }
    }
    // SAFETY: writing the UART's transmit register sends one byte.
    unsafe {
        asm!("out dx, al", in("dx") COM1, in("al") byte, options(nomem, nostack, preserves_flags))
    };
}

/// The PL011 of QEMU's virt machine, identity-mapped as device memory by AAVMF: wait while the
/// transmit FIFO is full, then write.
#[cfg(target_arch = "aarch64")]
fn put(byte: u8) {
    const BASE: usize = 0x0900_0000;
    const FR: usize = 0x18;
    const TX_FULL: u32 = 1 << 5;
    let flags = (BASE + FR) as *const u32;
    let data = BASE as *mut u32;
    for _ in 0..1_000_000 {
        // SAFETY: the PL011's registers are mapped for the firmware's whole life.
        if unsafe { flags.read_volatile() } & TX_FULL == 0 {
            break;
        }
    }
    // SAFETY: as above.
    unsafe { data.write_volatile(u32::from(byte)) };
}

/// One line on the serial port.
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::report::Serial, $($arg)*);
    }};
}

/// An `info:` line.
macro_rules! info {
    ($($arg:tt)*) => { say!("info: {}", format_args!($($arg)*)) };
}

static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

/// One check, one line; `detail` is printed on failure only. Returns `ok`.
pub fn check(ok: bool, name: impl Display, detail: impl Display) -> bool {
    if ok {
        PASSED.fetch_add(1, Relaxed);
        say!("ok - {name}");
    } else {
        FAILED.fetch_add(1, Relaxed);
        say!("FAIL - {name}: {detail}");
    }
    ok
}

/// A check that two values are equal: "got X, expected Y" on failure.
pub fn check_eq<T: PartialEq + fmt::Debug>(got: T, expected: T, name: impl Display) -> bool {
    let ok = got == expected;
    check(ok, name, format_args!("got {got:?}, expected {expected:?}"))
}

/// The closing `N passed, M failed` line.
pub fn summary() {
    say!(
        "{} passed, {} failed",
        PASSED.load(Relaxed),
        FAILED.load(Relaxed)
    );
}

/// Counts a failure that has no check line of its own (a panic).
pub fn fail_silently() {
    FAILED.fetch_add(1, Relaxed);
}
