//! What every [`TrustStore`] must do: the contract its docs promise, as checks.
//!
//! Each check is a plain function that returns `Err(what went wrong)`;
//! [`store_conformance!`](crate::store_conformance) makes a `#[test]` of each. Checks
//! on one handle take a fresh, empty store; checks of a persistent store take a
//! [`StorePlace`], which opens as many handles on the same data as they need.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    MarkSlot, MemoryTrustStore, ParticipantId, PublicKey, SigningSeed, StoreError, Topic, TopicKey,
    TrustStore,
};
use stringphone_rustcrypto::RustCrypto;

use crate::{ensure, Check};

/// Where a persistent store keeps its data during one check: a fresh, empty place
/// (a temporary directory, a database file), removed when the place is dropped.
///
/// ```
/// use stringphone_store_file::FileTrustStore;
/// use stringphone_testkit::store::{marks_are_durable, StorePlace};
/// use stringphone_testkit::TempDir;
///
/// /// A directory of the file store, removed when dropped.
/// struct Dir(TempDir);
///
/// impl StorePlace for Dir {
///     type Store = FileTrustStore;
///     fn open(&self) -> Result<FileTrustStore, String> {
///         FileTrustStore::open(self.0.path()).map_err(|e| e.to_string())
///     }
/// }
///
/// marks_are_durable(&Dir(TempDir::new("place"))).unwrap();
/// ```
pub trait StorePlace {
    /// The store a handle is.
    type Store: TrustStore;

    /// Opens a new handle on this place's data: another handle of the same process,
    /// or the same data after a restart (the old handles may still be open).
    fn open(&self) -> Result<Self::Store, String>;
}

/// Runs a one-handle check on the fresh store `new` makes (for
/// [`store_conformance!`](crate::store_conformance)).
///
/// ```
/// use stringphone_testkit::store::{on_a_new_store, trust_round_trips};
/// on_a_new_store(stringphone_core::MemoryTrustStore::new, trust_round_trips).unwrap();
/// ```
pub fn on_a_new_store<S: TrustStore>(new: impl FnOnce() -> S, check: fn(&mut S) -> Check) -> Check {
    check(&mut new())
}

/// Runs a one-handle check on the first handle of a fresh `place`.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// use stringphone_testkit::store::{on_a_handle, trust_round_trips};
/// on_a_handle(place, trust_round_trips).unwrap();
/// ```
pub fn on_a_handle<P: StorePlace>(place: P, check: fn(&mut P::Store) -> Check) -> Check {
    let mut store = place.open().map_err(|e| format!("open: {e}"))?;
    check(&mut store)
}

/// Runs a check of a persistent store on a fresh `place`.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// use stringphone_testkit::store::{marks_are_durable, on_a_place};
/// on_a_place(place, marks_are_durable).unwrap();
/// ```
pub fn on_a_place<P: StorePlace>(place: P, check: fn(&P) -> Check) -> Check {
    check(&place)
}

/// Handles on one in-memory store, as processes on one state directory are: a clone
/// is another handle, and sees every change any handle makes. Marks are kept as given
/// ([`SharedMemoryStore::new`]) or never lowered by any handle
/// ([`SharedMemoryStore::marks_never_fall`]); neither is the shared-store rule a
/// persistent store keeps (a handle lowering only its own mark), which is why
/// [`marks_never_fall_below_what_another_handle_relies_on`] refuses both.
///
/// ```
/// use stringphone_core::{MarkSlot, TrustStore};
/// use stringphone_testkit::store::SharedMemoryStore;
/// let mut first = SharedMemoryStore::marks_never_fall();
/// let mut second = first.clone();
/// first.save_mark(MarkSlot::OwnCounter, 10).unwrap();
/// second.save_mark(MarkSlot::OwnCounter, 5).unwrap();
/// assert_eq!(first.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(10));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SharedMemoryStore {
    store: Rc<RefCell<MemoryTrustStore>>,
    marks_never_fall: bool,
}

impl SharedMemoryStore {
    /// A new store whose marks are kept as given (any handle may lower one).
    ///
    /// ```
    /// let store = stringphone_testkit::store::SharedMemoryStore::new();
    /// assert_eq!(stringphone_core::TrustStore::iter(&store).unwrap().count(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A new store no handle ever lowers a mark of.
    ///
    /// ```
    /// let store = stringphone_testkit::store::SharedMemoryStore::marks_never_fall();
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn marks_never_fall() -> Self {
        SharedMemoryStore {
            marks_never_fall: true,
            ..Self::default()
        }
    }
}

