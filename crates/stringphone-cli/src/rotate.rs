//! `stringphone rotate`: an admin's rotation in one shot, without a chat.
//!
//! Connects to the broker first (so that nothing changes when it is unreachable),
//! then removes the participants named by `--remove` from the trust store, rotates
//! (the core saves the new epoch to the state directory before the rekey exists),
//! publishes the rekey (retained, as `chat` does, so that members offline now get it
//! when they next subscribe) and waits for the broker to acknowledge it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use rand_core::{OsRng, RngCore};
use rumqttc::{Client, Connection, Event, MqttOptions, Outgoing, Packet, QoS};
use stringphone::v2::ProtocolVersion;
use stringphone::{ParticipantId, Topic};

use crate::chat::{check_topic_name, parse_broker};
use crate::group::{self, Found};
use crate::proto::{self, to_hex, who};
use crate::{out, read_seed, read_topic_key, Failure, Result};

/// How long to wait for the broker to accept us, then to acknowledge the rekey.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// `stringphone rotate`'s arguments (its help is on the `Rotate` command).
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The broker, as mqtt://HOST:PORT (plain TCP; the port defaults to 1883)
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The MQTT topic (the topic's name, the same as `chat --topic`)
    #[arg(long, value_name = "NAME")]
    topic: String,
    /// Your signing seed (an admin's)
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key the topic started with (as `chat --key-file`); after a rotation
    /// the state directory holds the current one
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Leave this participant out of the new epoch and stop trusting it: a public key,
    /// id or fingerprint; repeatable
    #[arg(long, value_name = "WHO")]
    remove: Vec<String>,
    /// Publish the rekey as hex text (for a topic whose chats run with --hex)
    #[arg(long)]
    hex: bool,
}

/// An MQTT connection for one publish.
struct Link {
    client: Client,
    connection: Connection,
    broker: String,
}

impl Link {
    /// Connects, and waits (bounded) until the broker accepts us.
    fn open(broker: &str) -> Result<Self> {
        let (host, port) = parse_broker(broker)?;
        let mut nonce = [0u8; 8];
        OsRng.fill_bytes(&mut nonce);
        let mut options = MqttOptions::new(format!("sp-rotate-{}", to_hex(&nonce)), host, port);
        options
            .set_keep_alive(Duration::from_secs(15))
            .set_clean_session(true)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, connection) = Client::new(options, 8);
        let mut link = Link {
            client,
            connection,
            broker: broker.to_string(),
        };
        link.wait_for("accept the connection", |p| {
            matches!(p, Event::Incoming(Packet::ConnAck(_)))
        })?;
        Ok(link)
    }

    /// Drives the connection until `done` says an event is the one awaited.
    fn wait_for(&mut self, what: &str, done: impl Fn(&Event) -> bool) -> Result<()> {
        let deadline = Instant::now() + BROKER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.connection.recv_timeout(left) {
                Ok(Ok(event)) if done(&event) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(Failure::new(format!(
                        "cannot connect to broker {}: {e}",
                        self.broker
                    )))
                }
                Err(_) => {
                    return Err(Failure::new(format!(
                        "broker {} did not {what} within {} seconds",
                        self.broker,
                        BROKER_TIMEOUT.as_secs()
                    )))
                }
            }
        }
    }

    /// Publishes `payload` on `topic` (QoS 1, retained) and waits for the broker's
    /// acknowledgement.
    fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<()> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, true, payload)
            .map_err(|e| Failure::new(format!("cannot publish: {e}")))?;
        self.wait_for("acknowledge the rekey", |p| {
            matches!(p, Event::Incoming(Packet::PubAck(_)))
        })
    }

    /// Says goodbye to the broker (bounded; a failure here loses nothing).
    fn close(mut self) {
        if self.client.try_disconnect().is_ok() {
            let _ = self.wait_for("close", |p| {
                matches!(p, Event::Outgoing(Outgoing::Disconnect))
            });
        }
    }
}

/// Runs `stringphone rotate`.
pub fn run(args: RotateArgs, state: &Path) -> Result<()> {
    parse_broker(&args.broker)?;
    check_topic_name(&args.topic)?;
    let seed = read_seed(&args.seed_file)?;
    let key = match &args.key_file {
        Some(path) => Some(read_topic_key(path)?),
        None => None,
    };
    let mut topic = Topic::with_store(seed, key, proto::open_store(state)?);
    topic.set_protocol(ProtocolVersion::V2);
    topic.set_topic_id(proto::topic_id(&args.topic))?;
    // Before anything else: a chat of this identity on this directory sends, and only
    // one process may.
    group::claim_sending(&mut topic)?;
    if let Some(why) = group::rotation_refusal(&topic) {
        return Err(Failure::new(why));
    }

    // Everyone named must be known (trusted, a member or an admin): all or nothing.
    let known = group::known_ids(&topic)?;
    let mut removed: Vec<ParticipantId> = Vec::new();
    for name in &args.remove {
        let id = match group::find(name, known.iter().copied()) {
            Found::One(id) if known.contains(&id) => id,
            Found::Several => {
                return Err(Failure::new(format!(
                    "--remove {name}: several participants match; give more of the fingerprint"
                )))
            }
            _ => {
                return Err(Failure::new(format!(
                    "--remove {name}: nobody trusted here, nor any member of epoch {}, has \
                     that key, id or fingerprint: nothing done",
                    topic.epoch()
                )))
            }
        };
        if id == topic.id() {
            return Err(Failure::new(
                "--remove names this very identity: an admin leaves by letting another admin \
                 rotate it out",
            ));
        }
        if !removed.contains(&id) {
            removed.push(id);
        }
    }
    let kept = if removed.is_empty() {
        None
    } else {
        let (kept, untrusted) = group::kept_members(&topic, &removed)?;
        for id in untrusted {
            eprintln!(
                "note: {} is a member of epoch {} but not trusted here: left out",
                who(&id),
                topic.epoch()
            );
        }
        Some(kept)
    };

    let mut link = Link::open(&args.broker)?;
    for id in &removed {
        if topic.remove_participant(id)?.is_some() {
            out(&format!("removed {}", who(id)))?;
        }
    }
    let rekey = topic.rotate(kept.as_deref())?;
    let epoch = topic.epoch();
    let payload = if args.hex {
        to_hex(&rekey).into_bytes()
    } else {
        rekey
    };
    if let Err(e) = link.publish(&args.topic, payload) {
        return Err(Failure::new(format!(
            "{e}: the state directory is at epoch {epoch} now, but the broker did not confirm \
             the rekey; members that did not get it stay behind (in a chat, /rejoin asks a \
             member for the current key)"
        )));
    }
    if let Err(e) = topic.save_replay_marks() {
        eprintln!("warning: {}", Failure::from(e));
    }
    link.close();
    out(&group::rotated_line(&topic, &topic.id()))
}
