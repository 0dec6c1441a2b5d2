//! Crash safety: a writer process is killed (SIGKILL) at random moments, hundreds of
//! times, while it writes trust changes (one key, or a block of 64 in one
//! transaction), replay marks and group states (several pages each). After every kill
//! the database must open, and hold exactly the state before the step the writer was
//! in or the state after it: never a mix, never anything of an earlier step lost.
//!
//! The writer is this test binary run again (the ignored `writer` test). It performs a
//! fixed sequence of steps, printing `ready` once its store is open, `begin i` before
//! step `i` and `done i` once it returned, so the parent knows which step each kill
//! interrupted. Kill times count from `ready`: counted from the spawn, a loaded
//! machine's slow process starts pushed most kills before the first step. The parent keeps a
//! model of the state after every step and compares the whole database with it.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stringphone_core::reexports::rand_core::RngCore;
use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    DecodeMode, MarkSlot, MemoryTrustStore, PublicKey, SigningSeed, Topic, TopicKey,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::{participant_id, Durability, Snapshot, SqliteTrustStore};
use stringphone_testkit::{read_records, write_records, TestRng};

const KILLS: usize = 240;
/// The most kills made when too few of the first `KILLS` landed inside a step (a
/// loaded machine starts processes slowly, so more kills land before the first step).
const MAX_KILLS: usize = 720;
/// Steps a writer makes before it stops by itself (so a kill lands inside the run).
const STEPS_PER_RUN: usize = 24;
const BLOCK: usize = 64;

const STEP: &str = "SP_SQLITE_CRASH_STEP";
const DIR: &str = "SP_SQLITE_CRASH_DIR";
const SYNC: &str = "SP_SQLITE_CRASH_SYNC";

fn block_key(step: usize, n: usize) -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(step as u64).to_le_bytes());
    bytes[8..16].copy_from_slice(&(n as u64).to_le_bytes());
    bytes[31] = 0x5a;
    PublicKey::from_bytes(bytes)
}

/// Step `i` of the sequence, applied to the model or to the store. Four kinds, in
/// turn: a block of 64 keys trusted in one transaction; all but one of them removed in
/// one transaction; a mark raised (the own counter or one of 16 senders); a group state
/// saved (each one epoch further, ~5 KB).
enum Step {
    TrustBlock(Vec<PublicKey>),
    RemoveBlock(Vec<PublicKey>),
    Mark(MarkSlot, u64),
    Group(usize),
}

fn step(i: usize) -> Step {
    match i % 4 {
        0 => Step::TrustBlock((0..BLOCK).map(|n| block_key(i, n)).collect()),
        1 => Step::RemoveBlock((1..BLOCK).map(|n| block_key(i - 1, n)).collect()),
        2 if (i / 4).is_multiple_of(2) => Step::Mark(MarkSlot::OwnCounter, (i as u64 + 1) * 1024),
        2 => {
            let sender = participant_id(&PublicKey::from_bytes([(i / 4 % 16) as u8; 32]));
            Step::Mark(MarkSlot::Received(sender), (i as u64 + 1) * 1000)
        }
        _ => Step::Group(i / 4),
    }
}

fn apply_to_model(model: &mut Snapshot, i: usize, groups: &[Vec<u8>]) {
    match step(i) {
        Step::TrustBlock(keys) => {
            for k in keys {
                model.trust.insert(participant_id(&k), k);
            }
        }
        Step::RemoveBlock(keys) => {
            for k in keys {
                model.trust.remove(&participant_id(&k));
            }
        }
        Step::Mark(slot, mark) => {
            model.marks.insert(slot, mark);
        }
        Step::Group(g) => {
            model.group_state = Some(stringphone_core::reexports::zeroize::Zeroizing::new(
                groups[g].clone(),
            ))
        }
    }
}

