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

/// The most signatures handed to [`Backend::verify_batch`] at once, and the most a
/// thread of [`Topic::decode_batch_parallel`] takes at a time. From 95 signatures on
/// (191 points), RustCrypto's batch equation switches to Pippenger's method, which is
/// cheaper per point the more there are: a gateway's inbox decoded in chunks of 256
/// costs 13-16 % less a message than in chunks of 64 (`benches/README.md`, "Gateway").
/// What it costs: a chunk that fails is checked again one signature at a time, so a
/// forged signature in a chunk costs the chunk's batch attempt on top of what decoding
/// its messages one by one costs; one forgery per chunk is enough to hold a gateway to
/// that, whatever the chunk's size.
pub const BATCH_CHUNK: usize = 256;

/// The length of chunks of at most `most` items that split `items` evenly: 257 items
/// in chunks of at most 256 make two of 129 and 128, not 256 and 1 (a batch of one
/// saves nothing).
fn even_chunk_len(items: usize, most: usize) -> usize {
    let most = most.max(1);
    items.div_ceil(items.div_ceil(most).max(1)).max(1)
}

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
    let chunk_len = even_chunk_len(candidates.len(), BATCH_CHUNK);
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

/// A signature a batch checks: whose key, over what, the signature. A job owns what
/// it checks, so that other threads can check it while this one finishes the messages
/// before it (which decrypts them in place and changes the topic).
pub(crate) struct Job<B: Backend> {
    key: JobKey<B>,
    signed: Signed,
    signature: [u8; 64],
}

/// The trusted sender's key, decompressed when the topic has it cached.
enum JobKey<B: Backend> {
    Prepared(PreparedKey<B>),
    Raw(PublicKey),
}

/// What a signature covers: a classic message's signed bytes, or the 64-byte string of
/// a v2 message, computed where the signature is checked (its BLAKE3 pass is part of
/// the work a batch spreads over threads).
enum Signed {
    Classic(Vec<u8>),
    V2 {
        topic: TopicId,
        signed_part: Vec<u8>,
    },
}

/// Checks `jobs` on this thread: each verdict as [`PreparedKey::verify`] (or
/// [`crate::verify_signature`] for a key not cached) gives it, batched where the
/// backend can.
fn verify_jobs<B: Backend>(jobs: &[Job<B>]) -> Vec<Result<(), Error>> {
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
            Signed::Classic(bytes) => &bytes[..],
            Signed::V2 { .. } => &strings[i][..],
        };
        verdicts.push(match &job.key {
            JobKey::Prepared(key) => {
                items.push((key, message, &job.signature));
                owners.push(i);
                Ok(())
            }
            JobKey::Raw(key) => crate::verify_signature::<B>(key, message, &job.signature),
        });
    }
    for (i, verdict) in owners.into_iter().zip(verify_batch(&items)) {
        verdicts[i] = verdict;
    }
    verdicts
}

/// The jobs of a batch as its messages are planned, handed on a chunk of `len` at a
/// time, so that other threads can check a chunk while the rest is still planned.
/// Job `i` is in chunk `i / len`.
struct Planned<'h, B: Backend> {
    chunk: Vec<Job<B>>,
    handed: usize,
    len: usize,
    hand: &'h mut dyn FnMut(Vec<Job<B>>),
}

impl<B: Backend> Planned<'_, B> {
    /// Adds `job`; returns its index.
    fn push(&mut self, job: Job<B>) -> usize {
        let index = self.handed * self.len + self.chunk.len();
        self.chunk.push(job);
        if self.chunk.len() >= self.len {
            (self.hand)(core::mem::replace(
                &mut self.chunk,
                Vec::with_capacity(self.len),
            ));
            self.handed += 1;
        }
        index
    }

    /// Hands on the last chunk, if it has any job.
    fn end(self) {
        if !self.chunk.is_empty() {
            (self.hand)(self.chunk);
        }
    }
}

/// Where the finish of a batch takes its signatures' verdicts from: in the order of
/// the jobs, each once, a chunk of them checked together.
trait Verdicts {
    /// The verdict of job `job`.
    fn take(&mut self, job: usize) -> Result<(), Error>;
}

/// The verdicts of the chunk last handed out, taken one by one.
struct Chunk {
    index: Option<usize>,
    len: usize,
    verdicts: Vec<Result<(), Error>>,
}

impl Chunk {
    fn new(len: usize) -> Self {
        Chunk {
            index: None,
            len: len.max(1),
            verdicts: Vec::new(),
        }
    }

