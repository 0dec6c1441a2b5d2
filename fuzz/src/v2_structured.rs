//! `v2_structured`: valid protocol v2 traffic, delivered with chosen mutations,
//! against a model of the receiver.
//!
//! The `v2` target edits four fixed messages, so it stops at the first check a
//! changed byte trips. Here the fuzzer runs a cast of five participants whose keys
//! the harness holds (participant `i` has seed `[0x31 + i; 32]`):
//!
//! | # | in `Traffic` | in `Discovery` |
//! | --- | --- | --- |
//! | 0 | the receiver under test (and, as a second device, a sender whose messages come back as `Own`) | the replier under test |
//! | 1, 2 | trusted admins | trusted |
//! | 3 | a stranger nobody trusts | a stranger |
//! | 4 | a trusted member, not an admin | the joiner under test (a new device) |
//!
//! Every message is made by the library's own API (`encode_with_rng`,
//! `rotate_with`, `construct_intro_with`, `construct_reply_with`) from seeded
//! deterministic randomness, and checked byte for byte against an independent
//! implementation of the wire format in the README (HKDF-SHA256, ChaCha20-Poly1305,
//! BLAKE3, crypto_box and ed25519-dalek called directly, never through the core).
//! Deliveries then pick any earlier message (so messages arrive reordered,
//! duplicated and replayed), optionally mutate it field by field (version, type,
//! suite, epoch, sender id, session, counter, ciphertext, tag, signature, the body
//! fields of introductions, replies and rekeys: flip, set, overwrite, add to it as a
//! number, put a cast member's id or key, shrink or grow the field, truncate,
//! append), and optionally re-sign it as any cast member or re-seal it (a valid
//! message with the chosen header fields, which reaches the replay window with any
//! counter). Each delivery goes to a v2 decoder (`decode` in every mode and variant,
//! `decode_batch`, `accept_rekey`, `construct_reply`, `parse_reply`).
//!
//! A model of the receiver (epochs, keys, members, grace period, one replay window
//! and stored mark per sender) predicts every outcome from the bytes, in the order
//! of checks the core documents, with the cryptography done independently; a
//! signature is valid exactly when the harness made it with the key the message
//! names (Ed25519 under the rule is not malleable, so nobody else can make one).
//! What is asserted, besides the prediction:
//! - an unmutated message decodes to its original plaintext;
//! - a mutated message that was not signed again is never accepted as verified,
//!   and in naive mode only with its signature changed and the same plaintext;
//! - a (sender, counter) accepted by a verified decode is never accepted again, in
//!   any epoch or session, across receiver restarts too;
//! - a failed call changes nothing: key, epoch, members, trust store, stored
//!   marks, pending introduction, and the replay window (probed with a naive
//!   decode of the original, which checks the window without moving it);
//! - every counter accepted lies below the sender's stored mark (what keeps replays
//!   refused after a crash);
//! - senders' counters only move forward, across restarts, and their stored mark
//!   covers every counter they used;
//! - nothing panics.
//!
//! Histories that take several steps in a given order (two admins rotating at
//! once, a member left out, two epochs, a restart) are [`Prelude`]s a case may
//! start from; `fuzz/make-corpus.py` writes a seed for each.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::Signer;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256, Sha512};
use stringphone_core::v2::wire::V2Type;
use stringphone_core::v2::{ProtocolVersion, RekeyOutcome};
use stringphone_core::wire::MessageType;
use stringphone_core::{
    Backend, DecodeMode, Error, MarkSlot, MemoryTrustStore, ParticipantId, PublicKey, SigningSeed,
    TopicKey, TrustStore,
};

use crate::raw::{err_str, outcome, snapshot, v2_framing, FixedRng, Outcome, B, T};

// ----- the wire format, written out from the README ------------------------------------

const HEADER: usize = 47;
const SIG: usize = 64;
const TAG: usize = 16;
/// Header, tag and signature: a message's length is this plus its plaintext's.
const OVERHEAD: usize = HEADER + TAG + SIG;
const INTRO_LEN: usize = HEADER + 32 + 32 + SIG;
const REPLY_LEN: usize = HEADER + 16 + 32 + 32 + 32 + 32 + 24 + 32 + 16 + SIG;
const REKEY_FIXED: usize = HEADER + 32 + 32 + 2 + SIG;
const ENTRY: usize = 16 + 32 + 16;
const SIGNATURE_DOMAIN: [u8; 32] = *b"stringphone v2 signature\0\0\0\0\0\0\0\0";
const DIGEST_CONTEXT: &str = "stringphone v2 message digest";
const EPOCH_CONTEXT: &str = "stringphone v2 epoch id";
const INTRO_CONTEXT: &str = "stringphone v2 introduction";
const MESSAGE_KEY_INFO: &[u8] = b"stringphone v2 message key";
/// "each receiver keeps a 128-wide sliding window per sender".
const WINDOW: u64 = 128;
/// "a receiver stores, per sender, a mark 256 ahead of what it accepted".
const RECEIVER_BLOCK: u64 = 256;
/// "a sender reserves them in blocks of 1024".
const SENDER_BLOCK: u64 = 1024;
/// "The previous epoch is read for 256 messages of the new one".
const DEFAULT_GRACE: u32 = 256;

/// "A receiver refuses counters above `u64::MAX - 257`": the last counter whose mark
/// (`counter + 1 + 256`) fits, so every accepted counter stays covered by its mark.
const LAST_COUNTER: u64 = u64::MAX - 257;

// ----- the cast ---------------------------------------------------------------------------

const CAST: usize = 5;
const US: usize = 0;
const MEMBER: usize = 4;
/// Whom the `Traffic` receiver trusts, and which of them it takes rekeys from.
const TRUSTED: [usize; 3] = [1, 2, 4];
const ADMINS: [usize; 2] = [1, 2];
const KEY: [u8; 32] = [0x6b; 32];
/// A key the joiner may hold before discovery.
const OLD_KEY: [u8; 32] = [0x0d; 32];

struct Member {
    seed: [u8; 32],
    signer: ed25519_dalek::SigningKey,
    public: PublicKey,
    id: ParticipantId,
    /// The static X25519 secret behind the Ed25519 identity (libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519`: SHA-512 of the seed, clamped).
    static_secret: [u8; 32],
}

struct World {
    cast: Vec<Member>,
}

impl World {
    fn new() -> World {
        let cast = (0..CAST)
            .map(|i| {
                let seed = [0x31 + i as u8; 32];
                let signer = ed25519_dalek::SigningKey::from_bytes(&seed);
                let public = PublicKey::from_bytes(signer.verifying_key().to_bytes());
                let id = participant_id(public.as_bytes());
                assert_eq!(id, B::participant_id(&public), "core and harness ids agree");
                let mut static_secret = [0u8; 32];
                static_secret.copy_from_slice(&Sha512::digest(seed)[..32]);
                static_secret[0] &= 248;
                static_secret[31] &= 127;
                static_secret[31] |= 64;
                Member {
                    seed,
                    signer,
                    public,
                    id,
                    static_secret,
                }
            })
            .collect();
        World { cast }
    }

    fn by_id(&self, id: &[u8]) -> Option<usize> {
        self.cast.iter().position(|m| m.id.as_bytes() == id)
    }
}

thread_local! {
    static WORLD: World = World::new();
}

// ----- independent cryptography -----------------------------------------------------------

fn participant_id(public: &[u8; 32]) -> ParticipantId {
    let mut id = [0u8; 16];
    id.copy_from_slice(&Sha256::digest(public)[..16]);
    ParticipantId::from_bytes(id)
}

fn id_at(msg: &[u8], at: usize) -> ParticipantId {
    let mut id = [0u8; 16];
    id.copy_from_slice(&msg[at..at + 16]);
    ParticipantId::from_bytes(id)
}

fn array32(bytes: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(bytes);
    a
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
}

/// The 64 bytes a v2 signature covers.
fn signed_string(signed_part: &[u8]) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[..32].copy_from_slice(&SIGNATURE_DOMAIN);
    s[32..].copy_from_slice(&blake3::derive_key(DIGEST_CONTEXT, signed_part));
    s
}

/// Signs `msg` (its last 64 bytes are the signature) as `member`.
fn sign_as(member: &Member, msg: &mut [u8]) {
    let n = msg.len() - SIG;
    let signature = member.signer.sign(&signed_string(&msg[..n])).to_bytes();
    msg[n..].copy_from_slice(&signature);
}

/// Whether `msg` carries `member`'s signature: Ed25519 signing is deterministic, so
/// this is the one the harness would make (cheaper than verifying).
fn signed_by(member: &Member, msg: &[u8]) -> bool {
    let mut copy = msg.to_vec();
    sign_as(member, &mut copy);
    copy == msg
}

/// The message cipher of a header: HKDF-SHA256(salt = session, ikm = topic key,
/// info = prefix ‖ suite ‖ epoch ‖ sender id).
fn message_cipher(topic_key: &[u8; 32], header: &[u8]) -> ChaCha20Poly1305 {
    let mut info = MESSAGE_KEY_INFO.to_vec();
    info.push(0x01);
    info.extend_from_slice(&header[3..23]);
    let mut okm = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(&header[23..39]), topic_key)
        .expand(&info, &mut okm)
        .expect("32 bytes of HKDF");
    ChaCha20Poly1305::new(GenericArray::from_slice(&okm))
}

