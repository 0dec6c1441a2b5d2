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
//! Inbound traffic goes through one function, `Chat::on_message`, which hands it to
//! the topic's one door, `Topic::receive`, and goes on by what that says arrived;
//! outbound traffic through one queue, `Outbox`, which knows what the
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
use stringphone::v2::wire::V2Type;
use stringphone::v2::{digest, RekeyOutcome, EPOCH_CONTEXT};
use stringphone::{DecodeMode, Error, Inbound, Message, ParticipantId, PublicKey, Topic};
use stringphone_store_sqlite::SqliteTrustStore;

use crate::files::KeyKind;
use crate::group::{self, Found};
use crate::proto::{
    self, from_hex, hex_message, id_of, parse_public_key, printable, to_hex, who, Discovery,
    Protocol,
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
///
/// v2 (--protocol v2 or both): rotations of the topic key are taken from the admins
/// named (--admin, /admin); an admin rotates with /rotate, and /remove WHO rotates WHO
/// out. The epoch, its key and members are kept in the state directory, and a restart
/// resumes them (the key file then counts no more).
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
    /// discovery; rotations), or both (reads both, sends v2)
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    protocol: Protocol,
    /// v2: trust this public key (64 hex digits) as an admin of the topic, whose
    /// rotations of the topic key this chat accepts (kept in the state directory);
    /// repeatable. A chat that starts a topic with its key is an admin itself
    #[arg(long = "admin", value_name = "PUBKEY_HEX")]
    admins: Vec<String>,
}

fn parse_seconds(s: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds"))
}

