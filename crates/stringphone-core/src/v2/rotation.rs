//! Key rotation (v2): admins start new epochs with fresh keys, sealed to each member.
//!
//! A topic's admins are its creator by default (a topic built holding a key counts
//! itself as one); others are named with [`Topic::add_admin`]. An admin's
//! [`Topic::rotate_with`] draws a fresh topic key, seals it to the static X25519 key
//! of each member of the new epoch (derived from the member's Ed25519 identity, as
//! libsodium's `crypto_sign_ed25519_pk_to_curve25519` does), and signs the rekey
//! message, which names the epoch it follows by that epoch's id and is signed for the
//! topic. Receivers accept a rekey only from an admin they trust who is a member of the
//! epoch it follows, only if it follows the epoch they hold, and only if they are
//! listed. From then on, messages of the new epoch from anyone not listed are refused
//! ([`Error::NotAMember`]), and replies hand the key to listed members only: a removed
//! participant can neither read the new epoch nor be heard in it, and only an admin's
//! rekey can bring it back. Removing a participant from the trust store also takes
//! away its admin right.
//!
//! # Two admins rotating at once
//! Both rekeys follow the same epoch and carry the same epoch number. Each is ranked on
//! its own, so every receiver picks the same winner among any number of them, in any
//! order: the one listing fewer members wins (a rotation that removes someone beats one
//! that keeps everyone, so a removal is not undone by a concurrent rotation of the
//! removed admin), then the one from the admin with the smaller participant id, then
//! (two rekeys of one admin) the smaller epoch id. An admin cannot change its id
//! without becoming another participant, who is no admin, so no admin can win by
//! trying rekeys until one comes out smaller. A receiver that already moved to the loser switches when it sees the
//! winner (the loser's key is dropped; messages sealed under it in the meantime are
//! lost), and a receiver that holds the winner ignores the loser
//! ([`RekeyOutcome::Superseded`]). A receiver recognises the competitor by the id of
//! the epoch both follow, which it keeps after the previous epoch's key is gone, so
//! this holds after the grace period too; a replier hands that id (and the winner's
//! admin) over, so a rejoiner converges the same way.
//!
//! # Protocol settings
//! Rotation needs a topic that sends v2. In [`super::ProtocolVersion::Both`] membership applies
//! to classic traffic too: once an epoch lists its members, a classic message or a
//! classic introduction from anyone else is refused ([`Error::NotAMember`]).
//!
//! # Grace period
//! After moving to a new epoch a receiver still reads the previous one until it has
//! decoded [`DEFAULT_GRACE_MESSAGES`](super::state::DEFAULT_GRACE_MESSAGES) messages
//! of the new one (set with [`Topic::set_grace_messages`]), or until
//! [`Topic::expire_previous_epoch`]: a count, not a wall clock, since devices may have
//! none.

use super::capacity::Capacity;
use rand_core::CryptoRngCore;

use super::capacity::Members;
use super::state::{Epoch, PreviousEpoch};
use super::wire::{self, Body, V2Message, V2Type, MAX_MEMBERS, REKEY_ENTRY_LEN, REKEY_FIXED_LEN};
use super::{signed_string, EPOCH_CONTEXT};
use crate::backend::{Backend, Identity};
use crate::sealed_key::{open_key, seal_key};
use crate::signatures::sign;
use crate::{BoxSecret, Error, ParticipantId, Topic, TopicKey, TrustStore};

/// What [`Topic::accept_rekey`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RekeyOutcome {
    /// The topic moved to the rekey's epoch.
    Rotated {
        /// The new epoch.
        epoch: u32,
    },
    /// A competing rekey for the epoch this topic holds, and it lost the tie-break (or
    /// it is the very rekey this topic already follows): nothing changed.
    Superseded,
}