/// Four zero bytes, then the counter.
fn message_nonce(header: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&header[39..47]);
    n
}

/// Opens a message of at least `OVERHEAD` bytes under `topic_key`.
fn open_message(topic_key: &[u8; 32], msg: &[u8]) -> Option<Vec<u8>> {
    let n = msg.len();
    let header = &msg[..HEADER];
    let mut body = msg[HEADER..n - SIG - TAG].to_vec();
    message_cipher(topic_key, header)
        .decrypt_in_place_detached(
            GenericArray::from_slice(&message_nonce(header)),
            header,
            &mut body,
            GenericArray::from_slice(&msg[n - SIG - TAG..n - SIG]),
        )
        .ok()?;
    Some(body)
}

/// Seals `plaintext` into `msg` (header written, `OVERHEAD + plaintext.len()` long).
fn seal_message(topic_key: &[u8; 32], msg: &mut [u8], plaintext: &[u8]) {
    let n = msg.len();
    let (header, rest) = msg.split_at_mut(HEADER);
    let body = &mut rest[..plaintext.len()];
    body.copy_from_slice(plaintext);
    let tag = message_cipher(topic_key, header)
        .encrypt_in_place_detached(
            GenericArray::from_slice(&message_nonce(header)),
            header,
            body,
        )
        .expect("seal");
    msg[n - SIG - TAG..n - SIG].copy_from_slice(&tag);
}

/// crypto_box (X25519, XSalsa20-Poly1305) opening a sealed 32-byte key.
fn box_open(
    their_public: &[u8],
    our_secret: &[u8; 32],
    nonce: &[u8],
    sealed: &[u8],
) -> Option<[u8; 32]> {
    let cipher = crypto_box::SalsaBox::new(
        &crypto_box::PublicKey::from(array32(their_public)),
        &crypto_box::SecretKey::from(*our_secret),
    );
    let mut key = array32(&sealed[..32]);
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            b"",
            &mut key,
            GenericArray::from_slice(&sealed[32..48]),
        )
        .ok()?;
    Some(key)
}

/// Whether an X25519 key has small order: its agreement with any secret is zero.
fn small_order(key: &[u8]) -> bool {
    MontgomeryPoint(array32(key))
        .mul_clamped([0x55; 32])
        .to_bytes()
        == [0; 32]
}

fn rekey_entry_nonce(epoch: u32, index: usize) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..4].copy_from_slice(&epoch.to_be_bytes());
    n[4..8].copy_from_slice(&(index as u32).to_be_bytes());
    n
}

/// A deterministic random source: BLAKE3's output stream for a seed.
pub struct StreamRng(blake3::OutputReader);

impl StreamRng {
    fn new(parts: &[&[u8]]) -> StreamRng {
        let mut h = blake3::Hasher::new_derive_key("stringphone fuzz v2_structured rng");
        for p in parts {
            h.update(p);
        }
        StreamRng(h.finalize_xof())
    }
}

impl RngCore for StreamRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for StreamRng {}

// ----- mutations ------------------------------------------------------------------------------

/// A field of a v2 message, located by the type of the message it was made as.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Field {
    Version,
    Type,
    Suite,
    Epoch,
    SenderId,
    Session,
    Counter,
    /// `m`: the ciphertext; `i`, `r`, `k`: everything between header and signature.
    Body,
    /// `m`: the ChaCha20-Poly1305 tag; `r`: the box's tag.
    Tag,
    Signature,
    /// `i`, `r`: the Ed25519 key.
    Identity,
    /// `i`, `r`, `k`: the X25519 key.
    EncryptionKey,
    /// `r`.
    Recipient,
    /// `r`.
    IntroDigest,
    /// `r`: the epoch id; `k`: the previous epoch's id.
    EpochId,
    /// `r`.
    BoxNonce,
    /// `r`.
    SealedKey,
    /// `k`.
    MemberCount,
    /// `k`: entry `i % count`, its member id.
    EntryId(u8),
    /// `k`: entry `i % count`, its sealed key and tag.
    EntrySealed(u8),
}

/// Where `field` lies in a message of `kind` that is now `len` bytes long.
fn field_range(field: Field, kind: V2Type, len: usize) -> Option<(usize, usize)> {
    let sig = len.saturating_sub(SIG);
    let entry = |i: u8| {
        let count = (len.saturating_sub(REKEY_FIXED) / ENTRY).max(1);
        HEADER + 66 + ENTRY * (usize::from(i) % count)
    };
    let r = match (field, kind) {
        (Field::Version, _) => (0, 1),
        (Field::Type, _) => (1, 2),
        (Field::Suite, _) => (2, 3),
        (Field::Epoch, _) => (3, 7),
        (Field::SenderId, _) => (7, 23),
        (Field::Session, _) => (23, 39),
        (Field::Counter, _) => (39, 47),
        (Field::Signature, _) => (sig, len),
        (Field::Body, V2Type::Message) => (HEADER, sig.saturating_sub(TAG)),
        (Field::Body, _) => (HEADER, sig),
        (Field::Tag, V2Type::Message) => (sig.saturating_sub(TAG), sig),
        (Field::Identity, V2Type::Introduction) => (47, 79),
        (Field::EncryptionKey, V2Type::Introduction) => (79, 111),
        (Field::Recipient, V2Type::Reply) => (47, 63),
        (Field::IntroDigest, V2Type::Reply) => (63, 95),
        (Field::EpochId, V2Type::Reply) => (95, 127),
        (Field::Identity, V2Type::Reply) => (127, 159),
        (Field::EncryptionKey, V2Type::Reply) => (159, 191),
        (Field::BoxNonce, V2Type::Reply) => (191, 215),
        (Field::SealedKey, V2Type::Reply) => (215, 247),
        (Field::Tag, V2Type::Reply) => (247, 263),
        (Field::EpochId, V2Type::Rekey) => (47, 79),
        (Field::EncryptionKey, V2Type::Rekey) => (79, 111),
        (Field::MemberCount, V2Type::Rekey) => (111, 113),
        (Field::EntryId(i), V2Type::Rekey) => (entry(i), entry(i) + 16),
        (Field::EntrySealed(i), V2Type::Rekey) => (entry(i) + 16, entry(i) + ENTRY),
        _ => return None,
    };
    let start = r.0.min(len);
    Some((start, r.1.clamp(start, len)))
}

/// A change to a message.
#[derive(Arbitrary, Debug)]
pub enum Edit {
    /// Flip one bit of a field.
    Flip { field: Field, index: u16, bit: u8 },
    /// Set one byte of a field.
    Set { field: Field, index: u16, value: u8 },
    /// Overwrite a field from its start (as many bytes as fit).
    Overwrite { field: Field, bytes: Vec<u8> },
    /// Add to a field read as a big-endian number (its last 16 bytes), wrapping.
    Add { field: Field, delta: i32 },
    /// Put cast member `% 5`'s id (a 16-byte field) or key (a 32-byte field).
    Cast { field: Field, member: u8 },
    /// Drop up to `n` bytes from the end of a field (the message gets shorter).
    Shrink { field: Field, n: u8 },
    /// Insert bytes at the end of a field (the message gets longer).
    Grow { field: Field, bytes: Vec<u8> },
    /// Drop bytes from the end of the message.
    Truncate(u16),
    /// Append bytes to the message.
    Append(Vec<u8>),
}

/// What happens to the signature (and the seal) after the edits.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// Nothing: the signature is the original's.
    Keep,
    /// Signed again as cast member `% 5`.
    Resign(u8),
    /// A message (`m`) is sealed again under its sender's key with the edited header
    /// and signed by the member its sender id names: a valid message with chosen
    /// fields. Other types are signed again by their original signer.
    Reseal,
}

/// Edits, then a seal.
#[derive(Arbitrary, Debug)]
pub struct Mutation {
    edits: Vec<Edit>,
    seal: Seal,
}

/// A message the harness holds: what it is and who made it.
#[derive(Clone, Debug)]
struct Pooled {
    bytes: Vec<u8>,
    kind: V2Type,
    signer: usize,
    /// `m`: the topic key it is sealed under, and its plaintext.
    key: [u8; 32],
    plaintext: Vec<u8>,
}

fn apply(world: &World, kind: V2Type, msg: &mut Vec<u8>, edit: &Edit) {
    let range = |field: Field, len: usize| field_range(field, kind, len);
    match edit {
        Edit::Flip { field, index, bit } => {
            if let Some((s, e)) = range(*field, msg.len()).filter(|(s, e)| s < e) {
                msg[s + usize::from(*index) % (e - s)] ^= 1 << (bit % 8);
            }
        }
        Edit::Set {
            field,
            index,
            value,
        } => {
            if let Some((s, e)) = range(*field, msg.len()).filter(|(s, e)| s < e) {
                msg[s + usize::from(*index) % (e - s)] = *value;
            }
        }
        Edit::Overwrite { field, bytes } => {
            if let Some((s, e)) = range(*field, msg.len()) {
                let n = bytes.len().min(e - s);
                msg[s..s + n].copy_from_slice(&bytes[..n]);
            }
        }
        Edit::Add { field, delta } => {
            if let Some((s, e)) = range(*field, msg.len()).filter(|(s, e)| s < e) {
                let s = s.max(e.saturating_sub(16));
                let width = e - s;
                let mut n = [0u8; 16];
                n[16 - width..].copy_from_slice(&msg[s..e]);
                let sum = u128::from_be_bytes(n).wrapping_add(*delta as i128 as u128);
                msg[s..e].copy_from_slice(&sum.to_be_bytes()[16 - width..]);
            }
        }
        Edit::Cast { field, member } => {
            if let Some((s, e)) = range(*field, msg.len()) {
                let m = &world.cast[usize::from(*member) % CAST];
                match e - s {
                    16 => msg[s..e].copy_from_slice(m.id.as_bytes()),
                    32 => msg[s..e].copy_from_slice(m.public.as_bytes()),
                    _ => {}
                }
            }
        }
        Edit::Shrink { field, n } => {
            if let Some((s, e)) = range(*field, msg.len()) {
                let n = usize::from(*n).min(e - s);
                msg.drain(e - n..e);
            }
        }
        Edit::Grow { field, bytes } => {
            if let Some((_, e)) = range(*field, msg.len()) {
                let bytes = &bytes[..bytes.len().min(64)];
                msg.splice(e..e, bytes.iter().copied());
            }
        }
        Edit::Truncate(n) => msg.truncate(msg.len().saturating_sub(usize::from(*n))),
        Edit::Append(more) => msg.extend_from_slice(&more[..more.len().min(64)]),
    }
}

