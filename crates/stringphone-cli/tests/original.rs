//! `stringphone chat --hex` with the real original: the Python stringphone and its own
//! MQTT example (`../shared/original/examples/mqtt.py`), run unchanged except for its
//! broker's host and port (in a temporary copy), over a mosquitto on a free loopback
//! port.
//!
//! 1. The original holds the key (`mqtt.py 1`); two Rust chats join through it.
//! 2. A Rust chat holds the key; the original (`mqtt.py 2`) joins, then a second Rust
//!    chat.
//!
//! Every line reaches everyone it should, with the right sender. The original's
//! example prints a message's plaintext only once its signature verified under the key
//! of a participant it trusts (and it trusts exactly those that introduced themselves
//! to it), so a line printed there came from the right sender; it prints `b'...'`.
//!
//! The original's example is fragile, and the order of steps respects it: an exception
//! in its message handler ends it (a message from a sender it does not trust, or a
//! reply to someone else while it has no key). The test checks it is still running at
//! the end.
//!
//! Needs Python 3 with PyNaCl < 1.6, six and paho-mqtt < 2: `scripts/test` makes a
//! virtual environment with them and names its python in STRINGPHONE_ORIGINAL_PYTHON
//! (otherwise `<target dir>/original-venv/bin/python`, then `python3`, are tried). The
//! original itself is found in `../shared/original`, or STRINGPHONE_ORIGINAL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{start_broker, starts, Person as Rust, Proc, TempDir, BIN, STEP};

/// The MQTT topic the original's example uses.
const TOPIC: &str = "stringphone";
/// The one line of the example that is changed in the copy.
const CONNECT_LINE: &str = r#"client.connect("test.mosquitto.org", 1883, 60)"#;

fn original_dir() -> PathBuf {
    let dir = std::env::var_os("STRINGPHONE_ORIGINAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/original"));
    for file in ["stringphone/topic.py", "examples/mqtt.py"] {
        assert!(
            dir.join(file).is_file(),
            "the original Python stringphone is not at {} (no {file}): set \
             STRINGPHONE_ORIGINAL to its directory",
            dir.display()
        );
    }
    dir
}

/// A python that imports what the original needs.
fn python() -> PathBuf {
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("STRINGPHONE_ORIGINAL_PYTHON") {
        candidates.push(p.into());
    }
    if let Some(target) = target {
        candidates.push(target.join("original-venv/bin/python"));
    }
    candidates.push("python3".into());
    for python in &candidates {
        let works = Command::new(python)
            .args(["-c", "import nacl, six, paho.mqtt.client"])
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return python.clone();
        }
    }
    panic!(
        "no Python with PyNaCl, six and paho-mqtt among {candidates:?}: run scripts/test \
         (it makes one), or `python3 -m venv DIR && DIR/bin/pip install 'PyNaCl<1.6' six \
         'paho-mqtt<2'` and set STRINGPHONE_ORIGINAL_PYTHON=DIR/bin/python"
    )
}

/// The original's example, copied with only its broker changed.
fn example_copy(dir: &TempDir, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(original_dir().join("examples/mqtt.py")).unwrap();
    assert_eq!(
        text.matches(CONNECT_LINE).count(),
        1,
        "the example's connect line changed: {CONNECT_LINE} not found once"
    );
    assert!(text.contains(&format!("TOPIC_NAME = \"{TOPIC}\"")));
    let copy = dir.join("mqtt.py");
    let local = format!(r#"client.connect("127.0.0.1", {port}, 60)"#);
    std::fs::write(&copy, text.replace(CONNECT_LINE, &local)).unwrap();
    copy
}

/// The original's example as participant `n` (1 makes the topic key).
fn original(dir: &TempDir, port: u16, n: u32) -> (Proc, String) {
    let script = example_copy(dir, port);
    let mut command = Command::new(python());
    command
        .arg("-u")
        .arg(&script)
        .arg(n.to_string())
        .current_dir(dir.path())
        .env("PYTHONPATH", original_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let p = Proc::spawn(&format!("original {n}"), command);
    let connected = p.expect(STEP, "its connection", |l| {
        l.starts_with(&format!("Participant {n}: Connected with id b'"))
    });
    let id = connected
        .split_once(" with id b'")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("no id in {connected:?}"));
    assert_eq!(id.len(), 32, "{connected}");
    (p, id)
}

/// The Rust chat of these tests: hex payloads (the original's example sends hex), the
/// key file.
trait HexChat {
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc;
}

impl HexChat for Rust {
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc {
        let mut c = self.chat_on(home, port, TOPIC);
        c.arg("--hex")
            .arg("--key-file")
            .arg(&self.key)
            .args(["--linger", "0.5"])
            .args(extra);
        Proc::spawn(self.name, c)
    }
}

/// `<id> <fingerprint>` of an id in hex, as the chat prints it.
fn who_of(id: &str) -> String {
    let fp = format!("{}-{}-{}-{}", &id[0..4], &id[4..8], &id[8..12], &id[12..16]);
    format!("{id} {fp}")
}

fn still_running(p: &mut Proc) {
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "{} ended\n{}",
        p.name,
        p.transcript()
    );
    assert!(
        !p.err.snapshot().iter().any(|l| l.contains("Traceback")),
        "{}",
        p.transcript()
    );
}

