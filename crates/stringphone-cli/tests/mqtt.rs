//! `stringphone chat` against a real MQTT broker: a mosquitto started by the test on
//! a free loopback port with its own config file.
//!
//! Five participants, each a process:
//! - A holds the topic key and opens a pairing window;
//! - B and C join through discovery during the windows: each gets the key, and every
//!   one of A, B, C ends up trusting the other two (B's window admits newcomers, as
//!   `--admit-newcomers` asks: a joiner's window alone trusts only who answers it);
//! - D introduces itself after the windows closed: nobody approves it, it gets no key;
//! - E was handed the topic key out of band but never approved: its messages are
//!   refused as untrusted.
//!
//! Every line A, B and C send must reach the other two, decoded, with the right
//! sender. Needs the Debian package `mosquitto`.

mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{finish_all, free_port, ok, run, start_broker, starts, Person as Who, Proc, TempDir};

/// Generous bound for any one step on a loaded machine.
const STEP: Duration = Duration::from_secs(20);
/// The pairing windows: long enough for B and C to join inside them.
const PAIR_SECS: u64 = 8;

/// The chat of this test: topic `stringphone/test/room`, a pairing window or not, the
/// key file or not.
trait RoomChat {
    fn chat(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Proc;
    fn chat_command(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Command;
}

impl RoomChat for Who {
    fn chat(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Proc {
        Proc::spawn(
            self.name,
            self.chat_command(home, port, pair, with_key_file),
        )
    }

    fn chat_command(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Command {
        let mut c = self.chat_on(home, port, "stringphone/test/room");
        c.args(["--linger", "1"]);
        if with_key_file {
            c.arg("--key-file").arg(&self.key);
        }
        if pair {
            c.args(["--pair-for", &PAIR_SECS.to_string()]);
        }
        c
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn five_participants_over_a_real_broker() {
    let started = Instant::now();
    let dir = TempDir::created("mqtt");
    let home = dir.path();
    let (broker, port) = start_broker(home);

    let a = Who::new(&dir, "alice");
    let b = Who::new(&dir, "bob");
    let c = Who::new(&dir, "carol");
    let d = Who::new(&dir, "dave");
    let e = Who::new(&dir, "eve");
    a.make_topic_key(home);
    // Eve is handed the topic key out of band; nobody ever approves her.
    std::fs::copy(&a.key, &e.key).unwrap();

    // Alice, with the key, opens a pairing window.
    let mut pa = a.chat(home, port, true, true);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));

    // Bob joins through discovery, and admits the newcomers of his window.
    let mut pb = {
        let mut command = b.chat_command(home, port, true, true);
        command.arg("--admit-newcomers");
        Proc::spawn(b.name, command)
    };
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", b.who())));
    pb.expect(
        STEP,
        "the key from Alice",
        starts(format!("key-received {}", a.who())),
    );
    pb.expect(
        STEP,
        "trust in Alice",
        starts(format!("trusted {} replier", a.who())),
    );
    pa.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} newcomer", b.who())),
    );
    pa.expect(
        STEP,
        "a reply to Bob",
        starts(format!("reply-sent {}", b.who())),
    );

    // Carol joins: both Alice and Bob answer, and she trusts both.
    let mut pc = c.chat(home, port, true, true);
    pc.expect(STEP, "ready", starts(format!("ready {} no-key", c.who())));
    pc.expect(STEP, "the key", starts("key-received ".into()));
    pc.expect(
        STEP,
        "trust in Alice",
        starts(format!("trusted {} replier", a.who())),
    );
    pc.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} replier", b.who())),
    );
    pa.expect(
        STEP,
        "trust in Carol",
        starts(format!("trusted {} newcomer", c.who())),
    );
    pb.expect(
        STEP,
        "trust in Carol",
        starts(format!("trusted {} newcomer", c.who())),
    );

    // The windows close.
    let window = Duration::from_secs(PAIR_SECS) + STEP;
    for p in [&pa, &pb, &pc] {
        p.expect(window, "the end of pairing", |l| l == "pairing-closed");
    }

    // Dave introduces himself now: nobody approves him.
    let mut pd = d.chat(home, port, false, false);
    pd.expect(STEP, "ready", starts(format!("ready {} no-key", d.who())));
    pd.expect(STEP, "its introduction", |l| l == "intro-sent");
    for p in [&pa, &pb, &pc] {
        p.expect(
            STEP,
            "Dave's introduction ignored",
            starts(format!("intro-ignored {}", d.who())),
        );
    }
    pd.send("Dave wants in");
    pd.err
        .wait_for(STEP, |l| l.starts_with("cannot send: no topic key"))
        .unwrap_or_else(|| panic!("Dave sent without a key\n{}", pd.transcript()));

    // Eve holds the key but nobody trusts her.
    let mut pe = e.chat(home, port, false, true);
    pe.expect(STEP, "ready", starts(format!("ready {} key", e.who())));

