//! One door in: [`Topic::receive`] takes every inbound message, of either wire format,
//! and says what arrived ([`Inbound`]); an error is a refusal, never a routing hint.
//!
//! What `receive` does with each kind:
//! - a message (classic `s`, v2 `m`) is verified and opened, as
//!   [`Topic::decode`] does: [`Inbound::Message`], [`Inbound::Own`] or
//!   [`Inbound::Ignored`], with the same checks, the same refusals, and the same v2
//!   replay window moved;
//! - a rekey (v2) is taken, as [`Topic::accept_rekey`] takes it:
//!   [`Inbound::Rekey`] with its [`RekeyOutcome`](crate::v2::RekeyOutcome). It needs no
//!   decision of the application: it is accepted only from a trusted admin's
//!   signature, as a message is only from a trusted sender's;
//! - an introduction is checked (its signature by the key it carries) and reported,
//!   [`Inbound::Introduction`]: whether to trust the newcomer is the application's
//!   decision, so nothing changes; it answers with
//!   [`construct_reply`](Topic::construct_reply) (or `construct_reply_into`) on the
//!   same bytes;
//! - a reply is reported, [`Inbound::Reply`], and nothing changes: the application
//!   takes it with [`parse_reply`](Topic::parse_reply) on the same bytes.
//!
//! Why a reply is carried rather than taken: taking it installs a topic key, and
//! the topic is not always the one that can, or should, decide which key. A classic
//! reply is not signed (anyone who saw the introduction can answer it with a key of
//! its own), so a newcomer that gets several may look at each ([`KeyOffer`] names
//! the replier each claims to be) and take the one it wants; and the introduction a
//! reply answers may be held outside the topic (the command's `intro` and
//! `accept-reply` keep its secret in a file, between two processes), where the topic
//! itself would only refuse it. A v2 reply whose replier is not trusted needs a
//! decision too ([`Error::UntrustedReplier`] from `parse_reply`). Every reply goes
//! to the same call, so an application has one rule: discovery messages are reported,
//! and it answers or accepts them; everything signed by someone it trusts is taken.
//!
//! The seed-shaped calls ([`Topic::decode`] and its twins, [`Topic::parse_reply`],
//! [`Topic::accept_rekey`], [`Topic::construct_reply`]) keep their behaviour:
//! `receive` is routing in front of them, and gives what they give.

use core::fmt;

use crate::backend::{Backend, Identity};
use crate::v2::capacity::Capacity;
use crate::wire::Message;
use crate::{DecodeMode, Decoded, Error, Fingerprint, ParticipantId, PublicKey, Topic, TrustStore};

/// Which wire format a message came in.
///
/// ```
/// use stringphone_core::inbound::WireFormat;
/// assert_ne!(WireFormat::Classic, WireFormat::V2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// The original's format (the Python stringphone's).
    Classic,
    /// Protocol v2 (first byte `0x02`; see [`crate::v2`]).
    V2,
}

/// An introduction that arrived: a newcomer asking for the topic key. Its signature
/// by the key it carries was checked; whether to trust that key is the
/// application's decision (compare [`fingerprint`](Self::fingerprint) out of band,
/// then [`Topic::add_participant`] and [`Topic::construct_reply`] on
/// [`as_bytes`](Self::as_bytes)).
///
/// ```
/// use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
/// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
/// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
/// let intro = bob.construct_intro().unwrap();
/// let Ok(Inbound::Introduction(newcomer)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
/// assert_eq!(newcomer.public_key(), bob.public_key());
/// assert_eq!(newcomer.id(), bob.id());
/// assert_eq!(newcomer.fingerprint(), bob.id().fingerprint());
/// assert_eq!(newcomer.as_bytes(), &intro[..]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Newcomer<'a> {
    bytes: &'a [u8],
    key: PublicKey,
    id: ParticipantId,
    format: WireFormat,
}

impl<'a> Newcomer<'a> {
    /// The newcomer's Ed25519 public key (its signature on the introduction verified).
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// let Ok(Inbound::Introduction(n)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(n.public_key(), bob.public_key());
    /// ```
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// The newcomer's participant id.
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// let Ok(Inbound::Introduction(n)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(n.id(), bob.id());
    /// ```
    #[must_use]
    pub fn id(&self) -> ParticipantId {
        self.id
    }

