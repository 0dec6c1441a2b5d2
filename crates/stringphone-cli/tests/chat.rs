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

use common::{on_terminal, start_broker, start_broker_on, starts, Person, Proc, TempDir, STEP};

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

/// The people of `a_person_at_a_terminal_loses_no_line`, in one directory, and the
/// port of their broker. Alice made the topic key. Dave is already a member: he and
/// Alice trust each other and hold the key. Eve was handed the key out of band; Dave
/// trusts her, Alice does not yet. Bob knows Alice's key beforehand (so he trusts her
/// reply without a window). Carol knows nobody.
struct AtTerminal {
    dir: TempDir,
    port: u16,
    alice: Person,
    bob: Person,
    carol: Person,
    dave: Person,
    eve: Person,
}

impl AtTerminal {
    fn new(dir: TempDir, port: u16) -> Self {
        let home = dir.path();
        let [alice, bob, carol, dave, eve] =
            ["alice", "bob", "carol", "dave", "eve"].map(|n| Person::new(&dir, n));
        alice.make_topic_key(home);
        std::fs::copy(&alice.key, &dave.key).unwrap();
        std::fs::copy(&alice.key, &eve.key).unwrap();
        alice.trust(home, &[&dave]);
        dave.trust(home, &[&alice]);
        dave.trust(home, &[&eve]);
        bob.trust(home, &[&alice]);
        AtTerminal {
            dir,
            port,
            alice,
            bob,
            carol,
            dave,
            eve,
        }
    }

    fn chat(&self, who: &Person) -> Proc {
        who.chat(self.dir.path(), self.port, &[])
    }

    /// Alice's chat at a terminal, and Dave's, both ready.
    fn alice_and_dave_chat(&self) -> (Proc, Proc) {
        let chat = self.alice.chat_command(self.dir.path(), self.port, &[]);
        let pa = Proc::spawn("alice (terminal)", on_terminal(&chat));
        pa.expect_start("ready", format!("ready {} key", self.alice.who()));
        let pd = self.chat(&self.dave);
        pd.expect_start("ready", format!("ready {} key", self.dave.who()));
        (pa, pd)
    }

    /// Bob asks for the key: the question appears at Alice's terminal, naming the
    /// commands that answer it. Returns Bob's chat and the question.
    fn bob_asks(&self, pa: &Proc) -> (Proc, String) {
        let pb = self.chat(&self.bob);
        let question = format!("approve? newcomer {}", self.bob.who());
        let asked = pa.expect_start("the question about Bob", &question);
        assert!(
            asked.contains(&format!("/approve {}", self.bob.fp)) && asked.contains("/refuse"),
            "{asked}"
        );
        (pb, question)
    }

