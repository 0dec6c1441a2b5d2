//! `stringphone chat` as people use it, over a real mosquitto on a free loopback port:
//!
//! - at a terminal (a pseudo-terminal from util-linux `script`): a question pending
//!   while lines are typed, every line still sent and the question shown again;
//!   approvals by command; a refused sender trusted from the chat, and what it had
//!   said shown then; text from the network with bidirectional overrides escaped;
//! - delivery: each line confirmed once the broker has it; lines typed while the
//!   broker is down queued and sent on reconnection, which backs off and says when it
//!   succeeds; lines that never reach the broker reported on leaving;
//! - a joiner's pairing window trusts only who answers its own introduction;
//! - hex and raw payloads recognised and named, each on the other's side.
//!
//! Needs the Debian packages `mosquitto` and `bsdutils` (for `script`).

mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{on_terminal, start_broker, start_broker_on, starts, Person, Proc, TempDir};

/// Generous bound for any one step on a loaded machine.
const STEP: Duration = Duration::from_secs(20);

/// The chat of these tests: topic `stringphone/test/people`, with the key file.
trait PeopleChat {
    fn chat_command(&self, home: &Path, port: u16, extra: &[&str]) -> Command;
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc;
}

impl PeopleChat for Person {
    fn chat_command(&self, home: &Path, port: u16, extra: &[&str]) -> Command {
        let mut c = self.chat_on(home, port, "stringphone/test/people");
        c.arg("--key-file")
            .arg(&self.key)
            .args(["--linger", "0.5"])
            .args(extra);
        c
    }

    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc {
        Proc::spawn(self.name, self.chat_command(home, port, extra))
    }
}

/// Alice and Bob, holding one topic key and trusting each other.
fn two_friends(dir: &TempDir) -> (Person, Person) {
    let home = dir.path();
    let alice = Person::new(dir, "alice");
    let bob = Person::new(dir, "bob");
    alice.make_topic_key(home);
    std::fs::copy(&alice.key, &bob.key).unwrap();
    alice.trust(home, &[&bob]);
    bob.trust(home, &[&alice]);
    (alice, bob)
}

fn count(p: &Proc, pred: impl Fn(&str) -> bool) -> usize {
    p.out.snapshot().iter().filter(|l| pred(l)).count()
}