    /// What the user compares out of band before trusting the newcomer.
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// let Ok(Inbound::Introduction(n)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(n.fingerprint(), bob.id().fingerprint());
    /// ```
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.id.fingerprint()
    }

    /// The introduction's wire format (a v2 introduction gets a v2 reply).
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic};
    /// # use stringphone_core::inbound::WireFormat;
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// let Ok(Inbound::Introduction(n)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(n.format(), WireFormat::Classic);
    /// ```
    #[must_use]
    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// The introduction's bytes, to hand to [`Topic::construct_reply`].
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// let Ok(Inbound::Introduction(n)) = alice.receive(&intro, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(n.as_bytes(), &intro[..]);
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for Newcomer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Newcomer")
            .field("id", &self.id)
            .field("public_key", &self.key)
            .field("format", &self.format)
            .finish()
    }
}

/// A reply that arrived: someone offering the topic key to the newcomer it answers.
/// Nothing was checked beyond its layout and the topic's protocol setting, and
/// nothing changed: take it with [`Topic::parse_reply`] on
/// [`as_bytes`](Self::as_bytes), which runs every check (see the
/// [module docs](self) for why a reply is not taken by [`Topic::receive`] itself).
///
/// ```
/// use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
/// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
/// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
/// let intro = bob.construct_intro().unwrap();
/// alice.add_participant(bob.public_key()).unwrap();
/// let reply = alice.construct_reply(&intro).unwrap();
/// let Ok(Inbound::Reply(offer)) = bob.receive(&reply, DecodeMode::Strict) else { panic!() };
/// assert_eq!(offer.recipient(), bob.id());
/// assert_eq!(offer.claimed_replier(), alice.public_key());
/// assert!(bob.topic_key().is_none()); // nothing taken yet
/// assert_eq!(bob.parse_reply(offer.as_bytes()).unwrap(), alice.public_key());
/// assert_eq!(bob.topic_key(), alice.topic_key());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyOffer<'a> {
    bytes: &'a [u8],
    recipient: ParticipantId,
    replier: PublicKey,
    format: WireFormat,
}

impl<'a> KeyOffer<'a> {
    /// The participant the reply is for (every participant of a topic sees the
    /// replies to every newcomer: one for another is not ours to take).
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// # alice.add_participant(bob.public_key()).unwrap();
    /// let reply = alice.construct_reply(&bob.construct_intro().unwrap()).unwrap();
    /// let Ok(Inbound::Reply(offer)) = alice.receive(&reply, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(offer.recipient(), bob.id()); // seen by Alice, for Bob
    /// ```
    #[must_use]
    pub fn recipient(&self) -> ParticipantId {
        self.recipient
    }

    /// The Ed25519 key of the replier, as the reply claims it: a claim until
    /// [`Topic::parse_reply`] accepts the reply (a classic reply is never signed, so
    /// even then only as far as the classic format allows; a v2 reply's signature by
    /// this key is checked there).
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// # alice.add_participant(bob.public_key()).unwrap();
    /// let reply = alice.construct_reply(&bob.construct_intro().unwrap()).unwrap();
    /// let Ok(Inbound::Reply(offer)) = bob.receive(&reply, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(offer.claimed_replier(), alice.public_key());
    /// ```
    #[must_use]
    pub fn claimed_replier(&self) -> PublicKey {
        self.replier
    }

    /// The reply's wire format.
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
    /// # use stringphone_core::inbound::WireFormat;
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// # alice.add_participant(bob.public_key()).unwrap();
    /// let reply = alice.construct_reply(&bob.construct_intro().unwrap()).unwrap();
    /// let Ok(Inbound::Reply(offer)) = bob.receive(&reply, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(offer.format(), WireFormat::Classic);
    /// ```
    #[must_use]
    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// The reply's bytes, to hand to [`Topic::parse_reply`].
    ///
    /// ```
    /// # use stringphone_core::{Inbound, DecodeMode, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// # let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// # alice.add_participant(bob.public_key()).unwrap();
    /// let reply = alice.construct_reply(&bob.construct_intro().unwrap()).unwrap();
    /// let Ok(Inbound::Reply(offer)) = bob.receive(&reply, DecodeMode::Strict) else { panic!() };
    /// assert_eq!(offer.as_bytes(), &reply[..]);
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for KeyOffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes hold the sealed key: sealed, but nothing a log needs.
        f.debug_struct("KeyOffer")
            .field("recipient", &self.recipient)
            .field("claimed_replier", &self.replier)
            .field("format", &self.format)
            .finish()
    }
}

