//! stringphone on a Cortex-M4F for real: QEMU's `mps2-an386` board, no allocator, a
//! fixed trust store, output over semihosting.
//!
//! Two devices run the classic protocol end to end: Bob introduces himself, Alice
//! (who trusts him) replies with the topic key, Bob installs it, Alice sends and Bob
//! opens a message; then the refusals a device relies on. With the `v2` feature they
//! do the same in v2 and accept a gateway's rekey (`v2.rs`). Every result is checked.
//! Each operation runs on freshly painted stack and is timed by SysTick, which under
//! `qemu -icount shift=0` counts instructions; the table printed is the one in the
//! README's embedded section. The run fails (exit status 1) on any wrong result, and
//! at `opt-level = "z"` also when an operation takes more than 8 KiB of stack or the
//! image more than its flash limit: 40 KiB for the classic set, 64 KiB with v2 (in
//! suite 0x02, whose digest is SHA-256: the image links no BLAKE3).
//!
//! `cargo run --release` (from this directory) builds and runs it; `run.sh` runs all
//! three optimisation levels.
#![no_std]
#![no_main]

mod measure;
mod out;
#[cfg(feature = "v2")]
mod v2;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use rand_core::{CryptoRng, RngCore};
use salsa20::cipher::{KeyIvInit, StreamCipher};
use stringphone_core::v2::Fixed;
use stringphone_core::wire::{INTRODUCTION_LEN, REPLY_LEN};
use stringphone_core::{
    Backend, DecodeMode, Decoded, Error, FixedTrustStore, Message, SigningSeed, Topic, TopicKey,
};
use stringphone_rustcrypto::RustCrypto;

use measure::{measure, Usage};
use out::{num, num_padded, put};

/// A device: the RustCrypto backend, a trust store of eight peers, no heap. With the
/// `v2` feature, v2's lists in fixed capacities: up to 4 members per epoch, 2 admins
/// and 4 senders heard (without it the capacity names nothing that exists).
type Device =
    Topic<RustCrypto, FixedTrustStore<8>, <RustCrypto as Backend>::SigningKey, Fixed<4, 2, 4>>;

/// A device with the identity of `[seed; 32]` and the topic key if it has one.
fn device(seed: u8, topic_key: Option<[u8; 32]>) -> Device {
    Topic::from_identity(
        RustCrypto::signing_key(&SigningSeed::from_bytes([seed; 32])),
        topic_key.map(TopicKey::from_bytes),
        FixedTrustStore::new(),
    )
}

/// The limits checked at `opt-level = "z"`: the classic set in 40 KiB of flash, with
/// v2 added in 64 KiB; 8 KiB of stack in every operation either way.
#[cfg(not(feature = "v2"))]
const FLASH_LIMIT: usize = 40 * 1024;
#[cfg(feature = "v2")]
const FLASH_LIMIT: usize = 64 * 1024;
const STACK_LIMIT: usize = 8 * 1024;
#[cfg(not(feature = "v2"))]
const PROTOCOLS: &str = "classic protocol";
#[cfg(feature = "v2")]
const PROTOCOLS: &str = "classic and v2 (suite 0x02) protocols";

/// The optimisation level this image was built with (from `build.rs`).
const OPT_LEVEL: &str = env!("FIRMWARE_OPT_LEVEL");

const TOPIC_KEY: [u8; 32] = [0x42; 32];
const TEXT: &[u8] = b"temperature=21.5C humidity=40% battery=3.61V";

/// The column widths of the table.
const NAME: usize = 16;
const COL: usize = 10;

struct Run {
    /// Instructions per 1000 SysTick ticks.
    instructions_per_kilotick: u32,
    /// The deepest stack any operation used (from its call), and from reset.
    peak_stack: usize,
    peak_from_reset: usize,
}

impl Run {
    /// Runs `op`, prints its row, and keeps its peak.
    fn op<R>(&mut self, name: &str, op: impl FnOnce() -> R) -> R {
        let (result, usage) = measure(op);
        self.row(name, &usage);
        result
    }

