//! v2 rotations: the rekeys received (taken, superseded, refused or held until their
//! sender is an admin here), and our own rotations.

use stringphone::v2::wire::V2Type;
use stringphone::v2::{RekeyOutcome, EPOCH_CONTEXT};
use stringphone::{Error, Message, ParticipantId};

use super::inbound::HELD_MAX;
use super::Chat;
use crate::error::explain;
use crate::group;
use crate::proto::who;

impl Chat {
    /// A v2 rekey the topic took (it saves an accepted one to the state directory
    /// itself: nothing is saved here); `had_key`: whether we held a key before.
    pub(super) fn on_rekey(
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
                let id = self
                    .topic
                    .topic_id()
                    .map(|t| t.digest(EPOCH_CONTEXT, bytes));
                if id == Some(self.topic.epoch_id()) {
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
    pub(super) fn rekey_refused(
        &mut self,
        bytes: &[u8],
        admin: ParticipantId,
        e: Error,
        had_key: bool,
    ) {
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
    pub(super) fn rotated_out(&self, bytes: &[u8]) -> Option<String> {
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
    pub(super) fn retry_rekeys(&mut self, sender: &ParticipantId) {
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
    pub(super) fn rotate_to(
        &mut self,
        members: Option<Vec<ParticipantId>>,
        untrusted: &[ParticipantId],
    ) {
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
}