impl TrustStore for SharedMemoryStore {
    type Iter<'a> = std::vec::IntoIter<(ParticipantId, PublicKey)>;
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.store.borrow().get(id)
    }
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.store.borrow_mut().insert(id, key)
    }
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.store.borrow_mut().remove(id)
    }
    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.store.borrow().iter()?.collect::<Vec<_>>().into_iter())
    }
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        self.store.borrow().load_mark(slot)
    }
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        let mut store = self.store.borrow_mut();
        let floor = if self.marks_never_fall {
            store.load_mark(&slot)?.unwrap_or(0)
        } else {
            0
        };
        store.save_mark(slot, mark.max(floor))
    }
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.store.borrow().load_group_state()
    }
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.store.borrow_mut().save_group_state(state)
    }
}

/// The ways a [`FlawedStore`] breaks the [`TrustStore`] contract or fails; each off
/// unless set. A failure is a [`StoreError`] whose source is [`DiskFull`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flaws {
    /// `insert` and `remove` fail, changing nothing.
    pub fails_trust_writes: bool,
    /// `save_mark` fails, storing nothing.
    pub fails_marks: bool,
    /// `save_group_state` fails, storing nothing.
    pub fails_group_state: bool,
    /// `save_mark` stores one less than the mark it is given.
    pub lowers_marks: bool,
    /// `remove` says it removed the key, and keeps it.
    pub keeps_removed: bool,
    /// `save_group_state` stores the bytes `b"not a group state"`, then refuses them.
    pub writes_then_fails: bool,
    /// `load_group_state` gives the state back with its last byte dropped.
    pub truncates_group_state: bool,
}

/// What a [`FlawedStore`]'s failures give as their source: "disk full", with no
/// cause of its own.
///
/// ```
/// assert_eq!(stringphone_testkit::store::DiskFull.to_string(), "disk full");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskFull;

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}

impl std::error::Error for DiskFull {}

/// A [`MemoryTrustStore`] with [`Flaws`]: for tests that a topic survives a failing
/// store (nothing lost or changed), and that the conformance checks catch a store
/// that breaks the contract. The flaws can be changed between calls.
///
/// ```
/// use stringphone_core::{MarkSlot, TrustStore};
/// use stringphone_testkit::store::{FlawedStore, Flaws};
/// let mut store = FlawedStore::new(Flaws { fails_marks: true, ..Flaws::default() });
/// assert!(store.save_mark(MarkSlot::OwnCounter, 1).is_err());
/// store.flaws.fails_marks = false;
/// store.save_mark(MarkSlot::OwnCounter, 1).unwrap();
/// assert_eq!(store.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1));
/// ```
#[derive(Clone, Debug, Default)]
pub struct FlawedStore {
    /// The store behind it, which holds what was really stored.
    pub inner: MemoryTrustStore,
    /// How it is wrong now.
    pub flaws: Flaws,
}

impl FlawedStore {
    /// An empty store with `flaws`.
    ///
    /// ```
    /// use stringphone_testkit::store::{FlawedStore, Flaws};
    /// let store = FlawedStore::new(Flaws::default());
    /// assert_eq!(stringphone_core::TrustStore::iter(&store).unwrap().count(), 0);
    /// ```
    #[must_use]
    pub fn new(flaws: Flaws) -> Self {
        FlawedStore {
            inner: MemoryTrustStore::new(),
            flaws,
        }
    }

    fn fail_if(&self, flaw: bool) -> Result<(), StoreError> {
        if flaw {
            Err(StoreError::new(DiskFull))
        } else {
            Ok(())
        }
    }
}

impl TrustStore for FlawedStore {
    type Iter<'a> = <MemoryTrustStore as TrustStore>::Iter<'a>;
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.inner.get(id)
    }
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.fail_if(self.flaws.fails_trust_writes)?;
        self.inner.insert(id, key)
    }
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.fail_if(self.flaws.fails_trust_writes)?;
        if self.flaws.keeps_removed {
            return self.inner.get(id);
        }
        self.inner.remove(id)
    }
    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        self.inner.iter()
    }
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        self.inner.load_mark(slot)
    }
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.fail_if(self.flaws.fails_marks)?;
        let lowered = u64::from(self.flaws.lowers_marks);
        self.inner.save_mark(slot, mark.saturating_sub(lowered))
    }
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let mut state = self.inner.load_group_state()?;
        if let Some(s) = state.as_mut().filter(|_| self.flaws.truncates_group_state) {
            s.pop();
        }
        Ok(state)
    }
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.fail_if(self.flaws.fails_group_state)?;
        self.inner.save_group_state(state)?;
        self.fail_if(self.flaws.writes_then_fails && state == b"not a group state")
    }
}

