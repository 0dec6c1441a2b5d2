//! `stringphone chat`: a participant on an MQTT topic.
//!
//! Every event is one line on stdout, starting with a keyword, so a script (or a test)
//! can follow along:
//!
//! | line | meaning |
//! | --- | --- |
//! | `ready <id> <fp> key` / `no-key` | subscribed; whether we hold the topic key |
//! | `pairing-open <seconds>` / `pairing-closed` | the pairing window opens / closes |
//! | `intro-sent` | we asked for the topic key (or, by `/intro`, to be trusted) |
//! | `key-received <id> <fp>` | a reply gave us the topic key (`<id>`: the replier's claim) |
//! | `trusted <id> <fp> newcomer` / `replier` / `by-command` | added to the trust store |
//! | `reply-sent <id> <fp>` | we handed the topic key to this newcomer |
//! | `intro-ignored <id> <fp> <why>` | a newcomer we did not approve: no key for it |
//! | `intro-noted <id> <fp> no-topic-key` | approved, but we have no key to give yet |
//! | `reply-ignored <id> <fp> <why>` | a reply to us we did not use |
//! | `replier-untrusted <id> <fp>` | a reply worked but its sender was not approved (v2: no key) |
//! | `approve? ...` / `not-approved <id> <fp>` | (terminal only) a question, and a `/refuse` |
//! | `msg <id> <fp> <text>` | a message, verified: `<id>` wrote it |
//! | `refused <id> <fp> <why>` | a message that was not accepted (`- -` if no sender) |
//! | `sent <n> <text>` | the broker acknowledged our line number `<n>` |
//! | `queued <n> <text>` | line `<n>` waits for the broker to be back |
//! | `not-sent <n> <text>` | line `<n>` never reached the broker (said on leaving) |
//! | `epoch <n>` / `epoch <n> admin` | (v2, after `ready`) the epoch resumed; whether we are an admin |
//! | `rotated <n> <id> <fp> <k> members` | (v2) we moved to epoch `<n>`, started by admin `<id>` (us, for our own rotation), listing `<k>` members |
//! | `rekey-superseded <id> <fp> <why>` | (v2) a competing rotation of our epoch that lost the tie-break |
//! | `rekey-refused <id> <fp> <why>` | (v2) a rotation not taken, and why |
//! | `removed <id> <fp>` | `/remove`: no longer trusted |
//! | `admin <id> <fp>` | (v2) named an admin (`--admin`, `/admin`) |
//! | `epoch <n> members <k>`, `member ...`, `admin ...` | (v2) `/group` |
//!
//! Text from others is printed on one line, control and bidirectional formatting
//! characters escaped. A line typed that starts with `/` is a command (`/help`), never
//! a message: answers to questions (`/approve`, `/refuse`) are told apart from chat.
//!
//! With `--protocol v2` (or `both`) the chat sends v2, refuses replays (keeping its
//! replay marks in the state directory, exact ones stored on a clean exit), and runs
//! v2 discovery: introductions and replies are signed, and a joiner installs the key
//! only from a replier it trusts or approves (otherwise `replier-untrusted`, no key).
//!
//! v2 rotations: every rekey received is taken by `Topic::receive` (as
//! `Topic::accept_rekey` takes it), which checks it
//! (an admin named here, a member of the epoch it follows, the epoch chain) and saves
//! the new epoch to the state directory itself; admins rotate with `/rotate` and
//! `/remove` (or the one-shot `stringphone rotate`), and rekeys are published
//! retained, so a member offline during a rotation gets it when it next subscribes. A
//! restarted chat resumes the group state (epoch, key, members, admins) from the state
//! directory when it names the topic; the `--key-file` key counts only in the first
//! epoch, and the chat writes that file only with the first key it gets. Once an epoch
//! lists its members, a newcomer gets in through an admin's rotation (replies go only
//! to listed members). A chat takes the state directory's sender lease at start: one
//! process sends as one identity from one state directory.
//!
//! Inbound traffic goes through one function, `Chat::on_message` (`inbound`), which
//! hands it to the topic's one door, `Topic::receive`, and goes on by what that says
//! arrived (`discovery`, `rekeys`); outbound traffic through one queue, `Outbox`
//! (`outbox`), which knows what the broker acknowledged and sends the rest again after
//! a reconnection (`network`). What is typed is read and shown by `terminal`, asked and
//! answered by `questions`, and `/` commands are run by `commands`. This module holds
//! the chat's state and runs it: start, events until stdin ends, leave.

