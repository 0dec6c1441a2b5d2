//! What a topic remembers for v2: its session, its counter, the epochs it holds,
//! who its admins are, and one replay window per sender.

use alloc::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::replay::ReplayWindow;
use super::ProtocolVersion;
use crate::{BoxSecret, Error, ParticipantId, TopicKey};

/// Messages of the new epoch a receiver decodes before it forgets the previous epoch's
/// key (unless [`crate::Topic::expire_previous_epoch`] is called sooner).
pub const DEFAULT_GRACE_MESSAGES: u32 = 256;

/// An epoch a topic no longer sends in but still reads for a while.
pub(crate) struct PreviousEpoch {
    pub(crate) epoch: u32,
    pub(crate) key: TopicKey,
    pub(crate) members: Option<BTreeSet<ParticipantId>>,
    /// Messages of the current epoch still to decode before this one is dropped.
    pub(crate) remaining: u32,
}

/// The receiver's record of one sender.
#[derive(Clone, Copy)]
pub(crate) struct SenderRecord {
    pub(crate) window: ReplayWindow,
    /// The mark in the trust store: counters at or above it have not been accepted.
    pub(crate) stored_mark: u64,
}

/// The v2 introduction awaiting its reply.
pub(crate) struct PendingIntro {
    /// Digest of the whole introduction; a reply must carry it.
    pub(crate) digest: [u8; 32],
    pub(crate) secret: BoxSecret,
}

/// The sender's derived key for the current epoch and session, computed once.
pub(crate) struct OwnKey {
    pub(crate) epoch: u32,
    pub(crate) key: Zeroizing<[u8; 32]>,
}

/// A sender's derived message key, kept so that HKDF runs once per sender and
/// session, not per message.
pub(crate) struct SenderKey {
    pub(crate) epoch: u32,
    pub(crate) session: [u8; 16],
    pub(crate) key: Zeroizing<[u8; 32]>,
}

/// Everything v2 keeps in a [`crate::Topic`].
pub(crate) struct V2State {
    pub(crate) protocol: ProtocolVersion,
    session: Option<[u8; 16]>,
    pub(crate) next_counter: u64,
    /// Counters below this are covered by the mark in the store; `None` until loaded.
    pub(crate) reserved: Option<u64>,
    pub(crate) epoch: u32,
    /// The epoch's id: zero for epoch 0, else the digest of the rekey that started it.
    pub(crate) epoch_id: [u8; 32],
    /// The id of the epoch the current one follows (the `previous_epoch` of the rekey
    /// that started it), if this topic saw that rekey. Kept after the previous epoch's
    /// key is gone, so a competing rekey of the current epoch can still be judged.
    pub(crate) parent_id: Option<[u8; 32]>,
    /// Members of the current epoch; `None` before the first rotation (the trust store
    /// alone decides then).
    pub(crate) members: Option<BTreeSet<ParticipantId>>,
    pub(crate) previous: Option<PreviousEpoch>,
    pub(crate) grace_messages: u32,
    pub(crate) admins: BTreeSet<ParticipantId>,
    pub(crate) senders: BTreeMap<ParticipantId, SenderRecord>,
    /// The last derived key of each verified sender.
    pub(crate) sender_keys: BTreeMap<ParticipantId, SenderKey>,
    pub(crate) pending: Option<PendingIntro>,
    pub(crate) own_key: Option<OwnKey>,
}

impl V2State {
    pub(crate) fn new(own_id: ParticipantId, holds_key: bool) -> Self {
        let mut admins = BTreeSet::new();
        // Whoever starts with the key created the topic (or was handed it with the
        // creator's trust): it may rotate. Joiners through discovery are not admins.
        if holds_key {
            admins.insert(own_id);
        }
        V2State {
            protocol: ProtocolVersion::Classic,
            session: None,
            next_counter: 0,
            reserved: None,
            epoch: 0,
            epoch_id: [0; 32],
            parent_id: None,
            members: None,
            previous: None,
            grace_messages: DEFAULT_GRACE_MESSAGES,
            admins,
            senders: BTreeMap::new(),
            sender_keys: BTreeMap::new(),
            pending: None,
            own_key: None,
        }
    }

    /// This instance's session value, drawn (16 bytes) on first use.
    pub(crate) fn session(&mut self, rng: &mut impl CryptoRngCore) -> Result<[u8; 16], Error> {
        if let Some(s) = self.session {
            return Ok(s);
        }
        let mut s = [0u8; 16];
        rng.try_fill_bytes(&mut s).map_err(|_| Error::Rng)?;
        self.session = Some(s);
        Ok(s)
    }

    /// The members of `epoch`, if it is one this topic holds and it has a list.
    pub(crate) fn members_of(&self, epoch: u32) -> Option<&BTreeSet<ParticipantId>> {
        if epoch == self.epoch {
            self.members.as_ref()
        } else {
            self.previous
                .as_ref()
                .filter(|p| p.epoch == epoch)
                .and_then(|p| p.members.as_ref())
        }
    }
}
