//! The classic wire format: layout constants and a zero-copy parser.
//!
//! Every message starts with one type byte. All fields have fixed sizes except the
//! ciphertext of a simple message, which runs to the end.
//!
//! | type | layout (bytes) | total |
//! | --- | --- | --- |
//! | `s` simple | `0x73` · signature 64 · sender id 16 · nonce 24 · mac 16 · ciphertext | ≥ 121 |
//! | `i` introduction | `0x69` · Ed25519 key 32 · signature 64 · X25519 key 32 | = 129 |
//! | `r` reply | `0x72` · recipient id 16 · nonce 24 · mac 16 · sealed topic key 32 · X25519 key 32 · Ed25519 key 32 | = 153 |
//!
//! A simple message's signature covers everything after it (id, nonce, mac,
//! ciphertext); an introduction's covers exactly its 32-byte X25519 key. A participant
//! id is the first 16 bytes of SHA-256 of the Ed25519 public key.
//!
//! [`Message::parse`] checks the type byte and the exact length and nothing else: it
//! does no crypto and never allocates. The views hand out fixed-size fields, so code
//! reading them cannot index out of bounds.
//!
//! Parse and emit sit side by side, on the same named offsets (`*_AT`): each view's
//! `parse` reads the fields where its `write_to` puts them, and every constructor
//! (sealing, discovery) lays its message out through the same writers.

use crate::wire::{field, put, Message, MessageType};
use crate::{BoxPublicKey, ParseError, ParticipantId, PublicKey};

/// Type byte of a simple (encrypted, signed) message: `s`.
pub const SIMPLE_TYPE: u8 = b's';
/// Type byte of an introduction: `i`.
pub const INTRODUCTION_TYPE: u8 = b'i';
/// Type byte of an introduction reply: `r`.
pub const REPLY_TYPE: u8 = b'r';

/// Ed25519 signature length.
pub const SIGNATURE_LEN: usize = 64;
/// XSalsa20 (and crypto_box) nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const MAC_LEN: usize = 16;

/// Offset of the signed part of a simple message (after the type byte and signature).
pub const SIMPLE_SIGNED_START: usize = 1 + SIGNATURE_LEN;
/// Offset of the ciphertext of a simple message; also the bytes a simple message adds
/// to its plaintext.
pub const SIMPLE_OVERHEAD: usize = SIMPLE_SIGNED_START + 16 + NONCE_LEN + MAC_LEN;
/// Length of an introduction.
pub const INTRODUCTION_LEN: usize = 1 + 32 + SIGNATURE_LEN + 32;
/// Length of an introduction reply.
pub const REPLY_LEN: usize = 1 + 16 + NONCE_LEN + MAC_LEN + 32 + 32 + 32;

/// Offset of a simple message's signature.
const SIMPLE_SIGNATURE_AT: usize = 1;
/// Offset of a simple message's sender id (where its signed part starts).
const SIMPLE_SENDER_AT: usize = SIMPLE_SIGNED_START;
/// Offset of a simple message's nonce.
const SIMPLE_NONCE_AT: usize = SIMPLE_SENDER_AT + 16;
/// Offset of a simple message's tag.
const SIMPLE_MAC_AT: usize = SIMPLE_NONCE_AT + NONCE_LEN;
const _: () = assert!(SIMPLE_MAC_AT + MAC_LEN == SIMPLE_OVERHEAD);

/// Offset of an introduction's Ed25519 key.
const INTRO_KEY_AT: usize = 1;
/// Offset of an introduction's signature.
const INTRO_SIGNATURE_AT: usize = INTRO_KEY_AT + 32;
/// Offset of an introduction's X25519 key.
const INTRO_BOX_KEY_AT: usize = INTRO_SIGNATURE_AT + SIGNATURE_LEN;
const _: () = assert!(INTRO_BOX_KEY_AT + 32 == INTRODUCTION_LEN);