#[test]
fn a_person_at_a_terminal_loses_no_line() {
    let dir = TempDir::created("terminal");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let alice = Person::new(&dir, "alice");
    let bob = Person::new(&dir, "bob");
    let carol = Person::new(&dir, "carol");
    let dave = Person::new(&dir, "dave");
    let eve = Person::new(&dir, "eve");
    alice.make_topic_key(home);
    // Dave is already a member: he and Alice trust each other and hold the key.
    // Eve was handed the key out of band; nobody trusts her yet.
    std::fs::copy(&alice.key, &dave.key).unwrap();
    std::fs::copy(&alice.key, &eve.key).unwrap();
    alice.trust(home, &[&dave]);
    dave.trust(home, &[&alice]);
    dave.trust(home, &[&eve]);
    // Bob knows Alice's key beforehand (so he trusts her reply without a window).
    bob.trust(home, &[&alice]);

    let pa = Proc::spawn(
        "alice (terminal)",
        on_terminal(&alice.chat_command(home, port, &[])),
    );
    pa.expect(STEP, "ready", starts(format!("ready {} key", alice.who())));
    let pd = dave.chat(home, port, &[]);
    pd.expect(STEP, "ready", starts(format!("ready {} key", dave.who())));

    // Bob asks for the key: the question appears at Alice's terminal.
    let pb = bob.chat(home, port, &[]);
    let question = format!("approve? newcomer {}", bob.who());
    pa.expect(STEP, "the question about Bob", starts(question.clone()));
    let asked = pa
        .out
        .snapshot()
        .into_iter()
        .find(|l| l.starts_with(&question))
        .unwrap();
    assert!(
        asked.contains(&format!("/approve {}", bob.fp)) && asked.contains("/refuse"),
        "{asked}"
    );

    // Alice keeps chatting while the question waits: every line is sent (Dave reads
    // them all), none is taken for an answer, and the question is shown again.
    let typed = ["y", "yes", "no", "n", "hello Dave", "still here"];
    for line in typed {
        pa.send(line);
    }
    for (n, line) in typed.iter().enumerate() {
        pa.expect(STEP, &format!("line {line:?} confirmed"), |l| {
            l == format!("sent {} {line}", n + 1)
        });
        pd.expect(STEP, &format!("Alice's line {line:?}"), |l| {
            l == format!("msg {} {line}", alice.who())
        });
    }
    assert!(
        !pa.has_line(starts("trusted ".into())),
        "{}",
        pa.transcript()
    );
    assert!(
        !pa.has_line(starts("not-approved".into())),
        "{}",
        pa.transcript()
    );
    let deadline = Instant::now() + STEP;
    while count(&pa, starts(question.clone())) < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        count(&pa, starts(question.clone())) >= 2,
        "the question was not shown again after the lines typed\n{}",
        pa.transcript()
    );

    // Commands are never sent; `//` sends a line that starts with '/'.
    pa.send("/frobnicate");
    pa.send("//slash at the start");
    pd.expect(STEP, "the escaped line", |l| {
        l == format!("msg {} /slash at the start", alice.who())
    });

    // The answer, by command (a prefix of the fingerprint is enough).
    pa.send(&format!("/approve {}", &bob.fp[..9]));
    pa.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} newcomer", bob.who())),
    );
    pa.expect(
        STEP,
        "the reply",
        starts(format!("reply-sent {}", bob.who())),
    );
    pb.expect(
        STEP,
        "the key",
        starts(format!("key-received {}", alice.who())),
    );
    pa.send("welcome Bob");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} welcome Bob", alice.who())
    });

    // Carol asks; Alice refuses her by command.
    let pc = carol.chat(home, port, &[]);
    pa.expect(
        STEP,
        "the question about Carol",
        starts(format!("approve? newcomer {}", carol.who())),
    );
    pa.send(&format!("/refuse {}", carol.fp));
    pa.expect(
        STEP,
        "Carol refused",
        starts(format!("not-approved {}", carol.who())),
    );

    // Eve speaks: refused at Alice's, saying how to trust her. Her line carries a
    // right-to-left override, which must reach nobody's screen as it is.
    let pe = eve.chat(home, port, &[]);
    pe.expect(STEP, "ready", starts(format!("ready {} key", eve.who())));
    pe.send("before trust \u{202e}txt.exe");
    pd.expect(STEP, "Eve's line at Dave's, escaped", |l| {
        l == format!("msg {} before trust \\u{{202e}}txt.exe", eve.who())
    });
    let refusal = pa.expect(
        STEP,
        "Eve refused",
        starts(format!("refused {} untrusted sender", eve.who())),
    );
    assert!(
        refusal.contains("stringphone pubkey") && refusal.contains("/trust"),
        "{refusal}"
    );
    // Trusted from the chat: what she said is shown now, then what she says next.
    pa.send(&format!("/trust {}", eve.pk));
    pa.expect(
        STEP,
        "trust in Eve",
        starts(format!("trusted {} by-command", eve.who())),
    );
    pa.expect(STEP, "Eve's earlier line", |l| {
        l == format!("msg {} before trust \\u{{202e}}txt.exe", eve.who())
    });
    pe.send("after trust");
    pa.expect(STEP, "Eve's next line", |l| {
        l == format!("msg {} after trust", eve.who())
    });

    thread::sleep(Duration::from_millis(300));
    for p in [&pb, &pd] {
        assert!(
            !p.has_line(|l| l.contains("frobnicate") || l.contains("/approve")),
            "a command was sent\n{}",
            p.transcript()
        );
    }
    assert!(
        !pa.out.snapshot().iter().any(|l| l.contains('\u{202e}')),
        "{}",
        pa.transcript()
    );
    assert!(
        !pc.has_line(starts("key-received".into())),
        "{}",
        pc.transcript()
    );
    let mut expected = vec![bob.id.clone(), dave.id.clone(), eve.id.clone()];
    expected.sort();
    assert_eq!(alice.trusted(home), expected);
}

