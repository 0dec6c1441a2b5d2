//! The SQLite store's contract, one handle and several handles in one process: round
//! trips, the shared-store rule for marks, the sender lease, the group state's rules,
//! the import, and every kind of file it must refuse without touching it.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    DecodeMode, Error, MarkSlot, ParticipantId, PublicKey, SigningSeed, Topic, TopicKey, TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::{
    participant_id, Snapshot, SqliteStoreError, SqliteTrustStore, APPLICATION_ID, SCHEMA_VERSION,
};
use stringphone_testkit::error_chain;
use stringphone_testkit::TempDir;

/// The database of a test's directory.
trait StateDb {
    fn db(&self) -> PathBuf;
}

impl StateDb for TempDir {
    fn db(&self) -> PathBuf {
        self.join("state.db")
    }
}

fn key(n: u8) -> (ParticipantId, PublicKey) {
    let key = PublicKey::from_bytes([n; 32]);
    (participant_id(&key), key)
}

/// The bytes of the database and its WAL, as they are on disk.
fn files(db: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (fs::read(db).unwrap(), fs::read(PathBuf::from(wal)).ok())
}

// Trust, marks and group state through the trait, on one handle and several, and
// what a refused call leaves: tests/conformance.rs (the kit's store_conformance!).

/// The store's own listings say what the trait says.
#[test]
fn its_own_listings_match_the_trait() {
    let dir = TempDir::new("sqlite-listings");
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    let (a, ka) = key(1);
    let (b, kb) = key(2);
    s.insert(a, ka).unwrap();
    s.insert(b, kb).unwrap();
    s.save_mark(MarkSlot::OwnCounter, 2048).unwrap();
    s.save_mark(MarkSlot::Received(a), u64::MAX).unwrap();
    assert_eq!(s.len().unwrap(), 2);
    let mut listed = s.iter().unwrap().collect::<Vec<_>>();
    listed.sort();
    assert_eq!(s.entries().unwrap(), listed);
    let marks = s.marks().unwrap();
    assert_eq!(marks.len(), 2);
    for (slot, mark) in &marks {
        assert_eq!(s.load_mark(slot).unwrap(), Some(*mark));
    }
}

#[test]
fn insert_refuses_an_id_that_is_not_the_keys() {
    let dir = TempDir::new("sqlite-mismatch");
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    let (_, ka) = key(1);
    let (b, _) = key(2);
    let err = s.insert(b, ka).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<SqliteStoreError>(),
            Some(SqliteStoreError::IdMismatch { .. })
        ),
        "{err}"
    );
    assert!(s.entries().unwrap().is_empty());
}

#[cfg(unix)]
#[test]
fn the_database_and_its_companions_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("sqlite-private");
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap(); // the WAL exists once something was written
    s.save_mark(MarkSlot::OwnCounter, 1024).unwrap(); // and the lease file
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    for suffix in ["", "-wal", "-shm", "-sender.lock"] {
        let mut p = dir.db().into_os_string();
        p.push(suffix);
        assert_eq!(mode(Path::new(&p)), 0o600, "state.db{suffix}");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_kept() {
    let dir = TempDir::new("sqlite-text");
    fs::create_dir_all(dir.path()).unwrap();
    // A text store's trust file put where the database goes, say.
    let text = b"stringphone-trust 1\nend 0\n".repeat(200);
    fs::write(dir.db(), &text).unwrap();
    let err = SqliteTrustStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, SqliteStoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert!(err.to_string().contains("refusing to use it"), "{err}");
    assert_eq!(fs::read(dir.db()).unwrap(), text);
}

/// A database with some trust, marks and a group state, closed (so everything is in
/// the main file), and its bytes.
fn filled_database(dir: &TempDir) -> Vec<u8> {
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    s.insert_all((1..=200u8).map(|n| PublicKey::from_bytes([n; 32])))
        .unwrap();
    s.save_mark(MarkSlot::Received(key(1).0), 300).unwrap();
    let mut admin = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([1; 32])),
    );
    admin.set_topic_id(TopicId::from_name(b"t")).unwrap();
    s.store_group_state(&admin.group_state().to_bytes())
        .unwrap();
    drop(s); // the last connection checkpoints the WAL into the file and removes it
    let (bytes, wal) = files(&dir.db());
    assert!(wal.is_none(), "the WAL outlived the last connection");
    bytes
}

