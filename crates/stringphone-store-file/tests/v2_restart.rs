//! v2 topics on the file store: what a restart (a new process on the same state
//! directory) must keep. The same scenarios as the root's `tests/v2.rs` restart test,
//! which runs on `MemoryTrustStore` clones; here every restart reopens the directory.

use stringphone_core::v2::replay::{RECEIVER_BLOCK, SENDER_BLOCK};
use stringphone_core::{DecodeMode, Decoded, Error, MarkSlot, TrustStore};
use stringphone_store_file::{FileTrustStore, MARKS_NAME};
use stringphone_testkit::text;
use stringphone_testkit::TempDir as Dir;

mod common;
use common::{counter, first_key, start as start_with, T};

/// A process starting as identity `seed` on `dir`, with the key it was first given.
fn start(dir: &Dir, seed: u8) -> T {
    start_with(dir, seed, Some(&first_key()))
}

/// Alice (seed 1) and Bob (seed 2), each with a state directory, trusting each other.
fn pair(name: &str) -> (Dir, Dir) {
    let (a, b) = (
        Dir::new(&format!("store-v2-{name}-a")),
        Dir::new(&format!("store-v2-{name}-b")),
    );
    let mut alice = start(&a, 1);
    let mut bob = start(&b, 2);
    alice.add_participant(bob.public_key()).unwrap();
    bob.add_participant(alice.public_key()).unwrap();
    (a, b)
}

fn replayed(d: Result<Decoded<Vec<u8>>, Error>) -> bool {
    matches!(d, Err(Error::Replayed { .. }))
}

#[test]
fn a_crash_never_reuses_a_counter_nor_reopens_replays() {
    let (a, b) = pair("crash");
    let mut alice = start(&a, 1);
    let mut bob = start(&b, 2);
    let mut seen = std::collections::BTreeSet::new();
    let mut captured = Vec::new();
    for i in 0..5 {
        let w = alice.encode(format!("{i}")).unwrap();
        assert!(seen.insert(counter(&w)));
        assert_eq!(text(bob.decode(&w, DecodeMode::Strict)), format!("{i}"));
        captured.push(w);
    }

    // Alice crashes (no clean shutdown) and restarts on her state directory.
    drop(alice);
    let mut alice = start(&a, 1);
    for i in 0..5 {
        let w = alice.encode(format!("again {i}")).unwrap();
        assert!(seen.insert(counter(&w)), "counter {} reused", counter(&w));
        assert!(counter(&w) >= SENDER_BLOCK, "{}", counter(&w));
        // Bob accepts the restarted Alice: her counters only moved forward.
        assert_eq!(
            text(bob.decode(&w, DecodeMode::Strict)),
            format!("again {i}")
        );
        captured.push(w);
    }

    // Bob crashes; his marks, ahead of what he accepted, survive in his directory.
    drop(bob);
    let mut bob = start(&b, 2);
    for w in &captured {
        assert!(
            replayed(bob.decode(w, DecodeMode::Strict)),
            "a replay reopened by the restart"
        );
    }
    // The price of a crash: Alice's next counters, below Bob's mark, are refused too.
    let w = alice.encode("lost").unwrap();
    assert!(counter(&w) < SENDER_BLOCK + 5 + RECEIVER_BLOCK);
    assert!(matches!(
        bob.decode(&w, DecodeMode::Strict),
        Err(Error::Replayed { too_old: true, .. })
    ));
}

#[test]
fn clean_restarts_lose_nothing_and_still_refuse_replays() {
    // One process per message on each side, as the command runs: every process stores
    // exact marks on its way out.
    let (a, b) = pair("clean");
    let mut captured = Vec::new();
    for i in 0..5u64 {
        let mut alice = start(&a, 1);
        let w = alice.encode(format!("{i}")).unwrap();
        alice.save_replay_marks().unwrap();
        drop(alice);
        // Counters go on by one across processes: the exact mark was stored.
        assert_eq!(counter(&w), i);

        let mut bob = start(&b, 2);
        assert_eq!(text(bob.decode(&w, DecodeMode::Strict)), format!("{i}"));
        bob.save_replay_marks().unwrap();
        captured.push(w);
    }
    let alice_id = start(&a, 1).id();
    let marks = FileTrustStore::open(b.path()).unwrap();
    assert_eq!(
        marks.load_mark(&MarkSlot::Received(alice_id)).unwrap(),
        Some(5)
    );
    let own = FileTrustStore::open(a.path()).unwrap();
    assert_eq!(own.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(5));

    // Every capture replayed into a new process is refused, in any order.
    for w in captured.iter().rev() {
        let mut bob = start(&b, 2);
        assert!(replayed(bob.decode(w, DecodeMode::Strict)));
        bob.save_replay_marks().unwrap();
    }
    // And the next message still gets through.
    let mut alice = start(&a, 1);
    let w = alice.encode("next").unwrap();
    assert_eq!(counter(&w), 5);
    assert_eq!(text(start(&b, 2).decode(&w, DecodeMode::Strict)), "next");
}

#[test]
fn corrupt_marks_refuse_v2_without_a_panic() {
    let (a, b) = pair("corrupt");
    let mut alice = start(&a, 1);
    let w = alice.encode("hello").unwrap();
    std::fs::write(b.path().join(MARKS_NAME), "stringphone-marks 1\nown x\n").unwrap();
    let mut bob = start(&b, 2);
    match bob.decode(&w, DecodeMode::Strict) {
        Err(Error::Store(e)) => {
            let e = e.to_string();
            assert!(
                e.contains("replay marks file") && e.contains("line 2"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The sender side refuses to send rather than guess its counter.
    std::fs::write(a.path().join(MARKS_NAME), "garbage").unwrap();
    let mut alice = start(&a, 1);
    assert!(matches!(alice.encode("x"), Err(Error::Store(_))));
    // Trust is untouched by it.
    assert_eq!(alice.participants().unwrap().count(), 1);
}
