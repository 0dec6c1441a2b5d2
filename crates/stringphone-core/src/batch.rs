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

use crate::v2::capacity::Capacity;
use alloc::vec::Vec;

use crate::backend::{Backend, BatchEntry, Identity};
use crate::classic::messages::{Gate, Precheck};
use crate::signatures::PreparedKey;
use crate::v2::messages::{Gate2, Trust2};
use crate::v2::wire::V2Message;
use crate::v2::{signed_string, TopicId};
use crate::wire::SIMPLE_OVERHEAD;
use crate::{rule, DecodeMode, Decoded, Error, PublicKey, Topic, TrustStore};

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

/// A signature a batch checks: whose key, over what, the signature.
pub(crate) struct Job<'a, B: Backend> {
    key: JobKey<'a, B>,
    signed: Signed<'a>,
    signature: &'a [u8; 64],
}

/// The trusted sender's key, decompressed when the topic has it cached.
enum JobKey<'a, B: Backend> {
    Prepared(&'a PreparedKey<B>),
    Raw(PublicKey),
}

/// What a signature covers: a classic message's signed bytes, or the 64-byte string of
/// a v2 message, computed where the signature is checked (its BLAKE3 pass is part of
/// the work a batch spreads over threads).
enum Signed<'a> {
    Classic(&'a [u8]),
    V2 {
        topic: TopicId,
        signed_part: &'a [u8],
    },
}

/// Checks `jobs` on this thread: each verdict as [`PreparedKey::verify`] (or
/// [`crate::verify_signature`] for a key not cached) gives it, batched where the
/// backend can.
fn verify_jobs<B: Backend>(jobs: &[Job<'_, B>]) -> Vec<Result<(), Error>> {
    let strings: Vec<[u8; 64]> = jobs
        .iter()
        .map(|job| match &job.signed {
            Signed::V2 { topic, signed_part } => signed_string(topic, signed_part),
            Signed::Classic(_) => [0; 64],
        })
        .collect();
    let mut verdicts: Vec<Result<(), Error>> = Vec::with_capacity(jobs.len());
    let mut items = Vec::with_capacity(jobs.len());
    let mut owners = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let message = match &job.signed {
            Signed::Classic(bytes) => bytes,
            Signed::V2 { .. } => &strings[i][..],
        };
        verdicts.push(match &job.key {
            JobKey::Prepared(key) => {
                items.push((*key, message, job.signature));
                owners.push(i);
                Ok(())
            }
            JobKey::Raw(key) => crate::verify_signature::<B>(key, message, job.signature),
        });
    }
    for (i, verdict) in owners.into_iter().zip(verify_batch(&items)) {
        verdicts[i] = verdict;
    }
    verdicts
}

/// Checks `jobs` on up to `threads` threads (this one included), each taking an equal
/// share in order; a thread that cannot be started leaves its share to this one.
#[cfg(feature = "std")]
fn verify_jobs_parallel<B: Backend>(jobs: &[Job<'_, B>], threads: usize) -> Vec<Result<(), Error>>
where
    B::VerifyingKey: Sync,
{
    if threads <= 1 || jobs.len() < 2 {
        return verify_jobs(jobs);
    }
    let share = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut shares = jobs.chunks(share);
        let mine = shares.next().unwrap_or(&[]);
        let spawned: Vec<_> = shares
            .map(|chunk| {
                let handle = std::thread::Builder::new()
                    .spawn_scoped(scope, move || verify_jobs(chunk))
                    .ok();
                (chunk, handle)
            })
            .collect();
        let mut verdicts = verify_jobs(mine);
        for (chunk, handle) in spawned {
            verdicts.extend(match handle {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => verify_jobs(chunk),
            });
        }
        verdicts
    })
}