fn apply_to_store(store: &mut SqliteTrustStore, i: usize, groups: &[Vec<u8>]) {
    match step(i) {
        Step::TrustBlock(keys) => {
            store.insert_all(keys).unwrap();
        }
        Step::RemoveBlock(keys) => {
            assert_eq!(
                store.remove_all(keys.iter().map(participant_id)).unwrap(),
                BLOCK - 1
            );
        }
        Step::Mark(slot, mark) => {
            assert_eq!(store.store_mark(slot, mark).unwrap(), mark);
        }
        Step::Group(g) => store.store_group_state(&groups[g]).unwrap(),
    }
}

/// Group states of one topic at epochs 1, 2, 3, ...: an admin that has heard 200
/// senders (so each state carries 200 replay floors, ~5 KB) rotating again and again.
fn group_states(count: usize) -> Vec<Vec<u8>> {
    let topic = TopicId::from_name(b"crash");
    let key = TopicKey::from_bytes([1; 32]);
    let mut admin = Topic::<RustCrypto, MemoryTrustStore>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(key.clone()),
    );
    admin.set_protocol(ProtocolVersion::V2);
    admin.set_topic_id(topic).unwrap();
    for s in 0..200u32 {
        let mut seed = [3u8; 32];
        seed[..4].copy_from_slice(&s.to_le_bytes());
        let mut sender = Topic::<RustCrypto, MemoryTrustStore>::new(
            SigningSeed::from_bytes(seed),
            Some(key.clone()),
        );
        sender.set_protocol(ProtocolVersion::V2);
        sender.set_topic_id(topic).unwrap();
        admin.add_participant(sender.public_key()).unwrap();
        admin
            .decode(&sender.encode("hello").unwrap(), DecodeMode::Strict)
            .unwrap();
    }
    (0..count)
        .map(|_| {
            admin.rotate(Some(&[])).unwrap();
            admin.group_state().to_bytes().to_vec()
        })
        .collect()
}

/// The writer process: steps from `SP_SQLITE_CRASH_STEP` on, until killed or done.
#[test]
#[ignore = "the writer process of the crash test, run (and killed) by it"]
fn writer() {
    let (Ok(start), Ok(dir)) = (std::env::var(STEP), std::env::var(DIR)) else {
        eprintln!("writer: run by the crash test, with {STEP} and {DIR}");
        return;
    };
    let start: usize = start.parse().unwrap();
    let dir = PathBuf::from(dir);
    let durability = match std::env::var(SYNC).as_deref() {
        Ok("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    let groups = read_records(&dir.join("groups"));
    let mut store = SqliteTrustStore::open_with(dir.join("state.db"), durability).unwrap();
    // Each line in one write (stderr is unbuffered, and a pipe takes a write this
    // small whole), so a kill never leaves half a line.
    let say = |line: String| {
        use std::io::Write;
        std::io::stderr().write_all(line.as_bytes()).unwrap();
    };
    say("ready\n".to_string());
    for i in start..start + STEPS_PER_RUN {
        say(format!("begin {i}\n"));
        apply_to_store(&mut store, i, &groups);
        say(format!("done {i}\n"));
    }
}

fn writer_command(dir: &Path, start: usize, normal: bool) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "writer",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(STEP, start.to_string())
    .env(DIR, dir)
    .env(SYNC, if normal { "normal" } else { "full" })
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

/// Reads the writer's lines into `into` up to its `ready` (or the end, if it never
/// gets there).
fn wait_ready(err: &mut impl BufRead, into: &mut String) {
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            return;
        }
        into.push_str(&line);
        if line == "ready\n" {
            return;
        }
    }
}

/// Where the writer's own lines say it was: `(last step begun, whether it returned)`.
fn progress(stderr: &str) -> Option<(usize, bool)> {
    let mut last = None;
    // Only whole lines count.
    let whole = &stderr[..stderr.rfind('\n').map_or(0, |i| i + 1)];
    for line in whole.lines() {
        if let Some(i) = line.strip_prefix("begin ") {
            last = Some((i.parse().unwrap(), false));
        } else if let Some(i) = line.strip_prefix("done ") {
            let i: usize = i.parse().unwrap();
            assert_eq!(last, Some((i, false)), "out of order: {stderr}");
            last = Some((i, true));
        }
    }
    last
}

