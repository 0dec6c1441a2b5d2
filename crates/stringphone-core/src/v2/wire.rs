//! The v2 wire format: layout constants and a zero-copy parser.
//!
//! Every v2 message starts with the version byte `0x02`, which no classic message type
//! uses, then a fixed 47-byte header, a body that depends on the type, and an Ed25519
//! signature (see [`super::signed_string`]: it covers the topic id and every byte
//! before the signature).
//!
//! | offset | bytes | header field |
//! | --- | --- | --- |
//! | 0 | 1 | version, `0x02` |
//! | 1 | 1 | type: `m` message, `i` introduction, `r` reply, `k` rekey |
//! | 2 | 1 | cipher suite, `0x01` (Ed25519, X25519, HKDF-SHA256, ChaCha20-Poly1305, BLAKE3) |
//! | 3 | 4 | key epoch, big-endian |
//! | 7 | 16 | sender id |
//! | 23 | 16 | session: random, drawn once per `Topic` instance |
//! | 39 | 8 | sender's counter, big-endian |
//!
//! | type | body after the header | total |
//! | --- | --- | --- |
//! | `m` | ciphertext *n* · ChaCha20-Poly1305 tag 16 · signature 64 | 127 + *n* |
//! | `i` | Ed25519 key 32 · ephemeral X25519 key 32 · signature 64 | 175 |
//! | `r` | recipient id 16 · intro digest 32 · epoch id 32 · parent epoch id 32 · epoch starter id 16 · replier's Ed25519 key 32 · replier's ephemeral X25519 key 32 · box nonce 24 · sealed topic key 32 · tag 16 · member count 2 · per member (id 16) · floor count 2 · per sender (id 16 · replay floor 8) · signature 64 | 379 + 16 *m* + 24 *f* |
//! | `k` | previous epoch id 32 · admin's ephemeral X25519 key 32 · member count 2 · per member (id 16 · sealed key 32 · tag 16) · signature 64 | 177 + 64 *m* |

use core::borrow::Borrow;

use crate::wire::{field, put, MessageType};
use crate::{BoxPublicKey, ParseError, ParticipantId, PublicKey};

/// The first byte of every v2 message.
pub const VERSION: u8 = 0x02;
/// Cipher suite 0x01: Ed25519, X25519, HKDF-SHA256, ChaCha20-Poly1305, BLAKE3
/// (`v2::Suite::Blake3`).
pub const SUITE_BLAKE3: u8 = 0x01;
/// Cipher suite 0x02: the same with SHA-256 as the digest (`v2::Suite::Sha256`).
pub const SUITE_SHA256: u8 = 0x02;
/// Header length.
pub const HEADER_LEN: usize = 47;
/// Signature length (at the end of every v2 message).
pub const SIGNATURE_LEN: usize = 64;
/// ChaCha20-Poly1305 and crypto_box tag length.
pub const TAG_LEN: usize = 16;
/// Bytes a v2 message adds to its plaintext.
pub const MESSAGE_OVERHEAD: usize = HEADER_LEN + TAG_LEN + SIGNATURE_LEN;
/// Length of a v2 introduction.
pub const INTRODUCTION_LEN: usize = HEADER_LEN + 32 + 32 + SIGNATURE_LEN;
/// Bytes of a v2 reply besides its member list and replay floors.
pub const REPLY_FIXED_LEN: usize =
    HEADER_LEN + 16 + 32 + 32 + 32 + 16 + 32 + 32 + 24 + 32 + TAG_LEN + 2 + 2 + SIGNATURE_LEN;
/// Bytes per replay floor of a reply: a sender id and the first counter of it the
/// newcomer may accept.
pub const FLOOR_ENTRY_LEN: usize = 16 + 8;
/// The most replay floors a reply may carry.
pub const MAX_FLOORS: usize = 16384;