/// What [`Topic::receive`] found in the bytes it was handed, when it did not refuse
/// them. Each variant carries what the next step needs.
///
/// `'a` is the lifetime of the received bytes (an introduction and a reply are
/// views of them); `P` is the plaintext: a `Vec<u8>` from [`Topic::receive`], a
/// slice of the caller's buffer from [`Topic::receive_into`] and
/// [`Topic::receive_in_place`].
///
/// Its `Debug` prints a plaintext's length, never its bytes.
///
/// ```
/// use stringphone_core::{DecodeMode, Inbound, SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
/// let key = TopicKey::from_bytes([1; 32]);
/// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
/// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), Some(key));
/// bob.add_participant(alice.public_key()).unwrap();
/// let wire = alice.encode("a secret").unwrap();
/// let inbound = bob.receive(&wire, DecodeMode::Strict).unwrap();
/// assert!(!format!("{inbound:?}").contains("a secret"));
/// assert_eq!(inbound.plaintext().unwrap(), b"a secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inbound<'a, P> {
    /// A message, verified and opened, as [`Topic::decode`] gives it
    /// ([`Decoded::Message`]).
    Message {
        /// The sender's participant id.
        sender: ParticipantId,
        /// True when the signature was checked against the sender's trusted key;
        /// false in [`DecodeMode::Naive`], where `sender` is only a claim.
        verified: bool,
        /// The plaintext.
        plaintext: P,
    },
    /// A message, introduction or rekey naming this participant as its sender: an
    /// echo of something we sent (or sent by another process of our identity).
    /// Nothing was checked or changed.
    Own,
    /// [`DecodeMode::IgnoreUntrusted`] met a message from a sender that is not
    /// trusted. Nothing was checked or changed.
    Ignored {
        /// The untrusted sender's id.
        sender: ParticipantId,
    },
    /// An introduction, its signature checked: a newcomer asks for the key. Nothing
    /// changed; the application decides whether to trust it and answers with
    /// [`Topic::construct_reply`].
    Introduction(Newcomer<'a>),
    /// A reply to an introduction. Nothing changed; [`Topic::parse_reply`] takes it.
    Reply(KeyOffer<'a>),
    /// A v2 rekey, taken as [`Topic::accept_rekey`] takes it (saved to the store
    /// before it took effect).
    #[cfg(feature = "v2-protocol")]
    Rekey {
        /// The admin that rotated.
        admin: ParticipantId,
        /// What the rekey did.
        outcome: crate::v2::RekeyOutcome,
    },
}

impl<P> Inbound<'_, P> {
    /// The plaintext, if this is a message.
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, Inbound, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// let wire = alice.encode("hi").unwrap();
    /// // Our own echo: no plaintext.
    /// assert_eq!(alice.receive(&wire, DecodeMode::Strict).unwrap().plaintext(), None);
    /// ```
    #[must_use]
    pub fn plaintext(self) -> Option<P> {
        match self {
            Inbound::Message { plaintext, .. } => Some(plaintext),
            _ => None,
        }
    }
}

impl<'a, P> From<Decoded<P>> for Inbound<'a, P> {
    fn from(decoded: Decoded<P>) -> Self {
        match decoded {
            Decoded::Message {
                sender,
                verified,
                plaintext,
            } => Inbound::Message {
                sender,
                verified,
                plaintext,
            },
            Decoded::Own => Inbound::Own,
            Decoded::Ignored { sender } => Inbound::Ignored { sender },
        }
    }
}