fn ok<V, E: Debug>(r: Result<V, E>, what: &str) -> Result<V, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// Participant `n`: a key and its real id (the first 16 bytes of SHA-256 of the key),
/// as the topic hands them to a store.
///
/// ```
/// let (id, key) = stringphone_testkit::store::participant(1);
/// assert_eq!(key.to_bytes(), [1; 32]);
/// assert_ne!(id, stringphone_testkit::store::participant(2).0);
/// ```
#[must_use]
pub fn participant(n: u8) -> (ParticipantId, PublicKey) {
    let key = PublicKey::from_bytes([n; 32]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&Sha256::digest(key.as_bytes())[..16]);
    (ParticipantId::from_bytes(id), key)
}

/// The group state of an admin of topic `name` after `rotations` rotations (real
/// bytes: persistent stores parse what they keep). The epoch is `rotations`.
///
/// ```
/// let a = stringphone_testkit::store::group_state(b"t", 1);
/// assert_ne!(*a, *stringphone_testkit::store::group_state(b"t", 2));
/// ```
#[must_use]
pub fn group_state(name: &[u8], rotations: u32) -> Zeroizing<Vec<u8>> {
    let mut t = Topic::<RustCrypto, MemoryTrustStore>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([1; 32])),
    );
    t.set_topic_id(TopicId::from_name(name))
        .expect("a fresh topic takes a topic id");
    t.set_protocol(ProtocolVersion::V2);
    for _ in 0..rotations {
        t.rotate(None).expect("an admin alone rotates");
    }
    t.group_state().to_bytes()
}

/// Everything a store holds that a check looks at: trust, the marks of the slots the
/// checks use, the group state.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    trusted: BTreeMap<ParticipantId, PublicKey>,
    marks: Vec<Option<u64>>,
    group_state: Option<Vec<u8>>,
}

fn slots() -> [MarkSlot; 4] {
    [
        MarkSlot::OwnCounter,
        MarkSlot::Received(participant(1).0),
        MarkSlot::Received(participant(2).0),
        MarkSlot::Received(participant(3).0),
    ]
}

fn snapshot<S: TrustStore>(s: &S) -> Result<Snapshot, String> {
    let marks = slots()
        .iter()
        .map(|slot| ok(s.load_mark(slot), "load_mark"))
        .collect::<Result<_, _>>()?;
    Ok(Snapshot {
        trusted: ok(s.iter(), "iter")?.collect(),
        marks,
        group_state: ok(s.load_group_state(), "load_group_state")?.map(|g| g.to_vec()),
    })
}

fn trusted<S: TrustStore>(s: &S) -> Result<Vec<(ParticipantId, PublicKey)>, String> {
    let mut all: Vec<_> = ok(s.iter(), "iter")?.collect();
    all.sort();
    Ok(all)
}

// ----- one handle ---------------------------------------------------------------------

/// Trust, lookup and untrust: what is inserted is found and listed, inserting the same
/// again changes nothing, removing gives back the key once, and a removed id is gone.
///
/// ```
/// use stringphone_testkit::store::trust_round_trips;
/// trust_round_trips(&mut stringphone_core::MemoryTrustStore::new()).unwrap();
/// ```
pub fn trust_round_trips<S: TrustStore>(s: &mut S) -> Check {
    let (a, ka) = participant(1);
    let (b, kb) = participant(2);
    ensure!(trusted(s)?.is_empty(), "a new store trusts someone");
    ensure!(ok(s.get(&a), "get")?.is_none(), "a new store has a key");
    ok(s.insert(a, ka), "insert")?;
    ok(s.insert(b, kb), "insert")?;
    ok(s.insert(b, kb), "inserting the same again")?;
    ensure!(ok(s.get(&a), "get")? == Some(ka), "get(a) after insert");
    ensure!(ok(s.get(&b), "get")? == Some(kb), "get(b) after insert");
    let mut both = vec![(a, ka), (b, kb)];
    both.sort();
    ensure!(trusted(s)? == both, "iter lists {:?}", trusted(s)?);
    ensure!(
        ok(s.remove(&a), "remove")? == Some(ka),
        "remove(a) gives its key"
    );
    ensure!(
        ok(s.remove(&a), "remove")?.is_none(),
        "a second remove(a) gives a key"
    );
    ensure!(
        ok(s.get(&a), "get")?.is_none(),
        "a removed id is still found"
    );
    ensure!(trusted(s)? == vec![(b, kb)], "iter after remove");
    Ok(())
}

