//! The one error type of the protocol.

use core::fmt;

use crate::trust::StoreError;
use crate::wire::MessageType;
use crate::{ParticipantId, PublicKey};

/// Everything that can go wrong in stringphone, one case per reason, in groups
/// ([`Error::kind`]): parse, trust and signature, replay, state, then crypto, store
/// and usage. Errors are values: `Clone` and `PartialEq`, so a test compares them
/// (`assert_eq!(err, Error::BadSignature)`), not their `Debug` strings.
///
/// The cases of the original's exceptions keep their meaning: `UntrustedKeyError` is
/// [`Error::UntrustedSender`], `IntroductionError` is [`Error::Introduction`],
/// `IntroductionReplyError` is [`Error::IntroductionReply`], `BadSignatureError` is
/// [`Error::BadSignature`], `MissingTopicKeyError` is [`Error::MissingTopicKey`] and
/// `MalformedMessageError` is [`Error::Malformed`].
///
/// Every call that returns an `Error` has left the topic (its key, its trust store,
/// its pending introduction) exactly as it was.
///
/// ```
/// use stringphone_core::{Error, Message};
/// let err = Error::from(Message::parse(b"x").unwrap_err());
/// assert_eq!(err, Error::UnknownType(b'x'));
/// assert_eq!(err.to_string(), "unknown message type byte 0x78");
/// ```
///
/// Each cause is said once: an error that has a cause ([`Error::Store`]) says what
/// failed in its `Display` and hands the cause on as its `source()`, so a program
/// that prints the chain (as `anyhow` and `eyre` do) prints every part once:
///
/// ```
/// use std::error::Error as _;
/// use stringphone_core::{Error, StoreError};
/// let disk = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
/// let err = Error::from(StoreError::new(disk));
/// let mut chain = vec![err.to_string()];
/// let mut cause = err.source();
/// while let Some(c) = cause {
///     chain.push(c.to_string());
///     cause = c.source();
/// }
/// assert_eq!(chain.join(": "), "the trust store failed: disk full");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // ----- parse: the bytes are not a message (ErrorKind::Parse) -----------------------
    /// The message's length does not fit its type (or it is empty).
    Malformed {
        /// The type named by the first byte; `None` for an empty message.
        message_type: Option<MessageType>,
        /// The length received.
        len: usize,
    },
    /// The first byte names no message type this topic speaks.
    UnknownType(u8),
    /// A v2 message names a cipher suite this implementation does not have.
    UnknownSuite(u8),
    /// A discovery step was handed a message of another type.
    WrongType {
        /// The type the step takes.
        expected: MessageType,
        /// The type it was handed.
        found: MessageType,
    },

    // ----- trust and signature: who sent it (ErrorKind::Trust) -----------------------
    /// The sender is not in the trust store (strict decoding, or a reply asked for an
    /// introduction whose sender is not trusted yet).
    UntrustedSender(ParticipantId),
    /// The Ed25519 signature does not verify under the sender's key, by the one
    /// verification rule (see [`crate::rule`]).
    BadSignature,
    /// The bytes are not a public key that can ever verify a signature under the rule:
    /// not a canonical point encoding, not on the curve, or of small order.
    InvalidPublicKey,
    /// The reply is addressed to another participant.
    NotForUs {
        /// The participant the reply is for.
        recipient: ParticipantId,
    },
    /// The v2 reply is genuine but its replier is not trusted: compare its
    /// fingerprint out of band, trust it, and parse the reply again. Nothing was
    /// installed.
    UntrustedReplier {
        /// The replier's Ed25519 public key (its signature on the reply verified).
        key: PublicKey,
        /// Its participant id; `id.fingerprint()` is what the user compares.
        id: ParticipantId,
    },
    /// The sender is not a member of the message's epoch (v2): it was left out of the
    /// rotation that started it.
    NotAMember(ParticipantId),
    /// Only an admin may rotate, and rekeys are accepted only from admins.
    NotAnAdmin(ParticipantId),

    // ----- replay: seen before, or too old to tell (ErrorKind::Replay) ---------------
    /// This (sender, counter) was accepted before, or is too old to tell (v2).
    Replayed {
        /// The sender.
        sender: ParticipantId,
        /// The counter.
        counter: u64,
        /// True when the counter is below the replay window (or the mark restored
        /// after a restart) rather than seen in it.
        too_old: bool,
    },
    /// The message's counter is above
    /// [`LAST_COUNTER`](crate::v2::replay::LAST_COUNTER) (v2): no sender of this library
    /// uses it, and no stored mark could keep it from being replayed after a restart.
    CounterOutOfRange {
        /// The sender.
        sender: ParticipantId,
        /// The counter.
        counter: u64,
    },
    /// The v2 reply answers another introduction than the one pending.
    StaleReply,

    // ----- state: what this topic holds does not allow it (ErrorKind::State) ---------
    /// The operation needs the topic key and this topic has none yet.
    MissingTopicKey,
    /// `parse_reply` was called on a topic that has sent no introduction (or whose
    /// discovery already completed).
    NoPendingIntroduction,
    /// The topic's protocol setting refuses this wire format (a v2-only topic refuses
    /// every classic message; a classic topic refuses v2).
    ProtocolRefused {
        /// The version of the refused message: 1 for classic, 2 for v2.
        version: u8,
        /// What the topic accepts.
        accepts: crate::v2::ProtocolVersion,
    },
    /// The v2 message is of another cipher suite than this topic's
    /// ([`crate::v2::Suite`]): a topic speaks the one its id names.
    SuiteMismatch {
        /// The topic's suite byte.
        topic: u8,
        /// The message's.
        message: u8,
    },
    /// The message is sealed under an epoch this topic does not hold (v2).
    UnknownEpoch(u32),
    /// The rekey, reply or restored state does not extend the epoch this topic holds:
    /// it would move it backwards, or sideways to another chain.
    EpochMismatch {
        /// The epoch this topic holds.
        current: u32,
        /// The rekey's epoch.
        got: u32,
    },
    /// The identity has no static X25519 key (a signer that does not expose its seed,
    /// such as an HSM), so rekeys cannot be opened for it.
    NoStaticKey,
    /// This identity's v2 counter reached its end (2^64 messages).
    CounterExhausted,
    /// A v2 operation on a topic whose id is not set
    /// ([`crate::Topic::set_topic_id`]).
    NoTopicId,
    /// The group state (stored, or handed to
    /// [`crate::Topic::restore_group_state`]) belongs to another topic.
    TopicMismatch,
    /// The group state is an older copy of the epoch this topic holds (a lower
    /// generation): taking it could bring back what was changed since.
    StaleState {
        /// The topic's generation.
        current: u64,
        /// The state's.
        got: u64,
    },
    /// Bytes that are not a group state this version can read
    /// ([`crate::v2::GroupState::from_bytes`]); the reason says which rule failed.
    InvalidState(&'static str),
    /// A v2 list of a topic with fixed capacities ([`crate::v2::Fixed`]) is full: the
    /// change that needed one more entry was refused, and nothing changed.
    CapacityExceeded {
        /// The list: "members", "admins", "senders", "replay floors".
        list: &'static str,
        /// How many entries it holds.
        capacity: usize,
    },

    // ----- crypto: a primitive refused or failed (ErrorKind::Crypto) -----------------
    /// The authenticated ciphertext does not open under the key (topic key, or the
    /// discovery box).
    DecryptFailed,
    /// The cipher refused to seal (it cannot, for any length a slice can have; the
    /// case exists so that a future cipher's refusal is an error, not a panic).
    EncryptFailed,
    /// The signer (an HSM, say) refused to sign.
    SigningFailed,
    /// The random number generator failed to produce bytes.
    Rng,

    // ----- store (ErrorKind::Store) --------------------------------------------------
    /// The trust store failed; its own error is the source.
    Store(StoreError),

    // ----- usage: the call does not fit the message or buffer (ErrorKind::Usage) -----
    /// A caller's buffer cannot hold the result.
    BufferTooSmall {
        /// Bytes the result needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A rotation may list at most [`crate::v2::wire::MAX_MEMBERS`] members.
    TooManyMembers(usize),
    /// `decode` was handed an introduction: run the discovery step
    /// ([`crate::Topic::construct_reply`]) instead.
    Introduction,
    /// `decode` was handed an introduction reply: run
    /// [`crate::Topic::parse_reply`] instead.
    IntroductionReply,
    /// `decode` was handed a v2 rekey: feed it to [`crate::Topic::accept_rekey`].
    Rekey,
}

/// Which group an [`Error`] belongs to ([`Error::kind`]): what a caller usually
/// decides on (drop the message, alert, retry, fix the call) without naming every
/// case.
///
/// ```
/// use stringphone_core::{Error, ErrorKind, Message};
/// assert_eq!(Error::from(Message::parse(b"").unwrap_err()).kind(), ErrorKind::Parse);
/// assert_eq!(Error::BadSignature.kind(), ErrorKind::Trust);
/// assert_eq!(Error::StaleReply.kind(), ErrorKind::Replay);
/// assert_eq!(Error::MissingTopicKey.kind(), ErrorKind::State);
/// assert_eq!(Error::DecryptFailed.kind(), ErrorKind::Crypto);
/// assert_eq!(Error::BufferTooSmall { needed: 2, available: 1 }.kind(), ErrorKind::Usage);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a message this topic can read: length, type, suite
    /// ([`Error::Malformed`], [`Error::UnknownType`], [`Error::UnknownSuite`],
    /// [`Error::WrongType`]).
    Parse,
    /// The sender is not trusted, not a member or not an admin, or its signature or
    /// key fails the rule.
    Trust,
    /// The message was accepted before, is too old to tell, or answers another
    /// introduction.
    Replay,
    /// The topic's state does not allow the call: no key, no pending introduction, the
    /// protocol setting, another epoch or topic, a full list, an invalid group state.
    State,
    /// A primitive refused: the box or cipher does not open or seal, the signer or the
    /// RNG failed.
    Crypto,
    /// The trust store failed ([`Error::Store`]).
    Store,
    /// The call does not fit: a buffer too small, too many members, or a message that
    /// another call takes ([`Error::Introduction`], [`Error::IntroductionReply`],
    /// [`Error::Rekey`]).
    Usage,
}

