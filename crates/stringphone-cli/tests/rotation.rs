//! v2 rotations from the command, over a real mosquitto broker (started by each test on
//! a free loopback port): an admin rotates a member out (`/remove` in a chat, and the
//! one-shot `stringphone rotate --remove`), a chat restarted again and again resumes
//! its epoch and refuses replays (published again by a raw MQTT client), a second
//! process of the same identity is refused by the sender lease, and a newcomer joins an
//! epoch that lists its members through an admin's rotation. Needs the Debian package
//! `mosquitto`.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{ok, on_terminal, refused, run, start_broker, Person as Who, Proc, TempDir, STEP};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use stringphone::v2::wire::V2Type;
use stringphone::Message;

const TOPIC: &str = "stringphone/test/rotation";

/// The chat of these tests (`--protocol v2` on this topic, with the key file) and the
/// one-shot rotation.
trait V2Chat {
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc;
    fn chat_command(&self, home: &Path, port: u16, extra: &[&str]) -> Command;
    fn rotate(&self, home: &Path, port: u16, remove: &[&Who]) -> Output;
    fn rotate_with(&self, home: &Path, port: u16, extra: &[&str]) -> Output;
}

impl V2Chat for Who {
    /// `chat --protocol v2` with this participant's key file, and `extra` arguments.
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc {
        Proc::spawn(self.name, self.chat_command(home, port, extra))
    }

    fn chat_command(&self, home: &Path, port: u16, extra: &[&str]) -> Command {
        let mut c = self.chat_on(home, port, TOPIC);
        c.args(["--protocol", "v2", "--linger", "1"])
            .arg("--key-file")
            .arg(&self.key)
            .args(extra);
        c
    }

    /// `stringphone rotate` as this participant, with its key file, removing `remove`.
    fn rotate(&self, home: &Path, port: u16, remove: &[&Who]) -> Output {
        let mut extra = vec!["--key-file", self.key.to_str().unwrap()];
        for w in remove {
            extra.extend(["--remove", &w.fp]);
        }
        self.rotate_with(home, port, &extra)
    }

    /// `stringphone rotate` as this participant, with `extra` arguments.
    fn rotate_with(&self, home: &Path, port: u16, extra: &[&str]) -> Output {
        let broker = format!("mqtt://127.0.0.1:{port}");
        let mut args = vec![
            "--state-dir",
            self.state.to_str().unwrap(),
            "rotate",
            "--broker",
            &broker,
            "--topic",
            TOPIC,
            "--seed-file",
            self.seed.to_str().unwrap(),
        ];
        args.extend(extra);
        run(home, &args, b"")
    }
}

/// A raw MQTT client on the topic, as an attacker on the channel: records every
/// payload, and publishes any bytes again.
struct Wire {
    client: Client,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Wire {
    fn connect(port: u16) -> Self {
        let mut options =
            MqttOptions::new(format!("wire-{}", std::process::id()), "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(options, 16);
        client.subscribe(TOPIC, QoS::AtLeastOnce).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (subscribed, is_subscribed) = std::sync::mpsc::channel();
        let sink = Arc::clone(&seen);
        thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        sink.lock().unwrap().push(p.payload.to_vec());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        is_subscribed
            .recv_timeout(STEP)
            .expect("the raw client subscribed");
        Wire { client, seen }
    }

    /// The v2 messages (type `m`) seen so far from `sender` (its id in hex), oldest
    /// first.
    fn messages_from(&self, sender: &str) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| match Message::parse(p) {
                Ok(Message::V2(m)) => {
                    m.header().message_type() == V2Type::Message
                        && m.header().sender_id().to_string() == sender
                }
                _ => false,
            })
            .cloned()
            .collect()
    }

