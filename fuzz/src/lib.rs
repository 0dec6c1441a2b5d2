//! Shared code of the stringphone fuzz targets.
//!
//! - [`raw`]: the checks of the raw-bytes targets (`parse`, `decode`, `discovery`),
//!   also replayed on stable by `tests/fuzz_regressions.rs` in the main workspace;
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
#![forbid(unsafe_code)]

pub mod agreement;
pub mod raw;
pub mod structured;
pub mod v2;
pub mod v2_structured;
pub mod v2_topics;
