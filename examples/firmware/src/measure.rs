//! What the firmware measures, and the only `unsafe` in it: raw reads and writes of
//! the free stack below the stack pointer (painting), the linker's symbols (the image's
//! size) and one counted loop (the calibration of instructions per SysTick tick).

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;

/// The word painted on free stack; a word that still holds it afterwards was not used.
const PAINT: u32 = 0x5AA5_C33C;
/// How far below the measuring frame the stack is painted: far more than any operation
/// may use (the limit is 8 KiB), so a deeper one shows as the whole window used.
const WINDOW: usize = 32 * 1024;
/// Left unpainted right below the measuring frame, for the frame of [`paint`] itself.
/// An operation that uses less than this shows as using exactly this.
const GAP: usize = 256;

extern "C" {
    // cortex-m-rt's linker script (link.x).
    static __sidata: u32;
    static __sdata: u32;
    static __edata: u32;
    static _stack_start: u32;
}

/// Bytes of flash the image occupies: the vector table, code and read-only data up to
/// the load image of `.data` (`__sidata`), plus that image; the flash starts at 0.
pub fn flash_bytes() -> usize {
    // SAFETY: only the addresses of the linker's symbols are taken, nothing is read
    // (safe from Rust 1.82 on, `unsafe` before).
    #[allow(unused_unsafe)]
    let (sidata, sdata, edata) = unsafe {
        (
            core::ptr::addr_of!(__sidata) as usize,
            core::ptr::addr_of!(__sdata) as usize,
            core::ptr::addr_of!(__edata) as usize,
        )
    };
    sidata + (edata - sdata)
}

/// The initial stack pointer (the top of RAM).
pub fn stack_start() -> usize {
    // SAFETY: only the address is taken.
    #[allow(unused_unsafe)]
    unsafe {
        core::ptr::addr_of!(_stack_start) as usize
    }
}

#[inline(never)]
fn paint(low: usize, high: usize) {
    let mut at = low;
    while at < high {
        // SAFETY: `[low, high)` is free stack below the caller's frame and this one
        // (see `measure`), word-aligned, inside RAM.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

#[inline(never)]
fn lowest_used(low: usize, high: usize) -> usize {
    let mut at = low;
    // SAFETY: as in `paint`; reads only.
    while at < high && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    at
}

/// SysTick wraps (every 2^24 ticks).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Starts SysTick on the core clock, free-running, counting its wraps.
pub fn start_clock(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // The counter loads its reload value on its first tick; count from there.
    while SYST::get_current() == 0 {}
}

/// Ticks since [`start_clock`], modulo 2^32 (take differences with `wrapping_sub`).
fn ticks() -> u32 {
    loop {
        let before = WRAPS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == before {
            return (before << 24).wrapping_add(0x00FF_FFFF - current);
        }
    }
}

/// Instructions per 1000 SysTick ticks, measured on a loop of known length (40,000
/// on QEMU 7.2: the board's 25 MHz core clock against 1 ns per instruction). Under
/// `qemu -icount shift=0` each guest instruction advances the virtual clock by 1 ns,
/// so this turns ticks into instructions executed (not Cortex-M4 cycles: QEMU has no
/// cycle model, and its DWT has no cycle counter).
pub fn calibrate() -> u32 {
    const ITERATIONS: u32 = 1_000_000;
    let start = ticks();
    // SAFETY: a register-only loop, two instructions per iteration.
    unsafe {
        asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) ITERATIONS => _,
            options(nomem, nostack),
        );
    }
    let elapsed = ticks().wrapping_sub(start);
    2 * ITERATIONS * 1000 / elapsed.max(1)
}

/// What one operation took.
pub struct Usage {
    /// Bytes of stack below the caller's frame.
    pub stack: usize,
    /// Bytes of stack from the reset stack pointer down to the deepest word used.
    pub stack_from_reset: usize,
    /// SysTick ticks.
    pub ticks: u32,
}

/// Runs `op` on freshly painted stack and reports its peak stack and duration.
#[inline(never)]
pub fn measure<R>(op: impl FnOnce() -> R) -> (R, Usage) {
    let top = cortex_m::register::msp::read() as usize & !3;
    let low = top - WINDOW;
    paint(low, top - GAP);
    let start = ticks();
    let result = op();
    let elapsed = ticks().wrapping_sub(start);
    let deepest = lowest_used(low, top - GAP);
    let usage = Usage {
        stack: top - deepest,
        stack_from_reset: stack_start() - deepest,
        ticks: elapsed,
    };
    (result, usage)
}
