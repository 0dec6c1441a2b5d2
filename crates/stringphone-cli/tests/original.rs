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
use std::time::Duration;

use common::{start_broker, starts, Person as Rust, Proc, TempDir, BIN};

/// Generous bound for any one step on a loaded machine.
const STEP: Duration = Duration::from_secs(20);
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
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", bob.who())));
    orig.expect(STEP, "Bob's introduction", |l| {
        l.contains(&format!("New participant with ID b'{}' joined", bob.id))
    });
    pb.expect(STEP, "the key", starts(format!("key-received {orig_who}")));
    pb.expect(
        STEP,
        "trust in the original",
        starts(format!("trusted {orig_who} replier")),
    );

    // Carol joins: the original and Bob answer her.
    let mut pc = carol.chat(home, port, &["--pair-for", "60"]);
    pc.expect(
        STEP,
        "ready",
        starts(format!("ready {} no-key", carol.who())),
    );
    orig.expect(STEP, "Carol's introduction", |l| {
        l.contains(&format!("New participant with ID b'{}' joined", carol.id))
    });
    pc.expect(STEP, "the key", starts("key-received ".into()));
    for replier in [&orig_who, &bob.who()] {
        pc.expect(
            STEP,
            "trust in each replier",
            starts(format!("trusted {replier} replier")),
        );
    }
    pb.expect(
        STEP,
        "trust in Carol",
        starts(format!("trusted {} newcomer", carol.who())),
    );

    // Everybody reads everybody.
    pb.send("hello from Bob");
    pc.send("hello from Carol");
    pb.expect(STEP, "Bob's confirmation", |l| l == "sent 1 hello from Bob");
    pc.expect(STEP, "Carol's confirmation", |l| {
        l == "sent 1 hello from Carol"
    });
    orig.expect(STEP, "Bob's line", |l| l == "b'hello from Bob'");
    orig.expect(STEP, "Carol's line", |l| l == "b'hello from Carol'");
    pc.expect(STEP, "Bob's line", |l| {
        l == format!("msg {} hello from Bob", bob.who())
    });
    pb.expect(STEP, "Carol's line", |l| {
        l == format!("msg {} hello from Carol", carol.who())
    });

    for p in [&mut pb, &mut pc] {
        assert!(p.finish(STEP).success(), "{}", p.transcript());
        assert!(!p.has_line(starts("refused".into())), "{}", p.transcript());
    }
    still_running(&mut orig);
    // The key both saved is the original's: they read each other under it.
    assert_eq!(
        std::fs::read(&bob.key).unwrap(),
        std::fs::read(&carol.key).unwrap()
    );
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
    pa.expect(STEP, "ready", starts(format!("ready {} key", alice.who())));

    // The original joins: Alice answers, and it greets the topic.
    let (mut orig, orig_id) = original(&dir, port, 2);
    let orig_who = who_of(&orig_id);
    pa.expect(
        STEP,
        "trust in the original",
        starts(format!("trusted {orig_who} newcomer")),
    );
    pa.expect(STEP, "the reply", starts(format!("reply-sent {orig_who}")));
    orig.expect(STEP, "the reply opened", |l| l == "Decoding reply...");
    pa.expect(STEP, "the original's greeting", |l| {
        l == format!("msg {orig_who} Hey guys! This is participant 2.")
    });

    // The original trusts only who introduces itself: Alice does, now that it has
    // the key, and it answers her (with the key she already has).
    pa.send("/intro");
    pa.expect(STEP, "the introduction", |l| l == "intro-sent");
    orig.expect(STEP, "Alice's introduction", |l| {
        l.contains(&format!("New participant with ID b'{}' joined", alice.id))
    });
    orig.expect(STEP, "its reply", |l| l == "Sending reply...");

    // Carol joins: Alice and the original answer her.
    let mut pc = carol.chat(home, port, &["--pair-for", "60"]);
    pc.expect(
        STEP,
        "ready",
        starts(format!("ready {} no-key", carol.who())),
    );
    pc.expect(STEP, "the key", starts("key-received ".into()));
    for replier in [&alice.who(), &orig_who] {
        pc.expect(
            STEP,
            "trust in each replier",
            starts(format!("trusted {replier} replier")),
        );
    }
    pa.expect(
        STEP,
        "trust in Carol",
        starts(format!("trusted {} newcomer", carol.who())),
    );

    pa.send("hello from Alice");
    pc.send("hello from Carol");
    orig.expect(STEP, "Alice's line", |l| l == "b'hello from Alice'");
    orig.expect(STEP, "Carol's line", |l| l == "b'hello from Carol'");
    pc.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} hello from Alice", alice.who())
    });
    pa.expect(STEP, "Carol's line", |l| {
        l == format!("msg {} hello from Carol", carol.who())
    });

    for p in [&mut pa, &mut pc] {
        assert!(p.finish(STEP).success(), "{}", p.transcript());
        assert!(!p.has_line(starts("refused".into())), "{}", p.transcript());
    }
    still_running(&mut orig);
    assert_eq!(
        std::fs::read(&alice.key).unwrap(),
        std::fs::read(&carol.key).unwrap()
    );
}