impl Error {
    /// The group this error belongs to.
    ///
    /// ```
    /// use stringphone_core::{Error, ErrorKind};
    /// let e = Error::Replayed { sender: stringphone_core::ParticipantId::from_bytes([1; 16]), counter: 7, too_old: false };
    /// assert_eq!(e.kind(), ErrorKind::Replay);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed { .. }
            | Error::UnknownType(_)
            | Error::UnknownSuite(_)
            | Error::WrongType { .. } => ErrorKind::Parse,
            Error::UntrustedSender(_)
            | Error::BadSignature
            | Error::InvalidPublicKey
            | Error::NotForUs { .. }
            | Error::UntrustedReplier { .. }
            | Error::NotAMember(_)
            | Error::NotAnAdmin(_) => ErrorKind::Trust,
            Error::Replayed { .. } | Error::CounterOutOfRange { .. } | Error::StaleReply => {
                ErrorKind::Replay
            }
            Error::MissingTopicKey
            | Error::NoPendingIntroduction
            | Error::ProtocolRefused { .. }
            | Error::SuiteMismatch { .. }
            | Error::UnknownEpoch(_)
            | Error::EpochMismatch { .. }
            | Error::NoStaticKey
            | Error::CounterExhausted
            | Error::NoTopicId
            | Error::TopicMismatch
            | Error::StaleState { .. }
            | Error::InvalidState(_)
            | Error::CapacityExceeded { .. } => ErrorKind::State,
            Error::DecryptFailed | Error::EncryptFailed | Error::SigningFailed | Error::Rng => {
                ErrorKind::Crypto
            }
            Error::Store(_) => ErrorKind::Store,
            Error::BufferTooSmall { .. }
            | Error::TooManyMembers(_)
            | Error::Introduction
            | Error::IntroductionReply
            | Error::Rekey => ErrorKind::Usage,
        }
    }
}

