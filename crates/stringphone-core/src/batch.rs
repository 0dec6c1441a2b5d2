//! Batch decoding: many messages at once ([`Topic::decode_batch`]), with batch
//! signature verification ([`verify_batch`]) where the backend has it.
//!
//! Each message gets its own result, the one [`Topic::decode_in_place`] would give it,
//! in the same order of checks. The signatures of trusted senders whose keys are
//! cached go to the backend's [`Backend::verify_batch`] in chunks of up to
//! [`BATCH_CHUNK`]; a chunk that fails is verified again one signature at a time, so
//! one bad message never hides the good ones (it only costs its chunk the speed-up).
//! A backend without batch verification (the default of the [`Backend`] methods) gets
//! exactly the per-message path.
//!
//! # Which verdicts batching can change
//! Batch verification checks one random linear combination of the equations
//! `S·B = R + k·A` instead of each equation with `R` compared byte for byte. Before a
//! signature may join a batch, everything the rule checks on the encodings is checked
//! per message, as always (`S < L`, `R` not of small order; the key canonical and not
//! of small order, at trust time); in addition its `R` must be a canonical encoding
//! and the backend must have found, once when the key was trusted, that the key has no
//! small-order component ([`Backend::batch_eligible`]). Anything else is verified on
//! its own.
//!
//! What remains is a signature whose `R` has a small-order component (`R = r·B + T`,
//! `T` one of the eight torsion points, not the identity). The rule refuses it
//! (`S·B − k·A` is `r·B`, whose encoding is not `R`'s), while the combination sees
//! `z·T`, which vanishes when the random 128-bit `z` happens to be a multiple of the
//! order of `T`: such a signature passes a batch with probability 1/2, 1/4 or 1/8,
//! depending on what else is in the batch. Making one takes the private key (`S` must
//! be `r + k·a`), so batching never accepts a signature that anyone but the signer
//! could make; but a signer who wants to can send a message that batch decoders accept
//! and per-message decoders (and libsodium) refuse. Ruling it out exactly would cost a
//! scalar multiplication by the group order per signature, about what the batch saves,
//! so batch decoding is opt-in: [`Topic::decode`] and friends never batch, and the
//! RustCrypto backend batches only with its `batch` feature.
//!
//! Everything in the test suites (honest, tampered, forged, and the Ed25519 edge
//! cases of `ed25519-edge.json`) gets the same verdict batched as alone:
//! `tests/batch.rs`.

use alloc::vec::Vec;

use crate::backend::{Backend, BatchEntry, Identity};
use crate::topic::{Gate, Precheck, PreparedKey};
use crate::wire::SIMPLE_OVERHEAD;
use crate::{rule, DecodeMode, Decoded, Error, Topic, TrustStore};

/// The most signatures handed to [`Backend::verify_batch`] at once. Larger batches save
/// little more per signature, and a failed batch costs its whole chunk a second,
/// per-signature pass.
pub const BATCH_CHUNK: usize = 64;

/// One signature to check: the signer's prepared key, the signed bytes, the signature.
pub type BatchItem<'a, B> = (&'a PreparedKey<B>, &'a [u8], &'a [u8; 64]);