/// Lines typed while the broker is down are queued and sent once it is back; the
/// reconnection backs off (a warning when the connection is lost, not one a second)
/// and says when it succeeded; lines that never reach a broker are named on leaving.
#[test]
fn lines_wait_for_the_broker_and_are_never_lost_silently() {
    let dir = TempDir::created("delivery");
    let home = dir.path();
    let (broker, port) = start_broker(home);
    let (alice, bob) = two_friends(&dir);

    let mut pa = alice.chat(home, port, &[]);
    let mut pb = bob.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts("ready ".into()));
    pb.expect(STEP, "ready", starts("ready ".into()));
    pa.send("before the outage");
    pa.expect(STEP, "a confirmation", |l| l == "sent 1 before the outage");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} before the outage", alice.who())
    });

    // The broker goes away for a few seconds.
    drop(broker);
    pa.err
        .wait_for(STEP, |l| l.contains("connection to the broker lost"))
        .unwrap_or_else(|| panic!("no warning\n{}", pa.transcript()));
    pa.send("during the outage");
    pa.send("still down");
    pa.expect(STEP, "line 2 queued", |l| l == "queued 2 during the outage");
    pa.expect(STEP, "line 3 queued", |l| l == "queued 3 still down");
    thread::sleep(Duration::from_secs(4));
    let _broker = start_broker_on(home, port).expect("mosquitto again on the same port");
    pa.err
        .wait_for(STEP, |l| l.starts_with("reconnected to the broker"))
        .unwrap_or_else(|| panic!("no reconnection\n{}", pa.transcript()));
    pa.expect(STEP, "line 2 confirmed", |l| {
        l == "sent 2 during the outage"
    });
    pa.expect(STEP, "line 3 confirmed", |l| l == "sent 3 still down");
    // Once both are back, what Alice types reaches Bob again.
    pb.err
        .wait_for(STEP, |l| l.starts_with("reconnected to the broker"))
        .unwrap_or_else(|| panic!("no reconnection\n{}", pb.transcript()));
    pa.send("after the outage");
    pb.expect(STEP, "Alice's line after the outage", |l| {
        l == format!("msg {} after the outage", alice.who())
    });
    let warnings = pa
        .err
        .snapshot()
        .iter()
        .filter(|l| l.starts_with("warning:"))
        .count();
    assert!(
        warnings <= 2,
        "a 4 s outage gave {warnings} warnings\n{}",
        pa.transcript()
    );
    assert!(pa.finish(STEP).success(), "{}", pa.transcript());
    assert!(pb.finish(STEP).success(), "{}", pb.transcript());

    // A chat whose broker never comes back names its unsent lines, and fails.
    let (broker, port) = start_broker(home);
    let mut pa = alice.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts("ready ".into()));
    drop(broker);
    pa.err
        .wait_for(STEP, |l| l.contains("connection to the broker lost"))
        .unwrap_or_else(|| panic!("no warning\n{}", pa.transcript()));
    pa.send("into the void");
    pa.expect(STEP, "queued", |l| l == "queued 1 into the void");
    let status = pa.finish(STEP);
    assert_eq!(status.code(), Some(1), "{}", pa.transcript());
    pa.expect(STEP, "the unsent line named", |l| {
        l == "not-sent 1 into the void"
    });
    // stderr is read by its own thread: wait for the line before counting.
    pa.err
        .wait_for(STEP, |l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line\n{}", pa.transcript()));
    let errors: Vec<String> = pa
        .err
        .snapshot()
        .into_iter()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", pa.transcript());
    assert!(
        errors[0].contains("1 line never reached the broker"),
        "{errors:?}"
    );
}