impl<P: AsRef<[u8]>> fmt::Debug for Inbound<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inbound::Message {
                sender,
                verified,
                plaintext,
            } => f
                .debug_struct("Message")
                .field("sender", sender)
                .field("verified", verified)
                .field("plaintext_len", &plaintext.as_ref().len())
                .finish_non_exhaustive(),
            Inbound::Own => f.write_str("Own"),
            Inbound::Ignored { sender } => {
                f.debug_struct("Ignored").field("sender", sender).finish()
            }
            Inbound::Introduction(newcomer) => {
                f.debug_tuple("Introduction").field(newcomer).finish()
            }
            Inbound::Reply(offer) => f.debug_tuple("Reply").field(offer).finish(),
            #[cfg(feature = "v2-protocol")]
            Inbound::Rekey { admin, outcome } => f
                .debug_struct("Rekey")
                .field("admin", admin)
                .field("outcome", outcome)
                .finish(),
        }
    }
}

/// What [`Topic::receive`] settles without the decode path (which takes messages).
/// It holds no borrow of the bytes, which the caller attaches: the in-place twin
/// must be free to hand its buffer to the decode path instead.
enum Settled {
    /// Our own introduction or rekey.
    Own,
    Introduction {
        key: PublicKey,
        id: ParticipantId,
        format: WireFormat,
    },
    Reply {
        recipient: ParticipantId,
        replier: PublicKey,
        format: WireFormat,
    },
    /// A rekey of another admin, to take.
    #[cfg(feature = "v2-protocol")]
    Rekey(ParticipantId),
}

