//! Independent models of the stringphone protocol: what the fuzz targets check, and
//! what `cargo test` runs on fixed seeds.
//!
//! Each module takes an input a fuzzer (or a test) chooses, runs the library on it,
//! and asserts what must hold, mostly by predicting every outcome from a model that
//! shares no code with the library (its own wire layouts, its own seal and open
//! through the RustCrypto crates, its own replay windows). A wrong verdict is a
//! panic: the fuzzer keeps the input, a test fails.
//!
//! - [`raw`]: the checks of the raw-bytes targets (`parse`, `decode`, `discovery`);
//! - [`structured`]: valid messages of each type built from `arbitrary` input, then
//!   edited field by field, against an oracle that predicts every outcome;
//! - [`agreement`]: every backend's verifier against an independent implementation
//!   of libsodium's Ed25519 rule;
//! - [`v2`]: every protocol v2 entry point, on raw bytes and on edited valid
//!   messages;
//! - [`v2_structured`]: valid v2 traffic between a cast whose keys the harness
//!   holds, delivered reordered, replayed and mutated field by field, against a
//!   model of the receiver;
//! - [`v2_topics`]: the same, with participant 0 in two topics and bytes relayed
//!   between them.
//!
//! The cargo-fuzz targets in `fuzz/` are one line each over these; [`TARGETS`] runs
//! each on the bytes its target gets, for this crate's tests, which run every model on
//! a fixed set of inputs and replay every input a fuzzer ever failed on
//! (`tests/regressions/TARGET/`).
//!
//! ```
//! // The `v2` model's four valid messages, unedited, pass its checks.
//! for which in 0..4 {
//!     stringphone_fuzz_models::v2::check_v2(&[0xff, which]);
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agreement;
mod edit;
pub mod raw;
pub mod structured;
pub mod v2;
pub mod v2_structured;
pub mod v2_topics;

use arbitrary::{Arbitrary, Unstructured};

/// What a fuzz target of a typed input does with its bytes: builds the input as
/// libfuzzer-sys does (`arbitrary_take_rest`) and checks it. `false` when the bytes
/// make no input (the target skips them).
///
/// ```
/// use stringphone_fuzz_models::{agreement, on_bytes};
/// // Any bytes make a case (`arbitrary` fills what runs short with zeros).
/// assert!(on_bytes(&[7; 64], agreement::check));
/// ```
pub fn on_bytes<T: for<'a> Arbitrary<'a>>(data: &[u8], check: fn(&T)) -> bool {
    match T::arbitrary_take_rest(Unstructured::new(data)) {
        Ok(input) => {
            check(&input);
            true
        }
        Err(_) => false,
    }
}

/// A target's check on the bytes the fuzzer gives it; `false` when it skipped them.
pub type Target = fn(&[u8]) -> bool;

/// Every cargo-fuzz target by name (`fuzz/fuzz_targets/NAME.rs`), running its model
/// on the target's bytes exactly as the target does.
///
/// ```
/// let (name, parse) = stringphone_fuzz_models::TARGETS[0];
/// assert_eq!(name, "parse");
/// assert!(parse(b"not a message"));
/// ```
pub const TARGETS: [(&str, Target); 8] = [
    ("parse", |d| {
        raw::check_parse(d);
        true
    }),
    ("decode", |d| {
        raw::check_decode(d);
        true
    }),
    ("discovery", |d| {
        raw::check_discovery(d);
        true
    }),
    ("structured", |d| on_bytes(d, structured::check)),
    ("verify_agreement", |d| on_bytes(d, agreement::check)),
    ("v2", |d| {
        v2::check_v2(d);
        true
    }),
    ("v2_structured", |d| on_bytes(d, v2_structured::check)),
    ("v2_topics", |d| on_bytes(d, v2_topics::check)),
];
