//! Protocol v2: signed discovery, replay protection, key rotation, topic binding, fast
//! large messages. `docs/protocol-v2.md` in the repository is the full description:
//! threat model, each guarantee with the test that attacks it, what v2 does not
//! protect, the wire layout.
//!
//! | classic | v2 |
//! | --- | --- |
//! | replies are not signed | the whole reply is signed by the replier and bound to the topic, the intro it answers and the newcomer's id; the key is installed only once the replier is trusted, and the newcomer takes the replay floors it carries |
//! | nothing stops a replay | a per-sender counter in every message, a sliding window per sender at each receiver, marks in the trust store so restarts don't reopen it |
//! | removal does not revoke the key | admins rotate the key: a rekey message seals a fresh key to each remaining member; messages from non-members of an epoch are refused, and replies go only to members |
//! | nothing names the topic | a [`TopicId`] in every signature, key derivation, associated data and first epoch id |
//! | pure Ed25519 over the whole message (two SHA-512 passes) and XSalsa20 | Ed25519 over a 64-byte string: a domain tag and the BLAKE3 digest of the message; ChaCha20-Poly1305 under a per-sender key |
//!
//! Where things happen: the layout and parser in [`wire`]; sealing, opening and the
//! replay windows in `messages.rs`; discovery in `discovery.rs`; rotation in
//! [`rotation`]; the group state ([`GroupState`]) in `state.rs`, and its export,
//! restore and saving on a [`crate::Topic`] in `group.rs`.
//!
//! # Keys and nonces
//! A sender's key for an epoch is HKDF-SHA256 with the session value as salt, the
//! epoch's topic key as input, and the suite, topic id, epoch id and sender id as info
//! ([`message_key`]). The session value is 16 random bytes drawn once per
//! [`crate::Topic`] instance (and again in a forked child) and carried in every header,
//! so two processes running one identity, a restored backup, or a topic rebuilt from
//! the same seed all use different keys: the nonce, the sender's counter, may repeat
//! across them without a (key, nonce) pair ever repeating. Nothing has to be persisted
//! for that.
//!
//! The counter exists for replay protection and must only move forward, so a sender
//! reserves counters in blocks ([`replay::SENDER_BLOCK`]) and stores the end of each
//! block in its trust store before using it ([`crate::TrustStore::save_mark`]); after
//! a restart it starts where the last block ended.
//!
//! # What is signed
//! The Ed25519 signature of a v2 message covers the 64 bytes of [`signed_string`]:
//! `SIGNATURE_DOMAIN || BLAKE3-derive-key("stringphone v2 message digest", topic id ||
//! message without its signature)`. So the topic, the header, the body, the ciphertext
//! and its tag are all covered, and a large message is hashed once by a fast hash. A
//! classic message signs exactly 32 bytes (an intro) or something starting with its
//! sender's id (a hash output, never the ASCII domain tag), so no v2 signature is ever
//! a valid classic signature and the other way round.

pub mod capacity;
#[cfg(feature = "v2")]
pub(crate) mod discovery;
#[cfg(feature = "v2")]
mod group;
#[cfg(feature = "v2")]
pub(crate) mod messages;
pub mod replay;
#[cfg(feature = "v2")]
pub mod rotation;
#[cfg(feature = "v2")]
pub(crate) mod state;
pub mod wire;

use zeroize::Zeroizing;

use crate::{Backend, ParticipantId, TopicKey};

#[cfg(feature = "alloc")]
pub use capacity::Unbounded;
pub use capacity::{Capacity, DefaultCapacity, Fixed};
#[cfg(feature = "v2")]
pub use rotation::RekeyOutcome;
#[cfg(feature = "v2")]
pub use state::{GroupState, DEFAULT_GRACE_MESSAGES};

/// Which wire formats a topic speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// The original's format only: what the Python stringphone speaks. The default.
    #[default]
    Classic,
    /// v2 only: every classic message is refused, replies and introductions included.
    V2,
    /// The migration mode: accepts classic and v2, sends v2. Classic messages keep
    /// only the classic guarantees (no replay protection, unsigned replies): the mode
    /// is a bridge while old participants upgrade, not a place to stay.
    Both,
}

impl ProtocolVersion {
    /// Whether classic messages are accepted.
    #[must_use]
    pub fn accepts_classic(self) -> bool {
        matches!(self, ProtocolVersion::Classic | ProtocolVersion::Both)
    }
    /// Whether v2 messages are accepted.
    #[must_use]
    pub fn accepts_v2(self) -> bool {
        matches!(self, ProtocolVersion::V2 | ProtocolVersion::Both)
    }
    /// Whether this topic sends v2.
    #[must_use]
    pub fn sends_v2(self) -> bool {
        self.accepts_v2()
    }
}

/// The first 32 bytes of every string a v2 signature covers.
pub const SIGNATURE_DOMAIN: [u8; 32] = *b"stringphone v2 signature\0\0\0\0\0\0\0\0";

