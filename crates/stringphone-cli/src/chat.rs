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
//! Inbound traffic goes through one function, `Chat::on_message`, which routes by
//! message kind; outbound traffic through one queue, `Outbox`, which knows what the
//! broker acknowledged and sends the rest again after a reconnection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use rand_core::{OsRng, RngCore};
use rumqttc::{Client, Connection, MqttOptions, Outgoing as MqttOutgoing, Packet, QoS};
use stringphone::{DecodeMode, Decoded, Error, Message, ParticipantId, PublicKey, Topic};
use stringphone_store_sqlite::SqliteTrustStore;

use crate::files::KeyKind;
use crate::proto::{
    self, from_hex, hex_message, id_of, introduction_key, parse_public_key, printable, to_hex, who,
    Discovery, Protocol,
};
use crate::{explain, files, names_key, read_seed, read_topic_key, Failure, Result};

/// How long to wait for the broker to accept us.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After stdin ends, how long at most to wait for the broker to acknowledge what we
/// sent.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before the first reconnection attempt; it doubles up to `LAST_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(8);
/// While reconnecting, how often to say that we still are.
const STILL_RECONNECTING_EVERY: Duration = Duration::from_secs(30);
/// Publishes handed to the MQTT client and not yet acknowledged, at most (the rest
/// waits in our queue, so that the client's bounded channel never blocks the chat).
const IN_FLIGHT_MAX: usize = 32;
/// Lines waiting for the broker, at most; beyond, a line is reported not sent.
const QUEUE_MAX: usize = 1000;
/// Messages from untrusted senders kept, so that `/trust` can show them.
const HELD_MAX: usize = 64;
/// Public keys seen in introductions, kept for `/trust FINGERPRINT`.
const SEEN_MAX: usize = 256;
/// A pending question is shown again once this many lines were printed after it.
const REMIND_AFTER: usize = 4;

/// Chat on an MQTT topic.
///
/// Joins the topic; without a topic key, sends an introduction and waits for a reply.
/// Newcomers get the key only once approved: already trusted, approved at a terminal
/// (`/approve`), or introducing themselves during the pairing window of a chat that
/// started with the topic key (of any chat, with --admit-newcomers). Each line typed
/// is sent and confirmed (`sent N`) once the broker has it; while the broker is
/// unreachable lines are queued and sent on reconnection. Lines starting with `/` are
/// commands (`/help`). Without a terminal on stdin nothing is ever asked, and the
/// command leaves once stdin ends and --linger has passed.
#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The broker, as mqtt://HOST:PORT (plain TCP; the port defaults to 1883)
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The MQTT topic to chat on (the original's MQTT example uses "stringphone")
    #[arg(long, value_name = "NAME")]
    topic: String,
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key; if this file does not exist, discovery runs and saves the key
    /// there. Without it, the key obtained is kept in memory only
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// For this many seconds from the start, trust whoever answers our introduction;
    /// a chat that starts with the topic key also trusts every newcomer introducing
    /// itself, and hands it the key
    #[arg(long, value_name = "SECONDS")]
    pair_for: Option<u64>,
    /// In the pairing window of a chat that starts without the topic key, also trust
    /// every newcomer and hand it the key (once we have it)
    #[arg(long, requires = "pair_for")]
    admit_newcomers: bool,
    /// Publish and read every message as hex text, as the original's MQTT example does
    #[arg(long)]
    hex: bool,
    /// Once stdin ends, keep receiving for this many seconds before leaving
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds)]
    linger: Duration,
    /// Wire format: classic, v2 (refuses classic messages and replays; signed
    /// discovery), or both (reads both, sends v2)
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    protocol: Protocol,
}

fn parse_seconds(s: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds"))
}

