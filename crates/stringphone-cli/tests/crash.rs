//! Crash safety of the trust store: `stringphone trust add|remove` processes are
//! killed (SIGKILL) at random moments, hundreds of times, and after every kill the
//! store file must be exactly the old store or the new one: never missing, never
//! half-written, never refused as corrupt.
//!
//! The store is made large (thousands of entries) so that writing it takes long enough
//! for kills to land in the middle of it; the test counts the kills that left the
//! temporary file behind (killed mid-write) and requires some.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{cmd, keygen, TempDir};
use stringphone::{ParticipantId, PublicKey};
use stringphone_store_file::{parse, participant_id, serialize, FILE_NAME, TMP_NAME};

const KILLS: usize = 300;
const FILLER: usize = 3000;

/// xorshift64*: enough randomness for kill times, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

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
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the store file is gone or unreadable: {e}"));
    parse(&text).unwrap_or_else(|(line, why)| {
        panic!(
            "the store file is damaged at line {line} ({why}); {} bytes",
            text.len()
        )
    })
}

#[test]
fn killing_writers_leaves_the_old_or_the_new_store() {
    let dir = TempDir::new("crash");
    let home = dir.path();
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    let path = state.join(FILE_NAME);
    let tmp = state.join(TMP_NAME);

    // A big store to start from, and one real key to add and remove.
    let mut current = BTreeMap::new();
    for i in 0..FILLER as u32 {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        bytes[31] = 0x5a;
        let key = PublicKey::from_bytes(bytes);
        current.insert(participant_id(&key), key);
    }
    std::fs::write(&path, serialize(&current)).unwrap();
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

    let seed = std::env::var("STRINGPHONE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let (mut old, mut new, mut mid_write) = (0, 0, 0);
    for i in 0..KILLS {
        let adding = !current.contains_key(&id);
        let mut next = current.clone();
        if adding {
            next.insert(id, key);
        } else {
            next.remove(&id);
        }
        // Usually start clean; now and then leave a stale temp file from an earlier
        // kill in place, which the next writer must cope with.
        let stale = tmp.exists();
        if stale && i % 8 != 0 {
            std::fs::remove_file(&tmp).unwrap();
        }
        let tmp_before = tmp.exists();

        let delay = Duration::from_nanos(rng.next() % (max_delay.as_nanos() as u64 + 1));
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
        if !tmp_before && tmp.exists() {
            mid_write += 1;
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
        "crash test: {KILLS} kills (seed {seed}) within {max_delay:?} of spawning (a write \
         takes {typical:?}): {old} left the old store, {new} the new one, {mid_write} were \
         killed mid-write (temp file left behind); never anything else"
    );
    const { assert!(KILLS >= 200) };
    // The kills must land on both sides of the rename, and some inside the write,
    // or this test proves nothing.
    assert!(
        old >= 10 && new >= 10,
        "old {old}, new {new}: kill timing is off"
    );
    assert!(
        mid_write >= 1,
        "no kill landed mid-write: kill timing is off"
    );
}