/// `mqtt://HOST:PORT` (or `tcp://`, or a bare `HOST[:PORT]`) to host and port.
pub(crate) fn parse_broker(url: &str) -> Result<(String, u16)> {
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
        /// v2, in an epoch that lists its members: approving rotates the newcomer in
        /// (replies go only to listed members).
        rotate_in: bool,
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
            Approval::Newcomer {
                rotate_in: false, ..
            } => format!(
                "approve? newcomer {} wants the topic key: compare its fingerprint out of \
                 band, then /approve {fp} to trust it and send the key, or /refuse {fp}",
                who(&id)
            ),
            Approval::Newcomer {
                rotate_in: true, ..
            } => format!(
                "approve? newcomer {} wants to join: the epoch lists its members, so \
                 approving trusts it and rotates the topic key to include it; compare its \
                 fingerprint out of band, then /approve {fp}, or /refuse {fp}",
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
    /// Kept by the broker for whoever subscribes later (a rekey: see `Chat::publish_rekey`).
    retain: bool,
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
    fn push(&mut self, payload: Vec<u8>, line: Option<(u64, String)>, retain: bool) -> bool {
        if self.len() >= QUEUE_MAX {
            return false;
        }
        self.next_order += 1;
        self.queued.push_back(Outgoing {
            order: self.next_order,
            payload,
            line,
            retain,
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

    /// The typed lines never acknowledged, in order, and how many rekeys were not.
    fn unsent(&mut self) -> (Vec<(u64, String)>, usize) {
        self.take_back();
        let rekeys = self.queued.iter().filter(|o| o.retain).count();
        let lines = self.queued.drain(..).filter_map(|o| o.line).collect();
        (lines, rekeys)
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
    /// Rekeys refused because their sender was not (yet) an admin or trusted here:
    /// tried again when `/admin` or `/trust` names it (the last one per sender).
    held_rekeys: VecDeque<(ParticipantId, Vec<u8>)>,
}

/// One line on stdout (errors ignored: a closed terminal must not stop the chat
/// from leaving cleanly).
fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Refuses a `--topic` that is no MQTT topic name one can publish to.
pub(crate) fn check_topic_name(topic: &str) -> Result<()> {
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return Err(Failure::new(format!(
            "--topic {topic:?}: an MQTT topic name must be non-empty, without '+', '#' or NUL"
        )));
    }
    Ok(())
}

/// Runs the chat until stdin ends.
pub fn run(args: ChatArgs, state: &Path) -> Result<()> {
    let (host, port) = parse_broker(&args.broker)?;
    check_topic_name(&args.topic)?;
    let seed = read_seed(&args.seed_file)?;
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
        topic.set_topic_id(proto::topic_id(&args.topic))?;
    }
    let mut named = Vec::new();
    for key in admins {
        let id = id_of(&key);
        if !topic.is_admin(&id) || !matches!(topic.trusted_key(&id), Ok(Some(k)) if k == key) {
            topic.add_admin(key)?;
            named.push(id);
        }
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
        held_rekeys: VecDeque::new(),
    };
    for id in named {
        chat.show(&format!("admin {}", who(&id)));
    }

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

    let (unsent, rekeys) = chat.outbox.unsent();
    for (n, text) in &unsent {
        say(&format!("not-sent {n} {}", printable(text.as_bytes())));
    }
    if rekeys > 0 {
        eprintln!(
            "warning: the rekey of our rotation to epoch {} never reached the broker: \
             members stay at the epoch before it until they /rejoin (a member of the new \
             epoch answers them)",
            chat.topic.epoch()
        );
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
                           (v2, once the epoch lists its members: an admin rotates it in)
  /refuse [FINGERPRINT]    do not
  /trust PUBLIC_KEY        trust this key (or the fingerprint of one that introduced itself)
  /intro                   introduce ourselves again: whoever approves us then trusts us
  /pending                 show the questions waiting for an answer
  v2:
  /rotate                  (admins) a new topic key for every trusted participant
  /remove WHO              stop trusting WHO; an admin also rotates it out of the topic
  /admin WHO               accept the rotations of WHO (a public key, or a fingerprint)
  /group                   show the epoch, its members and the admins
  /rejoin                  forget our epoch's key and ask a member for the current one
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
                outgoing.retain,
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
        self.publish_as(wire, line, false);
    }

    /// Publishes a rekey, retained: the broker keeps the last one on the topic and hands
    /// it to whoever subscribes later, so a member whose chat was not running during a
    /// rotation gets it when it comes back (or a newcomer added while away), and takes
    /// it as it would have then. A member already there ignores it (the very rekey of
    /// the epoch it holds); a member more than one rotation behind cannot follow it
    /// and is told to `/rejoin`.
    fn publish_rekey(&mut self, wire: &[u8]) {
        self.publish_as(wire, None, true);
    }

    fn publish_as(&mut self, wire: &[u8], line: Option<(u64, String)>, retain: bool) {
        let payload = if self.hex {
            to_hex(wire).into_bytes()
        } else {
            wire.to_vec()
        };
        let typed = line.clone();
        if !self.outbox.push(payload, line, retain) {
            match typed {
                Some((n, text)) => self.show(&format!("not-sent {n} {}", printable(text.as_bytes()))),
                None if retain => eprintln!("warning: {QUEUE_MAX} messages wait for the broker: the rekey of epoch {} was dropped (members /rejoin to follow)", self.topic.epoch()),
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
            "rotate" => self.rotate_command(arg),
            "remove" => self.remove_command(arg),
            "admin" => self.admin_command(arg),
            "group" => self.group_command(),
            "rejoin" => self.rejoin_command(),
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
            Approval::Newcomer { key, intro, .. } => {
                if self.is_trusted(&key) || self.trust(key, "newcomer") {
                    self.welcome(&intro, &key);
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
                self.retry_rekeys(&id);
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

    /// Everything that arrives, once out of its transport form: taken by the topic's
    /// one door ([`Topic::receive`]), then handled by what it was; a refusal is said
    /// by the kind of message refused.
    fn on_message(&mut self, bytes: &[u8]) {
        if let Some(why) = self.rotated_out(bytes) {
            let sender = sender_of(bytes);
            return self.show(&format!("refused {sender} {why}"));
        }
        let had_key = self.topic.topic_key().is_some();
        match self.topic.receive(bytes, DecodeMode::Strict) {
            Ok(Inbound::Message {
                sender, plaintext, ..
            }) => self.show(&format!("msg {} {}", who(&sender), printable(&plaintext))),
            Ok(Inbound::Introduction(newcomer)) => self.on_intro(bytes, newcomer.public_key()),
            Ok(Inbound::Reply(_)) => self.on_reply(bytes),
            Ok(Inbound::Rekey { admin, outcome }) => self.on_rekey(bytes, admin, outcome, had_key),
            Ok(_) => {} // our own echo: nothing to show
            Err(e) => self.on_refused(bytes, e, had_key),
        }
    }

    /// A message the topic refused, said by its kind: a rekey's refusal (once the
    /// bytes were read as one: not a refusal of v2 as a whole), an introduction whose
    /// signature fails, an untrusted sender's message (kept), anything else.
    fn on_refused(&mut self, bytes: &[u8], e: Error, had_key: bool) {
        let refused_as_v2 = matches!(e, Error::ProtocolRefused { .. } | Error::NoTopicId);
        match Message::parse(bytes) {
            Ok(Message::V2(m)) if m.header().message_type() == V2Type::Rekey && !refused_as_v2 => {
                return self.rekey_refused(bytes, m.header().sender_id(), e, had_key);
            }
            Ok(Message::Introduction(intro)) if matches!(e, Error::BadSignature) => {
                return self.intro_forged(&intro.sender_key());
            }
            Ok(Message::V2(m))
                if m.header().message_type() == V2Type::Introduction
                    && matches!(e, Error::BadSignature) =>
            {
                if let Some(key) = m.identity() {
                    return self.intro_forged(&key);
                }
            }
            _ => {}
        }
        if let Error::UntrustedSender(sender) = e {
            return self.on_untrusted(sender, bytes);
        }
        let why = match &e {
            Error::MissingTopicKey => "no topic key yet".to_string(),
            Error::UnknownEpoch(n) if *n > self.topic.epoch() => format!(
                "sealed under epoch {n}, whose key we do not hold: we missed a \
                 rotation, or were left out of it (/rejoin asks a member for the \
                 current key)"
            ),
            Error::UnknownEpoch(n) => format!(
                "sealed under epoch {n}, whose key was rotated away here (we hold \
                 epoch {})",
                self.topic.epoch()
            ),
            other => explain(other),
        };
        let sender = sender_of(bytes);
        self.show(&format!("refused {sender} {why}"));
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

    /// An introduction whose signature does not verify under the key it carries.
    fn intro_forged(&mut self, key: &PublicKey) {
        self.show(&format!(
            "refused {} introduction signature does not verify",
            who(&id_of(key))
        ));
    }

    /// An introduction, its signature checked by the topic (our own echo is never
    /// handed here): `key` is the newcomer's.
    fn on_intro(&mut self, payload: &[u8], key: PublicKey) {
        let id = id_of(&key);
        self.remember(key);
        let rotate_in = self.joins_by_rotation(&id);
        if rotate_in && group::rotation_refusal(&self.topic).is_some() {
            // Not ours to add: only an admin's rotation lets it in.
            self.show(&format!(
                "intro-ignored {} not a member of epoch {}: replies go only to listed \
                 members, and only an admin adds a newcomer (by trusting it and rotating)",
                who(&id),
                self.topic.epoch()
            ));
            return;
        }
        let trusted = self.is_trusted(&key);
        if !trusted && self.pairing() && self.admits_newcomers {
            if !self.trust(key, "newcomer") {
                return;
            }
        } else if !trusted || rotate_in {
            // A trusted participant the epoch does not list may have been rotated out
            // by another admin: it is rotated back in only on a decision made here.
            if self.interactive {
                self.ask(Approval::Newcomer {
                    key,
                    intro: payload.to_vec(),
                    rotate_in,
                });
                return;
            }
            let why = if trusted {
                format!(
                    "trusted, but not a member of epoch {}: /rotate rotates every trusted \
                     participant in (or /approve, at a terminal)",
                    self.topic.epoch()
                )
            } else if self.pairing() {
                "not approved (this pairing window trusts only who answers our \
                 introduction; --admit-newcomers trusts newcomers too)"
                    .to_string()
            } else {
                "not approved (no pairing window, no terminal)".to_string()
            };
            self.show(&format!("intro-ignored {} {why}", who(&id)));
            return;
        }
        self.welcome(payload, &key);
    }

    /// Whether a newcomer gets in only through a rotation: the topic speaks v2 and its
    /// epoch lists its members, without it (replies go only to listed members).
    fn joins_by_rotation(&self, id: &ParticipantId) -> bool {
        self.topic.protocol().accepts_v2()
            && group::lists_members(&self.topic)
            && !group::is_listed(&self.topic, id)
    }

    /// Lets an approved newcomer in: a reply with the key, or, when the epoch lists its
    /// members, a rotation that lists it too (it takes the rekey as it names us admin).
    fn welcome(&mut self, intro: &[u8], key: &PublicKey) {
        let id = id_of(key);
        if !self.joins_by_rotation(&id) {
            return self.reply_to(intro, key);
        }
        if let Some(why) = group::rotation_refusal(&self.topic) {
            return self.show(&format!(
                "intro-ignored {} not a member of epoch {}, and {why}",
                who(&id),
                self.topic.epoch()
            ));
        }
        let (mut kept, untrusted) = match group::kept_members(&self.topic, &[]) {
            Ok(found) => found,
            Err(e) => return eprintln!("cannot rotate: {}", explain(&e)),
        };
        kept.push(id);
        self.rotate_to(Some(kept), &untrusted);
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
        self.save_first_key();
    }

    /// Writes the first key this chat gets (from a reply, or from a rekey that lets a
    /// newcomer in) to the `--key-file` named, once: the chat never writes it again. In
    /// v2, after a rotation the state directory's group state holds the current key and
    /// is the authority (the key file then only tells a restart that this participant
    /// joined; it never takes the topic back to the key it holds).
    fn save_first_key(&mut self) {
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

    /// A v2 rekey the topic took (it saves an accepted one to the state directory
    /// itself: nothing is saved here); `had_key`: whether we held a key before.
    fn on_rekey(
        &mut self,
        bytes: &[u8],
        admin: ParticipantId,
        outcome: RekeyOutcome,
        had_key: bool,
    ) {
        match outcome {
            RekeyOutcome::Rotated { .. } => {
                self.held_rekeys.retain(|(sender, _)| *sender != admin);
                self.show(&group::rotated_line(&self.topic, &admin));
                if !had_key {
                    self.save_first_key();
                }
            }
            RekeyOutcome::Superseded => {
                if digest(EPOCH_CONTEXT, bytes) == self.topic.epoch_id() {
                    return; // the rekey of the epoch we hold, again
                }
                self.show(&format!(
                    "rekey-superseded {} a competing rotation of epoch {} won (the one \
                     listing fewer members, then the smaller admin id)",
                    who(&admin),
                    self.topic.epoch()
                ));
            }
            // An outcome this version does not know: said as it is.
            other => self.show(&format!("rekey {} {other:?}", who(&admin))),
        }
    }

    /// A v2 rekey the topic refused: one from a sender that is not (yet) an admin
    /// here is kept, to be taken once it is one.
    fn rekey_refused(&mut self, bytes: &[u8], admin: ParticipantId, e: Error, had_key: bool) {
        if matches!(e, Error::NotAnAdmin(_) | Error::UntrustedSender(_)) {
            self.held_rekeys.retain(|(sender, _)| *sender != admin);
            if self.held_rekeys.len() >= HELD_MAX {
                self.held_rekeys.pop_front();
            }
            self.held_rekeys.push_back((admin, bytes.to_vec()));
        }
        let why = self.why_rekey_refused(&e, &admin, had_key);
        self.show(&format!("rekey-refused {} {why}", who(&admin)));
    }

    /// A refused rekey, said for the person at the chat.
    fn why_rekey_refused(&self, e: &Error, admin: &ParticipantId, had_key: bool) -> String {
        let me = self.topic.id();
        let current = self.topic.epoch();
        let fp = admin.fingerprint();
        match e {
            Error::NotAnAdmin(_) | Error::UntrustedSender(_) => format!(
                "not an admin here: its rotations are not accepted (if you trust it to \
                 rotate the topic key, /admin {fp}, or /admin PUBLIC_KEY if it is not \
                 trusted yet; this rekey is then taken)"
            ),
            Error::NotAMember(id) if *id == me && had_key => {
                "this rotation leaves us out: we were removed, and read nothing of the new \
                 epoch (an admin can add us back by trusting us and rotating)"
                    .into()
            }
            Error::NotAMember(id) if *id == me => "we are not listed in this rotation (not a \
                 member yet: an admin adds us by trusting us and rotating)"
                .into(),
            Error::NotAMember(_) => "it was left out of the epoch it rotates: it may no \
                 longer rotate"
                .into(),
            Error::EpochMismatch { got, .. } if *got <= current => format!(
                "a rotation to epoch {got}, which does not follow our epoch {current}: an \
                 old or competing rekey, ignored"
            ),
            Error::EpochMismatch { got, .. } => format!(
                "a rotation to epoch {got}, which does not follow our epoch {current}: we \
                 missed a rotation; /rejoin asks a member for the current key"
            ),
            other => explain(other),
        }
    }

    /// A v2 message of an earlier epoch (one still read during its grace period) from
    /// a sender the current epoch does not list: a participant rotated out. The core
    /// reads the previous epoch for messages still in flight; a participant left out
    /// of the new epoch is refused from the rotation on, in either epoch. Returns why.
    fn rotated_out(&self, bytes: &[u8]) -> Option<String> {
        let Ok(Message::V2(m)) = Message::parse(bytes) else {
            return None;
        };
        let header = m.header();
        let sender = header.sender_id();
        let current = self.topic.epoch();
        if header.message_type() != V2Type::Message
            || sender == self.topic.id()
            || header.epoch() >= current
            || group::is_listed(&self.topic, &sender)
        {
            return None;
        }
        Some(format!(
            "left out of epoch {current} by its rotation: its messages of epoch {} are \
             refused too",
            header.epoch()
        ))
    }

    /// Takes again the rekeys held from `sender`, once it is an admin here.
    fn retry_rekeys(&mut self, sender: &ParticipantId) {
        if !self.topic.is_admin(sender) {
            return;
        }
        let (theirs, others): (Vec<_>, Vec<_>) = self
            .held_rekeys
            .drain(..)
            .partition(|(held, _)| held == sender);
        self.held_rekeys = others.into();
        for (_, rekey) in theirs {
            self.on_message(&rekey);
        }
    }

    /// Rotates to `members` (every trusted participant when `None`), publishes the
    /// rekey and says so; `untrusted`: listed members left out for not being trusted.
    fn rotate_to(&mut self, members: Option<Vec<ParticipantId>>, untrusted: &[ParticipantId]) {
        if let Some(why) = group::rotation_refusal(&self.topic) {
            return eprintln!("cannot rotate: {why}");
        }
        for id in untrusted {
            eprintln!(
                "note: {} is a member of epoch {} but not trusted here: left out",
                who(id),
                self.topic.epoch()
            );
        }
        match self.topic.rotate(members.as_deref()) {
            Ok(rekey) => {
                self.publish_rekey(&rekey);
                let me = self.topic.id();
                self.show(&group::rotated_line(&self.topic, &me));
            }
            Err(e) => eprintln!("cannot rotate: {}", explain(&e)),
        }
    }

    /// `/rotate`: a new topic key for every trusted participant (admins).
    fn rotate_command(&mut self, arg: Option<&str>) {
        if arg.is_some() {
            return eprintln!("/rotate takes no argument (/remove WHO leaves someone out)");
        }
        self.rotate_to(None, &[]);
    }

    /// `/remove WHO`: stops trusting WHO (and its admin right); an admin of a v2 topic
    /// also rotates to the remaining members, so that WHO reads nothing new.
    fn remove_command(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            return eprintln!("/remove needs a participant: its fingerprint, id or public key");
        };
        let known = match group::known_ids(&self.topic) {
            Ok(ids) => ids,
            Err(e) => return eprintln!("/remove: {}", explain(&e)),
        };
        let id = match group::find(name, known.iter().copied()) {
            Found::One(id) if known.contains(&id) => id,
            Found::Several => {
                return eprintln!("/remove: {name} matches several participants: give more of it")
            }
            _ => return eprintln!("/remove: nobody trusted here, nor any member, is {name}"),
        };
        if id == self.topic.id() {
            return eprintln!("/remove: that is this very identity");
        }
        let v2 = self.topic.protocol().sends_v2();
        let rotation = if v2 && group::rotation_refusal(&self.topic).is_none() {
            match group::kept_members(&self.topic, &[id]) {
                Ok(kept) => Some(kept),
                Err(e) => return eprintln!("/remove: {}", explain(&e)),
            }
        } else {
            None
        };
        match self.topic.remove_participant(&id) {
            Ok(Some(_)) => self.show(&format!("removed {}", who(&id))),
            Ok(None) => {}
            Err(e) => return eprintln!("/remove: {}", explain(&e)),
        }
        match rotation {
            Some((kept, untrusted)) => self.rotate_to(Some(kept), &untrusted),
            None if v2 => eprintln!(
                "/remove: {} is no longer trusted here, but still holds the topic key \
                 until an admin rotates it out (/remove in an admin's chat, or \
                 `stringphone rotate --remove`)",
                who(&id)
            ),
            None => eprintln!(
                "/remove: {} is no longer trusted here, but still holds the topic key: a \
                 classic topic shuts someone out only with a new topic key",
                who(&id)
            ),
        }
    }

    /// `/admin WHO`: accepts the rotations of WHO from now on (and trusts it).
    fn admin_command(&mut self, name: Option<&str>) {
        if !self.topic.protocol().accepts_v2() {
            return eprintln!("/admin: admins rotate v2 topics: chat with --protocol v2 (or both)");
        }
        let Some(name) = name else {
            return eprintln!(
                "/admin needs a public key (64 hex digits), or the fingerprint of a trusted \
                 participant (or of one that introduced itself here)"
            );
        };
        let key = if name.trim().len() == 64 {
            match parse_public_key(name, "/admin") {
                Ok(key) => key,
                Err(e) => return eprintln!("{e}"),
            }
        } else {
            let mut keys: Vec<PublicKey> = match self.topic.participants() {
                Ok(entries) => entries.map(|(_, key)| key).collect(),
                Err(e) => return eprintln!("/admin: {}", explain(&e)),
            };
            keys.extend(self.seen.values().copied());
            match pick(name, keys.iter()) {
                Picked::One(key) => *key,
                Picked::Several => {
                    return eprintln!("/admin: {name} matches several keys: give its public key")
                }
                Picked::None => {
                    return eprintln!(
                        "/admin: nobody trusted here (nor any participant that introduced \
                         itself) has fingerprint {name}: give its public key"
                    )
                }
            }
        };
        let id = id_of(&key);
        if self.topic.is_admin(&id) && self.is_trusted(&key) {
            return eprintln!("/admin: {} is already an admin", who(&id));
        }
        if !self.is_trusted(&key) && !self.trust(key, "by-command") {
            return;
        }
        match self.topic.add_admin(key) {
            Ok(_) => {
                self.show(&format!("admin {}", who(&id)));
                self.retry_rekeys(&id);
            }
            Err(e) => eprintln!("/admin: {}", explain(&e)),
        }
    }

    /// `/group`: the epoch, its members and the admins.
    fn group_command(&mut self) {
        if !self.topic.protocol().accepts_v2() {
            return eprintln!("/group: a classic topic has no group (v2: --protocol v2 or both)");
        }
        let me = self.topic.id();
        for line in group::describe(&self.topic.group_state(), Some(&me)) {
            self.show(&line);
        }
    }

    /// `/rejoin`: forgets the key of the epoch we hold and introduces us again, for a
    /// member that can no longer follow the rotations (it missed one): a member of the
    /// current epoch answers with its key, or an admin's rotation lists us.
    fn rejoin_command(&mut self) {
        if !self.topic.protocol().sends_v2() {
            return eprintln!("/rejoin is for v2 topics (classic: /intro)");
        }
        if let Err(e) = self.topic.forget_epoch() {
            return eprintln!("/rejoin: {}", explain(&e));
        }
        match self.topic.construct_intro() {
            Ok(intro) => {
                self.publish(&intro, None);
                self.show("intro-sent");
            }
            Err(e) => eprintln!("/rejoin: {}", explain(&e)),
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