    fn row(&mut self, name: &str, usage: &Usage) {
        self.peak_stack = self.peak_stack.max(usage.stack);
        self.peak_from_reset = self.peak_from_reset.max(usage.stack_from_reset);
        put(name);
        for _ in name.len()..NAME {
            put(" ");
        }
        num_padded(usage.stack as u32, COL);
        let rate = self.instructions_per_kilotick;
        let instructions = usage.ticks * (rate / 1000) + usage.ticks * (rate % 1000) / 1000;
        num_padded(instructions, COL + 2);
        put("\n");
    }
}

/// Random numbers. QEMU's board has no hardware random generator, so this stands in
/// for one: XSalsa20's keystream under a fixed key (every run does the same work). A
/// real device reads its generator here. XSalsa20 is the topic cipher, linked anyway,
/// so the stand-in adds next to nothing to the flash figure (rand_chacha's ChaCha20
/// would add 2.7 KiB that a device with a hardware generator does not have).
struct BoardRng(salsa20::XSalsa20);

impl BoardRng {
    fn new() -> Self {
        BoardRng(salsa20::XSalsa20::new(&[7; 32].into(), &[0; 24].into()))
    }
}

impl RngCore for BoardRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
        self.0.apply_keystream(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for BoardRng {}

/// The board's 32 external interrupts (QEMU's mps2-an386), none used. Without this
/// (cortex-m-rt's `device` feature off) the vector table would have 240, 832 bytes of
/// flash no real part of this size spends.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];

extern "C" {
    /// cortex-m-rt's handler for interrupts nobody handles.
    fn DefaultHandler();
}

/// Fails the run with `what` unless `ok`.
fn check(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

// Longer than 60 lines: the session the README's embedded section tells, step by step
// in its order; the devices and buffers live in this one frame, which the "from reset"
// stack figure counts (split into steps, it would count their frames too).
fn session(run: &mut Run) -> Result<(), &'static str> {
    let mut rng = BoardRng::new();

    let mut alice = device(1, Some(TOPIC_KEY));
    let mut bob = device(2, None);
    let carol = device(3, None);

    // Each trusts the other (keys exchanged out of band, e.g. at pairing).
    let bob_key = bob.public_key();
    let alice_id = run
        .op("trust", || bob.add_participant(alice.public_key()))
        .map_err(|_| "trust: refused a valid key")?;
    check(alice_id == alice.id(), "trust: wrong id")?;
    alice
        .add_participant(bob_key)
        .map_err(|_| "trust: refused a valid key")?;

    // Discovery: Bob has no topic key.
    // Each message in a buffer of its own format's size (no buffer sized for every
    // format).
    let mut intro = [0u8; INTRODUCTION_LEN];
    let len = run
        .op("intro", || bob.construct_intro_into(&mut rng, &mut intro))
        .map_err(|_| "intro: failed")?;
    check(len == INTRODUCTION_LEN, "intro: wrong length")?;
    check(
        matches!(Message::parse(&intro), Ok(Message::Introduction(i)) if i.sender_key() == bob_key),
        "intro: not an introduction from Bob",
    )?;
    let mut reply = [0u8; REPLY_LEN];
    let len = run
        .op("reply", || {
            alice.construct_reply_into(&mut rng, &intro, &mut reply)
        })
        .map_err(|_| "reply: failed")?;
    check(len == REPLY_LEN, "reply: wrong length")?;
    check(
        matches!(Message::parse(&reply), Ok(Message::IntroductionReply(r)) if r.recipient_id() == bob.id()),
        "reply: not a reply to Bob",
    )?;
    let replier = run
        .op("parse_reply", || bob.parse_reply(&reply))
        .map_err(|_| "parse_reply: refused Alice's reply")?;
    check(replier == alice.public_key(), "parse_reply: wrong replier")?;
    check(
        bob.topic_key().map(|k| *k.expose_secret()) == Some(TOPIC_KEY),
        "parse_reply: wrong topic key",
    )?;

    // The hot path.
    let mut wire = [0u8; 256];
    let len = run
        .op("encode", || alice.encode_into(&mut rng, TEXT, &mut wire))
        .map_err(|_| "encode: failed")?;
    check(len == TEXT.len() + 121, "encode: wrong length")?;
    let mut plain = [0u8; 256];
    let alice_id = alice.id();
    let decoded = run.op("decode", || {
        match bob.decode_into(&wire[..len], DecodeMode::Strict, &mut plain) {
            Ok(Decoded::Message {
                sender,
                verified,
                plaintext,
            }) => sender == alice_id && verified && plaintext == TEXT,
            _ => false,
        }
    });
    check(decoded, "decode: wrong result")?;

    // The refusals a device relies on, each checked for its reason.
    let mut forged = wire;
    forged[130] ^= 1;
    check(
        matches!(
            bob.decode_into(&forged[..len], DecodeMode::Strict, &mut plain),
            Err(Error::BadSignature)
        ),
        "decode: accepted a changed message",
    )?;
    check(
        matches!(bob.parse_reply(&reply), Err(Error::NoPendingIntroduction)),
        "parse_reply: accepted a reply twice",
    )?;
    let mut carol = carol;
    let mut carol_intro = [0u8; INTRODUCTION_LEN];
    carol
        .construct_intro_into(&mut rng, &mut carol_intro)
        .map_err(|_| "intro: failed")?;
    check(
        matches!(
            alice.construct_reply_into(&mut rng, &carol_intro, &mut reply),
            Err(Error::UntrustedSender(_))
        ),
        "reply: answered an untrusted newcomer",
    )?;
    carol_intro[40] ^= 1;
    check(
        matches!(
            alice.construct_reply_into(&mut rng, &carol_intro, &mut reply),
            Err(Error::BadSignature)
        ),
        "reply: answered a forged introduction",
    )?;
    Ok(())
}

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take();
    let Some(peripherals) = peripherals else {
        fail("no peripherals")
    };
    measure::start_clock(peripherals.SYST);
    let mut run = Run {
        instructions_per_kilotick: measure::calibrate(),
        peak_stack: 0,
        peak_from_reset: 0,
    };

    put("stringphone firmware: Cortex-M4F (QEMU mps2-an386), opt-level ");
    put(OPT_LEVEL);
    put(", ");
    put(PROTOCOLS);
    put(", no heap\n");
    put("operation       stack (B)  instructions\n");
    if let Err(what) = session(&mut run) {
        fail(what);
    }
    #[cfg(feature = "v2")]
    if let Err(what) = v2::session(&mut run, &mut BoardRng::new()) {
        fail(what);
    }

    let flash = measure::flash_bytes();
    report(&run, flash);
    if OPT_LEVEL == "z" {
        check_limits(&run, flash);
    }
    put("all checks passed\n");
    exit(debug::EXIT_SUCCESS)
}

