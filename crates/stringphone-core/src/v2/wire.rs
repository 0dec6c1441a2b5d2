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

use crate::wire::MessageType;
use crate::{BoxPublicKey, ParseError, ParticipantId, PublicKey};

/// The first byte of every v2 message.
pub const VERSION: u8 = 0x02;
/// The one cipher suite: Ed25519, X25519, HKDF-SHA256, ChaCha20-Poly1305, BLAKE3.
pub const SUITE: u8 = 0x01;
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
/// Offset, in a reply, of its member count (the floor count follows the members).
const REPLY_MEMBERS_AT: usize = REPLY_FIXED_LEN - SIGNATURE_LEN - 4;
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

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<&[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// A reply's member and floor counts (the floor count sits after the member list).
fn reply_counts(bytes: &[u8]) -> Option<(usize, usize)> {
    let members = u16::from_be_bytes(*array(bytes, REPLY_MEMBERS_AT)?) as usize;
    let floors = u16::from_be_bytes(*array(bytes, REPLY_MEMBERS_AT + 2 + 16 * members)?) as usize;
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
        V2Type::from_byte(self.bytes[1]).unwrap_or(V2Type::Message)
    }
    /// The cipher suite id.
    #[must_use]
    pub fn suite(&self) -> u8 {
        self.bytes[2]
    }
    /// The key epoch.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        u32::from_be_bytes([self.bytes[3], self.bytes[4], self.bytes[5], self.bytes[6]])
    }
    /// The sender's participant id.
    #[must_use]
    pub fn sender_id(&self) -> ParticipantId {
        ParticipantId::from_bytes(*array(self.bytes, 7).unwrap_or(&[0; 16]))
    }
    /// The sender's session value.
    #[must_use]
    pub fn session(&self) -> &'a [u8; 16] {
        array(self.bytes, 23).unwrap_or(&[0; 16])
    }
    /// The sender's counter.
    #[must_use]
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(*array(self.bytes, 39).unwrap_or(&[0; 8]))
    }
}

