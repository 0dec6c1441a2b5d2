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
//! | pure Ed25519 over the whole message (two SHA-512 passes) and XSalsa20 | Ed25519 over a 64-byte string: a domain tag and the BLAKE3 (or, in [`Suite::Sha256`], SHA-256) digest of the message; ChaCha20-Poly1305 under a per-sender key |
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
//! `SIGNATURE_DOMAIN || digest("stringphone v2 message digest", topic id || message
//! without its signature)`, where the digest is the topic's [`Suite`]'s: BLAKE3 in
//! derive-key mode (suite 0x01), or SHA-256 of the context's length, the context and the
//! data (suite 0x02, for microcontrollers). So the topic, the header, the body, the ciphertext
//! and its tag are all covered, and a large message is hashed once by a fast hash. A
//! classic message signs exactly 32 bytes (an intro) or something starting with its
//! sender's id (a hash output, never the ASCII domain tag), so no v2 signature is ever
//! a valid classic signature and the other way round.

pub mod capacity;
#[cfg(feature = "v2-protocol")]
pub(crate) mod discovery;
#[cfg(feature = "v2-protocol")]
mod group;
#[cfg(feature = "v2-protocol")]
pub(crate) mod messages;
pub mod replay;
#[cfg(feature = "v2-protocol")]
pub mod rotation;
#[cfg(feature = "v2-protocol")]
pub(crate) mod state;
pub mod wire;

#[cfg(feature = "v2-protocol")]
use zeroize::Zeroizing;

#[cfg(feature = "v2-protocol")]
use crate::{Backend, ParticipantId, TopicKey};

#[cfg(feature = "alloc")]
pub use capacity::Unbounded;
pub use capacity::{Capacity, DefaultCapacity, Fixed};
#[cfg(feature = "v2-protocol")]
pub use rotation::RekeyOutcome;
#[cfg(feature = "v2-protocol")]
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

/// Context of the digest a v2 signature covers.
pub const DIGEST_CONTEXT: &str = "stringphone v2 message digest";
/// Context of an epoch id (the digest of the rekey starting it).
pub const EPOCH_CONTEXT: &str = "stringphone v2 epoch id";
/// Context of the first epoch's id (the digest of the topic id).
pub const FIRST_EPOCH_CONTEXT: &str = "stringphone v2 first epoch";
/// Context of a topic id (the digest of the topic's name).
pub const TOPIC_ID_CONTEXT: &str = "stringphone v2 topic id";
/// HKDF info prefix of a sender's message key.
pub const MESSAGE_KEY_INFO: &[u8] = b"stringphone v2 message key";

/// v2's cipher suites, named by their digest; the rest is the same in both: Ed25519,
/// X25519, HKDF-SHA256 and ChaCha20-Poly1305. A topic speaks one suite, named by its
/// [`TopicId`]; the suite's byte is in every header, and a message of another suite is
/// refused ([`Error::SuiteMismatch`](crate::Error::SuiteMismatch)).
///
/// Each variant exists where its feature is on: `v2` for [`Suite::Blake3`],
/// `v2-sha256` for [`Suite::Sha256`] (`alloc` turns on both).
///
/// ```
/// use stringphone_core::v2::{Suite, TopicId};
/// let desktop = TopicId::from_name(b"home/kitchen");
/// let device = TopicId::from_name_in(Suite::Sha256, b"home/kitchen");
/// assert_eq!(desktop.suite().byte(), 0x01);
/// assert_eq!(device.suite().byte(), 0x02);
/// assert_ne!(desktop, device); // two topics: neither accepts the other's messages
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Suite {
    /// Suite 0x01, the default: BLAKE3 in derive-key mode, the fastest digest of large
    /// messages on processors with SIMD.
    #[cfg(feature = "v2")]
    Blake3,
    /// Suite 0x02: SHA-256 of the context's length (one byte), the context, then the
    /// data. For microcontrollers: they link SHA-256 anyway (HKDF) and often have it
    /// in hardware, where BLAKE3 costs 7 KiB of flash.
    #[cfg(feature = "v2-sha256")]
    Sha256,
}

