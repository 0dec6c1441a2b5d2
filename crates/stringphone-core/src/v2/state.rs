//! What a topic remembers for v2, split in two:
//!
//! - the **group state** ([`GroupState`]): the topic id, the epoch chain (the current
//!   epoch's number, id, parent, starter and members, and the previous epoch during its
//!   grace period), the admins, the pending introduction, the replay floors a reply
//!   handed over and this identity's counter reservation. It is a value: exported,
//!   kept by a persistent store in step with the trust store, restored after a restart.
//! - what one running instance adds to it: its session value, the derived keys it
//!   caches, the replay window of each sender heard (whose durable part is the marks
//!   in the trust store).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::capacity::{Admins, Capacity, DefaultCapacity, IdSet, List, Members, PerSender};
use super::replay::ReplayWindow;
use super::{wire, ProtocolVersion, TopicId};
use crate::{BoxSecret, Error, ParticipantId, TopicKey};

/// Messages of the new epoch a receiver decodes before it forgets the previous epoch's
/// key (unless [`crate::Topic::expire_previous_epoch`] is called sooner).
pub const DEFAULT_GRACE_MESSAGES: u32 = 256;

/// The epoch a topic sends in, and what it knows of the chain behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Epoch<C: Capacity> {
    pub(crate) number: u32,
    /// The first epoch's id is derived from the topic id; every later one is the
    /// digest of the rekey that started it.
    pub(crate) id: [u8; 32],
    /// The id of the epoch this one follows, when known. Kept after the previous
    /// epoch's key is gone, so a competing rekey of this epoch can still be judged.
    pub(crate) parent: Option<[u8; 32]>,
    /// The members of the parent epoch, when known: a competing rekey must come from
    /// one of them.
    pub(crate) parent_members: Option<Members<C>>,
    /// The admin whose rekey started this epoch (`None` for the first epoch).
    pub(crate) starter: Option<ParticipantId>,
    /// Members of this epoch; `None` when unknown (the first epoch, or one entered
    /// through a reply), when the trust store alone decides.
    pub(crate) members: Option<Members<C>>,
}

impl<C: Capacity> Epoch<C> {
    pub(crate) fn first(topic: Option<&TopicId>) -> Self {
        Epoch {
            number: 0,
            id: topic.map(TopicId::first_epoch_id).unwrap_or([0; 32]),
            parent: None,
            parent_members: None,
            starter: None,
            members: None,
        }
    }

    /// Whether a competing epoch of the same number and parent, started by `starter`
    /// with id `id` and listing `members`, beats this one. Each epoch is ranked on its
    /// own, so the order is total and every receiver picks the same winner among any
    /// number of competitors, in any order of arrival:
    /// 1. fewer members first (a rotation that removes someone beats one that keeps
    ///    everyone, so a removal is not undone by a concurrent rotation of the removed);
    /// 2. then the smaller admin id: no admin can win by trying rekeys until one comes
    ///    out smaller, since its id is fixed by its key;
    /// 3. one admin's two rekeys: the smaller epoch id.
    pub(crate) fn loses_to(
        &self,
        starter: &ParticipantId,
        id: &[u8; 32],
        members: &Members<C>,
    ) -> bool {
        let Some(current) = &self.starter else {
            return false;
        };
        // An epoch whose list this topic does not hold ranks last.
        let ours = self.members.as_ref().map_or(usize::MAX, IdSet::len);
        (members.len(), starter, id) < (ours, current, &self.id)
    }
}

/// An epoch a topic no longer sends in but still reads for a while.
#[derive(Clone)]
pub(crate) struct PreviousEpoch<C: Capacity> {
    pub(crate) number: u32,
    pub(crate) id: [u8; 32],
    pub(crate) key: TopicKey,
    pub(crate) members: Option<Members<C>>,
    /// Messages of the current epoch still to decode before this one is dropped.
    pub(crate) remaining: u32,
}

/// The v2 introduction awaiting its reply.
#[derive(Clone)]
pub(crate) struct PendingIntro {
    /// Digest of the whole introduction; a reply must carry it.
    pub(crate) digest: [u8; 32],
    pub(crate) secret: BoxSecret,
}