/// Where the kills landed in a writer's run.
#[derive(Default)]
struct Landed {
    before_first: usize,
    mid_step_old: usize,
    mid_step_new: usize,
    between: usize,
    finished: usize,
}

impl Landed {
    /// Whether enough kills landed inside a step, some before its commit point, for
    /// the test to prove something.
    fn enough_inside_steps(&self) -> bool {
        self.mid_step_old + self.mid_step_new >= 40 && self.mid_step_old >= 5
    }
}

/// The crash test's directory (its database, and the group states the writers save),
/// and the model of the state before each step: `models[i]`, the state before step i.
struct Crash {
    dir: PathBuf,
    groups: Vec<Vec<u8>>,
    models: Vec<Snapshot>,
}

impl Crash {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sp-sqlite-crash-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let max_steps = (MAX_KILLS + 8) * STEPS_PER_RUN;
        let groups = group_states(max_steps / 4 + 1);
        write_records(&dir.join("groups"), &groups);
        Crash {
            dir,
            groups,
            models: vec![Snapshot::default()],
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.join("state.db")
    }

    /// The database holds the state before step `n`.
    fn database_is_the_model(&self, n: usize) {
        assert!(
            SqliteTrustStore::open(self.db())
                .unwrap()
                .snapshot()
                .unwrap()
                == self.models[n]
        );
    }

    /// The models up to the state before step `n`.
    fn model_upto(&mut self, n: usize) {
        while self.models.len() <= n {
            let mut next = self.models.last().unwrap().clone();
            apply_to_model(&mut next, self.models.len() - 1, &self.groups);
            self.models.push(next);
        }
    }