/// Offset of a reply's recipient id.
const REPLY_RECIPIENT_AT: usize = 1;
/// Offset of a reply's box nonce.
const REPLY_NONCE_AT: usize = REPLY_RECIPIENT_AT + 16;
/// Offset of a reply's box tag.
const REPLY_MAC_AT: usize = REPLY_NONCE_AT + NONCE_LEN;
/// Offset of a reply's sealed topic key.
const REPLY_SEALED_AT: usize = REPLY_MAC_AT + MAC_LEN;
/// Offset of a reply's X25519 key.
const REPLY_BOX_KEY_AT: usize = REPLY_SEALED_AT + 32;
/// Offset of a reply's Ed25519 key.
const REPLY_KEY_AT: usize = REPLY_BOX_KEY_AT + 32;
const _: () = assert!(REPLY_KEY_AT + 32 == REPLY_LEN);

/// Parses a classic message (the first byte is not v2's): a known type byte
/// ([`ParseError::UnknownType`]) and a length that fits the type
/// ([`ParseError::Malformed`]: at least 121 bytes for a simple message, exactly 129
/// for an introduction and 153 for a reply).
pub(crate) fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    let &type_byte = bytes.first().ok_or(ParseError::Malformed {
        message_type: None,
        len: 0,
    })?;
    let message_type =
        MessageType::from_byte(type_byte).ok_or(ParseError::UnknownType(type_byte))?;
    let n = bytes.len();
    let fits = match message_type {
        MessageType::Simple => n >= SIMPLE_OVERHEAD,
        MessageType::Introduction => n == INTRODUCTION_LEN,
        MessageType::IntroductionReply => n == REPLY_LEN,
        // `from_byte` names classic types only.
        MessageType::V2(_) => false,
    };
    let parsed = match message_type {
        _ if !fits => None,
        MessageType::Simple => SimpleMessage::parse(bytes).map(Message::Simple),
        MessageType::Introduction => Introduction::parse(bytes).map(Message::Introduction),
        MessageType::IntroductionReply => {
            IntroductionReply::parse(bytes).map(Message::IntroductionReply)
        }
        MessageType::V2(_) => None,
    };
    parsed.ok_or(ParseError::Malformed {
        message_type: Some(message_type),
        len: bytes.len(),
    })
}

/// `s`: a message sealed with the topic key and signed by its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimpleMessage<'a> {
    signature: &'a [u8; SIGNATURE_LEN],
    signed: &'a [u8],
    sender_id: &'a [u8; 16],
    nonce: &'a [u8; NONCE_LEN],
    mac: &'a [u8; MAC_LEN],
    ciphertext: &'a [u8],
}

impl<'a> SimpleMessage<'a> {
    /// The view of `bytes`, whose type byte and length [`parse`] checked.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        Some(SimpleMessage {
            signature: field(bytes, SIMPLE_SIGNATURE_AT)?,
            signed: bytes.get(SIMPLE_SIGNED_START..)?,
            sender_id: field(bytes, SIMPLE_SENDER_AT)?,
            nonce: field(bytes, SIMPLE_NONCE_AT)?,
            mac: field(bytes, SIMPLE_MAC_AT)?,
            ciphertext: bytes.get(SIMPLE_OVERHEAD..)?,
        })
    }

    /// Writes this message into `out` (exactly its length).
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        write_simple_head(out, self.sender_id, self.nonce, self.mac);
        write_simple_signature(out, self.signature);
        put(out, SIMPLE_OVERHEAD, self.ciphertext);
    }

    /// The Ed25519 signature over [`signed_part`](Self::signed_part).
    #[must_use]
    pub fn signature(&self) -> &'a [u8; SIGNATURE_LEN] {
        self.signature
    }
    /// Everything after the signature: sender id, nonce, mac and ciphertext.
    #[must_use]
    pub fn signed_part(&self) -> &'a [u8] {
        self.signed
    }
    /// The sender's participant id.
    #[must_use]
    pub fn sender_id(&self) -> ParticipantId {
        ParticipantId::from_bytes(*self.sender_id)
    }
    /// The XSalsa20 nonce.
    #[must_use]
    pub fn nonce(&self) -> &'a [u8; NONCE_LEN] {
        self.nonce
    }
    /// The Poly1305 tag.
    #[must_use]
    pub fn mac(&self) -> &'a [u8; MAC_LEN] {
        self.mac
    }
    /// The ciphertext (as long as the plaintext).
    #[must_use]
    pub fn ciphertext(&self) -> &'a [u8] {
        self.ciphertext
    }
}