#[test]
fn damage_is_refused_and_the_file_kept() {
    let dir = TempDir::new("sqlite-damage");
    let good = filled_database(&dir);
    let page = 4096;
    assert!(good.len() >= 4 * page, "{} bytes", good.len());
    let (_, k7) = key(7);
    let at = good
        .windows(32)
        .position(|w| w == k7.as_bytes())
        .expect("key 7 is in the file");
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut header = good.clone();
    header[..16].copy_from_slice(b"SQLite format 4\0");
    cases.push(("header", header));
    cases.push(("truncated to half", good[..good.len() / 2].to_vec()));
    cases.push(("truncated mid-page", good[..3 * page + 100].to_vec()));
    for p in 1..good.len() / page {
        let mut garbage = good.clone();
        garbage[p * page..(p + 1) * page].fill(0xa5);
        cases.push(("a page overwritten", garbage));
    }
    let mut flipped = good.clone();
    flipped[at + 5] ^= 0x01;
    cases.push(("one bit of a key", flipped));
    for (what, bytes) in cases {
        fs::write(dir.db(), &bytes).unwrap();
        let err = SqliteTrustStore::open(dir.db()).unwrap_err();
        assert!(
            matches!(
                err,
                SqliteStoreError::Corrupt { .. } | SqliteStoreError::CorruptGroupState { .. }
            ),
            "{what}: {err:?}"
        );
        assert_eq!(
            fs::read(dir.db()).unwrap(),
            bytes,
            "{what}: the file changed"
        );
    }
    // And the good file still opens.
    fs::write(dir.db(), &good).unwrap();
    assert_eq!(
        SqliteTrustStore::open(dir.db()).unwrap().len().unwrap(),
        200
    );
}

/// Opens `db`, which must be refused and left byte for byte as it was (the database
/// and its WAL); the error.
fn refused_and_kept(db: &Path) -> SqliteStoreError {
    let before = files(db);
    let err = SqliteTrustStore::open(db).unwrap_err();
    assert_eq!(files(db), before, "{err}: the files changed");
    err
}