// Named offsets, shared by the parser and the writers below (and so by every
// constructor: an introduction, a reply, a rekey, a message's header).
/// Offset of the type byte.
const TYPE_AT: usize = 1;
/// Offset of the cipher suite.
const SUITE_AT: usize = 2;
/// Offset of the epoch number.
const EPOCH_AT: usize = 3;
/// Offset of the sender id.
const SENDER_AT: usize = 7;
/// Offset of the session value.
const SESSION_AT: usize = 23;
/// Offset of the counter.
const COUNTER_AT: usize = 39;
const _: () = assert!(COUNTER_AT + 8 == HEADER_LEN);
/// Offset of an introduction's Ed25519 key.
const INTRO_IDENTITY_AT: usize = HEADER_LEN;
/// Offset of an introduction's X25519 key.
const INTRO_BOX_KEY_AT: usize = INTRO_IDENTITY_AT + 32;
const _: () = assert!(INTRO_BOX_KEY_AT + 32 + SIGNATURE_LEN == INTRODUCTION_LEN);
/// Offsets of a reply's fixed fields, in wire order.
const REPLY_RECIPIENT_AT: usize = HEADER_LEN;
const REPLY_DIGEST_AT: usize = REPLY_RECIPIENT_AT + 16;
const REPLY_EPOCH_ID_AT: usize = REPLY_DIGEST_AT + 32;
const REPLY_PARENT_AT: usize = REPLY_EPOCH_ID_AT + 32;
const REPLY_STARTER_AT: usize = REPLY_PARENT_AT + 32;
const REPLY_IDENTITY_AT: usize = REPLY_STARTER_AT + 16;
const REPLY_BOX_KEY_AT: usize = REPLY_IDENTITY_AT + 32;
const REPLY_NONCE_AT: usize = REPLY_BOX_KEY_AT + 32;
const REPLY_SEALED_AT: usize = REPLY_NONCE_AT + 24;
const REPLY_TAG_AT: usize = REPLY_SEALED_AT + 32;
/// Offset, in a reply, of its member count (the floor count follows the members).
const REPLY_MEMBERS_AT: usize = REPLY_TAG_AT + TAG_LEN;
const _: () = assert!(REPLY_MEMBERS_AT == REPLY_FIXED_LEN - SIGNATURE_LEN - 4);
/// Offsets of a rekey's fixed fields.
const REKEY_PREVIOUS_AT: usize = HEADER_LEN;
const REKEY_BOX_KEY_AT: usize = REKEY_PREVIOUS_AT + 32;
const REKEY_COUNT_AT: usize = REKEY_BOX_KEY_AT + 32;
const REKEY_ENTRIES_AT: usize = REKEY_COUNT_AT + 2;
const _: () = assert!(REKEY_ENTRIES_AT + SIGNATURE_LEN == REKEY_FIXED_LEN);
/// Offsets inside a rekey's member entry.
const ENTRY_MEMBER_AT: usize = 0;
const ENTRY_SEALED_AT: usize = 16;
const ENTRY_TAG_AT: usize = 48;
const _: () = assert!(ENTRY_TAG_AT + TAG_LEN == REKEY_ENTRY_LEN);
/// Bytes of a rekey besides its member entries.
pub const REKEY_FIXED_LEN: usize = HEADER_LEN + 32 + 32 + 2 + SIGNATURE_LEN;
/// Bytes per member entry of a rekey.
pub const REKEY_ENTRY_LEN: usize = 16 + 32 + TAG_LEN;
/// The most members a rekey or a reply may list: room for a topic of 10,000
/// participants and more, while bounding what a receiver scans (a rekey at the limit
/// is 1 MiB, no more than a large message; the count field would allow 65,535).
pub const MAX_MEMBERS: usize = 16384;

/// The kinds of v2 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum V2Type {
    /// `m`: sealed with the sender's key for the epoch, signed.
    Message,
    /// `i`: a newcomer's signed introduction.
    Introduction,
    /// `r`: the topic key for a newcomer, signed by the replier and bound to the intro.
    Reply,
    /// `k`: an admin's new epoch key, sealed to each member.
    Rekey,
}