/// Why bytes do not parse as a message: what [`Message::parse`](crate::Message::parse)
/// and [`V2Message::parse`](crate::v2::wire::V2Message::parse) return. Small and
/// `Copy`, like the views they hand out; it becomes the [`Error`] case of the same
/// name through `From` (`?` does it).
///
/// ```
/// use stringphone_core::{Error, Message, ParseError};
/// let err = Message::parse(b"x").unwrap_err();
/// assert_eq!(err, ParseError::UnknownType(b'x'));
/// assert_eq!(err.to_string(), "unknown message type byte 0x78");
/// assert_eq!(Error::from(err), Error::UnknownType(b'x'));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The length does not fit the type (or the message is empty):
    /// [`Error::Malformed`].
    Malformed {
        /// The type named by the first byte(s); `None` when too short to name one.
        message_type: Option<MessageType>,
        /// The length received.
        len: usize,
    },
    /// The first byte (the second, for v2) names no message type:
    /// [`Error::UnknownType`].
    UnknownType(u8),
    /// A v2 message names a cipher suite this implementation does not have:
    /// [`Error::UnknownSuite`].
    UnknownSuite(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Malformed { message_type, len } => match message_type {
                None if len == 0 => f.write_str("malformed message: empty"),
                None => write!(
                    f,
                    "malformed message: {len} bytes, too short to name its type"
                ),
                Some(t) => {
                    let (rule, need) = t.length_rule();
                    write!(
                        f,
                        "malformed message: {t} must be {rule} {need} bytes long, got {len}"
                    )
                }
            },
            ParseError::UnknownType(b) => write!(f, "unknown message type byte 0x{b:02x}"),
            ParseError::UnknownSuite(s) => write!(f, "unknown v2 cipher suite 0x{s:02x}"),
        }
    }
}

