//! Every message on the wire, of either format: [`Message::parse`], where the first
//! byte picks the format (`0x02` is v2, see [`crate::v2::wire`]; anything else is
//! classic, see [`crate::classic::wire`]), the types both formats share, and the
//! bytes of discovery ([`DiscoveryBytes`]).
//!
//! The classic layouts are re-exported here, where they always were.

use core::fmt;

pub use crate::classic::wire::{
    Introduction, IntroductionReply, SimpleMessage, INTRODUCTION_LEN, INTRODUCTION_TYPE, MAC_LEN,
    NONCE_LEN, REPLY_LEN, REPLY_TYPE, SIGNATURE_LEN, SIMPLE_OVERHEAD, SIMPLE_SIGNED_START,
    SIMPLE_TYPE,
};
use crate::{BoxPublicKey, Error, ParseError, ParticipantId, PublicKey, WireFormat};

/// The kinds of message the classic format has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `s`: a message sealed with the topic key and signed by its sender.
    Simple,
    /// `i`: a newcomer's introduction (its signing key and a signed ephemeral X25519 key).
    Introduction,
    /// `r`: the topic key sealed to a newcomer's ephemeral key.
    IntroductionReply,
    /// A v2 message (first byte `0x02`) of the given type.
    V2(crate::v2::wire::V2Type),
}

impl MessageType {
    /// The first byte on the wire (`0x02` for every v2 type).
    ///
    /// ```
    /// use stringphone_core::wire::MessageType;
    /// assert_eq!(MessageType::Simple.byte(), b's');
    /// ```
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            MessageType::Simple => SIMPLE_TYPE,
            MessageType::Introduction => INTRODUCTION_TYPE,
            MessageType::IntroductionReply => REPLY_TYPE,
            MessageType::V2(_) => crate::v2::wire::VERSION,
        }
    }

    /// The type a byte names, if any.
    ///
    /// ```
    /// use stringphone_core::wire::MessageType;
    /// assert_eq!(MessageType::from_byte(b'r'), Some(MessageType::IntroductionReply));
    /// assert_eq!(MessageType::from_byte(b'x'), None);
    /// ```
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            SIMPLE_TYPE => Some(MessageType::Simple),
            INTRODUCTION_TYPE => Some(MessageType::Introduction),
            REPLY_TYPE => Some(MessageType::IntroductionReply),
            _ => None,
        }
    }

    /// `("at least", n)` or `("exactly", n)`: the length rule of this type.
    pub(crate) const fn length_rule(self) -> (&'static str, usize) {
        match self {
            MessageType::Simple => ("at least", SIMPLE_OVERHEAD),
            MessageType::Introduction => ("exactly", INTRODUCTION_LEN),
            MessageType::IntroductionReply => ("exactly", REPLY_LEN),
            MessageType::V2(t) => {
                use crate::v2::wire::{self as w, V2Type};
                match t {
                    V2Type::Message => ("at least", w::MESSAGE_OVERHEAD),
                    V2Type::Introduction => ("exactly", w::INTRODUCTION_LEN),
                    V2Type::Reply => (
                        "379 + 16 per member + 24 per replay floor, at least",
                        w::REPLY_FIXED_LEN,
                    ),
                    V2Type::Rekey => (
                        "177 + 64 per member, at least",
                        w::REKEY_FIXED_LEN + w::REKEY_ENTRY_LEN,
                    ),
                }
            }
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::Simple => "a simple message",
            MessageType::Introduction => "an introduction",
            MessageType::IntroductionReply => "an introduction reply",
            MessageType::V2(t) => return fmt::Display::fmt(t, f),
        })
    }
}