impl V2Type {
    /// The type byte (offset 1).
    ///
    /// ```
    /// use stringphone_core::v2::wire::V2Type;
    /// assert_eq!(V2Type::Rekey.byte(), b'k');
    /// ```
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            V2Type::Message => b'm',
            V2Type::Introduction => b'i',
            V2Type::Reply => b'r',
            V2Type::Rekey => b'k',
        }
    }

    /// The type a byte names, if any.
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'm' => Some(V2Type::Message),
            b'i' => Some(V2Type::Introduction),
            b'r' => Some(V2Type::Reply),
            b'k' => Some(V2Type::Rekey),
            _ => None,
        }
    }
}

impl core::fmt::Display for V2Type {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            V2Type::Message => "a v2 message",
            V2Type::Introduction => "a v2 introduction",
            V2Type::Reply => "a v2 reply",
            V2Type::Rekey => "a v2 rekey",
        })
    }
}

/// A reply's member and floor counts (the floor count sits after the member list).
fn reply_counts(bytes: &[u8]) -> Option<(usize, usize)> {
    let members = u16::from_be_bytes(*field(bytes, REPLY_MEMBERS_AT)?) as usize;
    let floors = u16::from_be_bytes(*field(bytes, REPLY_MEMBERS_AT + 2 + 16 * members)?) as usize;
    Some((members, floors))
}

/// The 47-byte header every v2 message starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    bytes: &'a [u8; HEADER_LEN],
}

impl<'a> Header<'a> {
    /// The header's bytes (the associated data of a v2 message's cipher).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8; HEADER_LEN] {
        self.bytes
    }
    /// The message type.
    #[must_use]
    pub fn message_type(&self) -> V2Type {
        // parse() admitted only known type bytes.
        V2Type::from_byte(self.bytes[TYPE_AT]).unwrap_or(V2Type::Message)
    }
    /// The cipher suite id.
    #[must_use]
    pub fn suite(&self) -> u8 {
        self.bytes[SUITE_AT]
    }
    /// The key epoch.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        u32::from_be_bytes(*field(self.bytes, EPOCH_AT).unwrap_or(&[0; 4]))
    }
    /// The sender's participant id.
    #[must_use]
    pub fn sender_id(&self) -> ParticipantId {
        ParticipantId::from_bytes(*field(self.bytes, SENDER_AT).unwrap_or(&[0; 16]))
    }
    /// The sender's session value.
    #[must_use]
    pub fn session(&self) -> &'a [u8; 16] {
        field(self.bytes, SESSION_AT).unwrap_or(&[0; 16])
    }
    /// The sender's counter.
    #[must_use]
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(*field(self.bytes, COUNTER_AT).unwrap_or(&[0; 8]))
    }
}

/// Writes a header into the first 47 bytes of `out` (at least that long).
pub(crate) fn write_header(
    out: &mut [u8],
    message_type: V2Type,
    suite: u8,
    epoch: u32,
    sender: &ParticipantId,
    session: &[u8; 16],
    counter: u64,
) {
    put(out, 0, &[VERSION, message_type.byte(), suite]);
    put(out, EPOCH_AT, &epoch.to_be_bytes());
    put(out, SENDER_AT, sender.as_bytes());
    put(out, SESSION_AT, session);
    put(out, COUNTER_AT, &counter.to_be_bytes());
}

/// Whether `bytes`, a v2 message of type `t` with a whole header, is exactly as long
/// as its type and its counts say.
fn length_fits(t: V2Type, bytes: &[u8]) -> bool {
    let n = bytes.len();
    match t {
        V2Type::Message => n >= MESSAGE_OVERHEAD,
        V2Type::Introduction => n == INTRODUCTION_LEN,
        V2Type::Reply => match reply_counts(bytes) {
            Some((members, floors)) => {
                members <= MAX_MEMBERS
                    && floors <= MAX_FLOORS
                    && n == REPLY_FIXED_LEN + members * 16 + floors * FLOOR_ENTRY_LEN
            }
            None => false,
        },
        V2Type::Rekey => {
            let Some(count) = field::<2>(bytes, REKEY_COUNT_AT) else {
                return false;
            };
            let count = u16::from_be_bytes(*count) as usize;
            (1..=MAX_MEMBERS).contains(&count) && n == REKEY_FIXED_LEN + count * REKEY_ENTRY_LEN
        }
    }
}

