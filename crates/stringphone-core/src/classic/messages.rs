//! Classic simple messages (`s`): sealed with the topic key (XSalsa20-Poly1305) and
//! signed (Ed25519 over everything after the signature), verified and opened in the
//! order the design notes (`docs/DESIGN.md`) fix. The entry points, which route each
//! message here or to v2, are [`Topic::encode_into`] and [`Topic::decode_in_place`]
//! (and their twins) in [`crate::topic`].

use aead::{AeadInPlace, KeyInit};
use rand_core::CryptoRngCore;

use super::wire::{write_simple_head, write_simple_signature};
use crate::backend::{Backend, Identity};
use crate::signatures::sign;
use crate::topic::SenderTrust;
use crate::v2::capacity::Capacity;
use crate::wire::{
    prefix_mut, Message, SimpleMessage, MAC_LEN, NONCE_LEN, SIMPLE_OVERHEAD, SIMPLE_SIGNED_START,
};
use crate::{DecodeMode, Decoded, Error, ParticipantId, PublicKey, Topic, TrustStore};

/// The outcome of the checks before decryption; the nonce and tag are copied out so
/// the caller may then decrypt in the very buffer they came from.
pub(crate) enum Gate {
    Own,
    Ignored(ParticipantId),
    Open {
        sender: ParticipantId,
        verified: bool,
        nonce: [u8; NONCE_LEN],
        tag: [u8; MAC_LEN],
    },
}

