//! A participant's view of a topic: its identity, the topic key, whom it trusts; and
//! the entry points of the hot path, where a message is sealed and signed
//! ([`Topic::encode_into`]) or verified and opened ([`Topic::decode_in_place`]).
//!
//! Each entry point is a dispatcher: the one routing point (`format_of` for what
//! comes in, `sending_format` for what goes out) picks the format, whose module does
//! the work: `classic/messages.rs` or `v2/messages.rs`.

mod decoded;
mod participants;
mod state;

use core::fmt;
use core::marker::PhantomData;

use rand_core::CryptoRngCore;

use crate::backend::{Backend, Identity};
use crate::key_cache::KeyCache;
use crate::v2::capacity::{Capacity, DefaultCapacity};
use crate::wire::SIMPLE_OVERHEAD;
use crate::{
    BoxSecret, Error, ParticipantId, PublicKey, SigningSeed, TopicKey, TrustStore, WireFormat,
};

pub(crate) use decoded::SenderTrust;
pub use decoded::{DecodeMode, Decoded};
// Their home is `signatures.rs`; named here too, where they were first published.
pub use crate::signatures::{verify_signature, PreparedKey};

/// The one routing point: the wire format `bytes` are in, told by their first byte
/// (`0x02` is v2; anything else is classic, whose parser judges it). The parser
/// ([`Message::parse`](crate::Message::parse)) and every entry point of [`Topic`]
/// ask here; without the `v2` feature, a v2 message still parses, and the classic
/// path refuses it ([`Error::ProtocolRefused`]).
#[must_use]
pub(crate) fn format_of(bytes: &[u8]) -> WireFormat {
    if bytes.first() == Some(&crate::v2::wire::VERSION) {
        WireFormat::V2
    } else {
        WireFormat::Classic
    }
}

/// One participant in one topic.
///
/// `B` is the crypto backend, `S` the trust store and `I` the signing identity (the
/// backend's own key type unless built with [`Topic::from_identity`]). The facade crate
/// `stringphone` names the usual choice `stringphone::Topic`.
///
/// A `Topic` is `Send + Sync` when its store and identity are, and every method that
/// fails leaves it exactly as it was.
///
/// ```
/// use stringphone_core::{DecodeMode, MemoryTrustStore, SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
///
/// let key = TopicKey::from_bytes([1; 32]);
/// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
/// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), Some(key));
/// bob.add_participant(alice.public_key()).unwrap();
///
/// let wire = alice.encode("Hi Bob!").unwrap();
/// let decoded = bob.decode(&wire, DecodeMode::Strict).unwrap();
/// assert_eq!(decoded.plaintext().unwrap(), b"Hi Bob!");
/// ```
pub struct Topic<
    B: Backend,
    S: TrustStore,
    I: Identity = <B as Backend>::SigningKey,
    C: Capacity = DefaultCapacity,
> {
    identity: I,
    public_key: PublicKey,
    id: ParticipantId,
    topic_key: Option<TopicKey>,
    store: S,
    /// The ephemeral secret behind our last introduction, until a reply is accepted.
    pub(crate) pending_intro: Option<BoxSecret>,
    /// Decompressed keys of trusted participants. The store stays the authority: an
    /// entry is used only while the store still maps its id to the same key.
    verifiers: KeyCache<B>,
    /// Protocol v2: session, counter, epochs, admins, replay windows.
    #[cfg(feature = "v2-protocol")]
    pub(crate) v2: crate::v2::state::V2State<C>,
    backend: PhantomData<fn() -> (B, C)>,
}

#[cfg(feature = "alloc")]
impl<B: Backend> Topic<B, crate::MemoryTrustStore> {
    /// A participant with the identity of `seed` and the topic key if it has one,
    /// trusting nobody yet (the original's `Topic(seed, topic_key)`). The trust store
    /// is in memory; [`with_store`](Topic::with_store) takes any other.
    ///
    /// ```
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// assert_eq!(t.participants().unwrap().count(), 0);
    /// ```
    #[must_use]
    pub fn new(seed: SigningSeed, topic_key: Option<TopicKey>) -> Self {
        Self::with_store(seed, topic_key, crate::MemoryTrustStore::new())
    }