/// The body of a v2 message of type `t` whose length fits ([`length_fits`]).
fn body_of(t: V2Type, bytes: &[u8]) -> Option<Body<'_>> {
    let (h, n) = (HEADER_LEN, bytes.len());
    Some(match t {
        V2Type::Message => Body::Message {
            ciphertext: bytes.get(h..n - SIGNATURE_LEN - TAG_LEN)?,
            tag: field(bytes, n - SIGNATURE_LEN - TAG_LEN)?,
        },
        V2Type::Introduction => Body::Introduction {
            identity: field(bytes, INTRO_IDENTITY_AT)?,
            encryption_key: field(bytes, INTRO_BOX_KEY_AT)?,
        },
        V2Type::Reply => Body::Reply {
            recipient: field(bytes, REPLY_RECIPIENT_AT)?,
            intro_digest: field(bytes, REPLY_DIGEST_AT)?,
            epoch_id: field(bytes, REPLY_EPOCH_ID_AT)?,
            parent_epoch: field(bytes, REPLY_PARENT_AT)?,
            starter: field(bytes, REPLY_STARTER_AT)?,
            identity: field(bytes, REPLY_IDENTITY_AT)?,
            encryption_key: field(bytes, REPLY_BOX_KEY_AT)?,
            nonce: field(bytes, REPLY_NONCE_AT)?,
            sealed_key: field(bytes, REPLY_SEALED_AT)?,
            tag: field(bytes, REPLY_TAG_AT)?,
            members: {
                let (m, _) = reply_counts(bytes)?;
                bytes.get(REPLY_MEMBERS_AT + 2..REPLY_MEMBERS_AT + 2 + 16 * m)?
            },
            floors: {
                let (m, _) = reply_counts(bytes)?;
                bytes.get(REPLY_MEMBERS_AT + 4 + 16 * m..n - SIGNATURE_LEN)?
            },
        },
        V2Type::Rekey => Body::Rekey {
            previous_epoch: field(bytes, REKEY_PREVIOUS_AT)?,
            encryption_key: field(bytes, REKEY_BOX_KEY_AT)?,
            entries: bytes.get(REKEY_ENTRIES_AT..n - SIGNATURE_LEN)?,
        },
    })
}

/// A parsed v2 message: header, typed body, signature, borrowing the input.
///
/// ```
/// use stringphone_core::v2::wire::{V2Message, V2Type, INTRODUCTION_LEN};
/// let mut intro = [0u8; INTRODUCTION_LEN];
/// intro[..3].copy_from_slice(&[0x02, b'i', 0x01]);
/// let m = V2Message::parse(&intro).unwrap();
/// assert_eq!(m.header().message_type(), V2Type::Introduction);
/// assert!(V2Message::parse(&intro[..INTRODUCTION_LEN - 1]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2Message<'a> {
    bytes: &'a [u8],
    header: Header<'a>,
    body: Body<'a>,
}

