//! Key rotation (v2): admins start new epochs with fresh keys, sealed to each member.
//!
//! A topic's admins are its creator by default (a topic built holding a key counts
//! itself as one); others are named with [`Topic::add_admin`]. An admin's
//! [`Topic::rotate_with`] draws a fresh topic key, seals it to the static X25519 key
//! of each member of the new epoch (derived from the member's Ed25519 identity, as
//! libsodium's `crypto_sign_ed25519_pk_to_curve25519` does), and signs the rekey
//! message, which names the epoch it follows by that epoch's id. Receivers accept a
//! rekey only from an admin they trust, only if it follows the epoch they hold, and
//! only if they are listed. From then on, messages of the new epoch from anyone not
//! listed are refused ([`Error::NotAMember`]): a removed participant can neither read
//! the new epoch nor be heard in it, and only an admin's rekey can bring it back.
//!
//! # Two admins rotating at once
//! Both rekeys follow the same epoch and carry the same epoch number. The one whose
//! epoch id (the BLAKE3 digest of the rekey) is smaller wins, everywhere: a receiver
//! that already moved to the other one switches when it sees the winner (the loser's
//! key is dropped; messages sealed under it in the meantime are lost), and a receiver
//! that holds the winner ignores the loser ([`RekeyOutcome::Superseded`]). A receiver
//! recognises the competitor by the id of the epoch both follow, which it keeps after
//! the previous epoch's key is gone, so this holds after the grace period too.
//!
//! # Grace period
//! After moving to a new epoch a receiver still reads the previous one until it has
//! decoded [`DEFAULT_GRACE_MESSAGES`](super::state::DEFAULT_GRACE_MESSAGES) messages
//! of the new one (set with [`Topic::set_grace_messages`]), or until
//! [`Topic::expire_previous_epoch`]: a count, not a wall clock, since devices may have
//! none.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use aead::AeadInPlace;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::state::PreviousEpoch;
use super::wire::{
    self, Body, V2Message, V2Type, HEADER_LEN, MAX_MEMBERS, REKEY_ENTRY_LEN, REKEY_FIXED_LEN,
};
use super::{digest, signed_string, ProtocolVersion, EPOCH_CONTEXT};
use crate::backend::{Backend, Identity};
use crate::topic::sign;
use crate::{BoxSecret, Error, ParticipantId, PublicKey, Topic, TopicKey, TrustStore};

