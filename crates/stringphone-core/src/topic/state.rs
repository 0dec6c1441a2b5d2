//! The seams where v2's group state meets the topic. Each helper here is the one
//! place its `cfg(feature = "v2-protocol")` sits, so that the entry points and both formats'
//! modules read the same with and without v2.

use super::Topic;
use crate::backend::{Backend, Identity};
use crate::v2::capacity::Capacity;
use crate::{Error, ParticipantId, TrustStore};

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// The protocol setting ([`crate::v2::ProtocolVersion`]; always classic without
    /// `v2`).
    pub(crate) fn protocol_setting(&self) -> crate::v2::ProtocolVersion {
        #[cfg(feature = "v2-protocol")]
        return self.v2.protocol;
        #[cfg(not(feature = "v2-protocol"))]
        return crate::v2::ProtocolVersion::Classic;
    }

    /// Forgets the keys derived from the topic key (v2's sender keys), when the
    /// topic key changes.
    pub(crate) fn forget_derived_keys(&mut self) {
        #[cfg(feature = "v2-protocol")]
        {
            self.v2.own_key = None;
            self.v2.sender_keys.clear();
        }
    }

    /// True while a v2 introduction awaits its reply (never, without `v2`).
    pub(crate) fn has_pending_v2_introduction(&self) -> bool {
        #[cfg(feature = "v2-protocol")]
        return self.v2.group.pending.is_some();
        #[cfg(not(feature = "v2-protocol"))]
        return false;
    }

    /// Takes `id`'s admin right away, saved, before its trust goes (nothing to take,
    /// without `v2`).
    pub(crate) fn drop_admin_right(&mut self, id: &ParticipantId) -> Result<(), Error> {
        #[cfg(feature = "v2-protocol")]
        self.remove_admin(id)?;
        #[cfg(not(feature = "v2-protocol"))]
        let _ = id;
        Ok(())
    }

    /// What every entry point does first: with `v2`, load the group state the trust
    /// store holds, once per instance ([`Topic::resume`]); without, nothing.
    pub(crate) fn load_state(&mut self) -> Result<(), Error> {
        #[cfg(feature = "v2-protocol")]
        self.resume()?;
        Ok(())
    }

    /// Runs `change` as one change of the topic's state: with `v2`, a change of the
    /// group state, saved to the trust store or undone (see `v2/group.rs`); without,
    /// just `change`.
    pub(crate) fn change_state<R>(
        &mut self,
        change: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        #[cfg(feature = "v2-protocol")]
        return self.change_group(change);
        #[cfg(not(feature = "v2-protocol"))]
        return change(self);
    }

    /// Forgets every pending introduction, of either format (inside a
    /// [`change_state`](Self::change_state)).
    pub(crate) fn forget_pending_introductions(&mut self) {
        #[cfg(feature = "v2-protocol")]
        {
            self.v2.group.pending = None;
        }
        self.pending_intro = None;
    }

    /// Without `v2` no epoch lists its members: everyone is a member.
    #[cfg(not(feature = "v2-protocol"))]
    pub(crate) fn is_current_member(&self, _: &ParticipantId) -> bool {
        true
    }
}