#[test]
fn another_programs_database_is_refused_and_kept() {
    let dir = TempDir::new("sqlite-foreign");
    fs::create_dir_all(dir.path()).unwrap();
    {
        let c = Connection::open(dir.db()).unwrap();
        c.execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let err = refused_and_kept(&dir.db());
    assert!(
        matches!(
            err,
            SqliteStoreError::Foreign {
                application_id: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("another program's"), "{err}");
    // Another program's id, even with tables like ours.
    {
        let c = Connection::open(dir.db()).unwrap();
        c.pragma_update(None, "application_id", 0x1234_5678)
            .unwrap();
    }
    let err = refused_and_kept(&dir.db());
    assert!(
        matches!(
            err,
            SqliteStoreError::Foreign {
                application_id: 0x1234_5678,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_newer_schema_is_refused_and_kept() {
    let dir = TempDir::new("sqlite-newer");
    drop(SqliteTrustStore::open(dir.db()).unwrap());
    {
        let c = Connection::open(dir.db()).unwrap();
        c.execute(
            "UPDATE stringphone_schema SET version = ?1",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    }
    let err = refused_and_kept(&dir.db());
    assert!(
        matches!(err, SqliteStoreError::NewerSchema { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
}

#[test]
fn our_database_without_its_schema_table_is_corrupt() {
    let dir = TempDir::new("sqlite-noschema");
    drop(SqliteTrustStore::open(dir.db()).unwrap());
    {
        let c = Connection::open(dir.db()).unwrap();
        c.execute_batch("DROP TABLE stringphone_schema").unwrap();
    }
    let err = SqliteTrustStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, SqliteStoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("schema version"), "{err}");
}

#[test]
fn a_database_at_version_0_is_migrated_to_the_current_schema() {
    let dir = TempDir::new("sqlite-migrate");
    fs::create_dir_all(dir.path()).unwrap();
    {
        // What a crash between the schema table and the first migration would leave,
        // were they separate: our id, version 0, no tables.
        let c = Connection::open(dir.db()).unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        c.execute_batch(
            "CREATE TABLE stringphone_schema (version INTEGER NOT NULL);
             INSERT INTO stringphone_schema VALUES (0);",
        )
        .unwrap();
    }
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap();
    s.save_mark(MarkSlot::Received(a), 5).unwrap();
    drop(s);
    let c = Connection::open(dir.db()).unwrap();
    let version: u32 = c
        .query_row("SELECT version FROM stringphone_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_write_waits_for_another_writer_and_loses_nothing() {
    let dir = TempDir::new("sqlite-busy");
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap();
    // Another connection (another process, say) holds the write lock for a while.
    let blocker = Connection::open(dir.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    blocker
        .execute(
            "INSERT INTO trust (id, key) VALUES (?1, ?2)",
            rusqlite::params![&key(3).0.as_bytes()[..], &key(3).1.as_bytes()[..]],
        )
        .unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        blocker.execute_batch("COMMIT").unwrap();
    });
    // The write waits for the other writer, then goes through.
    let started = std::time::Instant::now();
    let (b, kb) = key(2);
    s.insert(b, kb).unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "did not wait"
    );
    holder.join().unwrap();
    let ids: Vec<_> = s.entries().unwrap().into_iter().map(|(id, _)| id).collect();
    for id in [a, b, key(3).0] {
        assert!(ids.contains(&id), "an update was lost");
    }
}

/// A batch's trust is read in one state of the database: another handle's changes
/// made between two reads of a snapshot are seen only after it, and a snapshot whose
/// reads panic leaves the handle able to write.
#[test]
fn reads_in_a_snapshot_see_one_state() {
    let dir = TempDir::new("sqlite-snapshot");
    let mut a = SqliteTrustStore::open(dir.db()).unwrap();
    let mut b = SqliteTrustStore::open(dir.db()).unwrap();
    let ((id1, k1), (id2, k2)) = (key(1), key(2));
    a.insert(id1, k1).unwrap();

    let (first, during) = a.with_read_snapshot(|| {
        let first = a.get(&id1).unwrap();
        // Another process removes one sender and trusts another meanwhile.
        assert_eq!(b.remove(&id1).unwrap(), Some(k1));
        b.insert(id2, k2).unwrap();
        // A snapshot inside a snapshot is the same snapshot.
        let during = a.with_read_snapshot(|| (a.get(&id1).unwrap(), a.get(&id2).unwrap()));
        (first, during)
    });
    assert_eq!(first, Some(k1));
    assert_eq!(
        during,
        (Some(k1), None),
        "a read in the snapshot saw another handle's change"
    );
    assert_eq!(
        (a.get(&id1).unwrap(), a.get(&id2).unwrap()),
        (None, Some(k2)),
        "after the snapshot, the change is not seen"
    );

    // Reads that panic end their snapshot too: the handle's next write is committed
    // (another handle sees it) and the other handle can still write.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.with_read_snapshot(|| {
            let _ = a.get(&id2);
            panic!("a read failed");
        })
    }));
    assert!(panicked.is_err());
    let (id3, k3) = key(3);
    a.insert(id3, k3).unwrap();
    assert_eq!(
        b.get(&id3).unwrap(),
        Some(k3),
        "the write after a panicked snapshot was not committed"
    );
    b.insert(id1, k1).unwrap();
    assert_eq!(a.get(&id1).unwrap(), Some(k1));
}

/// A batch reads its senders' trust in one snapshot, not from the topic's cache: a
/// `trust remove` by another handle (another process) applies to every message of
/// the next batch, classic and v2.
#[test]
fn a_trust_removal_elsewhere_applies_to_the_next_batch() {
    let dir = TempDir::new("sqlite-batch-trust");
    let key = TopicKey::from_bytes([9; 32]);
    let mut alice = kitchen_on(2, &dir.join("alice.db"), Some(key.clone()));
    let mut bob = kitchen_on(3, &dir.db(), Some(key));
    bob.set_protocol(ProtocolVersion::Both);
    let alice_id = bob.add_participant(alice.public_key()).unwrap();
    let inbox = |alice: &mut Topic<RustCrypto, SqliteTrustStore>| -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        for protocol in [ProtocolVersion::Classic, ProtocolVersion::V2] {
            alice.set_protocol(protocol);
            messages.push(alice.encode("hello").unwrap());
            messages.push(alice.encode("again").unwrap());
        }
        messages
    };
    let mut first = inbox(&mut alice);
    let results = bob.decode_batch(&mut first, DecodeMode::Strict);
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut other = SqliteTrustStore::open(dir.db()).unwrap();
    assert_eq!(other.remove(&alice_id).unwrap(), Some(alice.public_key()));
    let mut next = inbox(&mut alice);
    let results = bob.decode_batch(&mut next, DecodeMode::Strict);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::UntrustedSender(id)) if *id == alice_id)),
        "a batch after the removal: {results:?}"
    );
}