/// The original printed `who`'s introduction: it trusts `who` from now on.
fn saw_introduction(orig: &Proc, what: &str, who: &Rust) {
    let joined = format!("New participant with ID b'{}' joined", who.id);
    orig.expect(STEP, what, |l| l.contains(&joined));
}

/// Both Rust chats leave cleanly, having refused nothing; the original still runs; and
/// the two saved the same topic key.
fn leave_holding_one_key(chats: [(&mut Proc, &Rust); 2], orig: &mut Proc) {
    let mut keys = Vec::new();
    for (p, who) in chats {
        assert!(p.finish(STEP).success(), "{}", p.transcript());
        assert!(!p.has_line(starts("refused".into())), "{}", p.transcript());
        keys.push(std::fs::read(&who.key).unwrap());
    }
    still_running(orig);
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn rust_chats_join_the_original_holding_the_key() {
    let dir = TempDir::created("orig-keeper");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (mut orig, orig_id) = original(&dir, port, 1);
    let orig_who = who_of(&orig_id);
    let bob = Rust::new(&dir, "bob");
    let carol = Rust::new(&dir, "carol");

    // Bob joins: the original (which approves everyone) answers, and Bob's window
    // trusts it. He admits the newcomers of his window too, so that Carol and he
    // trust each other.
    let mut pb = bob.chat(home, port, &["--pair-for", "60", "--admit-newcomers"]);
    pb.expect_start("ready", format!("ready {} no-key", bob.who()));
    saw_introduction(&orig, "Bob's introduction", &bob);
    pb.expect_start("the key", format!("key-received {orig_who}"));
    pb.expect_start(
        "trust in the original",
        format!("trusted {orig_who} replier"),
    );

    // Carol joins: the original and Bob answer her.
    let mut pc = carol.chat(home, port, &["--pair-for", "60"]);
    pc.expect_start("ready", format!("ready {} no-key", carol.who()));
    saw_introduction(&orig, "Carol's introduction", &carol);
    pc.expect_start("the key", "key-received ");
    for replier in [&orig_who, &bob.who()] {
        let trusted = format!("trusted {replier} replier");
        pc.expect_start("trust in each replier", trusted);
    }
    let trusted = format!("trusted {} newcomer", carol.who());
    pb.expect_start("trust in Carol", trusted);

    // Everybody reads everybody.
    pb.send("hello from Bob");
    pc.send("hello from Carol");
    pb.expect_line("Bob's confirmation", "sent 1 hello from Bob");
    pc.expect_line("Carol's confirmation", "sent 1 hello from Carol");
    orig.expect_line("Bob's line", "b'hello from Bob'");
    orig.expect_line("Carol's line", "b'hello from Carol'");
    pc.expect_line("Bob's line", format!("msg {} hello from Bob", bob.who()));
    pb.expect_line(
        "Carol's line",
        format!("msg {} hello from Carol", carol.who()),
    );

    // The key both saved is the original's: they read each other under it.
    leave_holding_one_key([(&mut pb, &bob), (&mut pc, &carol)], &mut orig);
}

#[test]
fn the_original_joins_a_rust_chat_holding_the_key() {
    let dir = TempDir::created("orig-joiner");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let alice = Rust::new(&dir, "alice");
    let carol = Rust::new(&dir, "carol");
    alice.make_topic_key(home);

    // Alice holds the key, with a window for newcomers.
    let mut pa = alice.chat(home, port, &["--pair-for", "60"]);
    pa.expect_start("ready", format!("ready {} key", alice.who()));

    // The original joins: Alice answers, and it greets the topic.
    let (mut orig, orig_id) = original(&dir, port, 2);
    let orig_who = who_of(&orig_id);
    pa.expect_start(
        "trust in the original",
        format!("trusted {orig_who} newcomer"),
    );
    pa.expect_start("the reply", format!("reply-sent {orig_who}"));
    orig.expect_line("the reply opened", "Decoding reply...");
    let greeting = format!("msg {orig_who} Hey guys! This is participant 2.");
    pa.expect_line("the original's greeting", greeting);

    // The original trusts only who introduces itself: Alice does, now that it has
    // the key, and it answers her (with the key she already has).
    pa.send("/intro");
    pa.expect_line("the introduction", "intro-sent");
    saw_introduction(&orig, "Alice's introduction", &alice);
    orig.expect_line("its reply", "Sending reply...");

    // Carol joins: Alice and the original answer her.
    let mut pc = carol.chat(home, port, &["--pair-for", "60"]);
    pc.expect_start("ready", format!("ready {} no-key", carol.who()));
    pc.expect_start("the key", "key-received ");
    for replier in [&alice.who(), &orig_who] {
        let trusted = format!("trusted {replier} replier");
        pc.expect_start("trust in each replier", trusted);
    }
    let trusted = format!("trusted {} newcomer", carol.who());
    pa.expect_start("trust in Carol", trusted);

    pa.send("hello from Alice");
    pc.send("hello from Carol");
    orig.expect_line("Alice's line", "b'hello from Alice'");
    orig.expect_line("Carol's line", "b'hello from Carol'");
    pc.expect_line(
        "Alice's line",
        format!("msg {} hello from Alice", alice.who()),
    );
    pa.expect_line(
        "Carol's line",
        format!("msg {} hello from Carol", carol.who()),
    );

    leave_holding_one_key([(&mut pa, &alice), (&mut pc, &carol)], &mut orig);
}
