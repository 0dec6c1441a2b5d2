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
//! never a runtime panic, and the protocol's generic [`protocol::Topic<B, S>`] takes
//! any backend. With both features on, both backends stay reachable by name
//! (`stringphone::RustCrypto`, `stringphone::Ring`, each in
//! `stringphone::protocol::Topic<B, S>`). Backends interoperate: they sign
//! byte-identically and verify by the same rule ([`rule`]), so participants on
//! different backends accept exactly the same messages. To use ring alone, turn the
//! default features off:
//! `stringphone = { version = "0.1", default-features = false, features = ["std", "ring"] }`
//! (adding `ring` to the defaults gives both, and then ring is the default).
//!
//! A whole round trip on a backend named explicitly, whatever [`DefaultBackend`] is:
//! the topic key, two participants, trust, a message each way, and discovery for a
//! newcomer. With RustCrypto:
//!
//! ```
//! # #[cfg(all(feature = "std", feature = "rustcrypto"))] {
//! use stringphone::protocol::Topic;
//! use stringphone::{DecodeMode, Error, MemoryTrustStore, Message, RustCrypto, SigningSeed, TopicKey};
//!
//! let topic_key = TopicKey::generate();
//! let mut alice: Topic<RustCrypto, MemoryTrustStore> =
//!     Topic::new(SigningSeed::generate(), Some(topic_key.clone()));
//! let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::generate(), Some(topic_key));
//! alice.add_participant(bob.public_key())?;
//! bob.add_participant(alice.public_key())?;
//!
//! let to_bob = alice.encode("Hi Bob!")?;
//! assert_eq!(bob.decode(&to_bob, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hi Bob!"[..]));
//! let to_alice = bob.encode("Hey Alice!")?;
//! assert_eq!(alice.decode(&to_alice, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hey Alice!"[..]));
//!
//! // Carol has no key: she introduces herself, Alice decides to trust her and replies.
//! let mut carol = Topic::<RustCrypto, _>::generate(None);
//! let intro = carol.construct_intro()?;
//! alice.add_participant(Message::parse(&intro)?.sender_key().expect("an introduction"))?;
//! let reply = alice.construct_reply(&intro)?;
//! let replier = carol.parse_reply(&reply)?;
//! carol.add_participant(replier)?;
//! assert_eq!(carol.topic_key(), alice.topic_key());
//! let from_carol = carol.encode("Hello all")?;
//! assert!(matches!(bob.decode(&from_carol, DecodeMode::Strict), Err(Error::UntrustedSender(_))));
//! assert_eq!(alice.decode(&from_carol, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hello all"[..]));
//! # }
//! # Ok::<(), stringphone::Error>(())
//! ```
//!
//! The same with ring (feature `ring`); only the backend's name changes, and the bytes
//! on the wire are the same:
//!
//! ```
//! # #[cfg(all(feature = "std", feature = "ring"))] {
//! use stringphone::protocol::Topic;
//! use stringphone::{DecodeMode, Error, MemoryTrustStore, Message, Ring, SigningSeed, TopicKey};
//!
//! let topic_key = TopicKey::generate();
//! let mut alice: Topic<Ring, MemoryTrustStore> =
//!     Topic::new(SigningSeed::generate(), Some(topic_key.clone()));
//! let mut bob = Topic::<Ring, _>::new(SigningSeed::generate(), Some(topic_key));
//! alice.add_participant(bob.public_key())?;
//! bob.add_participant(alice.public_key())?;
//!
//! let to_bob = alice.encode("Hi Bob!")?;
//! assert_eq!(bob.decode(&to_bob, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hi Bob!"[..]));
//! let to_alice = bob.encode("Hey Alice!")?;
//! assert_eq!(alice.decode(&to_alice, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hey Alice!"[..]));
//!
//! let mut carol = Topic::<Ring, _>::generate(None);
//! let intro = carol.construct_intro()?;
//! alice.add_participant(Message::parse(&intro)?.sender_key().expect("an introduction"))?;
//! let reply = alice.construct_reply(&intro)?;
//! let replier = carol.parse_reply(&reply)?;
//! carol.add_participant(replier)?;
//! assert_eq!(carol.topic_key(), alice.topic_key());
//! let from_carol = carol.encode("Hello all")?;
//! assert!(matches!(bob.decode(&from_carol, DecodeMode::Strict), Err(Error::UntrustedSender(_))));
//! assert_eq!(alice.decode(&from_carol, DecodeMode::Strict)?.plaintext().as_deref(), Some(&b"Hello all"[..]));
//! # }
//! # Ok::<(), stringphone::Error>(())
//! ```
//!
//! # Features
//! - `std` (default): OS randomness (`generate()`, `encode()`, ...) and
//!   `std::error::Error` sources.
//! - `alloc`: the `Vec`-returning calls and [`MemoryTrustStore`] without `std`.
//! - `rustcrypto` (default), `ring`: the backends (above).
//! - `batch`: batch signature verification in `Topic::decode_batch` where the backend
//!   has it (RustCrypto); opt-in, see [`protocol::batch`] for the one verdict it can
//!   change.
//! - `wasm-js`: OS randomness on `wasm32-unknown-unknown` (browsers, and serverless
//!   runtimes with Web Crypto), through `getrandom` 0.2's `js` feature; it does
//!   nothing on other targets. Without it, `std` does not build for that target
//!   (getrandom's "not supported by default" error); without `std` (features
//!   `alloc` and a backend) nothing needs it, and the `_with(&mut rng)` calls take
//!   your RNG.
//!
//! # Randomness
//! Calls that draw randomness come in two forms: `encode()`, `generate()`, ... use the
//! OS (with `std`), and `encode_with_rng(&mut rng)`, `generate_with(&mut rng)`, ...
//! take any RNG implementing `rand_core` **0.6**'s `CryptoRngCore`
//! ([`reexports::rand_core`]). The [protocol crate's docs](protocol#randomness) show
//! how to use an RNG from today's `rand` (which implements a later `rand_core`), and
//! what the "multiple different versions of crate `rand_core`" compile error means.
//!
//! See the README for the wire format, the verification rule and the classic format's
//! known weaknesses.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The protocol crate (`stringphone-core`), for what the facade does not name at its
/// root: the generic [`protocol::Topic<B, S>`], batch decoding, v2's modules.
pub use stringphone_core as protocol;
#[cfg(feature = "alloc")]
pub use stringphone_core::MemoryTrustStore;
pub use stringphone_core::{
    inbound, rule, v2, verify_signature, wire, Backend, BoxPublicKey, BoxSecret, DecodeMode,
    Decoded, Error, ErrorKind, Fingerprint, FixedTrustStore, HexError, Identity, Inbound, Message,
    ParseError, ParticipantId, PublicKey, SigningSeed, StoreError, TopicKey, TrustStore,
};

/// The crates the API's traits come from (`rand_core` 0.6, `signature`, `ed25519`,
/// `aead`, `zeroize`, `subtle`), so that callers use the same versions.
pub use stringphone_core::reexports;

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
