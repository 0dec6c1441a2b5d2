//! Questions asked at a terminal (approve a newcomer, or a replier), and their
//! answers, `/approve` and `/refuse`.

use stringphone::PublicKey;

use super::terminal::say;
use super::Chat;
use crate::group::{find_key, Found};
use crate::proto::{id_of, who};

/// A pending question is shown again once this many lines were printed after it.
const REMIND_AFTER: usize = 4;

pub(super) enum Approval {
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
    pub(super) fn key(&self) -> &PublicKey {
        match self {
            Approval::Newcomer { key, .. } | Approval::Replier { key, .. } => key,
        }
    }

    /// The question, naming how to answer it.
    pub(super) fn question(&self) -> String {
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

impl Chat {
    /// Asks about a newcomer or a replier (once per key), showing the question now.
    pub(super) fn ask(&mut self, approval: Approval) {
        if self.approvals.iter().any(|a| a.key() == approval.key()) {
            return;
        }
        self.show(&approval.question());
        self.approvals.push_back(approval);
        self.since_questions = 0;
    }

    /// `/approve` and `/refuse`: without a name, the only pending question.
    pub(super) fn answer(&mut self, name: Option<&str>, yes: bool) {
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
            Some(name) => match find_key(name, self.approvals.iter().map(Approval::key)) {
                Found::One(key) => {
                    let key = *key;
                    match self.approvals.iter().position(|a| *a.key() == key) {
                        Some(i) => i,
                        None => return,
                    }
                }
                Found::Several => {
                    return eprintln!(
                        "{verb}: {name} matches several questions: give more of the fingerprint"
                    )
                }
                Found::None => {
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

    /// Prints every pending question.
    pub(super) fn show_questions(&mut self) {
        let questions: Vec<String> = self.approvals.iter().map(Approval::question).collect();
        for question in questions {
            say(&question);
        }
        self.since_questions = 0;
    }

    /// Shows the pending questions again once other lines may have pushed them out
    /// of sight.
    pub(super) fn remind(&mut self) {
        if !self.approvals.is_empty() && self.since_questions >= REMIND_AFTER {
            self.show_questions();
        }
    }
}
