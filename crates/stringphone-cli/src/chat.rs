//! `stringphone chat`: a participant on an MQTT topic.
//!
//! Every event is one line on stdout, starting with a keyword, so a script (or a test)
//! can follow along:
//!
//! | line | meaning |
//! | --- | --- |
//! | `ready <id> <fp> key` / `no-key` | subscribed; whether we hold the topic key |
//! | `pairing-open <seconds>` / `pairing-closed` | the pairing window opens / closes |
//! | `intro-sent` | we asked for the topic key |
//! | `key-received <id> <fp>` | a reply gave us the topic key (`<id>`: the replier's claim) |
//! | `trusted <id> <fp> newcomer` / `replier` | added to the trust store |
//! | `reply-sent <id> <fp>` | we handed the topic key to this newcomer |
//! | `intro-ignored <id> <fp> <why>` | a newcomer we did not approve: no key for it |
//! | `intro-noted <id> <fp> no-topic-key` | approved, but we have no key to give yet |
//! | `reply-ignored <id> <fp> <why>` | a reply to us we did not use |
//! | `replier-untrusted <id> <fp>` | a reply worked but its sender was not approved (v2: no key) |
//! | `approve? ...` | (terminal only) answer `y` to approve |
//! | `msg <id> <fp> <text>` | a message, verified: `<id>` wrote it |
//! | `refused <id> <fp> <why>` | a message that was not accepted (`- -` if no sender) |
//!
//! Text from others is printed on one line, control characters escaped.
//!
//! With `--protocol v2` (or `both`) the chat sends v2, refuses replays (keeping its
//! replay marks in the state directory, exact ones stored on a clean exit), and runs
//! v2 discovery: introductions and replies are signed, and a joiner installs the key
//! only from a replier it trusts or approves (otherwise `replier-untrusted`, no key).

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use rand_core::{OsRng, RngCore};
use rumqttc::{Client, MqttOptions, Outgoing, Packet, QoS};
use stringphone::{DecodeMode, Decoded, Error, Message, ParticipantId, PublicKey, Topic};
use stringphone_store_file::FileTrustStore;

use crate::proto::{self, id_of, introduction_key, printable, to_hex, who, Discovery, Protocol};
use crate::{explain, files, read_seed, read_topic_key, Failure, Result};

/// How long to wait for the broker to accept us.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After stdin ends, how long at most to wait for the broker to acknowledge what we
/// sent.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Chat on an MQTT topic.
///
/// Joins the topic; without a topic key, sends an introduction and waits for a reply.
/// Newcomers get the key only once approved: already trusted, approved at the
/// terminal prompt, or arriving during the --pair-for window. Each line typed is
/// sent; each message received is printed with its sender. Without a terminal on
/// stdin nothing is ever asked (only the pairing window approves), and the command
/// leaves once stdin ends and --linger has passed.
#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The broker, as mqtt://HOST:PORT (plain TCP; the port defaults to 1883)
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The MQTT topic to chat on
    #[arg(long, value_name = "NAME")]
    topic: String,
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key; if this file does not exist, discovery runs and saves the key
    /// there. Without it, the key obtained is kept in memory only
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// For this many seconds from the start, approve every newcomer (and every
    /// participant answering our introduction) without asking
    #[arg(long, value_name = "SECONDS")]
    pair_for: Option<u64>,
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
    Connected,
    Subscribed,
    Payload(Vec<u8>),
    Acked,
    /// The connection failed; `true` when it never came up.
    ConnectionError(String, bool),
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
}

struct Chat {
    topic: Topic<FileTrustStore>,
    client: Client,
    mqtt_topic: String,
    broker: String,
    tx: Sender<Event>,
    interactive: bool,
    pair_for: Option<u64>,
    pairing_until: Option<Instant>,
    /// Our introduction, kept for the whole session so that every participant that
    /// answers it can be checked, not only the first.
    discovery: Option<Discovery>,
    save_key_to: Option<PathBuf>,
    approvals: VecDeque<Approval>,
    ready: bool,
    unacked: usize,
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
    let store = FileTrustStore::open(state)?;
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
    let (client, mut connection) = Client::new(options, 64);