impl core::error::Error for ParseError {}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Malformed { message_type, len } => Error::Malformed { message_type, len },
            ParseError::UnknownType(b) => Error::UnknownType(b),
            ParseError::UnknownSuite(s) => Error::UnknownSuite(s),
        }
    }
}

impl fmt::Display for Error {
    // One arm per case, in the enum's order: a table, longer than 60 lines because
    // the enum is; split, a case's message would sit apart from its neighbours'.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Said once, by the parser's error.
            Error::Malformed { message_type, len } => fmt::Display::fmt(
                &ParseError::Malformed {
                    message_type: *message_type,
                    len: *len,
                },
                f,
            ),
            Error::UnknownType(b) => fmt::Display::fmt(&ParseError::UnknownType(*b), f),
            Error::UnknownSuite(s) => fmt::Display::fmt(&ParseError::UnknownSuite(*s), f),
            Error::UntrustedSender(id) => {
                write!(f, "sender {id} is not a trusted participant")
            }
            Error::BadSignature => f.write_str("signature does not verify"),
            Error::MissingTopicKey => f.write_str("this topic has no topic key yet"),
            Error::DecryptFailed => {
                f.write_str("decryption failed: wrong key or tampered ciphertext")
            }
            Error::EncryptFailed => f.write_str("the cipher refused to seal the message"),
            Error::WrongType { expected, found } => {
                write!(f, "expected {expected}, got {found}")
            }
            Error::Introduction => f.write_str("the received message is an introduction"),
            Error::IntroductionReply => {
                f.write_str("the received message is an introduction reply")
            }
            Error::NotForUs { recipient } => {
                write!(f, "the reply is addressed to participant {recipient}")
            }
            Error::NoPendingIntroduction => {
                f.write_str("no introduction is pending: call construct_intro first")
            }
            Error::InvalidPublicKey => f.write_str("not a usable Ed25519 public key"),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: {needed} bytes needed, {available} available"
            ),
            Error::SigningFailed => f.write_str("the signer failed to sign"),
            Error::Rng => f.write_str("the random number generator failed"),
            // The store's own error is the source, printed by whoever walks the chain.
            Error::Store(_) => f.write_str("the trust store failed"),
            Error::ProtocolRefused { version, accepts } => {
                write!(f, "a {accepts:?} topic refuses wire format v{version}")
            }
            Error::Rekey => f.write_str("the received message is a rekey"),
            Error::NotAMember(id) => {
                write!(f, "participant {id} is not a member of the message's epoch")
            }
            Error::UnknownEpoch(e) => write!(f, "no key for epoch {e}"),
            Error::CounterOutOfRange { sender, counter } => write!(
                f,
                "message {counter} of {sender} is beyond the last counter a sender may use"
            ),
            Error::Replayed {
                sender,
                counter,
                too_old,
            } => {
                if *too_old {
                    write!(f, "message {counter} of {sender} is older than the replay window")
                } else {
                    write!(f, "message {counter} of {sender} was already accepted (replay)")
                }
            }
            Error::StaleReply => f.write_str("the reply answers another introduction"),
            Error::UntrustedReplier { id, .. } => write!(
                f,
                "the reply's signer {id} (fingerprint {}) is not trusted; trust it, then parse the reply again",
                id.fingerprint()
            ),
            Error::NotAnAdmin(id) => write!(f, "participant {id} is not an admin of this topic"),
            Error::EpochMismatch { current, got } => write!(
                f,
                "epoch {got} does not extend this topic's epoch {current} (it would move backwards or to another chain)"
            ),
            Error::SuiteMismatch { topic, message } => write!(
                f,
                "a v2 message of cipher suite 0x{message:02x} in a topic of suite 0x{topic:02x} (every participant must derive the topic id in the same suite)"
            ),
            Error::NoStaticKey => f.write_str("this identity has no static X25519 key"),
            Error::TooManyMembers(n) => write!(f, "{n} members is more than a rekey can list"),
            Error::CounterExhausted => f.write_str("this identity's message counter is exhausted"),
            Error::NoTopicId => {
                f.write_str("v2 needs the topic's id: call set_topic_id (every participant the same)")
            }
            Error::TopicMismatch => f.write_str("the group state belongs to another topic"),
            Error::InvalidState(why) => write!(f, "invalid group state: {why}"),
            Error::CapacityExceeded { list, capacity } => write!(
                f,
                "the topic's {list} are full (a fixed capacity of {capacity}): refused, nothing changed"
            ),
            Error::StaleState { current, got } => write!(
                f,
                "the group state is older (change {got}) than this topic's (change {current}) of the same epoch"
            ),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}