/// The crypto_box nonce of a rekey entry: the epoch and the entry's index. Each entry
/// is sealed with a different key (one agreement per member), so this only has to be
/// unique per entry.
fn entry_nonce(epoch: u32, index: usize) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..4].copy_from_slice(&epoch.to_be_bytes());
    n[4..8].copy_from_slice(&(index as u32).to_be_bytes());
    n
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Starts a new epoch: a fresh topic key for `members` (every trusted participant
    /// and this admin when `None`) and the rekey message announcing it, which every
    /// listed member feeds to [`accept_rekey`](Self::accept_rekey). This topic moves to
    /// the new epoch at once (and saves it to its store first). Draws the session value
    /// if not drawn yet, then 32 bytes (the key) and 32 bytes (the ephemeral X25519
    /// secret).
    ///
    /// Refused with [`Error::ProtocolRefused`] unless this topic sends v2,
    /// [`Error::NoTopicId`] without a topic id, [`Error::NotAnAdmin`] unless this topic
    /// counts itself an admin, [`Error::NotAMember`] when this admin was left out of
    /// the current epoch, [`Error::UntrustedSender`] for a listed id it does not trust,
    /// [`Error::NoStaticKey`] when a member's key has no X25519 form.
    ///
    /// `rng` is any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
    #[cfg(feature = "alloc")]
    pub fn rotate_with(
        &mut self,
        rng: &mut impl CryptoRngCore,
        members: Option<&[ParticipantId]>,
    ) -> Result<alloc::vec::Vec<u8>, Error> {
        let mut rekey = alloc::vec::Vec::new();
        self.rotate_into_with(rng, members, crate::wire::grow(&mut rekey))?;
        Ok(rekey)
    }

    /// [`rotate_with`](Self::rotate_with) into the first bytes of `out`, without a
    /// heap; returns their number, `v2::wire::REKEY_FIXED_LEN` plus
    /// `v2::wire::REKEY_ENTRY_LEN` per member. A buffer too short is refused
    /// ([`Error::BufferTooSmall`]) before anything changes (the counter drawn for it
    /// stays spent: counters only move forward).
    pub fn rotate_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        members: Option<&[ParticipantId]>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.rotate_into_with(rng, members, |len| crate::wire::prefix_mut(out, len))
    }

    /// The members a rekey of this admin lists: `members` (every trusted participant
    /// when `None`) and this identity, each trusted ([`Error::UntrustedSender`]), at
    /// most [`MAX_MEMBERS`] ([`Error::TooManyMembers`]).
    fn rekey_members(&self, members: Option<&[ParticipantId]>) -> Result<Members<C>, Error> {
        let me = self.id();
        let mut listed = match members {
            Some(ids) => Members::<C>::try_from_ids("members", ids.iter().copied())?,
            None => Members::<C>::try_from_ids("members", self.participants()?.map(|(id, _)| id))?,
        };
        listed.insert(me)?;
        if listed.len() > MAX_MEMBERS {
            return Err(Error::TooManyMembers(listed.len()));
        }
        for id in listed.iter() {
            if *id != me && self.trusted_key(id)?.is_none() {
                return Err(Error::UntrustedSender(*id));
            }
        }
        Ok(listed)
    }

    /// The rekey of [`rotate_with`](Self::rotate_with), written into the buffer `out`
    /// gives for its length.
    fn rotate_into_with<'o>(
        &mut self,
        rng: &mut impl CryptoRngCore,
        members: Option<&[ParticipantId]>,
        out: impl FnOnce(usize) -> Result<&'o mut [u8], Error>,
    ) -> Result<usize, Error> {
        self.resume()?;
        if !self.v2.protocol.sends_v2() {
            return Err(self.refusal(2));
        }
        let topic = self.v2.topic_id()?;
        let me = self.id();
        if !self.is_admin(&me) {
            return Err(Error::NotAnAdmin(me));
        }
        if !self.is_current_member(&me) {
            return Err(Error::NotAMember(me));
        }
        let listed = self.rekey_members(members)?;
        let epoch = self
            .v2
            .group
            .current
            .number
            .checked_add(1)
            .ok_or(Error::CounterExhausted)?;
        let session = self.v2.session(rng)?;
        let new_key = TopicKey::generate_with(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let counter = self.take_counter()?;

        let len = REKEY_FIXED_LEN + listed.len() * REKEY_ENTRY_LEN;
        let out = out(len)?;
        wire::write_header(
            out,
            V2Type::Rekey,
            topic.suite().byte(),
            epoch,
            &me,
            &session,
            counter,
        );
        let box_key = B::box_public_key(&secret);
        let previous = self.v2.group.current.id;
        wire::write_rekey_head(out, &previous, box_key.as_bytes(), listed.len());
        for (index, id) in listed.iter().enumerate() {
            let key = if *id == me {
                self.public_key()
            } else {
                self.trusted_key(id)?.ok_or(Error::UntrustedSender(*id))?
            };
            let static_key = B::static_box_public(&key)?;
            let nonce = entry_nonce(epoch, index);
            let sealed = seal_key::<B>(&static_key, &secret, &nonce, new_key.expose_secret())?;
            wire::write_rekey_entry(out, index, id, &sealed.sealed, &sealed.tag);
        }
        let signature = sign(self.identity(), &signed_string(&topic, &out[..len - 64]))?;
        wire::write_signature(out, &signature);

        let id = topic.digest(EPOCH_CONTEXT, &out[..len]);
        self.change_group(|t| {
            let parent = t.v2.group.current.id;
            t.enter_epoch(epoch, id, parent, me, new_key, listed, true);
            Ok(())
        })?;
        Ok(len)
    }

    /// Rotates with OS randomness; see [`rotate_with`](Self::rotate_with).
    #[cfg(feature = "std")]
    pub fn rotate(
        &mut self,
        members: Option<&[ParticipantId]>,
    ) -> Result<alloc::vec::Vec<u8>, Error> {
        self.rotate_with(&mut rand_core::OsRng, members)
    }

    /// Moves to a new epoch started by `starter`, following `parent`. `from_current`:
    /// the epoch being left becomes the previous one (a normal rotation); otherwise the
    /// current epoch is replaced (the winner of a tie-break between two rekeys of the
    /// same epoch) and the previous one, the parent and its members stay.
    #[allow(clippy::too_many_arguments)] // one rekey's fields, named at each call
    fn enter_epoch(
        &mut self,
        number: u32,
        id: [u8; 32],
        parent: [u8; 32],
        starter: ParticipantId,
        key: TopicKey,
        members: Members<C>,
        from_current: bool,
    ) {
        let old_key = self.topic_key().cloned();
        let group = &mut self.v2.group;
        let (parent, parent_members) = if from_current {
            let left = &mut group.current;
            group.previous = old_key.map(|old| PreviousEpoch {
                number: left.number,
                id: left.id,
                key: old,
                members: left.members.clone(),
                remaining: group.grace_messages,
            });
            if group.grace_messages == 0 {
                group.previous = None;
            }
            (Some(parent), left.members.take())
        } else {
            (group.current.parent, group.current.parent_members.take())
        };
        group.current = Epoch {
            number,
            id,
            parent,
            parent_members,
            starter: Some(starter),
            members: Some(members),
        };
        self.set_topic_key(Some(key));
    }

    /// Accepts an admin's rekey. Checks, in order: the protocol
    /// ([`Error::ProtocolRefused`]) and the topic id ([`Error::NoTopicId`]); the sender
    /// is a trusted admin ([`Error::NotAnAdmin`], [`Error::UntrustedSender`]) and
    /// signed it for this topic ([`Error::BadSignature`]); it follows the epoch this
    /// topic holds, or competes with it for the same parent ([`Error::EpochMismatch`];
    /// see the module docs for the tie-break); the admin is a member of the epoch it
    /// follows ([`Error::NotAMember`]); this topic is listed ([`Error::NotAMember`]);
    /// its entry opens ([`Error::NoStaticKey`], [`Error::DecryptFailed`]). Any refusal
    /// changes nothing; an accepted rekey is saved to the store before it takes effect.
    pub fn accept_rekey(&mut self, rekey: &[u8]) -> Result<RekeyOutcome, Error> {
        let m = V2Message::parse(rekey)?;
        if !self.v2.protocol.accepts_v2() {
            return Err(self.refusal(2));
        }
        self.resume()?;
        let topic = self.v2.topic_for(&m)?;
        let Body::Rekey { .. } = m.body() else {
            return Err(Error::WrongType {
                expected: crate::wire::MessageType::V2(V2Type::Rekey),
                found: crate::wire::MessageType::V2(m.header().message_type()),
            });
        };
        let admin = m.header().sender_id();
        if !self.is_admin(&admin) {
            return Err(Error::NotAnAdmin(admin));
        }
        let key = self
            .trusted_key(&admin)?
            .ok_or(Error::UntrustedSender(admin))?;
        self.verify_trusted(
            &admin,
            &key,
            &signed_string(&topic, m.signed_part()),
            m.signature(),
        )?;
        self.take_rekey(&m, rekey, admin)
    }

    /// The rest of [`accept_rekey`](Self::accept_rekey) once the admin's signature is
    /// checked. Never inlined: the member list it builds is not on the stack while the
    /// signature is checked.
    #[inline(never)]
    fn take_rekey(
        &mut self,
        m: &V2Message<'_>,
        rekey: &[u8],
        admin: ParticipantId,
    ) -> Result<RekeyOutcome, Error> {
        let Body::Rekey {
            previous_epoch,
            encryption_key,
            ..
        } = m.body()
        else {
            return Err(Error::Malformed {
                message_type: Some(crate::wire::MessageType::V2(V2Type::Rekey)),
                len: rekey.len(),
            });
        };
        let number = m.header().epoch();
        let id = self.v2.topic_id()?.digest(EPOCH_CONTEXT, rekey);
        let members = Members::<C>::try_from_ids("members", m.rekey_entries().map(|e| e.member))?;
        let Some(from_current) =
            self.rekey_follows(number, &id, previous_epoch, &admin, &members)?
        else {
            return Ok(RekeyOutcome::Superseded);
        };

        let me = self.id();
        let (index, entry) = m
            .rekey_entries()
            .enumerate()
            .find(|(_, e)| e.member == me)
            .ok_or(Error::NotAMember(me))?;
        // An admin's small-order key would seal the epoch key under a zero secret.
        // (A small-order key is refused first, then a missing static key: `open_key`.)
        let secret = self.identity().static_box_secret();
        let new_key = open_key::<B>(
            &crate::BoxPublicKey::from_bytes(*encryption_key),
            secret.as_ref().ok_or(Error::NoStaticKey),
            &entry_nonce(number, index),
            entry.sealed_key,
            entry.tag,
        )?;
        self.change_group(|t| {
            t.enter_epoch(
                number,
                id,
                *previous_epoch,
                admin,
                TopicKey::from_bytes(*new_key),
                members,
                from_current,
            );
            Ok(())
        })?;
        Ok(RekeyOutcome::Rotated { epoch: number })
    }

    /// Where a rekey by `admin` of epoch `number` (id `id`, following
    /// `previous_epoch`, listing `members`) takes this topic: `None` when it is
    /// superseded (taken already, or a competing rekey that loses), else whether it
    /// follows the current epoch (`false`: it replaces it). Refuses a rekey that does
    /// not extend the epoch held ([`Error::EpochMismatch`]) and one by an admin left
    /// out of the epoch it follows ([`Error::NotAMember`]).
    fn rekey_follows(
        &self,
        number: u32,
        id: &[u8; 32],
        previous_epoch: &[u8; 32],
        admin: &ParticipantId,
        members: &Members<C>,
    ) -> Result<Option<bool>, Error> {
        let current = &self.v2.group.current;
        let (from_current, followed_members) = if *id == current.id {
            return Ok(None);
        } else if self.topic_key().is_none() && number > current.number {
            // A topic without a key has no key to protect: an admin it trusts lets it
            // in by listing it (how an admin adds a newcomer, or takes back a member
            // that forgot its epoch), never back below the epoch it last held.
            (true, None)
        } else if Some(number) == current.number.checked_add(1) && previous_epoch == &current.id {
            (true, current.members.as_ref())
        } else if number == current.number && current.parent.as_ref() == Some(previous_epoch) {
            // A competing rekey of the epoch we hold: see the module docs.
            if !current.loses_to(admin, id, members) {
                return Ok(None);
            }
            (false, current.parent_members.as_ref())
        } else {
            return Err(Error::EpochMismatch {
                current: current.number,
                got: number,
            });
        };
        // Authority follows membership: an admin left out of an epoch may not rotate it.
        if followed_members.is_some_and(|m| !m.contains(admin)) {
            return Err(Error::NotAMember(*admin));
        }
        Ok(Some(from_current))
    }
}