    /// The verdict of `job`, from its chunk's, which `verify` gives when the chunk is
    /// not the one held.
    fn take(
        &mut self,
        job: usize,
        verify: impl FnOnce(usize) -> Vec<Result<(), Error>>,
    ) -> Result<(), Error> {
        let chunk = job / self.len;
        if self.index != Some(chunk) {
            self.verdicts = verify(chunk);
            self.index = Some(chunk);
        }
        self.verdicts
            .get_mut(job % self.len)
            .map_or(Err(Error::BadSignature), |v| {
                core::mem::replace(v, Err(Error::BadSignature))
            })
    }
}

/// Every chunk checked on this thread, when its first verdict is asked for.
struct OnThisThread<'j, B: Backend> {
    chunks: &'j [Vec<Job<B>>],
    held: Chunk,
}

impl<B: Backend> Verdicts for OnThisThread<'_, B> {
    fn take(&mut self, job: usize) -> Result<(), Error> {
        let chunks = self.chunks;
        self.held.take(job, |chunk| {
            verify_jobs(chunks.get(chunk).map_or(&[], Vec::as_slice))
        })
    }
}

/// The chunks of a batch shared between this thread and its workers. This thread
/// hands each chunk of jobs on as soon as it has planned it; every thread claims the
/// next chunk handed on that nobody has, checks it and publishes its verdicts. This
/// thread, which then finishes the messages in order, waits for a chunk only when
/// none is left to claim.
#[cfg(feature = "std")]
struct Shared<B: Backend> {
    chunks: Vec<std::sync::OnceLock<Vec<Job<B>>>>,
    done: std::sync::Mutex<Published>,
    ready: std::sync::Condvar,
}

/// Where the batch is: the chunks handed on and claimed, each chunk's verdicts, whether
/// this thread is still planning, and how many workers are still running (one that
/// stopped, even by panicking, leaves its chunk to this thread rather than to a wait
/// that never ends).
#[cfg(feature = "std")]
struct Published {
    verdicts: Vec<Option<Vec<Result<(), Error>>>>,
    handed: usize,
    claimed: usize,
    planning: bool,
    workers: usize,
}

#[cfg(feature = "std")]
impl<B: Backend> Shared<B> {
    /// Room for `chunks` chunks of jobs, none handed on yet.
    fn new(chunks: usize) -> Self {
        Shared {
            chunks: (0..chunks).map(|_| std::sync::OnceLock::new()).collect(),
            done: std::sync::Mutex::new(Published {
                verdicts: (0..chunks).map(|_| None).collect(),
                handed: 0,
                claimed: 0,
                planning: true,
                workers: 0,
            }),
            ready: std::sync::Condvar::new(),
        }
    }

    /// The published state; a panic elsewhere never leaves it half-written (every
    /// change is one assignment), so a poisoned lock is still good to read.
    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'g>(
        &self,
        done: std::sync::MutexGuard<'g, Published>,
    ) -> std::sync::MutexGuard<'g, Published> {
        self.ready
            .wait(done)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The jobs of chunk `chunk` (none if it was not handed on).
    fn jobs_of(&self, chunk: usize) -> &[Job<B>] {
        self.chunks
            .get(chunk)
            .and_then(std::sync::OnceLock::get)
            .map_or(&[], Vec::as_slice)
    }

    /// Hands on the next chunk of jobs (this thread, while planning).
    fn hand(&self, jobs: Vec<Job<B>>) {
        let mut done = self.lock();
        let chunk = done.handed;
        if self
            .chunks
            .get(chunk)
            .is_some_and(|slot| slot.set(jobs).is_ok())
        {
            done.handed += 1;
        }
        drop(done);
        self.ready.notify_all();
    }

    /// Says that every chunk is handed on: workers stop waiting for more.
    fn end_planning(&self) {
        self.lock().planning = false;
        self.ready.notify_all();
    }

    /// Claims the next chunk handed on that nobody has, checks and publishes it;
    /// waits for one while this thread is still planning; `false` when every chunk
    /// is claimed and planning is over.
    fn check_next(&self) -> bool {
        let mut done = self.lock();
        while done.claimed >= done.handed {
            if !done.planning {
                return false;
            }
            done = self.wait(done);
        }
        let chunk = done.claimed;
        done.claimed += 1;
        drop(done);
        let verdicts = verify_jobs(self.jobs_of(chunk));
        if let Some(slot) = self.lock().verdicts.get_mut(chunk) {
            *slot = Some(verdicts);
        }
        self.ready.notify_all();
        true
    }

    /// The verdicts of `chunk`, once planning is over: helps with the chunks left
    /// until it is published.
    fn wait_for(&self, chunk: usize) -> Vec<Result<(), Error>> {
        let published = |done: &Published| done.verdicts.get(chunk).is_some_and(Option::is_some);
        loop {
            if let Some(verdicts) = self.lock().verdicts.get_mut(chunk).and_then(Option::take) {
                return verdicts;
            }
            if self.check_next() {
                continue;
            }
            // Every chunk is claimed, `chunk` by a worker still at it (or by nobody:
            // a chunk never handed on has no jobs).
            let mut done = self.lock();
            while !published(&done) && done.workers > 0 {
                done = self.wait(done);
            }
            if !published(&done) {
                // Its worker stopped without publishing it.
                drop(done);
                return verify_jobs(self.jobs_of(chunk));
            }
        }
    }

    /// A worker: checks chunks until none is left and planning is over, then says
    /// it stopped.
    fn work(&self) {
        /// Counts the worker out however it stops.
        struct Stopped<'s, B: Backend>(&'s Shared<B>);
        impl<B: Backend> Drop for Stopped<'_, B> {
            fn drop(&mut self) {
                let mut done = self.0.lock();
                done.workers = done.workers.saturating_sub(1);
                drop(done);
                self.0.ready.notify_all();
            }
        }
        let _stopped = Stopped(self);
        while self.check_next() {}
    }
}