/// A joiner's pairing window trusts whoever answers its own introduction, and no
/// other newcomer: Bob, joining with a window, must not hand Carol the key or trust
/// her. With --admit-newcomers he does both.
#[test]
fn a_joiners_window_trusts_only_who_answers_it() {
    let dir = TempDir::created("window");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let alice = Person::new(&dir, "alice");
    let bob = Person::new(&dir, "bob");
    let carol = Person::new(&dir, "carol");
    let dave = Person::new(&dir, "dave");
    alice.make_topic_key(home);
    // Alice (no window) trusts Bob, Carol and Dave already: she answers each of them.
    // What Bob does with the others is the question.
    for p in [&bob, &carol, &dave] {
        alice.trust(home, &[p]);
    }

    let pa = alice.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts(format!("ready {} key", alice.who())));
    let pb = bob.chat(home, port, &["--pair-for", "30"]);
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", bob.who())));
    // Bob's window trusts Alice, the one who answered him.
    pb.expect(
        STEP,
        "the key",
        starts(format!("key-received {}", alice.who())),
    );
    pb.expect(
        STEP,
        "trust in Alice",
        starts(format!("trusted {} replier", alice.who())),
    );

    // Carol introduces herself inside Bob's window: Alice answers, Bob must not.
    let pc = carol.chat(home, port, &["--pair-for", "30"]);
    pc.expect(STEP, "the key", starts("key-received ".into()));
    pb.expect(
        STEP,
        "Carol not admitted",
        starts(format!("intro-ignored {}", carol.who())),
    );
    thread::sleep(Duration::from_millis(500));
    assert!(
        !pb.has_line(|l| l.starts_with(&format!("trusted {}", carol.who()))
            || l.starts_with(&format!("reply-sent {}", carol.who()))),
        "{}",
        pb.transcript()
    );
    assert!(
        !pc.has_line(|l| l.starts_with(&format!("trusted {}", bob.who()))),
        "{}",
        pc.transcript()
    );
    assert_eq!(bob.trusted(home), vec![alice.id.clone()]);

    // With --admit-newcomers, Bob's window (joining again, without the key) takes Dave
    // in and answers him.
    drop(pb);
    std::fs::remove_file(&bob.key).unwrap();
    let pb = bob.chat(home, port, &["--pair-for", "30", "--admit-newcomers"]);
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", bob.who())));
    pb.expect(
        STEP,
        "the key",
        starts(format!("key-received {}", alice.who())),
    );
    let pd = dave.chat(home, port, &["--pair-for", "30"]);
    pb.expect(
        STEP,
        "Dave admitted",
        starts(format!("trusted {} newcomer", dave.who())),
    );
    pb.expect(
        STEP,
        "a reply",
        starts(format!("reply-sent {}", dave.who())),
    );
    pd.expect(
        STEP,
        "trust in Bob",
        starts(format!("trusted {} replier", bob.who())),
    );
    let mut expected = vec![alice.id.clone(), dave.id.clone()];
    expected.sort();
    assert_eq!(bob.trusted(home), expected);
}

/// A raw chat and a `--hex` chat (what the original's example speaks) on one topic:
/// each side names what the other sends and says which option reads it.
#[test]
fn hex_and_raw_payloads_are_named() {
    let dir = TempDir::created("hexraw");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (alice, bob) = two_friends(&dir);

    let pa = alice.chat(home, port, &[]);
    let pb = bob.chat(home, port, &["--hex"]);
    pa.expect(STEP, "ready", starts("ready ".into()));
    pb.expect(STEP, "ready", starts("ready ".into()));
    pb.send("in hex");
    let hint = pa.expect(
        STEP,
        "Bob's hex payload named",
        starts(format!(
            "refused {} hex text of a stringphone message",
            bob.who()
        )),
    );
    assert!(hint.contains("--hex"), "{hint}");
    assert!(!hint.contains("unknown message type"), "{hint}");
    pa.send("raw bytes");
    let hint = pb.expect(
        STEP,
        "Alice's raw payload named",
        starts(format!(
            "refused {} not hex text: a raw stringphone message",
            alice.who()
        )),
    );
    assert!(hint.contains("without --hex"), "{hint}");

    // Two --hex chats read each other.
    let pa2 = {
        drop(pa);
        alice.chat(home, port, &["--hex"])
    };
    pa2.expect(STEP, "ready", starts("ready ".into()));
    pb.send("hex to hex");
    pa2.expect(STEP, "Bob's line", |l| {
        l == format!("msg {} hex to hex", bob.who())
    });
}