    /// A participant with a fresh random identity (the original's `Topic()`).
    ///
    /// ```
    /// use stringphone_core::Topic;
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::generate(None);
    /// assert!(t.topic_key().is_none());
    /// ```
    #[cfg(feature = "std")]
    #[must_use]
    pub fn generate(topic_key: Option<TopicKey>) -> Self {
        Self::new(SigningSeed::generate(), topic_key)
    }
}

impl<B: Backend, S: TrustStore> Topic<B, S> {
    /// A participant with the identity of `seed`, the topic key if it has one, and a
    /// trust store of your choice (which may already hold participants).
    ///
    /// ```
    /// use stringphone_core::{FixedTrustStore, SigningSeed, Topic};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([2; 32]), None, FixedTrustStore::<8>::new());
    /// assert!(t.topic_key().is_none());
    /// ```
    #[must_use]
    pub fn with_store(seed: SigningSeed, topic_key: Option<TopicKey>, store: S) -> Self {
        Self::from_identity(B::signing_key(&seed), topic_key, store)
    }
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// A participant whose signatures come from `identity`: any [`Identity`], such as a
    /// key held in an HSM.
    ///
    /// ```
    /// use stringphone_core::{Backend, MemoryTrustStore, SigningSeed, Topic};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let key = RustCrypto::signing_key(&SigningSeed::from_bytes([2; 32]));
    /// let t: Topic<RustCrypto, _> = Topic::from_identity(key, None, MemoryTrustStore::new());
    /// # let _ = t;
    /// ```
    #[must_use]
    pub fn from_identity(identity: I, topic_key: Option<TopicKey>, store: S) -> Self {
        let public_key = identity.public_key();
        // Warm the cache. A store that cannot be listed now is still asked on every
        // decode, so skipping the cache only costs speed.
        let mut verifiers = KeyCache::new();
        if let Ok(entries) = store.iter() {
            for (id, key) in entries {
                if let Ok(prepared) = PreparedKey::new(&key) {
                    verifiers.insert(id, prepared);
                }
            }
        }
        let id = B::participant_id(&public_key);
        Topic {
            id,
            public_key,
            identity,
            #[cfg(feature = "v2-protocol")]
            v2: crate::v2::state::V2State::new(id, topic_key.is_some()),
            topic_key,
            store,
            pending_intro: None,
            verifiers,
            backend: PhantomData,
        }
    }

    /// This participant's id (first 16 bytes of SHA-256 of its public key).
    #[must_use]
    pub fn id(&self) -> ParticipantId {
        self.id
    }

    /// This participant's Ed25519 public key: what others trust.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The signing identity.
    #[must_use]
    pub fn identity(&self) -> &I {
        &self.identity
    }

    /// The topic key, if this participant has it.
    #[must_use]
    pub fn topic_key(&self) -> Option<&TopicKey> {
        self.topic_key.as_ref()
    }

    /// Sets (or, with `None`, forgets) the topic key.
    pub fn set_topic_key(&mut self, topic_key: Option<TopicKey>) {
        self.topic_key = topic_key;
        // Keys derived from the old one must not outlive it.
        self.forget_derived_keys();
    }

    /// True while an introduction awaits its reply (see [`Topic::parse_reply`]).
    #[must_use]
    pub fn has_pending_introduction(&self) -> bool {
        self.pending_intro.is_some() || self.has_pending_v2_introduction()
    }

    // ----- encoding -----------------------------------------------------------------

    /// Bytes the wire message for a plaintext of `plaintext_len` bytes takes in the
    /// format this topic sends: `+ 121` classic, `+ 127` v2.
    #[must_use]
    pub fn encoded_len(&self, plaintext_len: usize) -> usize {
        match self.sending_format() {
            WireFormat::V2 => crate::v2::wire::MESSAGE_OVERHEAD + plaintext_len,
            _ => SIMPLE_OVERHEAD + plaintext_len,
        }
    }