#[test]
fn the_sender_lease_refuses_a_second_sender_and_ends_with_its_handle() {
    let dir = TempDir::new("sqlite-lease");
    let mut a = SqliteTrustStore::open(dir.db()).unwrap();
    let mut b = SqliteTrustStore::open(dir.db()).unwrap();
    assert!(!a.holds_lease());
    // Receiving takes no lease.
    a.save_mark(MarkSlot::Received(key(1).0), 300).unwrap();
    assert!(!a.holds_lease());
    assert_eq!(a.store_mark(MarkSlot::OwnCounter, 1024).unwrap(), 1024);
    assert!(a.holds_lease());
    let pid = std::process::id();
    assert_eq!(
        fs::read_to_string(a.lease_path()).unwrap(),
        format!("{pid}\n")
    );
    // A second sender is refused with the holder's pid, writing nothing.
    let err = b.store_mark(MarkSlot::OwnCounter, 2048).unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::SenderBusy { pid: Some(p), .. } if p == pid),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("pid {pid}")), "{err}");
    assert_eq!(b.mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
    // Its clean exit (an exact mark no higher than what it saw) needs no lease.
    assert_eq!(b.store_mark(MarkSlot::OwnCounter, 1000).unwrap(), 1024);
    // Through a topic: the second sender's first v2 message is refused.
    let topic_id = TopicId::from_name(b"lease");
    let mut second = Topic::<RustCrypto, _>::with_store(
        SigningSeed::from_bytes([3; 32]),
        Some(TopicKey::from_bytes([1; 32])),
        SqliteTrustStore::open(dir.db()).unwrap(),
    );
    second.set_protocol(ProtocolVersion::V2);
    second.set_topic_id(topic_id).unwrap();
    let err = second.encode("hi").unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert!(
        error_chain(&err).contains("is sending as this identity"),
        "{}",
        error_chain(&err)
    );
    // The holder keeps sending; when it is gone, the next sender continues above it.
    assert_eq!(a.store_mark(MarkSlot::OwnCounter, 2048).unwrap(), 2048);
    drop(a);
    drop(second);
    let mut c = SqliteTrustStore::open(dir.db()).unwrap();
    assert_eq!(c.mark(&MarkSlot::OwnCounter).unwrap(), Some(2048));
    assert_eq!(c.store_mark(MarkSlot::OwnCounter, 3072).unwrap(), 3072);
    assert!(c.holds_lease());
}

