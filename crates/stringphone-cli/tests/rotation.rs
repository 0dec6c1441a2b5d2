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

use common::{ok, on_terminal, refused, run, start_broker, starts, Person as Who, Proc, TempDir};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use stringphone::v2::wire::V2Type;
use stringphone::Message;

/// Generous bound for any one step on a loaded machine.
const STEP: Duration = Duration::from_secs(20);
const TOPIC: &str = "stringphone/test/rotation";

/// The chat of these tests (`--protocol v2` on this topic, with the key file) and the
/// one-shot rotation.
trait V2Chat {
    fn chat(&self, home: &Path, port: u16, extra: &[&str]) -> Proc;
    fn chat_command(&self, home: &Path, port: u16, extra: &[&str]) -> Command;
    fn rotate(&self, home: &Path, port: u16, remove: &[&Who]) -> Output;
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

    /// `stringphone rotate` as this participant, removing `remove`.
    fn rotate(&self, home: &Path, port: u16, remove: &[&Who]) -> Output {
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
            "--key-file",
            self.key.to_str().unwrap(),
        ];
        for w in remove {
            args.extend(["--remove", &w.fp]);
        }
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

/// Alice, Bob and Carol hold the topic key (Alice made it) and trust each other;
/// Bob and Carol name Alice an admin (`chat --admin`).
fn three(dir: &TempDir) -> (Who, Who, Who) {
    let home = dir.path();
    let a = Who::new(dir, "alice");
    let b = Who::new(dir, "bob");
    let c = Who::new(dir, "carol");
    a.make_topic_key(home);
    std::fs::copy(&a.key, &b.key).unwrap();
    std::fs::copy(&a.key, &c.key).unwrap();
    a.trust(home, &[&b, &c]);
    b.trust(home, &[&c]);
    c.trust(home, &[&b]);
    (a, b, c)
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
    let dir = TempDir::created("rot-remove");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (a, b, c) = three(&dir);

    let mut pa = a.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));
    pa.expect(STEP, "epoch 0, as admin", |l| l == "epoch 0 admin");
    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    pb.expect(STEP, "Alice named admin", |l| {
        l == format!("admin {}", a.who())
    });
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
    let mut pc = c.chat(home, port, &["--admin", &a.pk]);
    pc.expect(STEP, "ready", starts(format!("ready {} key", c.who())));

    pa.send("before the removal");
    for p in [&pb, &pc] {
        p.expect(STEP, "Alice's first line", |l| {
            l == format!("msg {} before the removal", a.who())
        });
    }

    pa.send(&format!("/remove {}", c.fp));
    pa.expect(STEP, "Carol removed", |l| {
        l == format!("removed {}", c.who())
    });
    let rotated = format!("rotated 1 {} 2 members", a.who());
    pa.expect(STEP, "the rotation", |l| l == rotated);
    pb.expect(STEP, "Bob follows the rotation", |l| l == rotated);
    pc.expect(
        STEP,
        "Carol told the rotation leaves her out",
        starts(format!(
            "rekey-refused {} this rotation leaves us out",
            a.who()
        )),
    );

    pa.send("after the removal");
    pb.expect(STEP, "Alice's line after the removal", |l| {
        l == format!("msg {} after the removal", a.who())
    });
    pc.expect(
        STEP,
        "Alice's new-epoch line refused",
        starts(format!("refused {} sealed under epoch 1", a.who())),
    );
    pb.send("bob after the removal");
    pa.expect(STEP, "Bob's line", |l| {
        l == format!("msg {} bob after the removal", b.who())
    });
    pc.send("carol after the removal");
    pb.expect(
        STEP,
        "Carol's line refused by Bob",
        starts(format!("refused {} left out of epoch 1", c.who())),
    );
    pa.expect(
        STEP,
        "Carol's line refused by Alice",
        starts(format!("refused {}", c.who())),
    );

    // Carol asks to come back: Bob still trusts her, but his chat does not rotate a
    // participant the epoch does not list back in on its introduction alone; Alice no
    // longer trusts her.
    pc.send("/rejoin");
    pc.expect(STEP, "Carol's introduction", |l| l == "intro-sent");
    pb.expect(
        STEP,
        "Bob ignores it",
        starts(format!(
            "intro-ignored {} trusted, but not a member of epoch 1",
            c.who()
        )),
    );
    pa.expect(
        STEP,
        "Alice ignores it",
        starts(format!("intro-ignored {} not approved", c.who())),
    );

    pa.send("/group");
    pa.expect(STEP, "the group", |l| l == "epoch 1 members 2");
    pa.expect(STEP, "Bob listed", |l| l == format!("member {}", b.who()));
    thread::sleep(Duration::from_millis(300));
    finish_all(&mut [&mut pa, &mut pb, &mut pc]);

    // Carol read nothing of epoch 1, and nobody read Carol after her removal.
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
    for p in [&pa, &pb] {
        assert!(
            !p.has_line(|l| l.ends_with("carol after the removal") && l.starts_with("msg ")),
            "{}",
            p.transcript()
        );
    }
    // On disk: Alice no longer trusts Carol; Bob's store knows Alice as an admin and
    // member of epoch 1.
    let alice = a.trust_list(home);
    assert!(!alice.contains(&c.id), "{alice}");
    assert!(alice.contains("epoch 1 members 2"), "{alice}");
    let bob = b.trust_list(home);
    assert!(
        bob.lines()
            .any(|l| l.starts_with(&a.who()) && l.ends_with(" admin member")),
        "{bob}"
    );
    assert!(bob.contains("epoch 1 members 2"), "{bob}");

    // `trust remove` in Bob's directory takes Alice's admin right too: trusting her
    // again does not give it back (her rotations would be refused).
    let bob_state = b.state.to_str().unwrap();
    let out = run(
        home,
        &["--state-dir", bob_state, "trust", "remove", &a.fp],
        b"",
    );
    assert_eq!(ok(&out), format!("removed {}\n", a.who()));
    b.trust(home, &[&a]);
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
    let dir = TempDir::created("rot-restart");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (a, b, _c) = three(&dir);
    let key_file_before = std::fs::read(&b.key).unwrap();
    let wire = Wire::connect(port);

    let mut pa = a.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));
    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));

    pa.send("in epoch 0");
    pb.expect(STEP, "Alice's epoch-0 line", |l| {
        l == format!("msg {} in epoch 0", a.who())
    });
    let old = wire.nth_message_from(&a.id, 1);
    // Every trusted participant: Bob, and Carol (whose chat never runs here).
    pa.send("/rotate");
    let rotated = format!("rotated 1 {} 3 members", a.who());
    pa.expect(STEP, "the rotation", |l| l == rotated);
    pb.expect(STEP, "Bob follows", |l| l == rotated);
    pa.send("in epoch 1");
    pb.expect(STEP, "Alice's epoch-1 line", |l| {
        l == format!("msg {} in epoch 1", a.who())
    });
    let current = wire.nth_message_from(&a.id, 2);

    // Alice restarts too, with her key file (epoch 0's key): she resumes epoch 1.
    finish_all(&mut [&mut pa]);
    let mut pa = a.chat(home, port, &[]);
    pa.expect(STEP, "Alice resumes epoch 1", |l| l == "epoch 1 admin");
    // Bob, who has run since the rotation, reads her: she seals with the epoch-1 key
    // from the state directory, not her key file's.
    pa.send("after Alice's restart");
    pb.expect(STEP, "Alice's line after her restart", |l| {
        l == format!("msg {} after Alice's restart", a.who())
    });

    let restarts = 6;
    for round in 0..restarts {
        let crash = round == restarts - 1;
        if crash {
            pb.child.kill().unwrap();
            pb.child.wait().unwrap();
        } else {
            finish_all(&mut [&mut pb]);
        }
        pb = b.chat(home, port, &[]);
        pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
        // (Bob started the topic with a key file too, so he counts himself an admin:
        // only members who name him one would take his rotations.)
        pb.expect(STEP, "the epoch resumed", |l| l == "epoch 1 admin");
        for (what, payload) in [("the epoch-1 line", &current), ("the epoch-0 line", &old)] {
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
        if !crash {
            // A message stored ahead after a crash may refuse a few of Alice's next
            // lines (up to a block): only clean restarts read on at once.
            let line = format!("after restart {round}");
            pa.send(&line);
            pb.expect(STEP, "Alice's current line", |l| {
                l == format!("msg {} {line}", a.who())
            });
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

/// `stringphone rotate` beside a running chat of the same identity on the same state
/// directory is refused with the sender lease's one line, and changes nothing; once
/// the chat is gone it removes Carol and rotates. Bob, whose chat was not running
/// then, gets the (retained) rekey when it comes back; Carol's chat refuses it.
#[test]
fn stringphone_rotate_is_refused_beside_a_chat_and_rotates_alone() {
    let dir = TempDir::created("rot-oneshot");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (a, b, c) = three(&dir);

    let mut pa = a.chat(home, port, &[]);
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));
    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
    let mut pc = c.chat(home, port, &["--admin", &a.pk]);
    pc.expect(STEP, "ready", starts(format!("ready {} key", c.who())));

    let out = a.rotate(home, port, &[&c]);
    refused(&out, "is sending as this identity from");
    let alice = a.trust_list(home);
    assert!(
        alice.contains(&c.id) && alice.contains("epoch 0 "),
        "{alice}"
    );

    // A second chat of Alice's is refused the same way, before it joins.
    let mut second = a.chat(home, port, &[]);
    let status = second.finish(STEP);
    assert!(!status.success());
    second
        .err
        .wait_for(STEP, |l| l.contains("is sending as this identity"))
        .unwrap_or_else(|| panic!("{}", second.transcript()));
    assert!(second.out.snapshot().is_empty(), "{}", second.transcript());

    finish_all(&mut [&mut pa, &mut pb]);
    // An unreachable broker: refused before anything changed.
    let out = a.rotate(home, common::free_port(), &[&c]);
    refused(&out, "cannot connect to broker");
    let alice = a.trust_list(home);
    assert!(
        alice.contains(&c.id) && alice.contains("epoch 0 "),
        "{alice}"
    );

    let out = ok(&a.rotate(home, port, &[&c]));
    assert_eq!(
        out,
        format!("removed {}\nrotated 1 {} 2 members\n", c.who(), a.who())
    );
    pc.expect(
        STEP,
        "Carol left out",
        starts(format!(
            "rekey-refused {} this rotation leaves us out",
            a.who()
        )),
    );
    let alice = a.trust_list(home);
    assert!(
        !alice.contains(&c.id) && alice.contains("epoch 1 members 2"),
        "{alice}"
    );

    let mut pb = b.chat(home, port, &[]);
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
    pb.expect(STEP, "the rekey kept by the broker", |l| {
        l == format!("rotated 1 {} 2 members", a.who())
    });
    let mut pa = a.chat(home, port, &[]);
    pa.expect(STEP, "Alice at epoch 1", |l| l == "epoch 1 admin");
    pa.send("after the one-shot rotation");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} after the one-shot rotation", a.who())
    });
    pc.expect(
        STEP,
        "Carol cannot read it",
        starts(format!("refused {} sealed under epoch 1", a.who())),
    );
    thread::sleep(Duration::from_millis(300));
    finish_all(&mut [&mut pa, &mut pb, &mut pc]);
    assert!(!pc.has_line(|l| l.ends_with("after the one-shot rotation") && l.starts_with("msg ")));
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

    let pa = Proc::spawn(
        "alice (terminal)",
        on_terminal(&a.chat_command(home, port, &[])),
    );
    pa.expect(STEP, "ready", starts(format!("ready {} key", a.who())));
    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    pb.expect(STEP, "ready", starts(format!("ready {} no-key", b.who())));
    pb.expect(STEP, "not an admin himself", |l| l == "epoch 0");
    pa.expect(
        STEP,
        "the question about Bob",
        starts(format!("approve? newcomer {} wants the topic key", b.who())),
    );
    pa.send(&format!("/approve {}", b.fp));
    pb.expect(STEP, "the key", starts(format!("key-received {}", a.who())));
    pa.send("/rotate");
    let rotated = format!("rotated 1 {} 2 members", a.who());
    pa.expect(STEP, "the rotation", |l| l == rotated);
    pb.expect(STEP, "Bob follows", |l| l == rotated);

    // Dave has not named Alice an admin (yet).
    let mut pd = d.chat(home, port, &[]);
    pd.expect(STEP, "ready", starts(format!("ready {} no-key", d.who())));
    pb.expect(
        STEP,
        "Bob says an admin must add Dave",
        starts(format!(
            "intro-ignored {} not a member of epoch 1: replies go only to listed members, \
             and only an admin adds a newcomer",
            d.who()
        )),
    );
    pa.expect(
        STEP,
        "the question about Dave",
        starts(format!(
            "approve? newcomer {} wants to join: the epoch lists its members, so approving \
             trusts it and rotates the topic key to include it",
            d.who()
        )),
    );
    pa.send(&format!("/approve {}", d.fp));
    pa.expect(STEP, "Dave trusted", |l| {
        l == format!("trusted {} newcomer", d.who())
    });
    let rotated = format!("rotated 2 {} 3 members", a.who());
    pa.expect(STEP, "Dave rotated in", |l| l == rotated);
    pb.expect(STEP, "Bob follows", |l| l == rotated);
    pd.expect(
        STEP,
        "Dave refuses a rotation from someone he did not name admin",
        starts(format!("rekey-refused {} not an admin here", a.who())),
    );
    assert!(!pd.has_line(|l| l == rotated), "{}", pd.transcript());
    pd.send(&format!("/admin {}", a.pk));
    pd.expect(STEP, "Alice named admin", |l| {
        l == format!("admin {}", a.who())
    });
    pd.expect(STEP, "Dave takes the rekey listing him", |l| l == rotated);
    pa.send("welcome Dave");
    for p in [&pb, &pd] {
        p.expect(STEP, "Alice's line", |l| {
            l == format!("msg {} welcome Dave", a.who())
        });
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
    let broker = format!("mqtt://127.0.0.1:{port}");
    let out = run(
        home,
        &[
            "--state-dir",
            erin.state.to_str().unwrap(),
            "rotate",
            "--broker",
            &broker,
            "--topic",
            TOPIC,
            "--seed-file",
            erin.seed.to_str().unwrap(),
        ],
        b"",
    );
    refused(&out, "no topic key");
}