    /// Seals `plaintext` and signs it, writing the wire message into `out`; returns its
    /// length, [`encoded_len`](Self::encoded_len). Allocates nothing.
    ///
    /// Classic: seals with the topic key, and draws exactly one 24-byte nonce from
    /// `rng`. v2 (when the topic sends v2, see [`crate::v2`]): seals under this
    /// sender's key for the epoch with its next counter as nonce, drawing 16 bytes
    /// once per topic instance (the session value) and nothing per message; takes a
    /// counter even if signing then fails, and stores a new counter block in the
    /// trust store every [`SENDER_BLOCK`](crate::v2::replay::SENDER_BLOCK) messages.
    /// Errors: [`Error::MissingTopicKey`], [`Error::BufferTooSmall`], [`Error::Rng`],
    /// [`Error::SigningFailed`].
    ///
    /// ```
    /// # use stringphone_core::{MemoryTrustStore, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// let mut out = [0u8; 200];
    /// let n = t.encode_into(&mut rand_core::OsRng, b"hello", &mut out).unwrap();
    /// assert_eq!(n, 5 + 121);
    /// assert!(t.encode_into(&mut rand_core::OsRng, b"hello", &mut out[..100]).is_err());
    /// ```
    ///
    /// `rng` is any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
    pub fn encode_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        match self.sending_format() {
            #[cfg(feature = "v2-protocol")]
            WireFormat::V2 => self.encode_v2_into(rng, plaintext, out),
            _ => self.encode_classic_into(rng, plaintext, out),
        }
    }

    /// [`encode_into`](Self::encode_into) into a new `Vec`, with randomness from `rng`.
    ///
    /// `rng` is any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
    #[cfg(feature = "alloc")]
    pub fn encode_with_rng(
        &mut self,
        rng: &mut impl CryptoRngCore,
        plaintext: impl AsRef<[u8]>,
    ) -> Result<alloc::vec::Vec<u8>, Error> {
        let plaintext = plaintext.as_ref();
        let mut out = alloc::vec![0u8; self.encoded_len(plaintext.len())];
        self.encode_into(rng, plaintext, &mut out)?;
        Ok(out)
    }

    /// Seals and signs `plaintext`: the original's `encode`. The nonce comes from this
    /// thread's [`NonceRng`](crate::rng::NonceRng), a ChaCha20 generator seeded from
    /// the OS (no system call per message; after `fork()` see its docs).
    ///
    /// ```
    /// # use stringphone_core::{Error, MemoryTrustStore, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// assert!(matches!(t.encode("hi"), Err(Error::MissingTopicKey)));
    /// t.set_topic_key(Some(TopicKey::from_bytes([1; 32])));
    /// assert_eq!(t.encode("hi").unwrap().len(), 2 + 121);
    /// ```
    #[cfg(feature = "std")]
    pub fn encode(&mut self, plaintext: impl AsRef<[u8]>) -> Result<alloc::vec::Vec<u8>, Error> {
        self.encode_with_rng(&mut crate::rng::NonceRng, plaintext)
    }

    // ----- the routing point's outbound half and the protocol setting ---------------

    /// Whether this topic takes classic messages (always, without `v2`).
    pub(crate) fn accepts_classic(&self) -> bool {
        self.protocol_setting().accepts_classic()
    }

    /// The refusal of a message of wire format `version` that this topic does not take.
    pub(crate) fn refusal(&self, version: u8) -> Error {
        Error::ProtocolRefused {
            version,
            accepts: self.protocol_setting(),
        }
    }

    /// The format this topic sends in: the outbound half of the routing point.
    pub(crate) fn sending_format(&self) -> WireFormat {
        if self.protocol_setting().sends_v2() {
            WireFormat::V2
        } else {
            WireFormat::Classic
        }
    }

    // ----- decoding -----------------------------------------------------------------

    /// Decodes a wire message in place: on success the plaintext is the returned slice
    /// of `message` (the ciphertext's bytes, decrypted). Allocates nothing. On error
    /// `message` is unchanged (the tag is checked before anything is decrypted).
    ///
    /// The checks run in this order: parse ([`Error::Malformed`],
    /// [`Error::UnknownType`]); introductions and replies are handed back
    /// ([`Error::Introduction`], [`Error::IntroductionReply`]); our own id gives
    /// [`Decoded::Own`]; in strict and ignore-untrusted modes the sender must be
    /// trusted ([`Error::UntrustedSender`] or [`Decoded::Ignored`]) and its signature
    /// verify ([`Error::BadSignature`]); then the topic key ([`Error::MissingTopicKey`])
    /// and the box ([`Error::DecryptFailed`]).
    ///
    /// A v2 message (see [`crate::v2`]) is checked in this order: parse; the protocol
    /// setting ([`Error::ProtocolRefused`]); introductions, replies and rekeys handed
    /// back ([`Error::Introduction`], [`Error::IntroductionReply`], [`Error::Rekey`]);
    /// own id; trust, membership of the epoch ([`Error::NotAMember`]) and signature;
    /// the epoch's key ([`Error::MissingTopicKey`], [`Error::UnknownEpoch`]); the replay
    /// window ([`Error::Replayed`], [`Error::CounterOutOfRange`]); decryption. The window moves only once the
    /// signature and the decryption both passed.
    pub fn decode_in_place<'m>(
        &mut self,
        message: &'m mut [u8],
        mode: DecodeMode,
    ) -> Result<Decoded<&'m mut [u8]>, Error> {
        self.load_state()?;
        match format_of(message) {
            #[cfg(feature = "v2-protocol")]
            WireFormat::V2 => self.decode_v2_in_place(message, mode),
            _ => self.decode_classic_in_place(message, mode),
        }
    }

    /// Decodes a wire message into `out` (which needs `message.len() - 121` bytes);
    /// the plaintext is the returned slice of `out`. Allocates nothing. Same checks as
    /// [`decode_in_place`](Self::decode_in_place), then [`Error::BufferTooSmall`].
    pub fn decode_into<'o>(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
        out: &'o mut [u8],
    ) -> Result<Decoded<&'o mut [u8]>, Error> {
        self.load_state()?;
        match format_of(message) {
            #[cfg(feature = "v2-protocol")]
            WireFormat::V2 => self.decode_v2_into(message, mode, out),
            _ => self.decode_classic_into(message, mode, out),
        }
    }

    /// Decodes a wire message into a new `Vec`: the original's `decode`, with its
    /// `naive` and `ignore_untrusted` flags as [`DecodeMode`]. Same checks as
    /// [`decode_in_place`](Self::decode_in_place).
    ///
    /// ```
    /// # use stringphone_core::{DecodeMode, Decoded, Error, MemoryTrustStore, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), Some(key));
    /// let wire = alice.encode("Hi Bob!").unwrap();
    /// assert!(matches!(bob.decode(&wire, DecodeMode::Strict), Err(Error::UntrustedSender(_))));
    /// assert!(matches!(bob.decode(&wire, DecodeMode::IgnoreUntrusted), Ok(Decoded::Ignored { .. })));
    /// assert_eq!(bob.decode(&wire, DecodeMode::Naive).unwrap().plaintext().unwrap(), b"Hi Bob!");
    /// assert!(matches!(alice.decode(&wire, DecodeMode::Strict), Ok(Decoded::Own)));
    /// ```
    #[cfg(feature = "alloc")]
    pub fn decode(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
    ) -> Result<Decoded<alloc::vec::Vec<u8>>, Error> {
        self.load_state()?;
        match format_of(message) {
            WireFormat::V2 => self.decode_v2_vec(message, mode),
            _ => self.decode_classic_vec(message, mode),
        }
    }
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> fmt::Debug for Topic<B, S, I, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("id", &self.id)
            .field("public_key", &self.public_key)
            .field("has_topic_key", &self.topic_key.is_some())
            .field("pending_introduction", &self.pending_intro.is_some())
            .finish_non_exhaustive()
    }
}
