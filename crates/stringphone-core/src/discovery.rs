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

//!
//! This module holds the entry points, which route each message to its format's
//! implementation: `classic/discovery.rs` and `v2/discovery.rs`.

use rand_core::CryptoRngCore;

use crate::backend::{Backend, Identity};
use crate::topic::format_of;
use crate::v2::capacity::Capacity;
#[cfg(doc)]
use crate::wire::REPLY_LEN;
use crate::wire::{prefix_mut, DiscoveryBytes, INTRODUCTION_LEN};
use crate::{BoxSecret, Error, PublicKey, Topic, TrustStore};

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
        self.load_state()?;
        match self.sending_format() {
            #[cfg(feature = "v2-protocol")]
            crate::WireFormat::V2 => {
                let out = prefix_mut(out, crate::v2::wire::INTRODUCTION_LEN)?;
                out.copy_from_slice(&self.construct_intro_v2(rng)?);
                Ok(out.len())
            }
            _ => {
                let out = prefix_mut(out, INTRODUCTION_LEN)?;
                let secret = BoxSecret::generate_with(rng)?;
                self.classic_intro_for(secret, out)
            }
        }
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
        self.load_state()?;
        let out = prefix_mut(out, INTRODUCTION_LEN)?;
        self.classic_intro_for(secret, out)
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
        if format_of(introduction) == crate::WireFormat::V2 {
            let mut reply = alloc::vec::Vec::new();
            self.construct_reply_v2_checked(rng, introduction, crate::wire::grow(&mut reply))?;
            return Ok(DiscoveryBytes::from_vec(reply));
        }
        // Without `alloc` a v2 reply is written here only if it fits the stack buffer
        // ([`MAX_DISCOVERY_LEN`](crate::wire::MAX_DISCOVERY_LEN));
        // `construct_reply_into` takes a buffer of any size.
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
        match format_of(introduction) {
            #[cfg(feature = "v2-protocol")]
            crate::WireFormat::V2 => {
                use crate::v2::wire::{FLOOR_ENTRY_LEN, REPLY_FIXED_LEN};
                prefix_mut(out, REPLY_FIXED_LEN + FLOOR_ENTRY_LEN)?;
                self.construct_reply_v2_checked(rng, introduction, |len| prefix_mut(out, len))
            }
            _ => self.construct_reply_classic(rng, introduction, out),
        }
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
        self.load_state()?;
        match format_of(reply) {
            #[cfg(feature = "v2-protocol")]
            crate::WireFormat::V2 => {
                let parsed = crate::v2::wire::V2Message::parse(reply)?;
                if !self.v2.protocol.accepts_v2() {
                    return Err(self.refusal(2));
                }
                self.parse_reply_v2(&parsed)
            }
            _ => self.parse_reply_classic(reply),
        }
    }
}