/// The checks before the signature: either the outcome is known, or a trusted
/// sender's signature must be verified first.
pub(crate) enum Precheck<'a> {
    Done(Gate),
    Verify {
        sender: ParticipantId,
        key: PublicKey,
        message: SimpleMessage<'a>,
    },
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    fn cipher(&self) -> Result<B::TopicCipher, Error> {
        let key = self.topic_key().ok_or(Error::MissingTopicKey)?;
        Ok(B::TopicCipher::new(key.expose_secret().into()))
    }

    /// [`Topic::encode_into`] in the classic format: seals `plaintext` with the topic
    /// key under one 24-byte nonce drawn from `rng`, then signs.
    pub(crate) fn encode_classic_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let cipher = self.cipher()?;
        let len = SIMPLE_OVERHEAD + plaintext.len();
        let out = prefix_mut(out, len)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut nonce).map_err(|_| Error::Rng)?;

        let (head, body) = out.split_at_mut(SIMPLE_OVERHEAD);
        body.copy_from_slice(plaintext);
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), b"", body)
            .map_err(|_| Error::EncryptFailed)?;
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&tag);
        write_simple_head(head, self.id().as_bytes(), &nonce, &mac);
        let signature = sign(self.identity(), &out[SIMPLE_SIGNED_START..])?;
        write_simple_signature(out, &signature);
        Ok(len)
    }

    /// [`Topic::decode_in_place`] of a classic message.
    pub(crate) fn decode_classic_in_place<'m>(
        &mut self,
        message: &'m mut [u8],
        mode: DecodeMode,
    ) -> Result<Decoded<&'m mut [u8]>, Error> {
        let gate = self.gate(message, mode)?;
        // The tag is checked before anything is decrypted, so a failure leaves
        // `message` unchanged.
        self.finish(gate, || Ok(&mut message[SIMPLE_OVERHEAD..]))
    }

    /// [`Topic::decode_into`] of a classic message.
    pub(crate) fn decode_classic_into<'o>(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
        out: &'o mut [u8],
    ) -> Result<Decoded<&'o mut [u8]>, Error> {
        let gate = self.gate(message, mode)?;
        let ciphertext = &message[SIMPLE_OVERHEAD..];
        self.finish(gate, || {
            let plaintext = prefix_mut(out, ciphertext.len())?;
            plaintext.copy_from_slice(ciphertext);
            Ok(plaintext)
        })
    }

    /// [`Topic::decode`] of a classic message.
    #[cfg(feature = "alloc")]
    pub(crate) fn decode_classic_vec(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
    ) -> Result<Decoded<alloc::vec::Vec<u8>>, Error> {
        let gate = self.gate(message, mode)?;
        self.finish(gate, || Ok(message[SIMPLE_OVERHEAD..].to_vec()))
    }

    /// Everything before decryption, in docs/DESIGN.md's order: parse, own id, trust and
    /// signature (per `mode`), topic key.
    ///
    /// Never inlined: the signature's verification is the deepest stack of decoding,
    /// and here it runs under this small frame instead of one that also holds the
    /// cipher that opens the message.
    #[inline(never)]
    fn gate(&self, bytes: &[u8], mode: DecodeMode) -> Result<Gate, Error> {
        match self.precheck(bytes, mode)? {
            Precheck::Done(gate) => Ok(gate),
            Precheck::Verify {
                sender,
                key,
                message,
            } => {
                self.verify_trusted(&sender, &key, message.signed_part(), message.signature())?;
                self.unlock(sender, true, &message)
            }
        }
    }

    /// The gate up to the signature: parse, own id, trust (naive mode goes on to the
    /// topic key, having no signature to check). The batch path verifies the
    /// signatures of many `Verify` outcomes at once, then calls [`Self::unlock`].
    pub(crate) fn precheck<'a>(
        &self,
        bytes: &'a [u8],
        mode: DecodeMode,
    ) -> Result<Precheck<'a>, Error> {
        let message: SimpleMessage<'a> = match Message::parse(bytes)? {
            Message::V2(_) => return Err(self.refusal(2)),
            _ if !self.accepts_classic() => return Err(self.refusal(1)),
            Message::Simple(m) => m,
            Message::Introduction(_) => return Err(Error::Introduction),
            Message::IntroductionReply(_) => return Err(Error::IntroductionReply),
        };
        let sender = message.sender_id();
        if sender == self.id() {
            return Ok(Precheck::Done(Gate::Own));
        }
        // In the migration mode, an epoch's member list applies to classic messages
        // too: a participant rotated out is not heard through the old format.
        if mode != DecodeMode::Naive
            && self.protocol_setting() == crate::v2::ProtocolVersion::Both
            && !self.is_current_member(&sender)
        {
            return Err(Error::NotAMember(sender));
        }
        Ok(match self.sender_trust(sender, mode)? {
            SenderTrust::Naive => Precheck::Done(self.unlock(sender, false, &message)?),
            SenderTrust::Ignored => Precheck::Done(Gate::Ignored(sender)),
            SenderTrust::Verify(key) => Precheck::Verify {
                sender,
                key,
                message,
            },
        })
    }

    /// The last check before decryption (the topic key), once the sender is settled.
    pub(crate) fn unlock(
        &self,
        sender: ParticipantId,
        verified: bool,
        message: &SimpleMessage<'_>,
    ) -> Result<Gate, Error> {
        if self.topic_key().is_none() {
            return Err(Error::MissingTopicKey);
        }
        Ok(Gate::Open {
            sender,
            verified,
            nonce: *message.nonce(),
            tag: *message.mac(),
        })
    }

    fn open(&self, nonce: &[u8; 24], tag: &[u8; 16], buffer: &mut [u8]) -> Result<(), Error> {
        self.cipher()?
            .decrypt_in_place_detached(nonce.into(), b"", buffer, tag.into())
            .map_err(|_| Error::DecryptFailed)
    }

    /// Decryption, the last step of every decode variant: `ciphertext` yields the
    /// buffer holding the ciphertext, which is decrypted where it lies. The cipher
    /// checks the tag before decrypting, so a buffer that fails to open still holds
    /// the ciphertext, never unauthenticated plaintext.
    pub(crate) fn finish<P: AsMut<[u8]>>(
        &self,
        gate: Gate,
        ciphertext: impl FnOnce() -> Result<P, Error>,
    ) -> Result<Decoded<P>, Error> {
        match gate {
            Gate::Own => Ok(Decoded::Own),
            Gate::Ignored(sender) => Ok(Decoded::Ignored { sender }),
            Gate::Open {
                sender,
                verified,
                nonce,
                tag,
            } => {
                let mut plaintext = ciphertext()?;
                self.open(&nonce, &tag, plaintext.as_mut())?;
                Ok(Decoded::Message {
                    sender,
                    verified,
                    plaintext,
                })
            }
        }
    }
}
