//! Discovery: how a newcomer without the topic key gets it.
//!
//! 1. The newcomer calls [`Topic::construct_intro`] and broadcasts the introduction: its
//!    Ed25519 key and a fresh X25519 key signed by it.
//! 2. A participant holding the key decides to trust the newcomer (a dialog, a pairing
//!    window: never unconditionally), then calls [`Topic::construct_reply`], which
//!    seals the topic key to the newcomer's X25519 key.
//! 3. The newcomer calls [`Topic::parse_reply`], which installs the key.
//!
//! Classic replies are not signed: anyone who sees an introduction can answer it with
//! a topic key of its own and any public key it likes. A newcomer that gets several
//! replies can look at each ([`crate::Message::parse`]) and call `parse_reply` on the
//! one it wants; a refused reply changes nothing, and the first accepted one ends
//! discovery.

use crate::v2::capacity::Capacity;
use aead::AeadInPlace;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::backend::{Backend, Identity};
use crate::topic::sign;
use crate::wire::{
    prefix_mut, DiscoveryBytes, Message, MessageType, Writer, INTRODUCTION_LEN, NONCE_LEN,
    REPLY_LEN,
};
use crate::{BoxPublicKey, BoxSecret, Error, PublicKey, Topic, TopicKey, TrustStore};