/// The type-specific part of a v2 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<'a> {
    /// `m`: ciphertext and tag.
    Message {
        /// The ciphertext (as long as the plaintext).
        ciphertext: &'a [u8],
        /// The ChaCha20-Poly1305 tag.
        tag: &'a [u8; TAG_LEN],
    },
    /// `i`: the newcomer's keys.
    Introduction {
        /// Its Ed25519 public key.
        identity: &'a [u8; 32],
        /// Its ephemeral X25519 key.
        encryption_key: &'a [u8; 32],
    },
    /// `r`: the sealed topic key, bound to the intro.
    Reply {
        /// The newcomer's id.
        recipient: &'a [u8; 16],
        /// The digest of the introduction this answers.
        intro_digest: &'a [u8; 32],
        /// The id of the epoch whose key this carries (for chaining the next rekey).
        epoch_id: &'a [u8; 32],
        /// The id of the epoch that one follows (all zero for a topic's first epoch).
        parent_epoch: &'a [u8; 32],
        /// The admin whose rekey started the epoch (all zero for the first epoch).
        starter: &'a [u8; 16],
        /// The replier's Ed25519 public key (its signature is checked against it).
        identity: &'a [u8; 32],
        /// The replier's ephemeral X25519 key.
        encryption_key: &'a [u8; 32],
        /// The crypto_box nonce.
        nonce: &'a [u8; 24],
        /// The sealed topic key.
        sealed_key: &'a [u8; 32],
        /// The box's tag.
        tag: &'a [u8; TAG_LEN],
        /// The members of the epoch, as the replier holds them (16-byte ids; empty when
        /// it holds no list).
        members: &'a [u8],
        /// The replay floors, [`FLOOR_ENTRY_LEN`] bytes each.
        floors: &'a [u8],
    },
    /// `k`: a new epoch's key, sealed to each member.
    Rekey {
        /// The id of the epoch this one follows.
        previous_epoch: &'a [u8; 32],
        /// The admin's ephemeral X25519 key.
        encryption_key: &'a [u8; 32],
        /// The member entries, [`REKEY_ENTRY_LEN`] bytes each.
        entries: &'a [u8],
    },
}

/// One member entry of a rekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RekeyEntry<'a> {
    /// The member's id.
    pub member: ParticipantId,
    /// The epoch key, sealed to the member's static X25519 key.
    pub sealed_key: &'a [u8; 32],
    /// The box's tag.
    pub tag: &'a [u8; TAG_LEN],
}