/// The mutated bytes, and whose valid signature they carry, if anyone's.
fn mutate(world: &World, orig: &Pooled, m: Option<&Mutation>) -> (Vec<u8>, Option<usize>) {
    let Some(m) = m else {
        return (orig.bytes.clone(), Some(orig.signer));
    };
    let mut msg = orig.bytes.clone();
    for edit in m.edits.iter().take(4) {
        apply(world, orig.kind, &mut msg, edit);
    }
    match m.seal {
        Seal::Resign(i) if msg.len() >= SIG => {
            let i = usize::from(i) % CAST;
            sign_as(&world.cast[i], &mut msg);
            (msg, Some(i))
        }
        Seal::Reseal if orig.kind == V2Type::Message && msg.len() >= OVERHEAD => {
            let n = msg.len();
            let unchanged = n == orig.bytes.len()
                && msg[HEADER..n - SIG - TAG] == orig.bytes[HEADER..n - SIG - TAG];
            let plaintext = if unchanged {
                orig.plaintext.clone()
            } else {
                msg[HEADER..n - SIG - TAG].to_vec()
            };
            seal_message(&orig.key, &mut msg, &plaintext);
            let signer = world.by_id(&msg[7..23]).unwrap_or(orig.signer);
            sign_as(&world.cast[signer], &mut msg);
            (msg, Some(signer))
        }
        Seal::Reseal if msg.len() >= SIG => {
            sign_as(&world.cast[orig.signer], &mut msg);
            (msg, Some(orig.signer))
        }
        _ => {
            let signer = (msg == orig.bytes).then_some(orig.signer);
            (msg, signer)
        }
    }
}

// ----- the receiver's model -----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct EpochM {
    epoch: u32,
    id: [u8; 32],
    key: Option<[u8; 32]>,
    members: Option<BTreeSet<ParticipantId>>,
}

#[derive(Clone, Debug)]
struct PrevM {
    e: EpochM,
    remaining: u32,
}

/// One sender's replay window: counters below `floor` refused, the highest accepted,
/// and every counter accepted since.
#[derive(Clone, Debug, Default)]
struct WindowM {
    floor: u64,
    top: Option<u64>,
    seen: BTreeSet<u64>,
}

impl WindowM {
    fn check(&self, counter: u64) -> Result<(), bool> {
        let floor = match self.top {
            Some(top) => self.floor.max(top.saturating_sub(WINDOW - 1)),
            None => self.floor,
        };
        if counter < floor {
            return Err(true);
        }
        if self.seen.contains(&counter) {
            return Err(false);
        }
        Ok(())
    }

    fn accept(&mut self, counter: u64) {
        self.seen.insert(counter);
        self.top = Some(self.top.map_or(counter, |t| t.max(counter)));
        let floor = self.top.unwrap_or(0).saturating_sub(WINDOW - 1);
        self.seen.retain(|c| *c >= floor);
    }
}

/// The receiver as the README describes it.
struct Model {
    me: ParticipantId,
    /// Participants trusted, by id.
    trusted: BTreeMap<ParticipantId, PublicKey>,
    admins: BTreeSet<ParticipantId>,
    cur: EpochM,
    /// "A receiver recognises the competitor by the id of the epoch both follow, which
    /// it keeps after the previous epoch's key is gone."
    parent: Option<[u8; 32]>,
    prev: Option<PrevM>,
    grace: u32,
    /// Windows in memory (a restart forgets them).
    windows: BTreeMap<ParticipantId, WindowM>,
    /// Marks in the trust store (a restart keeps them).
    marks: BTreeMap<ParticipantId, u64>,
    /// Every (sender, counter) a verified decode accepted, across restarts.
    ever: BTreeSet<(ParticipantId, u64)>,
}

/// A prediction: exactly this, or some error (a classic message on a v2 topic, whose
/// refusal the `decode` target checks).
#[derive(Debug)]
enum Expect<X> {
    Exactly(X),
    AnyErr,
}

fn err(e: Error) -> Outcome {
    Outcome::Err(err_str(&e))
}

impl Model {
    fn key_of(&self, epoch: u32) -> Option<[u8; 32]> {
        if epoch == self.cur.epoch {
            self.cur.key
        } else {
            self.prev
                .as_ref()
                .filter(|p| p.e.epoch == epoch)
                .map(|p| p.e.key.expect("a previous epoch has a key"))
        }
    }

    fn members_of(&self, epoch: u32) -> Option<&BTreeSet<ParticipantId>> {
        if epoch == self.cur.epoch {
            self.cur.members.as_ref()
        } else {
            self.prev
                .as_ref()
                .filter(|p| p.e.epoch == epoch)
                .and_then(|p| p.e.members.as_ref())
        }
    }

    fn window(&self, id: &ParticipantId) -> WindowM {
        self.windows.get(id).cloned().unwrap_or_else(|| WindowM {
            floor: self.marks.get(id).copied().unwrap_or(0),
            ..WindowM::default()
        })
    }

    /// What decoding `msg` gives, and the model moved as the receiver must move.
    /// `signer`: whose valid signature `msg` carries; `short`: `decode_into` with a
    /// buffer one byte short.
    fn decode(
        &mut self,
        world: &World,
        msg: &[u8],
        mode: DecodeMode,
        signer: Option<usize>,
        short: bool,
    ) -> Expect<Outcome> {
        if msg.first() != Some(&0x02) {
            return Expect::AnyErr;
        }
        let t = match v2_framing(msg) {
            Ok(t) => t,
            Err(e) => return Expect::Exactly(err(e)),
        };
        match t {
            V2Type::Introduction => return Expect::Exactly(err(Error::Introduction)),
            V2Type::Reply => return Expect::Exactly(err(Error::IntroductionReply)),
            V2Type::Rekey => return Expect::Exactly(err(Error::Rekey)),
            V2Type::Message => {}
            // A new kind of message needs its prediction here first (`#[non_exhaustive]`).
            other => panic!("the oracle does not know {other:?}"),
        }
        let sender = id_at(msg, 7);
        if sender == self.me {
            return Expect::Exactly(Outcome::Own);
        }
        let epoch = be_u32(&msg[3..7]);
        let counter = be_u64(&msg[39..47]);
        let verified = mode != DecodeMode::Naive;
        if verified {
            let Some(key) = self.trusted.get(&sender) else {
                return Expect::Exactly(match mode {
                    DecodeMode::IgnoreUntrusted => Outcome::Ignored(sender),
                    _ => err(Error::UntrustedSender(sender)),
                });
            };
            if self.members_of(epoch).is_some_and(|m| !m.contains(&sender)) {
                return Expect::Exactly(err(Error::NotAMember(sender)));
            }
            let valid = signer.is_some_and(|s| world.cast[s].public == *key);
            if !valid {
                return Expect::Exactly(err(Error::BadSignature));
            }
        }
        let Some(topic_key) = self.key_of(epoch) else {
            return Expect::Exactly(err(match self.cur.key {
                None => Error::MissingTopicKey,
                Some(_) => Error::UnknownEpoch(epoch),
            }));
        };
        if counter > LAST_COUNTER {
            return Expect::Exactly(err(Error::CounterOutOfRange { sender, counter }));
        }
        let mut window = self.window(&sender);
        if let Err(too_old) = window.check(counter) {
            return Expect::Exactly(err(Error::Replayed {
                sender,
                counter,
                too_old,
            }));
        }
        if short {
            let needed = msg.len() - OVERHEAD;
            return Expect::Exactly(err(Error::BufferTooSmall {
                needed,
                available: needed - 1,
            }));
        }
        let Some(plaintext) = open_message(&topic_key, msg) else {
            return Expect::Exactly(err(Error::DecryptFailed));
        };
        // Once it opened, a verified message's mark is stored ahead if it reached
        // the stored one (a refusal stores nothing).
        let mark = self.marks.get(&sender).copied().unwrap_or(0);
        if verified && counter >= mark {
            let ahead = counter.saturating_add(1).saturating_add(RECEIVER_BLOCK);
            self.marks.insert(sender, ahead);
        }
        if verified {
            window.accept(counter);
            self.windows.insert(sender, window);
            self.ever.insert((sender, counter));
            if epoch == self.cur.epoch {
                if let Some(p) = &mut self.prev {
                    p.remaining = p.remaining.saturating_sub(1);
                    if p.remaining == 0 {
                        self.prev = None;
                    }
                }
            }
        }
        Expect::Exactly(Outcome::Message {
            sender,
            verified,
            plaintext,
        })
    }