/// Ends planning when dropped, also if planning panics, so that no worker waits for
/// chunks that will never come (the scope would then never end).
#[cfg(feature = "std")]
struct EndPlanning<'s, B: Backend>(&'s Shared<B>);

#[cfg(feature = "std")]
impl<B: Backend> Drop for EndPlanning<'_, B> {
    fn drop(&mut self) {
        self.0.end_planning();
    }
}

/// The chunks checked by this thread and its workers (see [`Shared`]).
#[cfg(feature = "std")]
struct InParallel<'s, B: Backend> {
    shared: &'s Shared<B>,
    held: Chunk,
}

#[cfg(feature = "std")]
impl<B: Backend> Verdicts for InParallel<'_, B> {
    fn take(&mut self, job: usize) -> Result<(), Error> {
        let shared = self.shared;
        self.held.take(job, |chunk| shared.wait_for(chunk))
    }
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
    /// one. The trust store is read once per message, before any is finished, all in
    /// one state of it ([`TrustStore::with_read_snapshot`]): a trust change made
    /// meanwhile by another process applies to the whole next batch.
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
        let buffers = match self.batch_buffers(messages, mode) {
            Ok(buffers) => buffers,
            Err(results) => return results,
        };
        let len = even_chunk_len(buffers.len(), BATCH_CHUNK);
        let mut chunks = Vec::new();
        let plans = self.plan_all(&buffers, mode, len, &mut |chunk| chunks.push(chunk));
        let mut verdicts = OnThisThread {
            chunks: &chunks,
            held: Chunk::new(len),
        };
        self.finish_batch(buffers, plans, &mut verdicts)
    }

    /// [`decode_batch`](Self::decode_batch) with the signatures verified on `threads`
    /// threads (this one and `threads - 1` scoped threads; 0 and 1 mean this thread
    /// only): a gateway's inbox decoded on every core. The checks before the signature
    /// and everything after it run on this thread, in order, so the verdicts, the
    /// state changes (replay windows, marks stored, the previous epoch's grace period)
    /// and the buffers afterwards are those of decoding the messages one by one (up to
    /// the one verdict batching can change, see the [module docs](crate::batch)). Only
    /// the signature checks, which change nothing, run in parallel; the trust store is
    /// used from this thread only. The threads take the signatures in chunks of up to
    /// [`BATCH_CHUNK`], each the next chunk nobody has, as soon as this thread has
    /// planned it (the checks before the signature); this thread then finishes the
    /// messages whose chunks are checked and checks chunks itself only when it would
    /// otherwise wait, so its ordered work overlaps theirs from the first chunk on.
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
        B::VerifyingKey: Send + Sync,
    {
        if threads <= 1 || messages.len() <= 1 {
            return self.decode_batch(messages, mode);
        }
        let buffers = match self.batch_buffers(messages, mode) {
            Ok(buffers) => buffers,
            Err(results) => return results,
        };
        // Chunks small enough that every thread gets one, and at most what one batch
        // verification takes (a message has at most one signature to check).
        let most = BATCH_CHUNK.min(buffers.len().div_ceil(threads));
        let len = even_chunk_len(buffers.len(), most);
        let shared = Shared::new(buffers.len().div_ceil(len));
        std::thread::scope(|scope| {
            for _ in 1..threads {
                shared.lock().workers += 1;
                let started = std::thread::Builder::new()
                    .spawn_scoped(scope, || shared.work())
                    .is_ok();
                if !started {
                    // Its share is left to the threads that did start.
                    shared.lock().workers -= 1;
                }
            }
            let plans = {
                let _end = EndPlanning(&shared);
                self.plan_all(&buffers, mode, len, &mut |chunk| shared.hand(chunk))
            };
            let mut verdicts = InParallel {
                shared: &shared,
                held: Chunk::new(len),
            };
            self.finish_batch(buffers, plans, &mut verdicts)
        })
    }

    /// The buffers of a batch; or, when the stored group state cannot be read, every
    /// message's result as decoding it alone gives (reading it again).
    #[allow(clippy::type_complexity)]
    fn batch_buffers<'m, M: AsMut<[u8]>>(
        &mut self,
        messages: &'m mut [M],
        mode: DecodeMode,
    ) -> Result<Vec<&'m mut [u8]>, Vec<Result<Decoded<&'m mut [u8]>, Error>>> {
        let buffers: Vec<&'m mut [u8]> = messages.iter_mut().map(AsMut::as_mut).collect();
        if self.resume().is_err() {
            return Err(buffers
                .into_iter()
                .map(|b| self.decode_in_place(b, mode))
                .collect());
        }
        Ok(buffers)
    }

    /// The checks before the signature for every message (those that earlier
    /// messages cannot change), all in one state of the trust store and one read
    /// transaction of a database rather than one per message; the jobs of checking
    /// their signatures are handed to `hand` in chunks of `len` as they are planned.
    fn plan_all(
        &self,
        buffers: &[&mut [u8]],
        mode: DecodeMode,
        len: usize,
        hand: &mut dyn FnMut(Vec<Job<B>>),
    ) -> Vec<Plan> {
        let mut jobs = Planned {
            chunk: Vec::with_capacity(len),
            handed: 0,
            len: len.max(1),
            hand,
        };
        let plans = self.trust_store().with_read_snapshot(|| {
            buffers
                .iter()
                .map(|buffer| {
                    self.plan(buffer, mode, &mut jobs)
                        .unwrap_or_else(Plan::Refused)
                })
                .collect()
        });
        jobs.end();
        plans
    }

    /// Each message of the batch finished in order, with its signature's verdict
    /// from `verdicts`.
    fn finish_batch<'m>(
        &mut self,
        buffers: Vec<&'m mut [u8]>,
        plans: Vec<Plan>,
        verdicts: &mut impl Verdicts,
    ) -> Vec<Result<Decoded<&'m mut [u8]>, Error>> {
        buffers
            .into_iter()
            .zip(plans)
            .map(|(buffer, plan)| match plan {
                Plan::Refused(e) => Err(e),
                Plan::Classic(gate) => self.finish(gate, || Ok(&mut buffer[SIMPLE_OVERHEAD..])),
                Plan::ClassicSigned { unlock, job } => {
                    verdicts.take(job)?;
                    self.finish(unlock?, || Ok(&mut buffer[SIMPLE_OVERHEAD..]))
                }
                Plan::V2 { trust, job } => {
                    // A verdict is taken only for a trusted sender's signature.
                    let verdict = match trust {
                        Trust2::Verify { .. } => {
                            Some(job.map_or(Err(Error::BadSignature), |j| verdicts.take(j)))
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
    fn plan(
        &self,
        buffer: &[u8],
        mode: DecodeMode,
        jobs: &mut Planned<'_, B>,
    ) -> Result<Plan, Error> {
        if crate::topic::format_of(buffer) == crate::WireFormat::V2 {
            let m = V2Message::parse(buffer)?;
            if !self.v2.protocol.accepts_v2() {
                return Err(self.refusal(2));
            }
            let trust = self.trust_v2(&m, mode)?;
            let job = match &trust {
                Trust2::Verify { sender, key } => Some(jobs.push(Job {
                    key: self.job_key(sender, key),
                    signed: Signed::V2 {
                        topic: self.v2.topic_id()?,
                        signed_part: m.signed_part().to_vec(),
                    },
                    signature: *m.signature(),
                })),
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
                let job = jobs.push(Job {
                    key: self.job_key(&sender, &key),
                    signed: Signed::Classic(message.signed_part().to_vec()),
                    signature: *message.signature(),
                });
                Plan::ClassicSigned {
                    unlock: self.unlock(sender, true, &message),
                    job,
                }
            }
        })
    }

    /// The cached key of `sender` if the store's `key` is still the one cached (the
    /// store holds a key the cache does not when it changed behind the topic's back:
    /// then the key is decompressed where the signature is checked).
    fn job_key(&self, sender: &crate::ParticipantId, key: &PublicKey) -> JobKey<B> {
        match self.cached_key(sender, key) {
            Some(prepared) => JobKey::Prepared(prepared.clone()),
            None => JobKey::Raw(*key),
        }
    }
}
