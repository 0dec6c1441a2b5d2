//! Crash safety of the command's state: `stringphone trust add|remove` processes are
//! killed (SIGKILL) at random moments, hundreds of times, and after every kill the
//! state directory's database must open and hold exactly the old trust or the new
//! one: never missing, never half-written, never refused as corrupt. (The store's own
//! crash test, `stringphone-store-sqlite/tests/crash.rs`, kills writers inside its
//! transactions; this one kills the command anywhere in its run.)
//!
//! The store holds thousands of entries, as a gateway's would.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{cmd, keygen, TempDir};
use rand_core::RngCore;
use stringphone::{ParticipantId, PublicKey};
use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
use stringphone_testkit::TestRng;

const KILLS: usize = 300;
const FILLER: usize = 3000;

fn store_command(home: &Path, state: &Path, op: &str, key: &str) -> Command {
    let mut c = cmd(home);
    c.arg("--state-dir")
        .arg(state)
        .args(["trust", op, key])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn read_store(path: &Path) -> BTreeMap<ParticipantId, PublicKey> {
    let store = SqliteTrustStore::open(path)
        .unwrap_or_else(|e| panic!("the database does not open after a kill: {e}"));
    store
        .entries()
        .unwrap_or_else(|e| panic!("the database cannot be read after a kill: {e}"))
        .into_iter()
        .collect()
}

#[test]
fn killing_writers_leaves_the_old_or_the_new_store() {
    let dir = TempDir::created("crash");
    let home = dir.path();
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    let path = state.join("state.db");

    // A big store to start from, and one real key to add and remove.
    let mut current = BTreeMap::new();
    for i in 0..FILLER as u32 {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        bytes[31] = 0x5a;
        let key = PublicKey::from_bytes(bytes);
        current.insert(participant_id(&key), key);
    }
    SqliteTrustStore::open(&path)
        .unwrap()
        .insert_all(current.values().copied())
        .unwrap();
    let (pk_hex, id_hex, _) = keygen(home, &dir.join("k.seed"));
    let key = PublicKey::from_hex(&pk_hex).unwrap();
    let id = ParticipantId::from_hex(&id_hex).unwrap();

    // How long one uncontested write takes, start to exit.
    let mut timings = Vec::new();
    for op in ["add", "remove", "add", "remove", "add", "remove"] {
        let started = Instant::now();
        let status = store_command(home, &state, op, &pk_hex).status().unwrap();
        assert!(status.success());
        timings.push(started.elapsed());
    }
    timings.sort();
    let typical = timings[timings.len() / 2];
    let max_delay = typical * 3 / 2;

    let seed = TestRng::seed_from_env("STRINGPHONE_CRASH_SEED");
    // Kill times, reproducible from the seed printed.
    let mut rng = TestRng::seeded(seed);
    let (mut old, mut new) = (0, 0);
    for i in 0..KILLS {
        let adding = !current.contains_key(&id);
        let mut next = current.clone();
        if adding {
            next.insert(id, key);
        } else {
            next.remove(&id);
        }
        let delay = Duration::from_nanos(rng.next_u64() % (max_delay.as_nanos() as u64 + 1));
        let mut child = store_command(home, &state, if adding { "add" } else { "remove" }, &pk_hex)
            .spawn()
            .unwrap();
        thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();

        let found = read_store(&path);
        if found == current {
            old += 1;
        } else if found == next {
            new += 1;
        } else {
            panic!(
                "kill {i} (seed {seed}, after {delay:?}): the store is neither the old nor \
                 the new one ({} entries; old {}, new {})",
                found.len(),
                current.len(),
                next.len()
            );
        }
        current = found;
    }
    // The lock of a killed writer died with it: a last, normal write goes through.
    let op = if current.contains_key(&id) {
        "remove"
    } else {
        "add"
    };
    let status = store_command(home, &state, op, &pk_hex).status().unwrap();
    assert!(
        status.success(),
        "a writer after the kills failed: stuck lock?"
    );
    assert_ne!(read_store(&path), current);

    eprintln!(
        "crash test: {KILLS} kills (seed {seed}) within {max_delay:?} of spawning (a run \
         takes {typical:?}): {old} left the old trust, {new} the new one; never anything else"
    );
    const { assert!(KILLS >= 200) };
    // The kills must land on both sides of the commit, or this test proves nothing.
    assert!(
        old >= 10 && new >= 10,
        "old {old}, new {new}: kill timing is off"
    );
}
