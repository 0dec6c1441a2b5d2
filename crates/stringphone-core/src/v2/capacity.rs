//! Where a topic keeps v2's lists of participants, and how many entries each may hold.
//!
//! A topic's v2 state keeps four kinds of list: the members of an epoch (the current
//! one, its parent and the previous one), the admins, and one entry per sender (its
//! replay window, its derived key, its replay floor). With a heap they grow as needed
//! ([`Unbounded`], the default with `alloc`); on a device without one the application
//! picks fixed capacities ([`Fixed`]), and a change that would exceed one is refused
//! with [`crate::Error::CapacityExceeded`], changing nothing.
//! The topic never allocates then: every list is an array inside the topic.
//!
//! ```
//! use stringphone_core::v2::{Fixed, ProtocolVersion, TopicId};
//! use stringphone_core::{Backend, FixedTrustStore, SigningSeed, Topic, TopicKey};
//! use stringphone_rustcrypto::RustCrypto;
//!
//! // Up to 8 members per epoch, 2 admins, 8 senders heard.
//! type Device = Topic<RustCrypto, FixedTrustStore<8>, <RustCrypto as Backend>::SigningKey, Fixed<8, 2, 8>>;
//! let mut device: Device = Topic::from_identity(
//!     RustCrypto::signing_key(&SigningSeed::from_bytes([2; 32])),
//!     Some(TopicKey::from_bytes([1; 32])),
//!     FixedTrustStore::new(),
//! );
//! device.set_topic_id(TopicId::from_name(b"home/kitchen")).unwrap();
//! device.set_protocol(ProtocolVersion::V2);
//! let mut wire = [0u8; 64 + 127];
//! let len = device.encode_into(&mut rand_core::OsRng, b"hello", &mut wire).unwrap();
//! assert_eq!(len, 5 + 127);
//! ```

use core::fmt;
#[cfg(feature = "v2-protocol")]
use core::marker::PhantomData;

#[cfg(feature = "v2-protocol")]
use crate::Error;
use crate::ParticipantId;

mod sealed {
    /// A growable list: a `Vec` with a heap, an array with a length without one.
    pub trait List<T>: Clone + Default {
        /// How many entries it can hold.
        const CAPACITY: usize;
        fn as_slice(&self) -> &[T];
        fn as_mut_slice(&mut self) -> &mut [T];
        /// Inserts at `index`, or gives `value` back when full.
        fn try_insert(&mut self, index: usize, value: T) -> Result<(), T>;
        fn remove(&mut self, index: usize) -> T;
        fn clear(&mut self);
        fn retain(&mut self, keep: impl FnMut(&mut T) -> bool);
    }

    #[cfg(feature = "alloc")]
    impl<T: Clone> List<T> for alloc::vec::Vec<T> {
        const CAPACITY: usize = usize::MAX;
        fn as_slice(&self) -> &[T] {
            self
        }
        fn as_mut_slice(&mut self) -> &mut [T] {
            self
        }
        fn try_insert(&mut self, index: usize, value: T) -> Result<(), T> {
            self.insert(index, value);
            Ok(())
        }
        fn remove(&mut self, index: usize) -> T {
            alloc::vec::Vec::remove(self, index)
        }
        fn clear(&mut self) {
            alloc::vec::Vec::clear(self);
        }
        fn retain(&mut self, keep: impl FnMut(&mut T) -> bool) {
            self.retain_mut(keep);
        }
    }

    impl<T: Clone, const N: usize> List<T> for arrayvec::ArrayVec<T, N> {
        const CAPACITY: usize = N;
        fn as_slice(&self) -> &[T] {
            self
        }
        fn as_mut_slice(&mut self) -> &mut [T] {
            self
        }
        // Insert and remove shift entries one by one rather than through
        // `ArrayVec`'s own, whose `ptr::copy` brings in `memmove` (1.5 KiB of flash on a
        // Cortex-M); the lists are short.
        fn try_insert(&mut self, index: usize, value: T) -> Result<(), T> {
            let len = self.len();
            if self.is_full() || index > len {
                return Err(value);
            }
            if index == len {
                self.push(value);
                return Ok(());
            }
            let last = self[len - 1].clone();
            self.push(last);
            for at in (index + 1..len).rev() {
                self[at] = self[at - 1].clone();
            }
            self[index] = value;
            Ok(())
        }
        fn remove(&mut self, index: usize) -> T {
            let removed = self[index].clone();
            for at in index..self.len() - 1 {
                self[at] = self[at + 1].clone();
            }
            self.pop();
            removed
        }
        fn clear(&mut self) {
            arrayvec::ArrayVec::clear(self);
        }
        fn retain(&mut self, keep: impl FnMut(&mut T) -> bool) {
            arrayvec::ArrayVec::retain(self, keep);
        }
    }

