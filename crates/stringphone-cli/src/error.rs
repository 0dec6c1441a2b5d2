//! Refusals: one line for stderr, and the protocol's errors said for someone at a
//! shell.

use std::fmt;
use std::io;

use stringphone::Error;

use crate::files;
use crate::proto::who;

/// A refusal: one line for stderr.
#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message carries.
        for (i, line) in self.message.lines().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(line.trim())?;
        }
        Ok(())
    }
}

/// The protocol's errors, said for someone at a shell.
// Longer than 60 lines: one arm per error, each only its message (a table read top
// to bottom; split, the messages would be harder to compare).
pub fn explain(e: &Error) -> String {
    match e {
        Error::UntrustedSender(id) => format!(
            "sender {id} (fingerprint {}) is not trusted: add its public key with \
             `stringphone trust add` (or `--trust`) once you have compared it out of band",
            id.fingerprint()
        ),
        Error::BadSignature => {
            "the signature does not verify: the message was tampered with or forged".into()
        }
        Error::DecryptFailed => {
            "the message does not open under the topic key: it was tampered with, \
             or this is the wrong topic key file"
                .into()
        }
        Error::UnknownType(b) => {
            format!("not a stringphone message: unknown message type byte 0x{b:02x}")
        }
        Error::Introduction => {
            "this is an introduction, not a message: answer it with `stringphone reply`".into()
        }
        Error::IntroductionReply => "this is an introduction reply, not a message: open it with \
             `stringphone accept-reply`"
            .into(),
        Error::MissingTopicKey => "no topic key".into(),
        Error::Replayed {
            sender,
            counter,
            too_old: false,
        } => format!(
            "replayed message: message {counter} of {} was already accepted here; refused",
            who(sender)
        ),
        Error::Replayed {
            sender,
            counter,
            too_old: true,
        } => format!(
            "replayed message (or one that came too late): message {counter} of {} is \
             older than what was already accepted from that sender here; refused",
            who(sender)
        ),
        Error::ProtocolRefused { version: 1, .. } => "this is a classic message and this \
             topic speaks v2 only: refused (--protocol both reads classic messages too)"
            .into(),
        Error::ProtocolRefused { version: 2, .. } => {
            "this is a v2 message: read it with --protocol v2 (or both)".into()
        }
        Error::UntrustedReplier { id, .. } => format!(
            "the reply is signed by {}, who is not trusted: compare its fingerprint out of \
             band and trust it",
            who(id)
        ),
        Error::Store(e) => chain(e),
        Error::Rekey => "this is a v2 rekey (a rotation of the topic key), not a message: \
             a chat with --protocol v2 takes it"
            .into(),
        Error::NotAnAdmin(id) => format!(
            "{} is not an admin of this topic: only admins rotate the topic key, and only \
             their rotations are accepted",
            who(id)
        ),
        Error::NotAMember(id) => format!(
            "{} is not a member of this epoch: the rotation that started it left it out",
            who(id)
        ),
        Error::EpochMismatch { current, got } => format!(
            "epoch {got} does not follow this topic's epoch {current}: refused (epochs \
             only move forward, one rotation at a time)"
        ),
        Error::UnknownEpoch(n) => {
            format!("sealed under epoch {n}, whose key this topic does not hold")
        }
        Error::TopicMismatch => "the state directory holds the group of another topic: one \
             state directory serves one topic (use another --state-dir)"
            .into(),
        other => chain(other),
    }
}

/// An error and each of its causes (`source()`), once each: "what: why: why". An OS
/// error is said without Rust's " (os error N)".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        if !out.is_empty() {
            out.push_str(": ");
        }
        match cause.downcast_ref::<io::Error>() {
            Some(os) => out.push_str(&files::io_reason(os)),
            None => out.push_str(&cause.to_string()),
        }
        next = cause.source();
    }
    out
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::new(explain(&e))
    }
}

impl From<stringphone_store_sqlite::SqliteStoreError> for Failure {
    fn from(e: stringphone_store_sqlite::SqliteStoreError) -> Self {
        Failure::new(chain(&e))
    }
}

impl From<stringphone::StoreError> for Failure {
    fn from(e: stringphone::StoreError) -> Self {
        Failure::new(chain(&e))
    }
}

/// A command's outcome: done, or a refusal.
pub type Result<T, E = Failure> = std::result::Result<T, E>;
