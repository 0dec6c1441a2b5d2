//! v2 discovery: a signed introduction, and a reply signed by the replier and bound to
//! the introduction it answers and to the newcomer's id.
//!
//! The newcomer installs the key from a reply only once it trusts the replier: if the
//! replier is trusted already, [`Topic::parse_reply`] installs it at once; otherwise it
//! refuses with [`Error::UntrustedReplier`], carrying the replier's key (whose id's
//! [`fingerprint`](crate::ParticipantId::fingerprint) the user compares out of band),
//! and changes nothing, so the same reply can be parsed again after
//! [`Topic::add_participant`]. An attacker who answers with a topic key of its own
//! must sign with its own key: claiming a trusted participant's key makes the
//! signature fail; using its own leaves the key uninstalled until someone trusts it.

use aead::AeadInPlace;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::state::PendingIntro;
use super::wire::{self, Body, V2Message, V2Type, HEADER_LEN, INTRODUCTION_LEN, REPLY_LEN};
use super::{digest, signed_string};
use crate::backend::{Backend, Identity};
use crate::topic::{sign, verify_signature};
use crate::{BoxPublicKey, BoxSecret, Error, PublicKey, Topic, TopicKey, TrustStore};

/// BLAKE3 derive-key context of the digest that binds a reply to its introduction.
pub const INTRO_CONTEXT: &str = "stringphone v2 introduction";

/// Checks that a v2 introduction or reply is signed by the key it carries, and that
/// its header names that key's id.
fn check_self_signed<B: Backend>(m: &V2Message<'_>) -> Result<PublicKey, Error> {
    let key = m.identity().ok_or(Error::BadSignature)?;
    if B::participant_id(&key) != m.header().sender_id() {
        return Err(Error::BadSignature);
    }
    verify_signature::<B>(&key, &signed_string(m.signed_part()), m.signature())?;
    Ok(key)
}