    /// Three uninterrupted runs from step 0, after which the database is the model.
    /// Returns how long a run typically takes from its store open to its exit, and
    /// the next step.
    fn uninterrupted_runs(&mut self) -> (Duration, usize) {
        let mut next = 0;
        let mut timings = Vec::new();
        for _ in 0..3 {
            let mut child = writer_command(&self.dir, next, false).spawn().unwrap();
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut stderr = String::new();
            wait_ready(&mut err, &mut stderr);
            let started = Instant::now();
            err.read_to_string(&mut stderr).unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "{stderr}");
            timings.push(started.elapsed());
            next += STEPS_PER_RUN;
        }
        self.model_upto(next);
        self.database_is_the_model(next);
        timings.sort();
        (timings[1], next)
    }

    /// Writers from step `next` on, killed at times drawn from `seed` within `typical`
    /// of their store open, half with synchronous=NORMAL: at least `KILLS`, and more
    /// (up to `MAX_KILLS`) while too few landed inside a step. Returns the kills made,
    /// the next step and where they landed.
    fn kill_writers(
        &mut self,
        mut next: usize,
        typical: Duration,
        seed: u64,
    ) -> (usize, usize, Landed) {
        let mut rng = TestRng::seeded(seed);
        let mut landed = Landed::default();
        let mut kill = 0;
        while kill < KILLS || (!landed.enough_inside_steps() && kill < MAX_KILLS) {
            kill += 1;
            let normal = kill % 2 == 1;
            let delay = Duration::from_nanos(rng.next_u64() % (typical.as_nanos() as u64 + 1));
            let mut child = writer_command(&self.dir, next, normal).spawn().unwrap();
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut stderr = String::new();
            wait_ready(&mut err, &mut stderr);
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
            err.read_to_string(&mut stderr).unwrap();
            self.model_upto(next + STEPS_PER_RUN);

            let sync = if normal {
                "synchronous=NORMAL"
            } else {
                "synchronous=FULL"
            };
            let describe =
                |at: usize| format!("kill {kill} (seed {seed}, after {delay:?}, {sync}): {at}");
            let found = SqliteTrustStore::open(self.db())
                .unwrap_or_else(|e| panic!("kill {kill} (seed {seed}, after {delay:?}): {e}"))
                .snapshot()
                .unwrap();
            next = self.state_after_a_kill(&found, next, &stderr, &mut landed, describe);
        }
        (kill, next, landed)
    }

    /// `found` in the database after a writer that started at step `next` and printed
    /// `stderr` was killed: the state before the step it was in or the state after it,
    /// nothing else. Counts where the kill landed; returns the step the next writer
    /// starts at.
    fn state_after_a_kill(
        &self,
        found: &Snapshot,
        next: usize,
        stderr: &str,
        landed: &mut Landed,
        describe: impl Fn(usize) -> String,
    ) -> usize {
        let models = &self.models;
        match progress(stderr) {
            None => {
                assert!(
                    *found == models[next],
                    "{}: not the state before the run",
                    describe(next)
                );
                landed.before_first += 1;
                next
            }
            Some((i, true)) => {
                assert!(
                    *found == models[i + 1],
                    "{}: step {i} returned but is not stored",
                    describe(i)
                );
                if i + 1 == next + STEPS_PER_RUN {
                    landed.finished += 1;
                } else {
                    landed.between += 1;
                }
                i + 1
            }
            Some((i, false)) => {
                if *found == models[i] {
                    landed.mid_step_old += 1;
                    i
                } else if *found == models[i + 1] {
                    landed.mid_step_new += 1;
                    i + 1
                } else {
                    panic!(
                        "{}: killed in step {i}, the database is neither the state before it \
                         nor the one after ({} trusted, {} marks; before: {}, after: {})",
                        describe(i),
                        found.trust.len(),
                        found.marks.len(),
                        models[i].trust.len(),
                        models[i + 1].trust.len()
                    )
                }
            }
        }
    }

    /// The lease and locks of the killed writers died with them: a normal run from
    /// step `next` goes on, and leaves the model and a database that passes SQLite's
    /// integrity check. Returns the next step.
    fn a_normal_run_goes_on(&mut self, next: usize) -> usize {
        let out = writer_command(&self.dir, next, false).output().unwrap();
        assert!(
            out.status.success(),
            "after the kills: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let next = next + STEPS_PER_RUN;
        self.model_upto(next);
        self.database_is_the_model(next);
        let check: String = rusqlite::Connection::open(self.db())
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        next
    }
}

#[test]
fn killing_writers_leaves_the_old_or_the_new_state() {
    let mut w = Crash::new();
    let (typical, next) = w.uninterrupted_runs();
    let seed = TestRng::seed_from_env("STRINGPHONE_CRASH_SEED");
    let (kill, next, landed) = w.kill_writers(next, typical, seed);
    let next = w.a_normal_run_goes_on(next);
    let final_state = &w.models[next];
    let _ = fs::remove_dir_all(&w.dir);

    let Landed {
        before_first,
        mid_step_old,
        mid_step_new,
        between,
        finished,
    } = landed;
    eprintln!(
        "crash test: {kill} kills (seed {seed}) within {typical:?} of a writer's store open, of \
         {STEPS_PER_RUN} steps, half with synchronous=FULL, half NORMAL: {before_first} before \
         its first step, {mid_step_old} inside a step leaving the state before it, \
         {mid_step_new} inside a step leaving the state after it (killed between its commit \
         and its report), {between} between steps, {finished} after its last; never anything \
         else. {next} steps in all; the database ends with {} trusted, {} marks, group state at \
         {} bytes",
        final_state.trust.len(),
        final_state.marks.len(),
        final_state.group_state.as_ref().map_or(0, |g| g.len())
    );
    const { assert!(KILLS >= 200) };
    // The kills must land inside steps, some before the commit point, or this test
    // proves nothing.
    assert!(
        landed.enough_inside_steps(),
        "only {mid_step_old} + {mid_step_new} kills landed inside a step: kill timing is off"
    );
}