/// A parsed message of any type, borrowing the bytes it was parsed from.
///
/// ```
/// use stringphone_core::{Message, wire::MessageType};
/// let mut intro = [0u8; 129];
/// intro[0] = b'i';
/// let msg = Message::parse(&intro).unwrap();
/// assert_eq!(msg.message_type(), MessageType::Introduction);
/// assert!(Message::parse(&intro[..128]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// `s`: see [`SimpleMessage`].
    Simple(SimpleMessage<'a>),
    /// `i`: see [`Introduction`].
    Introduction(Introduction<'a>),
    /// `r`: see [`IntroductionReply`].
    IntroductionReply(IntroductionReply<'a>),
    /// A v2 message (first byte `0x02`): see [`crate::v2::wire`].
    V2(crate::v2::wire::V2Message<'a>),
}

impl<'a> Message<'a> {
    /// Parses `bytes`: a known type byte ([`ParseError::UnknownType`]) and a length that fits
    /// the type ([`ParseError::Malformed`]: at least 121 bytes for a simple message, exactly
    /// 129 for an introduction and 153 for a reply; trailing bytes are refused).
    ///
    /// A first byte of `0x02` is a v2 message, parsed by
    /// [`V2Message::parse`](crate::v2::wire::V2Message::parse).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        match crate::topic::format_of(bytes) {
            WireFormat::V2 => crate::v2::wire::V2Message::parse(bytes).map(Message::V2),
            _ => crate::classic::wire::parse(bytes),
        }
    }

    /// Which type this message is.
    #[must_use]
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Simple(_) => MessageType::Simple,
            Message::Introduction(_) => MessageType::Introduction,
            Message::IntroductionReply(_) => MessageType::IntroductionReply,
            Message::V2(m) => MessageType::V2(m.header().message_type()),
        }
    }

    /// The sender's id as carried on the wire: classic simple messages and every v2
    /// message (a classic introduction carries the key, whose id
    /// [`Introduction::sender_id`] computes; a classic reply names its recipient, not
    /// its sender).
    #[must_use]
    pub fn sender_id(&self) -> Option<ParticipantId> {
        match self {
            Message::Simple(m) => Some(m.sender_id()),
            Message::V2(m) => Some(m.header().sender_id()),
            _ => None,
        }
    }

    /// The sender's Ed25519 public key: introductions and replies carry it.
    #[must_use]
    pub fn sender_key(&self) -> Option<PublicKey> {
        match self {
            Message::Simple(_) => None,
            Message::Introduction(m) => Some(m.sender_key()),
            Message::IntroductionReply(m) => Some(m.sender_key()),
            Message::V2(m) => m.identity(),
        }
    }

    /// The recipient's id: replies only.
    #[must_use]
    pub fn recipient_id(&self) -> Option<ParticipantId> {
        match self {
            Message::IntroductionReply(m) => Some(m.recipient_id()),
            Message::V2(m) => m.recipient_id(),
            _ => None,
        }
    }

    /// The sender's ephemeral X25519 key: introductions and replies carry it.
    #[must_use]
    pub fn encryption_key(&self) -> Option<BoxPublicKey> {
        match self {
            Message::Simple(_) => None,
            Message::Introduction(m) => Some(m.encryption_key()),
            Message::IntroductionReply(m) => Some(m.encryption_key()),
            Message::V2(m) => m.encryption_key(),
        }
    }

    /// Bytes this message occupies on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Simple(m) => SIMPLE_OVERHEAD + m.ciphertext().len(),
            Message::Introduction(_) => INTRODUCTION_LEN,
            Message::IntroductionReply(_) => REPLY_LEN,
            Message::V2(m) => m.as_bytes().len(),
        }
    }

    /// Writes the message, rebuilt from its typed fields, into `out`; returns its
    /// length ([`Error::BufferTooSmall`] if `out` is shorter than
    /// [`encoded_len`](Self::encoded_len)). Parsing the result gives this view again.
    ///
    /// ```
    /// use stringphone_core::Message;
    /// let mut reply = [0x42u8; 153];
    /// reply[0] = b'r';
    /// let mut out = [0u8; 153];
    /// let n = Message::parse(&reply).unwrap().write_to(&mut out).unwrap();
    /// assert_eq!(&out[..n], &reply[..]);
    /// ```
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, Error> {
        let out = prefix_mut(out, self.encoded_len())?;
        match self {
            Message::Simple(m) => m.write_to(out),
            Message::Introduction(m) => m.write_to(out),
            Message::IntroductionReply(m) => m.write_to(out),
            Message::V2(m) => m.write_to(out),
        }
        Ok(out.len())
    }

    /// The message rebuilt from its typed fields, as a new `Vec`.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; self.encoded_len()];
        // The buffer has exactly `encoded_len` bytes, so this cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
}

/// The output of a call that writes into a buffer sized once it knows the length
/// (a v2 reply, a rekey), given as a `Vec` grown to that length.
#[cfg(feature = "alloc")]
pub(crate) fn grow<'a>(
    bytes: &'a mut alloc::vec::Vec<u8>,
) -> impl FnOnce(usize) -> Result<&'a mut [u8], Error> {
    move |len| {
        bytes.resize(len, 0);
        Ok(&mut bytes[..])
    }
}