    /// Waits until `n` v2 messages of `sender` were seen; returns the last.
    fn nth_message_from(&self, sender: &str, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + STEP;
        loop {
            let all = self.messages_from(sender);
            if all.len() >= n {
                return all[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "the raw client saw {} of {n}",
                all.len()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn replay(&self, payload: &[u8]) {
        self.client
            .publish(TOPIC, QoS::AtLeastOnce, false, payload.to_vec())
            .unwrap();
    }
}

/// Alice, Bob and Carol in one directory, and the broker they talk over: they hold the
/// topic key (Alice made it) and trust each other; Bob and Carol name Alice an admin
/// when their chats start (`chat --admin`, see `Three::chat_ready`).
struct Three {
    _broker: Proc,
    port: u16,
    a: Who,
    b: Who,
    c: Who,
    dir: TempDir,
}

impl Three {
    fn new(name: &str) -> Self {
        let dir = TempDir::created(name);
        let home = dir.path();
        let (broker, port) = start_broker(home);
        let a = Who::new(&dir, "alice");
        let b = Who::new(&dir, "bob");
        let c = Who::new(&dir, "carol");
        a.make_topic_key(home);
        std::fs::copy(&a.key, &b.key).unwrap();
        std::fs::copy(&a.key, &c.key).unwrap();
        a.trust(home, &[&b, &c]);
        b.trust(home, &[&c]);
        c.trust(home, &[&b]);
        Three {
            _broker: broker,
            port,
            a,
            b,
            c,
            dir,
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `who`'s chat (naming Alice an admin if `admin`), once ready with the key.
    fn chat_ready(&self, who: &Who, admin: bool) -> Proc {
        let naming_alice = ["--admin", self.a.pk.as_str()];
        let extra: &[&str] = if admin { &naming_alice } else { &[] };
        let p = who.chat(self.home(), self.port, extra);
        p.expect_start("ready", format!("ready {} key", who.who()));
        p
    }

    /// Alice's, Bob's and Carol's chats, Bob and Carol naming Alice an admin.
    fn three_chats(&self) -> (Proc, Proc, Proc) {
        let pa = self.chat_ready(&self.a, false);
        let pb = self.chat_ready(&self.b, true);
        let pc = self.chat_ready(&self.c, true);
        (pa, pb, pc)
    }

    /// Alice's trust list names Carol (`listed`) or not, and the epoch it holds.
    fn alice_lists(&self, carol_listed: bool, epoch: &str) {
        let alice = self.a.trust_list(self.home());
        assert!(
            alice.contains(&self.c.id) == carol_listed && alice.contains(epoch),
            "{alice}"
        );
    }
}

/// The first line of `p`'s stdout after the first `from` lines that satisfies `pred`,
/// waiting up to `STEP` for it.
fn next_line(p: &Proc, from: usize, pred: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if let Some(l) = p.out.snapshot().iter().skip(from).find(|l| pred(l)) {
            return Some(l.clone());
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

fn finish_all(procs: &mut [&mut Proc]) {
    common::finish_all(procs, STEP);
}

/// `/remove` in an admin's chat rotates Carol out: Bob follows to the new epoch and
/// keeps reading Alice; Carol's chat refuses the rekey that leaves her out and reads
/// nothing new; what Carol sends afterwards is refused by Bob (who still trusts her)
/// as well as by Alice (who no longer does).
#[test]
fn an_admins_remove_rotates_a_member_out() {
    let w = Three::new("rot-remove");
    let mut pa = w.chat_ready(&w.a, false);
    pa.expect_line("epoch 0, as admin", "epoch 0 admin");
    let mut pb = w.chat_ready(&w.b, true);
    pb.expect_line("Alice named admin", format!("admin {}", w.a.who()));
    let mut pc = w.chat_ready(&w.c, true);

    carol_is_rotated_out(&w, &pa, &pb, &pc);
    carol_and_the_new_epoch_read_nothing_of_each_other(&w, &pa, &pb, &pc);
    carols_rejoin_is_ignored(&w, &pa, &pb, &pc);
    thread::sleep(Duration::from_millis(300));
    finish_all(&mut [&mut pa, &mut pb, &mut pc]);
    nobody_read_across_the_removal(&pa, &pb, &pc);
    bob_knows_alice_as_admin_until_he_removes_her(&w);
}

/// Alice's `/remove` of Carol rotates the topic key: Bob follows, Carol's chat is
/// told the rotation leaves her out.
fn carol_is_rotated_out(w: &Three, pa: &Proc, pb: &Proc, pc: &Proc) {
    let (a, c) = (&w.a, &w.c);
    pa.send("before the removal");
    for p in [pb, pc] {
        p.expect_line(
            "Alice's first line",
            format!("msg {} before the removal", a.who()),
        );
    }
    pa.send(&format!("/remove {}", c.fp));
    pa.expect_line("Carol removed", format!("removed {}", c.who()));
    let rotated = format!("rotated 1 {} 2 members", a.who());
    pa.expect_line("the rotation", &rotated);
    pb.expect_line("Bob follows the rotation", &rotated);
    let left_out = format!("rekey-refused {} this rotation leaves us out", a.who());
    pc.expect_start("Carol told the rotation leaves her out", left_out);
}

/// After the rotation Bob reads Alice and she him; Carol cannot read Alice, and
/// what Carol sends is refused by Bob (who still trusts her) and by Alice.
fn carol_and_the_new_epoch_read_nothing_of_each_other(w: &Three, pa: &Proc, pb: &Proc, pc: &Proc) {
    let (a, b, c) = (&w.a, &w.b, &w.c);
    pa.send("after the removal");
    let alices = format!("msg {} after the removal", a.who());
    pb.expect_line("Alice's line after the removal", alices);
    let sealed = format!("refused {} sealed under epoch 1", a.who());
    pc.expect_start("Alice's new-epoch line refused", sealed);
    pb.send("bob after the removal");
    pa.expect_line(
        "Bob's line",
        format!("msg {} bob after the removal", b.who()),
    );
    pc.send("carol after the removal");
    let left_out = format!("refused {} left out of epoch 1", c.who());
    pb.expect_start("Carol's line refused by Bob", left_out);
    pa.expect_start(
        "Carol's line refused by Alice",
        format!("refused {}", c.who()),
    );
}

/// Carol asks to come back: Bob still trusts her, but his chat does not rotate a
/// participant the epoch does not list back in on its introduction alone; Alice no
/// longer trusts her. Alice's group lists Bob alone.
fn carols_rejoin_is_ignored(w: &Three, pa: &Proc, pb: &Proc, pc: &Proc) {
    let c = &w.c;
    pc.send("/rejoin");
    pc.expect_line("Carol's introduction", "intro-sent");
    let not_a_member = format!(
        "intro-ignored {} trusted, but not a member of epoch 1",
        c.who()
    );
    pb.expect_start("Bob ignores it", not_a_member);
    let not_approved = format!("intro-ignored {} not approved", c.who());
    pa.expect_start("Alice ignores it", not_approved);
    pa.send("/group");
    pa.expect_line("the group", "epoch 1 members 2");
    pa.expect_line("Bob listed", format!("member {}", w.b.who()));
}

/// Carol read nothing of epoch 1, and nobody read Carol after her removal.
fn nobody_read_across_the_removal(pa: &Proc, pb: &Proc, pc: &Proc) {
    assert!(
        !pc.has_line(|l| l.starts_with("key-received") || l.starts_with("rotated")),
        "{}",
        pc.transcript()
    );
    for line in ["after the removal", "bob after the removal"] {
        assert!(
            !pc.has_line(|l| l.starts_with("msg ") && l.ends_with(line)),
            "{}",
            pc.transcript()
        );
    }
    for p in [pa, pb] {
        assert!(
            !p.has_line(|l| l.ends_with("carol after the removal") && l.starts_with("msg ")),
            "{}",
            p.transcript()
        );
    }
}

/// On disk: Alice no longer trusts Carol; Bob's store knows Alice as an admin and
/// member of epoch 1. `trust remove` in Bob's directory takes Alice's admin right
/// too: trusting her again does not give it back (her rotations would be refused).
fn bob_knows_alice_as_admin_until_he_removes_her(w: &Three) {
    let (home, a, b) = (w.home(), &w.a, &w.b);
    w.alice_lists(false, "epoch 1 members 2");
    let bob = b.trust_list(home);
    assert!(
        bob.lines()
            .any(|l| l.starts_with(&a.who()) && l.ends_with(" admin member")),
        "{bob}"
    );
    assert!(bob.contains("epoch 1 members 2"), "{bob}");

    assert_eq!(b.untrust(home, &a.fp), format!("removed {}\n", a.who()));
    b.trust(home, &[a]);
    let bob = b.trust_list(home);
    let alice_line = bob.lines().find(|l| l.starts_with(&a.who())).unwrap_or("");
    assert!(
        !alice_line.contains(" admin"),
        "Alice is an admin again after removal and re-trust: {bob}"
    );
    assert!(
        !bob.lines().any(|l| l == format!("admin {}", a.who())),
        "{bob}"
    );
}

/// A member restarted again and again resumes the epoch it was rotated to (the key
/// file still holds epoch 0's key, and never takes it back), reads what is sent in the
/// current epoch, and refuses every message published again by a raw client: the
/// current epoch's, an earlier one's, across clean exits and a kill.
#[test]
fn a_restarted_chat_resumes_its_epoch_and_refuses_replays() {
    let w = Three::new("rot-restart");
    let (home, a, b) = (w.home(), &w.a, &w.b);
    let key_file_before = std::fs::read(&b.key).unwrap();
    let wire = Wire::connect(w.port);
    let mut pa = w.chat_ready(a, false);
    let mut pb = w.chat_ready(b, true);
    let (old, current) = alice_sends_in_epochs_0_and_1(&w, &pa, &pb, &wire);

    // Alice restarts too, with her key file (epoch 0's key): she resumes epoch 1.
    finish_all(&mut [&mut pa]);
    let mut pa = a.chat(home, w.port, &[]);
    pa.expect_line("Alice resumes epoch 1", "epoch 1 admin");
    // Bob, who has run since the rotation, reads her: she seals with the epoch-1 key
    // from the state directory, not her key file's.
    pa.send("after Alice's restart");
    let alices = format!("msg {} after Alice's restart", a.who());
    pb.expect_line("Alice's line after her restart", alices);

    let restarts = 6;
    for round in 0..restarts {
        let crash = round == restarts - 1;
        pb = bob_restarts_and_refuses_replays(&w, pb, crash, &wire, [&current, &old], round);
        if !crash {
            // A message stored ahead after a crash may refuse a few of Alice's next
            // lines (up to a block): only clean restarts read on at once.
            let line = format!("after restart {round}");
            pa.send(&line);
            pb.expect_line("Alice's current line", format!("msg {} {line}", a.who()));
        }
    }
    finish_all(&mut [&mut pa, &mut pb]);
    assert!(
        !pb.has_line(|l| l.starts_with("rekey-")),
        "the retained rekey of the epoch held is taken quietly\n{}",
        pb.transcript()
    );
    // The key file was never rewritten: the state directory holds the current key.
    assert_eq!(std::fs::read(&b.key).unwrap(), key_file_before);
    assert_eq!(std::fs::read(&a.key).unwrap(), key_file_before);
}

/// Alice sends a line in epoch 0, rotates (to every trusted participant: Bob, and
/// Carol, whose chat never runs here) and sends one in epoch 1; Bob reads both.
/// Returns the two lines' bytes as the raw client saw them: (epoch 0's, epoch 1's).
fn alice_sends_in_epochs_0_and_1(
    w: &Three,
    pa: &Proc,
    pb: &Proc,
    wire: &Wire,
) -> (Vec<u8>, Vec<u8>) {
    let a = &w.a;
    pa.send("in epoch 0");
    pb.expect_line(
        "Alice's epoch-0 line",
        format!("msg {} in epoch 0", a.who()),
    );
    let old = wire.nth_message_from(&a.id, 1);
    pa.send("/rotate");
    let rotated = format!("rotated 1 {} 3 members", a.who());
    pa.expect_line("the rotation", &rotated);
    pb.expect_line("Bob follows", &rotated);
    pa.send("in epoch 1");
    pb.expect_line(
        "Alice's epoch-1 line",
        format!("msg {} in epoch 1", a.who()),
    );
    let current = wire.nth_message_from(&a.id, 2);
    (old, current)
}

/// Bob's chat leaves (killed if `crash`, else cleanly) and starts again: it resumes
/// epoch 1 and refuses each of `replayed` published again. Returns the new chat.
fn bob_restarts_and_refuses_replays(
    w: &Three,
    mut pb: Proc,
    crash: bool,
    wire: &Wire,
    replayed: [&[u8]; 2],
    round: usize,
) -> Proc {
    let (a, b) = (&w.a, &w.b);
    if crash {
        pb.child.kill().unwrap();
        pb.child.wait().unwrap();
    } else {
        finish_all(&mut [&mut pb]);
    }
    drop(pb);
    let pb = b.chat(w.home(), w.port, &[]);
    pb.expect_start("ready", format!("ready {} key", b.who()));
    // (Bob started the topic with a key file too, so he counts himself an admin:
    // only members who name him one would take his rotations.)
    pb.expect_line("the epoch resumed", "epoch 1 admin");
    for (what, payload) in ["the epoch-1 line", "the epoch-0 line"]
        .into_iter()
        .zip(replayed)
    {
        let before = pb.out.snapshot().len();
        wire.replay(payload);
        let verdict = next_line(&pb, before, |l| {
            l.starts_with(&format!("refused {} ", a.who())) || l.starts_with("msg ")
        });
        assert!(
            verdict
                .as_deref()
                .is_some_and(|l| l.starts_with("refused ")),
            "round {round}: {what} replayed was not refused: {verdict:?}\n{}",
            pb.transcript()
        );
    }
    pb
}

/// `stringphone rotate` beside a running chat of the same identity on the same state
/// directory is refused with the sender lease's one line, and changes nothing; once
/// the chat is gone it removes Carol and rotates. Bob, whose chat was not running
/// then, gets the (retained) rekey when it comes back; Carol's chat refuses it.
#[test]
fn stringphone_rotate_is_refused_beside_a_chat_and_rotates_alone() {
    let w = Three::new("rot-oneshot");
    let (home, port, a, b, c) = (w.home(), w.port, &w.a, &w.b, &w.c);
    let (mut pa, mut pb, mut pc) = w.three_chats();
    alice_is_refused_beside_her_chat(&w);
    finish_all(&mut [&mut pa, &mut pb]);

    // An unreachable broker: refused before anything changed.
    let out = a.rotate(home, common::free_port(), &[c]);
    refused(&out, "cannot connect to broker");
    w.alice_lists(true, "epoch 0 ");

    let out = ok(&a.rotate(home, port, &[c]));
    assert_eq!(
        out,
        format!("removed {}\nrotated 1 {} 2 members\n", c.who(), a.who())
    );
    let left_out = format!("rekey-refused {} this rotation leaves us out", a.who());
    pc.expect_start("Carol left out", left_out);
    w.alice_lists(false, "epoch 1 members 2");

    let mut pb = w.chat_ready(b, false);
    let kept = format!("rotated 1 {} 2 members", a.who());
    pb.expect_line("the rekey kept by the broker", kept);
    let mut pa = a.chat(home, port, &[]);
    pa.expect_line("Alice at epoch 1", "epoch 1 admin");
    pa.send("after the one-shot rotation");
    let alices = format!("msg {} after the one-shot rotation", a.who());
    pb.expect_line("Alice's line", alices);
    let sealed = format!("refused {} sealed under epoch 1", a.who());
    pc.expect_start("Carol cannot read it", sealed);
    thread::sleep(Duration::from_millis(300));
    finish_all(&mut [&mut pa, &mut pb, &mut pc]);
    assert!(!pc.has_line(|l| l.ends_with("after the one-shot rotation") && l.starts_with("msg ")));
}

/// While Alice's chat runs, `stringphone rotate` as Alice is refused with the sender
/// lease's one line and changes nothing; a second chat of Alice's is refused the same
/// way, before it joins.
fn alice_is_refused_beside_her_chat(w: &Three) {
    let (home, port, a) = (w.home(), w.port, &w.a);
    let out = a.rotate(home, port, &[&w.c]);
    refused(&out, "is sending as this identity from");
    w.alice_lists(true, "epoch 0 ");

    let mut second = a.chat(home, port, &[]);
    let status = second.finish(STEP);
    assert!(!status.success());
    second.expect_err("the lease's refusal", |l| {
        l.contains("is sending as this identity")
    });
    assert!(second.out.snapshot().is_empty(), "{}", second.transcript());
}

/// Once an epoch lists its members, replies go only to listed members: a newcomer gets
/// in through an admin's rotation. Alice, an admin at a terminal, approves Bob (who
/// names her an admin) and hands him the key, then rotates. Dave asks to join: Bob,
/// who joined by discovery and is no admin, says an admin must add him; Alice's chat
/// asks her, and her `/approve` trusts Dave and rotates him in. Dave, keyless and
/// naming Alice an admin, takes the rekey that lists him, saves the key, reads Alice.
#[test]
fn a_newcomer_joins_a_listed_epoch_through_an_admins_rotation() {
    let dir = TempDir::created("rot-newcomer");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let a = Who::new(&dir, "alice");
    let b = Who::new(&dir, "bob");
    let d = Who::new(&dir, "dave");
    a.make_topic_key(home);

    let chat = a.chat_command(home, port, &[]);
    let pa = Proc::spawn("alice (terminal)", on_terminal(&chat));
    pa.expect_start("ready", format!("ready {} key", a.who()));
    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    alice_approves_bob_and_rotates(&a, &b, &pa, &pb);

    // Dave has not named Alice an admin (yet).
    let mut pd = d.chat(home, port, &[]);
    pd.expect_start("ready", format!("ready {} no-key", d.who()));
    alice_approves_dave_and_rotates_him_in(&a, &d, &pa, &pb, &pd);
    pa.send("welcome Dave");
    for p in [&pb, &pd] {
        p.expect_line("Alice's line", format!("msg {} welcome Dave", a.who()));
    }
    finish_all(&mut [&mut pb, &mut pd]);
    assert!(
        !pa.has_line(|l| l.starts_with(&format!("reply-sent {}", d.who()))),
        "{}",
        pa.transcript()
    );
    // Dave saved the first key he got; the state directory holds the epoch.
    assert!(d.key.exists());
    assert!(d.trust_list(home).contains("epoch 2 members 3"));

    // Bob, who joined by discovery, is no admin: his rotation is refused, and so is
    // one without any topic key.
    refused(&b.rotate(home, port, &[]), "is not an admin of this topic");
    let erin = Who::new(&dir, "erin");
    refused(&erin.rotate_with(home, port, &[]), "no topic key");
}

/// Bob, keyless and naming Alice an admin, is not one himself; Alice approves him
/// at her terminal, he gets the key, and she rotates: he follows.
fn alice_approves_bob_and_rotates(a: &Who, b: &Who, pa: &Proc, pb: &Proc) {
    pb.expect_start("ready", format!("ready {} no-key", b.who()));
    pb.expect_line("not an admin himself", "epoch 0");
    let question = format!("approve? newcomer {} wants the topic key", b.who());
    pa.expect_start("the question about Bob", question);
    pa.send(&format!("/approve {}", b.fp));
    pb.expect_start("the key", format!("key-received {}", a.who()));
    pa.send("/rotate");
    let rotated = format!("rotated 1 {} 2 members", a.who());
    pa.expect_line("the rotation", &rotated);
    pb.expect_line("Bob follows", &rotated);
}

/// Dave asks to join epoch 1: Bob says an admin must add him; Alice is asked, and
/// her `/approve` trusts Dave and rotates him in. Dave refuses that rekey until he
/// names Alice an admin, then takes it.
fn alice_approves_dave_and_rotates_him_in(a: &Who, d: &Who, pa: &Proc, pb: &Proc, pd: &Proc) {
    pb.expect_start(
        "Bob says an admin must add Dave",
        format!(
            "intro-ignored {} not a member of epoch 1: replies go only to listed members, \
             and only an admin adds a newcomer",
            d.who()
        ),
    );
    pa.expect_start(
        "the question about Dave",
        format!(
            "approve? newcomer {} wants to join: the epoch lists its members, so approving \
             trusts it and rotates the topic key to include it",
            d.who()
        ),
    );
    pa.send(&format!("/approve {}", d.fp));
    pa.expect_line("Dave trusted", format!("trusted {} newcomer", d.who()));
    let rotated = format!("rotated 2 {} 3 members", a.who());
    pa.expect_line("Dave rotated in", &rotated);
    pb.expect_line("Bob follows", &rotated);
    let not_admin = format!("rekey-refused {} not an admin here", a.who());
    pd.expect_start(
        "Dave refuses a rotation from someone he did not name admin",
        not_admin,
    );
    assert!(!pd.has_line(|l| l == rotated), "{}", pd.transcript());
    pd.send(&format!("/admin {}", a.pk));
    pd.expect_line("Alice named admin", format!("admin {}", a.who()));
    pd.expect_line("Dave takes the rekey listing him", &rotated);
}

/// A member whose chat was away for two rotations cannot follow the one rekey the
/// broker kept (it follows an epoch the member never saw): its chat says so, and
/// `/rejoin` gets it the current key from a member.
#[test]
fn a_member_that_missed_two_rotations_rejoins() {
    let w = Three::new("rot-rejoin");
    let (home, port, a, b) = (w.home(), w.port, &w.a, &w.b);
    w.a.untrust(home, &w.c.fp);
    let mut pb = w.chat_ready(b, true);
    finish_all(&mut [&mut pb]);
    for epoch in 1..=2 {
        let out = ok(&a.rotate(home, port, &[]));
        assert_eq!(out, format!("rotated {epoch} {} 2 members\n", a.who()));
    }

    let mut pa = a.chat(home, port, &["--pair-for", "60"]);
    pa.expect_line("Alice at epoch 2", "epoch 2 admin");
    let mut pb = b.chat(home, port, &[]);
    bob_rejoins_after_missing_a_rotation(&w, &pa, &pb);

    // A newcomer in Alice's pairing window (she started with the key, so it admits
    // newcomers): trusted and rotated in at once.
    let e = Who::new(&w.dir, "erin");
    let mut pe = e.chat(home, port, &["--admin", &a.pk]);
    pe.expect_start("ready", format!("ready {} no-key", e.who()));
    pa.expect_line("Erin trusted", format!("trusted {} newcomer", e.who()));
    let rotated = format!("rotated 3 {} 3 members", a.who());
    for p in [&pa, &pb, &pe] {
        p.expect_line("Erin rotated in", &rotated);
    }
    finish_all(&mut [&mut pa, &mut pb, &mut pe]);
}

/// Bob, back at epoch 0, refuses the kept rekey to epoch 2 and says to `/rejoin`;
/// his `/rejoin` gets Alice's answer with the current key, and he reads her.
fn bob_rejoins_after_missing_a_rotation(w: &Three, pa: &Proc, pb: &Proc) {
    let (a, b) = (&w.a, &w.b);
    pb.expect_start("Bob still at epoch 0", "epoch 0");
    pb.expect_start(
        "the kept rekey refused",
        format!(
            "rekey-refused {} a rotation to epoch 2, which does not follow our epoch 0: we \
             missed a rotation; /rejoin",
            a.who()
        ),
    );
    pb.send("/rejoin");
    pb.expect_line("an introduction", "intro-sent");
    pa.expect_line("Alice answers", format!("reply-sent {}", b.who()));
    pb.expect_line("the current key", format!("key-received {}", a.who()));
    pb.send("/group");
    pb.expect_line("Bob at epoch 2", "epoch 2 members 2");
    pa.send("after the rejoin");
    pb.expect_line("Alice's line", format!("msg {} after the rejoin", a.who()));
}
