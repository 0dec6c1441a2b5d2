//! Encrypted, signed group messaging over any one-to-many channel, wire-compatible
//! with the original Python stringphone.
//!
//! Every participant of a *topic* shares one symmetric topic key and has its own
//! Ed25519 identity. [`Topic::encode`] seals a message with the topic key and signs
//! it; [`Topic::decode`] checks who wrote it and opens it. A newcomer without the key
//! runs discovery ([`Topic::construct_intro`], [`Topic::construct_reply`],
//! [`Topic::parse_reply`]).
//!
//! ```
//! # #[cfg(any(feature = "rustcrypto", feature = "ring"))] {
//! use stringphone::{DecodeMode, Error, SigningSeed, Topic, TopicKey};
//!
//! let topic_key = TopicKey::generate();
//! let mut alice = Topic::new(SigningSeed::generate(), Some(topic_key.clone()));
//! let mut bob = Topic::new(SigningSeed::generate(), Some(topic_key));
//!
//! let wire = alice.encode("Hi Bob!")?;
//! // Bob has never seen Alice: strict decoding refuses her.
//! assert!(matches!(bob.decode(&wire, DecodeMode::Strict), Err(Error::UntrustedSender(_))));
//! // Once he trusts her key (exchanged out of band, or through discovery) it opens.
//! bob.add_participant(alice.public_key())?;
//! let plaintext = bob.decode(&wire, DecodeMode::Strict)?.plaintext();
//! assert_eq!(plaintext.as_deref(), Some(&b"Hi Bob!"[..]));
//! # }
//! # Ok::<(), stringphone::Error>(())
//! ```
//!
//! # Backends
//! The crypto comes from a backend, picked by Cargo feature:
//! - `rustcrypto` (default): ed25519-dalek, crypto_secretbox, crypto_box, sha2.
//! - `ring`: ring for Ed25519 signing and verification and SHA-256; the NaCl boxes
//!   (crypto_secretbox, crypto_box) are borrowed from RustCrypto, since ring has no
//!   XSalsa20 and no reusable X25519 secret.
//!
//! [`DefaultBackend`], and with it the [`Topic`] alias, is fixed at compile time by
//! one rule:
//!
//! | `rustcrypto` | `ring` | `DefaultBackend` |
//! | --- | --- | --- |
//! | on | off | `RustCrypto` |
//! | off | on | `Ring` |
//! | on | on | `Ring`: ring wins |
//! | off | off | none: no `DefaultBackend`, no `Topic` alias |
//!
//! Without a backend feature the missing alias is a compile error where it is used,
//! never a runtime panic, and the core's generic `stringphone::protocol::Topic<B, S>`
//! takes any backend. With both features on, both backends stay reachable by name
//! (`stringphone::RustCrypto`, `stringphone::Ring`, each in `stringphone::protocol::Topic<B, S>`).
//! Backends interoperate: they sign byte-identically and verify by the same rule
//! ([`rule`]), so participants on different backends accept exactly the same
//! messages. To use ring alone, turn the default features off:
//! `stringphone = { version = "0.1", default-features = false, features = ["std", "ring"] }`
//! (adding `ring` to the defaults gives both, and then ring is the default).
//!
//! # Features
//! - `std` (default): OS randomness and the `Vec`-returning calls.
//! - `alloc`: the `Vec`-returning calls and [`MemoryTrustStore`] without `std`.
//!
//! See the README for the wire format, the verification rule and the classic format's
//! known weaknesses.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use stringphone_core as core;
#[cfg(feature = "alloc")]
pub use stringphone_core::MemoryTrustStore;
pub use stringphone_core::{
    rule, v2, verify_signature, wire, Backend, BoxPublicKey, BoxSecret, DecodeMode, Decoded, Error,
    Fingerprint, FixedTrustStore, HexError, Identity, Message, ParticipantId, PublicKey,
    SigningSeed, StoreError, TopicKey, TrustStore,
};

#[cfg(feature = "rustcrypto")]
pub use stringphone_rustcrypto::{self as rustcrypto, RustCrypto};

#[cfg(feature = "ring")]
pub use stringphone_ring::{self as ring, Ring};

/// The backend this build uses: `Ring`, because the `ring` feature is on (ring wins
/// over `rustcrypto` when both are on; see [Backends](crate#backends)).
///
/// ```
/// use core::any::TypeId;
/// assert_eq!(TypeId::of::<stringphone::DefaultBackend>(), TypeId::of::<stringphone::Ring>());
/// ```
#[cfg(feature = "ring")]
pub type DefaultBackend = stringphone_ring::Ring;

/// The backend this build uses: `RustCrypto`, because the `rustcrypto` feature is on
/// and `ring` is off (see [Backends](crate#backends)).
///
/// ```
/// use core::any::TypeId;
/// assert_eq!(TypeId::of::<stringphone::DefaultBackend>(), TypeId::of::<stringphone::RustCrypto>());
/// ```
#[cfg(all(feature = "rustcrypto", not(feature = "ring")))]
pub type DefaultBackend = stringphone_rustcrypto::RustCrypto;

/// A participant in a topic on the [`DefaultBackend`], with the in-memory trust store
/// unless told otherwise.
#[cfg(all(feature = "alloc", any(feature = "rustcrypto", feature = "ring")))]
pub type Topic<S = MemoryTrustStore> = stringphone_core::Topic<DefaultBackend, S>;

/// A participant in a topic on the [`DefaultBackend`] (no `alloc`: name a store, such
/// as [`FixedTrustStore`]).
#[cfg(all(not(feature = "alloc"), any(feature = "rustcrypto", feature = "ring")))]
pub type Topic<S> = stringphone_core::Topic<DefaultBackend, S>;

/// The README's examples, compiled and run as doctests.
#[cfg(all(
    doctest,
    feature = "std",
    any(feature = "rustcrypto", feature = "ring")
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// `docs/protocol-v2.md`'s example, compiled and run as a doctest.
#[cfg(all(
    doctest,
    feature = "std",
    any(feature = "rustcrypto", feature = "ring")
))]
#[doc = include_str!("../docs/protocol-v2.md")]
pub struct ProtocolV2Doctests;
