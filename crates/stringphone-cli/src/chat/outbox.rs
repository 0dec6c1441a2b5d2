//! The outbox: everything the chat publishes, from the moment it is made until the
//! broker acknowledges it, so that a lost connection loses nothing.

use std::collections::{HashMap, VecDeque};

/// Publishes handed to the MQTT client and not yet acknowledged, at most (the rest
/// waits in our queue, so that the client's bounded channel never blocks the chat).
const IN_FLIGHT_MAX: usize = 32;

/// Lines waiting for the broker, at most; beyond, a line is reported not sent.
pub(super) const QUEUE_MAX: usize = 1000;

/// One publish of ours, kept until the broker acknowledges it.
pub(super) struct Outgoing {
    /// Publishing order, to put things back in order after a lost connection.
    order: u64,
    pub(super) payload: Vec<u8>,
    /// A typed line: its number and text (discovery messages have none).
    pub(super) line: Option<(u64, String)>,
    /// Kept by the broker for whoever subscribes later (a rekey: see `Chat::publish_rekey`).
    pub(super) retain: bool,
}

/// Everything we publish, from the moment it is made until the broker acknowledges it.
///
/// rumqttc forgets what it had not delivered when a connection drops (a clean
/// session), so we keep it: on a lost connection everything unacknowledged goes back
/// to the queue and is handed to the client again once it is reconnected. A publish
/// whose acknowledgement was lost with the connection can so reach the topic twice;
/// none is lost while the chat runs.
#[derive(Default)]
pub(super) struct Outbox {
    next_order: u64,
    /// Not handed to the client yet (offline, or too many in flight).
    queued: VecDeque<Outgoing>,
    /// Handed to the client, not written yet: written in this order.
    handed: VecDeque<Outgoing>,
    /// Written with this packet id, waiting for the broker's acknowledgement.
    in_flight: HashMap<u16, Outgoing>,
}

impl Outbox {
    pub(super) fn len(&self) -> usize {
        self.queued.len() + self.handed.len() + self.in_flight.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a publish; false (nothing added) when the queue is full.
    pub(super) fn push(
        &mut self,
        payload: Vec<u8>,
        line: Option<(u64, String)>,
        retain: bool,
    ) -> bool {
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
    pub(super) fn next_to_hand(&mut self) -> Option<Outgoing> {
        if self.handed.len() + self.in_flight.len() >= IN_FLIGHT_MAX {
            return None;
        }
        self.queued.pop_front()
    }

    /// A publish the client did not take: first in line again.
    pub(super) fn put_back(&mut self, outgoing: Outgoing) {
        self.queued.push_front(outgoing);
    }

    pub(super) fn handed(&mut self, outgoing: Outgoing) {
        self.handed.push_back(outgoing);
    }

    /// The client wrote the oldest handed publish with this packet id.
    pub(super) fn written(&mut self, pkid: u16) {
        if let Some(outgoing) = self.handed.pop_front() {
            self.in_flight.insert(pkid, outgoing);
        }
    }

    pub(super) fn acked(&mut self, pkid: u16) -> Option<Outgoing> {
        self.in_flight.remove(&pkid)
    }

    /// The connection is gone, and with it what the client held: everything
    /// unacknowledged is queued again, in the order it was first published.
    pub(super) fn take_back(&mut self) {
        let mut back: Vec<Outgoing> = self.handed.drain(..).collect();
        back.extend(self.in_flight.drain().map(|(_, o)| o));
        back.sort_by_key(|o| o.order);
        for outgoing in back.into_iter().rev() {
            self.queued.push_front(outgoing);
        }
    }

    /// The typed lines never acknowledged, in order, and how many rekeys were not.
    pub(super) fn unsent(&mut self) -> (Vec<(u64, String)>, usize) {
        self.take_back();
        let rekeys = self.queued.iter().filter(|o| o.retain).count();
        let lines = self.queued.drain(..).filter_map(|o| o.line).collect();
        (lines, rekeys)
    }
}