/// Prints the image's figures after the sessions: flash, peak stack, a device's RAM.
fn report(run: &Run, flash: usize) {
    put("flash: ");
    num(flash as u32);
    put(" B\npeak stack: ");
    num(run.peak_stack as u32);
    put(" B in an operation (");
    num(run.peak_from_reset as u32);
    put(" B from reset, with main's three devices and buffers)\n");
    put("a device (Topic, trust store of 8, key cache of 4, v2 lists 4/2/4): ");
    num(core::mem::size_of::<Device>() as u32);
    put(" B of RAM\ninstructions: counted by QEMU -icount (");
    num(run.instructions_per_kilotick);
    put(" per 1000 SysTick ticks), not Cortex-M4 cycles\n");
}

/// At opt-level z, fails the run over the flash or the stack limit.
fn check_limits(run: &Run, flash: usize) {
    let mut over = false;
    if flash > FLASH_LIMIT {
        put("FAIL: flash over ");
        num((FLASH_LIMIT / 1024) as u32);
        put(" KiB\n");
        over = true;
    }
    if run.peak_stack > STACK_LIMIT {
        put("FAIL: stack over 8 KiB\n");
        over = true;
    }
    if over {
        exit(debug::EXIT_FAILURE);
    }
    put("limits at opt-level z (");
    num((FLASH_LIMIT / 1024) as u32);
    put(" KiB flash, 8 KiB stack): ok\n");
}

/// Ends the run: QEMU exits with the status (0 or 1).
fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    // Only without a semihosting host does the core get here.
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail(what: &str) -> ! {
    put("FAIL: ");
    put(what);
    put("\n");
    exit(debug::EXIT_FAILURE)
}

/// Nothing in the protocol panics; this runs only on a bug, and fails the run.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    fail("panic")
}