/// A member whose chat was away for two rotations cannot follow the one rekey the
/// broker kept (it follows an epoch the member never saw): its chat says so, and
/// `/rejoin` gets it the current key from a member.
#[test]
fn a_member_that_missed_two_rotations_rejoins() {
    let dir = TempDir::created("rot-rejoin");
    let home = dir.path();
    let (_broker, port) = start_broker(home);
    let (a, b, c) = three(&dir);
    ok(&run(
        home,
        &[
            "--state-dir",
            a.state.to_str().unwrap(),
            "trust",
            "remove",
            &c.fp,
        ],
        b"",
    ));

    let mut pb = b.chat(home, port, &["--admin", &a.pk]);
    pb.expect(STEP, "ready", starts(format!("ready {} key", b.who())));
    finish_all(&mut [&mut pb]);
    for epoch in 1..=2 {
        let out = ok(&a.rotate(home, port, &[]));
        assert_eq!(out, format!("rotated {epoch} {} 2 members\n", a.who()));
    }

    let mut pa = a.chat(home, port, &["--pair-for", "60"]);
    pa.expect(STEP, "Alice at epoch 2", |l| l == "epoch 2 admin");
    let mut pb = b.chat(home, port, &[]);
    pb.expect(STEP, "Bob still at epoch 0", |l| l.starts_with("epoch 0"));
    pb.expect(
        STEP,
        "the kept rekey refused",
        starts(format!(
            "rekey-refused {} a rotation to epoch 2, which does not follow our epoch 0: we \
             missed a rotation; /rejoin",
            a.who()
        )),
    );
    pb.send("/rejoin");
    pb.expect(STEP, "an introduction", |l| l == "intro-sent");
    pa.expect(STEP, "Alice answers", |l| {
        l == format!("reply-sent {}", b.who())
    });
    pb.expect(STEP, "the current key", |l| {
        l == format!("key-received {}", a.who())
    });
    pb.send("/group");
    pb.expect(STEP, "Bob at epoch 2", |l| l == "epoch 2 members 2");
    pa.send("after the rejoin");
    pb.expect(STEP, "Alice's line", |l| {
        l == format!("msg {} after the rejoin", a.who())
    });

    // A newcomer in Alice's pairing window (she started with the key, so it admits
    // newcomers): trusted and rotated in at once.
    let e = Who::new(&dir, "erin");
    let mut pe = e.chat(home, port, &["--admin", &a.pk]);
    pe.expect(STEP, "ready", starts(format!("ready {} no-key", e.who())));
    pa.expect(STEP, "Erin trusted", |l| {
        l == format!("trusted {} newcomer", e.who())
    });
    let rotated = format!("rotated 3 {} 3 members", a.who());
    for p in [&pa, &pb, &pe] {
        p.expect(STEP, "Erin rotated in", |l| l == rotated);
    }
    finish_all(&mut [&mut pa, &mut pb, &mut pe]);
}
