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
//! The cargo-fuzz targets in `fuzz/` are one line each over these; this crate's
//! tests run every model on a fixed set of inputs and replay every input a fuzzer
//! ever failed on (`tests/regressions/TARGET/`).
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
pub mod raw;
pub mod structured;
pub mod v2;
pub mod v2_structured;
pub mod v2_topics;