    pub trait Sealed {}
}

/// The capacities of a topic's v2 lists; see the [module docs](self). Implemented by
/// [`Unbounded`] and [`Fixed`] only.
pub trait Capacity:
    sealed::Sealed + Clone + Copy + fmt::Debug + Default + PartialEq + Eq + Send + Sync + 'static
{
    /// The members of one epoch.
    #[doc(hidden)]
    type Members: sealed::List<ParticipantId>;
    /// The admins.
    #[doc(hidden)]
    type Admins: sealed::List<ParticipantId>;
    /// One entry per sender.
    #[doc(hidden)]
    type Senders<T: Clone>: sealed::List<(ParticipantId, T)>;
}

/// Lists that grow on the heap as needed (the default capacity with `alloc`).
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unbounded;

#[cfg(feature = "alloc")]
impl sealed::Sealed for Unbounded {}

#[cfg(feature = "alloc")]
impl Capacity for Unbounded {
    type Members = alloc::vec::Vec<ParticipantId>;
    type Admins = alloc::vec::Vec<ParticipantId>;
    type Senders<T: Clone> = alloc::vec::Vec<(ParticipantId, T)>;
}

/// Fixed capacities, held inside the topic without a heap: up to `MEMBERS` members per
/// epoch, `ADMINS` admins and `SENDERS` senders (replay windows, derived keys and
/// replay floors, each kept for that many senders).
///
/// What each costs in the topic's size: `MEMBERS` three lists of 16 bytes per entry
/// (the current epoch, its parent and the previous epoch), `ADMINS` 16 bytes per
/// entry, `SENDERS` about 130 bytes per entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fixed<const MEMBERS: usize, const ADMINS: usize, const SENDERS: usize>;

impl<const M: usize, const A: usize, const S: usize> sealed::Sealed for Fixed<M, A, S> {}

impl<const M: usize, const A: usize, const S: usize> Capacity for Fixed<M, A, S> {
    type Members = arrayvec::ArrayVec<ParticipantId, M>;
    type Admins = arrayvec::ArrayVec<ParticipantId, A>;
    type Senders<T: Clone> = arrayvec::ArrayVec<(ParticipantId, T), S>;
}

/// The capacity a [`Topic`](crate::Topic) has unless named: [`Unbounded`] with
/// `alloc`. Without `alloc` it is `Fixed<16, 4, 16>`; a device that wants other
/// figures names its own [`Fixed`] as the topic's fourth type parameter (and keeps
/// them when another crate turns `alloc` on).
#[cfg(feature = "alloc")]
pub type DefaultCapacity = Unbounded;
/// The capacity a [`Topic`](crate::Topic) has unless named: `Fixed<16, 4, 16>`
/// without `alloc` ([`Unbounded`] with it).
#[cfg(not(feature = "alloc"))]
pub type DefaultCapacity = Fixed<16, 4, 16>;

#[cfg(feature = "v2-protocol")]
pub(crate) use sealed::List;

/// The refusal of a list of kind `L` that holds `what` and is full.
#[cfg(feature = "v2-protocol")]
fn full<L: List<T>, T>(what: &'static str) -> Error {
    Error::CapacityExceeded {
        list: what,
        capacity: L::CAPACITY,
    }
}

/// A set of participant ids, kept sorted (the order every id list on the wire and in
/// the group state has).
#[cfg(feature = "v2-protocol")]
pub(crate) struct IdSet<L> {
    ids: L,
    /// What the set holds, named in [`Error::CapacityExceeded`].
    what: &'static str,
}