/// The part of a topic's v2 state that is the group's: what [`GroupState`] exports
/// and a persistent store keeps.
#[derive(Clone)]
pub(crate) struct Group<C: Capacity> {
    /// Counts the changes made to this state (each saved one is one more than the
    /// state it replaced), so an older copy of the same epoch can be told apart.
    pub(crate) generation: u64,
    pub(crate) topic_id: Option<TopicId>,
    pub(crate) current: Epoch<C>,
    pub(crate) previous: Option<PreviousEpoch<C>>,
    pub(crate) grace_messages: u32,
    pub(crate) admins: Admins<C>,
    pub(crate) pending: Option<PendingIntro>,
    /// Replay floors handed over by the reply this topic joined through (and restored
    /// ones): counters of a sender below its floor were sent before this topic joined.
    pub(crate) floors: PerSender<u64, C>,
}

/// What a change to the group state puts back if it fails (see `change_group`).
pub(crate) struct Rollback<C: Capacity> {
    pub(crate) group: Group<C>,
    pub(crate) topic_key: Option<TopicKey>,
    pub(crate) classic_pending: Option<BoxSecret>,
}

/// The receiver's record of one sender.
#[derive(Clone, Copy)]
pub(crate) struct SenderRecord {
    pub(crate) window: ReplayWindow,
    /// The mark this instance stored: counters at or above it are not yet covered by
    /// a mark of its own. Starts at 0 (whatever another process stored), so the first
    /// message accepted from a sender stores a mark of this instance's, and no other
    /// process can lower the stored mark below what this one accepted.
    pub(crate) stored_mark: u64,
}

/// The sender's derived key for the current epoch and session, computed once.
pub(crate) struct OwnKey {
    pub(crate) epoch: u32,
    pub(crate) key: Zeroizing<[u8; 32]>,
}

/// A sender's derived message key, kept so that HKDF runs once per sender and
/// session, not per message.
#[derive(Clone)]
pub(crate) struct SenderKey {
    pub(crate) epoch: u32,
    pub(crate) session: [u8; 16],
    pub(crate) key: Zeroizing<[u8; 32]>,
}

/// This instance's session value and the process that drew it.
#[derive(Clone, Copy)]
struct Session {
    value: [u8; 16],
    #[cfg(feature = "std")]
    process: u32,
}

/// Everything v2 keeps in a [`crate::Topic`].
pub(crate) struct V2State<C: Capacity> {
    pub(crate) protocol: ProtocolVersion,
    pub(crate) group: Group<C>,
    /// Whether the group state was read from the trust store (done once, before the
    /// first v2 operation).
    pub(crate) loaded: bool,
    session: Option<Session>,
    pub(crate) next_counter: u64,
    /// Counters below this are covered by the mark in the store; `None` until loaded.
    pub(crate) reserved: Option<u64>,
    pub(crate) senders: PerSender<SenderRecord, C>,
    /// The last derived key of each verified sender (a cache: when full, an entry
    /// makes room).
    pub(crate) sender_keys: PerSender<SenderKey, C>,
    pub(crate) own_key: Option<OwnKey>,
    /// The state before the change being made, while one is (see `change_group`).
    pub(crate) rollback: Option<Rollback<C>>,
}

impl<C: Capacity> V2State<C> {
    pub(crate) fn new(own_id: ParticipantId, holds_key: bool) -> Self {
        let mut admins = IdSet::new("admins");
        // Whoever starts with the key created the topic (or was handed it with the
        // creator's trust): it may rotate. Joiners through discovery are not admins.
        // (A capacity of no admins makes no one an admin.)
        if holds_key {
            let _ = admins.insert(own_id);
        }
        V2State {
            protocol: ProtocolVersion::Classic,
            group: Group {
                generation: 0,
                topic_id: None,
                current: Epoch::first(None),
                previous: None,
                grace_messages: DEFAULT_GRACE_MESSAGES,
                admins,
                pending: None,
                floors: PerSender::<u64, C>::new("replay floors"),
            },
            loaded: false,
            session: None,
            next_counter: 0,
            reserved: None,
            senders: PerSender::<SenderRecord, C>::new("senders"),
            sender_keys: PerSender::<SenderKey, C>::new("senders"),
            own_key: None,
            rollback: None,
        }
    }

    /// The topic id, which every v2 operation needs ([`Error::NoTopicId`]).
    pub(crate) fn topic_id(&self) -> Result<TopicId, Error> {
        self.group.topic_id.ok_or(Error::NoTopicId)
    }

