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

use common::{
    finish_all, free_port, on_terminal, start_broker, starts, Person as Who, Proc, TempDir, STEP,
};
use stringphone::protocol::MarkSlot;
use stringphone::ParticipantId;
use stringphone_store_sqlite::SqliteTrustStore;

/// The pairing windows: long enough for B and C to join inside them.
const PAIR_SECS: u64 = 8;

/// The chat of this test: topic `stringphone/test/room`, a pairing window or not, the
/// key file or not.
trait RoomChat {
    fn chat(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Proc;
    fn chat_command(&self, home: &Path, port: u16, pair: bool, with_key_file: bool) -> Command;
    fn v2_chat(&self, home: &Path, port: u16, pair: bool) -> Proc;
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

    /// The chat with the key file, `--protocol v2`.
    fn v2_chat(&self, home: &Path, port: u16, pair: bool) -> Proc {
        let mut c = self.chat_command(home, port, pair, true);
        c.args(["--protocol", "v2"]);
        Proc::spawn(self.name, c)
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The five participants of `five_participants_over_a_real_broker`, in one directory,
/// and the port of their broker. Alice made the topic key; Eve was handed it out of
/// band, and nobody ever approves her.
struct Five {
    dir: TempDir,
    port: u16,
    a: Who,
    b: Who,
    c: Who,
    d: Who,
    e: Who,
}

/// What each participant types in `five_participants_over_a_real_broker`.
fn lines_of(w: &Who) -> Vec<String> {
    vec![
        format!("hello from {}", w.name),
        format!("{}: ünïcödé ✓, a tab\there and a bell \u{7}", w.name),
    ]
}

impl Five {
    fn new(dir: TempDir, port: u16) -> Self {
        let home = dir.path();
        let [a, b, c, d, e] = ["alice", "bob", "carol", "dave", "eve"].map(|n| Who::new(&dir, n));
        a.make_topic_key(home);
        std::fs::copy(&a.key, &e.key).unwrap();
        Five {
            dir,
            port,
            a,
            b,
            c,
            d,
            e,
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Alice, with the key, opens a pairing window; Bob joins through discovery, and
    /// admits the newcomers of his window. Returns their chats.
    fn alice_pairs_bob(&self) -> (Proc, Proc) {
        let (a, b) = (&self.a, &self.b);
        let pa = a.chat(self.home(), self.port, true, true);
        pa.expect_start("ready", format!("ready {} key", a.who()));
        let pb = {
            let mut command = b.chat_command(self.home(), self.port, true, true);
            command.arg("--admit-newcomers");
            Proc::spawn(b.name, command)
        };
        pb.expect_start("ready", format!("ready {} no-key", b.who()));
        pb.expect_start("the key from Alice", format!("key-received {}", a.who()));
        pb.expect_start("trust in Alice", format!("trusted {} replier", a.who()));
        pa.expect_start("trust in Bob", format!("trusted {} newcomer", b.who()));
        pa.expect_start("a reply to Bob", format!("reply-sent {}", b.who()));
        (pa, pb)
    }

    /// Carol joins: both Alice and Bob answer, and she trusts both. Then the three
    /// windows close. Returns Carol's chat.
    fn carol_joins_both(&self, pa: &Proc, pb: &Proc) -> Proc {
        let (a, b, c) = (&self.a, &self.b, &self.c);
        let pc = c.chat(self.home(), self.port, true, true);
        pc.expect_start("ready", format!("ready {} no-key", c.who()));
        pc.expect_start("the key", "key-received ");
        pc.expect_start("trust in Alice", format!("trusted {} replier", a.who()));
        pc.expect_start("trust in Bob", format!("trusted {} replier", b.who()));
        pa.expect_start("trust in Carol", format!("trusted {} newcomer", c.who()));
        pb.expect_start("trust in Carol", format!("trusted {} newcomer", c.who()));
        let window = Duration::from_secs(PAIR_SECS) + STEP;
        for p in [pa, pb, &pc] {
            p.expect(window, "the end of pairing", |l| l == "pairing-closed");
        }
        pc
    }

    /// Dave introduces himself after the windows closed: every member ignores him, and
    /// he has no key to send with. Returns his chat.
    fn dave_is_ignored(&self, members: [&Proc; 3]) -> Proc {
        let d = &self.d;
        let pd = d.chat(self.home(), self.port, false, false);
        pd.expect_start("ready", format!("ready {} no-key", d.who()));
        pd.expect_line("its introduction", "intro-sent");
        for p in members {
            let ignored = format!("intro-ignored {}", d.who());
            p.expect_start("Dave's introduction ignored", ignored);
        }
        pd.send("Dave wants in");
        pd.err
            .wait_for(STEP, |l| l.starts_with("cannot send: no topic key"))
            .unwrap_or_else(|| panic!("Dave sent without a key\n{}", pd.transcript()));
        pd
    }

    /// Alice, Bob, Carol and Eve (with the key, trusted by nobody) send their lines:
    /// each member reads the other two's, decoded, and refuses Eve's. Returns Eve's
    /// chat.
    fn members_read_each_other_and_refuse_eve(&self, members: [&Proc; 3]) -> Proc {
        let e = &self.e;
        let pe = e.chat(self.home(), self.port, false, true);
        pe.expect_start("ready", format!("ready {} key", e.who()));
        let members = [
            (members[0], &self.a),
            (members[1], &self.b),
            (members[2], &self.c),
        ];
        for (p, w) in members.into_iter().chain([(&pe, e)]) {
            for line in lines_of(w) {
                p.send(&line);
            }
        }
        let shown = |line: &str| line.replace('\t', "\\t").replace('\u{7}', "\\u{7}");
        for (receiver, rw) in members {
            for (_, sw) in members {
                if sw.name == rw.name {
                    continue;
                }
                for line in lines_of(sw) {
                    let want = format!("msg {} {}", sw.who(), shown(&line));
                    receiver.expect_line(&format!("{}'s line {line:?}", sw.name), &want);
                }
            }
            let refused = format!("refused {} untrusted sender", e.who());
            receiver.expect_start("Eve's messages refused", refused);
        }
        pe
    }

    /// In another terminal, Alice stops trusting Bob while her chat runs: from his
    /// next message on, her chat refuses him; Carol still reads him.
    fn alice_stops_trusting_bob(&self, pa: &Proc, pb: &Proc, pc: &Proc) {
        let b = &self.b;
        let out = self.a.untrust(self.home(), &b.fp);
        assert_eq!(out, format!("removed {}\n", b.who()));
        pb.send("after the removal");
        let bobs = format!("msg {} after the removal", b.who());
        pc.expect_line("Bob's line after the removal", bobs);
        let refused = format!("refused {} untrusted sender", b.who());
        pa.expect_start("Bob refused after the removal", refused);
        assert!(!pa.has_line(|l| l.ends_with("after the removal")));
    }

    /// Once stragglers had time to arrive: no member showed Dave's or Eve's messages
    /// or its own, and neither outsider got the key or read anything.
    fn no_outsider_got_in(&self, members: [&Proc; 3], pd: &Proc, pe: &Proc) {
        thread::sleep(Duration::from_millis(500));
        for (receiver, rw) in members.into_iter().zip([&self.a, &self.b, &self.c]) {
            for outsider in [&self.d, &self.e] {
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
    }

    /// What stayed on disk: the joiners saved the key, trust is mutual among members
    /// (but for Alice's removal of Bob), and the outsiders hold nothing.
    fn joiners_saved_the_key_and_trust_is_mutual(&self) {
        let (home, a, b, c) = (self.home(), &self.a, &self.b, &self.c);
        let key = std::fs::read(&a.key).unwrap();
        assert_eq!(std::fs::read(&b.key).unwrap(), key);
        assert_eq!(std::fs::read(&c.key).unwrap(), key);
        assert!(!self.d.key.exists());
        assert_eq!(a.trusted(home), vec![c.id.clone()]);
        assert_eq!(b.trusted(home), sorted(vec![a.id.clone(), c.id.clone()]));
        assert_eq!(c.trusted(home), sorted(vec![a.id.clone(), b.id.clone()]));
        assert!(self.d.trusted(home).is_empty());
        assert!(self.e.trusted(home).is_empty());
    }
}

#[test]
fn five_participants_over_a_real_broker() {
    let started = Instant::now();
    let dir = TempDir::created("mqtt");
    let (broker, port) = start_broker(dir.path());
    let w = Five::new(dir, port);

    let (mut pa, mut pb) = w.alice_pairs_bob();
    let mut pc = w.carol_joins_both(&pa, &pb);
    let mut pd = w.dave_is_ignored([&pa, &pb, &pc]);
    let mut pe = w.members_read_each_other_and_refuse_eve([&pa, &pb, &pc]);
    w.alice_stops_trusting_bob(&pa, &pb, &pc);
    w.no_outsider_got_in([&pa, &pb, &pc], &pd, &pe);

    // Everyone leaves when its stdin ends.
    finish_all(&mut [&mut pa, &mut pb, &mut pc, &mut pd, &mut pe], STEP);
    drop(broker);
    w.joiners_saved_the_key_and_trust_is_mutual();
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
    let pa = Proc::spawn("alice (terminal)", on_terminal(&chat));
    pa.expect_start("ready", format!("ready {} key", a.who()));

    // Bob asks; Alice sees his fingerprint and says yes. (Bob knew Alice's key
    // beforehand, and opens no pairing window: he would hand Carol the key.)
    b.trust(home, &[&a]);
    let pb = b.chat(home, port, false, true);
    pa.expect_start(
        "the prompt for Bob",
        format!("approve? newcomer {}", b.who()),
    );
    pa.send(&format!("/approve {}", b.fp));
    pa.expect_start("trust in Bob", format!("trusted {} newcomer", b.who()));
    pb.expect_start("the key", format!("key-received {}", a.who()));

    // Carol asks; Alice says no.
    let pc = c.chat(home, port, false, false);
    pa.expect_start(
        "the prompt for Carol",
        format!("approve? newcomer {}", c.who()),
    );
    pa.send(&format!("/refuse {}", c.fp));
    pa.expect_start("Carol refused", format!("not-approved {}", c.who()));

    // What Alice types reaches Bob.
    pa.send("typed at a terminal");
    pb.expect_line(
        "Alice's line",
        format!("msg {} typed at a terminal", a.who()),
    );
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

/// `w`'s state directory holds an exact replay mark for `sender`, as a clean exit
/// stores it.
fn holds_a_replay_mark_for(w: &Who, sender: &Who) {
    let marks = SqliteTrustStore::open(w.state.join("state.db"))
        .unwrap()
        .marks()
        .unwrap();
    let id = ParticipantId::from_hex(&sender.id).unwrap();
    assert!(marks.contains_key(&MarkSlot::Received(id)), "{marks:?}");
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

    let mut pa = a.v2_chat(home, port, true);
    pa.expect_start("ready", format!("ready {} key", a.who()));
    let mut pb = b.v2_chat(home, port, true);
    pb.expect_start("ready", format!("ready {} no-key", b.who()));
    pa.expect_start("trust in Bob", format!("trusted {} newcomer", b.who()));
    pa.expect_start("a reply", format!("reply-sent {}", b.who()));
    pb.expect_start("trust in Alice", format!("trusted {} replier", a.who()));
    pb.expect_start("the key", format!("key-received {}", a.who()));

    pa.send("hello in v2");
    pb.expect_line("Alice's line", format!("msg {} hello in v2", a.who()));
    pb.send("hi back");
    pa.expect_line("Bob's line", format!("msg {} hi back", b.who()));

    // Eve speaks classic: Alice's v2-only chat refuses her, saying why.
    let mut pe = e.chat(home, port, false, true);
    pe.expect_start("ready", format!("ready {} key", e.who()));
    pe.send("old format");
    let why = "this is a classic message and this topic speaks v2 only";
    let refused = format!("refused {} {why}", e.who());
    pa.expect_start("Eve's classic message refused", refused);

    // Bob leaves cleanly and comes back with the key he saved.
    assert!(pb.finish(STEP).success(), "{}", pb.transcript());
    holds_a_replay_mark_for(&b, &a);
    let pb = b.v2_chat(home, port, false);
    pb.expect_start("ready", format!("ready {} key", b.who()));
    pa.send("after Bob's restart");
    let line = format!("msg {} after Bob's restart", a.who());
    pb.expect_line("Alice's line after the restart", line);

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