#[test]
fn a_sender_that_read_its_mark_before_another_sent_is_refused() {
    let dir = TempDir::new("sqlite-raced");
    let mut late = SqliteTrustStore::open(dir.db()).unwrap();
    assert_eq!(late.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
    {
        // Another process sends (reserves 0..1024) and exits.
        let mut other = SqliteTrustStore::open(dir.db()).unwrap();
        other.store_mark(MarkSlot::OwnCounter, 1024).unwrap();
    }
    // `late` would count from 0, reusing the other's counters.
    let err = late.store_mark(MarkSlot::OwnCounter, 1024).unwrap_err();
    assert!(
        matches!(
            err,
            SqliteStoreError::SenderRaced {
                read: 0,
                stored: 1024,
                ..
            }
        ),
        "{err}"
    );
    assert!(!late.holds_lease());
    // A new handle reads the mark again and goes on above it.
    let mut again = SqliteTrustStore::open(dir.db()).unwrap();
    assert_eq!(again.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
    assert_eq!(again.store_mark(MarkSlot::OwnCounter, 2048).unwrap(), 2048);
}

fn admin_topic() -> Topic<RustCrypto, stringphone_core::MemoryTrustStore> {
    let mut admin = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([1; 32])),
    );
    admin.set_topic_id(TopicId::from_name(b"kitchen")).unwrap();
    admin.set_protocol(ProtocolVersion::V2);
    admin
}

#[test]
fn group_state_rules() {
    let dir = TempDir::new("sqlite-group");
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    assert!(s.group_state().unwrap().is_none());
    let mut admin = admin_topic();
    let at_zero = admin.group_state().to_bytes();
    s.store_group_state(&at_zero).unwrap();
    assert_eq!(s.group_state().unwrap().unwrap(), at_zero);
    admin.rotate(None).unwrap();
    let at_one = admin.group_state().to_bytes();
    s.store_group_state(&at_one).unwrap();
    // Never back to a lower epoch, from any handle.
    let mut other = SqliteTrustStore::open(dir.db()).unwrap();
    let err = other.store_group_state(&at_zero).unwrap_err();
    assert!(
        matches!(
            err,
            SqliteStoreError::StaleGroupState {
                stored: 1,
                saving: 0,
                ..
            }
        ),
        "{err}"
    );
    // Never another topic's.
    let mut stranger = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([1; 32])),
    );
    stranger
        .set_topic_id(TopicId::from_name(b"garage"))
        .unwrap();
    let err = other
        .store_group_state(&stranger.group_state().to_bytes())
        .unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::GroupTopicMismatch { .. }),
        "{err}"
    );
    // Never bytes that are not a group state.
    let err = other.store_group_state(b"SPGS garbage").unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::NotAGroupState { .. }),
        "{err}"
    );
    assert_eq!(other.group_state().unwrap().unwrap(), at_one);
    drop((s, other));
    a_damaged_group_state_refuses_the_database(&dir.db());
}

/// A damaged state (its checksum, or bytes that no longer parse) is refused, and so
/// is every save until it is repaired: the database at `db` no longer opens.
fn a_damaged_group_state_refuses_the_database(db: &Path) {
    for damage in [
        "UPDATE group_state SET sha256 = zeroblob(32)",
        "UPDATE group_state SET state = substr(state, 1, 40)",
    ] {
        {
            let c = Connection::open(db).unwrap();
            c.execute_batch(damage).unwrap();
        }
        let err = SqliteTrustStore::open(db).unwrap_err();
        assert!(
            matches!(err, SqliteStoreError::CorruptGroupState { .. }),
            "{damage}: {err}"
        );
        assert!(err.to_string().contains("group state"), "{err}");
    }
}