impl Suite {
    /// The suite's byte in a v2 header.
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            #[cfg(feature = "v2")]
            Suite::Blake3 => 0x01,
            #[cfg(feature = "v2-sha256")]
            Suite::Sha256 => 0x02,
        }
    }

    /// The suite of a header's byte, if this build has it.
    ///
    /// ```
    /// use stringphone_core::v2::Suite;
    /// assert_eq!(Suite::from_byte(0x02), Some(Suite::Sha256));
    /// assert_eq!(Suite::from_byte(0x03), None);
    /// ```
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Suite> {
        match byte {
            #[cfg(feature = "v2")]
            0x01 => Some(Suite::Blake3),
            #[cfg(feature = "v2-sha256")]
            0x02 => Some(Suite::Sha256),
            _ => None,
        }
    }

    /// The suite's digest of `data` under `context` (one of the `*_CONTEXT` constants).
    /// It is part of the wire format, so every backend gets the same one.
    ///
    /// ```
    /// use stringphone_core::v2::{Suite, EPOCH_CONTEXT};
    /// let d = Suite::Sha256.digest(EPOCH_CONTEXT, b"rekey");
    /// assert_eq!(d, Suite::Sha256.digest(EPOCH_CONTEXT, b"rekey"));
    /// assert_ne!(d, Suite::Sha256.digest(EPOCH_CONTEXT, b"rekeys"));
    /// assert_ne!(d, Suite::Blake3.digest(EPOCH_CONTEXT, b"rekey"));
    /// ```
    #[cfg(feature = "v2-protocol")]
    #[must_use]
    pub fn digest(self, context: &'static str, data: &[u8]) -> [u8; 32] {
        self.digest_parts(context, &[data])
    }

    // Never inlined: BLAKE3's hasher holds 1.8 KB of chaining values, which inlined
    // would sit in the caller's frame beside a signature check's (8 KiB of stack on a
    // device).
    #[cfg(feature = "v2-protocol")]
    #[inline(never)]
    fn digest_parts(self, context: &'static str, parts: &[&[u8]]) -> [u8; 32] {
        match self {
            #[cfg(feature = "v2")]
            Suite::Blake3 => {
                let mut hasher = blake3::Hasher::new_derive_key(context);
                for part in parts {
                    hasher.update(part);
                }
                *hasher.finalize().as_bytes()
            }
            #[cfg(feature = "v2-sha256")]
            Suite::Sha256 => {
                use sha2::Digest;
                // The context's length first: no two (context, data) pairs hash the
                // same string. Every context is shorter than 256 bytes.
                let mut hasher = sha2::Sha256::new();
                hasher.update([context.len() as u8]);
                hasher.update(context.as_bytes());
                for part in parts {
                    hasher.update(part);
                }
                hasher.finalize().into()
            }
        }
    }
}

/// Which topic v2 bytes belong to, and in which [`Suite`]: 32 bytes bound into every v2
/// signature, key derivation, associated data and the first epoch's id, so that nothing
/// made for one topic is accepted in another (MLS binds its `group_id` the same way;
/// Group OSCORE its ID context).
///
/// Every participant of a topic must use the same id; the usual choice is
/// [`TopicId::from_name`] of the channel's name (the MQTT topic, the room), or
/// [`TopicId::from_name_in`] for suite 0x02.
///
/// ```
/// use stringphone_core::v2::TopicId;
/// let kitchen = TopicId::from_name(b"home/kitchen");
/// assert_eq!(kitchen, TopicId::from_name(b"home/kitchen"));
/// assert_ne!(kitchen, TopicId::from_name(b"home/garage"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId {
    suite: Suite,
    id: [u8; 32],
}

