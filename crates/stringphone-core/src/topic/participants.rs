//! Whom a topic trusts: its trust store behind the participant calls, the cache of
//! decompressed keys beside it, and the one trust decision and signature check both
//! formats make of a sender (`sender_trust`, `verify_trusted`).

use super::{DecodeMode, SenderTrust, Topic};
use crate::backend::{Backend, Identity};
use crate::signatures::{verify_signature, PreparedKey};
use crate::v2::capacity::Capacity;
use crate::{Error, ParticipantId, PublicKey, TrustStore};

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Trusts `key`: strict decoding then accepts its messages, and
    /// [`construct_reply`](Self::construct_reply) answers its introductions. Returns its
    /// participant id.
    ///
    /// A key that can never verify a signature under the rule (not a canonical point,
    /// or of small order) is refused with [`Error::InvalidPublicKey`].
    pub fn add_participant(&mut self, key: PublicKey) -> Result<ParticipantId, Error> {
        let prepared = PreparedKey::<B>::new(&key)?;
        let id = B::participant_id(&key);
        self.store.insert(id, key)?;
        self.verifiers.insert(id, prepared);
        Ok(id)
    }

    /// Stops trusting `id`; returns the key it had, if it was trusted. An admin loses
    /// its admin right too (saved before the trust is removed, so a crash in between
    /// leaves the safer state), and trusting it again does not give it back.
    pub fn remove_participant(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, Error> {
        self.drop_admin_right(id)?;
        let removed = self.store.remove(id)?;
        self.verifiers.remove(id);
        Ok(removed)
    }

    /// Every trusted participant, as `(id, public key)`.
    pub fn participants(&self) -> Result<S::Iter<'_>, Error> {
        Ok(self.store.iter()?)
    }

    /// The trusted key of `id`, if any.
    pub fn trusted_key(&self, id: &ParticipantId) -> Result<Option<PublicKey>, Error> {
        Ok(self.store.get(id)?)
    }

    /// The trust store.
    #[must_use]
    pub fn trust_store(&self) -> &S {
        &self.store
    }

    /// The trust store, for changes made around the topic. Safe: decoding asks the
    /// store on every message and uses a cached key only if the store still agrees.
    pub fn trust_store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Takes the topic apart, giving back its trust store.
    pub fn into_trust_store(self) -> S {
        self.store
    }

    /// What `mode` makes of a message's `sender`, for both formats: in naive mode
    /// nothing is asked; otherwise the trust store, and an untrusted sender is
    /// ignored ([`DecodeMode::IgnoreUntrusted`]) or refused
    /// ([`Error::UntrustedSender`]).
    // Inlined into its two callers, as it was written there before: as one shared
    // function it changed what the compiler inlined around it (+1.3 KiB of flash).
    #[inline(always)]
    pub(crate) fn sender_trust(
        &self,
        sender: ParticipantId,
        mode: DecodeMode,
    ) -> Result<SenderTrust, Error> {
        if mode == DecodeMode::Naive {
            return Ok(SenderTrust::Naive);
        }
        match self.trusted_key(&sender)? {
            Some(key) => Ok(SenderTrust::Verify(key)),
            None if mode == DecodeMode::IgnoreUntrusted => Ok(SenderTrust::Ignored),
            None => Err(Error::UntrustedSender(sender)),
        }
    }

    /// The cached key of `sender`, if the store's `key` is still the one cached.
    pub(crate) fn cached_key(
        &self,
        sender: &ParticipantId,
        key: &PublicKey,
    ) -> Option<&PreparedKey<B>> {
        self.verifiers
            .get(sender)
            .filter(|cached| cached.public_key() == key)
    }

    /// One signature by the rule, with the cached key when there is one.
    pub(crate) fn verify_trusted(
        &self,
        sender: &ParticipantId,
        key: &PublicKey,
        signed: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), Error> {
        if let Some(cached) = self.cached_key(sender, key) {
            return cached.verify(signed, signature);
        }
        verify_signature::<B>(key, signed, signature)
    }
}