    let (tx, rx) = mpsc::channel();
    let stopping = Arc::new(AtomicBool::new(false));
    let network = {
        let tx = tx.clone();
        let stopping = Arc::clone(&stopping);
        thread::spawn(move || {
            let mut connected = false;
            for notification in connection.iter() {
                let event = match notification {
                    Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        Event::Connected
                    }
                    Ok(rumqttc::Event::Incoming(Packet::SubAck(_))) => Event::Subscribed,
                    Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => {
                        Event::Payload(p.payload.to_vec())
                    }
                    Ok(rumqttc::Event::Incoming(Packet::PubAck(_))) => Event::Acked,
                    Ok(rumqttc::Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let first = !connected;
                        if tx
                            .send(Event::ConnectionError(e.to_string(), first))
                            .is_err()
                            || first
                        {
                            break;
                        }
                        thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        })
    };

    let mut chat = Chat {
        topic,
        client,
        mqtt_topic: args.topic.clone(),
        broker: args.broker.clone(),
        tx,
        interactive: crate::stdin_is_terminal(),
        pair_for: args.pair_for.filter(|&s| s > 0),
        pairing_until: None,
        discovery: None,
        save_key_to,
        approvals: VecDeque::new(),
        ready: false,
        unacked: 0,
        seed,
    };

    let start = Instant::now();
    let mut stdin_ended: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if chat.pairing_until.is_some_and(|until| now >= until) {
            chat.pairing_until = None;
            say("pairing-closed");
        }
        if let Some(ended) = stdin_ended {
            let acked = chat.unacked == 0 || now >= ended + ACK_TIMEOUT;
            if acked && now >= ended + args.linger {
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
    Ok(())
}

impl Chat {
    fn handle(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Connected => {
                self.client
                    .subscribe(self.mqtt_topic.clone(), QoS::AtLeastOnce)
                    .map_err(|e| Failure::new(format!("cannot subscribe: {e}")))?;
            }
            Event::Subscribed if !self.ready => self.on_ready()?,
            Event::Subscribed => {}
            Event::Payload(payload) => self.on_payload(&payload),
            Event::Acked => self.unacked = self.unacked.saturating_sub(1),
            Event::ConnectionError(e, first) => {
                if first || !self.ready {
                    return Err(Failure::new(format!(
                        "cannot connect to broker {}: {e}",
                        self.broker
                    )));
                }
                eprintln!("warning: connection to the broker lost ({e}); reconnecting");
            }
            Event::Line(line) => self.on_line(line),
            Event::StdinEnd => {}
        }
        Ok(())
    }

    fn publish(&mut self, payload: Vec<u8>) {
        match self
            .client
            .publish(self.mqtt_topic.clone(), QoS::AtLeastOnce, false, payload)
        {
            Ok(()) => self.unacked += 1,
            Err(e) => eprintln!("warning: cannot publish: {e}"),
        }
    }

    fn on_ready(&mut self) -> Result<()> {
        self.ready = true;
        let id = self.topic.id();
        let has_key = if self.topic.topic_key().is_some() {
            "key"
        } else {
            "no-key"
        };
        say(&format!("ready {} {has_key}", who(&id)));
        if let Some(secs) = self.pair_for {
            self.pairing_until = Some(Instant::now() + Duration::from_secs(secs));
            say(&format!("pairing-open {secs}"));
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
            self.publish(intro);
            say("intro-sent");
        }
        let tx = self.tx.clone();
        thread::spawn(move || {
            for line in io::stdin().lock().lines() {
                match line {
                    Ok(line) => {
                        if tx.send(Event::Line(line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("warning: cannot read stdin: {}", files::io_reason(&e));
                        break;
                    }
                }
            }
            let _ = tx.send(Event::StdinEnd);
        });
        Ok(())
    }

    fn pairing(&self) -> bool {
        self.pairing_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn on_line(&mut self, line: String) {
        if let Some(approval) = self.approvals.pop_front() {
            let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
            let id = id_of(approval.key());
            if yes {
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
            } else {
                say(&format!("not-approved {}", who(&id)));
            }
            self.prompt();
            return;
        }
        if line.is_empty() {
            return;
        }
        match self.topic.encode(line.as_bytes()) {
            Ok(wire) => self.publish(wire),
            Err(Error::MissingTopicKey) => {
                eprintln!("cannot send: no topic key yet (waiting for a reply to our introduction)")
            }
            Err(e) => eprintln!("cannot send: {}", explain(&e)),
        }
    }

    /// Asks about the first pending approval, if any.
    fn prompt(&self) {
        let Some(approval) = self.approvals.front() else {
            return;
        };
        let id = id_of(approval.key());
        match approval {
            Approval::Newcomer { .. } => say(&format!(
                "approve? newcomer {} wants the topic key: compare its fingerprint out of \
                 band, then type y to trust it and send the key, anything else to refuse",
                who(&id)
            )),
            Approval::Replier { .. } => say(&format!(
                "approve? {} answered our introduction: type y to trust it, anything else \
                 to refuse",
                who(&id)
            )),
        }
    }

    fn ask(&mut self, approval: Approval) {
        if self.approvals.iter().any(|a| a.key() == approval.key()) {
            return;
        }
        self.approvals.push_back(approval);
        if self.approvals.len() == 1 {
            self.prompt();
        }
    }

    /// Adds `key` to the trust store; false (and a line saying why) if that failed.
    fn trust(&mut self, key: PublicKey, role: &str) -> bool {
        match self.topic.add_participant(key) {
            Ok(id) => {
                say(&format!("trusted {} {role}", who(&id)));
                true
            }
            Err(e) => {
                say(&format!("refused {} {}", who(&id_of(&key)), explain(&e)));
                false
            }
        }
    }

    fn is_trusted(&self, key: &PublicKey) -> bool {
        matches!(self.topic.trusted_key(&id_of(key)), Ok(Some(k)) if k == *key)
    }

    fn on_payload(&mut self, payload: &[u8]) {
        match self.topic.decode(payload, DecodeMode::Strict) {
            Ok(Decoded::Message {
                sender, plaintext, ..
            }) => say(&format!("msg {} {}", who(&sender), printable(&plaintext))),
            Ok(_) => {} // our own echo
            Err(Error::Introduction) => self.on_intro(payload),
            Err(Error::IntroductionReply) => self.on_reply(payload),
            Err(e) => {
                let sender = match Message::parse(payload) {
                    Ok(m) => m.sender_id().map(|id| who(&id)),
                    Err(_) => None,
                };
                let why = match &e {
                    Error::UntrustedSender(_) => "untrusted sender".to_string(),
                    Error::MissingTopicKey => "no topic key yet".to_string(),
                    other => explain(other),
                };
                say(&format!(
                    "refused {} {why}",
                    sender.unwrap_or_else(|| "- -".into())
                ));
            }
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
            say(&format!(
                "refused {} introduction signature does not verify",
                who(&id)
            ));
            return;
        }
        if !self.is_trusted(&key) {
            if self.pairing() {
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
                say(&format!(
                    "intro-ignored {} not approved (no pairing window, no terminal)",
                    who(&id)
                ));
                return;
            }
        }
        self.reply_to(payload, &key);
    }

    fn reply_to(&mut self, intro: &[u8], key: &PublicKey) {
        let id = id_of(key);
        match self.topic.construct_reply(intro) {
            Ok(reply) => {
                self.publish(reply.to_vec());
                say(&format!("reply-sent {}", who(&id)));
            }
            Err(Error::MissingTopicKey) => say(&format!("intro-noted {} no-topic-key", who(&id))),
            Err(e) => say(&format!("refused {} {}", who(&id), explain(&e))),
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
            say(&format!(
                "reply-ignored {} we sent no introduction",
                who(&claimed)
            ));
            return;
        };
        let (replier, key) = match discovery.open(payload) {
            Ok(opened) => opened,
            Err(e) => {
                say(&format!("reply-ignored {} {}", who(&claimed), explain(&e)));
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
                say(&format!(
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
            say(&format!("replier-untrusted {}", who(&claimed)));
        }
    }

    /// The topic key is installed: says so, and saves it if a key file was named.
    fn key_received(&mut self, claimed: &ParticipantId) {
        say(&format!("key-received {}", who(claimed)));
        let key = self.topic.topic_key().cloned();
        if let (Some(path), Some(key)) = (self.save_key_to.take(), key) {
            match files::write_key(&path, "topic key file", key.expose_secret(), false) {
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
                    say(&format!("replier-untrusted {}", who(&id)));
                }
            }
            // Another answer to an introduction a reply already answered.
            Err(Error::NoPendingIntroduction) if self.topic.topic_key().is_some() => {}
            Err(e) => say(&format!("reply-ignored {} {}", who(claimed), explain(&e))),
        }
    }

    /// Parses a v2 reply again once its replier is trusted.
    fn install_v2_reply(&mut self, payload: &[u8], replier: &ParticipantId) {
        match self.topic.parse_reply(payload) {
            Ok(_) => self.key_received(replier),
            Err(Error::NoPendingIntroduction) if self.topic.topic_key().is_some() => {}
            Err(e) => say(&format!("reply-ignored {} {}", who(replier), explain(&e))),
        }
    }
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