    /// The topic id, for a message of this topic's suite: one of another suite is
    /// refused before anything else is checked ([`Error::SuiteMismatch`]).
    pub(crate) fn topic_for(&self, m: &super::wire::V2Message<'_>) -> Result<TopicId, Error> {
        let topic = self.topic_id()?;
        let (ours, theirs) = (topic.suite().byte(), m.header().suite());
        if theirs != ours {
            return Err(Error::SuiteMismatch {
                topic: ours,
                message: theirs,
            });
        }
        Ok(topic)
    }

    /// This instance's session value, drawn (16 bytes) on first use. Drawn again in a
    /// forked child (the process id changed): a child starts with a copy of its
    /// parent's memory, and reusing the parent's session would reuse its (key, nonce)
    /// pairs. The child then also reserves a fresh counter block from the store.
    pub(crate) fn session(&mut self, rng: &mut impl CryptoRngCore) -> Result<[u8; 16], Error> {
        if let Some(s) = self.session {
            #[cfg(feature = "std")]
            let same_process = s.process == std::process::id();
            #[cfg(not(feature = "std"))]
            let same_process = true;
            if same_process {
                return Ok(s.value);
            }
        }
        let mut value = [0u8; 16];
        rng.try_fill_bytes(&mut value).map_err(|_| Error::Rng)?;
        if self.session.is_some() {
            // A fork: nothing derived from the parent's session may be used again.
            self.own_key = None;
            self.reserved = None;
        }
        self.session = Some(Session {
            value,
            #[cfg(feature = "std")]
            process: std::process::id(),
        });
        Ok(value)
    }

    /// The members of epoch `number`, if it is one this topic holds and it has a list.
    pub(crate) fn members_of(&self, number: u32) -> Option<&Members<C>> {
        if number == self.group.current.number {
            self.group.current.members.as_ref()
        } else {
            self.group
                .previous
                .as_ref()
                .filter(|p| p.number == number)
                .and_then(|p| p.members.as_ref())
        }
    }
}

/// A topic's v2 group state, as a value: what [`crate::Topic::group_state`] exports
/// and [`crate::Topic::restore_group_state`] takes back, and what a persistent trust
/// store keeps ([`crate::TrustStore::save_group_state`]).
///
/// It holds the topic id, the topic key and the epoch chain (number, id, parent,
/// starter, members; the previous epoch and its key during the grace period), the
/// admins, the pending introduction (its secret), the replay floors and this
/// identity's counter reservation. It holds secrets: [`to_bytes`](Self::to_bytes)
/// gives a buffer that is zeroized on drop, and the value's own secrets are too.
/// It never holds a session value: every instance draws its own, so restoring one
/// state twice never repeats a (key, nonce) pair.
///
/// ```
/// use stringphone_core::v2::{GroupState, ProtocolVersion, TopicId};
/// use stringphone_core::{SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
///
/// let mut admin = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
/// admin.set_topic_id(TopicId::from_name(b"home/kitchen"));
/// admin.set_protocol(ProtocolVersion::V2);
/// admin.rotate(None).unwrap();
///
/// let saved = admin.group_state().to_bytes();
/// let state = GroupState::from_bytes(&saved).unwrap();
/// assert_eq!(state.epoch(), 1);
///
/// let mut restarted = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), None);
/// restarted.set_protocol(ProtocolVersion::V2);
/// restarted.restore_group_state(state).unwrap();
/// assert_eq!(restarted.epoch(), 1);
/// assert_eq!(restarted.topic_key(), admin.topic_key());
/// ```
/// The capacity `C` is the topic's ([`super::Capacity`]): a state read into a topic
/// of fixed capacities holds at most its lists' sizes
/// ([`Error::CapacityExceeded`]).
#[derive(Clone)]
pub struct GroupState<C: Capacity = DefaultCapacity> {
    pub(crate) group: Group<C>,
    pub(crate) topic_key: Option<TopicKey>,
    pub(crate) classic_pending: Option<BoxSecret>,
    pub(crate) own_counter: u64,
}

/// Magic and version of [`GroupState::to_bytes`].
const STATE_MAGIC: &[u8; 4] = b"SPGS";
const STATE_VERSION: u8 = 1;