/// BLAKE3 derive-key context of the digest a v2 signature covers.
pub const DIGEST_CONTEXT: &str = "stringphone v2 message digest";
/// BLAKE3 derive-key context of an epoch id (the digest of the rekey starting it).
pub const EPOCH_CONTEXT: &str = "stringphone v2 epoch id";
/// BLAKE3 derive-key context of the first epoch's id (the digest of the topic id).
pub const FIRST_EPOCH_CONTEXT: &str = "stringphone v2 first epoch";
/// BLAKE3 derive-key context of a topic id (the digest of the topic's name).
pub const TOPIC_ID_CONTEXT: &str = "stringphone v2 topic id";
/// HKDF info prefix of a sender's message key.
pub const MESSAGE_KEY_INFO: &[u8] = b"stringphone v2 message key";

/// Which topic v2 bytes belong to: 32 bytes bound into every v2 signature, key
/// derivation, associated data and the first epoch's id, so that nothing made for one
/// topic is accepted in another (MLS binds its `group_id` the same way; Group OSCORE
/// its ID context).
///
/// Every participant of a topic must use the same id; the usual choice is
/// [`TopicId::from_name`] of the channel's name (the MQTT topic, the room).
///
/// ```
/// use stringphone_core::v2::TopicId;
/// let kitchen = TopicId::from_name(b"home/kitchen");
/// assert_eq!(kitchen, TopicId::from_name(b"home/kitchen"));
/// assert_ne!(kitchen, TopicId::from_name(b"home/garage"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId([u8; 32]);

impl TopicId {
    /// The id of the topic named `name` (BLAKE3 derive-key, [`TOPIC_ID_CONTEXT`]).
    #[cfg(feature = "v2")]
    #[must_use]
    pub fn from_name(name: &[u8]) -> Self {
        TopicId(digest(TOPIC_ID_CONTEXT, name))
    }

    /// An id given as bytes (one agreed on out of band, say).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TopicId(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id of this topic's first epoch: every topic starts from a different one.
    #[cfg(feature = "v2")]
    #[must_use]
    pub fn first_epoch_id(&self) -> [u8; 32] {
        digest(FIRST_EPOCH_CONTEXT, &self.0)
    }
}

impl core::fmt::Debug for TopicId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TopicId(")?;
        crate::keys::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// v2's digest: BLAKE3 in derive-key mode with `context` (one of the `*_CONTEXT`
/// constants). It is part of the wire format, so every backend gets the same one.
///
/// ```
/// use stringphone_core::v2::{digest, EPOCH_CONTEXT};
/// assert_eq!(digest(EPOCH_CONTEXT, b"rekey"), digest(EPOCH_CONTEXT, b"rekey"));
/// assert_ne!(digest(EPOCH_CONTEXT, b"rekey"), digest(EPOCH_CONTEXT, b"rekeys"));
/// ```
#[cfg(feature = "v2")]
#[must_use]
// Never inlined: BLAKE3's hasher holds 1.8 KB of chaining values, which inlined would
// sit in the caller's frame beside a signature check's (8 KiB of stack on a device).
#[inline(never)]
pub fn digest(context: &'static str, data: &[u8]) -> [u8; 32] {
    blake3::derive_key(context, data)
}

/// The 64 bytes a v2 signature covers, for the message bytes before the signature:
/// [`SIGNATURE_DOMAIN`], then the digest of the topic id followed by those bytes. A
/// signature made in one topic therefore never verifies in another.
///
/// ```
/// use stringphone_core::v2::{signed_string, TopicId};
/// let (a, b) = (TopicId::from_name(b"a"), TopicId::from_name(b"b"));
/// assert_ne!(signed_string(&a, b"same bytes"), signed_string(&b, b"same bytes"));
/// ```
#[cfg(feature = "v2")]
#[must_use]
// Never inlined, as `digest`: the hasher's frame ends before the signature is checked.
#[inline(never)]
pub fn signed_string(topic: &TopicId, signed_part: &[u8]) -> [u8; 64] {
    let mut hasher = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    hasher.update(topic.as_bytes());
    hasher.update(signed_part);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&SIGNATURE_DOMAIN);
    out[32..].copy_from_slice(hasher.finalize().as_bytes());
    out
}

/// A sender's message key for an epoch and session: HKDF-SHA256 with the session as
/// salt, the epoch's key as input, and the suite, topic id, epoch id and sender id as
/// info.
#[must_use]
pub fn message_key<B: Backend>(
    topic: &TopicId,
    topic_key: &TopicKey,
    epoch_id: &[u8; 32],
    sender: &ParticipantId,
    session: &[u8; 16],
) -> Zeroizing<[u8; 32]> {
    B::hkdf_sha256(
        session,
        topic_key.expose_secret(),
        &[
            MESSAGE_KEY_INFO,
            &[wire::SUITE],
            topic.as_bytes(),
            epoch_id,
            sender.as_bytes(),
        ],
    )
}

/// The associated data of a v2 message's cipher: the topic id, then the header.
#[must_use]
pub fn associated_data(
    topic: &TopicId,
    header: &[u8; wire::HEADER_LEN],
) -> [u8; 32 + wire::HEADER_LEN] {
    let mut ad = [0u8; 32 + wire::HEADER_LEN];
    ad[..32].copy_from_slice(topic.as_bytes());
    ad[32..].copy_from_slice(header);
    ad
}

/// The ChaCha20-Poly1305 nonce of a counter: four zero bytes, then the counter
/// big-endian.
#[must_use]
pub fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}