#[test]
fn import_writes_everything_at_once_into_an_empty_database_only() {
    let dir = TempDir::new("sqlite-import");
    let mut snap = Snapshot::default();
    for n in 1..=50u8 {
        let (id, k) = key(n);
        snap.trust.insert(id, k);
        snap.marks
            .insert(MarkSlot::Received(id), u64::from(n) * 1000);
    }
    snap.marks.insert(MarkSlot::OwnCounter, 4096);
    snap.group_state = Some(admin_topic().group_state().to_bytes());
    let mut s = SqliteTrustStore::open(dir.db()).unwrap();
    // A bad entry refuses the whole import.
    let mut bad = snap.clone();
    bad.trust.insert(key(60).0, key(61).1);
    assert!(matches!(
        s.import(&bad),
        Err(SqliteStoreError::IdMismatch { .. })
    ));
    assert_eq!(s.snapshot().unwrap(), Snapshot::default());
    s.import(&snap).unwrap();
    assert_eq!(
        SqliteTrustStore::open(dir.db())
            .unwrap()
            .snapshot()
            .unwrap(),
        snap
    );
    assert!(matches!(
        s.import(&snap),
        Err(SqliteStoreError::NotEmpty { .. })
    ));
    // Imported marks belong to no handle: nobody can lower them.
    let slot = MarkSlot::Received(key(1).0);
    assert_eq!(s.store_mark(slot, 1).unwrap(), 1000);
}

/// A v2 topic "kitchen" of identity `[seed; 32]` over the store at `db`, holding
/// `key` if given (else what the store holds).
fn kitchen_on(seed: u8, db: &Path, key: Option<TopicKey>) -> Topic<RustCrypto, SqliteTrustStore> {
    let mut t = Topic::<RustCrypto, _>::with_store(
        SigningSeed::from_bytes([seed; 32]),
        key,
        SqliteTrustStore::open(db).unwrap(),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(b"kitchen")).unwrap();
    t
}

/// v2 over the store, restarted: the receiver resumes its marks (replays refused), the
/// admin its epoch, and a trust removal by another handle is seen at once.
#[test]
fn v2_topics_restart_on_the_store() {
    let dir = TempDir::new("sqlite-v2");
    let (admin_db, member_db) = (dir.path().join("admin.db"), dir.path().join("member.db"));
    let mut admin = kitchen_on(2, &admin_db, Some(TopicKey::from_bytes([1; 32])));
    let mut member = kitchen_on(3, &member_db, Some(TopicKey::from_bytes([1; 32])));
    admin.add_participant(member.public_key()).unwrap();
    member.add_admin(admin.public_key()).unwrap();
    let rekey = admin.rotate(None).unwrap();
    member.accept_rekey(&rekey).unwrap();
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| admin.encode(format!("m{i}")).unwrap())
        .collect();
    for m in &sent {
        member.decode(m, DecodeMode::Strict).unwrap();
    }
    drop((admin, member)); // a crash: no clean shutdown

    let mut admin = kitchen_on(2, &admin_db, None);
    let mut member = kitchen_on(3, &member_db, None);
    assert_eq!(admin.epoch(), 1);
    assert_eq!(member.epoch(), 1);
    for m in &sent {
        assert!(
            matches!(
                member.decode(m, DecodeMode::Strict),
                Err(Error::Replayed { .. })
            ),
            "a replay after the restart was accepted"
        );
    }
    let fresh = admin.encode("after").unwrap();
    assert_eq!(
        member
            .decode(&fresh, DecodeMode::Strict)
            .unwrap()
            .plaintext()
            .unwrap(),
        b"after"
    );
    // Another handle (a `trust remove` elsewhere) removes the admin: seen at once.
    let mut elsewhere = SqliteTrustStore::open(&member_db).unwrap();
    elsewhere.remove(&admin.id()).unwrap();
    let next = admin.encode("gone").unwrap();
    assert!(matches!(
        member.decode(&next, DecodeMode::Strict),
        Err(Error::UntrustedSender(_))
    ));
}