    /// What `accept_rekey(msg)` gives, the model moved accordingly.
    fn accept_rekey(
        &mut self,
        world: &World,
        msg: &[u8],
        signer: Option<usize>,
    ) -> Result<RekeyOutcome, String> {
        let e = |e: Error| Err(err_str(&e));
        match msg.first() {
            None => {
                return e(Error::Malformed {
                    message_type: None,
                    len: 0,
                })
            }
            Some(&b) if b != 0x02 => return e(Error::UnknownType(b)),
            _ => {}
        }
        let t = match v2_framing(msg) {
            Ok(t) => t,
            Err(x) => return e(x),
        };
        if t != V2Type::Rekey {
            return e(Error::WrongType {
                expected: MessageType::V2(V2Type::Rekey),
                found: MessageType::V2(t),
            });
        }
        let admin = id_at(msg, 7);
        if !self.admins.contains(&admin) {
            return e(Error::NotAnAdmin(admin));
        }
        let Some(key) = self.trusted.get(&admin) else {
            return e(Error::UntrustedSender(admin));
        };
        if !signer.is_some_and(|s| world.cast[s].public == *key) {
            return e(Error::BadSignature);
        }
        let epoch = be_u32(&msg[3..7]);
        let previous = array32(&msg[47..79]);
        let id = blake3::derive_key(EPOCH_CONTEXT, msg);
        let from_current =
            if Some(epoch) == self.cur.epoch.checked_add(1) && previous == self.cur.id {
                true
            } else if epoch == self.cur.epoch && self.parent == Some(previous) {
                if id >= self.cur.id {
                    return Ok(RekeyOutcome::Superseded);
                }
                false
            } else {
                return e(Error::EpochMismatch {
                    current: self.cur.epoch,
                    got: epoch,
                });
            };
        let entries: Vec<&[u8]> = msg[HEADER + 66..msg.len() - SIG].chunks(ENTRY).collect();
        let Some(index) = entries.iter().position(|e| e[..16] == *self.me.as_bytes()) else {
            return e(Error::NotAMember(self.me));
        };
        let eph = &msg[79..111];
        if small_order(eph) {
            return e(Error::DecryptFailed);
        }
        let Some(new_key) = box_open(
            eph,
            &world.cast[US].static_secret,
            &rekey_entry_nonce(epoch, index),
            &entries[index][16..],
        ) else {
            return e(Error::DecryptFailed);
        };
        let members = entries.iter().map(|e| id_at(e, 0)).collect();
        let next = EpochM {
            epoch,
            id,
            key: Some(new_key),
            members: Some(members),
        };
        if from_current {
            self.parent = Some(self.cur.id);
            self.prev = match self.cur.key {
                Some(_) if self.grace > 0 => Some(PrevM {
                    e: self.cur.clone(),
                    remaining: self.grace,
                }),
                _ => None,
            };
        }
        self.cur = next;
        Ok(RekeyOutcome::Rotated { epoch })
    }

    /// A naive decode of a message, predicted without moving anything (naive
    /// decoding checks the window but moves nothing).
    fn probe(&self, world: &World, msg: &[u8]) -> Expect<Outcome> {
        let mut copy = Model {
            me: self.me,
            trusted: self.trusted.clone(),
            admins: self.admins.clone(),
            cur: self.cur.clone(),
            parent: self.parent,
            prev: self.prev.clone(),
            grace: self.grace,
            windows: self.windows.clone(),
            marks: self.marks.clone(),
            ever: BTreeSet::new(),
        };
        copy.decode(world, msg, DecodeMode::Naive, None, false)
    }
}

/// The receiver's state that every call is checked against.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    key: Option<[u8; 32]>,
    pending: bool,
    participants: Vec<([u8; 16], [u8; 32])>,
    epoch: u32,
    members: Option<BTreeSet<ParticipantId>>,
    marks: BTreeMap<ParticipantId, u64>,
}

fn observe(t: &T, ids: &[ParticipantId]) -> Observed {
    let store = t.trust_store();
    let mut participants: Vec<_> = t
        .participants()
        .expect("memory store")
        .map(|(id, pk)| (*id.as_bytes(), pk.to_bytes()))
        .collect();
    participants.sort();
    Observed {
        key: t.topic_key().map(|k| *k.expose_secret()),
        pending: t.has_pending_introduction(),
        participants,
        epoch: t.epoch(),
        members: t.members().map(|m| m.copied().collect()),
        marks: ids
            .iter()
            .filter_map(|id| {
                let mark = store
                    .load_mark(&MarkSlot::Received(*id))
                    .expect("memory store");
                mark.map(|m| (*id, m))
            })
            .collect(),
    }
}

/// What [`observe`] must give, from the model.
fn expected(model: &Model) -> Observed {
    let mut participants: Vec<_> = model
        .trusted
        .iter()
        .map(|(id, pk)| (*id.as_bytes(), pk.to_bytes()))
        .collect();
    participants.sort();
    Observed {
        key: model.cur.key,
        pending: false,
        participants,
        epoch: model.cur.epoch,
        members: model.cur.members.clone(),
        marks: model.marks.clone(),
    }
}

// ----- senders ----------------------------------------------------------------------------------

/// A cast member's topic sending v2, with what the harness knows of it.
struct Sender {
    index: usize,
    topic: T,
    rng: StreamRng,
    /// (next counter, end of the reserved block), once the topic has loaded its mark.
    counter: Option<(u64, u64)>,
    session: Option<[u8; 16]>,
    /// The id of the epoch the topic is in.
    epoch_id: [u8; 32],
    restarts: u8,
}

fn sender_topic(world: &World, i: usize, store: MemoryTrustStore) -> T {
    let mut t = T::with_store(
        SigningSeed::from_bytes(world.cast[i].seed),
        Some(TopicKey::from_bytes(KEY)),
        store,
    );
    t.set_protocol(ProtocolVersion::V2);
    for (j, m) in world.cast.iter().enumerate() {
        if j != i {
            t.add_participant(m.public).expect("cast keys are valid");
        }
    }
    for a in ADMINS {
        t.add_admin(world.cast[a].public)
            .expect("cast keys are valid");
    }
    t
}

impl Sender {
    fn new(world: &World, i: usize, seed: u8, start: Option<u64>) -> Sender {
        let mut store = MemoryTrustStore::new();
        if let Some(mark) = start {
            store
                .save_mark(MarkSlot::OwnCounter, mark)
                .expect("memory store");
        }
        Sender {
            index: i,
            topic: sender_topic(world, i, store),
            rng: StreamRng::new(&[&[seed, i as u8, 0]]),
            counter: None,
            session: None,
            epoch_id: [0; 32],
            restarts: 0,
        }
    }

    /// A new instance on the same store (only at epoch 0: the epoch is not stored).
    fn restart(&mut self, world: &World, seed: u8) {
        if self.topic.epoch() != 0 {
            return;
        }
        let old = std::mem::replace(
            &mut self.topic,
            T::new(SigningSeed::from_bytes([0; 32]), None),
        );
        self.topic = sender_topic(world, self.index, old.into_trust_store());
        self.restarts = self.restarts.wrapping_add(1);
        self.rng = StreamRng::new(&[&[seed, self.index as u8, self.restarts]]);
        self.counter = None;
        self.session = None;
    }

    fn stored_mark(&self) -> Option<u64> {
        self.topic
            .trust_store()
            .load_mark(&MarkSlot::OwnCounter)
            .expect("memory store")
    }

    /// The counter the next message takes, or `None` when the sender is out of
    /// counters (`CounterExhausted`); `commit` moves the harness's copy.
    fn next_counter(&mut self, commit: bool) -> Option<u64> {
        // Like the core, load the stored mark on first use, whatever follows.
        let (next, reserved) = match self.counter {
            Some(c) => c,
            None => {
                let mark = self.stored_mark().unwrap_or(0);
                self.counter = Some((mark, mark));
                (mark, mark)
            }
        };
        let reserved = if next >= reserved {
            next.checked_add(SENDER_BLOCK)?
        } else {
            reserved
        };
        if commit {
            self.counter = Some((next + 1, reserved));
        }
        Some(next)
    }

    /// Checks the header of a message this sender just made and moves the counter.
    fn check_header(
        &mut self,
        world: &World,
        msg: &[u8],
        t: V2Type,
        epoch: u32,
        last: &mut [Option<u64>; CAST],
    ) {
        let me = &world.cast[self.index];
        assert_eq!(msg[0], 0x02);
        assert_eq!(msg[1], t.byte());
        assert_eq!(msg[2], 0x01);
        assert_eq!(be_u32(&msg[3..7]), epoch, "the epoch in the header");
        assert_eq!(&msg[7..23], me.id.as_bytes());
        let session: [u8; 16] = msg[23..39].try_into().expect("16");
        assert_eq!(
            *self.session.get_or_insert(session),
            session,
            "one session per instance"
        );
        let counter = be_u64(&msg[39..47]);
        let predicted = self.next_counter(true).expect("a counter was available");
        assert_eq!(
            counter, predicted,
            "counters are consecutive, starting at the stored mark"
        );
        if let Some(previous) = last[self.index] {
            assert!(
                counter > previous,
                "a counter went backwards: {counter} after {previous}"
            );
        }
        last[self.index] = Some(counter);
        let (_, reserved) = self.counter.expect("set");
        assert_eq!(
            self.stored_mark(),
            Some(reserved),
            "the sender's stored mark"
        );
        assert!(counter < reserved, "a counter at or above the stored mark");
    }
}

