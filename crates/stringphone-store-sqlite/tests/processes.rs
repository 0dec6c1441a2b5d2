//! Two processes on one database: this test binary runs itself again as the second
//! process (the ignored `child` test, given its role in `SP_SQLITE_ROLE`), which opens
//! the same database while the first keeps its handle open.
//!
//! - a `trust remove` in another process is seen by a running receiver at its next
//!   message, and a `trust add` too;
//! - marks never fall below what another process accepted, whichever lowers last;
//! - one sender at a time: a second process cannot send while the first holds the
//!   lease, can once the first is gone (killed included), and counts on above it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    DecodeMode, Error, MarkSlot, MemoryTrustStore, PublicKey, SigningSeed, Topic, TopicKey,
    TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::{SqliteStoreError, SqliteTrustStore};
use stringphone_testkit::error_chain;
use stringphone_testkit::{read_records, write_records, TempDir};

const ROLE: &str = "SP_SQLITE_ROLE";
const DIR: &str = "SP_SQLITE_DIR";
const TOPIC: &[u8] = b"home/kitchen";
const ALICE: [u8; 32] = [0xa1; 32];
const BOB: [u8; 32] = [0xb0; 32];
const KEY: [u8; 32] = [0x17; 32];

type Stored = Topic<RustCrypto, SqliteTrustStore>;