    // Everybody talks.
    let lines = |w: &Who| {
        vec![
            format!("hello from {}", w.name),
            format!("{}: ünïcödé ✓, a tab\there and a bell \u{7}", w.name),
        ]
    };
    for (p, w) in [(&mut pa, &a), (&mut pb, &b), (&mut pc, &c), (&mut pe, &e)] {
        for line in lines(w) {
            p.send(&line);
        }
    }
    let shown = |line: &str| line.replace('\t', "\\t").replace('\u{7}', "\\u{7}");
    let members = [(&pa, &a), (&pb, &b), (&pc, &c)];
    for (receiver, rw) in members {
        for (_, sw) in members {
            if sw.name == rw.name {
                continue;
            }
            for line in lines(sw) {
                let want = format!("msg {} {}", sw.who(), shown(&line));
                receiver.expect(STEP, &format!("{}'s line {line:?}", sw.name), |l| l == want);
            }
        }
        receiver.expect(
            STEP,
            "Eve's messages refused",
            starts(format!("refused {} untrusted sender", e.who())),
        );
    }

    // In another terminal, Alice stops trusting Bob while her chat runs: from his
    // next message on, her chat refuses him; Carol still reads him.
    let out = ok(&run(
        home,
        &[
            "--state-dir",
            a.state.to_str().unwrap(),
            "trust",
            "remove",
            &b.fp,
        ],
        b"",
    ));
    assert_eq!(out, format!("removed {}\n", b.who()));
    pb.send("after the removal");
    pc.expect(STEP, "Bob's line after the removal", |l| {
        l == format!("msg {} after the removal", b.who())
    });
    pa.expect(
        STEP,
        "Bob refused after the removal",
        starts(format!("refused {} untrusted sender", b.who())),
    );
    assert!(!pa.has_line(|l| l.ends_with("after the removal")));

    // Let stragglers arrive, then check what must never have happened.
    thread::sleep(Duration::from_millis(500));
    for (receiver, rw) in members {
        for outsider in [&d, &e] {
            assert!(
                !receiver.has_line(starts(format!("msg {}", outsider.id))),
                "{} accepted a message from {}\n{}",
                rw.name,
                outsider.name,
                receiver.transcript()
            );
        }
        // Its own lines are never shown back to it.
        assert!(!receiver.has_line(starts(format!("msg {}", rw.id))));
    }
    assert!(
        !pd.has_line(|l| l.starts_with("key-received") || l.starts_with("msg ")),
        "Dave got in\n{}",
        pd.transcript()
    );
    assert!(
        !pe.has_line(|l| l.starts_with("msg ")),
        "{}",
        pe.transcript()
    );

    // Everyone leaves when its stdin ends.
    finish_all(&mut [&mut pa, &mut pb, &mut pc, &mut pd, &mut pe], STEP);
    drop(broker);

    // What stayed on disk: the joiners saved the key, trust is mutual among members.
    let key = std::fs::read(&a.key).unwrap();
    assert_eq!(std::fs::read(&b.key).unwrap(), key);
    assert_eq!(std::fs::read(&c.key).unwrap(), key);
    assert!(!d.key.exists());
    assert_eq!(a.trusted(home), vec![c.id.clone()]);
    assert_eq!(b.trusted(home), sorted(vec![a.id.clone(), c.id.clone()]));
    assert_eq!(c.trusted(home), sorted(vec![a.id.clone(), b.id.clone()]));
    assert!(d.trusted(home).is_empty());
    assert!(e.trusted(home).is_empty());
    eprintln!("mqtt test took {:?}", started.elapsed());
}

/// With a terminal on stdin (here a pseudo-terminal from util-linux `script`), the
/// chat asks before handing the key to a newcomer, and shows its fingerprint; the
/// answer is a command (`/approve`, `/refuse`).
#[test]
fn a_terminal_user_approves_newcomers_at_the_prompt() {
    let dir = TempDir::created("prompt");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let a = Who::new(&dir, "alice");
    let b = Who::new(&dir, "bob");
    let c = Who::new(&dir, "carol");
    a.make_topic_key(home);

    let chat = a.chat_command(home, port, false, true);
    let mut line: Vec<String> = vec![chat.get_program().to_string_lossy().into_owned()];
    line.extend(
        chat.get_args()
            .map(|s| format!("'{}'", s.to_string_lossy())),
    );
    let mut script = Command::new("script");
    script
        .args(["-q", "-f", "-e", "-c"])
        .arg(line.join(" "))
        .arg("/dev/null")
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME");
    let pa = Proc::spawn("alice (terminal)", script);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));

    // Bob asks; Alice sees his fingerprint and says yes. (Bob knew Alice's key
    // beforehand, and opens no pairing window: he would hand Carol the key.)
    ok(&run(
        home,
        &[
            "--state-dir",
            b.state.to_str().unwrap(),
            "trust",
            "add",
            &a.pk,
        ],
        b"",
    ));
    let pb = b.chat(home, port, false, true);
    pa.expect(
        STEP,
        "the prompt for Bob",
        starts(format!("approve? newcomer {}", b.who())),
    );
    pa.send(&format!("/approve {}", b.fp));
    pa.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} newcomer", b.who())),
    );
    pb.expect(STEP, "the key", starts(format!("key-received {}", a.who())));

    // Carol asks; Alice says no.
    let pc = c.chat(home, port, false, false);
    pa.expect(
        STEP,
        "the prompt for Carol",
        starts(format!("approve? newcomer {}", c.who())),
    );
    pa.send(&format!("/refuse {}", c.fp));
    pa.expect(
        STEP,
        "Carol refused",
        starts(format!("not-approved {}", c.who())),
    );

    // What Alice types reaches Bob.
    pa.send("typed at a terminal");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} typed at a terminal", a.who())
    });
    assert!(
        !pc.has_line(|l| l.starts_with("key-received")),
        "{}",
        pc.transcript()
    );
    assert_eq!(a.trusted(home), vec![b.id.clone()]);
}