/// Whether `bytes` name a message (classic `s`, v2 `m`) by their type bytes: the hot
/// path goes straight to decoding, which parses and checks them itself.
fn names_a_message(bytes: &[u8]) -> bool {
    match bytes {
        [crate::wire::SIMPLE_TYPE, ..] => true,
        [crate::v2::wire::VERSION, t, ..] => *t == crate::v2::wire::V2Type::Message.byte(),
        _ => false,
    }
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Takes any inbound message, of either wire format, and says what it was; an
    /// error is a refusal, and every refusal leaves the topic as it was. The plaintext
    /// of a message comes back in a new `Vec` ([`receive_into`](Self::receive_into)
    /// writes it into a buffer instead).
    ///
    /// `mode` applies to messages, as in [`decode`](Self::decode). Per kind (the
    /// [module docs](crate::inbound) say why each is taken or carried):
    /// - a message gives what [`decode`](Self::decode) gives, with the same checks in
    ///   the same order and the same refusals;
    /// - a rekey is taken as [`accept_rekey`](Self::accept_rekey) takes it, with its
    ///   checks and refusals ([`Inbound::Rekey`]); one sent by this identity is
    ///   [`Inbound::Own`];
    /// - an introduction's signature by the key it carries is checked
    ///   ([`Error::BadSignature`]; a v2 one's for this topic, [`Error::NoTopicId`]
    ///   without a topic id), and it is reported ([`Inbound::Introduction`]); one
    ///   carrying this identity's key is [`Inbound::Own`];
    /// - a reply is reported ([`Inbound::Reply`]).
    ///
    /// Every kind is first parsed ([`Error::Malformed`], [`Error::UnknownType`],
    /// [`Error::UnknownSuite`]) and checked against the protocol setting
    /// ([`Error::ProtocolRefused`]), as `decode` checks it.
    ///
    /// The one-call loop of an application:
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, Inbound, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let mut channel = vec![bob.construct_intro().unwrap().to_vec()];
    /// let mut shown = Vec::new();
    /// while let Some(bytes) = channel.pop() {
    ///     for (me, other) in [(&mut alice, "alice"), (&mut bob, "bob")] {
    ///         match me.receive(&bytes, DecodeMode::Strict) {
    ///             Ok(Inbound::Message { plaintext, .. }) => shown.push((other, plaintext)),
    ///             Ok(Inbound::Introduction(newcomer)) => {
    ///                 // Here a user compares newcomer.fingerprint() out of band.
    ///                 me.add_participant(newcomer.public_key()).unwrap();
    ///                 channel.push(me.construct_reply(&bytes).unwrap().to_vec());
    ///             }
    ///             Ok(Inbound::Reply(offer)) if offer.recipient() == me.id() => {
    ///                 let replier = me.parse_reply(&bytes).unwrap();
    ///                 me.add_participant(replier).unwrap();
    ///                 channel.push(me.encode("thanks").unwrap());
    ///             }
    ///             Ok(_) => {} // our own echo, a reply for another, an ignored sender
    ///             Err(refused) => panic!("{refused}"),
    ///         }
    ///     }
    /// }
    /// assert_eq!(shown, [("alice", b"thanks".to_vec())]);
    /// ```
    #[cfg(feature = "alloc")]
    pub fn receive<'a>(
        &mut self,
        bytes: &'a [u8],
        mode: DecodeMode,
    ) -> Result<Inbound<'a, alloc::vec::Vec<u8>>, Error> {
        match self.route(bytes)? {
            None => self.decode(bytes, mode).map(Inbound::from),
            Some(settled) => self.settle(bytes, settled),
        }
    }

    /// [`receive`](Self::receive) without a heap: a message's plaintext is written
    /// into `out` (which needs the ciphertext's length: `bytes.len() - 121` for a
    /// classic message, `- 127` for a v2 one; [`Error::BufferTooSmall`] otherwise,
    /// after every check but decryption, as [`decode_into`](Self::decode_into)), and
    /// comes back as a slice of it. Everything else as `receive`.
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, FixedTrustStore, Inbound, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut alice = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([2; 32]), Some(key.clone()), FixedTrustStore::<4>::new());
    /// let mut bob = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([3; 32]), Some(key), FixedTrustStore::<4>::new());
    /// bob.add_participant(alice.public_key()).unwrap();
    /// let mut wire = [0u8; 121 + 5];
    /// let n = alice.encode_into(&mut rand_core::OsRng, b"hello", &mut wire).unwrap();
    /// let mut out = [0u8; 64];
    /// match bob.receive_into(&wire[..n], DecodeMode::Strict, &mut out).unwrap() {
    ///     Inbound::Message { sender, plaintext, .. } => {
    ///         assert_eq!(sender, alice.id());
    ///         assert_eq!(plaintext, b"hello");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn receive_into<'a, 'o>(
        &mut self,
        bytes: &'a [u8],
        mode: DecodeMode,
        out: &'o mut [u8],
    ) -> Result<Inbound<'a, &'o mut [u8]>, Error> {
        match self.route(bytes)? {
            None => self.decode_into(bytes, mode, out).map(Inbound::from),
            Some(settled) => self.settle(bytes, settled),
        }
    }

    /// [`receive`](Self::receive) without a heap and without a second buffer: a
    /// message is decrypted where it lies, as [`decode_in_place`](Self::decode_in_place)
    /// does, and its plaintext is the returned slice of `message`; a refused message
    /// leaves `message` unchanged. Everything else as `receive` (an introduction and a
    /// reply are views of `message`).
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, FixedTrustStore, Inbound, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut alice = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([2; 32]), Some(key.clone()), FixedTrustStore::<4>::new());
    /// let mut bob = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([3; 32]), Some(key), FixedTrustStore::<4>::new());
    /// bob.add_participant(alice.public_key()).unwrap();
    /// let mut wire = [0u8; 121 + 5];
    /// alice.encode_into(&mut rand_core::OsRng, b"hello", &mut wire).unwrap();
    /// let Inbound::Message { plaintext, .. } = bob.receive_in_place(&mut wire, DecodeMode::Strict).unwrap() else { panic!() };
    /// assert_eq!(plaintext, b"hello");
    /// ```
    pub fn receive_in_place<'m>(
        &mut self,
        message: &'m mut [u8],
        mode: DecodeMode,
    ) -> Result<Inbound<'m, &'m mut [u8]>, Error> {
        match self.route(message)? {
            None => self.decode_in_place(message, mode).map(Inbound::from),
            Some(settled) => self.settle(message, settled),
        }
    }

    /// Everything but a message: reported as it is, or (a rekey) taken.
    fn settle<'a, P>(
        &mut self,
        bytes: &'a [u8],
        settled: Settled,
    ) -> Result<Inbound<'a, P>, Error> {
        Ok(match settled {
            Settled::Own => Inbound::Own,
            Settled::Introduction { key, id, format } => Inbound::Introduction(Newcomer {
                bytes,
                key,
                id,
                format,
            }),
            Settled::Reply {
                recipient,
                replier,
                format,
            } => Inbound::Reply(KeyOffer {
                bytes,
                recipient,
                replier,
                format,
            }),
            #[cfg(feature = "v2-protocol")]
            Settled::Rekey(admin) => Inbound::Rekey {
                admin,
                outcome: self.accept_rekey(bytes)?,
            },
        })
    }

    /// Parses `bytes` and checks them against the protocol setting, in
    /// [`decode`](Self::decode)'s order: `None` for a message (the decode path takes
    /// it), otherwise what the bytes are. Changes nothing (beyond loading the stored
    /// group state, as every call does first).
    fn route(&mut self, bytes: &[u8]) -> Result<Option<Settled>, Error> {
        if names_a_message(bytes) {
            return Ok(None);
        }
        self.load_state()?;
        let settled = match Message::parse(bytes)? {
            Message::V2(m) => return self.route_v2_inbound(m),
            _ if !self.accepts_classic() => return Err(self.refusal(1)),
            Message::Simple(_) => return Ok(None),
            Message::Introduction(intro) => {
                let key = intro.sender_key();
                let id = B::participant_id(&key);
                if id == self.id() {
                    return Ok(Some(Settled::Own));
                }
                crate::verify_signature::<B>(
                    &key,
                    intro.encryption_key().as_bytes(),
                    intro.signature(),
                )?;
                Settled::Introduction {
                    key,
                    id,
                    format: WireFormat::Classic,
                }
            }
            Message::IntroductionReply(reply) => Settled::Reply {
                recipient: reply.recipient_id(),
                replier: reply.sender_key(),
                format: WireFormat::Classic,
            },
        };
        Ok(Some(settled))
    }

    /// [`route`](Self::route) of a v2 message: refused without `v2`.
    #[cfg(not(feature = "v2-protocol"))]
    fn route_v2_inbound(
        &self,
        _: crate::v2::wire::V2Message<'_>,
    ) -> Result<Option<Settled>, Error> {
        Err(self.refusal(2))
    }

    /// [`route`](Self::route) of a v2 message: the protocol setting, the topic id,
    /// then by type. Never inlined: an introduction's signature check runs under
    /// this small frame.
    #[cfg(feature = "v2-protocol")]
    #[inline(never)]
    fn route_v2_inbound(
        &self,
        m: crate::v2::wire::V2Message<'_>,
    ) -> Result<Option<Settled>, Error> {
        use crate::v2::wire::V2Type;
        if !self.v2.protocol.accepts_v2() {
            return Err(self.refusal(2));
        }
        let topic = self.v2.topic_for(&m)?;
        let sender = m.header().sender_id();
        let settled = match (m.header().message_type(), m.identity()) {
            (V2Type::Message, _) => return Ok(None),
            (V2Type::Introduction, Some(key)) => {
                // An echo is recognised by the key it carries, as a classic one is.
                if B::participant_id(&key) == self.id() {
                    return Ok(Some(Settled::Own));
                }
                let key = crate::v2::discovery::check_self_signed::<B>(&topic, &m)?;
                Settled::Introduction {
                    key,
                    id: sender,
                    format: WireFormat::V2,
                }
            }
            (V2Type::Reply, Some(replier)) => match m.recipient_id() {
                Some(recipient) => Settled::Reply {
                    recipient,
                    replier,
                    format: WireFormat::V2,
                },
                None => return Err(malformed(&m)),
            },
            (V2Type::Rekey, _) if sender == self.id() => Settled::Own,
            (V2Type::Rekey, _) => Settled::Rekey(sender),
            // A parsed introduction and reply always carry a key.
            (V2Type::Introduction | V2Type::Reply, None) => return Err(malformed(&m)),
        };
        Ok(Some(settled))
    }
}

/// The refusal of a v2 message whose parsed body lacks a field its type has (no
/// parsed message does; said as a refusal rather than assumed).
#[cfg(feature = "v2-protocol")]
fn malformed(m: &crate::v2::wire::V2Message<'_>) -> Error {
    Error::Malformed {
        message_type: Some(crate::wire::MessageType::V2(m.header().message_type())),
        len: m.as_bytes().len(),
    }
}
