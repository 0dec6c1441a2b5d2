//! Classic discovery: the introduction (its signing key and a fresh X25519 key signed
//! by it) and the reply (the topic key sealed to that X25519 key, unsigned). The
//! entry points, which route each message here or to v2, are in
//! [`crate::discovery`].

use rand_core::CryptoRngCore;

use super::wire::{write_introduction, write_reply, ReplyFields};
use crate::backend::{Backend, Identity};
use crate::sealed_key::{open_key, refuse_small_order, seal_key};
use crate::signatures::sign;
use crate::v2::capacity::Capacity;
use crate::wire::{prefix_mut, Message, MessageType, INTRODUCTION_LEN, NONCE_LEN, REPLY_LEN};
use crate::{
    BoxPublicKey, BoxSecret, Error, ParticipantId, PublicKey, Topic, TopicKey, TrustStore,
};

/// Parses `bytes`, refusing a message of another type by its type byte before its
/// length is judged by the rules of the type wanted.
fn expect_type(bytes: &[u8], expected: MessageType) -> Result<Message<'_>, Error> {
    if let Some(found) = bytes.first().copied().and_then(MessageType::from_byte) {
        if found != expected {
            return Err(Error::WrongType { expected, found });
        }
    }
    Ok(Message::parse(bytes)?)
}

/// The refusal of bytes that parsed as another type than `expected` (unreachable:
/// [`expect_type`] refused those; said as a refusal rather than assumed).
fn not_a(expected: MessageType, bytes: &[u8]) -> Error {
    Error::Malformed {
        message_type: Some(expected),
        len: bytes.len(),
    }
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// The classic introduction of `secret`, written into `out` (exactly
    /// [`INTRODUCTION_LEN`] bytes), and `secret` made the pending one.
    pub(crate) fn classic_intro_for(
        &mut self,
        secret: BoxSecret,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let encryption_key = B::box_public_key(&secret);
        let signature = sign(self.identity(), encryption_key.as_bytes())?;
        write_introduction(
            out,
            self.public_key().as_bytes(),
            &signature,
            encryption_key.as_bytes(),
        );
        // A new introduction retires every older one, of either format: a reply to
        // an older one could otherwise still install a key.
        self.change_state(|t| {
            t.forget_pending_introductions();
            t.pending_intro = Some(secret);
            Ok(())
        })?;
        Ok(INTRODUCTION_LEN)
    }

    /// [`Topic::construct_reply_into`] of a classic introduction: the buffer, the
    /// protocol setting, the introduction's checks, then the topic key sealed to the
    /// newcomer.
    pub(crate) fn construct_reply_classic(
        &mut self,
        rng: &mut impl CryptoRngCore,
        introduction: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let out = prefix_mut(out, REPLY_LEN)?;
        self.load_state()?;
        if !self.accepts_classic() {
            return Err(self.refusal(1));
        }
        let (newcomer_id, encryption_key) = self.check_introduction(introduction)?;
        let topic_key = self.topic_key().ok_or(Error::MissingTopicKey)?;

        let secret = BoxSecret::generate_with(rng)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut nonce).map_err(|_| Error::Rng)?;
        let sealed = seal_key::<B>(&encryption_key, &secret, &nonce, topic_key.expose_secret())?;
        write_reply(
            out,
            &ReplyFields {
                recipient_id: newcomer_id.as_bytes(),
                nonce: &nonce,
                mac: &sealed.tag,
                sealed_topic_key: &sealed.sealed,
                encryption_key: B::box_public_key(&secret).as_bytes(),
                sender_key: self.public_key().as_bytes(),
            },
        );
        Ok(REPLY_LEN)
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
    ) -> Result<(ParticipantId, BoxPublicKey), Error> {
        let expected = MessageType::Introduction;
        let Message::Introduction(intro) = expect_type(introduction, expected)? else {
            return Err(not_a(expected, introduction));
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
        if !self.is_current_member(&newcomer_id) {
            return Err(Error::NotAMember(newcomer_id));
        }
        if self.topic_key().is_none() {
            return Err(Error::MissingTopicKey);
        }
        refuse_small_order(&intro.encryption_key(), Error::InvalidPublicKey)?;
        Ok((newcomer_id, intro.encryption_key()))
    }

    /// [`Topic::parse_reply`] of a classic reply: the protocol setting, type and
    /// length, the recipient, the pending introduction, the box; then the key is
    /// installed and the introduction forgotten.
    pub(crate) fn parse_reply_classic(&mut self, reply: &[u8]) -> Result<PublicKey, Error> {
        if !self.accepts_classic() {
            return Err(self.refusal(1));
        }
        let expected = MessageType::IntroductionReply;
        let Message::IntroductionReply(reply) = expect_type(reply, expected)? else {
            return Err(not_a(expected, reply));
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
        let key = open_key::<B>(
            &reply.encryption_key(),
            Ok(secret),
            reply.nonce(),
            reply.sealed_topic_key(),
            reply.mac(),
        )?;
        let key = TopicKey::from_bytes(*key);
        self.change_state(|t| {
            t.set_topic_key(Some(key));
            t.pending_intro = None;
            Ok(())
        })?;
        Ok(reply.sender_key())
    }
}
