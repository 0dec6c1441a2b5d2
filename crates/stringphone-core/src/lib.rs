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
//! Where things happen: [`inbound`] is the one door in ([`Topic::receive`]): every
//! inbound message, of either format, said as an [`Inbound`], errors only for
//! refusals; [`topic`] holds the entry points and the one routing point; [`classic`]
//! and [`v2`] sit side by side with the same inner shape (`wire`: the layouts, parse
//! and emit on named offsets; `messages`: seal and sign, verify and open;
//! `discovery`: introductions and replies), v2 adding `rotation`, `replay` and the
//! group state; [`trust`] is who is trusted, [`rule`] the one Ed25519 verification
//! rule (libsodium's). The map below names the one file and function of each step.
//!
#![doc = include_str!("../doc/map.md")]
//!
//! # Features
//! - `alloc`: `Vec`-returning calls, [`MemoryTrustStore`], a cache entry for the
//!   decompressed key of every trusted participant (without `alloc`: four entries, a
//!   fixed array inside the topic, taken by the participants trusted last), boxed
//!   [`StoreError`] sources; turns `v2` and `v2-sha256` on, v2's lists growing as
//!   needed ([`v2::Unbounded`]).
//! - `v2`: protocol [`v2`] without a heap, in its suite 0x01 (BLAKE3 digest): its lists
//!   in the fixed capacities the topic's fourth type parameter names ([`v2::Fixed`];
//!   see [`v2::capacity`]).
//! - `v2-sha256`: protocol [`v2`] in its suite 0x02 (SHA-256 digest,
//!   [`v2::Suite::Sha256`]), for microcontrollers: on its own it links no BLAKE3.
//! - `v2-protocol`: v2's code without a suite; `v2` and `v2-sha256` turn it on, and
//!   alone it does not build.
//! - `std` (default; implies `alloc`): OS randomness for `generate()`, `encode()`,
//!   `construct_intro()` and `construct_reply()`.
//!
//! Without `alloc` everything still works through caller-provided buffers
//! ([`Topic::encode_into`], [`Topic::decode_into`], [`Topic::decode_in_place`], the
//! one door [`Topic::receive_into`] and [`Topic::receive_in_place`]; the
//! discovery messages are fixed-size arrays, a v2 reply and rekey are written into the
//! caller's buffer) with a [`FixedTrustStore`].
//!
//! # Randomness
//! Every call that draws randomness takes `rng: &mut impl CryptoRngCore`, from
//! **`rand_core` 0.6** (re-exported as [`reexports::rand_core`]), or has a twin that
//! uses the OS with `std` (`generate()`, `encode()`, `construct_intro()`, ...). An RNG
//! that works as it is:
//! - [`reexports::rand_core::OsRng`] (with `std`, which turns on rand_core's
//!   `getrandom`), or `rand` 0.8's `thread_rng()` and `rand_chacha` 0.3's generators:
//!   they implement rand_core 0.6.
//!
//! Today's `rand` (0.9, 0.10) implements a later `rand_core`, whose traits are
//! different traits to the compiler even though they have the same names. Handing
//! `rand::rng()` to the API then fails to compile with "the trait bound `ThreadRng:
//! CryptoRngCore` is not satisfied", and a note that "there are multiple different
//! versions of crate `rand_core` in the dependency graph":
//!
//! ```compile_fail,E0277
//! let key = stringphone_core::TopicKey::generate_with(&mut rand::rng());
//! ```
//!
//! The fix is not to downgrade `rand`, but to wrap its generator in rand_core 0.6's
//! traits; a few lines, shown here for `rand` 0.10:
//!
//! ```
//! use stringphone_core::reexports::rand_core::{self as rand_core_06, CryptoRng, RngCore};
//! use stringphone_core::TopicKey;
//!
//! /// A `rand` 0.10 generator seen through rand_core 0.6's traits.
//! struct Rand06<R>(R);
//!
//! impl<R: rand::CryptoRng> RngCore for Rand06<R> {
//!     fn next_u32(&mut self) -> u32 {
//!         self.0.next_u32()
//!     }
//!     fn next_u64(&mut self) -> u64 {
//!         self.0.next_u64()
//!     }
//!     fn fill_bytes(&mut self, dest: &mut [u8]) {
//!         self.0.fill_bytes(dest)
//!     }
//!     fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
//!         self.0.fill_bytes(dest);
//!         Ok(())
//!     }
//! }
//! // Sound because `R` is itself a cryptographic generator.
//! impl<R: rand::CryptoRng> CryptoRng for Rand06<R> {}
//!
//! let key = TopicKey::generate_with(&mut Rand06(rand::rng()))?;
//! assert_ne!(key.expose_secret(), TopicKey::generate_with(&mut Rand06(rand::rng()))?.expose_secret());
//! # Ok::<(), stringphone_core::Error>(())
//! ```
//!
//! # Security notes (the classic format)
//! - Replies are not signed: a man in the middle can answer an introduction with a
//!   topic key of its own and anyone's public key.
//! - Nothing stops a replayed message.
//! - Removing a participant does not take the topic key away from it.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(
    feature = "v2-protocol",
    not(any(feature = "v2", feature = "v2-sha256"))
))]
compile_error!("v2 needs a cipher suite: enable the `v2` feature (BLAKE3) or `v2-sha256`, not `v2-protocol` alone");

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backend;
#[cfg(feature = "alloc")]
pub mod batch;
pub mod classic;
pub mod discovery;
mod error;
pub mod inbound;
mod key_cache;
pub mod keys;
#[cfg(feature = "std")]
pub mod rng;
pub mod rule;
mod sealed_key;
mod signatures;
pub mod topic;
pub mod trust;
pub mod v2;
pub mod wire;

pub use backend::{Backend, Identity};
pub use error::{Error, ErrorKind, ParseError};
pub use inbound::{Inbound, KeyOffer, Newcomer, WireFormat};
pub use keys::{
    BoxPublicKey, BoxSecret, Fingerprint, HexError, ParticipantId, PublicKey, SigningSeed, TopicKey,
};
pub use signatures::{verify_signature, PreparedKey};
pub use topic::{DecodeMode, Decoded, Topic};
#[cfg(feature = "alloc")]
pub use trust::MemoryTrustStore;
pub use trust::{FixedTrustStore, MarkSlot, StoreError, TrustStore};
pub use wire::Message;

/// The crates the API's traits come from, so that callers and backend implementers
/// use the same versions: `rand_core` 0.6 (every RNG taken; see
/// [Randomness](crate#randomness)), `signature` 2.2 and `ed25519` 2.2 (identities and
/// verifiers), `aead` 0.5 (the ciphers), `zeroize` 1 and `subtle` 2.6 (the secret
/// types implement `ZeroizeOnDrop` and `ConstantTimeEq`).
///
/// ```
/// use stringphone_core::reexports::subtle::ConstantTimeEq;
/// use stringphone_core::TopicKey;
/// let (a, b) = (TopicKey::from_bytes([1; 32]), TopicKey::from_bytes([2; 32]));
/// assert!(bool::from(a.ct_eq(&a.clone())) && !bool::from(a.ct_eq(&b)));
/// ```
pub mod reexports {
    pub use aead;
    pub use ed25519;
    pub use rand_core;
    pub use signature;
    pub use subtle;
    pub use zeroize;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