// ----- the Traffic scenario ---------------------------------------------------------------------------

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub enum Scenario {
    /// Messages and rekeys from the cast to participant 0.
    Traffic(TrafficCase),
    /// A joiner (participant 4) and a replier (participant 0).
    Discovery(DiscoveryCase),
}

/// Traffic to participant 0.
#[derive(Arbitrary, Debug)]
pub struct TrafficCase {
    /// A history to start from (first, so that a seed input can pick it).
    prelude: Prelude,
    receiver_has_key: bool,
    /// `% 4` messages of grace for the previous epoch; `None`: the default.
    grace: Option<u8>,
    /// Where each sender's counter starts (its stored mark).
    starts: [Option<u64>; CAST],
    seed: u8,
    actions: Vec<Action>,
}

/// Histories that take several steps in a given order, which random bytes rarely
/// hit: the fuzzer's own actions run after them. They are made of [`Action`]s and
/// checked like any.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Prelude {
    None,
    /// Senders 1, 2, 4, 3 and 0 send twice; the receiver gets each message once.
    Chatter,
    /// Chatter; admin 1 rotates for everyone, the receiver accepts it; chatter.
    Rotation,
    /// Chatter; admin 1 rotates leaving member 4 out (4 stays in epoch 0), the
    /// receiver accepts it; chatter; 4's last message re-sealed in the new epoch.
    Removal,
    /// Admins 1 and 2 rotate at once (neither hears the other, everyone else hears
    /// both); the receiver gets both rekeys; chatter.
    Concurrent,
    /// Admin 1 rotates twice, the second time leaving 4 out; the receiver accepts
    /// both; chatter.
    TwoEpochs,
    /// Chatter; the receiver restarts on its store; the first round is replayed.
    Restart,
}

fn plain_delivery(pick: u8) -> Action {
    Action::Deliver(Delivery {
        pick,
        mode: 0,
        variant: Variant::Decode,
        swap: false,
        mutation: None,
    })
}

/// Each sender sends once, then the receiver gets the five messages in order.
fn chatter(actions: &mut Vec<Action>, round: u8) {
    for sender in [1, 2, 4, 3, 0] {
        actions.push(Action::Send {
            sender,
            plaintext: vec![sender, round],
        });
    }
    for pick in (0..5).rev() {
        actions.push(plain_delivery(pick));
    }
}

impl Prelude {
    fn actions(self) -> Vec<Action> {
        const ALL: u8 = 0b11111;
        let mut a = Vec::new();
        let rotate = |a: &mut Vec<Action>, admin, members, reach| {
            a.push(Action::Rotate {
                admin,
                members,
                reach,
            });
        };
        match self {
            Prelude::None => {}
            Prelude::Chatter => {
                chatter(&mut a, 0);
                chatter(&mut a, 1);
            }
            Prelude::Rotation => {
                chatter(&mut a, 0);
                rotate(&mut a, 1, ALL, ALL);
                a.push(plain_delivery(0));
                chatter(&mut a, 1);
            }
            Prelude::Removal => {
                chatter(&mut a, 0);
                rotate(&mut a, 1, 0b00111, ALL);
                a.push(plain_delivery(0));
                chatter(&mut a, 1);
                // Member 4 speaking in the epoch that left it out (a re-sealed
                // message stands for one made with the key): `NotAMember`.
                a.push(Action::Deliver(Delivery {
                    pick: 2,
                    mode: 0,
                    variant: Variant::Decode,
                    swap: false,
                    mutation: Some(Mutation {
                        edits: vec![Edit::Add {
                            field: Field::Epoch,
                            delta: 1,
                        }],
                        seal: Seal::Reseal,
                    }),
                }));
            }
            Prelude::Concurrent => {
                rotate(&mut a, 1, ALL, ALL & !(1 << 2));
                rotate(&mut a, 2, ALL, ALL & !(1 << 1));
                a.push(plain_delivery(1));
                a.push(plain_delivery(0));
                chatter(&mut a, 0);
            }
            Prelude::TwoEpochs => {
                rotate(&mut a, 1, ALL, ALL);
                a.push(plain_delivery(0));
                rotate(&mut a, 1, 0b00111, ALL);
                a.push(plain_delivery(0));
                chatter(&mut a, 0);
            }
            Prelude::Restart => {
                chatter(&mut a, 0);
                a.push(Action::RestartReceiver { exact: false });
                chatter(&mut a, 1);
                for pick in (5..10).rev() {
                    a.push(plain_delivery(pick));
                }
            }
        }
        a
    }
}

#[derive(Arbitrary, Debug)]
pub enum Action {
    /// Cast member `% 5` encodes a message.
    Send { sender: u8, plaintext: Vec<u8> },
    /// The receiver gets a message the harness holds.
    Deliver(Delivery),
    /// Cast member `% 5` rotates, listing the members of bitmask `members`; the other
    /// senders of bitmask `reach` accept the rekey.
    Rotate { admin: u8, members: u8, reach: u8 },
    /// A sender restarts on its store (new session, counter from its mark).
    RestartSender(u8),
    /// The receiver restarts on its store (at epoch 0 only: epochs are not stored),
    /// after `save_replay_marks` if `exact`.
    RestartReceiver { exact: bool },
    /// The receiver forgets the previous epoch.
    ExpirePrevious,
}

/// A delivery to the receiver.
#[derive(Arbitrary, Debug)]
pub struct Delivery {
    /// Which message: 0 is the latest.
    pick: u8,
    mode: u8,
    variant: Variant,
    /// Feed a message to `accept_rekey`, a rekey to `decode`.
    swap: bool,
    mutation: Option<Mutation>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Variant {
    Decode,
    InPlace,
    Into,
    /// `decode_into` with a buffer one byte short.
    IntoShort,
    /// `decode_batch`, with another message (unedited) after it.
    Batch(u8),
}

const MODES: [DecodeMode; 3] = [
    DecodeMode::Strict,
    DecodeMode::IgnoreUntrusted,
    DecodeMode::Naive,
];

struct Traffic<'w> {
    world: &'w World,
    receiver: T,
    model: Model,
    senders: Vec<Option<Sender>>,
    pool: Vec<Pooled>,
    seed: u8,
    starts: [Option<u64>; CAST],
    /// The last counter each identity used, across restarts.
    last: [Option<u64>; CAST],
}

fn receiver_topic(world: &World, key: Option<[u8; 32]>, grace: u32, store: MemoryTrustStore) -> T {
    let mut r = T::with_store(
        SigningSeed::from_bytes(world.cast[US].seed),
        key.map(TopicKey::from_bytes),
        store,
    );
    r.set_protocol(ProtocolVersion::V2);
    for i in TRUSTED {
        r.add_participant(world.cast[i].public)
            .expect("cast keys are valid");
    }
    for i in ADMINS {
        r.add_admin(world.cast[i].public)
            .expect("cast keys are valid");
    }
    if grace != DEFAULT_GRACE {
        r.set_grace_messages(grace);
    }
    r
}

