//! Support code for stringphone's benchmarks (`benches/hotpath.rs`).
//!
//! The only thing here is the same-run libsodium anchor (module `sodium`, feature
//! `libsodium`): safe wrappers around the four libsodium calls that the original
//! Python stringphone makes per message. It is the one place in the project where
//! `unsafe` is allowed (an FFI anchor for the benchmarks alone, in a crate that is
//! never published), so this crate denies `unsafe_code` everywhere else instead of
//! forbidding it.
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "libsodium")]
pub mod sodium;