#[cfg(feature = "v2-protocol")]
impl<L: List<ParticipantId>> IdSet<L> {
    pub(crate) fn new(what: &'static str) -> Self {
        IdSet {
            ids: L::default(),
            what,
        }
    }

    /// The set of `ids` (in any order, repeats allowed), or the capacity it exceeds.
    pub(crate) fn try_from_ids(
        what: &'static str,
        ids: impl IntoIterator<Item = ParticipantId>,
    ) -> Result<Self, Error> {
        let mut set = Self::new(what);
        for id in ids {
            set.insert(id)?;
        }
        Ok(set)
    }

    pub(crate) fn contains(&self, id: &ParticipantId) -> bool {
        self.ids.as_slice().binary_search(id).is_ok()
    }

    /// Adds `id`; returns whether it was new. A full set refuses a new id.
    pub(crate) fn insert(&mut self, id: ParticipantId) -> Result<bool, Error> {
        match self.ids.as_slice().binary_search(&id) {
            Ok(_) => Ok(false),
            Err(at) => {
                let what = self.what;
                self.ids
                    .try_insert(at, id)
                    .map(|()| true)
                    .map_err(|_| full::<L, _>(what))
            }
        }
    }

    /// [`Error::CapacityExceeded`] if a new id would be refused.
    pub(crate) fn check_room(&self) -> Result<(), Error> {
        if self.len() >= L::CAPACITY {
            return Err(full::<L, _>(self.what));
        }
        Ok(())
    }

    /// Removes `id`; returns whether it was there.
    pub(crate) fn remove(&mut self, id: &ParticipantId) -> bool {
        match self.ids.as_slice().binary_search(id) {
            Ok(at) => {
                self.ids.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in ascending order.
    pub(crate) fn iter(&self) -> core::slice::Iter<'_, ParticipantId> {
        self.ids.as_slice().iter()
    }
}

#[cfg(feature = "v2-protocol")]
impl<L: List<ParticipantId>> Clone for IdSet<L> {
    fn clone(&self) -> Self {
        IdSet {
            ids: self.ids.clone(),
            what: self.what,
        }
    }
}

#[cfg(feature = "v2-protocol")]
impl<L: List<ParticipantId>> PartialEq for IdSet<L> {
    fn eq(&self, other: &Self) -> bool {
        self.ids.as_slice() == other.ids.as_slice()
    }
}

#[cfg(feature = "v2-protocol")]
impl<L: List<ParticipantId>> Eq for IdSet<L> {}

#[cfg(feature = "v2-protocol")]
impl<L: List<ParticipantId>> fmt::Debug for IdSet<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A value per participant id, kept sorted by id.
#[cfg(feature = "v2-protocol")]
pub(crate) struct IdMap<V, L> {
    entries: L,
    what: &'static str,
    value: PhantomData<V>,
}

#[cfg(feature = "v2-protocol")]
impl<V, L: List<(ParticipantId, V)>> IdMap<V, L> {
    pub(crate) fn new(what: &'static str) -> Self {
        IdMap {
            entries: L::default(),
            what,
            value: PhantomData,
        }
    }

    fn find(&self, id: &ParticipantId) -> Result<usize, usize> {
        self.entries.as_slice().binary_search_by(|(k, _)| k.cmp(id))
    }

    pub(crate) fn get(&self, id: &ParticipantId) -> Option<&V> {
        self.find(id).ok().map(|at| &self.entries.as_slice()[at].1)
    }

    pub(crate) fn get_mut(&mut self, id: &ParticipantId) -> Option<&mut V> {
        match self.find(id) {
            Ok(at) => Some(&mut self.entries.as_mut_slice()[at].1),
            Err(_) => None,
        }
    }

    /// The entry at `index` in ascending order of id.
    pub(crate) fn get_index(&self, index: usize) -> Option<(&ParticipantId, &V)> {
        self.entries.as_slice().get(index).map(|(k, v)| (k, v))
    }

    pub(crate) fn contains_key(&self, id: &ParticipantId) -> bool {
        self.find(id).is_ok()
    }

    /// Whether a new id would be refused.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= L::CAPACITY
    }

    /// [`Error::CapacityExceeded`] if a new id would be refused.
    pub(crate) fn check_room(&self) -> Result<(), Error> {
        if self.is_full() {
            return Err(full::<L, _>(self.what));
        }
        Ok(())
    }

    /// Sets the value of `id`. A full map refuses a new id.
    pub(crate) fn insert(&mut self, id: ParticipantId, value: V) -> Result<(), Error> {
        match self.find(&id) {
            Ok(at) => {
                self.entries.as_mut_slice()[at].1 = value;
                Ok(())
            }
            Err(_) => self.entry(id, || value).map(drop),
        }
    }

    /// The value of `id`, made with `new` when absent; a full map refuses a new id.
    pub(crate) fn entry(
        &mut self,
        id: ParticipantId,
        new: impl FnOnce() -> V,
    ) -> Result<&mut V, Error> {
        let at = match self.find(&id) {
            Ok(at) => at,
            Err(at) => {
                let what = self.what;
                self.entries
                    .try_insert(at, (id, new()))
                    .map_err(|_| full::<L, _>(what))?;
                at
            }
        };
        Ok(&mut self.entries.as_mut_slice()[at].1)
    }

    /// Removes the first entry (the smallest id), to make room in a cache.
    pub(crate) fn remove_first(&mut self) {
        if self.len() > 0 {
            self.entries.remove(0);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.as_slice().len()
    }

    /// The entries in ascending order of id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ParticipantId, &V)> {
        self.entries.as_slice().iter().map(|(k, v)| (k, v))
    }
}

#[cfg(feature = "v2-protocol")]
impl<V: Clone, L: List<(ParticipantId, V)>> Clone for IdMap<V, L> {
    fn clone(&self) -> Self {
        IdMap {
            entries: self.entries.clone(),
            what: self.what,
            value: PhantomData,
        }
    }
}

/// The members of an epoch, in a topic of capacity `C`.
#[cfg(feature = "v2-protocol")]
pub(crate) type Members<C> = IdSet<<C as Capacity>::Members>;
/// The admins, in a topic of capacity `C`.
#[cfg(feature = "v2-protocol")]
pub(crate) type Admins<C> = IdSet<<C as Capacity>::Admins>;
/// A value per sender, in a topic of capacity `C`.
#[cfg(feature = "v2-protocol")]
pub(crate) type PerSender<V, C> = IdMap<V, <C as Capacity>::Senders<V>>;

#[cfg(all(test, feature = "v2-protocol"))]
mod tests {
    use super::*;