/// What [`Topic::accept_rekey`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl<B: Backend, S: TrustStore, I: Identity> Topic<B, S, I> {
    /// The current key epoch (0 until the first rotation).
    pub fn epoch(&self) -> u32 {
        self.v2.epoch
    }

    /// The members of the current epoch, as listed by the rekey that started it;
    /// `None` before the first rotation, when the trust store alone decides.
    pub fn members(&self) -> Option<impl Iterator<Item = &ParticipantId>> {
        self.v2.members.as_ref().map(|m| m.iter())
    }

    /// Trusts `key` as an admin, whose rekeys this topic accepts. Returns its id.
    pub fn add_admin(&mut self, key: PublicKey) -> Result<ParticipantId, Error> {
        let id = self.add_participant(key)?;
        self.v2.admins.insert(id);
        Ok(id)
    }

    /// Stops accepting rekeys from `id` (it stays trusted as a participant).
    pub fn remove_admin(&mut self, id: &ParticipantId) -> bool {
        self.v2.admins.remove(id)
    }

    /// Whether `id` is an admin of this topic.
    pub fn is_admin(&self, id: &ParticipantId) -> bool {
        self.v2.admins.contains(id)
    }

    /// How many messages of a new epoch are decoded before the previous epoch's key is
    /// dropped.
    pub fn set_grace_messages(&mut self, messages: u32) {
        self.v2.grace_messages = messages;
        if let Some(p) = &mut self.v2.previous {
            p.remaining = p.remaining.min(messages);
        }
    }

    /// Forgets the previous epoch's key now.
    pub fn expire_previous_epoch(&mut self) {
        self.v2.previous = None;
    }

    /// Starts a new epoch: a fresh topic key for `members` (every trusted participant
    /// and this admin when `None`) and the rekey message announcing it, which every
    /// listed member feeds to [`accept_rekey`](Self::accept_rekey). This topic moves to
    /// the new epoch at once. Draws the session value if not drawn yet, then 32 bytes
    /// (the key) and 32 bytes (the ephemeral X25519 secret).
    ///
    /// Refused with [`Error::NotAnAdmin`] unless this topic counts itself an admin,
    /// [`Error::ProtocolRefused`] unless it sends v2, [`Error::UntrustedSender`] for a
    /// listed id it does not trust, [`Error::NoStaticKey`] when a member's key has no
    /// X25519 form.
    pub fn rotate_with(
        &mut self,
        rng: &mut impl CryptoRngCore,
        members: Option<&[ParticipantId]>,
    ) -> Result<Vec<u8>, Error> {
        if !self.v2.protocol.sends_v2() {
            return Err(Error::ProtocolRefused {
                version: 2,
                accepts: self.v2.protocol,
            });
        }
        if !self.is_admin(&self.id()) {
            return Err(Error::NotAnAdmin(self.id()));
        }
        let mut listed: BTreeSet<ParticipantId> = match members {
            Some(ids) => ids.iter().copied().collect(),
            None => self.participants()?.map(|(id, _)| id).collect(),
        };
        listed.insert(self.id());
        if listed.len() > MAX_MEMBERS {
            return Err(Error::TooManyMembers(listed.len()));
        }
        let mut recipients = Vec::with_capacity(listed.len());
        for id in &listed {
            let key = if *id == self.id() {
                self.public_key()
            } else {
                self.trusted_key(id)?.ok_or(Error::UntrustedSender(*id))?
            };
            recipients.push((*id, B::static_box_public(&key)?));
        }
        let epoch = self
            .v2
            .epoch
            .checked_add(1)
            .ok_or(Error::CounterExhausted)?;
        let session = self.v2.session(rng)?;
        let new_key = TopicKey::generate_with(rng)?;
        let secret = BoxSecret::generate_with(rng)?;
        let counter = self.take_counter()?;

        let len = REKEY_FIXED_LEN + recipients.len() * REKEY_ENTRY_LEN;
        let mut out = alloc::vec![0u8; len];
        wire::write_header(
            &mut out,
            V2Type::Rekey,
            epoch,
            &self.id(),
            &session,
            counter,
        );
        let mut at = HEADER_LEN;
        out[at..at + 32].copy_from_slice(&self.v2.epoch_id);
        out[at + 32..at + 64].copy_from_slice(B::box_public_key(&secret).as_bytes());
        out[at + 64..at + 66].copy_from_slice(&(recipients.len() as u16).to_be_bytes());
        at += 66;
        for (index, (id, static_key)) in recipients.iter().enumerate() {
            let mut sealed = Zeroizing::new(*new_key.expose_secret());
            let tag = B::box_cipher(static_key, &secret)
                .encrypt_in_place_detached(&entry_nonce(epoch, index).into(), b"", sealed.as_mut())
                .map_err(|_| Error::EncryptFailed)?;
            out[at..at + 16].copy_from_slice(id.as_bytes());
            out[at + 16..at + 48].copy_from_slice(&sealed[..]);
            out[at + 48..at + 64].copy_from_slice(&tag);
            at += REKEY_ENTRY_LEN;
        }
        let signature = sign(self.identity(), &signed_string(&out[..len - 64]))?;
        out[len - 64..].copy_from_slice(&signature);

        let id = digest(EPOCH_CONTEXT, &out);
        self.enter_epoch(epoch, id, new_key, listed, true);
        Ok(out)
    }

    /// Rotates with OS randomness; see [`rotate_with`](Self::rotate_with).
    #[cfg(feature = "std")]
    pub fn rotate(&mut self, members: Option<&[ParticipantId]>) -> Result<Vec<u8>, Error> {
        self.rotate_with(&mut rand_core::OsRng, members)
    }

    /// Moves to a new epoch. `from_current`: the epoch being left becomes the previous
    /// one (a normal rotation); otherwise the current epoch is replaced (a tie-break
    /// between two rekeys of the same epoch) and the previous one stays.
    fn enter_epoch(
        &mut self,
        epoch: u32,
        id: [u8; 32],
        key: TopicKey,
        members: BTreeSet<ParticipantId>,
        from_current: bool,
    ) {
        if from_current {
            // A competing rekey of the new epoch follows the same parent; when the
            // winner replaces the loser (`from_current == false`) the parent stays.
            self.v2.parent_id = Some(self.v2.epoch_id);
            self.v2.previous = self.topic_key().cloned().map(|old| PreviousEpoch {
                epoch: self.v2.epoch,
                key: old,
                members: self.v2.members.take(),
                remaining: self.v2.grace_messages,
            });
            if self.v2.grace_messages == 0 {
                self.v2.previous = None;
            }
        }
        self.set_topic_key(Some(key));
        self.v2.epoch = epoch;
        self.v2.epoch_id = id;
        self.v2.members = Some(members);
        self.v2.own_key = None;
    }

    /// Accepts an admin's rekey. Checks, in order: the protocol
    /// ([`Error::ProtocolRefused`]); the sender is a trusted admin
    /// ([`Error::NotAnAdmin`], [`Error::UntrustedSender`]) and signed it
    /// ([`Error::BadSignature`]); it follows the epoch this topic holds
    /// ([`Error::EpochMismatch`]; see the module docs for the tie-break); this topic is
    /// listed ([`Error::NotAMember`]); its entry opens ([`Error::NoStaticKey`],
    /// [`Error::DecryptFailed`]). Any refusal changes nothing.
    pub fn accept_rekey(&mut self, rekey: &[u8]) -> Result<RekeyOutcome, Error> {
        let m = V2Message::parse(rekey)?;
        if !self.v2.protocol.accepts_v2() {
            return Err(Error::ProtocolRefused {
                version: 2,
                accepts: self.v2.protocol,
            });
        }
        let Body::Rekey {
            previous_epoch,
            encryption_key,
            ..
        } = m.body()
        else {
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
        self.verify_trusted(&admin, &key, &signed_string(m.signed_part()), m.signature())?;

        let epoch = m.header().epoch();
        let id = digest(EPOCH_CONTEXT, rekey);
        let from_current =
            if Some(epoch) == self.v2.epoch.checked_add(1) && *previous_epoch == self.v2.epoch_id {
                true
            } else if epoch == self.v2.epoch && self.v2.parent_id.as_ref() == Some(previous_epoch) {
                // A competing rekey of the epoch we hold: the smaller id wins.
                if id >= self.v2.epoch_id {
                    return Ok(RekeyOutcome::Superseded);
                }
                false
            } else {
                return Err(Error::EpochMismatch {
                    current: self.v2.epoch,
                    got: epoch,
                });
            };

        let me = self.id();
        let (index, entry) = m
            .rekey_entries()
            .enumerate()
            .find(|(_, e)| e.member == me)
            .ok_or(Error::NotAMember(me))?;
        // An admin's small-order key would seal the epoch key under a zero secret.
        if crate::discovery::box_key_has_small_order::<B>(&crate::BoxPublicKey::from_bytes(
            *encryption_key,
        )) {
            return Err(Error::DecryptFailed);
        }
        let secret = self
            .identity()
            .static_box_secret()
            .ok_or(Error::NoStaticKey)?;
        let mut new_key = Zeroizing::new(*entry.sealed_key);
        B::box_cipher(&crate::BoxPublicKey::from_bytes(*encryption_key), &secret)
            .decrypt_in_place_detached(
                &entry_nonce(epoch, index).into(),
                b"",
                new_key.as_mut(),
                entry.tag.into(),
            )
            .map_err(|_| Error::DecryptFailed)?;
        let members = m.rekey_entries().map(|e| e.member).collect();
        self.enter_epoch(
            epoch,
            id,
            TopicKey::from_bytes(*new_key),
            members,
            from_current,
        );
        Ok(RekeyOutcome::Rotated { epoch })
    }

    /// The wire-format setting of this topic (classic by default).
    pub fn protocol(&self) -> ProtocolVersion {
        self.v2.protocol
    }

    /// Sets which wire formats this topic speaks; see [`ProtocolVersion`].
    pub fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.v2.protocol = protocol;
    }
}