impl TopicId {
    /// The id of the topic named `name` in suite 0x01 (BLAKE3 derive-key,
    /// [`TOPIC_ID_CONTEXT`]).
    #[cfg(feature = "v2")]
    #[must_use]
    pub fn from_name(name: &[u8]) -> Self {
        Self::from_name_in(Suite::Blake3, name)
    }

    /// The id of the topic named `name` in `suite` (its digest of the name,
    /// [`TOPIC_ID_CONTEXT`]).
    ///
    /// ```
    /// use stringphone_core::v2::{Suite, TopicId};
    /// let device = TopicId::from_name_in(Suite::Sha256, b"home/kitchen");
    /// assert_eq!(device.suite(), Suite::Sha256);
    /// assert_ne!(device, TopicId::from_name(b"home/kitchen"));
    /// ```
    #[cfg(feature = "v2-protocol")]
    #[must_use]
    pub fn from_name_in(suite: Suite, name: &[u8]) -> Self {
        TopicId {
            suite,
            id: suite.digest(TOPIC_ID_CONTEXT, name),
        }
    }

    /// An id of suite 0x01 given as bytes (one agreed on out of band, say).
    #[cfg(feature = "v2")]
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_bytes_in(Suite::Blake3, bytes)
    }

    /// An id of `suite` given as bytes.
    ///
    /// ```
    /// use stringphone_core::v2::{Suite, TopicId};
    /// let id = TopicId::from_bytes_in(Suite::Sha256, [7; 32]);
    /// assert_eq!((id.suite(), id.as_bytes()), (Suite::Sha256, &[7; 32]));
    /// ```
    #[must_use]
    pub const fn from_bytes_in(suite: Suite, bytes: [u8; 32]) -> Self {
        TopicId { suite, id: bytes }
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.id
    }

    /// The topic's suite.
    #[must_use]
    pub const fn suite(&self) -> Suite {
        self.suite
    }

    /// The topic's digest ([`Suite::digest`] of its suite).
    ///
    /// ```
    /// use stringphone_core::v2::{Suite, TopicId, EPOCH_CONTEXT};
    /// let id = TopicId::from_name_in(Suite::Sha256, b"home/kitchen");
    /// assert_eq!(id.digest(EPOCH_CONTEXT, b"rekey"), Suite::Sha256.digest(EPOCH_CONTEXT, b"rekey"));
    /// ```
    #[cfg(feature = "v2-protocol")]
    #[must_use]
    pub fn digest(&self, context: &'static str, data: &[u8]) -> [u8; 32] {
        self.suite.digest(context, data)
    }

    /// The id of this topic's first epoch: every topic starts from a different one.
    #[cfg(feature = "v2-protocol")]
    #[must_use]
    pub fn first_epoch_id(&self) -> [u8; 32] {
        self.digest(FIRST_EPOCH_CONTEXT, &self.id)
    }
}

impl core::fmt::Debug for TopicId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TopicId(")?;
        crate::keys::write_hex(f, &self.id)?;
        write!(f, ", suite 0x{:02x})", self.suite.byte())
    }
}

/// Suite 0x01's digest: BLAKE3 in derive-key mode with `context` (one of the
/// `*_CONTEXT` constants). A topic's own is [`TopicId::digest`].
///
/// ```
/// use stringphone_core::v2::{digest, EPOCH_CONTEXT};
/// assert_eq!(digest(EPOCH_CONTEXT, b"rekey"), digest(EPOCH_CONTEXT, b"rekey"));
/// assert_ne!(digest(EPOCH_CONTEXT, b"rekey"), digest(EPOCH_CONTEXT, b"rekeys"));
/// ```
#[cfg(feature = "v2")]
#[must_use]
pub fn digest(context: &'static str, data: &[u8]) -> [u8; 32] {
    Suite::Blake3.digest(context, data)
}