    fn id(n: u8) -> ParticipantId {
        ParticipantId::from_bytes([n; 16])
    }

    #[test]
    fn a_fixed_set_refuses_past_its_capacity_and_keeps_order() {
        let mut set: IdSet<arrayvec::ArrayVec<ParticipantId, 2>> = IdSet::new("members");
        assert!(matches!(set.insert(id(3)), Ok(true)));
        assert!(matches!(set.insert(id(1)), Ok(true)));
        assert!(matches!(set.insert(id(3)), Ok(false)));
        assert!(matches!(
            set.insert(id(2)),
            Err(Error::CapacityExceeded {
                list: "members",
                capacity: 2
            })
        ));
        assert_eq!(
            set.iter()
                .copied()
                .collect::<arrayvec::ArrayVec<_, 2>>()
                .as_slice(),
            [id(1), id(3)]
        );
        assert!(set.remove(&id(1)));
        assert!(!set.contains(&id(1)));
        assert!(matches!(set.insert(id(2)), Ok(true)));
    }

    #[test]
    fn a_fixed_map_refuses_a_new_id_when_full_but_updates_a_known_one() {
        let mut map: IdMap<u64, arrayvec::ArrayVec<(ParticipantId, u64), 1>> =
            IdMap::new("senders");
        map.insert(id(5), 1).unwrap();
        assert!(map.is_full());
        map.insert(id(5), 2).unwrap();
        assert_eq!(map.get(&id(5)), Some(&2));
        assert!(map.insert(id(4), 1).is_err());
        assert_eq!(map.len(), 1);
        map.remove_first();
        assert_eq!(map.entry(id(4), || 7).map(|v| *v).ok(), Some(7));
    }
}
