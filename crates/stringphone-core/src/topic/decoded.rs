//! What the decode calls ([`Topic::decode`](super::Topic::decode) and its twins) are
//! told and tell: the mode a sender is judged in, and what decoding gave.

use crate::{ParticipantId, PublicKey};

/// How [`Topic::decode`](super::Topic::decode) treats the sender of a simple message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeMode {
    /// The sender must be trusted and its signature must verify
    /// ([`Error::UntrustedSender`](crate::Error::UntrustedSender),
    /// [`Error::BadSignature`](crate::Error::BadSignature)). The default.
    #[default]
    Strict,
    /// As strict, but a message from an untrusted sender is reported as
    /// [`Decoded::Ignored`] instead of an error.
    IgnoreUntrusted,
    /// Skip the trust and signature checks and just decrypt: anyone holding the
    /// topic key can then write as anyone. The original calls this "VERY VERY BAD";
    /// results come back with `verified: false`.
    Naive,
}

/// What decoding a message gave, when it was not refused.
///
/// `P` is the plaintext: a `Vec<u8>` from [`Topic::decode`](super::Topic::decode), a
/// slice of the caller's buffer from [`Topic::decode_into`](super::Topic::decode_into)
/// and [`Topic::decode_in_place`](super::Topic::decode_in_place).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded<P> {
    /// A message, decrypted.
    Message {
        /// The sender's participant id, as carried by the message.
        sender: ParticipantId,
        /// True when the signature was checked against the sender's trusted key
        /// (strict and ignore-untrusted modes); false in naive mode, where `sender`
        /// is only a claim.
        verified: bool,
        /// The plaintext.
        plaintext: P,
    },
    /// The message carries our own id: it is an echo of something we sent (channels
    /// like MQTT deliver a publisher's messages back to it). No crypto was done.
    Own,
    /// [`DecodeMode::IgnoreUntrusted`] met a sender that is not trusted. No crypto was
    /// done.
    Ignored {
        /// The untrusted sender's id.
        sender: ParticipantId,
    },
}

impl<P> Decoded<P> {
    /// The plaintext, if this is a decrypted message.
    #[must_use]
    pub fn plaintext(self) -> Option<P> {
        match self {
            Decoded::Message { plaintext, .. } => Some(plaintext),
            _ => None,
        }
    }
}

/// What [`DecodeMode`] makes of a sender ([`Topic::sender_trust`](super::Topic::sender_trust)).
pub(crate) enum SenderTrust {
    /// Naive mode: no trust, no signature.
    Naive,
    /// Not trusted, and the mode ignores it.
    Ignored,
    /// Trusted under this key, whose signature is to be verified.
    Verify(PublicKey),
}
