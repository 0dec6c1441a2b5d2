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
use std::path::{Path, PathBuf};
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

/// The crash test's directory: a state directory, and one real key (of a seed made by
/// `keygen`) that the writers add and remove.
struct Crash {
    dir: TempDir,
    state: PathBuf,
    pk_hex: String,
    key: PublicKey,
    id: ParticipantId,
}

impl Crash {
    fn new() -> Self {
        let dir = TempDir::created("crash");
        let state = dir.join("state");
        std::fs::create_dir(&state).unwrap();
        let (pk_hex, id_hex, _) = keygen(dir.path(), &dir.join("k.seed"));
        let key = PublicKey::from_hex(&pk_hex).unwrap();
        let id = ParticipantId::from_hex(&id_hex).unwrap();
        Crash {
            dir,
            state,
            pk_hex,
            key,
            id,
        }
    }

    fn db(&self) -> PathBuf {
        self.state.join("state.db")
    }

    /// `trust add` (if `adding`) or `trust remove` of the key.
    fn writer(&self, adding: bool) -> Command {
        let op = if adding { "add" } else { "remove" };
        store_command(self.dir.path(), &self.state, op, &self.pk_hex)
    }

    /// A big store to start from (`FILLER` keys, not the real one): its entries.
    fn a_big_store(&self) -> BTreeMap<ParticipantId, PublicKey> {
        let mut current = BTreeMap::new();
        for i in 0..FILLER as u32 {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            bytes[31] = 0x5a;
            let key = PublicKey::from_bytes(bytes);
            current.insert(participant_id(&key), key);
        }
        SqliteTrustStore::open(self.db())
            .unwrap()
            .insert_all(current.values().copied())
            .unwrap();
        current
    }

    /// How long one uncontested write takes, start to exit (the median of six).
    fn typical_write(&self) -> Duration {
        let mut timings = Vec::new();
        for adding in [true, false, true, false, true, false] {
            let started = Instant::now();
            let status = self.writer(adding).status().unwrap();
            assert!(status.success());
            timings.push(started.elapsed());
        }
        timings.sort();
        timings[timings.len() / 2]
    }

    /// `KILLS` writers, each adding the key if `current` lacks it and removing it
    /// otherwise, killed at a time drawn from `seed` within `max_delay` of its spawn:
    /// after each kill the store must be the old trust or the new one, and `current`
    /// becomes what was found. Returns how many kills left the old, and the new.
    fn kill_writers(
        &self,
        current: &mut BTreeMap<ParticipantId, PublicKey>,
        max_delay: Duration,
        seed: u64,
    ) -> (usize, usize) {
        // Kill times, reproducible from the seed printed.
        let mut rng = TestRng::seeded(seed);
        let (mut old, mut new) = (0, 0);
        for i in 0..KILLS {
            let adding = !current.contains_key(&self.id);
            let mut next = current.clone();
            if adding {
                next.insert(self.id, self.key);
            } else {
                next.remove(&self.id);
            }
            let delay = Duration::from_nanos(rng.next_u64() % (max_delay.as_nanos() as u64 + 1));
            let mut child = self.writer(adding).spawn().unwrap();
            thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();

            let found = read_store(&self.db());
            if found == *current {
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
            *current = found;
        }
        (old, new)
    }
}

#[test]
fn killing_writers_leaves_the_old_or_the_new_store() {
    let w = Crash::new();
    let mut current = w.a_big_store();
    let typical = w.typical_write();
    let max_delay = typical * 3 / 2;
    let seed = TestRng::seed_from_env("STRINGPHONE_CRASH_SEED");
    let (old, new) = w.kill_writers(&mut current, max_delay, seed);

    // The lock of a killed writer died with it: a last, normal write goes through.
    let status = w.writer(!current.contains_key(&w.id)).status().unwrap();
    assert!(
        status.success(),
        "a writer after the kills failed: stuck lock?"
    );
    assert_ne!(read_store(&w.db()), current);

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
