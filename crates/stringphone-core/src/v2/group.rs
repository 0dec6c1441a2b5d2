//! The group's state on a [`Topic`]: its topic id, its export and restore, and how
//! every change to it reaches the trust store before it takes effect.
//!
//! Each change to the group state (a rotation, an accepted rekey or reply, an
//! introduction, an admin named or removed, a grace setting) runs through
//! `change_group`: the change is made, the whole state is saved to the store
//! ([`TrustStore::save_group_state`]), and if either fails the topic is put back as it
//! was. So what the store holds is always a state the topic was in, and a restart
//! ([`Topic::resume`], done by every v2 operation first) continues from the last one.

use super::capacity::Capacity;
use super::state::{Epoch, GroupState, Rollback};
use super::{ProtocolVersion, TopicId};
use crate::backend::{Backend, Identity};
use crate::{Error, ParticipantId, PublicKey, Topic, TrustStore};

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Names the topic for v2 (see [`TopicId`]): every v2 operation needs it
    /// ([`Error::NoTopicId`]), and every participant of the topic must use the same.
    /// Reads the group state from the trust store first ([`resume`](Self::resume));
    /// a stored state of another topic is refused ([`Error::TopicMismatch`]).
    ///
    /// ```
    /// use stringphone_core::v2::TopicId;
    /// use stringphone_core::{SigningSeed, Topic};
    /// use stringphone_rustcrypto::RustCrypto;
    /// let mut t = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
    /// t.set_topic_id(TopicId::from_name(b"home/kitchen")).unwrap();
    /// assert_eq!(t.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    /// ```
    pub fn set_topic_id(&mut self, id: TopicId) -> Result<(), Error> {
        self.resume()?;
        match self.v2.group.topic_id {
            Some(current) if current == id => Ok(()),
            Some(_) => Err(Error::TopicMismatch),
            None => self.change_group(|t| {
                t.v2.group.topic_id = Some(id);
                if t.v2.group.current.number == 0 {
                    t.v2.group.current = Epoch::first(Some(&id));
                }
                Ok(())
            }),
        }
    }

    /// The topic id, once set.
    #[must_use]
    pub fn topic_id(&self) -> Option<TopicId> {
        self.v2.group.topic_id
    }

    /// The wire-format setting of this topic (classic by default).
    #[must_use]
    pub fn protocol(&self) -> ProtocolVersion {
        self.v2.protocol
    }

    /// Sets which wire formats this topic speaks; see [`ProtocolVersion`]. An
    /// application setting, not part of the group state.
    pub fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.v2.protocol = protocol;
    }

    /// The current key epoch (0 until the first rotation).
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.v2.group.current.number
    }

    /// The current epoch's id (see [`GroupState`]).
    #[must_use]
    pub fn epoch_id(&self) -> [u8; 32] {
        self.v2.group.current.id
    }

    /// The members of the current epoch, as listed by the rekey that started it;
    /// `None` when unknown (before the first rotation, or after joining through a
    /// reply), when the trust store alone decides.
    #[must_use]
    pub fn members(&self) -> Option<impl Iterator<Item = &ParticipantId>> {
        self.v2.group.current.members.as_ref().map(|m| m.iter())
    }

    /// Whether `id` is a member of the current epoch: listed, or trusted when there is
    /// no list.
    pub(crate) fn is_current_member(&self, id: &ParticipantId) -> bool {
        self.v2
            .group
            .current
            .members
            .as_ref()
            .is_none_or(|m| m.contains(id))
    }

    /// Trusts `key` as an admin, whose rekeys this topic accepts. Returns its id.
    /// A topic whose admins are at their fixed capacity refuses a new one
    /// ([`Error::CapacityExceeded`]) before trusting its key: nothing changes.
    pub fn add_admin(&mut self, key: PublicKey) -> Result<ParticipantId, Error> {
        self.resume()?;
        let id = B::participant_id(&key);
        if !self.v2.group.admins.contains(&id) {
            self.v2.group.admins.check_room()?;
        }
        let id = self.add_participant(key)?;
        self.change_group(|t| {
            t.v2.group.admins.insert(id)?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Stops accepting rekeys from `id` (it stays trusted as a participant). Returns
    /// whether it was an admin.
    pub fn remove_admin(&mut self, id: &ParticipantId) -> Result<bool, Error> {
        self.resume()?;
        if !self.v2.group.admins.contains(id) {
            return Ok(false);
        }
        self.change_group(|t| Ok(t.v2.group.admins.remove(id)))
    }

    /// Whether `id` is an admin of this topic.
    #[must_use]
    pub fn is_admin(&self, id: &ParticipantId) -> bool {
        self.v2.group.admins.contains(id)
    }

    /// How many messages of a new epoch are decoded before the previous epoch's key is
    /// dropped; 0 drops it now.
    pub fn set_grace_messages(&mut self, messages: u32) -> Result<(), Error> {
        self.resume()?;
        self.change_group(|t| {
            t.v2.group.grace_messages = messages;
            if let Some(p) = &mut t.v2.group.previous {
                p.remaining = p.remaining.min(messages);
                if p.remaining == 0 {
                    t.v2.group.previous = None;
                }
            }
            Ok(())
        })
    }

    /// Forgets the previous epoch's key now.
    pub fn expire_previous_epoch(&mut self) -> Result<(), Error> {
        self.resume()?;
        if self.v2.group.previous.is_none() {
            return Ok(());
        }
        self.change_group(|t| {
            t.v2.group.previous = None;
            Ok(())
        })
    }

    /// A snapshot of the group state as this instance holds it (see [`GroupState`]):
    /// the replay floors include, for every sender this instance heard, one past the
    /// highest counter accepted; the counter reservation is the end of the block this
    /// identity reserved. What an earlier process accepted is in the trust store's
    /// marks, not here: to move the state to another store, use
    /// [`export_group_state`](Self::export_group_state).
    #[must_use]
    pub fn group_state(&self) -> GroupState<C> {
        let mut group = self.v2.group.clone();
        for (id, record) in self.v2.senders.iter() {
            if let Some(top) = record.window.top() {
                // Floors and senders share one capacity, so a sender heard has room
                // unless floors were handed over for other senders; a floor without
                // room is left out (the trust store's mark still covers it).
                if let Ok(floor) = group.floors.entry(*id, || 0) {
                    *floor = (*floor).max(top.saturating_add(1));
                }
            }
        }
        GroupState {
            group,
            topic_key: self.topic_key().cloned(),
            classic_pending: self.pending_intro.clone(),
            own_counter: self.v2.next_counter.max(self.v2.reserved.unwrap_or(0)),
        }
    }

    /// The group state to move elsewhere (another store, another device, a backup):
    /// [`group_state`](Self::group_state), with a replay floor for every trusted
    /// participant taken from its mark in the trust store, so that what an earlier
    /// process accepted is covered too (the snapshot only knows what this instance
    /// heard). Fails if the store cannot be read.
    pub fn export_group_state(&self) -> Result<GroupState<C>, Error> {
        let mut state = self.group_state();
        for (id, _) in self.participants()? {
            let mark = self
                .trust_store()
                .load_mark(&crate::trust::MarkSlot::Received(id))?;
            if let Some(mark) = mark {
                let floor = state.group.floors.entry(id, || 0)?;
                *floor = (*floor).max(mark);
            }
        }
        Ok(state)
    }

    /// Takes `state` as this topic's group state (and topic key), and saves it to the
    /// trust store. Refused, changing nothing, when it names another topic
    /// ([`Error::TopicMismatch`]), would move this topic to a lower epoch or to another
    /// epoch of the same number ([`Error::EpochMismatch`]), or is an older state of the
    /// epoch this topic holds ([`Error::StaleState`]: it could bring back an admin since
    /// removed, or a consumed introduction). This identity's counters continue above
    /// the state's reservation and the store's mark, and the replay floors of both are
    /// kept: a restored state never reopens a replay this topic knows of. Every instance
    /// draws its own session value, so two topics restored from one state never repeat
    /// a (key, nonce) pair.
    pub fn restore_group_state(&mut self, state: GroupState<C>) -> Result<(), Error> {
        self.resume()?;
        self.apply_group_state(state)?;
        self.save_group_state()
    }

    /// Reads the group state from the trust store, once: every v2 operation does it
    /// first, so a topic built on a persistent store resumes where it was (its epoch,
    /// key, members, admins, pending introduction, replay floors). Returns whether a
    /// state was found this time. A stored state of another topic than the one set is
    /// refused ([`Error::TopicMismatch`]) and is tried again on the next call.
    ///
    /// Without `alloc` trust stores keep no group state: a device exports it with
    /// [`GroupState::write_to`] and gives it back with
    /// [`restore_group_state`](Self::restore_group_state).
    pub fn resume(&mut self) -> Result<bool, Error> {
        if self.v2.loaded {
            return Ok(false);
        }
        let found = match self.stored_group_state()? {
            Some(state) => {
                self.apply_group_state(state?)?;
                true
            }
            None => false,
        };
        self.v2.loaded = true;
        Ok(found)
    }

    /// The group state in the trust store: `None` if it holds none, an error inside if
    /// the bytes are not one.
    #[cfg(feature = "alloc")]
    fn stored_group_state(&self) -> Result<Option<Result<GroupState<C>, Error>>, Error> {
        Ok(self
            .trust_store()
            .load_group_state()?
            .map(|bytes| GroupState::from_bytes_in(&bytes)))
    }

    #[cfg(not(feature = "alloc"))]
    #[allow(clippy::unnecessary_wraps)] // the same shape as with `alloc`
    fn stored_group_state(&self) -> Result<Option<Result<GroupState<C>, Error>>, Error> {
        Ok(None)
    }

    fn apply_group_state(&mut self, state: GroupState<C>) -> Result<(), Error> {
        let GroupState {
            group,
            topic_key,
            classic_pending,
            own_counter,
        } = state;
        if let (Some(mine), Some(theirs)) = (self.v2.group.topic_id, group.topic_id) {
            if mine != theirs {
                return Err(Error::TopicMismatch);
            }
        }
        // A topic that has not named its topic has done nothing v2: any state will do.
        let current = &self.v2.group.current;
        let started = self.v2.group.topic_id.is_some();
        let lower = group.current.number < current.number;
        let sideways = group.current.number == current.number && group.current.id != current.id;
        if started && (lower || sideways) {
            return Err(Error::EpochMismatch {
                current: current.number,
                got: group.current.number,
            });
        }
        let older = group.current.id == current.id && group.generation < self.v2.group.generation;
        if started && older {
            return Err(Error::StaleState {
                current: self.v2.group.generation,
                got: group.generation,
            });
        }
        let mut group = group;
        group.topic_id = group.topic_id.or(self.v2.group.topic_id);
        group.generation = group.generation.max(self.v2.group.generation);
        for (id, floor) in self.v2.group.floors.iter() {
            let kept = group.floors.entry(*id, || 0)?;
            *kept = (*kept).max(*floor);
        }
        for (id, floor) in group.floors.iter() {
            if let Some(record) = self.v2.senders.get_mut(id) {
                record.window.raise_floor(*floor);
            }
        }
        self.v2.group = group;
        self.v2.next_counter = self.v2.next_counter.max(own_counter);
        // The next counter reloads the store's mark and reserves above both.
        self.v2.reserved = None;
        self.pending_intro = classic_pending;
        // In the first epoch the key the application started with (its key file, say)
        // is the authority, and a stored one only fills in for a joiner that had none;
        // after a rotation only the state knows the key (or that it has none).
        let first_epoch = self.v2.group.current.number == 0;
        if !first_epoch || self.topic_key().is_none() {
            self.set_topic_key(topic_key);
        }
        Ok(())
    }

    /// Before a change: takes the stored group state if another process sharing the
    /// store saved a newer one (a later generation), so that this topic never saves an
    /// older view over it. A stored state this topic cannot take (an older epoch, a
    /// damaged one) is left to be replaced by the change.
    fn catch_up_with_store(&mut self) -> Result<(), Error> {
        if self.v2.group.topic_id.is_none() {
            return Ok(());
        }
        let Some(stored) = self.stored_group_state()? else {
            return Ok(());
        };
        match stored {
            Ok(stored) if stored.group.generation > self.v2.group.generation => {
                match self.apply_group_state(stored) {
                    Err(Error::TopicMismatch) => Err(Error::TopicMismatch),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Saves the group state to the trust store (only once a topic id is set: before
    /// that nothing v2 has happened). Called by `change_group`.
    fn save_group_state(&mut self) -> Result<(), Error> {
        if self.v2.group.topic_id.is_none() {
            return Ok(());
        }
        #[cfg(feature = "alloc")]
        {
            let bytes = self.group_state().to_bytes();
            self.trust_store_mut().save_group_state(&bytes)?;
        }
        Ok(())
    }

    /// Runs `change` on this topic's group state and saves the result to the trust
    /// store; if either fails, the group state, topic key and pending introductions are
    /// put back as they were.
    ///
    /// The copy to put back is kept in the topic, made and used by two functions of
    /// their own: inlined into every caller, it would sit in each caller's stack frame
    /// (beside a signature check's, on a device with 8 KiB) and its code in each.
    pub(crate) fn change_group<R>(
        &mut self,
        change: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.begin_group_change()?;
        let result = change(self);
        let ended = self.end_group_change(result.is_ok());
        match (result, ended) {
            (Ok(r), Ok(())) => Ok(r),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        }
    }

    #[inline(never)]
    fn begin_group_change(&mut self) -> Result<(), Error> {
        self.catch_up_with_store()?;
        self.v2.rollback = Some(Rollback {
            group: self.v2.group.clone(),
            topic_key: self.topic_key().cloned(),
            classic_pending: self.pending_intro.clone(),
        });
        Ok(())
    }

    /// After a change (`changed`: it succeeded): saves it, or puts the state back.
    #[inline(never)]
    fn end_group_change(&mut self, changed: bool) -> Result<(), Error> {
        let Some(before) = self.v2.rollback.take() else {
            return Ok(());
        };
        let saved = if changed {
            self.v2.group.generation = before.group.generation.saturating_add(1);
            self.save_group_state()
        } else {
            Ok(())
        };
        if !changed || saved.is_err() {
            let key_changed = self.topic_key() != before.topic_key.as_ref();
            self.v2.group = before.group;
            self.pending_intro = before.classic_pending;
            if key_changed {
                self.set_topic_key(before.topic_key);
            }
        }
        saved
    }
}
