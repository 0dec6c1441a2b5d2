//! Who a topic trusts: participants' public keys, by participant id.
//!
//! The protocol reads the store on every strict decode and writes it only through
//! [`crate::Topic::add_participant`] and [`crate::Topic::remove_participant`]. Two
//! stores ship here: [`MemoryTrustStore`] (a `BTreeMap`, with `alloc`) and
//! [`FixedTrustStore`] (a fixed-capacity array, for targets without a heap). A
//! persistent store implements [`TrustStore`] itself; its failures travel inside
//! [`crate::Error::Store`] as a [`StoreError`].

use core::fmt;

use crate::{ParticipantId, PublicKey};

/// A trust store's own failure, carried as the source of [`crate::Error::Store`]; a
/// persistent store's typed error comes back out through [`StoreError::downcast_ref`].
///
/// With `alloc` it can box any error; without, it carries a static message.
///
/// It is `Clone` (the boxed error is shared, behind an `Arc`) and `PartialEq`: two
/// store errors are equal when they carry the same static message, or share the very
/// same boxed error (clones of one [`StoreError::new`]). Two errors boxed separately
/// are never equal, even with the same text: an arbitrary error type has no equality
/// to ask.
///
/// ```
/// use stringphone_core::StoreError;
/// assert_eq!(StoreError::msg("full"), StoreError::msg("full"));
/// assert_ne!(StoreError::msg("full"), StoreError::msg("gone"));
/// let io = StoreError::new(std::io::Error::new(std::io::ErrorKind::Other, "fsync"));
/// assert_eq!(io.clone(), io);
/// assert_ne!(io, StoreError::new(std::io::Error::new(std::io::ErrorKind::Other, "fsync")));
/// ```
///
/// ```
/// use stringphone_core::StoreError;
/// let e = StoreError::msg("disk full");
/// assert_eq!(e.to_string(), "disk full");
/// ```
#[derive(Clone)]
pub struct StoreError {
    inner: StoreErrorInner,
}

#[derive(Clone)]
enum StoreErrorInner {
    Msg(&'static str),
    #[cfg(feature = "alloc")]
    Source(alloc::sync::Arc<dyn core::error::Error + Send + Sync + 'static>),
}

impl StoreError {
    /// An error described by a static message.
    #[must_use]
    pub const fn msg(message: &'static str) -> Self {
        StoreError {
            inner: StoreErrorInner::Msg(message),
        }
    }

    /// Wraps the store's own error. The wrapper is transparent: it displays as that
    /// error and hands on that error's `source()`; [`downcast_ref`](Self::downcast_ref)
    /// gets the store's typed error back.
    ///
    /// ```
    /// use stringphone_core::StoreError;
    /// let io = std::io::Error::new(std::io::ErrorKind::Other, "fsync failed");
    /// let e = StoreError::new(io);
    /// assert_eq!(e.to_string(), "fsync failed");
    /// ```
    #[cfg(feature = "alloc")]
    pub fn new<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        StoreError {
            inner: StoreErrorInner::Source(alloc::sync::Arc::new(error)),
        }
    }

    /// The store's own error, if it is an `E` (see [`StoreError::new`]); `None` for a
    /// [`StoreError::msg`] or another type.
    ///
    /// ```
    /// use stringphone_core::StoreError;
    /// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only");
    /// let e = StoreError::new(io);
    /// let back = e.downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(back.kind(), std::io::ErrorKind::PermissionDenied);
    /// assert!(StoreError::msg("full").downcast_ref::<std::io::Error>().is_none());
    /// ```
    #[must_use]
    pub fn downcast_ref<E: core::error::Error + 'static>(&self) -> Option<&E> {
        match &self.inner {
            StoreErrorInner::Msg(_) => None,
            #[cfg(feature = "alloc")]
            StoreErrorInner::Source(e) => e.downcast_ref::<E>(),
        }
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (StoreErrorInner::Msg(a), StoreErrorInner::Msg(b)) => a == b,
            #[cfg(feature = "alloc")]
            (StoreErrorInner::Source(a), StoreErrorInner::Source(b)) => {
                alloc::sync::Arc::ptr_eq(a, b)
            }
            #[cfg(feature = "alloc")]
            _ => false,
        }
    }
}

