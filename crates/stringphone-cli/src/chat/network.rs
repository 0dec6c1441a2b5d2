//! The MQTT connection: the network thread that turns what happens on it into
//! events, the chat's side of losing and regaining it, and publishing through the
//! outbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Outgoing as MqttOutgoing, Packet, QoS};

use super::outbox::QUEUE_MAX;
use super::{Chat, Event};
use crate::proto::{printable, to_hex};

/// The pause before the first reconnection attempt; it doubles up to `LAST_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);

const LAST_RETRY: Duration = Duration::from_secs(8);

/// While reconnecting, how often to say that we still are.
const STILL_RECONNECTING_EVERY: Duration = Duration::from_secs(30);

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

/// The network thread, as the chat holds it: to tell it that we stopped handing it
/// publishes (`resume`), and to stop it when leaving.
pub(super) struct NetworkThread {
    handle: JoinHandle<()>,
    stopping: Arc<AtomicBool>,
}

impl NetworkThread {
    /// Starts the network thread on `connection`, sending its events to `tx`; returns
    /// it, and the sender the chat tells it on that it stopped handing over publishes.
    pub(super) fn spawn(connection: Connection, tx: Sender<Event>) -> (Self, Sender<()>) {
        let (resume, resumed) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let handle = {
            let stopping = Arc::clone(&stopping);
            thread::spawn(move || network(connection, &tx, &resumed, &stopping))
        };
        (NetworkThread { handle, stopping }, resume)
    }

    /// Disconnects `client` and waits (two seconds at most) for the thread to end.
    pub(super) fn stop(self, client: &Client) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = client.disconnect();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Chat {
    pub(super) fn connection_lost(&mut self, reason: &str) {
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

    pub(super) fn back_online(&mut self) {
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
    pub(super) fn hand_over(&mut self) {
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
                    self.outbox.put_back(outgoing);
                    return;
                }
            }
        }
    }

    /// Publishes a wire message (as hex text with `--hex`); `line` for a typed line.
    pub(super) fn publish(&mut self, wire: &[u8], line: Option<(u64, String)>) {
        self.publish_as(wire, line, false);
    }

    /// Publishes a rekey, retained: the broker keeps the last one on the topic and hands
    /// it to whoever subscribes later, so a member whose chat was not running during a
    /// rotation gets it when it comes back (or a newcomer added while away), and takes
    /// it as it would have then. A member already there ignores it (the very rekey of
    /// the epoch it holds); a member more than one rotation behind cannot follow it
    /// and is told to `/rejoin`.
    pub(super) fn publish_rekey(&mut self, wire: &[u8]) {
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
}