impl<'a> V2Message<'a> {
    /// Parses a v2 message: version, known type, the one suite, exact length
    /// ([`ParseError::Malformed`], [`ParseError::UnknownType`], [`ParseError::UnknownSuite`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let malformed = |t: Option<V2Type>| ParseError::Malformed {
            message_type: t.map(MessageType::V2),
            len: bytes.len(),
        };
        if bytes.first() != Some(&VERSION) {
            return Err(match bytes.first() {
                None => malformed(None),
                Some(&b) => ParseError::UnknownType(b),
            });
        }
        let type_byte = *bytes.get(1).ok_or(malformed(None))?;
        let t = V2Type::from_byte(type_byte).ok_or(ParseError::UnknownType(type_byte))?;
        let header: &[u8; HEADER_LEN] = field(bytes, 0).ok_or(malformed(Some(t)))?;
        // Both suites are the format's; whether a topic speaks this one is its check.
        if header[SUITE_AT] != SUITE_BLAKE3 && header[SUITE_AT] != SUITE_SHA256 {
            return Err(ParseError::UnknownSuite(header[SUITE_AT]));
        }
        if !length_fits(t, bytes) {
            return Err(malformed(Some(t)));
        }
        let body = body_of(t, bytes).ok_or(malformed(Some(t)))?;
        Ok(V2Message {
            bytes,
            header: Header { bytes: header },
            body,
        })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> Header<'a> {
        self.header
    }
    /// The body.
    #[must_use]
    pub fn body(&self) -> Body<'a> {
        self.body
    }
    /// Everything the signature covers (all but the last 64 bytes).
    #[must_use]
    pub fn signed_part(&self) -> &'a [u8] {
        &self.bytes[..self.bytes.len() - SIGNATURE_LEN]
    }
    /// The Ed25519 signature.
    #[must_use]
    pub fn signature(&self) -> &'a [u8; SIGNATURE_LEN] {
        field(self.bytes, self.bytes.len() - SIGNATURE_LEN).unwrap_or(&[0; SIGNATURE_LEN])
    }
    /// The whole message.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The Ed25519 key an introduction or reply carries.
    #[must_use]
    pub fn identity(&self) -> Option<PublicKey> {
        match self.body {
            Body::Introduction { identity, .. } | Body::Reply { identity, .. } => {
                Some(PublicKey::from_bytes(*identity))
            }
            _ => None,
        }
    }
    /// The X25519 key an introduction, reply or rekey carries.
    #[must_use]
    pub fn encryption_key(&self) -> Option<BoxPublicKey> {
        match self.body {
            Body::Introduction { encryption_key, .. }
            | Body::Reply { encryption_key, .. }
            | Body::Rekey { encryption_key, .. } => Some(BoxPublicKey::from_bytes(*encryption_key)),
            Body::Message { .. } => None,
        }
    }
    /// A reply's recipient.
    #[must_use]
    pub fn recipient_id(&self) -> Option<ParticipantId> {
        match self.body {
            Body::Reply { recipient, .. } => Some(ParticipantId::from_bytes(*recipient)),
            _ => None,
        }
    }

    /// Writes the message, rebuilt from its typed fields (header fields, body fields,
    /// signature), not from the input slice, into `out` (exactly its length), through
    /// the writers every constructor uses.
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        let h = self.header;
        let (t, session) = (h.message_type(), h.session());
        write_header(
            out,
            t,
            h.suite(),
            h.epoch(),
            &h.sender_id(),
            session,
            h.counter(),
        );
        match self.body {
            Body::Message { ciphertext, tag } => {
                put(out, HEADER_LEN, ciphertext);
                put(out, HEADER_LEN + ciphertext.len(), tag);
            }
            Body::Introduction {
                identity,
                encryption_key,
            } => write_introduction_body(out, identity, encryption_key),
            Body::Reply {
                recipient,
                intro_digest,
                epoch_id,
                parent_epoch,
                starter,
                identity,
                encryption_key,
                nonce,
                sealed_key,
                tag,
                ..
            } => {
                let fields = ReplyFields {
                    recipient,
                    intro_digest,
                    epoch_id,
                    parent_epoch,
                    starter,
                    identity,
                    encryption_key,
                    nonce,
                    sealed_key,
                    tag,
                };
                let members = (self.reply_members().count(), self.reply_members());
                let floors = (self.reply_floors().count(), self.reply_floors());
                write_reply_body(out, &fields, members, floors);
            }
            Body::Rekey {
                previous_epoch,
                encryption_key,
                ..
            } => {
                let count = self.rekey_entries().count();
                write_rekey_head(out, previous_epoch, encryption_key, count);
                for (index, e) in self.rekey_entries().enumerate() {
                    write_rekey_entry(out, index, &e.member, e.sealed_key, e.tag);
                }
            }
        }
        write_signature(out, self.signature());
    }

    /// A reply's member list (empty when the replier holds none).
    pub fn reply_members(&self) -> impl Iterator<Item = ParticipantId> + 'a {
        let members = match self.body {
            Body::Reply { members, .. } => members,
            _ => &[],
        };
        members
            .chunks_exact(16)
            .filter_map(|e| Some(ParticipantId::from_bytes(*field(e, 0)?)))
    }

    /// A reply's replay floors: each sender's first counter the newcomer may accept.
    pub fn reply_floors(&self) -> impl Iterator<Item = (ParticipantId, u64)> + 'a {
        let floors = match self.body {
            Body::Reply { floors, .. } => floors,
            _ => &[],
        };
        floors.chunks_exact(FLOOR_ENTRY_LEN).filter_map(|e| {
            Some((
                ParticipantId::from_bytes(*field(e, 0)?),
                u64::from_be_bytes(*field(e, 16)?),
            ))
        })
    }

    /// A rekey's member entries.
    pub fn rekey_entries(&self) -> impl Iterator<Item = RekeyEntry<'a>> + 'a {
        let entries = match self.body {
            Body::Rekey { entries, .. } => entries,
            _ => &[],
        };
        entries.chunks_exact(REKEY_ENTRY_LEN).filter_map(|e| {
            Some(RekeyEntry {
                member: ParticipantId::from_bytes(*field(e, ENTRY_MEMBER_AT)?),
                sealed_key: field(e, ENTRY_SEALED_AT)?,
                tag: field(e, ENTRY_TAG_AT)?,
            })
        })
    }
}

/// Lays out an introduction's body (after its header) in `out`, the whole message.
pub(crate) fn write_introduction_body(out: &mut [u8], identity: &[u8; 32], box_key: &[u8; 32]) {
    put(out, INTRO_IDENTITY_AT, identity);
    put(out, INTRO_BOX_KEY_AT, box_key);
}