impl Eq for StoreError {}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            StoreErrorInner::Msg(m) => f.debug_tuple("StoreError").field(m).finish(),
            #[cfg(feature = "alloc")]
            StoreErrorInner::Source(e) => f.debug_tuple("StoreError").field(e).finish(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            StoreErrorInner::Msg(m) => f.write_str(m),
            #[cfg(feature = "alloc")]
            StoreErrorInner::Source(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match &self.inner {
            StoreErrorInner::Msg(_) => None,
            #[cfg(feature = "alloc")]
            StoreErrorInner::Source(e) => e.source(),
        }
    }
}

/// Trusted participants, by id.
///
/// A failing call must leave the store as it was. `insert` is given an id that the
/// topic computed from the key, so a store never hashes.
///
/// ```
/// use stringphone_core::{FixedTrustStore, ParticipantId, PublicKey, TrustStore};
/// let mut store = FixedTrustStore::<4>::new();
/// let (id, key) = (ParticipantId::from_bytes([1; 16]), PublicKey::from_bytes([2; 32]));
/// store.insert(id, key).unwrap();
/// assert_eq!(store.get(&id).unwrap(), Some(key));
/// assert_eq!(store.iter().unwrap().count(), 1);
/// assert_eq!(store.remove(&id).unwrap(), Some(key));
/// assert_eq!(store.get(&id).unwrap(), None);
/// ```
pub trait TrustStore {
    /// Iterator over every trusted `(id, key)`.
    type Iter<'a>: Iterator<Item = (ParticipantId, PublicKey)>
    where
        Self: 'a;

    /// The trusted key of `id`, if any.
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError>;

    /// Trusts `key` under `id` (replacing any key stored under that id).
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError>;

    /// Stops trusting `id`; returns the key it had.
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError>;

    /// Every trusted participant.
    fn iter(&self) -> Result<Self::Iter<'_>, StoreError>;

    /// Runs `reads` with every read of this store in it seeing one state of the
    /// store, and returns what `reads` returns: how a topic reads the trust of a
    /// whole batch ([`Topic::decode_batch`](crate::Topic::decode_batch)) at the
    /// price of one read. A store that other handles or processes change (a
    /// database) starts a read transaction here and ends it when `reads` returns
    /// or panics; every change made meanwhile elsewhere is seen after it. The
    /// default just runs `reads`, which is right for a store that only this handle
    /// changes.
    ///
    /// ```
    /// use stringphone_core::{FixedTrustStore, ParticipantId, PublicKey, TrustStore};
    /// let mut store = FixedTrustStore::<4>::new();
    /// let (id, key) = (ParticipantId::from_bytes([1; 16]), PublicKey::from_bytes([2; 32]));
    /// store.insert(id, key).unwrap();
    /// let found = store.with_read_snapshot(|| store.get(&id));
    /// assert_eq!(found.unwrap(), Some(key));
    /// ```
    fn with_read_snapshot<R>(&self, reads: impl FnOnce() -> R) -> R {
        reads()
    }

    /// v2 replay protection: the mark stored under `slot` (see [`MarkSlot`]), if any.
    ///
    /// The default stores nothing, which is right for a store that does not outlive
    /// the process; a persistent store keeps marks durably next to its keys, so that
    /// a restart neither reuses a counter nor reopens replays.
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        let _ = slot;
        Ok(None)
    }

    /// v2 replay protection: durably stores `mark` under `slot` before returning.
    /// Marks only grow while a topic runs; a clean shutdown
    /// ([`Topic::save_replay_marks`](crate::Topic::save_replay_marks)) may ask for a
    /// lower, exact one. A store shared by several processes must never let a mark
    /// fall below what another process relies on: it applies a lower mark only where
    /// this same handle wrote the stored one, and never below the mark this handle
    /// found before it raised it (a topic writes a mark of its own before relying on
    /// any, so every counter it accepted is covered by a mark it wrote). The default
    /// stores nothing.
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        let _ = (slot, mark);
        Ok(())
    }

    /// v2: the group state last saved ([`save_group_state`](Self::save_group_state)),
    /// if any. The default stores nothing.
    #[cfg(feature = "alloc")]
    fn load_group_state(
        &self,
    ) -> Result<Option<zeroize::Zeroizing<alloc::vec::Vec<u8>>>, StoreError> {
        Ok(None)
    }

    /// v2: durably stores the topic's group state (the bytes of
    /// [`GroupState::to_bytes`](crate::v2::GroupState::to_bytes), which hold the topic
    /// key: keep them as secret as the key) before returning, replacing the previous
    /// one. A topic saves it after every change to its epoch, members, admins or
    /// pending introduction, and takes the change back if this fails. The default
    /// stores nothing.
    #[cfg(feature = "alloc")]
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        let _ = state;
        Ok(())
    }
}