/// `mqtt://HOST:PORT` (or `tcp://`, or a bare `HOST[:PORT]`) to host and port.
fn parse_broker(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Failure::new(format!("broker {url:?}: {why}"));
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some(("mqtts" | "ssl" | "tls", _)) => {
            return Err(bad(
                "TLS is not built into this command: use mqtt://HOST:PORT",
            ))
        }
        Some(_) => return Err(bad("expected mqtt://HOST:PORT")),
        None => url,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '@', '?']) {
        return Err(bad("expected mqtt://HOST:PORT (no path, no credentials)"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => 1883,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

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

enum Approval {
    Newcomer {
        key: PublicKey,
        intro: Vec<u8>,
    },
    /// `reply`: a v2 reply, whose key is installed only once its replier is trusted.
    Replier {
        key: PublicKey,
        reply: Option<Vec<u8>>,
    },
}

impl Approval {
    fn key(&self) -> &PublicKey {
        match self {
            Approval::Newcomer { key, .. } | Approval::Replier { key, .. } => key,
        }
    }

    /// The question, naming how to answer it.
    fn question(&self) -> String {
        let id = id_of(self.key());
        let fp = id.fingerprint();
        match self {
            Approval::Newcomer { .. } => format!(
                "approve? newcomer {} wants the topic key: compare its fingerprint out of \
                 band, then /approve {fp} to trust it and send the key, or /refuse {fp}",
                who(&id)
            ),
            Approval::Replier { .. } => format!(
                "approve? {} answered our introduction: /approve {fp} to trust it, or \
                 /refuse {fp}",
                who(&id)
            ),
        }
    }
}

/// One publish of ours, kept until the broker acknowledges it.
struct Outgoing {
    /// Publishing order, to put things back in order after a lost connection.
    order: u64,
    payload: Vec<u8>,
    /// A typed line: its number and text (discovery messages have none).
    line: Option<(u64, String)>,
}

/// Everything we publish, from the moment it is made until the broker acknowledges it.
///
/// rumqttc forgets what it had not delivered when a connection drops (a clean
/// session), so we keep it: on a lost connection everything unacknowledged goes back
/// to the queue and is handed to the client again once it is reconnected. A publish
/// whose acknowledgement was lost with the connection can so reach the topic twice;
/// none is lost while the chat runs.
#[derive(Default)]
struct Outbox {
    next_order: u64,
    /// Not handed to the client yet (offline, or too many in flight).
    queued: VecDeque<Outgoing>,
    /// Handed to the client, not written yet: written in this order.
    handed: VecDeque<Outgoing>,
    /// Written with this packet id, waiting for the broker's acknowledgement.
    in_flight: HashMap<u16, Outgoing>,
}

impl Outbox {
    fn len(&self) -> usize {
        self.queued.len() + self.handed.len() + self.in_flight.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a publish; false (nothing added) when the queue is full.
    fn push(&mut self, payload: Vec<u8>, line: Option<(u64, String)>) -> bool {
        if self.len() >= QUEUE_MAX {
            return false;
        }
        self.next_order += 1;
        self.queued.push_back(Outgoing {
            order: self.next_order,
            payload,
            line,
        });
        true
    }

    /// The next publish to hand to the client, if the window allows one.
    fn next_to_hand(&mut self) -> Option<Outgoing> {
        if self.handed.len() + self.in_flight.len() >= IN_FLIGHT_MAX {
            return None;
        }
        self.queued.pop_front()
    }

    fn handed(&mut self, outgoing: Outgoing) {
        self.handed.push_back(outgoing);
    }

    /// The client wrote the oldest handed publish with this packet id.
    fn written(&mut self, pkid: u16) {
        if let Some(outgoing) = self.handed.pop_front() {
            self.in_flight.insert(pkid, outgoing);
        }
    }

    fn acked(&mut self, pkid: u16) -> Option<Outgoing> {
        self.in_flight.remove(&pkid)
    }

    /// The connection is gone, and with it what the client held: everything
    /// unacknowledged is queued again, in the order it was first published.
    fn take_back(&mut self) {
        let mut back: Vec<Outgoing> = self.handed.drain(..).collect();
        back.extend(self.in_flight.drain().map(|(_, o)| o));
        back.sort_by_key(|o| o.order);
        for outgoing in back.into_iter().rev() {
            self.queued.push_front(outgoing);
        }
    }

    /// The typed lines never acknowledged, in order.
    fn unsent_lines(&mut self) -> Vec<(u64, String)> {
        self.take_back();
        self.queued.drain(..).filter_map(|o| o.line).collect()
    }
}

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
}

/// One line on stdout (errors ignored: a closed terminal must not stop the chat
/// from leaving cleanly).
fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Runs the chat until stdin ends.
pub fn run(args: ChatArgs, state: &Path) -> Result<()> {
    let (host, port) = parse_broker(&args.broker)?;
    if args.topic.is_empty() || args.topic.contains(['+', '#', '\0']) {
        return Err(Failure::new(format!(
            "--topic {:?}: an MQTT topic name must be non-empty, without '+', '#' or NUL",
            args.topic
        )));
    }
    let seed = read_seed(&args.seed_file)?;
    let (key, save_key_to) = match &args.key_file {
        Some(path) if std::fs::symlink_metadata(path).is_ok() => {
            (Some(read_topic_key(path)?), None)
        }
        Some(path) => (None, Some(path.clone())),
        None => (None, None),
    };
    let started_with_key = key.is_some();
    let store = proto::open_store(state)?;
    let mut topic = Topic::with_store(seed.clone(), key, store);
    topic.set_protocol(args.protocol.version());
    if args.protocol != Protocol::Classic {
        // Everything v2 signs and derives names the MQTT topic, so nothing made for
        // one topic is accepted on another.
        topic.set_topic_id(proto::topic_id(&args.topic))?;
    }

    let mut nonce = [0u8; 8];
    OsRng.fill_bytes(&mut nonce);
    let mut options = MqttOptions::new(format!("sp-{}", to_hex(&nonce)), host, port);
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, connection) = Client::new(options, 64);

    let (tx, rx) = mpsc::channel();
    let (resume, resumed) = mpsc::channel();
    let stopping = Arc::new(AtomicBool::new(false));
    let network = {
        let tx = tx.clone();
        let stopping = Arc::clone(&stopping);
        thread::spawn(move || network(connection, &tx, &resumed, &stopping))
    };

    let mut chat = Chat {
        topic,
        client,
        mqtt_topic: args.topic.clone(),
        broker: args.broker.clone(),
        tx,
        resume,
        interactive: crate::stdin_is_terminal(),
        hex: args.hex,
        pair_for: args.pair_for.filter(|&s| s > 0),
        pairing_until: None,
        admits_newcomers: started_with_key || args.admit_newcomers,
        discovery: None,
        save_key_to,
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
        seed,
    };

    let start = Instant::now();
    let mut stdin_ended: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if chat.pairing_until.is_some_and(|until| now >= until) {
            chat.pairing_until = None;
            chat.show("pairing-closed");
        }
        if let Some(ended) = stdin_ended {
            let delivered = chat.outbox.is_empty() || now >= ended + ACK_TIMEOUT;
            if delivered && now >= ended + args.linger {
                break;
            }
        }
        if !chat.ready && now >= start + CONNECT_TIMEOUT {
            return Err(Failure::new(format!(
                "cannot join {} on broker {}: no answer within {} seconds",
                args.topic,
                args.broker,
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::StdinEnd) => {
                stdin_ended = Some(Instant::now());
                chat.approvals.clear();
            }
            Ok(event) => chat.handle(event)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::new("internal error: the event channel closed"))
            }
        }
        chat.remind();
    }

    let unsent = chat.outbox.unsent_lines();
    for (n, text) in &unsent {
        say(&format!("not-sent {n} {}", printable(text.as_bytes())));
    }
    // A clean exit: exact v2 marks, so that a restart refuses nothing that had not
    // arrived yet (what runs ahead is only for crashes). Nothing to do for classic.
    if let Err(e) = chat.topic.save_replay_marks() {
        eprintln!(
            "warning: cannot store the exact replay marks ({}): after a restart, some \
             messages that had not arrived yet may be refused as old",
            explain(&e)
        );
    }
    stopping.store(true, Ordering::SeqCst);
    let _ = chat.client.disconnect();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !network.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if !unsent.is_empty() {
        return Err(Failure::new(format!(
            "{} line{} never reached the broker (the not-sent lines above)",
            unsent.len(),
            if unsent.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The network thread: drives the MQTT connection and turns what happens into events.
///
/// When a connection drops, rumqttc drops what it had not delivered, and would send
/// whatever is still in its request channel after the reconnection. The chat takes
/// back everything unacknowledged and sends it again. So that nothing goes out twice,
/// this thread, after reporting the loss, waits until the chat says it stopped handing
/// publishes over (`resumed`), then empties the client's queue (`clean`). The pause
/// between attempts doubles from `FIRST_RETRY` to `LAST_RETRY`.
fn network(
    mut connection: Connection,
    tx: &Sender<Event>,
    resumed: &Receiver<()>,
    stopping: &AtomicBool,
) {
    let mut connected = false;
    let mut pause = FIRST_RETRY;
    let stopped = || stopping.load(Ordering::SeqCst);
    while let Ok(notification) = connection.recv() {
        let event = match notification {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                pause = FIRST_RETRY;
                Event::Connected
            }
            Ok(rumqttc::Event::Incoming(Packet::SubAck(_))) => Event::Subscribed,
            Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => Event::Payload(p.payload.to_vec()),
            Ok(rumqttc::Event::Incoming(Packet::PubAck(ack))) => Event::Acked(ack.pkid),
            Ok(rumqttc::Event::Outgoing(MqttOutgoing::Publish(pkid))) => Event::Written(pkid),
            Ok(rumqttc::Event::Outgoing(MqttOutgoing::Disconnect)) => break,
            Ok(_) => continue,
            Err(e) => {
                if stopped() {
                    break;
                }
                let first = !connected;
                let lost = Event::ConnectionLost {
                    reason: e.to_string(),
                    first,
                };
                if tx.send(lost).is_err() || first {
                    break;
                }
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && !stopped() {
                    match resumed.recv_timeout(Duration::from_millis(50)) {
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                }
                connection.eventloop.clean();
                let deadline = Instant::now() + pause;
                while Instant::now() < deadline && !stopped() {
                    thread::sleep(Duration::from_millis(20));
                }
                pause = (pause * 2).min(LAST_RETRY);
                continue;
            }
        };
        if tx.send(event).is_err() {
            break;
        }
    }
}

/// The pending question or seen key `name` designates among `keys`: an exact public
/// key, id or fingerprint, or a prefix of a fingerprint or id (at least 4 characters,
/// dashes optional) that only one of them has.
fn pick<'k>(name: &str, mut keys: impl Iterator<Item = &'k PublicKey>) -> Picked<'k> {
    let name = name.trim().to_ascii_lowercase();
    let bare = name.replace('-', "");
    let mut found: Option<&PublicKey> = None;
    let mut several = false;
    for key in keys.by_ref() {
        let id = id_of(key);
        let matches = names_key(&name, key)
            || (bare.len() >= 4
                && bare.bytes().all(|b| b.is_ascii_hexdigit())
                && id.to_string().starts_with(&bare));
        if matches {
            if found.is_some_and(|f| f != key) {
                several = true;
            }
            found = Some(key);
        }
    }
    match (found, several) {
        (Some(_), true) => Picked::Several,
        (Some(key), false) => Picked::One(key),
        (None, _) => Picked::None,
    }
}

enum Picked<'k> {
    One(&'k PublicKey),
    Several,
    None,
}

const HELP: &str = "\
commands (a line that starts with / is never sent; start it with // to send it):
  /approve [FINGERPRINT]   trust the newcomer (or replier) asked about; send it the key
  /refuse [FINGERPRINT]    do not
  /trust PUBLIC_KEY        trust this key (or the fingerprint of one that introduced itself)
  /intro                   introduce ourselves again: whoever approves us then trusts us
  /pending                 show the questions waiting for an answer
  /help                    this
  Ctrl-D                   leave";

impl Chat {
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

    /// One line on stdout, counted for the reminder of pending questions.
    fn show(&mut self, line: &str) {
        say(line);
        self.since_questions += 1;
    }

    fn connection_lost(&mut self, reason: &str) {
        let now = Instant::now();
        if self.online {
            self.online = false;
            self.lost_at = Some(now);
            self.last_warning = now;
            self.outbox.take_back();
            eprintln!(
                "warning: connection to the broker lost ({reason}); reconnecting, with growing \
                 pauses (lines typed meanwhile are queued)"
            );
        } else if now.duration_since(self.last_warning) >= STILL_RECONNECTING_EVERY {
            self.last_warning = now;
            let down = self.lost_at.map_or(0, |t| now.duration_since(t).as_secs());
            eprintln!(
                "warning: still reconnecting to the broker ({reason}), {down} s after the \
                 connection was lost; {} lines queued",
                self.outbox.len()
            );
        }
        let _ = self.resume.send(());
    }

    fn back_online(&mut self) {
        if self.online {
            return;
        }
        self.online = true;
        let down = self
            .lost_at
            .take()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let queued = self.outbox.len();
        if queued > 0 {
            eprintln!("reconnected to the broker after {down:.1} s; sending {queued} queued");
        } else {
            eprintln!("reconnected to the broker after {down:.1} s");
        }
        self.hand_over();
    }

    /// Hands queued publishes to the client while it is connected and the window of
    /// unacknowledged publishes allows.
    fn hand_over(&mut self) {
        while self.online {
            let Some(outgoing) = self.outbox.next_to_hand() else {
                return;
            };
            match self.client.try_publish(
                self.mqtt_topic.clone(),
                QoS::AtLeastOnce,
                false,
                outgoing.payload.clone(),
            ) {
                Ok(()) => self.outbox.handed(outgoing),
                Err(e) => {
                    // Not taken: it stays first in line, for the next acknowledgement
                    // or reconnection.
                    eprintln!("warning: cannot publish yet: {e}");
                    self.outbox.queued.push_front(outgoing);
                    return;
                }
            }
        }
    }

    /// Publishes a wire message (as hex text with `--hex`); `line` for a typed line.
    fn publish(&mut self, wire: &[u8], line: Option<(u64, String)>) {
        let payload = if self.hex {
            to_hex(wire).into_bytes()
        } else {
            wire.to_vec()
        };
        let typed = line.clone();
        if !self.outbox.push(payload, line) {
            match typed {
                Some((n, text)) => self.show(&format!("not-sent {n} {}", printable(text.as_bytes()))),
                None => eprintln!("warning: {QUEUE_MAX} messages wait for the broker: a discovery message was dropped"),
            }
            return;
        }
        if !self.online {
            if let Some((n, text)) = typed {
                self.show(&format!("queued {n} {}", printable(text.as_bytes())));
            }
        }
        self.hand_over();
    }

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

    fn pairing(&self) -> bool {
        self.pairing_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn on_line(&mut self, line: &str) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let text = match line.strip_prefix('/') {
            Some(escaped) if escaped.starts_with('/') => escaped,
            Some(command) => return self.command(command),
            None => line,
        };
        if text.is_empty() {
            return;
        }
        match self.topic.encode(text.as_bytes()) {
            Ok(wire) => {
                self.lines += 1;
                self.publish(&wire, Some((self.lines, text.to_string())));
            }
            Err(Error::MissingTopicKey) => {
                eprintln!("cannot send: no topic key yet (waiting for a reply to our introduction)")
            }
            Err(e) => eprintln!("cannot send: {}", explain(&e)),
        }
    }

    /// A typed command (the line without its `/`).
    fn command(&mut self, command: &str) {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        if words.next().is_some() {
            eprintln!("/{name}: one argument at most (/help lists the commands)");
            return;
        }
        match name {
            "approve" | "a" => self.answer(arg, true),
            "refuse" | "r" => self.answer(arg, false),
            "trust" => self.trust_command(arg),
            "intro" => self.reintroduce(),
            "pending" => {
                if self.approvals.is_empty() {
                    eprintln!("no question is waiting for an answer");
                }
                self.show_questions();
            }
            "help" => eprintln!("{HELP}"),
            _ => eprintln!(
                "unknown command /{name}: /help lists the commands (start a line with // \
                 to send a line that begins with /)"
            ),
        }
    }

    /// Prints every pending question.
    fn show_questions(&mut self) {
        let questions: Vec<String> = self.approvals.iter().map(Approval::question).collect();
        for question in questions {
            say(&question);
        }
        self.since_questions = 0;
    }

    /// Shows the pending questions again once other lines may have pushed them out
    /// of sight.
    fn remind(&mut self) {
        if !self.approvals.is_empty() && self.since_questions >= REMIND_AFTER {
            self.show_questions();
        }
    }

    /// `/approve` and `/refuse`: without a name, the only pending question.
    fn answer(&mut self, name: Option<&str>, yes: bool) {
        let verb = if yes { "/approve" } else { "/refuse" };
        let index = match name {
            None => match self.approvals.len() {
                0 => return eprintln!("{verb}: no question is waiting for an answer"),
                1 => 0,
                n => {
                    return eprintln!(
                        "{verb}: {n} questions are waiting: name one by its fingerprint"
                    )
                }
            },
            Some(name) => match pick(name, self.approvals.iter().map(Approval::key)) {
                Picked::One(key) => {
                    let key = *key;
                    match self.approvals.iter().position(|a| *a.key() == key) {
                        Some(i) => i,
                        None => return,
                    }
                }
                Picked::Several => {
                    return eprintln!(
                        "{verb}: {name} matches several questions: give more of the fingerprint"
                    )
                }
                Picked::None => {
                    return eprintln!(
                        "{verb}: no question waiting is about {name} (/pending lists them)"
                    )
                }
            },
        };
        let Some(approval) = self.approvals.remove(index) else {
            return;
        };
        let id = id_of(approval.key());
        if !yes {
            self.show(&format!("not-approved {}", who(&id)));
            return;
        }
        match approval {
            Approval::Newcomer { key, intro } => {
                if self.trust(key, "newcomer") {
                    self.reply_to(&intro, &key);
                }
            }
            Approval::Replier { key, reply } => {
                if self.trust(key, "replier") {
                    if let Some(reply) = reply {
                        self.install_v2_reply(&reply, &id);
                    }
                }
            }
        }
    }

    /// `/trust PUBLIC_KEY`, or the fingerprint (or id) of a key seen introducing itself.
    fn trust_command(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            return eprintln!(
                "/trust needs a public key (64 hex digits), or the fingerprint of a participant \
                 that introduced itself here"
            );
        };
        let key = if name.trim().len() == 64 {
            match parse_public_key(name, "/trust") {
                Ok(key) => key,
                Err(e) => return eprintln!("{e}"),
            }
        } else {
            match pick(name, self.seen.values()) {
                Picked::One(key) => *key,
                Picked::Several => {
                    return eprintln!("/trust: {name} matches several keys: give its public key")
                }
                Picked::None => {
                    return eprintln!(
                        "/trust: no participant with fingerprint {name} introduced itself here: \
                         give its public key (its owner's `stringphone pubkey --seed-file SEED` \
                         prints it)"
                    )
                }
            }
        };
        if self.is_trusted(&key) {
            return eprintln!("/trust: {} is already trusted", who(&id_of(&key)));
        }
        self.trust(key, "by-command");
    }

    /// `/intro`: our classic introduction again, so that whoever approves newcomers
    /// (the original's example approves everyone) trusts us; a reply to it is checked
    /// as any reply to our introduction.
    fn reintroduce(&mut self) {
        if self.topic.protocol().sends_v2() {
            return eprintln!(
                "/intro: only classic introductions can be sent again (v2 sends one on joining)"
            );
        }
        let seed = self.seed.clone();
        let discovery = self.discovery.get_or_insert_with(|| Discovery::new(seed));
        match discovery.intro() {
            Ok(intro) => {
                self.publish(&intro, None);
                self.show("intro-sent");
            }
            Err(e) => eprintln!("/intro: {e}"),
        }
    }

    /// Asks about a newcomer or a replier (once per key), showing the question now.
    fn ask(&mut self, approval: Approval) {
        if self.approvals.iter().any(|a| a.key() == approval.key()) {
            return;
        }
        self.show(&approval.question());
        self.approvals.push_back(approval);
        self.since_questions = 0;
    }

    /// Adds `key` to the trust store; false (and a line saying why) if that failed.
    /// What it sent before, refused then, is shown now.
    fn trust(&mut self, key: PublicKey, role: &str) -> bool {
        match self.topic.add_participant(key) {
            Ok(id) => {
                self.show(&format!("trusted {} {role}", who(&id)));
                let (earlier, others): (Vec<_>, Vec<_>) =
                    self.held.drain(..).partition(|(sender, _)| *sender == id);
                self.held = others.into();
                for (_, message) in earlier {
                    self.on_message(&message);
                }
                true
            }
            Err(e) => {
                self.show(&format!("refused {} {}", who(&id_of(&key)), explain(&e)));
                false
            }
        }
    }

    fn is_trusted(&self, key: &PublicKey) -> bool {
        matches!(self.topic.trusted_key(&id_of(key)), Ok(Some(k)) if k == *key)
    }

    /// A payload from the topic: hex text with `--hex`, raw bytes without. The other
    /// form is recognised and named, so that a chat next to the original's example
    /// (which publishes hex) says what to do instead of "unknown message type".
    fn on_payload(&mut self, payload: &[u8]) {
        if self.hex {
            let text = std::str::from_utf8(payload).ok();
            match text.map(from_hex) {
                Some(Ok(bytes)) => self.on_message(&bytes),
                _ => {
                    let sender = sender_of(payload);
                    let hint = if Message::parse(payload).is_ok() {
                        "not hex text: a raw stringphone message (the sender publishes raw \
                         bytes: chat without --hex to read it)"
                    } else {
                        "not hex text"
                    };
                    self.show(&format!("refused {sender} {hint}"));
                }
            }
            return;
        }
        if let Some(bytes) = hex_message(payload) {
            let hint = if self.format_hinted {
                "hex text of a stringphone message (chat with --hex)"
            } else {
                "hex text of a stringphone message: the sender publishes hex, as the \
                 original's MQTT example does; chat with --hex to read it"
            };
            self.format_hinted = true;
            let sender = sender_of(&bytes);
            self.show(&format!("refused {sender} {hint}"));
            return;
        }
        self.on_message(payload);
    }

    /// Everything that arrives, once out of its transport form: decoded by the topic
    /// and routed by kind.
    fn on_message(&mut self, bytes: &[u8]) {
        match self.topic.decode(bytes, DecodeMode::Strict) {
            Ok(Decoded::Message {
                sender, plaintext, ..
            }) => self.show(&format!("msg {} {}", who(&sender), printable(&plaintext))),
            Ok(_) => {} // our own echo: nothing to show
            Err(Error::Introduction) => self.on_intro(bytes),
            Err(Error::IntroductionReply) => self.on_reply(bytes),
            Err(Error::UntrustedSender(sender)) => self.on_untrusted(sender, bytes),
            Err(e) => {
                let why = match &e {
                    Error::MissingTopicKey => "no topic key yet".to_string(),
                    other => explain(other),
                };
                let sender = sender_of(bytes);
                self.show(&format!("refused {sender} {why}"));
            }
        }
    }

    /// A message from a sender we do not trust: refused, kept for `/trust`, and (the
    /// first time) said with what it takes to trust the sender.
    fn on_untrusted(&mut self, sender: ParticipantId, bytes: &[u8]) {
        if self.held.len() >= HELD_MAX {
            self.held.pop_front();
        }
        self.held.push_back((sender, bytes.to_vec()));
        if self.topic.topic_key().is_none() {
            // Joining: the sender may well be trusted once a reply comes.
            let kept = if self.kept_noted.insert(sender) {
                "(no topic key yet: its messages are kept, and shown if it is trusted)"
            } else {
                "(kept)"
            };
            return self.show(&format!("refused {} untrusted sender {kept}", who(&sender)));
        }
        if !self.hinted.insert(sender) {
            return self.show(&format!("refused {} untrusted sender", who(&sender)));
        }
        let fp = sender.fingerprint();
        let hint = match self.seen.get(&sender) {
            Some(key) => format!(
                "it introduced itself with public key {key}: once you compared its \
                 fingerprint out of band, /trust {fp} trusts it and shows what it sent"
            ),
            None => "to read it, get its public key from its owner (`stringphone pubkey \
                     --seed-file SEED` prints it), then /trust PUBLIC_KEY trusts it and \
                     shows what it sent"
                .to_string(),
        };
        self.show(&format!(
            "refused {} untrusted sender: {hint}",
            who(&sender)
        ));
    }

    /// Keeps a key that introduced itself (signed), for `/trust FINGERPRINT`.
    fn remember(&mut self, key: PublicKey) {
        if self.seen.len() < SEEN_MAX {
            self.seen.insert(id_of(&key), key);
        }
    }

    fn on_intro(&mut self, payload: &[u8]) {
        let topic = proto::topic_id(&self.mqtt_topic);
        let Some((key, signed)) = introduction_key(payload, &topic) else {
            return;
        };
        if key == self.topic.public_key() {
            return; // our own introduction, echoed
        }
        let id = id_of(&key);
        if !signed {
            self.show(&format!(
                "refused {} introduction signature does not verify",
                who(&id)
            ));
            return;
        }
        self.remember(key);
        if !self.is_trusted(&key) {
            if self.pairing() && self.admits_newcomers {
                if !self.trust(key, "newcomer") {
                    return;
                }
            } else if self.interactive {
                self.ask(Approval::Newcomer {
                    key,
                    intro: payload.to_vec(),
                });
                return;
            } else {
                let why = if self.pairing() {
                    "not approved (this pairing window trusts only who answers our \
                     introduction; --admit-newcomers trusts newcomers too)"
                } else {
                    "not approved (no pairing window, no terminal)"
                };
                self.show(&format!("intro-ignored {} {why}", who(&id)));
                return;
            }
        }
        self.reply_to(payload, &key);
    }

    fn reply_to(&mut self, intro: &[u8], key: &PublicKey) {
        let id = id_of(key);
        match self.topic.construct_reply(intro) {
            Ok(reply) => {
                self.publish(&reply, None);
                self.show(&format!("reply-sent {}", who(&id)));
            }
            Err(Error::MissingTopicKey) => {
                self.show(&format!("intro-noted {} no-topic-key", who(&id)))
            }
            Err(e) => self.show(&format!("refused {} {}", who(&id), explain(&e))),
        }
    }

    fn on_reply(&mut self, payload: &[u8]) {
        let reply = match Message::parse(payload) {
            Ok(Message::IntroductionReply(reply)) => reply,
            Ok(Message::V2(m)) => {
                if m.recipient_id() == Some(self.topic.id()) {
                    self.on_v2_reply(payload, &m.header().sender_id());
                }
                return;
            }
            _ => return,
        };
        if reply.recipient_id() != self.topic.id() {
            return; // an answer to someone else
        }
        let claimed = id_of(&reply.sender_key());
        let Some(discovery) = &self.discovery else {
            self.show(&format!(
                "reply-ignored {} we sent no introduction",
                who(&claimed)
            ));
            return;
        };
        let (replier, key) = match discovery.open(payload) {
            Ok(opened) => opened,
            Err(e) => {
                self.show(&format!("reply-ignored {} {}", who(&claimed), explain(&e)));
                return;
            }
        };
        match self.topic.topic_key() {
            None => {
                self.topic.set_topic_key(Some(key));
                self.key_received(&claimed);
            }
            Some(ours) if *ours == key => {}
            Some(_) => {
                self.show(&format!(
                    "reply-ignored {} carries a different topic key",
                    who(&claimed)
                ));
                return;
            }
        }
        if replier == self.topic.public_key() || self.is_trusted(&replier) {
            return;
        }
        if self.pairing() {
            self.trust(replier, "replier");
        } else if self.interactive {
            self.ask(Approval::Replier {
                key: replier,
                reply: None,
            });
        } else {
            self.show(&format!("replier-untrusted {}", who(&claimed)));
        }
    }

    /// The topic key is installed: says so, and saves it if a key file was named.
    fn key_received(&mut self, claimed: &ParticipantId) {
        self.show(&format!("key-received {}", who(claimed)));
        let key = self.topic.topic_key().cloned();
        if let (Some(path), Some(key)) = (self.save_key_to.take(), key) {
            match files::write_key(&path, KeyKind::TopicKey, key.expose_secret(), false) {
                Ok(()) => eprintln!("topic key saved to {}", path.display()),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }

    /// A v2 reply addressed to us. Its signature is checked by the topic, which
    /// installs the key only if the (verified) replier is trusted; an untrusted
    /// replier is approved like a classic one (pairing window or prompt), and the same
    /// reply is parsed again.
    fn on_v2_reply(&mut self, payload: &[u8], claimed: &ParticipantId) {
        match self.topic.parse_reply(payload) {
            Ok(_) => self.key_received(claimed),
            Err(Error::UntrustedReplier { key, id }) => {
                if self.pairing() {
                    if self.trust(key, "replier") {
                        self.install_v2_reply(payload, &id);
                    }
                } else if self.interactive {
                    self.ask(Approval::Replier {
                        key,
                        reply: Some(payload.to_vec()),
                    });
                } else {
                    self.show(&format!("replier-untrusted {}", who(&id)));
                }
            }
            // Another answer to an introduction a reply already answered.
            Err(Error::NoPendingIntroduction) if self.topic.topic_key().is_some() => {}
            Err(e) => self.show(&format!("reply-ignored {} {}", who(claimed), explain(&e))),
        }
    }

    /// Parses a v2 reply again once its replier is trusted.
    fn install_v2_reply(&mut self, payload: &[u8], replier: &ParticipantId) {
        match self.topic.parse_reply(payload) {
            Ok(_) => self.key_received(replier),
            Err(Error::NoPendingIntroduction) if self.topic.topic_key().is_some() => {}
            Err(e) => self.show(&format!("reply-ignored {} {}", who(replier), explain(&e))),
        }
    }
}

/// `<id> <fp>` of the sender a message names, or `- -`.
fn sender_of(bytes: &[u8]) -> String {
    Message::parse(bytes)
        .ok()
        .and_then(|m| m.sender_id())
        .map_or_else(|| "- -".into(), |id| who(&id))
}

/// The stdin thread: every line typed becomes an event (invalid UTF-8 replaced, so
/// that a stray byte cannot end the chat), then the end of input.
fn read_lines(tx: &Sender<Event>) {
    let mut stdin = io::stdin().lock();
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match stdin.read_until(b'\n', &mut buffer) {
            Ok(0) => break,
            Ok(_) => {
                if buffer.last() == Some(&b'\n') {
                    buffer.pop();
                }
                let line = String::from_utf8_lossy(&buffer).into_owned();
                if tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("warning: cannot read stdin: {}", files::io_reason(&e));
                break;
            }
        }
    }
    let _ = tx.send(Event::StdinEnd);
}

#[cfg(test)]
mod tests {
    use super::parse_broker;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(
            parse_broker("mqtt://localhost").unwrap(),
            ("localhost".into(), 1883)
        );
        assert_eq!(parse_broker("tcp://[::1]:99/").unwrap(), ("::1".into(), 99));
        assert_eq!(parse_broker("host:7").unwrap(), ("host".into(), 7));
        for bad in [
            "mqtts://h:1",
            "http://h",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://:1",
            "mqtt://u@h",
        ] {
            assert!(parse_broker(bad).is_err(), "{bad}");
        }
    }
}
