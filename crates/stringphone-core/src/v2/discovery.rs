//! v2 discovery: a signed introduction, and a reply signed by the replier and bound to
//! the topic, to the introduction it answers and to the newcomer's id.
//!
//! The newcomer installs the key from a reply only once it trusts the replier: if the
//! replier is trusted already, [`Topic::parse_reply`] installs it at once; otherwise it
//! refuses with [`Error::UntrustedReplier`], carrying the replier's key (whose id's
//! [`fingerprint`](crate::ParticipantId::fingerprint) the user compares out of band),
//! and changes nothing, so the same reply can be parsed again after
//! [`Topic::add_participant`]. An attacker who answers with a topic key of its own
//! must sign with its own key: claiming a trusted participant's key makes the
//! signature fail; using its own leaves the key uninstalled until someone trusts it.
//!
//! # Members, epochs and floors
//! - Once an epoch lists its members (after a rotation), a reply hands its key only
//!   to a listed member (a rejoin): newcomers join through an admin's rotation, so a
//!   participant rotated out cannot get the key back from a member who still trusts it.
//! - A topic that holds a key moves between epochs only through rekeys, which an admin
//!   signed: a reply is taken there only for the epoch it holds, from a member of it
//!   (the key again, the floors). A reply cannot move it backwards, sideways, or
//!   forward to an epoch someone made up. A member that can no longer follow the
//!   rekeys (it missed one) calls [`Topic::forget_epoch`] and joins again as a
//!   newcomer, which takes the epoch of any trusted replier.
//! - The reply carries, signed, the epoch's member list as the replier holds it, and a
//!   replay floor for every sender the replier knows of (every participant it trusts
//!   and every sender it heard, and itself): the newcomer refuses their counters below
//!   it, i.e. everything they sent before it joined.

use super::capacity::Capacity;
use rand_core::CryptoRngCore;

use super::capacity::{Members, PerSender};
use super::state::{Epoch, PendingIntro};
use super::wire::{
    self, Body, V2Message, V2Type, FLOOR_ENTRY_LEN, INTRODUCTION_LEN, MAX_FLOORS, REPLY_FIXED_LEN,
    SIGNATURE_LEN,
};
use super::{signed_string, TopicId};
use crate::backend::{Backend, Identity};
use crate::sealed_key::{open_key, refuse_small_order, seal_key};
use crate::signatures::{sign, verify_signature};
use crate::trust::MarkSlot;
use crate::{
    BoxPublicKey, BoxSecret, Error, ParticipantId, PublicKey, Topic, TopicKey, TrustStore,
};

/// BLAKE3 derive-key context of the digest that binds a reply to its introduction.
pub const INTRO_CONTEXT: &str = "stringphone v2 introduction";

/// Checks that a v2 introduction or reply is signed, for `topic`, by the key it
/// carries, and that its header names that key's id. Never inlined, so that the
/// signature check (the deepest stack of discovery) runs under this small frame, not
/// under the frame of the caller's reply.
#[inline(never)]
pub(crate) fn check_self_signed<B: Backend>(
    topic: &TopicId,
    m: &V2Message<'_>,
) -> Result<PublicKey, Error> {
    let key = m.identity().ok_or(Error::BadSignature)?;
    if B::participant_id(&key) != m.header().sender_id() {
        return Err(Error::BadSignature);
    }
    verify_signature::<B>(&key, &signed_string(topic, m.signed_part()), m.signature())?;
    Ok(key)
}