/// Where a v2 mark belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkSlot {
    /// This identity's own counter: every counter below the mark may have been used.
    OwnCounter,
    /// A sender's counters as received: every counter of this sender below the mark
    /// may have been accepted.
    Received(ParticipantId),
}

/// An in-memory trust store (a `BTreeMap`): the default.
///
/// ```
/// use stringphone_core::{MemoryTrustStore, ParticipantId, PublicKey, TrustStore};
/// let mut store = MemoryTrustStore::new();
/// store.insert(ParticipantId::from_bytes([1; 16]), PublicKey::from_bytes([2; 32])).unwrap();
/// assert_eq!(store.len(), 1);
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTrustStore {
    keys: alloc::collections::BTreeMap<ParticipantId, PublicKey>,
    marks: alloc::collections::BTreeMap<MarkSlot, u64>,
    group_state: Option<StateBytes>,
}

/// A saved group state: secret (it holds the topic key), so zeroized on drop and
/// never printed.
#[cfg(feature = "alloc")]
#[derive(Clone, Default, PartialEq, Eq)]
struct StateBytes(zeroize::Zeroizing<alloc::vec::Vec<u8>>);

#[cfg(feature = "alloc")]
impl fmt::Debug for StateBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupState({} bytes)", self.0.len())
    }
}

#[cfg(feature = "alloc")]
impl MemoryTrustStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many participants are trusted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when nobody is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(feature = "alloc")]
impl TrustStore for MemoryTrustStore {
    type Iter<'a> = core::iter::Map<
        alloc::collections::btree_map::Iter<'a, ParticipantId, PublicKey>,
        fn((&ParticipantId, &PublicKey)) -> (ParticipantId, PublicKey),
    >;

    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.keys.get(id).copied())
    }

    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.keys.insert(id, key);
        Ok(())
    }

    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.keys.remove(id))
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.keys.iter().map(|(id, key)| (*id, *key)))
    }

    /// Kept in memory, so a clone of the store is a snapshot of the marks too.
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        Ok(self.marks.get(slot).copied())
    }

    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.marks.insert(slot, mark);
        Ok(())
    }

    fn load_group_state(
        &self,
    ) -> Result<Option<zeroize::Zeroizing<alloc::vec::Vec<u8>>>, StoreError> {
        Ok(self.group_state.as_ref().map(|s| s.0.clone()))
    }

    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.group_state = Some(StateBytes(zeroize::Zeroizing::new(state.to_vec())));
        Ok(())
    }
}

/// A trust store of at most `N` participants in a fixed array: no heap, for
/// microcontrollers. Lookups scan the array, which for a handful of entries is
/// faster than any map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedTrustStore<const N: usize> {
    slots: [Option<(ParticipantId, PublicKey)>; N],
}

impl<const N: usize> FixedTrustStore<N> {
    /// An empty store.
    #[must_use]
    pub const fn new() -> Self {
        Self { slots: [None; N] }
    }
}

impl<const N: usize> Default for FixedTrustStore<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TrustStore for FixedTrustStore<N> {
    type Iter<'a> = core::iter::Flatten<
        core::iter::Copied<core::slice::Iter<'a, Option<(ParticipantId, PublicKey)>>>,
    >;

    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self
            .slots
            .iter()
            .flatten()
            .find(|(slot_id, _)| slot_id == id)
            .map(|(_, key)| *key))
    }

    /// Fails with "fixed trust store is full" when all `N` slots hold other ids.
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        let existing = self
            .slots
            .iter()
            .position(|slot| matches!(slot, Some((slot_id, _)) if *slot_id == id));
        let free = existing.or_else(|| self.slots.iter().position(Option::is_none));
        match free {
            Some(i) => {
                self.slots[i] = Some((id, key));
                Ok(())
            }
            None => Err(StoreError::msg("fixed trust store is full")),
        }
    }

    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        for slot in self.slots.iter_mut() {
            if matches!(slot, Some((slot_id, _)) if slot_id == id) {
                return Ok(slot.take().map(|(_, key)| key));
            }
        }
        Ok(None)
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.slots.iter().copied().flatten())
    }
}
