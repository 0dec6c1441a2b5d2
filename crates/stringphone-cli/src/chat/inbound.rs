//! What arrives on the topic: out of its transport form, through the topic's one door
//! (`Topic::receive`), and on by what it was; refusals said by the kind of message
//! refused; untrusted senders' messages kept for `/trust`.

use stringphone::v2::wire::V2Type;
use stringphone::{DecodeMode, Error, Inbound, Message, ParticipantId, PublicKey};

use super::terminal::sender_of;
use super::Chat;
use crate::error::explain;
use crate::proto::{from_hex, hex_message, id_of, printable, who};

/// Messages from untrusted senders kept, so that `/trust` can show them.
pub(super) const HELD_MAX: usize = 64;

/// Public keys seen in introductions, kept for `/trust FINGERPRINT`.
const SEEN_MAX: usize = 256;

impl Chat {
    /// A payload from the topic: hex text with `--hex`, raw bytes without. The other
    /// form is recognised and named, so that a chat next to the original's example
    /// (which publishes hex) says what to do instead of "unknown message type".
    pub(super) fn on_payload(&mut self, payload: &[u8]) {
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
    pub(super) fn on_message(&mut self, bytes: &[u8]) {
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

    /// Adds `key` to the trust store; false (and a line saying why) if that failed.
    /// What it sent before, refused then, is shown now.
    pub(super) fn trust(&mut self, key: PublicKey, role: &str) -> bool {
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

    pub(super) fn is_trusted(&self, key: &PublicKey) -> bool {
        matches!(self.topic.trusted_key(&id_of(key)), Ok(Some(k)) if k == *key)
    }

    /// Keeps a key that introduced itself (signed), for `/trust FINGERPRINT`.
    pub(super) fn remember(&mut self, key: PublicKey) {
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
}