/// `i`: a newcomer introduces its signing key and a signed ephemeral X25519 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Introduction<'a> {
    sender_key: &'a [u8; 32],
    signature: &'a [u8; SIGNATURE_LEN],
    encryption_key: &'a [u8; 32],
}

impl<'a> Introduction<'a> {
    /// The view of `bytes`, whose type byte and length [`parse`] checked.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        Some(Introduction {
            sender_key: field(bytes, INTRO_KEY_AT)?,
            signature: field(bytes, INTRO_SIGNATURE_AT)?,
            encryption_key: field(bytes, INTRO_BOX_KEY_AT)?,
        })
    }

    /// Writes this message into `out` (exactly [`INTRODUCTION_LEN`] bytes).
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        write_introduction(out, self.sender_key, self.signature, self.encryption_key);
    }

    /// The newcomer's Ed25519 public key.
    #[must_use]
    pub fn sender_key(&self) -> PublicKey {
        PublicKey::from_bytes(*self.sender_key)
    }
    /// The newcomer's participant id, computed with the backend's SHA-256.
    #[must_use]
    pub fn sender_id<B: crate::Backend>(&self) -> ParticipantId {
        B::participant_id(&self.sender_key())
    }
    /// The signature of [`encryption_key`](Self::encryption_key) under
    /// [`sender_key`](Self::sender_key).
    #[must_use]
    pub fn signature(&self) -> &'a [u8; SIGNATURE_LEN] {
        self.signature
    }
    /// The newcomer's ephemeral X25519 key, to seal the topic key to.
    #[must_use]
    pub fn encryption_key(&self) -> BoxPublicKey {
        BoxPublicKey::from_bytes(*self.encryption_key)
    }
}

/// `r`: the topic key, sealed to a newcomer's ephemeral key.
///
/// Nothing in a classic reply is signed: [`sender_key`](Self::sender_key) is a claim,
/// not a proof (see the crate docs' security notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntroductionReply<'a> {
    recipient_id: &'a [u8; 16],
    nonce: &'a [u8; NONCE_LEN],
    mac: &'a [u8; MAC_LEN],
    sealed_topic_key: &'a [u8; 32],
    encryption_key: &'a [u8; 32],
    sender_key: &'a [u8; 32],
}