mod commands;
mod discovery;
mod inbound;
mod network;
mod outbox;
mod questions;
mod rekeys;
mod terminal;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, QoS};
use stringphone::{ParticipantId, PublicKey, SigningSeed, Topic, TopicKey};
use stringphone_store_sqlite::SqliteTrustStore;

use self::network::NetworkThread;
use self::outbox::{Outbox, Outgoing};
use self::questions::Approval;
use self::terminal::{read_lines, say};
use crate::args::ChatArgs;
use crate::error::{explain, Failure, Result};
use crate::files::{read_seed, read_topic_key};
use crate::group;
use crate::mqtt;
use crate::proto::{self, id_of, parse_public_key, printable, who, Discovery, Protocol};

/// How long to wait for the broker to accept us.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After stdin ends, how long at most to wait for the broker to acknowledge what we
/// sent.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What happens to a chat: from the network thread, and from the stdin thread.
enum Event {
    /// The broker accepted a connection (the first, or a reconnection).
    Connected,
    Subscribed,
    Payload(Vec<u8>),
    /// A publish of ours went out with this packet id.
    Written(u16),
    /// The broker acknowledged the publish with this packet id.
    Acked(u16),
    /// The connection failed; `first` when it never came up.
    ConnectionLost {
        reason: String,
        first: bool,
    },
    Line(String),
    StdinEnd,
}

/// A running chat: the topic, the MQTT client, and what the session remembers.
struct Chat {
    topic: Topic<SqliteTrustStore>,
    client: Client,
    mqtt_topic: String,
    broker: String,
    tx: Sender<Event>,
    /// Tells the network thread that we stopped handing it publishes (see `network`).
    resume: Sender<()>,
    interactive: bool,
    hex: bool,
    pair_for: Option<u64>,
    pairing_until: Option<Instant>,
    /// Whether the pairing window trusts newcomers (not only who answers our
    /// introduction).
    admits_newcomers: bool,
    /// Our classic introduction, kept for the whole session so that every participant
    /// that answers it can be checked, not only the first.
    discovery: Option<Discovery>,
    save_key_to: Option<PathBuf>,
    approvals: VecDeque<Approval>,
    ready: bool,
    /// Subscribed on a live connection: publishes can go.
    online: bool,
    /// When the connection was lost, and when we last said we are still reconnecting.
    lost_at: Option<Instant>,
    last_warning: Instant,
    outbox: Outbox,
    /// Lines typed and encoded so far (they are numbered from 1).
    lines: u64,
    /// Public keys that introduced themselves (signed), by id: `/trust FINGERPRINT`.
    seen: HashMap<ParticipantId, PublicKey>,
    /// Messages refused for an untrusted sender, shown if `/trust` trusts it.
    held: VecDeque<(ParticipantId, Vec<u8>)>,
    /// Senders already told how to trust them (said once per sender).
    hinted: HashSet<ParticipantId>,
    /// Senders refused before we had the key, already told that we keep their messages.
    kept_noted: HashSet<ParticipantId>,
    /// Whether the hint about hex payloads (or raw ones, with `--hex`) was given.
    format_hinted: bool,
    /// Lines printed since the pending questions were last shown.
    since_questions: usize,
    seed: stringphone::SigningSeed,
    /// Rekeys refused because their sender was not (yet) an admin or trusted here:
    /// tried again when `/admin` or `/trust` names it (the last one per sender).
    held_rekeys: VecDeque<(ParticipantId, Vec<u8>)>,
}

/// What a chat starts from, read from its arguments and the state directory before it
/// connects.
struct Start {
    topic: Topic<SqliteTrustStore>,
    seed: SigningSeed,
    /// The `--key-file` named that does not exist yet: the first key goes there.
    save_key_to: Option<PathBuf>,
    started_with_key: bool,
    /// Admins named by `--admin` that were not admins here yet.
    named_admins: Vec<ParticipantId>,
}

/// Runs the chat until stdin ends.
pub fn run(args: ChatArgs, state: &Path) -> Result<()> {
    let (host, port) = mqtt::check(&args.mqtt)?;
    let start = Start::open(&args, state)?;
    let (client, connection) = mqtt::client("sp", host, port, 64);
    let (tx, rx) = mpsc::channel();
    let (network, resume) = NetworkThread::spawn(connection, tx.clone());
    let mut chat = Chat::start(&args, start, client, tx, resume);
    chat.run_events(&rx, args.linger)?;
    chat.leave(network)
}

