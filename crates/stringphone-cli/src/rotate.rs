//! `stringphone rotate`: an admin's rotation in one shot, without a chat.
//!
//! Connects to the broker first (so that nothing changes when it is unreachable),
//! then removes the participants named by `--remove` from the trust store, rotates
//! (the core saves the new epoch to the state directory before the rekey exists),
//! publishes the rekey (retained, as `chat` does, so that members offline now get it
//! when they next subscribe) and waits for the broker to acknowledge it.

use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, Outgoing, Packet, QoS};
use stringphone::v2::ProtocolVersion;
use stringphone::{ParticipantId, Topic, TrustStore};
use stringphone_store_sqlite::SqliteTrustStore;

use crate::args::RotateArgs;
use crate::error::{Failure, Result};
use crate::files::{read_seed, read_topic_key};
use crate::group::{self, Found};
use crate::mqtt;
use crate::proto::{self, to_hex, who};
use crate::stdio::out;

/// How long to wait for the broker to accept us, then to acknowledge the rekey.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// An MQTT connection for one publish.
struct Link {
    client: Client,
    connection: Connection,
    broker: String,
}

impl Link {
    /// Connects to `broker` (at `host:port`), and waits (bounded) until it accepts us.
    fn open(broker: &str, host: String, port: u16) -> Result<Self> {
        let (client, connection) = mqtt::client("sp-rotate", host, port, 8);
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
    let (host, port) = mqtt::check(&args.mqtt)?;
    let mut topic = open_topic(&args, state)?;
    let removed = named_for_removal(&topic, &args.remove)?;
    let kept = members_kept(&topic, &removed)?;
    let mut link = Link::open(&args.mqtt.broker, host, port)?;
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
    if let Err(e) = link.publish(&args.mqtt.topic, payload) {
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

/// The v2 topic of the state directory, with the right to send taken, refused unless
/// this identity may rotate it.
fn open_topic(args: &RotateArgs, state: &Path) -> Result<Topic<SqliteTrustStore>> {
    let seed = read_seed(&args.mqtt.seed_file)?;
    let key = match &args.key_file {
        Some(path) => Some(read_topic_key(path)?),
        None => None,
    };
    let mut topic = Topic::with_store(seed, key, proto::open_store(state)?);
    topic.set_protocol(ProtocolVersion::V2);
    topic.set_topic_id(proto::topic_id(&args.mqtt.topic))?;
    // Before anything else: a chat of this identity on this directory sends, and only
    // one process may.
    group::claim_sending(&mut topic)?;
    if let Some(why) = group::rotation_refusal(&topic) {
        return Err(Failure::new(why));
    }
    Ok(topic)
}

/// The participants `--remove` names, each once. Everyone named must be known
/// (trusted, a member or an admin), and not this identity: all or nothing.
fn named_for_removal<S: TrustStore>(
    topic: &Topic<S>,
    names: &[String],
) -> Result<Vec<ParticipantId>> {
    let known = group::known_ids(topic)?;
    let mut removed: Vec<ParticipantId> = Vec::new();
    for name in names {
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
    Ok(removed)
}

/// The members the new epoch lists: `None` (every trusted participant) when nobody is
/// removed, else the current ones but `removed` (members not trusted here are said and
/// left out).
fn members_kept<S: TrustStore>(
    topic: &Topic<S>,
    removed: &[ParticipantId],
) -> Result<Option<Vec<ParticipantId>>> {
    if removed.is_empty() {
        return Ok(None);
    }
    let (kept, untrusted) = group::kept_members(topic, removed)?;
    for id in untrusted {
        eprintln!(
            "note: {} is a member of epoch {} but not trusted here: left out",
            who(&id),
            topic.epoch()
        );
    }
    Ok(Some(kept))
}