impl<'w> Traffic<'w> {
    fn new(world: &'w World, case: &TrafficCase) -> Traffic<'w> {
        let grace = case.grace.map_or(DEFAULT_GRACE, |g| u32::from(g % 4));
        let key = case.receiver_has_key.then_some(KEY);
        let receiver = receiver_topic(world, key, grace, MemoryTrustStore::new());
        let mut admins: BTreeSet<ParticipantId> =
            ADMINS.iter().map(|&i| world.cast[i].id).collect();
        if case.receiver_has_key {
            // Whoever starts with the key counts itself an admin.
            admins.insert(world.cast[US].id);
        }
        let model = Model {
            me: world.cast[US].id,
            trusted: TRUSTED
                .iter()
                .map(|&i| (world.cast[i].id, world.cast[i].public))
                .collect(),
            admins,
            cur: EpochM {
                epoch: 0,
                id: [0; 32],
                key,
                members: None,
            },
            parent: None,
            prev: None,
            grace,
            windows: BTreeMap::new(),
            marks: BTreeMap::new(),
            ever: BTreeSet::new(),
        };
        Traffic {
            world,
            receiver,
            model,
            senders: (0..CAST).map(|_| None).collect(),
            pool: Vec::new(),
            seed: case.seed,
            starts: case.starts,
            last: [None; CAST],
        }
    }

    fn sender(&mut self, i: usize) -> &mut Sender {
        let (world, seed, start) = (self.world, self.seed, self.starts[i]);
        self.senders[i].get_or_insert_with(|| Sender::new(world, i, seed, start))
    }

    fn send(&mut self, i: usize, plaintext: &[u8]) {
        let world = self.world;
        let plaintext = &plaintext[..plaintext.len().min(256)];
        let mut last = self.last;
        let s = self.sender(i);
        let available = s.next_counter(false).is_some();
        let epoch = s.topic.epoch();
        let key = *s
            .topic
            .topic_key()
            .expect("senders hold a key")
            .expose_secret();
        let got = s.topic.encode_with_rng(&mut s.rng, plaintext);
        let msg = match (got, available) {
            (Ok(msg), true) => msg,
            (Err(Error::CounterExhausted), false) => return,
            (got, _) => panic!("encode gave {got:?}; counters available: {available}"),
        };
        s.check_header(world, &msg, V2Type::Message, epoch, &mut last);
        // The rest, sealed independently.
        let mut expected = msg.clone();
        seal_message(&key, &mut expected, plaintext);
        sign_as(&world.cast[i], &mut expected);
        assert_eq!(
            msg, expected,
            "encode's output is the v2 layout, sealed and signed"
        );
        self.last = last;
        self.pool.push(Pooled {
            bytes: msg,
            kind: V2Type::Message,
            signer: i,
            key,
            plaintext: plaintext.to_vec(),
        });
    }

    fn rotate(&mut self, a: usize, members: u8, reach: u8) {
        let world = self.world;
        let mut last = self.last;
        let listed: Vec<ParticipantId> = (0..CAST)
            .filter(|&j| j != a && members & (1 << j) != 0)
            .map(|j| world.cast[j].id)
            .collect();
        let s = self.sender(a);
        let available = s.next_counter(false).is_some();
        let old_epoch = s.topic.epoch();
        let rekey = match (s.topic.rotate_with(&mut s.rng, Some(&listed)), available) {
            (Ok(rekey), true) => rekey,
            (Err(Error::CounterExhausted), false) => {
                assert_eq!(
                    s.topic.epoch(),
                    old_epoch,
                    "a refused rotation changed the epoch"
                );
                return;
            }
            (got, _) => panic!("rotate gave {got:?}; counters available: {available}"),
        };
        s.check_header(world, &rekey, V2Type::Rekey, old_epoch + 1, &mut last);
        assert_eq!(s.topic.epoch(), old_epoch + 1);
        let new_key = *s.topic.topic_key().expect("a key").expose_secret();
        // Body: the epoch it follows, the admin's X25519 key, the members in id order
        // (the admin included), each entry sealed to the member's static key.
        let mut ids: Vec<ParticipantId> = listed.clone();
        ids.push(world.cast[a].id);
        ids.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        ids.dedup();
        assert_eq!(rekey.len(), REKEY_FIXED + ENTRY * ids.len());
        assert_eq!(
            rekey[47..79],
            s.epoch_id,
            "the rekey names the epoch it follows"
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([rekey[111], rekey[112]])),
            ids.len()
        );
        assert!(signed_by(&world.cast[a], &rekey), "the admin's signature");
        // One entry, chosen by the counter, is opened here; the receiver's is opened
        // by the model when it is delivered, and the reached senders' by the core
        // (their new key is checked below).
        let pick = (be_u64(&rekey[39..47]) % ids.len() as u64) as usize;
        for (index, (entry, id)) in rekey[HEADER + 66..rekey.len() - SIG]
            .chunks(ENTRY)
            .zip(&ids)
            .enumerate()
        {
            assert_eq!(&entry[..16], id.as_bytes(), "entry {index}");
            if index == pick {
                let m = &world.cast[world.by_id(id.as_bytes()).expect("a cast member")];
                let opened = box_open(
                    &rekey[79..111],
                    &m.static_secret,
                    &rekey_entry_nonce(old_epoch + 1, index),
                    &entry[16..],
                );
                assert_eq!(opened, Some(new_key), "entry {index} opens to the new key");
            }
        }
        let id = blake3::derive_key(EPOCH_CONTEXT, &rekey);
        s.epoch_id = id;
        self.last = last;
        // The other senders that get it.
        for j in (0..CAST).filter(|&j| j != a && reach & (1 << j) != 0) {
            let s = self.sender(j);
            match s.topic.accept_rekey(&rekey) {
                Ok(RekeyOutcome::Rotated { epoch }) => {
                    assert_eq!(epoch, old_epoch + 1);
                    assert_eq!(s.topic.epoch(), epoch);
                    assert_eq!(
                        s.topic.topic_key().map(|k| *k.expose_secret()),
                        Some(new_key)
                    );
                    s.epoch_id = id;
                }
                Ok(RekeyOutcome::Superseded) | Err(_) => {}
                Ok(other) => panic!("the oracle does not know {other:?}"),
            }
        }
        self.pool.push(Pooled {
            bytes: rekey,
            kind: V2Type::Rekey,
            signer: a,
            key: new_key,
            plaintext: Vec::new(),
        });
    }

    /// Every id whose mark the harness watches.
    fn watched(&self) -> Vec<ParticipantId> {
        let mut ids: BTreeSet<ParticipantId> = self.world.cast.iter().map(|m| m.id).collect();
        ids.extend(self.model.marks.keys().copied());
        ids.into_iter().collect()
    }

    fn check_state(&self, what: &str) {
        let got = observe(&self.receiver, &self.watched());
        assert_eq!(got, expected(&self.model), "after {what}");
        // What keeps replays refused after a crash: every accepted counter is below
        // its sender's stored mark.
        for (id, counter) in &self.model.ever {
            let mark = got.marks.get(id).copied().unwrap_or(0);
            assert!(
                *counter < mark,
                "counter {counter} of {id} was accepted but the stored mark is {mark}: \
                 a restart would accept it again"
            );
        }
    }

    fn deliver(&mut self, d: &Delivery) {
        if self.pool.is_empty() {
            return;
        }
        let orig = self.pool[self.pool.len() - 1 - usize::from(d.pick) % self.pool.len()].clone();
        let (msg, signer) = mutate(self.world, &orig, d.mutation.as_ref());
        let mutated = msg != orig.bytes;
        let resigned = d.mutation.as_ref().is_some_and(|m| m.seal != Seal::Keep);
        let to_rekey = (orig.kind == V2Type::Rekey) != d.swap;
        let before = observe(&self.receiver, &self.watched());
        let failed = if to_rekey {
            let expected = self.model.accept_rekey(self.world, &msg, signer);
            let got = self.receiver.accept_rekey(&msg).map_err(|e| err_str(&e));
            if mutated && !resigned {
                assert!(got.is_err(), "a mutated rekey was accepted: {got:?}");
            }
            assert_eq!(got, expected, "accept_rekey");
            got.is_err()
        } else {
            let mode = MODES[usize::from(d.mode) % 3];
            // Whether this (sender, counter) was accepted before, asked before the
            // model records this delivery.
            let seen_before = msg.len() >= HEADER
                && self
                    .model
                    .ever
                    .contains(&(id_at(&msg, 7), be_u64(&msg[39..47])));
            let got = self.decode(&msg, mode, d.variant, signer);
            if let Outcome::Message {
                sender,
                verified,
                plaintext,
            } = &got
            {
                if !mutated {
                    assert_eq!(plaintext, &orig.plaintext, "the original plaintext");
                }
                if mutated && !resigned {
                    assert!(!verified, "a mutated message was accepted as verified");
                    let n = msg.len() - SIG;
                    assert!(
                        n + SIG == orig.bytes.len() && msg[..n] == orig.bytes[..n],
                        "naive decoding accepted a message mutated before its signature"
                    );
                    assert_eq!(plaintext, &orig.plaintext);
                }
                if *verified {
                    assert!(
                        !seen_before,
                        "a replay was accepted: {sender} counter {}",
                        be_u64(&msg[39..47])
                    );
                }
            }
            !matches!(got, Outcome::Message { .. })
        };
        // Whatever the outcome, the receiver is where the model is.
        self.check_state("a delivery");
        // (A batch's second message may change what its first did not.)
        let batch = !to_rekey && matches!(d.variant, Variant::Batch(_));
        if failed && !batch {
            // A refusal changes nothing: key, epoch, members, trust, stored marks.
            let after = observe(&self.receiver, &self.watched());
            assert_eq!(before, after, "a refusal changed the topic");
            // The window did not move: the original message, probed with a naive
            // decode (which checks the window and moves nothing), gets what the
            // model says.
            if orig.kind == V2Type::Message {
                let expected = self.model.probe(self.world, &orig.bytes);
                let got = outcome(self.receiver.decode(&orig.bytes, DecodeMode::Naive));
                match expected {
                    Expect::Exactly(x) => assert_eq!(got, x, "the window after a refusal"),
                    Expect::AnyErr => unreachable!("the pool holds v2 messages"),
                }
                self.check_state("a probe");
            }
        }
    }

    /// Decodes through one variant, predicting with the model.
    fn decode(
        &mut self,
        msg: &[u8],
        mode: DecodeMode,
        variant: Variant,
        signer: Option<usize>,
    ) -> Outcome {
        let world = self.world;
        let ct_len = msg.len().saturating_sub(OVERHEAD);
        let short = matches!(variant, Variant::IntoShort) && ct_len > 0;
        let got = match variant {
            Variant::Decode => outcome(self.receiver.decode(msg, mode)),
            Variant::InPlace => {
                let mut buf = msg.to_vec();
                let got = outcome(self.receiver.decode_in_place(&mut buf, mode));
                if !matches!(got, Outcome::Message { .. }) {
                    assert_eq!(buf, msg, "a refused decode_in_place changed the buffer");
                }
                got
            }
            Variant::Into | Variant::IntoShort => {
                let mut out = vec![0u8; if short { ct_len - 1 } else { msg.len() }];
                outcome(self.receiver.decode_into(msg, mode, &mut out))
            }
            Variant::Batch(second) => {
                let other =
                    self.pool[self.pool.len() - 1 - usize::from(second) % self.pool.len()].clone();
                let mut batch = vec![msg.to_vec(), other.bytes.clone()];
                let got: Vec<Outcome> = self
                    .receiver
                    .decode_batch(&mut batch, mode)
                    .into_iter()
                    .map(outcome)
                    .collect();
                let first = self.model.decode(world, msg, mode, signer, false);
                compare(&got[0], first, "decode_batch, first");
                let second =
                    self.model
                        .decode(world, &other.bytes, mode, Some(other.signer), false);
                compare(&got[1], second, "decode_batch, second");
                return got[0].clone();
            }
        };
        let expected = self.model.decode(world, msg, mode, signer, short);
        compare(&got, expected, "decode");
        got
    }