fn topic_on(seed: [u8; 32], db: &Path) -> Stored {
    let mut t = Topic::<RustCrypto, _>::with_store(
        SigningSeed::from_bytes(seed),
        Some(TopicKey::from_bytes(KEY)),
        SqliteTrustStore::open(db).unwrap(),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

/// A v2 participant of the topic with the key, on a store in memory.
fn topic_in_memory(seed: [u8; 32]) -> Topic<RustCrypto, MemoryTrustStore> {
    let mut t = Topic::<RustCrypto, MemoryTrustStore>::new(
        SigningSeed::from_bytes(seed),
        Some(TopicKey::from_bytes(KEY)),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

/// A v2 sender whose counters are chosen: its messages with counters `0..n`.
fn alice_messages(n: usize) -> (PublicKey, Vec<Vec<u8>>) {
    let mut alice = topic_in_memory(ALICE);
    let messages = (0..n)
        .map(|i| alice.encode(format!("m{i}")).unwrap())
        .collect();
    (alice.public_key(), messages)
}

fn write_messages(dir: &Path, name: &str, messages: &[Vec<u8>]) {
    write_records(&dir.join(name), messages);
}

fn read_messages(dir: &Path, name: &str) -> Vec<Vec<u8>> {
    read_records(&dir.join(name))
}

fn child_process(role: &str, dir: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env(DIR, dir)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn run_child(role: &str, dir: &Path) -> Output {
    let out = child_process(role, dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child {role} failed: {}\n{stderr}",
        out.status
    );
    out
}

/// What the child said on its own lines (`result: ...`).
fn results(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("result: ").map(str::to_string))
        .collect()
}

/// The second process. Not a test of its own: the tests below run it, in a process of
/// its own, with its role in `SP_SQLITE_ROLE`; alone it does nothing.
#[test]
#[ignore = "the second process of the tests in this file, run by them"]
fn child() {
    let (Ok(role), Ok(dir)) = (std::env::var(ROLE), std::env::var(DIR)) else {
        eprintln!("child: run by the other tests of this file, with {ROLE} and {DIR}");
        return;
    };
    let dir = PathBuf::from(dir);
    let db = dir.join("state.db");
    let alice = SigningSeed::from_bytes(ALICE);
    let alice_id = {
        let t = Topic::<RustCrypto, MemoryTrustStore>::new(alice, None);
        (t.id(), t.public_key())
    };
    match role.as_str() {
        // `trust remove` / `trust add` of alice, as the command does.
        "remove" => {
            let mut s = SqliteTrustStore::open(&db).unwrap();
            let removed = s.remove(&alice_id.0).unwrap();
            eprintln!("result: removed {}", removed.is_some());
        }
        "add" => {
            let mut s = SqliteTrustStore::open(&db).unwrap();
            s.insert(alice_id.0, alice_id.1).unwrap();
            eprintln!("result: added");
        }
        "receive" => child_receives(&dir, MarkSlot::Received(alice_id.0)),
        "send" | "send-and-wait" => child_sends(&dir, role == "send-and-wait"),
        other => panic!("unknown role {other}"),
    }
}

/// The child as a second receiver: tries to lower alice's mark (`slot`) by hand, then
/// decodes the messages it is given and stops cleanly (exact marks, lower than
/// ahead).
fn child_receives(dir: &Path, slot: MarkSlot) {
    let mut s = SqliteTrustStore::open(dir.join("state.db")).unwrap();
    let kept = s.store_mark(slot, 0).unwrap();
    eprintln!("result: lowering by hand kept {kept}");
    let mut bob = Topic::<RustCrypto, _>::with_store(
        SigningSeed::from_bytes([0xc3; 32]),
        Some(TopicKey::from_bytes(KEY)),
        s,
    );
    bob.set_protocol(ProtocolVersion::V2);
    bob.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    for m in read_messages(dir, "for-child") {
        let verdict = match bob.decode(&m, DecodeMode::Strict) {
            Ok(_) => "accepted".to_string(),
            Err(e) => format!("refused: {}", error_chain(&e)),
        };
        eprintln!("result: {verdict}");
    }
    bob.save_replay_marks().unwrap();
    let mark = bob.trust_store().mark(&slot).unwrap().unwrap();
    eprintln!("result: mark after clean stop {mark}");
}

/// The child as Bob sending from the same database as the parent's Bob; if `wait`,
/// holding the lease afterwards until killed.
fn child_sends(dir: &Path, wait: bool) {
    let mut bob = topic_on(BOB, &dir.join("state.db"));
    match bob.encode("from the child") {
        Ok(m) => {
            write_messages(dir, "from-child", &[m]);
            eprintln!("result: sent");
            if wait {
                std::thread::sleep(std::time::Duration::from_secs(600));
            }
        }
        Err(e) => {
            let busy = matches!(
                &e,
                Error::Store(s) if matches!(
                    s.downcast_ref::<SqliteStoreError>(),
                    Some(SqliteStoreError::SenderBusy { .. })
                )
            );
            eprintln!("result: refused busy={busy}: {}", error_chain(&e));
        }
    }
}

#[test]
fn trust_changes_in_another_process_are_seen_by_a_running_receiver() {
    let dir = TempDir::created("sqlite-proc-trust");
    let db = dir.path().join("state.db");
    let (alice_key, messages) = alice_messages(6);
    let mut bob = topic_on(BOB, &db);
    let alice = bob.add_participant(alice_key).unwrap();
    assert!(bob.decode(&messages[0], DecodeMode::Strict).is_ok());
    assert!(bob.decode(&messages[1], DecodeMode::Strict).is_ok());

    let out = run_child("remove", dir.path());
    assert_eq!(results(&out), ["removed true"]);
    // The very next message: refused, although bob's handle was open all along and
    // had alice's key cached.
    assert!(
        matches!(
            bob.decode(&messages[2], DecodeMode::Strict),
            Err(Error::UntrustedSender(id)) if id == alice
        ),
        "a removal in another process was not seen"
    );
    assert!(matches!(
        bob.decode(&messages[3], DecodeMode::IgnoreUntrusted),
        Ok(stringphone_core::Decoded::Ignored { .. })
    ));

    let out = run_child("add", dir.path());
    assert_eq!(results(&out), ["added"]);
    assert!(bob.decode(&messages[4], DecodeMode::Strict).is_ok());
}

#[test]
fn marks_never_fall_below_what_another_process_accepted() {
    let dir = TempDir::created("sqlite-proc-marks");
    let db = dir.path().join("state.db");
    let (alice_key, messages) = alice_messages(400);
    let mut bob = topic_on(BOB, &db);
    let alice = bob.add_participant(alice_key).unwrap();
    let slot = MarkSlot::Received(alice);
    // This process accepts counters 0..5: it stores a mark ahead (5 + 256 or so).
    for m in &messages[..5] {
        bob.decode(m, DecodeMode::Strict).unwrap();
    }
    let ahead = bob.trust_store().mark(&slot).unwrap().unwrap();
    assert!(ahead > 5, "no mark stored ahead: {ahead}");

    // The other process: cannot lower the mark by hand; refuses what lies below it
    // (it cannot know what this process accepted there); accepts 300..305; stops
    // cleanly, taking back only its own reservation.
    let for_child = [3, 300, 301, 302, 303, 304].map(|i| messages[i].clone());
    write_messages(dir.path(), "for-child", &for_child);
    let out = run_child("receive", dir.path());
    let said = results(&out);
    assert_eq!(said[0], format!("lowering by hand kept {ahead}"));
    assert!(
        said[1].starts_with("refused:") && said[1].contains("replay"),
        "{said:?}"
    );
    assert!(said[2..7].iter().all(|s| s == "accepted"), "{said:?}");
    assert_eq!(said[7], "mark after clean stop 305");

    // This process goes on (counters 5..10 are still in its window) and stops
    // cleanly: its exact mark (10) must not lower the other's 305.
    for m in &messages[5..10] {
        bob.decode(m, DecodeMode::Strict).unwrap();
    }
    bob.save_replay_marks().unwrap();
    assert_eq!(bob.trust_store().mark(&slot).unwrap(), Some(305));
    drop(bob);

    // A restarted receiver refuses every message either process accepted.
    let mut restarted = topic_on(BOB, &db);
    for (i, m) in messages[..10].iter().chain(&messages[300..305]).enumerate() {
        assert!(
            matches!(
                restarted.decode(m, DecodeMode::Strict),
                Err(Error::Replayed { .. })
            ),
            "replay {i} accepted after both processes stopped"
        );
    }
    assert!(restarted.decode(&messages[305], DecodeMode::Strict).is_ok());
}

#[test]
fn one_sender_process_at_a_time() {
    let dir = TempDir::created("sqlite-proc-lease");
    let db = dir.path().join("state.db");
    let mut receiver = topic_in_memory([0xee; 32]);

    let mut bob = topic_on(BOB, &db);
    receiver.add_participant(bob.public_key()).unwrap();
    let first = bob.encode("from the parent").unwrap();
    assert!(bob.trust_store().holds_lease());

    // A second process sending as bob is refused, told who holds the lease.
    let out = run_child("send", dir.path());
    let said = results(&out);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("refused busy=true"), "{said:?}");
    assert!(
        said[0].contains(&format!("pid {}", std::process::id())),
        "{said:?}"
    );

    // Once the parent's bob is gone, the child sends, above the parent's counters.
    drop(bob);
    let out = run_child("send", dir.path());
    assert_eq!(results(&out), ["sent"]);
    let second = read_messages(dir.path(), "from-child").remove(0);
    assert!(receiver.decode(&first, DecodeMode::Strict).is_ok());
    assert!(receiver.decode(&second, DecodeMode::Strict).is_ok());

    a_killed_holder_releases_the_lease(dir.path(), &mut receiver);
}

/// A child sender killed while holding the lease: the kernel releases it. While it
/// lives, Bob here cannot send; once it is killed, he can, and the receiver reads both.
fn a_killed_holder_releases_the_lease(
    dir: &Path,
    receiver: &mut Topic<RustCrypto, MemoryTrustStore>,
) {
    let db = dir.join("state.db");
    let mut holder = child_process("send-and-wait", dir).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let check = SqliteTrustStore::open(&db).unwrap();
    loop {
        // The holder has sent once its mark moved past the last child's.
        if check.mark(&MarkSlot::OwnCounter).unwrap() >= Some(3 * 1024) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never sent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bob = topic_on(BOB, &db);
    let err = bob.encode("while the holder lives").unwrap_err();
    assert!(
        error_chain(&err).contains("is sending as this identity"),
        "{}",
        error_chain(&err)
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    drop(bob);
    let mut bob = topic_on(BOB, &db);
    let after = bob.encode("after the kill").unwrap();
    let from_holder = read_messages(dir, "from-child").remove(0);
    assert!(receiver.decode(&from_holder, DecodeMode::Strict).is_ok());
    assert!(receiver.decode(&after, DecodeMode::Strict).is_ok());
}