    /// Alice keeps chatting while the question waits: every line is sent (Dave reads
    /// them all), none is taken for an answer, and the question is shown again.
    fn lines_typed_meanwhile_are_all_sent(&self, pa: &Proc, pd: &Proc, question: &str) {
        let typed = ["y", "yes", "no", "n", "hello Dave", "still here"];
        for line in typed {
            pa.send(line);
        }
        for (n, line) in typed.iter().enumerate() {
            pa.expect_line(
                &format!("line {line:?} confirmed"),
                format!("sent {} {line}", n + 1),
            );
            let alices = format!("msg {} {line}", self.alice.who());
            pd.expect_line(&format!("Alice's line {line:?}"), alices);
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
        while count(pa, starts(question.to_string())) < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert!(
            count(pa, starts(question.to_string())) >= 2,
            "the question was not shown again after the lines typed\n{}",
            pa.transcript()
        );
    }

    /// The answer, by command (a prefix of the fingerprint is enough): Bob gets the
    /// key and reads Alice.
    fn alice_approves_bob_by_command(&self, pa: &Proc, pb: &Proc) {
        let (alice, bob) = (&self.alice, &self.bob);
        pa.send(&format!("/approve {}", &bob.fp[..9]));
        pa.expect_start("trust in Bob", format!("trusted {} newcomer", bob.who()));
        pa.expect_start("the reply", format!("reply-sent {}", bob.who()));
        pb.expect_start("the key", format!("key-received {}", alice.who()));
        pa.send("welcome Bob");
        pb.expect_line("Alice's line", format!("msg {} welcome Bob", alice.who()));
    }

    /// Carol asks; Alice refuses her by command. Returns Carol's chat.
    fn alice_refuses_carol_by_command(&self, pa: &Proc) -> Proc {
        let carol = &self.carol;
        let pc = self.chat(carol);
        let question = format!("approve? newcomer {}", carol.who());
        pa.expect_start("the question about Carol", question);
        pa.send(&format!("/refuse {}", carol.fp));
        pa.expect_start("Carol refused", format!("not-approved {}", carol.who()));
        pc
    }

    /// Eve speaks: refused at Alice's, saying how to trust her. Her line carries a
    /// right-to-left override, which must reach nobody's screen as it is. Trusted from
    /// the chat: what she said is shown now, then what she says next. Returns her chat.
    fn alice_trusts_eve_from_the_chat(&self, pa: &Proc, pd: &Proc) -> Proc {
        let eve = &self.eve;
        let pe = self.chat(eve);
        pe.expect_start("ready", format!("ready {} key", eve.who()));
        pe.send("before trust \u{202e}txt.exe");
        let escaped = format!("msg {} before trust \\u{{202e}}txt.exe", eve.who());
        pd.expect_line("Eve's line at Dave's, escaped", &escaped);
        let refused = format!("refused {} untrusted sender", eve.who());
        let refusal = pa.expect_start("Eve refused", refused);
        assert!(
            refusal.contains("stringphone pubkey") && refusal.contains("/trust"),
            "{refusal}"
        );
        pa.send(&format!("/trust {}", eve.pk));
        pa.expect_start("trust in Eve", format!("trusted {} by-command", eve.who()));
        pa.expect_line("Eve's earlier line", &escaped);
        pe.send("after trust");
        pa.expect_line("Eve's next line", format!("msg {} after trust", eve.who()));
        pe
    }

    /// Once stragglers had time to arrive: no command reached Bob or Dave, no override
    /// reached Alice's screen, Carol got no key, and Alice trusts Bob, Dave and Eve.
    fn no_command_sent_and_only_the_approved_trusted(&self, pa: &Proc, others: [&Proc; 3]) {
        let [pb, pc, pd] = others;
        thread::sleep(Duration::from_millis(300));
        for p in [pb, pd] {
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
        let mut expected = vec![
            self.bob.id.clone(),
            self.dave.id.clone(),
            self.eve.id.clone(),
        ];
        expected.sort();
        assert_eq!(self.alice.trusted(self.dir.path()), expected);
    }
}

#[test]
fn a_person_at_a_terminal_loses_no_line() {
    let dir = TempDir::created("terminal");
    let (_broker, port) = start_broker(dir.path());
    let w = AtTerminal::new(dir, port);
    let (pa, pd) = w.alice_and_dave_chat();
    let (pb, question) = w.bob_asks(&pa);
    w.lines_typed_meanwhile_are_all_sent(&pa, &pd, &question);

    // Commands are never sent; `//` sends a line that starts with '/'.
    pa.send("/frobnicate");
    pa.send("//slash at the start");
    let escaped = format!("msg {} /slash at the start", w.alice.who());
    pd.expect_line("the escaped line", escaped);

    w.alice_approves_bob_by_command(&pa, &pb);
    let pc = w.alice_refuses_carol_by_command(&pa);
    let _pe = w.alice_trusts_eve_from_the_chat(&pa, &pd);
    w.no_command_sent_and_only_the_approved_trusted(&pa, [&pb, &pc, &pd]);
}

/// Lines typed while the broker is down are queued and sent once it is back; the
/// reconnection backs off (a warning when the connection is lost, not one a second)
/// and says when it succeeded; lines that never reach a broker are named on leaving.
#[test]
fn lines_wait_for_the_broker_and_are_never_lost_silently() {
    let dir = TempDir::created("delivery");
    let (alice, bob) = two_friends(&dir);
    lines_typed_in_an_outage_are_sent_on_reconnection(&dir, &alice, &bob);
    unsent_lines_are_named_on_leaving(&dir, &alice);
}

/// The broker goes away for a few seconds while Alice and Bob chat: what Alice types
/// meanwhile is queued, then sent once she reconnected, with at most two warnings.
fn lines_typed_in_an_outage_are_sent_on_reconnection(dir: &TempDir, alice: &Person, bob: &Person) {
    let home = dir.path();
    let (broker, port) = start_broker(home);
    let mut pa = alice.chat(home, port, &[]);
    let mut pb = bob.chat(home, port, &[]);
    pa.expect_start("ready", "ready ");
    pb.expect_start("ready", "ready ");
    pa.send("before the outage");
    pa.expect_line("a confirmation", "sent 1 before the outage");
    pb.expect_line(
        "Alice's line",
        format!("msg {} before the outage", alice.who()),
    );

    drop(broker);
    pa.expect_err("a warning", |l| l.contains("connection to the broker lost"));
    pa.send("during the outage");
    pa.send("still down");
    pa.expect_line("line 2 queued", "queued 2 during the outage");
    pa.expect_line("line 3 queued", "queued 3 still down");
    thread::sleep(Duration::from_secs(4));
    let _broker = start_broker_on(home, port).expect("mosquitto again on the same port");
    pa.expect_err("the reconnection", |l| {
        l.starts_with("reconnected to the broker")
    });
    pa.expect_line("line 2 confirmed", "sent 2 during the outage");
    pa.expect_line("line 3 confirmed", "sent 3 still down");
    // Once both are back, what Alice types reaches Bob again.
    pb.expect_err("the reconnection", |l| {
        l.starts_with("reconnected to the broker")
    });
    pa.send("after the outage");
    let line = format!("msg {} after the outage", alice.who());
    pb.expect_line("Alice's line after the outage", line);
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
}

/// A chat whose broker never comes back names its unsent lines, and fails.
fn unsent_lines_are_named_on_leaving(dir: &TempDir, alice: &Person) {
    let home = dir.path();
    let (broker, port) = start_broker(home);
    let mut pa = alice.chat(home, port, &[]);
    pa.expect_start("ready", "ready ");
    drop(broker);
    pa.expect_err("a warning", |l| l.contains("connection to the broker lost"));
    pa.send("into the void");
    pa.expect_line("queued", "queued 1 into the void");
    let status = pa.finish(STEP);
    assert_eq!(status.code(), Some(1), "{}", pa.transcript());
    pa.expect_line("the unsent line named", "not-sent 1 into the void");
    // stderr is read by its own thread: wait for the line before counting.
    pa.expect_err("an error line", |l| l.starts_with("error:"));
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
    pa.expect_start("ready", format!("ready {} key", alice.who()));
    let pb = bob.chat(home, port, &["--pair-for", "30"]);
    pb.expect_start("ready", format!("ready {} no-key", bob.who()));
    // Bob's window trusts Alice, the one who answered him.
    pb.expect_start("the key", format!("key-received {}", alice.who()));
    pb.expect_start("trust in Alice", format!("trusted {} replier", alice.who()));

    // Carol introduces herself inside Bob's window: Alice answers, Bob must not.
    let pc = carol.chat(home, port, &["--pair-for", "30"]);
    pc.expect_start("the key", "key-received ");
    pb.expect_start(
        "Carol not admitted",
        format!("intro-ignored {}", carol.who()),
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
    pb.expect_start("ready", format!("ready {} no-key", bob.who()));
    pb.expect_start("the key", format!("key-received {}", alice.who()));
    let pd = dave.chat(home, port, &["--pair-for", "30"]);
    pb.expect_start("Dave admitted", format!("trusted {} newcomer", dave.who()));
    pb.expect_start("a reply", format!("reply-sent {}", dave.who()));
    pd.expect_start("trust in Bob", format!("trusted {} replier", bob.who()));
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
    pa.expect_start("ready", "ready ");
    pb.expect_start("ready", "ready ");
    pb.send("in hex");
    let hint = pa.expect_start(
        "Bob's hex payload named",
        format!("refused {} hex text of a stringphone message", bob.who()),
    );
    assert!(hint.contains("--hex"), "{hint}");
    assert!(!hint.contains("unknown message type"), "{hint}");
    pa.send("raw bytes");
    let hint = pb.expect_start(
        "Alice's raw payload named",
        format!(
            "refused {} not hex text: a raw stringphone message",
            alice.who()
        ),
    );
    assert!(hint.contains("without --hex"), "{hint}");

    // Two --hex chats read each other.
    let pa2 = {
        drop(pa);
        alice.chat(home, port, &["--hex"])
    };
    pa2.expect_start("ready", "ready ");
    pb.send("hex to hex");
    pa2.expect_line("Bob's line", format!("msg {} hex to hex", bob.who()));
}