    fn restart_receiver(&mut self, exact: bool) {
        if self.model.cur.epoch != 0 {
            return;
        }
        if exact {
            self.receiver.save_replay_marks().expect("memory store");
            for (id, w) in &self.model.windows {
                if let Some(top) = w.top {
                    self.model.marks.insert(*id, top.saturating_add(1));
                }
            }
            self.check_state("save_replay_marks");
        }
        let old = std::mem::replace(
            &mut self.receiver,
            T::new(SigningSeed::from_bytes([0; 32]), None),
        );
        self.receiver = receiver_topic(
            self.world,
            self.model.cur.key,
            self.model.grace,
            old.into_trust_store(),
        );
        self.model.windows.clear();
        self.model.prev = None;
        self.check_state("a restart");
    }

    /// At the end: each trusted sender in step with the receiver sends once more,
    /// and the receiver reads it if the model says its window allows.
    fn finish(&mut self) {
        for i in TRUSTED {
            let Some(s) = &self.senders[i] else { continue };
            let in_step = s.topic.epoch() == self.model.cur.epoch
                && s.topic.topic_key().map(|k| *k.expose_secret()) == self.model.cur.key
                && self
                    .model
                    .cur
                    .members
                    .as_ref()
                    .is_none_or(|m| m.contains(&self.world.cast[i].id));
            if !in_step {
                continue;
            }
            let before = self.pool.len();
            self.send(i, b"a fresh message");
            if self.pool.len() == before {
                continue;
            }
            let fresh = self.pool[before].clone();
            let counter = be_u64(&fresh.bytes[39..47]);
            let window_allows = self
                .model
                .window(&self.world.cast[i].id)
                .check(counter)
                .is_ok();
            let got = self.decode(&fresh.bytes, DecodeMode::Strict, Variant::Decode, Some(i));
            if window_allows {
                assert!(
                    matches!(&got, Outcome::Message { plaintext, .. } if plaintext == b"a fresh message"),
                    "a fresh message from {i} was refused: {got:?}"
                );
            }
            self.check_state("a fresh message");
        }
    }
}

fn compare(got: &Outcome, expected: Expect<Outcome>, what: &str) {
    match expected {
        Expect::Exactly(x) => assert_eq!(*got, x, "{what}"),
        Expect::AnyErr => assert!(matches!(got, Outcome::Err(_)), "{what}: {got:?}"),
    }
}

impl Traffic<'_> {
    fn run(&mut self, action: &Action) {
        let t = self;
        let world = t.world;
        match action {
            Action::Send { sender, plaintext } => t.send(usize::from(*sender) % CAST, plaintext),
            Action::Deliver(d) => t.deliver(d),
            Action::Rotate {
                admin,
                members,
                reach,
            } => t.rotate(usize::from(*admin) % CAST, *members, *reach),
            Action::RestartSender(i) => {
                let seed = t.seed;
                t.sender(usize::from(*i) % CAST).restart(world, seed);
            }
            Action::RestartReceiver { exact } => t.restart_receiver(*exact),
            Action::ExpirePrevious => {
                t.receiver.expire_previous_epoch();
                t.model.prev = None;
            }
        }
    }
}

fn check_traffic(world: &World, case: &TrafficCase) {
    let mut t = Traffic::new(world, case);
    t.check_state("the start");
    for action in &case.prelude.actions() {
        t.run(action);
    }
    for action in case.actions.iter().take(32) {
        t.run(action);
    }
    t.finish();
}

// ----- the Discovery scenario -----------------------------------------------------------------

/// Which introduction, if any, the joiner is waiting on when the reply comes.
#[derive(Arbitrary, Debug)]
pub enum Pending {
    /// The one it sent.
    Sent,
    /// A later one, with this ephemeral secret, replaced it.
    Replaced([u8; 32]),
    /// None: the reply reaches a fresh topic with the joiner's identity.
    Forgotten,
}

/// Discovery between participant 4 (joiner) and participant 0 (replier).
#[derive(Arbitrary, Debug)]
pub struct DiscoveryCase {
    /// The replier rotates this many times (`% 3`) before answering.
    rotations: u8,
    replier_has_key: bool,
    replier_trusts_joiner: bool,
    joiner_trusts_replier: bool,
    joiner_has_key: bool,
    /// The joiner's randomness: its session, then its ephemeral secret.
    intro_randomness: [u8; 48],
    intro_mutation: Option<Mutation>,
    seed: u8,
    reply_mutation: Option<Mutation>,
    pending: Pending,
    /// After `UntrustedReplier`, trust the replier and parse again.
    trust_later: bool,
}

/// What the joiner is waiting on: the digest of its introduction and its secret.
struct JoinerM {
    pending: Option<([u8; 32], [u8; 32])>,
    trusted: BTreeMap<ParticipantId, PublicKey>,
}

fn joiner_topic(world: &World, case: &DiscoveryCase) -> T {
    let mut j = T::new(
        SigningSeed::from_bytes(world.cast[MEMBER].seed),
        case.joiner_has_key.then(|| TopicKey::from_bytes(OLD_KEY)),
    );
    j.set_protocol(ProtocolVersion::V2);
    for i in [1, 2] {
        j.add_participant(world.cast[i].public)
            .expect("cast keys are valid");
    }
    if case.joiner_trusts_replier {
        j.add_participant(world.cast[US].public)
            .expect("cast keys are valid");
    }
    j
}

/// What `construct_reply(intro)` gives on a replier trusting `trusted`.
fn predict_construct_reply(
    world: &World,
    intro: &[u8],
    signer: Option<usize>,
    trusted: &BTreeMap<ParticipantId, PublicKey>,
    has_key: bool,
) -> Expect<Result<(), String>> {
    let e = |e: Error| Expect::Exactly(Err(err_str(&e)));
    if intro.first() != Some(&0x02) {
        return Expect::AnyErr;
    }
    let t = match v2_framing(intro) {
        Ok(t) => t,
        Err(x) => return e(x),
    };
    if t != V2Type::Introduction {
        return e(Error::WrongType {
            expected: MessageType::V2(V2Type::Introduction),
            found: MessageType::V2(t),
        });
    }
    let key = array32(&intro[47..79]);
    let id = id_at(intro, 7);
    let self_signed = participant_id(&key) == id
        && signer.is_some_and(|s| *world.cast[s].public.as_bytes() == key);
    if !self_signed {
        return e(Error::BadSignature);
    }
    if trusted.get(&id).map(|k| k.to_bytes()) != Some(key) {
        return e(Error::UntrustedSender(id));
    }
    if !has_key {
        return e(Error::MissingTopicKey);
    }
    if small_order(&intro[79..111]) {
        return e(Error::InvalidPublicKey);
    }
    Expect::Exactly(Ok(()))
}

/// What `parse_reply(reply)` gives on the joiner: the replier's key and the topic
/// key it installs.
fn predict_parse_reply(
    world: &World,
    reply: &[u8],
    signer: Option<usize>,
    j: &JoinerM,
) -> Expect<Result<(PublicKey, [u8; 32]), String>> {
    let e = |e: Error| Expect::Exactly(Err(err_str(&e)));
    if reply.first() != Some(&0x02) {
        return Expect::AnyErr;
    }
    let t = match v2_framing(reply) {
        Ok(t) => t,
        Err(x) => return e(x),
    };
    if t != V2Type::Reply {
        return e(Error::WrongType {
            expected: MessageType::V2(V2Type::Reply),
            found: MessageType::V2(t),
        });
    }
    let recipient = id_at(reply, 47);
    if recipient != world.cast[MEMBER].id {
        return e(Error::NotForUs { recipient });
    }
    let Some((digest, secret)) = j.pending else {
        return e(Error::NoPendingIntroduction);
    };
    if reply[63..95] != digest {
        return e(Error::StaleReply);
    }
    let key = array32(&reply[127..159]);
    let id = id_at(reply, 7);
    let self_signed = participant_id(&key) == id
        && signer.is_some_and(|s| *world.cast[s].public.as_bytes() == key);
    if !self_signed {
        return e(Error::BadSignature);
    }
    if small_order(&reply[159..191]) {
        return e(Error::DecryptFailed);
    }
    let Some(topic_key) = box_open(
        &reply[159..191],
        &secret,
        &reply[191..215],
        &reply[215..263],
    ) else {
        return e(Error::DecryptFailed);
    };
    let key = PublicKey::from_bytes(key);
    if j.trusted.get(&id) != Some(&key) {
        return e(Error::UntrustedReplier { key, id });
    }
    Expect::Exactly(Ok((key, topic_key)))
}