/// Marks: a store keeps them or keeps none at all (the default, right for a store that
/// does not outlive the process); one that keeps them stores every raise exactly, per
/// slot, over the whole `u64` range, apart from trust.
///
/// ```
/// use stringphone_testkit::store::raised_marks_are_kept_exactly;
/// raised_marks_are_kept_exactly(&mut stringphone_core::MemoryTrustStore::new()).unwrap();
/// ```
pub fn raised_marks_are_kept_exactly<S: TrustStore>(s: &mut S) -> Check {
    let [own, one, two, three] = slots();
    for slot in slots() {
        ensure!(
            ok(s.load_mark(&slot), "load_mark")?.is_none(),
            "a new store has a mark"
        );
    }
    ok(s.save_mark(own, 7), "save_mark")?;
    let keeps = match ok(s.load_mark(&own), "load_mark")? {
        None => false,
        Some(7) => true,
        Some(other) => return Err(format!("saved 7, loaded {other}")),
    };
    let steps = [(one, 1), (own, 2048), (two, u64::MAX), (one, 1 << 40)];
    for (slot, mark) in steps {
        ok(s.save_mark(slot, mark), "save_mark")?;
        let got = ok(s.load_mark(&slot), "load_mark")?;
        let expected = keeps.then_some(mark);
        ensure!(got == expected, "{slot:?}: saved {mark}, loaded {got:?}");
    }
    let others = [(own, 2048), (one, 1 << 40), (two, u64::MAX)];
    for (slot, mark) in others {
        let got = ok(s.load_mark(&slot), "load_mark")?;
        ensure!(got == keeps.then_some(mark), "{slot:?} moved: {got:?}");
    }
    ensure!(
        ok(s.load_mark(&three), "load_mark")?.is_none(),
        "a slot never saved has a mark"
    );
    ensure!(trusted(s)?.is_empty(), "marks show up as trust");
    Ok(())
}

/// Group state: none at first; a store that keeps it gives back exactly the bytes last
/// saved, and a later epoch replaces the earlier one; one that does not keeps none.
///
/// ```
/// use stringphone_testkit::store::group_state_round_trips;
/// group_state_round_trips(&mut stringphone_core::MemoryTrustStore::new()).unwrap();
/// ```
pub fn group_state_round_trips<S: TrustStore>(s: &mut S) -> Check {
    ensure!(
        ok(s.load_group_state(), "load")?.is_none(),
        "a new store has a group state"
    );
    let first = group_state(b"kitchen", 1);
    ok(s.save_group_state(&first), "save_group_state")?;
    let keeps = match ok(s.load_group_state(), "load")? {
        None => false,
        Some(got) if *got == *first => true,
        Some(got) => return Err(format!("saved {} bytes, loaded {}", first.len(), got.len())),
    };
    let later = group_state(b"kitchen", 2);
    ok(s.save_group_state(&later), "save_group_state")?;
    let got = ok(s.load_group_state(), "load")?.map(|g| g.to_vec());
    ensure!(
        got == keeps.then(|| later.to_vec()),
        "the later state did not replace it"
    );
    ensure!(trusted(s)?.is_empty(), "the group state shows up as trust");
    Ok(())
}

/// A call a store may refuse: `Ok(true)` when the store took it and shows its change.
type Attempt<'a, S> = &'a dyn Fn(&mut S) -> Result<bool, String>;