impl<'a> IntroductionReply<'a> {
    /// The view of `bytes`, whose type byte and length [`parse`] checked.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        Some(IntroductionReply {
            recipient_id: field(bytes, REPLY_RECIPIENT_AT)?,
            nonce: field(bytes, REPLY_NONCE_AT)?,
            mac: field(bytes, REPLY_MAC_AT)?,
            sealed_topic_key: field(bytes, REPLY_SEALED_AT)?,
            encryption_key: field(bytes, REPLY_BOX_KEY_AT)?,
            sender_key: field(bytes, REPLY_KEY_AT)?,
        })
    }

    /// Writes this message into `out` (exactly [`REPLY_LEN`] bytes).
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        write_reply(
            out,
            &ReplyFields {
                recipient_id: self.recipient_id,
                nonce: self.nonce,
                mac: self.mac,
                sealed_topic_key: self.sealed_topic_key,
                encryption_key: self.encryption_key,
                sender_key: self.sender_key,
            },
        );
    }

    /// The id of the newcomer the reply is for.
    #[must_use]
    pub fn recipient_id(&self) -> ParticipantId {
        ParticipantId::from_bytes(*self.recipient_id)
    }
    /// The crypto_box nonce.
    #[must_use]
    pub fn nonce(&self) -> &'a [u8; NONCE_LEN] {
        self.nonce
    }
    /// The Poly1305 tag of the box.
    #[must_use]
    pub fn mac(&self) -> &'a [u8; MAC_LEN] {
        self.mac
    }
    /// The topic key, encrypted.
    #[must_use]
    pub fn sealed_topic_key(&self) -> &'a [u8; 32] {
        self.sealed_topic_key
    }
    /// The replier's ephemeral X25519 key.
    #[must_use]
    pub fn encryption_key(&self) -> BoxPublicKey {
        BoxPublicKey::from_bytes(*self.encryption_key)
    }
    /// The Ed25519 public key the replier claims (unsigned).
    #[must_use]
    pub fn sender_key(&self) -> PublicKey {
        PublicKey::from_bytes(*self.sender_key)
    }
}

/// Lays out a simple message's head in `out` (the whole message): its type byte,
/// sender id, nonce and tag. The ciphertext is sealed in place at [`SIMPLE_OVERHEAD`],
/// and the signature, over everything from [`SIMPLE_SIGNED_START`], is put in last
/// ([`write_simple_signature`]).
pub(crate) fn write_simple_head(
    out: &mut [u8],
    sender_id: &[u8; 16],
    nonce: &[u8; NONCE_LEN],
    mac: &[u8; MAC_LEN],
) {
    put(out, 0, &[SIMPLE_TYPE]);
    put(out, SIMPLE_SENDER_AT, sender_id);
    put(out, SIMPLE_NONCE_AT, nonce);
    put(out, SIMPLE_MAC_AT, mac);
}

/// Puts a simple message's signature in place.
pub(crate) fn write_simple_signature(out: &mut [u8], signature: &[u8; SIGNATURE_LEN]) {
    put(out, SIMPLE_SIGNATURE_AT, signature);
}

/// Lays out an introduction in `out` (exactly [`INTRODUCTION_LEN`] bytes).
pub(crate) fn write_introduction(
    out: &mut [u8],
    sender_key: &[u8; 32],
    signature: &[u8; SIGNATURE_LEN],
    encryption_key: &[u8; 32],
) {
    put(out, 0, &[INTRODUCTION_TYPE]);
    put(out, INTRO_KEY_AT, sender_key);
    put(out, INTRO_SIGNATURE_AT, signature);
    put(out, INTRO_BOX_KEY_AT, encryption_key);
}

/// The fields of a reply, in wire order.
pub(crate) struct ReplyFields<'f> {
    pub(crate) recipient_id: &'f [u8; 16],
    pub(crate) nonce: &'f [u8; NONCE_LEN],
    pub(crate) mac: &'f [u8; MAC_LEN],
    pub(crate) sealed_topic_key: &'f [u8; 32],
    pub(crate) encryption_key: &'f [u8; 32],
    pub(crate) sender_key: &'f [u8; 32],
}

/// Lays out a reply in `out` (exactly [`REPLY_LEN`] bytes).
pub(crate) fn write_reply(out: &mut [u8], fields: &ReplyFields<'_>) {
    put(out, 0, &[REPLY_TYPE]);
    put(out, REPLY_RECIPIENT_AT, fields.recipient_id);
    put(out, REPLY_NONCE_AT, fields.nonce);
    put(out, REPLY_MAC_AT, fields.mac);
    put(out, REPLY_SEALED_AT, fields.sealed_topic_key);
    put(out, REPLY_BOX_KEY_AT, fields.encryption_key);
    put(out, REPLY_KEY_AT, fields.sender_key);
}
