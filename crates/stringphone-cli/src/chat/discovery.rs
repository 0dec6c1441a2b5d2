//! Discovery in a chat: introductions answered (or questioned), replies opened, and
//! the first topic key saved.

use std::time::Instant;

use stringphone::{Error, Message, ParticipantId, PublicKey};

use super::questions::Approval;
use super::Chat;
use crate::error::explain;
use crate::files::{self, KeyKind};
use crate::group;
use crate::proto::{id_of, who};

impl Chat {
    pub(super) fn pairing(&self) -> bool {
        self.pairing_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// An introduction, its signature checked by the topic (our own echo is never
    /// handed here): `key` is the newcomer's.
    pub(super) fn on_intro(&mut self, payload: &[u8], key: PublicKey) {
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
    pub(super) fn welcome(&mut self, intro: &[u8], key: &PublicKey) {
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

    pub(super) fn on_reply(&mut self, payload: &[u8]) {
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
    pub(super) fn install_v2_reply(&mut self, payload: &[u8], replier: &ParticipantId) {
        match self.topic.parse_reply(payload) {
            Ok(_) => self.key_received(replier),
            Err(Error::NoPendingIntroduction) if self.topic.topic_key().is_some() => {}
            Err(e) => self.show(&format!("reply-ignored {} {}", who(replier), explain(&e))),
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
    pub(super) fn save_first_key(&mut self) {
        let key = self.topic.topic_key().cloned();
        if let (Some(path), Some(key)) = (self.save_key_to.take(), key) {
            match files::write_key(&path, KeyKind::TopicKey, key.expose_secret(), false) {
                Ok(()) => eprintln!("topic key saved to {}", path.display()),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
}