/// Verifies many signatures by the rule, each with its own verdict, batching where
/// backend `B` can (see the [module docs](self) for the one kind of signature whose
/// verdict batching can change). `verdicts[i]` is `Ok(())` or
/// [`Error::BadSignature`], as [`PreparedKey::verify`] gives for `items[i]`.
///
/// ```
/// use signature::Signer;
/// use stringphone_core::batch::verify_batch;
/// use stringphone_core::{Backend, Identity, PreparedKey, SigningSeed};
/// use stringphone_rustcrypto::RustCrypto;
///
/// let signer = RustCrypto::signing_key(&SigningSeed::from_bytes([7; 32]));
/// let key = PreparedKey::<RustCrypto>::new(&signer.public_key()).unwrap();
/// let good = signer.sign(b"one").to_bytes();
/// let other = signer.sign(b"two").to_bytes();
/// let verdicts = verify_batch(&[(&key, b"one", &good), (&key, b"two", &good), (&key, b"two", &other)]);
/// assert!(verdicts[0].is_ok() && verdicts[1].is_err() && verdicts[2].is_ok());
/// ```
#[must_use = "each signature's verdict is in the returned vector"]
pub fn verify_batch<B: Backend>(items: &[BatchItem<'_, B>]) -> Vec<Result<(), Error>> {
    let mut verdicts: Vec<Option<Result<(), Error>>> = (0..items.len()).map(|_| None).collect();
    let mut candidates = Vec::with_capacity(items.len());
    for (i, &(key, message, signature)) in items.iter().enumerate() {
        let (_, batchable) = key.parts();
        if batchable && rule::signature_passes(signature) && r_is_canonical(signature) {
            candidates.push(i);
        } else {
            verdicts[i] = Some(key.verify(message, signature));
        }
    }
    // Chunks of even size: 65 signatures make two batches of 33 and 32, not 64 and 1.
    let chunks = candidates.len().div_ceil(BATCH_CHUNK).max(1);
    let chunk_len = candidates.len().div_ceil(chunks).max(1);
    let mut entries = Vec::with_capacity(chunk_len);
    for chunk in candidates.chunks(chunk_len) {
        entries.clear();
        entries.extend(chunk.iter().map(|&i| {
            let (key, message, signature) = items[i];
            BatchEntry {
                key: key.parts().0,
                message,
                signature,
            }
        }));
        let all_valid = chunk.len() > 1 && B::verify_batch(&entries);
        for &i in chunk {
            let (key, message, signature) = items[i];
            verdicts[i] = Some(if all_valid {
                Ok(())
            } else {
                key.verify(message, signature)
            });
        }
    }
    verdicts
        .into_iter()
        .map(|v| v.unwrap_or(Err(Error::BadSignature)))
        .collect()
}

fn r_is_canonical(signature: &[u8; 64]) -> bool {
    signature
        .first_chunk::<32>()
        .is_some_and(rule::point_is_canonical)
}

impl<B: Backend, S: TrustStore, I: Identity> Topic<B, S, I> {
    /// Decodes many wire messages in place, each as
    /// [`decode_in_place`](Self::decode_in_place) would (same checks, same order,
    /// same results), verifying the signatures of trusted senders together where the
    /// backend has batch verification. Result `i` is message `i`'s; a failed message
    /// leaves its buffer unchanged and does not affect the others.
    ///
    /// Batching can change one verdict, on a signature only its signer can make: see
    /// the [module docs](crate::batch). Allocates a few vectors per call, none per
    /// byte of message. v2 messages (see [`crate::v2`]) are decoded one at a time, in
    /// their order, after the classic ones have been checked together.
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, Decoded, Error, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    ///
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut alice = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), Some(key));
    /// bob.add_participant(alice.public_key()).unwrap();
    ///
    /// let mut inbox = vec![alice.encode("one").unwrap(), alice.encode("two").unwrap()];
    /// inbox[1][10] ^= 1; // a forged signature
    /// let results = bob.decode_batch(&mut inbox, DecodeMode::Strict);
    /// assert!(matches!(&results[0], Ok(Decoded::Message { plaintext, .. }) if &plaintext[..] == b"one"));
    /// assert!(matches!(results[1], Err(Error::BadSignature)));
    /// ```
    #[must_use = "each message's result (refusals included) is in the returned vector"]
    pub fn decode_batch<'m, M: AsMut<[u8]>>(
        &mut self,
        messages: &'m mut [M],
        mode: DecodeMode,
    ) -> Vec<Result<Decoded<&'m mut [u8]>, Error>> {
        if self.resume().is_err() {
            // The group state could not be read: each message then gets the error
            // from the one-by-one path, which tries again.
            return messages
                .iter_mut()
                .map(|m| self.decode_in_place(m.as_mut(), mode))
                .collect();
        }
        let buffers: Vec<&'m mut [u8]> = messages.iter_mut().map(AsMut::as_mut).collect();
        let gates = self.batch_gates(&buffers, mode);
        let mut results = Vec::with_capacity(buffers.len());
        for (buffer, gate) in buffers.into_iter().zip(gates) {
            results.push(if buffer.first() == Some(&crate::v2::wire::VERSION) {
                self.decode_in_place(buffer, mode)
            } else {
                gate.and_then(|gate| self.finish(gate, || Ok(&mut buffer[SIMPLE_OVERHEAD..])))
            });
        }
        results
    }

    /// Every check before decryption, for every message, with the signatures verified
    /// together.
    fn batch_gates(&self, buffers: &[&mut [u8]], mode: DecodeMode) -> Vec<Result<Gate, Error>> {
        let prechecks: Vec<Result<Precheck<'_>, Error>> = buffers
            .iter()
            .map(|buffer| self.precheck(buffer, mode))
            .collect();
        let mut verdicts: Vec<Option<Result<(), Error>>> =
            (0..prechecks.len()).map(|_| None).collect();
        let mut items = Vec::new();
        let mut owners = Vec::new();
        for (i, precheck) in prechecks.iter().enumerate() {
            if let Ok(Precheck::Verify {
                sender,
                key,
                message,
            }) = precheck
            {
                match self.cached_key(sender, key) {
                    Some(prepared) => {
                        items.push((prepared, message.signed_part(), message.signature()));
                        owners.push(i);
                    }
                    // The store holds a key the cache does not (changed behind the
                    // topic's back): the per-message path decompresses it.
                    None => {
                        verdicts[i] = Some(self.verify_trusted(
                            sender,
                            key,
                            message.signed_part(),
                            message.signature(),
                        ))
                    }
                }
            }
        }
        for (i, verdict) in owners.into_iter().zip(verify_batch(&items)) {
            verdicts[i] = Some(verdict);
        }
        prechecks
            .into_iter()
            .zip(verdicts)
            .map(|(precheck, verdict)| match precheck? {
                Precheck::Done(gate) => Ok(gate),
                Precheck::Verify {
                    sender, message, ..
                } => {
                    verdict.unwrap_or(Err(Error::BadSignature))?;
                    self.unlock(sender, true, &message)
                }
            })
            .collect()
    }
}