fn check_discovery(world: &World, case: &DiscoveryCase) {
    let mut rng = StreamRng::new(&[&[case.seed, 0xd1]]);
    // The replier: participant 0, trusting 1, 2 and perhaps the joiner.
    let mut replier = T::new(
        SigningSeed::from_bytes(world.cast[US].seed),
        case.replier_has_key.then(|| TopicKey::from_bytes(KEY)),
    );
    replier.set_protocol(ProtocolVersion::V2);
    let mut trusted = BTreeMap::new();
    let mut trust = |i: usize, r: &mut T| {
        r.add_participant(world.cast[i].public)
            .expect("cast keys are valid");
        trusted.insert(world.cast[i].id, world.cast[i].public);
    };
    trust(1, &mut replier);
    trust(2, &mut replier);
    if case.replier_trusts_joiner {
        trust(MEMBER, &mut replier);
    }
    let mut epoch_id = [0u8; 32];
    for _ in 0..case.rotations % 3 {
        match replier.rotate_with(&mut rng, None) {
            Ok(rekey) => epoch_id = blake3::derive_key(EPOCH_CONTEXT, &rekey),
            Err(e) => {
                assert!(!case.replier_has_key, "rotate: {e:?}");
                assert!(matches!(e, Error::NotAnAdmin(_)), "rotate: {e:?}");
            }
        }
    }

    // The joiner's introduction, checked independently.
    let mut joiner = joiner_topic(world, case);
    let intro = joiner
        .construct_intro_with(&mut FixedRng::new(&case.intro_randomness))
        .expect("intro")
        .to_vec();
    let (session, secret) = case.intro_randomness.split_at(16);
    let secret = array32(secret);
    assert_eq!(intro.len(), INTRO_LEN);
    assert_eq!(intro[..3], [0x02, b'i', 0x01]);
    assert_eq!(intro[3..7], [0; 4], "the joiner is at epoch 0");
    assert_eq!(&intro[7..23], world.cast[MEMBER].id.as_bytes());
    assert_eq!(&intro[23..39], session);
    assert_eq!(intro[39..47], [0; 8], "the joiner's first counter");
    assert_eq!(&intro[47..79], world.cast[MEMBER].public.as_bytes());
    assert_eq!(
        intro[79..111],
        MontgomeryPoint::mul_base_clamped(secret).to_bytes()
    );
    assert!(signed_by(&world.cast[MEMBER], &intro));
    let mut jm = JoinerM {
        pending: Some((blake3::derive_key(INTRO_CONTEXT, &intro), secret)),
        trusted: joiner.participants().expect("memory store").collect(),
    };
    match &case.pending {
        Pending::Sent => {}
        Pending::Replaced(s) => {
            let second = joiner
                .construct_intro_with(&mut FixedRng::new(s))
                .expect("intro");
            jm.pending = Some((blake3::derive_key(INTRO_CONTEXT, &second), *s));
        }
        Pending::Forgotten => {
            joiner = joiner_topic(world, case);
            jm.pending = None;
        }
    }
    // Decode hands an introduction back.
    assert!(matches!(
        replier.decode(&intro, DecodeMode::Strict),
        Err(Error::Introduction)
    ));

    // The replier answers the (mutated) introduction.
    let orig = Pooled {
        bytes: intro.clone(),
        kind: V2Type::Introduction,
        signer: MEMBER,
        key: [0; 32],
        plaintext: Vec::new(),
    };
    let (edited, signer) = mutate(world, &orig, case.intro_mutation.as_ref());
    let answer = |replier: &mut T, rng: &mut StreamRng, intro: &[u8], signer: Option<usize>| {
        let before = (snapshot(replier), replier.epoch());
        let expected =
            predict_construct_reply(world, intro, signer, &trusted, case.replier_has_key);
        let got = replier.construct_reply_with(rng, intro);
        match (&got, expected) {
            (Ok(_), Expect::Exactly(Ok(()))) => {}
            (Err(_), Expect::AnyErr) => {}
            (Err(e), Expect::Exactly(Err(x))) => assert_eq!(err_str(e), x, "construct_reply"),
            (got, x) => panic!("construct_reply gave {got:?}, expected {x:?}"),
        }
        if got.is_err() {
            assert_eq!(
                (snapshot(replier), replier.epoch()),
                before,
                "a refused intro changed the replier"
            );
        }
        got.ok().map(|r| r.to_vec())
    };
    let mut reply = answer(&mut replier, &mut rng, &edited, signer);
    let mut answered = edited.clone();
    if reply.is_none() && edited != intro {
        reply = answer(&mut replier, &mut rng, &intro, Some(MEMBER));
        answered = intro.clone();
    }
    let Some(reply) = reply else { return };

    // The reply, checked independently.
    let replier_key = replier
        .topic_key()
        .map(|k| *k.expose_secret())
        .expect("a key");
    assert_eq!(reply.len(), REPLY_LEN);
    assert_eq!(reply[..3], [0x02, b'r', 0x01]);
    assert_eq!(be_u32(&reply[3..7]), replier.epoch());
    assert_eq!(&reply[7..23], world.cast[US].id.as_bytes());
    assert_eq!(
        reply[47..63],
        answered[7..23],
        "the reply is for the newcomer"
    );
    assert_eq!(reply[63..95], blake3::derive_key(INTRO_CONTEXT, &answered));
    assert_eq!(reply[95..127], epoch_id, "the replier's epoch id");
    assert_eq!(&reply[127..159], world.cast[US].public.as_bytes());
    assert!(signed_by(&world.cast[US], &reply));
    if answered[79..111] == intro[79..111] {
        assert_eq!(
            box_open(
                &reply[159..191],
                &secret,
                &reply[191..215],
                &reply[215..263]
            ),
            Some(replier_key),
            "the box opens to the replier's key"
        );
    }
    assert!(matches!(
        joiner.decode(&reply, DecodeMode::Naive),
        Err(Error::IntroductionReply)
    ));

    // The joiner opens the (mutated) reply.
    let orig = Pooled {
        bytes: reply.clone(),
        kind: V2Type::Reply,
        signer: US,
        key: [0; 32],
        plaintext: Vec::new(),
    };
    let (edited, signer) = mutate(world, &orig, case.reply_mutation.as_ref());
    let mutated = edited != reply
        && case
            .reply_mutation
            .as_ref()
            .is_some_and(|m| m.seal == Seal::Keep);
    let mut accepted = parse(&mut joiner, &mut jm, world, &edited, signer, mutated);
    if accepted.is_none() && edited != reply {
        // A refusal changed nothing: the reply as sent is judged as if first.
        accepted = parse(&mut joiner, &mut jm, world, &reply, Some(US), false);
    }
    if accepted.is_none() && case.trust_later {
        let key = world.cast[US].public;
        if jm.trusted.get(&world.cast[US].id) != Some(&key) {
            joiner.add_participant(key).expect("cast keys are valid");
            jm.trusted.insert(world.cast[US].id, key);
            accepted = parse(&mut joiner, &mut jm, world, &reply, Some(US), false);
        }
    }
    let Some((epoch, topic_key)) = accepted else {
        return;
    };

    // The joiner reads the replier's messages in the epoch the reply named.
    let wire = replier
        .encode_with_rng(&mut rng, b"welcome")
        .expect("encode");
    let got = outcome(joiner.decode(&wire, DecodeMode::Naive));
    if epoch == replier.epoch() && topic_key == replier_key {
        assert!(
            matches!(&got, Outcome::Message { plaintext, .. } if plaintext == b"welcome"),
            "the joiner cannot read the replier: {got:?}"
        );
    } else {
        assert!(matches!(got, Outcome::Err(_)), "{got:?}");
    }
}

/// `parse_reply` on the joiner against the prediction: `Some((epoch, key))` when
/// accepted.
fn parse(
    joiner: &mut T,
    jm: &mut JoinerM,
    world: &World,
    reply: &[u8],
    signer: Option<usize>,
    mutated: bool,
) -> Option<(u32, [u8; 32])> {
    let before = (snapshot(joiner), joiner.epoch());
    let expected = predict_parse_reply(world, reply, signer, jm);
    let got = joiner.parse_reply(reply);
    if mutated {
        assert!(got.is_err(), "a mutated reply was accepted: {got:?}");
    }
    match (got, expected) {
        (Ok(key), Expect::Exactly(Ok((x, topic_key)))) => {
            assert_eq!(key, x);
            assert_eq!(
                joiner.topic_key().map(|k| *k.expose_secret()),
                Some(topic_key)
            );
            assert_eq!(joiner.epoch(), be_u32(&reply[3..7]));
            assert!(!joiner.has_pending_introduction());
            jm.pending = None;
            Some((joiner.epoch(), topic_key))
        }
        (Err(e), x) => {
            match x {
                Expect::Exactly(Err(x)) => assert_eq!(err_str(&e), x, "parse_reply"),
                Expect::AnyErr => {}
                x => panic!("parse_reply gave {e:?}, expected {x:?}"),
            }
            assert_eq!(
                (snapshot(joiner), joiner.epoch()),
                before,
                "a refused reply changed the joiner"
            );
            None
        }
        (got, x) => panic!("parse_reply gave {got:?}, expected {x:?}"),
    }
}

/// Runs one fuzz case.
pub fn check(scenario: &Scenario) {
    WORLD.with(|world| match scenario {
        Scenario::Traffic(case) => check_traffic(world, case),
        Scenario::Discovery(case) => check_discovery(world, case),
    });
}