fn expect_type(bytes: &[u8], expected: MessageType) -> Result<Message<'_>, Error> {
    // A message of another type is refused by its type byte before its length is
    // judged by the rules of the type we wanted.
    if let Some(found) = bytes.first().copied().and_then(MessageType::from_byte) {
        if found != expected {
            return Err(Error::WrongType { expected, found });
        }
    }
    Ok(Message::parse(bytes)?)
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Builds an introduction with a fresh ephemeral X25519 key from `rng` (exactly 32
    /// bytes drawn) and remembers that key until a reply is accepted. A new
    /// introduction replaces the previous one's key. Allocates nothing.
    ///
    /// ```
    /// # use stringphone_core::{Message, MemoryTrustStore, SigningSeed, Topic};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro_with(&mut rand_core::OsRng).unwrap();
    /// assert_eq!(Message::parse(&intro).unwrap().sender_key(), Some(bob.public_key()));
    /// assert!(bob.has_pending_introduction());
    /// ```
    ///
    /// A topic that sends v2 builds a v2 introduction instead (175 bytes, signed as a
    /// whole; draws the session value if not drawn yet, then the 32-byte secret).
    ///
    /// `rng` is any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
    pub fn construct_intro_with(
        &mut self,
        rng: &mut impl CryptoRngCore,
    ) -> Result<DiscoveryBytes, Error> {
        DiscoveryBytes::fill(|out| self.construct_intro_into(rng, out))
    }

    /// [`construct_intro_with`](Self::construct_intro_with) into the first bytes of
    /// `out`; returns their number ([`INTRODUCTION_LEN`], or v2's when the topic sends
    /// v2). A buffer too short is refused first ([`Error::BufferTooSmall`]), before
    /// anything is drawn or changed. For a device that keeps one buffer per message
    /// instead of a [`DiscoveryBytes`] sized for every format.
    ///
    /// ```
    /// # use stringphone_core::{FixedTrustStore, Message, SigningSeed, Topic};
    /// # use stringphone_core::wire::INTRODUCTION_LEN;
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let mut bob = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([3; 32]), None, FixedTrustStore::<4>::new());
    /// let mut intro = [0u8; INTRODUCTION_LEN];
    /// let n = bob.construct_intro_into(&mut rand_core::OsRng, &mut intro).unwrap();
    /// assert_eq!(Message::parse(&intro[..n]).unwrap().sender_key(), Some(bob.public_key()));
    /// assert!(bob.construct_intro_into(&mut rand_core::OsRng, &mut intro[..100]).is_err());
    /// ```
    pub fn construct_intro_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        #[cfg(feature = "v2")]
        self.resume()?;
        #[cfg(feature = "v2")]
        if self.v2.protocol.sends_v2() {
            let out = prefix_mut(out, crate::v2::wire::INTRODUCTION_LEN)?;
            out.copy_from_slice(&self.construct_intro_v2(rng)?);
            return Ok(out.len());
        }
        let out = prefix_mut(out, INTRODUCTION_LEN)?;
        let secret = BoxSecret::generate_with(rng)?;
        self.classic_intro_for(secret, out)
    }

    /// Takes back a pending classic introduction whose ephemeral secret was kept
    /// (by another process, say: the command's `intro` and `accept-reply` are two), and
    /// writes that introduction into the first bytes of `out` (its bytes are the same
    /// as when it was first built, since Ed25519 signatures are deterministic). Like a
    /// new introduction, it retires every other pending one. Draws nothing.
    ///
    /// ```
    /// # use stringphone_core::{BoxSecret, SigningSeed, Topic};
    /// # use stringphone_core::wire::INTRODUCTION_LEN;
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let secret = BoxSecret::from_bytes([4; 32]);
    /// let mut first = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let mut later = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let (mut a, mut b) = ([0u8; INTRODUCTION_LEN], [0u8; INTRODUCTION_LEN]);
    /// first.resume_introduction_into(secret.clone(), &mut a).unwrap();
    /// later.resume_introduction_into(secret, &mut b).unwrap();
    /// assert_eq!(a, b);
    /// assert!(later.has_pending_introduction());
    /// ```
    pub fn resume_introduction_into(
        &mut self,
        secret: BoxSecret,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        #[cfg(feature = "v2")]
        self.resume()?;
        let out = prefix_mut(out, INTRODUCTION_LEN)?;
        self.classic_intro_for(secret, out)
    }

    /// The classic introduction of `secret`, written into `out` (exactly
    /// [`INTRODUCTION_LEN`] bytes), and `secret` made the pending one.
    fn classic_intro_for(&mut self, secret: BoxSecret, out: &mut [u8]) -> Result<usize, Error> {
        let encryption_key = B::box_public_key(&secret);
        let signature = sign(self.identity(), encryption_key.as_bytes())?;
        let mut w = Writer { out, pos: 0 };
        w.put(&[MessageType::Introduction.byte()]);
        w.put(self.public_key().as_bytes());
        w.put(&signature);
        w.put(encryption_key.as_bytes());
        // A new introduction retires every older one, of either format: a reply to
        // an older one could otherwise still install a key.
        #[cfg(feature = "v2")]
        self.change_group(|t| {
            t.v2.group.pending = None;
            t.pending_intro = Some(secret);
            Ok(())
        })?;
        #[cfg(not(feature = "v2"))]
        {
            self.pending_intro = Some(secret);
        }
        Ok(INTRODUCTION_LEN)
    }

    /// [`construct_intro_with`](Self::construct_intro_with) with OS randomness: the
    /// original's `construct_intro`.
    #[cfg(feature = "std")]
    pub fn construct_intro(&mut self) -> Result<DiscoveryBytes, Error> {
        self.construct_intro_with(&mut rand_core::OsRng)
    }

    /// Answers an introduction with the topic key sealed to the newcomer's ephemeral
    /// key. Draws 32 bytes (this reply's X25519 secret) then 24 bytes (the box
    /// nonce) from `rng`. Allocates nothing and changes nothing.
    ///
    /// Checks, in order: the introduction's type and length ([`Error::WrongType`],
    /// [`Error::Malformed`]); that its encryption key is signed by its signing key
    /// ([`Error::BadSignature`]); that its sender is trusted
    /// ([`Error::UntrustedSender`]: a reply hands over full access, so trust the
    /// newcomer first); that this topic has the key ([`Error::MissingTopicKey`]); that
    /// the introduction's X25519 key is not of small order ([`Error::InvalidPublicKey`]:
    /// the box would be sealed under an all-zero secret that anyone can compute, and
    /// libsodium refuses to build it).
    ///
    /// A v2 introduction gets a v2 reply (see [`crate::v2`]): signed by this topic,
    /// bound to the introduction and to the newcomer's id; the checks are the same.
    /// Each format is answered only if the topic's protocol setting accepts it
    /// ([`Error::ProtocolRefused`]).
    ///
    /// `rng` is any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
    pub fn construct_reply_with(
        &mut self,
        rng: &mut impl CryptoRngCore,
        introduction: &[u8],
    ) -> Result<DiscoveryBytes, Error> {
        #[cfg(feature = "alloc")]
        if introduction.first() == Some(&crate::v2::wire::VERSION) {
            let mut reply = alloc::vec::Vec::new();
            self.construct_reply_v2_checked(rng, introduction, crate::wire::grow(&mut reply))?;
            return Ok(DiscoveryBytes::from_vec(reply));
        }
        // Without `alloc` a v2 reply is written here only if it fits the stack buffer
        // ([`MAX_DISCOVERY_LEN`]); `construct_reply_into` takes a buffer of any size.
        DiscoveryBytes::fill(|out| self.construct_reply_into(rng, introduction, out))
    }

    /// [`construct_reply_with`](Self::construct_reply_with) into the first bytes of
    /// `out`; returns their number. For a classic introduction, a buffer shorter than
    /// [`REPLY_LEN`] is refused first ([`Error::BufferTooSmall`]), before anything is
    /// checked or drawn; then the same checks, in the same order.
    ///
    /// A v2 reply's length grows with the replay floors it carries
    /// (`v2::wire::REPLY_FIXED_LEN` plus `v2::wire::FLOOR_ENTRY_LEN` each, one at
    /// least): a buffer too short for one floor is refused first, one too short for
    /// the reply once it is built is refused then, and the v2 counter the reply drew
    /// stays spent (counters only move forward; nothing else changes).
    ///
    /// ```
    /// # use stringphone_core::{FixedTrustStore, SigningSeed, Topic, TopicKey};
    /// # use stringphone_core::wire::{INTRODUCTION_LEN, REPLY_LEN};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// # let mut rng = rand_core::OsRng;
    /// let mut alice = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])), FixedTrustStore::<4>::new());
    /// let mut bob = Topic::<RustCrypto, _>::with_store(SigningSeed::from_bytes([3; 32]), None, FixedTrustStore::<4>::new());
    /// alice.add_participant(bob.public_key()).unwrap();
    /// let (mut intro, mut reply) = ([0u8; INTRODUCTION_LEN], [0u8; REPLY_LEN]);
    /// bob.construct_intro_into(&mut rng, &mut intro).unwrap();
    /// let n = alice.construct_reply_into(&mut rng, &intro, &mut reply).unwrap();
    /// assert_eq!(bob.parse_reply(&reply[..n]).unwrap(), alice.public_key());
    /// ```
    pub fn construct_reply_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        introduction: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        #[cfg(feature = "v2")]
        if introduction.first() == Some(&crate::v2::wire::VERSION) {
            use crate::v2::wire::{FLOOR_ENTRY_LEN, REPLY_FIXED_LEN};
            prefix_mut(out, REPLY_FIXED_LEN + FLOOR_ENTRY_LEN)?;
            return self.construct_reply_v2_checked(rng, introduction, |len| prefix_mut(out, len));
        }
        let out = prefix_mut(out, REPLY_LEN)?;
        #[cfg(feature = "v2")]
        self.resume()?;
        if !self.accepts_classic() {
            return Err(self.refusal(1));
        }
        let (newcomer_id, encryption_key) = self.check_introduction(introduction)?;
        let topic_key = self.topic_key().ok_or(Error::MissingTopicKey)?;

        let secret = BoxSecret::generate_with(rng)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut nonce).map_err(|_| Error::Rng)?;
        let mut sealed = Zeroizing::new(*topic_key.expose_secret());
        let tag = B::box_cipher(&encryption_key, &secret)
            .encrypt_in_place_detached(&nonce.into(), b"", sealed.as_mut())
            .map_err(|_| Error::EncryptFailed)?;

        let mut w = Writer { out, pos: 0 };
        w.put(&[MessageType::IntroductionReply.byte()]);
        w.put(newcomer_id.as_bytes());
        w.put(&nonce);
        w.put(&tag);
        w.put(sealed.as_ref());
        w.put(B::box_public_key(&secret).as_bytes());
        w.put(self.public_key().as_bytes());
        Ok(REPLY_LEN)
    }

    /// A v2 introduction's reply, after the protocol setting's check, written into the
    /// buffer `out` gives for its length. Never inlined, so that the classic reply's
    /// stack does not carry the v2 reply's frame (and the other way round).
    #[cfg(feature = "v2")]
    #[inline(never)]
    fn construct_reply_v2_checked<'o>(
        &mut self,
        rng: &mut impl CryptoRngCore,
        introduction: &[u8],
        out: impl FnOnce(usize) -> Result<&'o mut [u8], Error>,
    ) -> Result<usize, Error> {
        self.resume()?;
        let intro = crate::v2::wire::V2Message::parse(introduction)?;
        if !self.v2.protocol.accepts_v2() {
            return Err(self.refusal(2));
        }
        self.construct_reply_v2(rng, &intro, out)
    }

    /// The checks of a classic introduction before the topic key is used: type and
    /// length, the newcomer's signature, its trust and membership, that the topic has
    /// the key, and that the newcomer's X25519 key is not of small order. Gives the
    /// newcomer's id and X25519 key.
    ///
    /// Never inlined: the signature's verification is the deepest stack of discovery,
    /// and here it runs under this small frame instead of one holding the reply's box.
    #[inline(never)]
    fn check_introduction(
        &self,
        introduction: &[u8],
    ) -> Result<(crate::ParticipantId, BoxPublicKey), Error> {
        let Message::Introduction(intro) = expect_type(introduction, MessageType::Introduction)?
        else {
            return Err(Error::Malformed {
                message_type: Some(MessageType::Introduction),
                len: introduction.len(),
            });
        };
        let newcomer = intro.sender_key();
        crate::verify_signature::<B>(
            &newcomer,
            intro.encryption_key().as_bytes(),
            intro.signature(),
        )?;
        let newcomer_id = B::participant_id(&newcomer);
        if self.trusted_key(&newcomer_id)? != Some(newcomer) {
            return Err(Error::UntrustedSender(newcomer_id));
        }
        // Membership applies to classic discovery too: once a rotation listed the
        // members, the key goes to none but them.
        #[cfg(feature = "v2")]
        if !self.is_current_member(&newcomer_id) {
            return Err(Error::NotAMember(newcomer_id));
        }
        if self.topic_key().is_none() {
            return Err(Error::MissingTopicKey);
        }
        if intro.encryption_key().has_small_order() {
            return Err(Error::InvalidPublicKey);
        }
        Ok((newcomer_id, intro.encryption_key()))
    }

    /// [`construct_reply_with`](Self::construct_reply_with) with OS randomness: the
    /// original's `construct_reply`.
    ///
    /// ```
    /// # use stringphone_core::{Error, Message, MemoryTrustStore, SigningSeed, Topic, TopicKey};
    /// # use stringphone_rustcrypto::RustCrypto;
    /// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), None);
    /// let intro = bob.construct_intro().unwrap();
    /// // Alice must trust Bob before she hands him the key.
    /// assert!(matches!(alice.construct_reply(&intro), Err(Error::UntrustedSender(_))));
    /// alice.add_participant(Message::parse(&intro).unwrap().sender_key().unwrap()).unwrap();
    /// let reply = alice.construct_reply(&intro).unwrap();
    /// assert_eq!(bob.parse_reply(&reply).unwrap(), alice.public_key());
    /// assert_eq!(bob.topic_key(), alice.topic_key());
    /// ```
    #[cfg(feature = "std")]
    pub fn construct_reply(&mut self, introduction: &[u8]) -> Result<DiscoveryBytes, Error> {
        self.construct_reply_with(&mut rand_core::OsRng, introduction)
    }

    /// Opens a reply to our introduction and installs the topic key it carries;
    /// returns the public key the replier claims (unsigned: trust it only as far as
    /// the classic format allows, see the module docs).
    ///
    /// Checks, in order: type and length ([`Error::WrongType`], [`Error::Malformed`]);
    /// that the reply is for us ([`Error::NotForUs`]); that an introduction is pending
    /// ([`Error::NoPendingIntroduction`]); that the box opens
    /// ([`Error::DecryptFailed`]). Any refusal changes nothing, so the next reply can
    /// be tried; success forgets the introduction's secret.
    ///
    /// A v2 reply is checked as [`crate::v2`] describes, and installs the key only
    /// once its (verified) replier is trusted: otherwise [`Error::UntrustedReplier`]
    /// hands back the replier's key and changes nothing, so the same reply can be
    /// parsed again once the user has compared the fingerprint and trusted it.
    pub fn parse_reply(&mut self, reply: &[u8]) -> Result<PublicKey, Error> {
        #[cfg(feature = "v2")]
        self.resume()?;
        #[cfg(feature = "v2")]
        if reply.first() == Some(&crate::v2::wire::VERSION) {
            let parsed = crate::v2::wire::V2Message::parse(reply)?;
            if !self.v2.protocol.accepts_v2() {
                return Err(self.refusal(2));
            }
            return self.parse_reply_v2(&parsed);
        }
        if !self.accepts_classic() {
            return Err(self.refusal(1));
        }
        let Message::IntroductionReply(reply) = expect_type(reply, MessageType::IntroductionReply)?
        else {
            return Err(Error::Malformed {
                message_type: Some(MessageType::IntroductionReply),
                len: reply.len(),
            });
        };
        if reply.recipient_id() != self.id() {
            return Err(Error::NotForUs {
                recipient: reply.recipient_id(),
            });
        }
        let secret = self
            .pending_intro
            .as_ref()
            .ok_or(Error::NoPendingIntroduction)?;
        // libsodium cannot open a box from a small-order key (the agreement is zero).
        if reply.encryption_key().has_small_order() {
            return Err(Error::DecryptFailed);
        }
        let mut key = Zeroizing::new(*reply.sealed_topic_key());
        B::box_cipher(&reply.encryption_key(), secret)
            .decrypt_in_place_detached(reply.nonce().into(), b"", key.as_mut(), reply.mac().into())
            .map_err(|_| Error::DecryptFailed)?;
        let key = TopicKey::from_bytes(*key);
        #[cfg(feature = "v2")]
        self.change_group(|t| {
            t.set_topic_key(Some(key));
            t.pending_intro = None;
            Ok(())
        })?;
        #[cfg(not(feature = "v2"))]
        {
            self.set_topic_key(Some(key));
            self.pending_intro = None;
        }
        Ok(reply.sender_key())
    }
}