impl<B: Backend, S: TrustStore, I: Identity> Topic<B, S, I> {
    /// A v2 introduction. Draws the session value (16 bytes, once per topic instance),
    /// then the ephemeral X25519 secret (32 bytes).
    pub(crate) fn construct_intro_v2(
        &mut self,
        rng: &mut impl CryptoRngCore,
    ) -> Result<[u8; INTRODUCTION_LEN], Error> {
        let session = self.v2.session(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let counter = self.take_counter()?;
        let mut out = [0u8; INTRODUCTION_LEN];
        wire::write_header(
            &mut out,
            V2Type::Introduction,
            self.v2.epoch,
            &self.id(),
            &session,
            counter,
        );
        out[HEADER_LEN..HEADER_LEN + 32].copy_from_slice(self.public_key().as_bytes());
        out[HEADER_LEN + 32..HEADER_LEN + 64]
            .copy_from_slice(B::box_public_key(&secret).as_bytes());
        let signature = sign(
            self.identity(),
            &signed_string(&out[..INTRODUCTION_LEN - 64]),
        )?;
        out[INTRODUCTION_LEN - 64..].copy_from_slice(&signature);
        self.v2.pending = Some(PendingIntro {
            digest: digest(INTRO_CONTEXT, &out),
            secret,
        });
        Ok(out)
    }

    /// Answers a v2 introduction. Checks, in order: its signature under the key it
    /// carries ([`Error::BadSignature`]); that its sender is trusted
    /// ([`Error::UntrustedSender`]); that this topic has the key
    /// ([`Error::MissingTopicKey`]). Draws the session value if not drawn yet, then
    /// 32 bytes (this reply's X25519 secret) and 24 bytes (the box nonce).
    pub(crate) fn construct_reply_v2(
        &mut self,
        rng: &mut impl CryptoRngCore,
        intro: &V2Message<'_>,
    ) -> Result<[u8; REPLY_LEN], Error> {
        let Body::Introduction { encryption_key, .. } = intro.body() else {
            return Err(Error::WrongType {
                expected: crate::wire::MessageType::V2(V2Type::Introduction),
                found: crate::wire::MessageType::V2(intro.header().message_type()),
            });
        };
        let newcomer = check_self_signed::<B>(intro)?;
        let newcomer_id = B::participant_id(&newcomer);
        if self.trusted_key(&newcomer_id)? != Some(newcomer) {
            return Err(Error::UntrustedSender(newcomer_id));
        }
        let topic_key = self.topic_key().ok_or(Error::MissingTopicKey)?.clone();
        if crate::discovery::box_key_has_small_order::<B>(&BoxPublicKey::from_bytes(
            *encryption_key,
        )) {
            return Err(Error::InvalidPublicKey);
        }

        let session = self.v2.session(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let mut box_nonce = [0u8; 24];
        rng.try_fill_bytes(&mut box_nonce).map_err(|_| Error::Rng)?;
        let mut sealed = Zeroizing::new(*topic_key.expose_secret());
        let tag = B::box_cipher(&BoxPublicKey::from_bytes(*encryption_key), &secret)
            .encrypt_in_place_detached(&box_nonce.into(), b"", sealed.as_mut())
            .map_err(|_| Error::EncryptFailed)?;
        let counter = self.take_counter()?;

        let mut out = [0u8; REPLY_LEN];
        wire::write_header(
            &mut out,
            V2Type::Reply,
            self.v2.epoch,
            &self.id(),
            &session,
            counter,
        );
        let mut at = HEADER_LEN;
        for field in [
            &newcomer_id.as_bytes()[..],
            &digest(INTRO_CONTEXT, intro.as_bytes()),
            &self.v2.epoch_id,
            self.public_key().as_bytes(),
            B::box_public_key(&secret).as_bytes(),
            &box_nonce,
            &sealed[..],
            &tag,
        ] {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        let signature = sign(self.identity(), &signed_string(&out[..REPLY_LEN - 64]))?;
        out[REPLY_LEN - 64..].copy_from_slice(&signature);
        Ok(out)
    }

    /// Opens a v2 reply. Checks, in order: it is for us ([`Error::NotForUs`]); an
    /// introduction is pending ([`Error::NoPendingIntroduction`]) and the reply answers
    /// it ([`Error::StaleReply`]); its signature under the key it carries
    /// ([`Error::BadSignature`]); the box opens ([`Error::DecryptFailed`]); the replier
    /// is trusted ([`Error::UntrustedReplier`]). Only then is the key installed.
    pub(crate) fn parse_reply_v2(&mut self, reply: &V2Message<'_>) -> Result<PublicKey, Error> {
        let Body::Reply {
            recipient,
            intro_digest,
            epoch_id,
            encryption_key,
            nonce,
            sealed_key,
            tag,
            ..
        } = reply.body()
        else {
            return Err(Error::WrongType {
                expected: crate::wire::MessageType::V2(V2Type::Reply),
                found: crate::wire::MessageType::V2(reply.header().message_type()),
            });
        };
        let recipient = crate::ParticipantId::from_bytes(*recipient);
        if recipient != self.id() {
            return Err(Error::NotForUs { recipient });
        }
        let pending = self
            .v2
            .pending
            .as_ref()
            .ok_or(Error::NoPendingIntroduction)?;
        if pending.digest != *intro_digest {
            return Err(Error::StaleReply);
        }
        let replier = check_self_signed::<B>(reply)?;
        if crate::discovery::box_key_has_small_order::<B>(&BoxPublicKey::from_bytes(
            *encryption_key,
        )) {
            return Err(Error::DecryptFailed);
        }
        let mut key = Zeroizing::new(*sealed_key);
        B::box_cipher(&BoxPublicKey::from_bytes(*encryption_key), &pending.secret)
            .decrypt_in_place_detached(nonce.into(), b"", key.as_mut(), tag.into())
            .map_err(|_| Error::DecryptFailed)?;
        let replier_id = B::participant_id(&replier);
        if self.trusted_key(&replier_id)? != Some(replier) {
            return Err(Error::UntrustedReplier {
                key: replier,
                id: replier_id,
            });
        }
        self.set_topic_key(Some(TopicKey::from_bytes(*key)));
        self.v2.epoch = reply.header().epoch();
        self.v2.epoch_id = *epoch_id;
        self.v2.parent_id = None;
        self.v2.members = None;
        self.v2.previous = None;
        self.v2.own_key = None;
        self.v2.pending = None;
        Ok(replier)
    }
}