impl Start {
    /// Reads the seed and the key file, opens the topic on the state directory (taking
    /// the right to send, and resuming the v2 group state) and names the admins given.
    fn open(args: &ChatArgs, state: &Path) -> Result<Self> {
        let seed = read_seed(&args.mqtt.seed_file)?;
        let (key, save_key_to) = match &args.key_file {
            Some(path) if std::fs::symlink_metadata(path).is_ok() => {
                (Some(read_topic_key(path)?), None)
            }
            Some(path) => (None, Some(path.clone())),
            None => (None, None),
        };
        let started_with_key = key.is_some();
        let admins = args
            .admins
            .iter()
            .map(|k| parse_public_key(k, "--admin"))
            .collect::<Result<Vec<_>>>()?;
        if !admins.is_empty() && args.protocol == Protocol::Classic {
            return Err(Failure::new(
                "--admin is for v2 topics (admins rotate the topic key): add --protocol v2 (or both)",
            ));
        }
        let mut topic = open_topic(args, state, &seed, key)?;
        let named_admins = name_admins(&mut topic, admins)?;
        Ok(Start {
            topic,
            seed,
            save_key_to,
            started_with_key,
            named_admins,
        })
    }
}

/// The topic on the state directory's store, speaking `--protocol`; for v2, with the
/// right to send taken and the group state resumed.
fn open_topic(
    args: &ChatArgs,
    state: &Path,
    seed: &SigningSeed,
    key: Option<TopicKey>,
) -> Result<Topic<SqliteTrustStore>> {
    let store = proto::open_store(state)?;
    let mut topic = Topic::with_store(seed.clone(), key, store);
    topic.set_protocol(args.protocol.version());
    if args.protocol != Protocol::Classic {
        // A chat sends: it takes the right to send as this identity from this state
        // directory first, so that a second process of the same identity is refused
        // with one line before it joins.
        group::claim_sending(&mut topic)?;
        // Everything v2 signs and derives names the MQTT topic, so nothing made for
        // one topic is accepted on another. This also resumes the group state kept in
        // the state directory: after a rotation its epoch and key, never the key file's.
        topic.set_topic_id(proto::topic_id(&args.mqtt.topic))?;
    }
    Ok(topic)
}

/// Makes admins of `admins` (trusting them) where they are not already; returns the
/// ones named now.
fn name_admins(
    topic: &mut Topic<SqliteTrustStore>,
    admins: Vec<PublicKey>,
) -> Result<Vec<ParticipantId>> {
    let mut named = Vec::new();
    for key in admins {
        let id = id_of(&key);
        if !topic.is_admin(&id) || !matches!(topic.trusted_key(&id), Ok(Some(k)) if k == key) {
            topic.add_admin(key)?;
            named.push(id);
        }
    }
    Ok(named)
}

impl Chat {
    /// The chat's state at the start, not yet connected; says the admins named.
    fn start(
        args: &ChatArgs,
        start: Start,
        client: Client,
        tx: Sender<Event>,
        resume: Sender<()>,
    ) -> Self {
        let mut chat = Chat {
            topic: start.topic,
            client,
            mqtt_topic: args.mqtt.topic.clone(),
            broker: args.mqtt.broker.clone(),
            tx,
            resume,
            interactive: crate::stdio::stdin_is_terminal(),
            hex: args.hex,
            pair_for: args.pair_for.filter(|&s| s > 0),
            pairing_until: None,
            admits_newcomers: start.started_with_key || args.admit_newcomers,
            discovery: None,
            save_key_to: start.save_key_to,
            approvals: VecDeque::new(),
            ready: false,
            online: false,
            lost_at: None,
            last_warning: Instant::now(),
            outbox: Outbox::default(),
            lines: 0,
            seen: HashMap::new(),
            held: VecDeque::new(),
            hinted: HashSet::new(),
            kept_noted: HashSet::new(),
            format_hinted: false,
            since_questions: 0,
            seed: start.seed,
            held_rekeys: VecDeque::new(),
        };
        for id in start.named_admins {
            chat.show(&format!("admin {}", who(&id)));
        }
        chat
    }