/// The 64 bytes a v2 signature covers, for the message bytes before the signature:
/// [`SIGNATURE_DOMAIN`], then the topic's digest ([`DIGEST_CONTEXT`]) of the topic id
/// followed by those bytes. A signature made in one topic therefore never verifies in
/// another, nor in the same name's topic of the other suite.
///
/// ```
/// use stringphone_core::v2::{signed_string, TopicId};
/// let (a, b) = (TopicId::from_name(b"a"), TopicId::from_name(b"b"));
/// assert_ne!(signed_string(&a, b"same bytes"), signed_string(&b, b"same bytes"));
/// ```
#[cfg(feature = "v2-protocol")]
#[must_use]
pub fn signed_string(topic: &TopicId, signed_part: &[u8]) -> [u8; 64] {
    let digest = topic
        .suite
        .digest_parts(DIGEST_CONTEXT, &[topic.as_bytes(), signed_part]);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&SIGNATURE_DOMAIN);
    out[32..].copy_from_slice(&digest);
    out
}

/// A sender's message key for an epoch and session: HKDF-SHA256 with the session as
/// salt, the epoch's key as input, and the suite, topic id, epoch id and sender id as
/// info.
#[cfg(feature = "v2-protocol")]
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
            &[topic.suite().byte()],
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

#[cfg(all(test, feature = "v2", feature = "v2-sha256"))]
mod tests {
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// Suite 0x02's digests against Python's hashlib, computed apart from this code:
    /// `hashlib.sha256(bytes([len(c)]) + c + data).hexdigest()`.
    #[test]
    fn sha256_suite_matches_an_independent_computation() {
        let kitchen = TopicId::from_name_in(Suite::Sha256, b"home/kitchen");
        assert_eq!(
            kitchen.as_bytes(),
            &unhex("908575830a5939c040efb1f75f2ce8a8c4ec42866039408c6fbb20642554b62e")
        );
        let signed = signed_string(
            &TopicId::from_bytes_in(Suite::Sha256, [7; 32]),
            b"signed part",
        );
        assert_eq!(signed[..32], SIGNATURE_DOMAIN);
        assert_eq!(
            signed[32..],
            unhex("a517328da460b7e727be474dbeebd1d299c6c9fb51ee33312b1ed9876d8a9826")
        );
    }

    /// Suite 0x01 is what v2 was before suites: BLAKE3's derive-key of the same inputs.
    #[test]
    fn blake3_suite_is_blake3_derive_key() {
        assert_eq!(
            TopicId::from_name(b"home/kitchen").as_bytes(),
            &blake3::derive_key(TOPIC_ID_CONTEXT, b"home/kitchen")
        );
        let topic = TopicId::from_bytes([7; 32]);
        let mut joined = [7u8; 32 + 11];
        joined[32..].copy_from_slice(b"signed part");
        assert_eq!(
            signed_string(&topic, b"signed part")[32..],
            blake3::derive_key(DIGEST_CONTEXT, &joined)
        );
    }

    /// One name, two suites: two topics, whose ids, first epochs and signed strings
    /// all differ, and whose suite bytes are the format's.
    #[test]
    fn one_name_in_two_suites_is_two_topics() {
        let (one, two) = (
            TopicId::from_name_in(Suite::Blake3, b"x"),
            TopicId::from_name_in(Suite::Sha256, b"x"),
        );
        assert_ne!(one, two);
        assert_ne!(one.as_bytes(), two.as_bytes());
        assert_ne!(one.first_epoch_id(), two.first_epoch_id());
        assert_ne!(signed_string(&one, b"m"), signed_string(&two, b"m"));
        assert_eq!(Suite::from_byte(wire::SUITE_BLAKE3), Some(Suite::Blake3));
        assert_eq!(Suite::from_byte(wire::SUITE_SHA256), Some(Suite::Sha256));
        assert_eq!(Suite::from_byte(0x03), None);
        for suite in [Suite::Blake3, Suite::Sha256] {
            assert_eq!(Suite::from_byte(suite.byte()), Some(suite));
        }
    }
}