/// A call that fails changes nothing: calls a store may refuse (an id that is not the
/// key's, bytes that are not a group state, an older epoch, another topic's state) are
/// tried on a store holding trust, marks and a state; each either fails and leaves
/// everything as it was, or succeeds and shows its change.
///
/// ```
/// use stringphone_testkit::store::a_refused_call_changes_nothing;
/// a_refused_call_changes_nothing(&mut stringphone_core::MemoryTrustStore::new()).unwrap();
/// ```
pub fn a_refused_call_changes_nothing<S: TrustStore>(s: &mut S) -> Check {
    let (a, ka) = participant(1);
    let (b, kb) = participant(2);
    ok(s.insert(a, ka), "insert")?;
    ok(s.save_mark(MarkSlot::Received(a), 100), "save_mark")?;
    ok(
        s.save_group_state(&group_state(b"kitchen", 2)),
        "save_group_state",
    )?;
    let attempts: [(&str, Attempt<'_, S>); 5] = [
        ("insert under an id that is not the key's", &|s: &mut S| {
            let r = s.insert(b, ka).is_ok();
            Ok(r && ok(s.get(&b), "get")? == Some(ka))
        }),
        ("insert of another key under a trusted id", &|s: &mut S| {
            let r = s.insert(a, kb).is_ok();
            Ok(r && ok(s.get(&a), "get")? == Some(kb))
        }),
        ("a group state that is not one", &|s: &mut S| {
            let r = s.save_group_state(b"not a group state").is_ok();
            Ok(
                r && ok(s.load_group_state(), "load")?.as_deref().map(|g| &g[..])
                    == Some(&b"not a group state"[..]),
            )
        }),
        ("an older epoch's group state", &|s: &mut S| {
            let older = group_state(b"kitchen", 1);
            let r = s.save_group_state(&older).is_ok();
            Ok(r && ok(s.load_group_state(), "load")?.as_deref() == Some(&older))
        }),
        ("another topic's group state", &|s: &mut S| {
            let other = group_state(b"garage", 3);
            let r = s.save_group_state(&other).is_ok();
            Ok(r && ok(s.load_group_state(), "load")?.as_deref() == Some(&other))
        }),
    ];
    for (what, attempt) in attempts {
        let before = snapshot(s)?;
        let accepted = attempt(s)?;
        let after = snapshot(s)?;
        if !accepted {
            ensure!(after == before, "{what}: refused, but the store changed");
        }
        // Put the store back for the next attempt (a store that took the call).
        if accepted {
            let _ = s.remove(&b);
            let _ = s.insert(a, ka);
            let _ = s.save_group_state(&group_state(b"kitchen", 2));
        }
    }
    Ok(())
}

// ----- a persistent store: several handles, restarts ---------------------------------

fn open<P: StorePlace>(place: &P) -> Result<P::Store, String> {
    place.open().map_err(|e| format!("open: {e}"))
}

/// Trust is durable and shared: another handle, and a reopened one, see every change.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// stringphone_testkit::store::trust_is_durable_and_shared(&place).unwrap();
/// ```
pub fn trust_is_durable_and_shared<P: StorePlace>(place: &P) -> Check {
    let (a, ka) = participant(1);
    let (b, kb) = participant(2);
    let mut first = open(place)?;
    let second = open(place)?;
    ok(first.insert(a, ka), "insert")?;
    ok(first.insert(b, kb), "insert")?;
    ensure!(
        ok(second.get(&a), "get")? == Some(ka),
        "another handle does not see a trust"
    );
    ensure!(ok(first.remove(&a), "remove")? == Some(ka));
    ensure!(
        ok(second.get(&a), "get")?.is_none(),
        "another handle still sees a removed trust"
    );
    drop((first, second));
    let again = open(place)?;
    ensure!(
        trusted(&again)? == vec![(b, kb)],
        "after reopening: {:?}",
        trusted(&again)?
    );
    ensure!(ok(again.get(&b), "get")? == Some(kb));
    Ok(())
}

/// Marks are durable: a reopened store has every mark saved, over the whole range, and
/// none where none was saved.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// stringphone_testkit::store::marks_are_durable(&place).unwrap();
/// ```
pub fn marks_are_durable<P: StorePlace>(place: &P) -> Check {
    let [own, one, two, three] = slots();
    let saved = [(two, 7), (own, 2048), (one, u64::MAX)];
    {
        let mut s = open(place)?;
        for (slot, mark) in saved {
            ok(s.save_mark(slot, mark), "save_mark")?;
        }
    }
    let again = open(place)?;
    for (slot, mark) in saved {
        let got = ok(again.load_mark(&slot), "load_mark")?;
        ensure!(
            got == Some(mark),
            "{slot:?}: saved {mark}, after reopening {got:?}"
        );
    }
    ensure!(ok(again.load_mark(&three), "load_mark")?.is_none());
    ensure!(trusted(&again)?.is_empty(), "marks are not trust");
    Ok(())
}

/// The shared-store rule for marks (`TrustStore::save_mark`): a handle lowers a mark
/// only where it wrote the stored one, and never below what it found before it raised
/// it; an equal save counts as writing; a new handle owns nothing. The expected values
/// follow from that rule alone.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// stringphone_testkit::store::marks_never_fall_below_what_another_handle_relies_on(&place).unwrap();
/// ```
pub fn marks_never_fall_below_what_another_handle_relies_on<P: StorePlace>(place: &P) -> Check {
    let slot = MarkSlot::Received(participant(1).0);
    let mut a = open(place)?;
    let mut b = open(place)?;
    let save = |handle: &mut P::Store, name: &str, mark: u64, expected: u64| -> Check {
        ok(handle.save_mark(slot, mark), "save_mark")?;
        let got = ok(handle.load_mark(&slot), "load_mark")?;
        ensure!(
            got == Some(expected),
            "{name} saved {mark}: the store holds {got:?}, the rule gives {expected}"
        );
        Ok(())
    };
    // A raises ahead, then takes its own reservation back (a clean shutdown).
    save(&mut a, "A", 300, 300)?;
    save(&mut a, "A", 44, 44)?;
    // Another handle never lowers a mark it did not raise.
    save(&mut b, "B", 10, 44)?;
    // B raises A's mark: A can no longer lower it, not even to a value above its own
    // exact mark, since B may have accepted counters below B's mark.
    save(&mut b, "B", 400, 400)?;
    save(&mut a, "A", 45, 400)?;
    // B takes back, but never below the 44 it found there.
    save(&mut b, "B", 1, 44)?;
    // An equal save takes ownership too: after B relies on A's 500, A's take-back
    // must not lower it.
    save(&mut a, "A", 500, 500)?;
    save(&mut b, "B", 500, 500)?;
    save(&mut a, "A", 50, 500)?;
    // Nor can B go below the 500 it found.
    save(&mut b, "B", 60, 500)?;
    save(&mut b, "B", 560, 560)?;
    save(&mut b, "B", 60, 500)?;
    // A restarted process (a new handle) starts with nothing of its own.
    let mut c = open(place)?;
    save(&mut c, "a new handle", 0, 500)?;
    let got = ok(open(place)?.load_mark(&slot), "load_mark")?;
    ensure!(got == Some(500), "after reopening: {got:?}");
    Ok(())
}

/// The group state is durable: a reopened store and another handle give back exactly
/// the bytes last saved.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// stringphone_testkit::store::group_state_is_durable_and_shared(&place).unwrap();
/// ```
pub fn group_state_is_durable_and_shared<P: StorePlace>(place: &P) -> Check {
    let mut a = open(place)?;
    let b = open(place)?;
    let state = group_state(b"kitchen", 1);
    ok(a.save_group_state(&state), "save_group_state")?;
    let seen = ok(b.load_group_state(), "load")?;
    ensure!(
        seen.as_deref() == Some(&state),
        "another handle does not see the state"
    );
    let later = group_state(b"kitchen", 3);
    ok(a.save_group_state(&later), "save_group_state")?;
    drop((a, b));
    let again = ok(open(place)?.load_group_state(), "load")?;
    ensure!(
        again.as_deref() == Some(&later),
        "after reopening: not the last state saved"
    );
    Ok(())
}

/// A refused call changes nothing on disk either: [`a_refused_call_changes_nothing`]
/// on one handle, then a reopened handle holds what the first one holds.
///
/// ```
/// # use stringphone_testkit::store::StorePlace;
/// # struct Dir(stringphone_testkit::TempDir);
/// # impl StorePlace for Dir {
/// #     type Store = stringphone_store_file::FileTrustStore;
/// #     fn open(&self) -> Result<Self::Store, String> {
/// #         Self::Store::open(self.0.path()).map_err(|e| e.to_string())
/// #     }
/// # }
/// # let place = Dir(stringphone_testkit::TempDir::new("doc"));
/// stringphone_testkit::store::a_refused_call_changes_nothing_durably(&place).unwrap();
/// ```
pub fn a_refused_call_changes_nothing_durably<P: StorePlace>(place: &P) -> Check {
    let mut s = open(place)?;
    a_refused_call_changes_nothing(&mut s)?;
    let held = snapshot(&s)?;
    drop(s);
    ensure!(
        snapshot(&open(place)?)? == held,
        "a reopened store holds something else"
    );
    Ok(())
}