    /// Handles events until stdin has ended, what we sent was acknowledged (or
    /// `ACK_TIMEOUT` passed) and `linger` passed; refuses when the broker never let
    /// us in within `CONNECT_TIMEOUT`.
    fn run_events(&mut self, rx: &Receiver<Event>, linger: Duration) -> Result<()> {
        let start = Instant::now();
        let mut stdin_ended: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if self.pairing_until.is_some_and(|until| now >= until) {
                self.pairing_until = None;
                self.show("pairing-closed");
            }
            if let Some(ended) = stdin_ended {
                let delivered = self.outbox.is_empty() || now >= ended + ACK_TIMEOUT;
                if delivered && now >= ended + linger {
                    return Ok(());
                }
            }
            if !self.ready && now >= start + CONNECT_TIMEOUT {
                return Err(Failure::new(format!(
                    "cannot join {} on broker {}: no answer within {} seconds",
                    self.mqtt_topic,
                    self.broker,
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::StdinEnd) => {
                    stdin_ended = Some(Instant::now());
                    self.approvals.clear();
                }
                Ok(event) => self.handle(event)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Failure::new("internal error: the event channel closed"))
                }
            }
            self.remind();
        }
    }

    /// Leaves: says what never reached the broker, stores the exact replay marks and
    /// stops the network thread; refuses when typed lines were never sent.
    fn leave(mut self, network: NetworkThread) -> Result<()> {
        let (unsent, rekeys) = self.outbox.unsent();
        for (n, text) in &unsent {
            say(&format!("not-sent {n} {}", printable(text.as_bytes())));
        }
        if rekeys > 0 {
            eprintln!(
                "warning: the rekey of our rotation to epoch {} never reached the broker: \
                 members stay at the epoch before it until they /rejoin (a member of the new \
                 epoch answers them)",
                self.topic.epoch()
            );
        }
        // A clean exit: exact v2 marks, so that a restart refuses nothing that had not
        // arrived yet (what runs ahead is only for crashes). Nothing to do for classic.
        if let Err(e) = self.topic.save_replay_marks() {
            eprintln!(
                "warning: cannot store the exact replay marks ({}): after a restart, some \
                 messages that had not arrived yet may be refused as old",
                explain(&e)
            );
        }
        network.stop(&self.client);
        if !unsent.is_empty() {
            return Err(Failure::new(format!(
                "{} line{} never reached the broker (the not-sent lines above)",
                unsent.len(),
                if unsent.len() == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    }

    /// One event, from the network or stdin (but its end: see `run_events`).
    fn handle(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Connected => {
                self.client
                    .try_subscribe(self.mqtt_topic.clone(), QoS::AtLeastOnce)
                    .map_err(|e| Failure::new(format!("cannot subscribe: {e}")))?;
            }
            Event::Subscribed if !self.ready => self.on_ready()?,
            Event::Subscribed => self.back_online(),
            Event::Payload(payload) => self.on_payload(&payload),
            Event::Written(pkid) => self.outbox.written(pkid),
            Event::Acked(pkid) => {
                if let Some(Outgoing {
                    line: Some((n, text)),
                    ..
                }) = self.outbox.acked(pkid)
                {
                    self.show(&format!("sent {n} {}", printable(text.as_bytes())));
                }
                self.hand_over();
            }
            Event::ConnectionLost { reason, first } => {
                if first || !self.ready {
                    return Err(Failure::new(format!(
                        "cannot connect to broker {}: {reason}",
                        self.broker
                    )));
                }
                self.connection_lost(&reason);
            }
            Event::Line(line) => self.on_line(&line),
            Event::StdinEnd => {}
        }
        Ok(())
    }

    /// Subscribed for the first time: says so (and the epoch), opens the pairing
    /// window, introduces us if we have no key, and starts reading stdin.
    fn on_ready(&mut self) -> Result<()> {
        self.ready = true;
        self.online = true;
        let id = self.topic.id();
        let has_key = if self.topic.topic_key().is_some() {
            "key"
        } else {
            "no-key"
        };
        self.show(&format!("ready {} {has_key}", who(&id)));
        if self.topic.protocol().sends_v2() {
            // The epoch resumed from the state directory (0 for a new topic).
            let admin = if self.topic.is_admin(&id) {
                " admin"
            } else {
                ""
            };
            self.show(&format!("epoch {}{admin}", self.topic.epoch()));
        }
        if let Some(secs) = self.pair_for {
            self.pairing_until = Some(Instant::now() + Duration::from_secs(secs));
            self.show(&format!("pairing-open {secs}"));
        }
        if self.topic.topic_key().is_none() {
            let intro = if self.topic.protocol().sends_v2() {
                // v2: the pending introduction lives in the topic, for this session.
                self.topic.construct_intro()?.to_vec()
            } else {
                let discovery = Discovery::new(self.seed.clone());
                let intro = discovery.intro()?;
                self.discovery = Some(discovery);
                intro.to_vec()
            };
            self.publish(&intro, None);
            self.show("intro-sent");
        }
        let tx = self.tx.clone();
        thread::spawn(move || read_lines(&tx));
        Ok(())
    }
}