/// An id field that is all zero when absent (the first epoch has no parent and no
/// starter).
fn present<const N: usize>(bytes: &[u8; N]) -> Option<[u8; N]> {
    (*bytes != [0; N]).then_some(*bytes)
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// A v2 introduction. Draws the session value (16 bytes, once per topic instance),
    /// then the ephemeral X25519 secret (32 bytes). Retires any earlier introduction,
    /// of either format.
    #[inline(never)]
    pub(crate) fn construct_intro_v2(
        &mut self,
        rng: &mut impl CryptoRngCore,
    ) -> Result<[u8; INTRODUCTION_LEN], Error> {
        self.resume()?;
        let topic = self.v2.topic_id()?;
        let session = self.v2.session(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let counter = self.take_counter()?;
        let mut out = [0u8; INTRODUCTION_LEN];
        wire::write_header(
            &mut out,
            V2Type::Introduction,
            topic.suite().byte(),
            self.v2.group.current.number,
            &self.id(),
            &session,
            counter,
        );
        let box_key = B::box_public_key(&secret);
        wire::write_introduction_body(&mut out, self.public_key().as_bytes(), box_key.as_bytes());
        let signature = sign(
            self.identity(),
            &signed_string(&topic, &out[..INTRODUCTION_LEN - SIGNATURE_LEN]),
        )?;
        wire::write_signature(&mut out, &signature);
        let pending = PendingIntro {
            digest: topic.digest(INTRO_CONTEXT, &out),
            secret,
        };
        self.change_group(|t| {
            t.v2.group.pending = Some(pending);
            t.pending_intro = None;
            Ok(())
        })?;
        Ok(out)
    }

    /// A v2 introduction's reply, after the protocol setting's check, written into the
    /// buffer `out` gives for its length. Never inlined, so that the classic reply's
    /// stack does not carry the v2 reply's frame (and the other way round).
    #[inline(never)]
    pub(crate) fn construct_reply_v2_checked<'o>(
        &mut self,
        rng: &mut impl CryptoRngCore,
        introduction: &[u8],
        out: impl FnOnce(usize) -> Result<&'o mut [u8], Error>,
    ) -> Result<usize, Error> {
        self.resume()?;
        let intro = V2Message::parse(introduction)?;
        if !self.v2.protocol.accepts_v2() {
            return Err(self.refusal(2));
        }
        self.construct_reply_v2(rng, &intro, out)
    }

    /// Answers a v2 introduction. Checks, in order: its signature for this topic under
    /// the key it carries ([`Error::BadSignature`]); that its sender is trusted
    /// ([`Error::UntrustedSender`]) and, when the current epoch lists its members, one
    /// of them, as this topic must be too ([`Error::NotAMember`]); that this topic has
    /// the key ([`Error::MissingTopicKey`]). Draws the session value if not drawn yet,
    /// then 32 bytes (this reply's X25519 secret) and 24 bytes (the box nonce).
    pub(crate) fn construct_reply_v2<'o>(
        &mut self,
        rng: &mut impl CryptoRngCore,
        intro: &V2Message<'_>,
        out: impl FnOnce(usize) -> Result<&'o mut [u8], Error>,
    ) -> Result<usize, Error> {
        self.resume()?;
        let topic = self.v2.topic_for(intro)?;
        let Body::Introduction { encryption_key, .. } = intro.body() else {
            return Err(Error::WrongType {
                expected: crate::wire::MessageType::V2(V2Type::Introduction),
                found: crate::wire::MessageType::V2(intro.header().message_type()),
            });
        };
        let newcomer = check_self_signed::<B>(&topic, intro)?;
        let newcomer_id = B::participant_id(&newcomer);
        if self.trusted_key(&newcomer_id)? != Some(newcomer) {
            return Err(Error::UntrustedSender(newcomer_id));
        }
        for id in [newcomer_id, self.id()] {
            if !self.is_current_member(&id) {
                return Err(Error::NotAMember(id));
            }
        }
        if self.topic_key().is_none() {
            return Err(Error::MissingTopicKey);
        }
        let encryption_key = BoxPublicKey::from_bytes(*encryption_key);
        refuse_small_order(&encryption_key, Error::InvalidPublicKey)?;
        let intro_digest = topic.digest(INTRO_CONTEXT, intro.as_bytes());
        self.write_reply_v2(
            rng,
            &topic,
            newcomer_id,
            &intro_digest,
            &encryption_key,
            out,
        )
    }

    /// The reply of [`construct_reply_v2`](Self::construct_reply_v2) once its checks
    /// passed: the key sealed to the newcomer, the epoch, its members and the floors,
    /// signed. Never inlined: its buffers are not on the stack while a signature is
    /// checked.
    #[inline(never)]
    fn write_reply_v2<'o>(
        &mut self,
        rng: &mut impl CryptoRngCore,
        topic: &TopicId,
        newcomer_id: ParticipantId,
        intro_digest: &[u8; 32],
        encryption_key: &BoxPublicKey,
        out: impl FnOnce(usize) -> Result<&'o mut [u8], Error>,
    ) -> Result<usize, Error> {
        let topic_key = self.topic_key().ok_or(Error::MissingTopicKey)?.clone();
        let session = self.v2.session(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let mut box_nonce = [0u8; 24];
        rng.try_fill_bytes(&mut box_nonce).map_err(|_| Error::Rng)?;
        let sealed = seal_key::<B>(
            encryption_key,
            &secret,
            &box_nonce,
            topic_key.expose_secret(),
        )?;
        let counter = self.take_counter()?;
        let floors = self.replay_floors(counter + 1)?;

        let epoch = &self.v2.group.current;
        let member_count = epoch.members.as_ref().map_or(0, |m| m.len());
        let len = REPLY_FIXED_LEN + member_count * 16 + floors.len() * FLOOR_ENTRY_LEN;
        let out = out(len)?;
        wire::write_header(
            out,
            V2Type::Reply,
            topic.suite().byte(),
            epoch.number,
            &self.id(),
            &session,
            counter,
        );
        let (identity, box_key) = (self.public_key(), B::box_public_key(&secret));
        let fields = wire::ReplyFields {
            recipient: newcomer_id.as_bytes(),
            intro_digest,
            epoch_id: &epoch.id,
            parent_epoch: &epoch.parent.unwrap_or([0; 32]),
            starter: epoch.starter.as_ref().map_or(&[0; 16], |s| s.as_bytes()),
            identity: identity.as_bytes(),
            encryption_key: box_key.as_bytes(),
            nonce: &box_nonce,
            sealed_key: &sealed.sealed,
            tag: &sealed.tag,
        };
        let members = epoch.members.iter().flat_map(|m| m.iter());
        let floor_list = floors.iter().map(|(id, floor)| (id, *floor));
        wire::write_reply_body(
            out,
            &fields,
            (member_count, members),
            (floors.len(), floor_list),
        );
        let signature = sign(
            self.identity(),
            &signed_string(topic, &out[..len - SIGNATURE_LEN]),
        )?;
        wire::write_signature(out, &signature);
        Ok(len)
    }

    /// The floors a reply hands over: for each sender heard by this instance, the first
    /// counter not yet accepted; for each other participant it trusts, its mark in the
    /// store (what an earlier process accepted; ahead of it by up to a block after a
    /// crash, so the newcomer may refuse that many of the sender's next messages, never
    /// an old one); each floor it holds; and for this identity, `own_next`.
    fn replay_floors(&self, own_next: u64) -> Result<PerSender<u64, C>, Error> {
        let mut floors = self.v2.group.floors.clone();
        for (id, _) in self.participants()? {
            if self.v2.senders.contains_key(&id) {
                continue;
            }
            if let Some(mark) = self.trust_store().load_mark(&MarkSlot::Received(id))? {
                let floor = floors.entry(id, || 0)?;
                *floor = (*floor).max(mark);
            }
        }
        for (id, record) in self.v2.senders.iter() {
            let next = record.window.top().map_or(0, |t| t.saturating_add(1));
            let floor = floors.entry(*id, || 0)?;
            *floor = (*floor).max(next).max(record.window.floor());
        }
        floors.insert(self.id(), own_next)?;
        if floors.len() > MAX_FLOORS {
            return Err(Error::TooManyMembers(floors.len()));
        }
        Ok(floors)
    }

    /// Opens a v2 reply. Checks, in order: it is for us ([`Error::NotForUs`]); an
    /// introduction is pending ([`Error::NoPendingIntroduction`]) and the reply answers
    /// it ([`Error::StaleReply`]); its signature for this topic under the key it
    /// carries ([`Error::BadSignature`]); the box opens ([`Error::DecryptFailed`]); the
    /// replier is trusted ([`Error::UntrustedReplier`]); when this topic holds a key,
    /// the replier is a member of its epoch ([`Error::NotAMember`]) and the reply is for
    /// that very epoch ([`Error::EpochMismatch`]). Only then is the key installed, with
    /// the reply's member list and replay floors.
    #[inline(never)]
    pub(crate) fn parse_reply_v2(&mut self, reply: &V2Message<'_>) -> Result<PublicKey, Error> {
        self.resume()?;
        let topic = self.v2.topic_for(reply)?;
        let Body::Reply {
            recipient,
            intro_digest,
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
        let recipient = ParticipantId::from_bytes(*recipient);
        if recipient != self.id() {
            return Err(Error::NotForUs { recipient });
        }
        let pending = self
            .v2
            .group
            .pending
            .as_ref()
            .ok_or(Error::NoPendingIntroduction)?;
        if pending.digest != *intro_digest {
            return Err(Error::StaleReply);
        }
        let replier = check_self_signed::<B>(&topic, reply)?;
        let key = open_key::<B>(
            &BoxPublicKey::from_bytes(*encryption_key),
            Ok(&pending.secret),
            nonce,
            sealed_key,
            tag,
        )?;
        let replier_id = B::participant_id(&replier);
        if self.trusted_key(&replier_id)? != Some(replier) {
            return Err(Error::UntrustedReplier {
                key: replier,
                id: replier_id,
            });
        }
        self.install_reply_v2(reply, &replier_id, &key)?;
        Ok(replier)
    }

    /// Installs the key of a reply that passed [`parse_reply_v2`](Self::parse_reply_v2)'s
    /// checks, with its epoch, member list and replay floors (or refuses the epoch).
    /// Never inlined: the epoch it builds is not on the stack while the reply's
    /// signature is checked.
    #[inline(never)]
    fn install_reply_v2(
        &mut self,
        reply: &V2Message<'_>,
        replier_id: &ParticipantId,
        key: &[u8; 32],
    ) -> Result<(), Error> {
        let Body::Reply {
            epoch_id,
            parent_epoch,
            starter,
            ..
        } = reply.body()
        else {
            return Err(Error::Malformed {
                message_type: Some(crate::wire::MessageType::V2(V2Type::Reply)),
                len: reply.as_bytes().len(),
            });
        };
        let listed = Members::<C>::try_from_ids("members", reply.reply_members())?;
        let offered = Epoch {
            number: reply.header().epoch(),
            id: *epoch_id,
            parent: present(parent_epoch),
            parent_members: None,
            starter: present(starter).map(ParticipantId::from_bytes),
            members: (!listed.is_empty()).then_some(listed),
        };
        let next = self.epoch_after_reply(replier_id, offered)?;
        self.change_group(|t| {
            for (id, floor) in reply.reply_floors() {
                let f = t.v2.group.floors.entry(id, || 0)?;
                *f = (*f).max(floor);
                if let Some(record) = t.v2.senders.get_mut(&id) {
                    record.window.raise_floor(floor);
                }
            }
            if next.id != t.v2.group.current.id {
                t.v2.group.previous = None;
            }
            t.v2.group.current = next;
            t.set_topic_key(Some(TopicKey::from_bytes(*key)));
            t.v2.group.pending = None;
            t.pending_intro = None;
            Ok(())
        })
    }

    /// The epoch this topic is in after taking a reply of `replier` offering `offered`,
    /// or the reason to refuse it. A topic without a key takes what a trusted replier
    /// offers, if not below the epoch it last held (it has no key to protect, but a
    /// member that forgot its epoch must not be moved back). One holding a key moves between
    /// epochs only through rekeys, which an admin signed: it takes a reply only for the
    /// epoch it holds, from a member of it. A reply cannot prove that another epoch
    /// was started by an admin, so it could otherwise hand over one that a rotated-out
    /// participant made up.
    fn epoch_after_reply(
        &self,
        replier: &ParticipantId,
        offered: Epoch<C>,
    ) -> Result<Epoch<C>, Error> {
        let current = &self.v2.group.current;
        if self.topic_key().is_none() {
            if offered.number < current.number {
                return Err(Error::EpochMismatch {
                    current: current.number,
                    got: offered.number,
                });
            }
            return Ok(offered);
        }
        if !self.is_current_member(replier) {
            return Err(Error::NotAMember(*replier));
        }
        if offered.number != current.number || offered.id != current.id {
            return Err(Error::EpochMismatch {
                current: current.number,
                got: offered.number,
            });
        }
        let mut kept = current.clone();
        if kept.members.is_none() {
            kept.members = offered.members;
        }
        Ok(kept)
    }

    /// Forgets the topic key of the epoch this topic holds (and the previous epoch), so
    /// that the next reply of a trusted participant, or the next rekey of a trusted
    /// admin listing it, brings it in again as a newcomer, at this epoch or a later one:
    /// what a member does when it can no longer follow the rekeys (it missed one, or it
    /// was rotated out and an admin listed it again). The epoch's number and id, the
    /// topic id, admins and replay floors stay. Saved to the trust store like every
    /// change of the group state.
    pub fn forget_epoch(&mut self) -> Result<(), Error> {
        self.resume()?;
        self.change_group(|t| {
            t.v2.group.current.members = None;
            t.v2.group.previous = None;
            t.set_topic_key(None);
            Ok(())
        })
    }
}