impl<C: Capacity> GroupState<C> {
    /// The topic id (absent only in a state exported before one was set).
    #[must_use]
    pub fn topic_id(&self) -> Option<TopicId> {
        self.group.topic_id
    }
    /// The current epoch's number.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.group.current.number
    }
    /// The current epoch's id.
    #[must_use]
    pub fn epoch_id(&self) -> &[u8; 32] {
        &self.group.current.id
    }
    /// The current epoch's members, when known.
    #[must_use]
    pub fn members(&self) -> Option<impl Iterator<Item = &ParticipantId>> {
        self.group.current.members.as_ref().map(|m| m.iter())
    }
    /// The admins, whose rekeys are accepted.
    pub fn admins(&self) -> impl Iterator<Item = &ParticipantId> {
        self.group.admins.iter()
    }
    /// Whether an introduction (of either format) awaits its reply.
    #[must_use]
    pub fn has_pending_introduction(&self) -> bool {
        self.group.pending.is_some() || self.classic_pending.is_some()
    }
    /// How many changes led to this state: restoring a state of the same epoch with a
    /// lower generation than the topic's is refused.
    pub fn generation(&self) -> u64 {
        self.group.generation
    }
    /// Counters of this identity below this value may have been used.
    #[must_use]
    pub fn own_counter(&self) -> u64 {
        self.own_counter
    }
    /// The replay floor of `sender`: its counters below it are refused.
    #[must_use]
    pub fn replay_floor(&self, sender: &ParticipantId) -> Option<u64> {
        self.group.floors.get(sender).copied()
    }

    /// The versioned binary form (zeroized when dropped); see
    /// [`write_to`](Self::write_to) for the layout.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<alloc::vec::Vec<u8>> {
        let mut out = Zeroizing::new(alloc::vec![0u8; self.encoded_len()]);
        // The buffer is exactly as long as the layout, so writing cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// The length of the binary form.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let g = &self.group;
        let c = &g.current;
        let list = |m: Option<&Members<C>>| m.map_or(0, |m| 4 + 16 * m.len());
        4 + 1
            + 2
            + 8
            + 32
            + if self.topic_key.is_some() { 32 } else { 0 }
            + 4
            + 32
            + if c.parent.is_some() { 32 } else { 0 }
            + list(c.parent_members.as_ref())
            + if c.starter.is_some() { 16 } else { 0 }
            + list(c.members.as_ref())
            + g.previous
                .as_ref()
                .map_or(0, |p| 4 + 32 + 32 + 4 + 1 + list(p.members.as_ref()))
            + 4
            + 4
            + 16 * g.admins.len()
            + if g.pending.is_some() { 64 } else { 0 }
            + if self.classic_pending.is_some() {
                32
            } else {
                0
            }
            + 8
            + 4
            + 24 * g.floors.len()
    }

    /// Writes the versioned binary form into `out` (which the caller zeroizes: it
    /// holds secrets) and returns its length, [`encoded_len`](Self::encoded_len);
    /// [`Error::BufferTooSmall`] if `out` is shorter. Layout (version 1), all integers
    /// big-endian, id lists in ascending order, optional fields present when their
    /// flag bit is set:
    ///
    /// ```text
    /// "SPGS" · version 1 · flags 2 · generation 8 · topic id 32 · (topic key 32)
    /// · epoch 4 · epoch id 32
    /// · (parent 32) · (parent members: list) · (starter 16) · (members: list)
    /// · (previous: epoch 4 · id 32 · key 32 · remaining 4 · has members 1 · (list))
    /// · grace 4 · admins: list · (pending: digest 32 · secret 32)
    /// · (classic pending secret 32) · own counter 8 · floor count 4 · (id 16 · floor 8)*
    /// ```
    ///
    /// A list is a count (4) then 16-byte ids. Flags, from bit 0: topic id, topic key,
    /// parent, parent members, starter, members, previous, pending, classic pending, and
    /// (bit 9) the topic id is of suite 0x02.
    // Longer than 60 lines: the format above, one field after another; split, its
    // order would be spelled in two places (and from_bytes_in reads it in the same order).
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, Error> {
        let len = self.encoded_len();
        let out = crate::wire::prefix_mut(out, len)?;
        let g = &self.group;
        let c = &g.current;
        let flags = [
            g.topic_id.is_some(),
            self.topic_key.is_some(),
            c.parent.is_some(),
            c.parent_members.is_some(),
            c.starter.is_some(),
            c.members.is_some(),
            g.previous.is_some(),
            g.pending.is_some(),
            self.classic_pending.is_some(),
            // Absent (suite 0x01) in every state written before suite 0x02 existed.
            g.topic_id
                .is_some_and(|t| t.suite().byte() != wire::SUITE_BLAKE3),
        ]
        .iter()
        .enumerate()
        .fold(0u16, |acc, (i, on)| acc | (u16::from(*on) << i));
        let mut w = Writer { out, at: 0 };
        w.put(STATE_MAGIC);
        w.put(&[STATE_VERSION]);
        w.put(&flags.to_be_bytes());
        w.put(&g.generation.to_be_bytes());
        w.put(&g.topic_id.map(|t| *t.as_bytes()).unwrap_or([0; 32]));
        if let Some(k) = &self.topic_key {
            w.put(k.expose_secret());
        }
        w.put(&c.number.to_be_bytes());
        w.put(&c.id);
        if let Some(p) = &c.parent {
            w.put(p);
        }
        if let Some(m) = &c.parent_members {
            w.ids(m.iter(), m.len());
        }
        if let Some(s) = &c.starter {
            w.put(s.as_bytes());
        }
        if let Some(m) = &c.members {
            w.ids(m.iter(), m.len());
        }
        if let Some(p) = &g.previous {
            w.put(&p.number.to_be_bytes());
            w.put(&p.id);
            w.put(p.key.expose_secret());
            w.put(&p.remaining.to_be_bytes());
            w.put(&[u8::from(p.members.is_some())]);
            if let Some(m) = &p.members {
                w.ids(m.iter(), m.len());
            }
        }
        w.put(&g.grace_messages.to_be_bytes());
        w.ids(g.admins.iter(), g.admins.len());
        if let Some(p) = &g.pending {
            w.put(&p.digest);
            w.put(p.secret.expose_secret());
        }
        if let Some(s) = &self.classic_pending {
            w.put(s.expose_secret());
        }
        w.put(&self.own_counter.to_be_bytes());
        w.put(&(g.floors.len() as u32).to_be_bytes());
        for (id, floor) in g.floors.iter() {
            w.put(id.as_bytes());
            w.put(&floor.to_be_bytes());
        }
        Ok(len)
    }

    /// [`from_bytes`](GroupState::from_bytes) for a topic of capacity `C` (a device's
    /// [`Fixed`](super::Fixed) capacities): lists longer than `C` holds are refused
    /// ([`Error::CapacityExceeded`]).
    ///
    /// ```
    /// use stringphone_core::v2::{Fixed, GroupState};
    /// assert!(GroupState::<Fixed<8, 2, 8>>::from_bytes_in(b"SPGS").is_err());
    /// ```
    // Longer than 60 lines: write_to's format read back field by field, in its order.
    pub fn from_bytes_in(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes, at: 0 };
        if r.take::<4>()? != STATE_MAGIC {
            return Err(Error::InvalidState("not a stringphone group state"));
        }
        if r.take::<1>()?[0] != STATE_VERSION {
            return Err(Error::InvalidState("unknown group state version"));
        }
        let flags = u16::from_be_bytes(*r.take::<2>()?);
        let generation = u64::from_be_bytes(*r.take::<8>()?);
        if flags >> 10 != 0 {
            return Err(Error::InvalidState("unknown flags"));
        }
        let on = |bit: u16| flags & (1 << bit) != 0;
        let topic = *r.take::<32>()?;
        let suite_byte = if on(9) {
            wire::SUITE_SHA256
        } else {
            wire::SUITE_BLAKE3
        };
        let topic_id = match (on(0), super::Suite::from_byte(suite_byte)) {
            (false, _) if on(9) => return Err(Error::InvalidState("a suite without a topic id")),
            (false, _) => None,
            (true, Some(suite)) => Some(TopicId::from_bytes_in(suite, topic)),
            (true, None) => {
                return Err(Error::InvalidState(
                    "the topic's cipher suite is not in this build",
                ))
            }
        };
        let topic_key = if on(1) {
            Some(TopicKey::from_bytes(*r.take::<32>()?))
        } else {
            None
        };
        let number = r.u32()?;
        let id = *r.take::<32>()?;
        let parent = if on(2) { Some(*r.take::<32>()?) } else { None };
        let parent_members = if on(3) { Some(r.ids("members")?) } else { None };
        let starter = if on(4) {
            Some(ParticipantId::from_bytes(*r.take::<16>()?))
        } else {
            None
        };
        let members = if on(5) { Some(r.ids("members")?) } else { None };
        let previous = if on(6) {
            let number = r.u32()?;
            let id = *r.take::<32>()?;
            let key = TopicKey::from_bytes(*r.take::<32>()?);
            let remaining = r.u32()?;
            let members = match r.take::<1>()?[0] {
                0 => None,
                1 => Some(r.ids("members")?),
                _ => return Err(Error::InvalidState("bad previous-epoch members flag")),
            };
            Some(PreviousEpoch {
                number,
                id,
                key,
                members,
                remaining,
            })
        } else {
            None
        };
        let grace_messages = r.u32()?;
        let admins = r.ids("admins")?;
        let pending = if on(7) {
            let digest = *r.take::<32>()?;
            let secret = BoxSecret::from_bytes(*r.take::<32>()?);
            Some(PendingIntro { digest, secret })
        } else {
            None
        };
        let classic_pending = if on(8) {
            Some(BoxSecret::from_bytes(*r.take::<32>()?))
        } else {
            None
        };
        let own_counter = u64::from_be_bytes(*r.take::<8>()?);
        let mut floors = PerSender::<u64, C>::new("replay floors");
        r.sorted(8, |id, r| {
            floors.insert(id, u64::from_be_bytes(*r.take::<8>()?))
        })?;
        if r.left() != 0 {
            return Err(Error::InvalidState("trailing bytes"));
        }
        Ok(GroupState {
            group: Group {
                generation,
                topic_id,
                current: Epoch {
                    number,
                    id,
                    parent,
                    parent_members,
                    starter,
                    members,
                },
                previous,
                grace_messages,
                admins,
                pending,
                floors,
            },
            topic_key,
            classic_pending,
            own_counter,
        })
    }
}