/// The `N` bytes at `at`: how both formats' parsers read a field. They checked the
/// total length first, so `None` is unreachable in practice; it is still handled
/// rather than unwrapped.
pub(crate) fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<&[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Puts `bytes` at `at`. The writers are handed buffers of the message's exact
/// length, so every field fits; a short buffer would leave the field unwritten
/// rather than panic.
pub(crate) fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// The first `len` bytes of a caller's buffer, or [`Error::BufferTooSmall`].
pub(crate) fn prefix_mut(out: &mut [u8], len: usize) -> Result<&mut [u8], Error> {
    let available = out.len();
    out.get_mut(..len).ok_or(Error::BufferTooSmall {
        needed: len,
        available,
    })
}

/// The longest introduction or reply [`DiscoveryBytes`] holds on the stack: with
/// `v2`, a v2 introduction (a v2 reply, whose length grows with its member list and
/// replay floors, is held on the heap with `alloc`, and written into a caller's buffer
/// without); without `v2`, a classic reply.
#[cfg(feature = "v2-protocol")]
pub const MAX_DISCOVERY_LEN: usize = crate::v2::wire::INTRODUCTION_LEN;
/// The longest introduction or reply [`DiscoveryBytes`] holds on the stack: with
/// `v2`, a v2 introduction; without `v2`, a classic reply.
#[cfg(not(feature = "v2-protocol"))]
pub const MAX_DISCOVERY_LEN: usize = REPLY_LEN;

// Every classic message of discovery fits, whatever the features.
const _: () = assert!(MAX_DISCOVERY_LEN >= REPLY_LEN && MAX_DISCOVERY_LEN >= INTRODUCTION_LEN);

/// An introduction or a reply, classic or v2. Dereferences to its bytes. Classic
/// messages and v2 introductions are held on the stack; a v2 reply, whose length grows
/// with the replay floors it carries, on the heap.
///
/// ```
/// use stringphone_core::wire::DiscoveryBytes;
/// let d = DiscoveryBytes::from_slice(b"i...").unwrap();
/// assert_eq!(&d[..], b"i...");
/// assert_eq!(d.len(), 4);
/// ```
#[derive(Clone)]
pub struct DiscoveryBytes {
    inner: DiscoveryInner,
}

#[derive(Clone)]
enum DiscoveryInner {
    Stack {
        buf: [u8; MAX_DISCOVERY_LEN],
        len: usize,
    },
    #[cfg(feature = "alloc")]
    Heap(alloc::vec::Vec<u8>),
}

impl DiscoveryBytes {
    /// Copies `bytes` (`None` if longer than [`MAX_DISCOVERY_LEN`]).
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut buf = [0u8; MAX_DISCOVERY_LEN];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(DiscoveryBytes {
            inner: DiscoveryInner::Stack {
                buf,
                len: bytes.len(),
            },
        })
    }

    /// Takes `bytes` of any length (a v2 reply).
    #[cfg(feature = "alloc")]
    pub(crate) fn from_vec(bytes: alloc::vec::Vec<u8>) -> Self {
        DiscoveryBytes {
            inner: DiscoveryInner::Heap(bytes),
        }
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self
    }

    /// What `write` puts in the first bytes of a fresh buffer (it returns how many).
    pub(crate) fn fill(
        write: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<Self, Error> {
        let mut buf = [0u8; MAX_DISCOVERY_LEN];
        let len = write(&mut buf)?;
        Ok(DiscoveryBytes {
            inner: DiscoveryInner::Stack { buf, len },
        })
    }
}

impl core::ops::Deref for DiscoveryBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.inner {
            DiscoveryInner::Stack { buf, len } => &buf[..*len],
            #[cfg(feature = "alloc")]
            DiscoveryInner::Heap(v) => v,
        }
    }
}

impl core::ops::DerefMut for DiscoveryBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.inner {
            DiscoveryInner::Stack { buf, len } => &mut buf[..*len],
            #[cfg(feature = "alloc")]
            DiscoveryInner::Heap(v) => v,
        }
    }
}

impl AsRef<[u8]> for DiscoveryBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for DiscoveryBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for DiscoveryBytes {}

impl PartialEq<[u8]> for DiscoveryBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl fmt::Debug for DiscoveryBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscoveryBytes(")?;
        crate::keys::write_hex(f, self.as_bytes())?;
        f.write_str(")")
    }
}