#[test]
fn an_unreachable_broker_is_one_clear_error() {
    let dir = TempDir::created("nobroker");
    let w = Who::new(&dir, "solo");
    let port = free_port(); // nothing listens there
    let mut p = w.chat(dir.path(), port, false, false);
    let status = p.finish(STEP);
    assert!(!status.success());
    p.err.wait_for(Duration::from_secs(5), |_| true);
    thread::sleep(Duration::from_millis(100));
    let err = p.err.snapshot();
    assert_eq!(err.len(), 1, "{}", p.transcript());
    assert!(
        err[0].starts_with("error: cannot connect to broker"),
        "{err:?}"
    );
    assert!(p.out.snapshot().is_empty());
}

/// `chat --protocol v2`: signed discovery, messages both ways, a classic participant
/// refused, and a clean restart that stores exact replay marks, so the restarted
/// member still reads the next message (with only the marks stored ahead, it would be
/// refused as old).
#[test]
fn v2_chat_over_a_real_broker() {
    let dir = TempDir::created("mqtt-v2");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let a = Who::new(&dir, "alice");
    let b = Who::new(&dir, "bob");
    let e = Who::new(&dir, "eve");
    a.make_topic_key(home);
    std::fs::copy(&a.key, &e.key).unwrap();
    let v2_chat = |w: &Who, pair: bool| {
        let mut c = w.chat_command(home, port, pair, true);
        c.args(["--protocol", "v2"]);
        Proc::spawn(w.name, c)
    };

    let mut pa = v2_chat(&a, true);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));
    let mut pb = v2_chat(&b, true);
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", b.who())));
    pa.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} newcomer", b.who())),
    );
    pa.expect(STEP, "a reply", starts(format!("reply-sent {}", b.who())));
    pb.expect(
        STEP,
        "trust in Alice",
        starts(format!("trusted {} replier", a.who())),
    );
    pb.expect(STEP, "the key", starts(format!("key-received {}", a.who())));

    pa.send("hello in v2");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} hello in v2", a.who())
    });
    pb.send("hi back");
    pa.expect(STEP, "Bob's line", |l| {
        l == format!("msg {} hi back", b.who())
    });

    // Eve speaks classic: Alice's v2-only chat refuses her, saying why.
    let mut pe = e.chat(home, port, false, true);
    pe.expect(STEP, "ready", starts(format!("ready {} key", e.who())));
    pe.send("old format");
    pa.expect(
        STEP,
        "Eve's classic message refused",
        starts(format!(
            "refused {} this is a classic message and this topic speaks v2 only",
            e.who()
        )),
    );

    // Bob leaves cleanly and comes back with the key he saved.
    assert!(pb.finish(STEP).success(), "{}", pb.transcript());
    let marks = stringphone_store_sqlite::SqliteTrustStore::open(b.state.join("state.db"))
        .unwrap()
        .marks()
        .unwrap();
    let alice = stringphone::ParticipantId::from_hex(&a.id).unwrap();
    assert!(
        marks.contains_key(&stringphone::protocol::MarkSlot::Received(alice)),
        "{marks:?}"
    );
    let pb = v2_chat(&b, false);
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
    pa.send("after Bob's restart");
    pb.expect(STEP, "Alice's line after the restart", |l| {
        l == format!("msg {} after Bob's restart", a.who())
    });

    for p in [&mut pa, &mut pe] {
        assert!(p.finish(STEP).success(), "{}", p.transcript());
    }
    assert!(
        !pb.has_line(|l| l.starts_with("refused")),
        "{}",
        pb.transcript()
    );
    assert_eq!(
        std::fs::read(&b.key).unwrap(),
        std::fs::read(&a.key).unwrap()
    );
}