impl GroupState {
    /// Parses [`write_to`](Self::write_to)'s form exactly: magic, a known version,
    /// known flags, ids in strictly ascending order, nothing after the end
    /// ([`Error::InvalidState`] says which rule failed). Allocates (with `alloc`) in
    /// proportion to the input only. For the default capacity; a topic of other
    /// capacities reads its state with [`from_bytes_in`](Self::from_bytes_in).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_bytes_in(bytes)
    }
}

impl<C: Capacity> core::fmt::Debug for GroupState<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupState")
            .field("topic_id", &self.group.topic_id)
            .field("epoch", &self.group.current.number)
            .field(
                "members",
                &self.group.current.members.as_ref().map(IdSet::len),
            )
            .field("admins", &self.group.admins.len())
            .field("has_topic_key", &self.topic_key.is_some())
            .field("pending_introduction", &self.has_pending_introduction())
            .field("own_counter", &self.own_counter)
            .finish_non_exhaustive()
    }
}

/// Writes fields one after another into a buffer already checked to be long enough.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, field: &[u8]) {
        self.out[self.at..self.at + field.len()].copy_from_slice(field);
        self.at += field.len();
    }
    fn ids<'i>(&mut self, ids: impl Iterator<Item = &'i ParticipantId>, count: usize) {
        self.put(&(count as u32).to_be_bytes());
        for id in ids {
            self.put(id.as_bytes());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn take<const N: usize>(&mut self) -> Result<&'a [u8; N], Error> {
        let end = self.at.checked_add(N).filter(|e| *e <= self.bytes.len());
        let field = end
            .and_then(|e| self.bytes[self.at..e].try_into().ok())
            .ok_or(Error::InvalidState("truncated"))?;
        self.at += N;
        Ok(field)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(*self.take::<4>()?))
    }
    /// A count, then that many entries of an id (in strictly ascending order) and
    /// `extra` more bytes, which `each` reads.
    fn sorted(
        &mut self,
        extra: usize,
        mut each: impl FnMut(ParticipantId, &mut Self) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let count = self.u32()? as usize;
        if count > self.left() / (16 + extra) {
            return Err(Error::InvalidState("truncated list"));
        }
        let mut last: Option<ParticipantId> = None;
        for _ in 0..count {
            let id = ParticipantId::from_bytes(*self.take::<16>()?);
            if last.is_some_and(|l| l >= id) {
                return Err(Error::InvalidState("list out of order"));
            }
            last = Some(id);
            each(id, self)?;
        }
        Ok(())
    }
    fn ids<L: List<ParticipantId>>(&mut self, what: &'static str) -> Result<IdSet<L>, Error> {
        let mut ids = IdSet::new(what);
        self.sorted(0, |id, _| ids.insert(id).map(drop))?;
        Ok(ids)
    }
}