/// What the checks before the signature left of a message, for the ordered finish.
enum Plan {
    /// Refused before its signature.
    Refused(Error),
    /// A classic message settled without a signature (own, ignored, naive).
    Classic(Gate),
    /// A classic message from a trusted sender; its signature is `jobs[job]`, then
    /// `unlock` is the check that follows it (the topic key).
    ClassicSigned {
        unlock: Result<Gate, Error>,
        job: usize,
    },
    /// A v2 message: own, ignored, naive (no job) or signed.
    V2 { trust: Trust2, job: Option<usize> },
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Decodes many wire messages in place, each as
    /// [`decode_in_place`](Self::decode_in_place) would (same checks, same order,
    /// same results), verifying the signatures of trusted senders together where the
    /// backend has batch verification. Result `i` is message `i`'s; a failed message
    /// leaves its buffer unchanged and does not affect the others.
    ///
    /// Batching can change one verdict, on a signature only its signer can make: see
    /// the [module docs](crate::batch). Allocates a few vectors per call, none per
    /// byte of message. Classic and v2 messages may be mixed: the checks that earlier
    /// messages cannot change (type, own id, trust) run first for all, then the
    /// signatures are verified together, then each message is finished in order
    /// (membership of its epoch, its verdict, the epoch's key, the replay window,
    /// decryption), so a replay within the batch is refused as it would be one by
    /// one. The trust store is read once per message, before any is finished: a trust
    /// change made meanwhile by another process applies from the next batch.
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
        self.decode_batch_with(messages, mode, verify_jobs)
    }

    /// [`decode_batch`](Self::decode_batch) with the signatures verified on `threads`
    /// threads (this one and `threads - 1` scoped threads; 0 and 1 mean this thread
    /// only): a gateway's inbox decoded on every core. The checks before the signature
    /// and everything after it run on this thread, in order, so the verdicts, the
    /// state changes (replay windows, marks stored, the previous epoch's grace period)
    /// and the buffers afterwards are those of decoding the messages one by one (up to
    /// the one verdict batching can change, see the [module docs](crate::batch)). Only
    /// the signature checks, which change nothing, run in parallel; the trust store is
    /// used from this thread only.
    ///
    /// ```
    /// use stringphone_core::{DecodeMode, Decoded, SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    ///
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut bob = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([3; 32]), Some(key.clone()));
    /// let mut inbox = Vec::new();
    /// for seed in 10..20u8 {
    ///     let mut sender = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([seed; 32]), Some(key.clone()));
    ///     bob.add_participant(sender.public_key()).unwrap();
    ///     inbox.push(sender.encode([seed; 64]).unwrap());
    /// }
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// let results = bob.decode_batch_parallel(&mut inbox, DecodeMode::Strict, cores);
    /// assert!(results.iter().all(|r| matches!(r, Ok(Decoded::Message { verified: true, .. }))));
    /// ```
    #[cfg(feature = "std")]
    pub fn decode_batch_parallel<'m, M: AsMut<[u8]>>(
        &mut self,
        messages: &'m mut [M],
        mode: DecodeMode,
        threads: usize,
    ) -> Vec<Result<Decoded<&'m mut [u8]>, Error>>
    where
        B::VerifyingKey: Sync,
    {
        self.decode_batch_with(messages, mode, |jobs| verify_jobs_parallel(jobs, threads))
    }

    /// The batch: checks before the signature for every message, `verify` on all the
    /// signatures, then each message finished in order.
    fn decode_batch_with<'m, M: AsMut<[u8]>>(
        &mut self,
        messages: &'m mut [M],
        mode: DecodeMode,
        verify: impl FnOnce(&[Job<'_, B>]) -> Vec<Result<(), Error>>,
    ) -> Vec<Result<Decoded<&'m mut [u8]>, Error>> {
        let buffers: Vec<&'m mut [u8]> = messages.iter_mut().map(AsMut::as_mut).collect();
        if self.resume().is_err() {
            // The stored group state cannot be read: every message gets the error
            // decoding it alone gives (reading it again).
            return buffers
                .into_iter()
                .map(|b| self.decode_in_place(b, mode))
                .collect();
        }
        let mut jobs = Vec::new();
        let plans: Vec<Plan> = buffers
            .iter()
            .map(|buffer| {
                self.plan(buffer, mode, &mut jobs)
                    .unwrap_or_else(Plan::Refused)
            })
            .collect();
        let mut verdicts = verify(&jobs).into_iter();
        let mut verdicts: Vec<Result<(), Error>> = (0..jobs.len())
            .map(|_| verdicts.next().unwrap_or(Err(Error::BadSignature)))
            .collect();
        drop(jobs);
        let mut take = |job: usize| {
            verdicts.get_mut(job).map_or(Err(Error::BadSignature), |v| {
                core::mem::replace(v, Err(Error::BadSignature))
            })
        };
        buffers
            .into_iter()
            .zip(plans)
            .map(|(buffer, plan)| match plan {
                Plan::Refused(e) => Err(e),
                Plan::Classic(gate) => self.finish(gate, || Ok(&mut buffer[SIMPLE_OVERHEAD..])),
                Plan::ClassicSigned { unlock, job } => {
                    take(job)?;
                    self.finish(unlock?, || Ok(&mut buffer[SIMPLE_OVERHEAD..]))
                }
                Plan::V2 { trust, job } => {
                    // A verdict is taken only for a trusted sender's signature.
                    let verdict = match trust {
                        Trust2::Verify { .. } => {
                            Some(job.map_or(Err(Error::BadSignature), &mut take))
                        }
                        _ => None,
                    };
                    self.finish_planned_v2(buffer, trust, verdict)
                }
            })
            .collect()
    }

    /// The ordered finish of a v2 message of the batch: the checks after trust (with
    /// its signature's `verdict`, for a trusted sender), then decryption.
    fn finish_planned_v2<'m>(
        &mut self,
        buffer: &'m mut [u8],
        trust: Trust2,
        verdict: Option<Result<(), Error>>,
    ) -> Result<Decoded<&'m mut [u8]>, Error> {
        let open = {
            let m = V2Message::parse(buffer)?;
            let gate = match (trust, verdict) {
                (Trust2::Own, _) => Gate2::Own,
                (Trust2::Ignored(sender), _) => Gate2::Ignored(sender),
                (Trust2::Verify { sender, .. }, Some(verdict)) => {
                    self.after_trust_v2(&m, sender, Some(move || verdict))?
                }
                (Trust2::Naive(sender) | Trust2::Verify { sender, .. }, _) => {
                    self.after_trust_v2(&m, sender, None::<fn() -> _>)?
                }
            };
            match gate {
                Gate2::Own => return Ok(Decoded::Own),
                Gate2::Ignored(sender) => return Ok(Decoded::Ignored { sender }),
                Gate2::Open(open) => open,
            }
        };
        let ciphertext = crate::v2::messages::v2_ciphertext_range(buffer.len());
        self.finish_v2(open, &mut buffer[ciphertext])
    }

    /// The checks of one message that earlier messages cannot change, and the job of
    /// checking its signature, if it has one.
    fn plan<'a>(
        &'a self,
        buffer: &'a [u8],
        mode: DecodeMode,
        jobs: &mut Vec<Job<'a, B>>,
    ) -> Result<Plan, Error> {
        if crate::topic::format_of(buffer) == crate::WireFormat::V2 {
            let m = V2Message::parse(buffer)?;
            if !self.v2.protocol.accepts_v2() {
                return Err(self.refusal(2));
            }
            let trust = self.trust_v2(&m, mode)?;
            let job = match &trust {
                Trust2::Verify { sender, key } => {
                    jobs.push(Job {
                        key: self.job_key(sender, key),
                        signed: Signed::V2 {
                            topic: self.v2.topic_id()?,
                            signed_part: m.signed_part(),
                        },
                        signature: m.signature(),
                    });
                    Some(jobs.len() - 1)
                }
                _ => None,
            };
            return Ok(Plan::V2 { trust, job });
        }
        Ok(match self.precheck(buffer, mode)? {
            Precheck::Done(gate) => Plan::Classic(gate),
            Precheck::Verify {
                sender,
                key,
                message,
            } => {
                jobs.push(Job {
                    key: self.job_key(&sender, &key),
                    signed: Signed::Classic(message.signed_part()),
                    signature: message.signature(),
                });
                Plan::ClassicSigned {
                    unlock: self.unlock(sender, true, &message),
                    job: jobs.len() - 1,
                }
            }
        })
    }

    /// The cached key of `sender` if the store's `key` is still the one cached (the
    /// store holds a key the cache does not when it changed behind the topic's back:
    /// then the key is decompressed where the signature is checked).
    fn job_key(&self, sender: &crate::ParticipantId, key: &PublicKey) -> JobKey<'_, B> {
        match self.cached_key(sender, key) {
            Some(prepared) => JobKey::Prepared(prepared),
            None => JobKey::Raw(*key),
        }
    }
}
