//! The stringphone protocol, written once against crypto traits.
//!
//! stringphone is encrypted, signed group messaging over any one-to-many channel (an
//! MQTT topic, a chat room, a socket). Every participant of a *topic* shares one
//! symmetric *topic key* and has its own Ed25519 identity; a message is sealed with the
//! topic key and signed by its sender. A newcomer without the key runs *discovery*.
//!
//! This crate holds the protocol and no crypto implementation: it is generic over a
//! [`Backend`] (`stringphone-rustcrypto`, `stringphone-ring`) and a [`TrustStore`].
//! Most users want the facade crate `stringphone`, which picks a backend by Cargo
//! feature. The wire format is byte-compatible with the original Python stringphone.
//!
//! Where things happen:
//! - [`wire`]: the layout and the zero-copy parser ([`Message::parse`]).
//! - [`topic`]: sealing and signing ([`Topic::encode_into`]), verifying and opening
//!   ([`Topic::decode_in_place`]), in the order the design notes (`docs/DESIGN.md`) fix.
//! - [`discovery`]: introductions and replies.
//! - [`trust`]: who is trusted.
//! - [`rule`]: the one Ed25519 verification rule (libsodium's).
//!
//! # Features
//! - `alloc`: `Vec`-returning calls, [`MemoryTrustStore`], a cache entry for the
//!   decompressed key of every trusted participant (without `alloc`: four entries, a
//!   fixed array inside the topic, taken by the participants trusted last), boxed
//!   [`StoreError`] sources.
//! - `std` (default; implies `alloc`): OS randomness for `generate()`, `encode()`,
//!   `construct_intro()` and `construct_reply()`.
//!
//! Without `alloc` everything still works through caller-provided buffers
//! ([`Topic::encode_into`], [`Topic::decode_into`], [`Topic::decode_in_place`]; the
//! discovery messages are fixed-size arrays) with a [`FixedTrustStore`].
//!
//! # Security notes (the classic format)
//! - Replies are not signed: a man in the middle can answer an introduction with a
//!   topic key of its own and anyone's public key.
//! - Nothing stops a replayed message.
//! - Removing a participant does not take the topic key away from it.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backend;
#[cfg(feature = "alloc")]
pub mod batch;
pub mod discovery;
mod error;
mod key_cache;
pub mod keys;
#[cfg(feature = "std")]
pub mod rng;
pub mod rule;
pub mod topic;
pub mod trust;
pub mod v2;
pub mod wire;

pub use backend::{Backend, Identity};
pub use error::Error;
pub use keys::{
    BoxPublicKey, BoxSecret, Fingerprint, HexError, ParticipantId, PublicKey, SigningSeed, TopicKey,
};
pub use topic::{verify_signature, DecodeMode, Decoded, PreparedKey, Topic};
#[cfg(feature = "alloc")]
pub use trust::MemoryTrustStore;
pub use trust::{FixedTrustStore, MarkSlot, StoreError, TrustStore};
pub use wire::Message;

/// The crates the backend traits come from, so implementers use the same versions.
pub mod reexports {
    pub use aead;
    pub use ed25519;
    pub use rand_core;
    pub use signature;
    pub use zeroize;
}