/// Writes a header into the first 47 bytes of `out` (at least that long).
pub(crate) fn write_header(
    out: &mut [u8],
    message_type: V2Type,
    epoch: u32,
    sender: &ParticipantId,
    session: &[u8; 16],
    counter: u64,
) {
    out[0] = VERSION;
    out[1] = message_type.byte();
    out[2] = SUITE;
    out[3..7].copy_from_slice(&epoch.to_be_bytes());
    out[7..23].copy_from_slice(sender.as_bytes());
    out[23..39].copy_from_slice(session);
    out[39..47].copy_from_slice(&counter.to_be_bytes());
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
        let header: &[u8; HEADER_LEN] = array(bytes, 0).ok_or(malformed(Some(t)))?;
        if header[2] != SUITE {
            return Err(ParseError::UnknownSuite(header[2]));
        }
        let n = bytes.len();
        let fits = match t {
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
                let count = match array::<2>(bytes, HEADER_LEN + 64) {
                    Some(c) => u16::from_be_bytes(*c) as usize,
                    None => return Err(malformed(Some(t))),
                };
                (1..=MAX_MEMBERS).contains(&count) && n == REKEY_FIXED_LEN + count * REKEY_ENTRY_LEN
            }
        };
        if !fits {
            return Err(malformed(Some(t)));
        }
        let h = HEADER_LEN;
        let body = (|| {
            Some(match t {
                V2Type::Message => Body::Message {
                    ciphertext: bytes.get(h..n - SIGNATURE_LEN - TAG_LEN)?,
                    tag: array(bytes, n - SIGNATURE_LEN - TAG_LEN)?,
                },
                V2Type::Introduction => Body::Introduction {
                    identity: array(bytes, h)?,
                    encryption_key: array(bytes, h + 32)?,
                },
                V2Type::Reply => Body::Reply {
                    recipient: array(bytes, h)?,
                    intro_digest: array(bytes, h + 16)?,
                    epoch_id: array(bytes, h + 48)?,
                    parent_epoch: array(bytes, h + 80)?,
                    starter: array(bytes, h + 112)?,
                    identity: array(bytes, h + 128)?,
                    encryption_key: array(bytes, h + 160)?,
                    nonce: array(bytes, h + 192)?,
                    sealed_key: array(bytes, h + 216)?,
                    tag: array(bytes, h + 248)?,
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
                    previous_epoch: array(bytes, h)?,
                    encryption_key: array(bytes, h + 32)?,
                    entries: bytes.get(h + 66..n - SIGNATURE_LEN)?,
                },
            })
        })()
        .ok_or(malformed(Some(t)))?;
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
        array(self.bytes, self.bytes.len() - SIGNATURE_LEN).unwrap_or(&[0; SIGNATURE_LEN])
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
    /// signature), not from the input slice, into `out` (exactly its length).
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        self.write_fields(&mut Writer { out, pos: 0 });
    }

    fn write_fields(&self, w: &mut Writer<'_>) {
        let h = self.header;
        let start = w.pos;
        w.put(&[0; HEADER_LEN]);
        write_header(
            &mut w.out[start..],
            h.message_type(),
            h.epoch(),
            &h.sender_id(),
            h.session(),
            h.counter(),
        );
        w.out[start + 2] = h.suite();
        match self.body {
            Body::Message { ciphertext, tag } => {
                w.put(ciphertext);
                w.put(tag);
            }
            Body::Introduction {
                identity,
                encryption_key,
            } => {
                w.put(identity);
                w.put(encryption_key);
            }
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
                for field in [
                    &recipient[..],
                    intro_digest,
                    epoch_id,
                    parent_epoch,
                    starter,
                    identity,
                    encryption_key,
                    nonce,
                    sealed_key,
                    tag,
                ] {
                    w.put(field);
                }
                let members = self.reply_members().count() as u16;
                w.put(&members.to_be_bytes());
                for id in self.reply_members() {
                    w.put(id.as_bytes());
                }
                let count = self.reply_floors().count() as u16;
                w.put(&count.to_be_bytes());
                for (id, floor) in self.reply_floors() {
                    w.put(id.as_bytes());
                    w.put(&floor.to_be_bytes());
                }
            }
            Body::Rekey {
                previous_epoch,
                encryption_key,
                ..
            } => {
                w.put(previous_epoch);
                w.put(encryption_key);
                let count = self.rekey_entries().count() as u16;
                w.put(&count.to_be_bytes());
                for e in self.rekey_entries() {
                    w.put(e.member.as_bytes());
                    w.put(e.sealed_key);
                    w.put(e.tag);
                }
            }
        }
        w.put(self.signature());
    }

    /// A reply's member list (empty when the replier holds none).
    pub fn reply_members(&self) -> impl Iterator<Item = ParticipantId> + 'a {
        let members = match self.body {
            Body::Reply { members, .. } => members,
            _ => &[],
        };
        members
            .chunks_exact(16)
            .filter_map(|e| Some(ParticipantId::from_bytes(*array(e, 0)?)))
    }

    /// A reply's replay floors: each sender's first counter the newcomer may accept.
    pub fn reply_floors(&self) -> impl Iterator<Item = (ParticipantId, u64)> + 'a {
        let floors = match self.body {
            Body::Reply { floors, .. } => floors,
            _ => &[],
        };
        floors.chunks_exact(FLOOR_ENTRY_LEN).filter_map(|e| {
            Some((
                ParticipantId::from_bytes(*array(e, 0)?),
                u64::from_be_bytes(*array(e, 16)?),
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
                member: ParticipantId::from_bytes(*array(e, 0)?),
                sealed_key: array(e, 16)?,
                tag: array(e, 48)?,
            })
        })
    }
}

/// Writes fields one after another into a buffer of the message's exact length.
struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}