/// A reply's fixed fields, in wire order.
pub(crate) struct ReplyFields<'f> {
    pub(crate) recipient: &'f [u8; 16],
    pub(crate) intro_digest: &'f [u8; 32],
    pub(crate) epoch_id: &'f [u8; 32],
    pub(crate) parent_epoch: &'f [u8; 32],
    pub(crate) starter: &'f [u8; 16],
    pub(crate) identity: &'f [u8; 32],
    pub(crate) encryption_key: &'f [u8; 32],
    pub(crate) nonce: &'f [u8; 24],
    pub(crate) sealed_key: &'f [u8; 32],
    pub(crate) tag: &'f [u8; TAG_LEN],
}

/// Lays out a reply's body (after its header, before its signature) in `out`, the
/// whole message: the fixed fields, the member list, the replay floors. Each count
/// is its iterator's length, which the caller sized `out` for.
pub(crate) fn write_reply_body(
    out: &mut [u8],
    fields: &ReplyFields<'_>,
    (member_count, members): (usize, impl Iterator<Item = impl Borrow<ParticipantId>>),
    (floor_count, floors): (
        usize,
        impl Iterator<Item = (impl Borrow<ParticipantId>, u64)>,
    ),
) {
    put(out, REPLY_RECIPIENT_AT, fields.recipient);
    put(out, REPLY_DIGEST_AT, fields.intro_digest);
    put(out, REPLY_EPOCH_ID_AT, fields.epoch_id);
    put(out, REPLY_PARENT_AT, fields.parent_epoch);
    put(out, REPLY_STARTER_AT, fields.starter);
    put(out, REPLY_IDENTITY_AT, fields.identity);
    put(out, REPLY_BOX_KEY_AT, fields.encryption_key);
    put(out, REPLY_NONCE_AT, fields.nonce);
    put(out, REPLY_SEALED_AT, fields.sealed_key);
    put(out, REPLY_TAG_AT, fields.tag);
    put(out, REPLY_MEMBERS_AT, &(member_count as u16).to_be_bytes());
    let mut at = REPLY_MEMBERS_AT + 2;
    // Ids are borrowed where the caller holds them: a copy of each, on a device,
    // pulled in `memmove`.
    for id in members {
        put(out, at, id.borrow().as_bytes());
        at += 16;
    }
    put(out, at, &(floor_count as u16).to_be_bytes());
    at += 2;
    for (id, floor) in floors {
        put(out, at, id.borrow().as_bytes());
        put(out, at + 16, &floor.to_be_bytes());
        at += FLOOR_ENTRY_LEN;
    }
}

/// Lays out a rekey's fixed body fields (after its header) in `out`, the whole
/// message; its `count` entries follow ([`write_rekey_entry`]).
pub(crate) fn write_rekey_head(
    out: &mut [u8],
    previous_epoch: &[u8; 32],
    box_key: &[u8; 32],
    count: usize,
) {
    put(out, REKEY_PREVIOUS_AT, previous_epoch);
    put(out, REKEY_BOX_KEY_AT, box_key);
    put(out, REKEY_COUNT_AT, &(count as u16).to_be_bytes());
}

/// Lays out a rekey's member entry number `index` in `out`, the whole message.
pub(crate) fn write_rekey_entry(
    out: &mut [u8],
    index: usize,
    member: &ParticipantId,
    sealed_key: &[u8; 32],
    tag: &[u8; TAG_LEN],
) {
    let at = REKEY_ENTRIES_AT + index * REKEY_ENTRY_LEN;
    put(out, at + ENTRY_MEMBER_AT, member.as_bytes());
    put(out, at + ENTRY_SEALED_AT, sealed_key);
    put(out, at + ENTRY_TAG_AT, tag);
}

/// Puts the signature in the last [`SIGNATURE_LEN`] bytes of `out`, the whole
/// message.
pub(crate) fn write_signature(out: &mut [u8], signature: &[u8; SIGNATURE_LEN]) {
    let at = out.len().saturating_sub(SIGNATURE_LEN);
    put(out, at, signature);
}
