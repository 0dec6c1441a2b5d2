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
//! Every topic is named (`TOPIC_NAMES`): the topic id is bound into every
//! signature, message key, associated data and the first epoch's id, and the
//! harness computes each of them itself. Every message is made by the library's own
//! API (`encode_with_rng`, `rotate_with`, `construct_intro_with`,
//! `construct_reply_with`) from seeded deterministic randomness, and checked byte
//! for byte against an independent implementation of the wire format
//! (`stringphone_core::v2::wire`'s table; HKDF-SHA256, ChaCha20-Poly1305, BLAKE3,
//! crypto_box and ed25519-dalek called directly, never through the core).
//! Deliveries then pick any earlier message (so messages arrive reordered,
//! duplicated and replayed), optionally mutate it field by field (version, type,
//! suite, epoch, sender id, session, counter, ciphertext, tag, signature, the body
//! fields of introductions, replies and rekeys, a reply's replay floors: flip, set,
//! overwrite, add to it as a number, put a cast member's id or key or an epoch id
//! of the chain, shrink or grow the field, add a floor, truncate, append), and
//! optionally re-sign it as any cast member, for its own topic or another, or
//! re-seal it (a valid message with the chosen header fields, which reaches the
//! replay window with any counter). Each delivery goes to a v2 decoder (`decode` in
//! every mode and variant, `decode_batch`, `accept_rekey`, `construct_reply`,
//! `parse_reply`). The receiver also introduces itself (a rejoin, after
//! `forget_epoch` when it holds a key) and takes replies from the senders, answers
//! their introductions, removes and trusts participants, changes its grace period,
//! exports and restores its group state, and restarts on its store.
//!
//! A model of the receiver (the group state: epoch chain with parents, starters and
//! members, previous epoch and grace, admins, pending introduction, replay floors,
//! and what the store holds of it; one replay window and stored mark per sender)
//! predicts every outcome from the bytes, in the order of checks the core
//! documents, with the cryptography done independently; a signature is valid
//! exactly when the harness made it with the key the message names for the topic
//! that checks it (Ed25519 under the rule is not malleable, so nobody else can
//! make one). The rules it follows (`stringphone_core::v2::rotation`,
//! `v2::discovery`, `docs/protocol-v2.md`): rekeys only from a trusted admin who is a
//! member of the epoch they follow (a keyless topic takes any later rekey listing
//! it); two rekeys of one epoch ranked by fewer members, then the smaller admin id,
//! then the smaller epoch id; a topic holding a key takes a reply only for its own
//! epoch, from a member of it (the key again, the member list, the floors), a keyless
//! one any reply not below its epoch; replies only to listed members, carrying the
//! member list and a floor for every trusted participant (its mark in the store when
//! not heard since a restart) and every sender heard; newcomers take the floors;
//! `remove_participant` removes admin rights; every change of the group state is one
//! generation more and is saved; an older state of the same epoch is refused;
//! `forget_epoch` drops the key to rejoin. What is asserted, besides the
//! prediction:
//! - an unmutated message decodes to its original plaintext;
//! - a mutated message that was not signed again is never accepted as verified,
//!   and in naive mode only with its signature changed and the same plaintext;
//! - a (sender, counter) accepted by a verified decode is never accepted again, in
//!   any epoch or session, across receiver restarts too;
//! - a failed call changes nothing: key, epoch and its id, members, admins, trust
//!   store, replay floors, stored marks, the stored group state, pending
//!   introduction, and the replay window (probed with a naive decode of the
//!   original, which checks the window without moving it);
//! - the group state in the store is the model's after every change (generation
//!   included), a restart resumes from it exactly (epoch, key, members, admins,
//!   previous epoch and its remaining grace, pending introduction, floors), and an
//!   export reads back as itself and restores (on the running topic or a new store)
//!   as the model says;
//! - the floors a reply hands over cover every counter the replier accepted from a
//!   trusted sender, restarts included, and so do the exported floors (except, after
//!   a restart, for senders not heard since: an open finding, see `Model::gap`);
//! - every counter accepted lies below the sender's stored mark (what keeps replays
//!   refused after a crash);
//! - senders' counters (the receiver's own too) only move forward, across
//!   restarts, and their stored mark covers every counter they used;
//! - with two topics ([`crate::v2_topics`]): nothing made for one topic is ever
//!   accepted by the other's instance;
//! - nothing panics.
//!
//! Histories that take several steps in a given order (two admins rotating at
//! once, a member left out, two epochs, restarts, a rejoin after forgetting the
//! epoch, a fork, floors, an admin left out or removed, backups) are
//! [`Prelude`]s a case may start from; `fuzz/make-corpus.py` writes a seed for each.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256, Sha512};
use stringphone_core::v2::wire::V2Type;
use stringphone_core::v2::{GroupState, ProtocolVersion, RekeyOutcome, TopicId};
use stringphone_core::wire::MessageType;
use stringphone_core::{
    Backend, DecodeMode, Error, MarkSlot, MemoryTrustStore, ParticipantId, PublicKey, SigningSeed,
    TopicKey, TrustStore,
};
use stringphone_testkit::TestRng;

use crate::edit;
use crate::raw::{outcome, v2_framing, Outcome, B, T};

// ----- the wire format, written out from the layout table ----------------------------

const HEADER: usize = 47;
const SIG: usize = 64;
const TAG: usize = 16;
/// Header, tag and signature: a message's length is this plus its plaintext's.
const OVERHEAD: usize = HEADER + TAG + SIG;
const INTRO_LEN: usize = HEADER + 32 + 32 + SIG;
/// A reply: recipient 16, intro digest 32, epoch id 32, parent epoch id 32, starter
/// 16, replier's Ed25519 key 32, its X25519 key 32, box nonce 24, sealed key 32, tag
/// 16, member count 2, then 16 per member, floor count 2, then (id 16, floor 8) per
/// floor, then the signature.
const R_RECIPIENT: usize = HEADER;
const R_DIGEST: usize = R_RECIPIENT + 16;
const R_EPOCH_ID: usize = R_DIGEST + 32;
const R_PARENT: usize = R_EPOCH_ID + 32;
const R_STARTER: usize = R_PARENT + 32;
const R_IDENTITY: usize = R_STARTER + 16;
const R_EPH: usize = R_IDENTITY + 32;
const R_NONCE: usize = R_EPH + 32;
const R_SEALED: usize = R_NONCE + 24;
const R_TAG: usize = R_SEALED + 32;
const R_MEMBER_COUNT: usize = R_TAG + 16;
const R_MEMBERS: usize = R_MEMBER_COUNT + 2;
const REPLY_FIXED: usize = R_MEMBERS + 2 + SIG;
const FLOOR: usize = 16 + 8;
/// A rekey: previous epoch id 32, admin's X25519 key 32, member count 2, then (id
/// 16, sealed key 32, tag 16) per member, then the signature.
const K_PREVIOUS: usize = HEADER;
const K_EPH: usize = K_PREVIOUS + 32;
const K_COUNT: usize = K_EPH + 32;
const K_ENTRIES: usize = K_COUNT + 2;
const REKEY_FIXED: usize = K_ENTRIES + SIG;
const ENTRY: usize = 16 + 32 + 16;
const SIGNATURE_DOMAIN: [u8; 32] = *b"stringphone v2 signature\0\0\0\0\0\0\0\0";
const DIGEST_CONTEXT: &str = "stringphone v2 message digest";
const EPOCH_CONTEXT: &str = "stringphone v2 epoch id";
const FIRST_EPOCH_CONTEXT: &str = "stringphone v2 first epoch";
const TOPIC_ID_CONTEXT: &str = "stringphone v2 topic id";
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

// ----- the cast and the topics ------------------------------------------------------------

pub(crate) const CAST: usize = 5;
const US: usize = 0;
const MEMBER: usize = 4;
/// Whom the `Traffic` receiver trusts, and which of them it takes rekeys from.
const TRUSTED: [usize; 3] = [1, 2, 4];
const ADMINS: [usize; 2] = [1, 2];
const KEY: [u8; 32] = [0x6b; 32];
/// A key the joiner may hold before discovery.
const OLD_KEY: [u8; 32] = [0x0d; 32];

/// The topics: X and Y have instances (Y only in the two-topic target); nobody
/// joins the third, whose signatures stand for bytes made anywhere else.
pub(crate) const TOPIC_NAMES: [&[u8]; 3] = [b"fuzz topic X", b"fuzz topic Y", b"fuzz elsewhere"];
const ELSEWHERE: usize = 2;

struct Member {
    seed: [u8; 32],
    signer: ed25519_dalek::SigningKey,
    public: PublicKey,
    id: ParticipantId,
    /// The static X25519 secret behind the Ed25519 identity (libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519`: SHA-512 of the seed, clamped).
    static_secret: [u8; 32],
}

pub(crate) struct World {
    cast: Vec<Member>,
    /// Each topic's id (BLAKE3 derive-key of its name) and its first epoch's id
    /// (BLAKE3 derive-key of the topic id).
    topics: [[u8; 32]; 3],
    first: [[u8; 32]; 3],
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
        let topics = TOPIC_NAMES.map(|name| blake3::derive_key(TOPIC_ID_CONTEXT, name));
        let first = topics.map(|t| blake3::derive_key(FIRST_EPOCH_CONTEXT, &t));
        for (i, name) in TOPIC_NAMES.iter().enumerate() {
            let core = TopicId::from_name(name);
            assert_eq!(
                core.as_bytes(),
                &topics[i],
                "core and harness topic ids agree"
            );
            assert_eq!(core.first_epoch_id(), first[i], "first epoch ids agree");
        }
        World {
            cast,
            topics,
            first,
        }
    }

    fn by_id(&self, id: &[u8]) -> Option<usize> {
        self.cast.iter().position(|m| m.id.as_bytes() == id)
    }

    fn topic_id(&self, topic: usize) -> TopicId {
        TopicId::from_bytes(self.topics[topic])
    }
}

thread_local! {
    static WORLD: World = World::new();
}

/// Runs `f` with the cast and topics, made once per thread.
pub(crate) fn with_world<R>(f: impl FnOnce(&World) -> R) -> R {
    WORLD.with(f)
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

/// The 64 bytes a v2 signature covers: the domain, then the digest of the topic id
/// followed by the signed part.
fn signed_string(topic: &[u8; 32], signed_part: &[u8]) -> [u8; 64] {
    let mut h = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    h.update(topic);
    h.update(signed_part);
    let mut s = [0u8; 64];
    s[..32].copy_from_slice(&SIGNATURE_DOMAIN);
    s[32..].copy_from_slice(h.finalize().as_bytes());
    s
}

/// Signs `msg` (its last 64 bytes are the signature) as `member`, for `topic`.
fn sign_as(member: &Member, topic: &[u8; 32], msg: &mut [u8]) {
    let n = msg.len() - SIG;
    let signature = member
        .signer
        .sign(&signed_string(topic, &msg[..n]))
        .to_bytes();
    msg[n..].copy_from_slice(&signature);
}

/// Whether `msg` carries `member`'s signature for `topic`: Ed25519 signing is
/// deterministic, so this is the one the harness would make (cheaper than
/// verifying).
fn signed_by(member: &Member, topic: &[u8; 32], msg: &[u8]) -> bool {
    let mut copy = msg.to_vec();
    sign_as(member, topic, &mut copy);
    copy == msg
}

/// The message cipher of a header: HKDF-SHA256(salt = session, ikm = epoch key,
/// info = prefix ‖ suite ‖ topic id ‖ epoch id ‖ sender id).
fn message_cipher(
    topic: &[u8; 32],
    key: &[u8; 32],
    epoch_id: &[u8; 32],
    header: &[u8],
) -> ChaCha20Poly1305 {
    let mut info = MESSAGE_KEY_INFO.to_vec();
    info.push(0x01);
    info.extend_from_slice(topic);
    info.extend_from_slice(epoch_id);
    info.extend_from_slice(&header[7..23]);
    let mut okm = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(&header[23..39]), key)
        .expand(&info, &mut okm)
        .expect("32 bytes of HKDF");
    ChaCha20Poly1305::new(GenericArray::from_slice(&okm))
}

/// The associated data: the topic id, then the header.
fn associated_data(topic: &[u8; 32], header: &[u8]) -> Vec<u8> {
    let mut ad = topic.to_vec();
    ad.extend_from_slice(header);
    ad
}

/// Four zero bytes, then the counter.
fn message_nonce(header: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&header[39..47]);
    n
}

/// Opens a message of at least `OVERHEAD` bytes of `topic`, epoch `epoch_id`.
fn open_message(
    topic: &[u8; 32],
    key: &[u8; 32],
    epoch_id: &[u8; 32],
    msg: &[u8],
) -> Option<Vec<u8>> {
    let n = msg.len();
    let header = &msg[..HEADER];
    let mut body = msg[HEADER..n - SIG - TAG].to_vec();
    message_cipher(topic, key, epoch_id, header)
        .decrypt_in_place_detached(
            GenericArray::from_slice(&message_nonce(header)),
            &associated_data(topic, header),
            &mut body,
            GenericArray::from_slice(&msg[n - SIG - TAG..n - SIG]),
        )
        .ok()?;
    Some(body)
}

/// Seals `plaintext` into `msg` (header written, `OVERHEAD + plaintext.len()` long).
fn seal_message(
    topic: &[u8; 32],
    key: &[u8; 32],
    epoch_id: &[u8; 32],
    msg: &mut [u8],
    plaintext: &[u8],
) {
    let n = msg.len();
    let (header, rest) = msg.split_at_mut(HEADER);
    let body = &mut rest[..plaintext.len()];
    body.copy_from_slice(plaintext);
    let tag = message_cipher(topic, key, epoch_id, header)
        .encrypt_in_place_detached(
            GenericArray::from_slice(&message_nonce(header)),
            &associated_data(topic, header),
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

/// The refusal an entry point for v2 messages of type `want` gives first: the
/// message's framing, then its type.
fn v2_of_type(msg: &[u8], want: V2Type) -> Result<(), Error> {
    let found = v2_framing(msg)?;
    in_topic_suite(msg)?;
    if found != want {
        return Err(Error::WrongType {
            expected: MessageType::V2(want),
            found: MessageType::V2(found),
        });
    }
    Ok(())
}

/// The topic's suite check, right after the parse: the cast's topics are all of suite
/// 0x01, and a message that parsed with suite 0x02 is refused for it.
fn in_topic_suite(msg: &[u8]) -> Result<(), Error> {
    match msg[2] {
        0x01 => Ok(()),
        other => Err(Error::SuiteMismatch {
            topic: 0x01,
            message: other,
        }),
    }
}

/// Whether an X25519 key has small order: its agreement with any secret is zero.
fn small_order(key: &[u8]) -> bool {
    MontgomeryPoint(array32(key))
        .mul_clamped([0x55; 32])
        .to_bytes()
        == [0; 32]
}

/// The X25519 public key of a secret.
fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// Where a reply's floor count lies: after its member list (as long as its member
/// count says; past the end of a reply too short for it).
fn reply_floor_count_at(msg: &[u8]) -> usize {
    let members = msg
        .get(R_MEMBER_COUNT..R_MEMBERS)
        .map_or(0, |c| usize::from(u16::from_be_bytes([c[0], c[1]])));
    R_MEMBERS + 16 * members
}

/// A reply's member list and floors (a reply that parsed).
fn reply_lists(msg: &[u8]) -> (Vec<ParticipantId>, Vec<(ParticipantId, u64)>) {
    let at = reply_floor_count_at(msg);
    let members = msg[R_MEMBERS..at]
        .chunks_exact(16)
        .map(|m| id_at(m, 0))
        .collect();
    let floors = msg[at + 2..msg.len() - SIG]
        .chunks_exact(FLOOR)
        .map(|f| (id_at(f, 0), be_u64(&f[16..])))
        .collect();
    (members, floors)
}

fn rekey_entry_nonce(epoch: u32, index: usize) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..4].copy_from_slice(&epoch.to_be_bytes());
    n[4..8].copy_from_slice(&(index as u32).to_be_bytes());
    n
}

// ----- mutations ------------------------------------------------------------------------------

/// A field of a v2 message, located by the type of the message it was made as.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Field {
    /// The version byte.
    Version,
    /// The type byte.
    Type,
    /// The suite byte.
    Suite,
    /// The epoch number.
    Epoch,
    /// The sender's participant id.
    SenderId,
    /// `m`: the sender's session.
    Session,
    /// `m`: the counter.
    Counter,
    /// `m`: the ciphertext; `i`, `r`, `k`: everything between header and signature.
    Body,
    /// `m`: the ChaCha20-Poly1305 tag; `r`: the box's tag.
    Tag,
    /// The Ed25519 signature.
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
    /// `r`: the parent epoch's id.
    Parent,
    /// `r`: the admin who started the epoch.
    Starter,
    /// `r`.
    BoxNonce,
    /// `r`.
    SealedKey,
    /// `r`: the number of replay floors.
    FloorCount,
    /// `r`: floor `i % count`, its sender id.
    FloorId(u8),
    /// `r`: floor `i % count`, its counter.
    FloorValue(u8),
    /// `k`, `r`: the number of members.
    MemberCount,
    /// `k`: entry `i % count`, its member id; `r`: member `i % count`.
    EntryId(u8),
    /// `k`: entry `i % count`, its sealed key and tag.
    EntrySealed(u8),
}

/// Where `field` lies in `msg`, a message of `kind` (as edited so far).
fn field_range(field: Field, kind: V2Type, msg: &[u8]) -> Option<(usize, usize)> {
    let len = msg.len();
    let sig = len.saturating_sub(SIG);
    let entry = |i: u8| {
        let count = (len.saturating_sub(REKEY_FIXED) / ENTRY).max(1);
        K_ENTRIES + ENTRY * (usize::from(i) % count)
    };
    let floor_count = reply_floor_count_at(msg);
    let member = |i: u8| {
        let count = ((floor_count - R_MEMBERS) / 16).max(1);
        R_MEMBERS + 16 * (usize::from(i) % count)
    };
    let floor = |i: u8| {
        let count = (sig.saturating_sub(floor_count + 2) / FLOOR).max(1);
        floor_count + 2 + FLOOR * (usize::from(i) % count)
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
        (Field::Recipient, V2Type::Reply) => (R_RECIPIENT, R_DIGEST),
        (Field::IntroDigest, V2Type::Reply) => (R_DIGEST, R_EPOCH_ID),
        (Field::EpochId, V2Type::Reply) => (R_EPOCH_ID, R_PARENT),
        (Field::Parent, V2Type::Reply) => (R_PARENT, R_STARTER),
        (Field::Starter, V2Type::Reply) => (R_STARTER, R_IDENTITY),
        (Field::Identity, V2Type::Reply) => (R_IDENTITY, R_EPH),
        (Field::EncryptionKey, V2Type::Reply) => (R_EPH, R_NONCE),
        (Field::BoxNonce, V2Type::Reply) => (R_NONCE, R_SEALED),
        (Field::SealedKey, V2Type::Reply) => (R_SEALED, R_TAG),
        (Field::Tag, V2Type::Reply) => (R_TAG, R_MEMBER_COUNT),
        (Field::MemberCount, V2Type::Reply) => (R_MEMBER_COUNT, R_MEMBERS),
        (Field::EntryId(i), V2Type::Reply) => (member(i), member(i) + 16),
        (Field::FloorCount, V2Type::Reply) => (floor_count, floor_count + 2),
        (Field::FloorId(i), V2Type::Reply) => (floor(i), floor(i) + 16),
        (Field::FloorValue(i), V2Type::Reply) => (floor(i) + 16, floor(i) + FLOOR),
        (Field::EpochId, V2Type::Rekey) => (K_PREVIOUS, K_EPH),
        (Field::EncryptionKey, V2Type::Rekey) => (K_EPH, K_COUNT),
        (Field::MemberCount, V2Type::Rekey) => (K_COUNT, K_ENTRIES),
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
    Flip {
        /// The field.
        field: Field,
        /// The byte, modulo the field's length.
        index: u16,
        /// The bit, `% 8`.
        bit: u8,
    },
    /// Set one byte of a field.
    Set {
        /// The field.
        field: Field,
        /// The byte, modulo the field's length.
        index: u16,
        /// Its new value.
        value: u8,
    },
    /// Overwrite a field from its start (as many bytes as fit).
    Overwrite {
        /// The field.
        field: Field,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Add to a field read as a big-endian number (its last 16 bytes), wrapping.
    Add {
        /// The field.
        field: Field,
        /// What is added.
        delta: i32,
    },
    /// Put cast member `% 5`'s id (a 16-byte field) or key (a 32-byte field).
    Cast {
        /// The field.
        field: Field,
        /// The cast member, `% 5`.
        member: u8,
    },
    /// Put an epoch id of the chain into a 32-byte field: a topic's first epoch, or
    /// the epoch a rekey of the pool started (`% count`, first epochs first).
    Chain {
        /// The field.
        field: Field,
        /// Which epoch id, `% count`.
        pick: u8,
    },
    /// A reply gets one more replay floor: cast member `% 5`'s id and `value`.
    AddFloor {
        /// The cast member, `% 5`.
        member: u8,
        /// The floor.
        value: u64,
    },
    /// A reply lists one more member: cast member `% 5`.
    AddMember(u8),
    /// Drop up to `n` bytes from the end of a field (the message gets shorter).
    Shrink {
        /// The field.
        field: Field,
        /// How many bytes, at most the field's length.
        n: u8,
    },
    /// Insert bytes at the end of a field (the message gets longer).
    Grow {
        /// The field.
        field: Field,
        /// The bytes (the first 64).
        bytes: Vec<u8>,
    },
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
    /// Signed again as cast member `% 5`, for the message's own topic (`topic % 3 ==
    /// 0`), the other topic of a two-topic case (1; a topic nobody joins in a
    /// one-topic case), or a topic nobody joins (2).
    Resign {
        /// The signer, a cast member `% 5`.
        member: u8,
        /// Which topic, `% 3`.
        topic: u8,
    },
    /// A message (`m`) is sealed again under its sender's key with the edited header
    /// and signed by the member its sender id names: a valid message with chosen
    /// fields. Other types are signed again by their original signer. Both for the
    /// message's own topic.
    Reseal,
}

/// Edits, then a seal.
#[derive(Arbitrary, Debug)]
pub struct Mutation {
    edits: Vec<Edit>,
    seal: Seal,
}

/// Whose valid signature a message carries, and for which topic.
type Sig = Option<(usize, usize)>;

/// A message the harness holds: what it is, who made it and for which topic.
#[derive(Clone, Debug)]
struct Pooled {
    bytes: Vec<u8>,
    kind: V2Type,
    signer: usize,
    topic: usize,
    /// Made by a receiver under test (not by the sender of the same identity).
    by_receiver: bool,
    /// `m`: the epoch key and epoch id it is sealed under, and its plaintext.
    key: [u8; 32],
    epoch_id: [u8; 32],
    plaintext: Vec<u8>,
    /// `i`: the ephemeral X25519 secret of the introduction.
    secret: Option<[u8; 32]>,
}

impl Pooled {
    fn new(bytes: Vec<u8>, kind: V2Type, signer: usize, topic: usize) -> Pooled {
        Pooled {
            bytes,
            kind,
            signer,
            topic,
            by_receiver: false,
            key: [0; 32],
            epoch_id: [0; 32],
            plaintext: Vec::new(),
            secret: None,
        }
    }
}

fn apply(world: &World, kind: V2Type, msg: &mut Vec<u8>, edit: &Edit, chain: &[[u8; 32]]) {
    let id = |member: &u8| world.cast[usize::from(*member) % CAST].id;
    match edit {
        Edit::Flip { field, .. }
        | Edit::Set { field, .. }
        | Edit::Overwrite { field, .. }
        | Edit::Add { field, .. }
        | Edit::Cast { field, .. }
        | Edit::Chain { field, .. }
        | Edit::Shrink { field, .. }
        | Edit::Grow { field, .. } => {
            if let Some(range) = field_range(*field, kind, msg) {
                edit_field(world, msg, edit, range, chain);
            }
        }
        Edit::AddFloor { member, value } if kind == V2Type::Reply => {
            add_floor(msg, id(member), *value);
        }
        Edit::AddMember(member) if kind == V2Type::Reply => add_member(msg, id(member)),
        // Only a reply has floors and a member list.
        Edit::AddFloor { .. } | Edit::AddMember(_) => {}
        Edit::Truncate(n) => msg.truncate(msg.len().saturating_sub(usize::from(*n))),
        Edit::Append(more) => msg.extend_from_slice(&more[..more.len().min(64)]),
    }
}

/// An edit of one field, whose range in `msg` is `(s, e)`.
fn edit_field(
    world: &World,
    msg: &mut Vec<u8>,
    edit: &Edit,
    (s, e): (usize, usize),
    chain: &[[u8; 32]],
) {
    match edit {
        Edit::Flip { index, bit, .. } => edit::flip(msg, (s, e), *index, *bit),
        Edit::Set { index, value, .. } => edit::set(msg, (s, e), *index, *value),
        Edit::Overwrite { bytes, .. } => edit::overwrite(msg, (s, e), bytes),
        Edit::Add { delta, .. } if s < e => add_to_number(msg, (s, e), *delta),
        Edit::Cast { member, .. } => {
            let m = &world.cast[usize::from(*member) % CAST];
            match e - s {
                16 => msg[s..e].copy_from_slice(m.id.as_bytes()),
                32 => msg[s..e].copy_from_slice(m.public.as_bytes()),
                _ => {}
            }
        }
        Edit::Chain { pick, .. } if e - s == 32 && !chain.is_empty() => {
            msg[s..e].copy_from_slice(&chain[usize::from(*pick) % chain.len()]);
        }
        Edit::Shrink { n, .. } => {
            let n = usize::from(*n).min(e - s);
            msg.drain(e - n..e);
        }
        Edit::Grow { bytes, .. } => {
            let bytes = &bytes[..bytes.len().min(64)];
            msg.splice(e..e, bytes.iter().copied());
        }
        // `Add` to an empty field, `Chain` into one not of 32 bytes (or with no epoch
        // id to put), and the edits of the whole message (`apply`'s): no change.
        _ => {}
    }
}

/// `Edit::Add`: adds `delta` to `msg[s..e]` read as a big-endian number (its last 16
/// bytes), wrapping.
fn add_to_number(msg: &mut [u8], (s, e): (usize, usize), delta: i32) {
    let s = s.max(e.saturating_sub(16));
    let width = e - s;
    let mut n = [0u8; 16];
    n[16 - width..].copy_from_slice(&msg[s..e]);
    let sum = u128::from_be_bytes(n).wrapping_add(delta as i128 as u128);
    msg[s..e].copy_from_slice(&sum.to_be_bytes()[16 - width..]);
}

/// `Edit::AddFloor` on a reply: one more floor (`id`, `value`) at the end of the
/// list, the count one more (a reply too short to hold the count is left as it is).
fn add_floor(msg: &mut Vec<u8>, id: ParticipantId, value: u64) {
    let n = msg.len();
    let at = reply_floor_count_at(msg);
    if n >= at + 2 + SIG {
        let count = u16::from_be_bytes([msg[at], msg[at + 1]]);
        msg[at..at + 2].copy_from_slice(&count.wrapping_add(1).to_be_bytes());
        let mut entry = id.as_bytes().to_vec();
        entry.extend_from_slice(&value.to_be_bytes());
        msg.splice(n - SIG..n - SIG, entry);
    }
}

/// `Edit::AddMember` on a reply: `id` listed last, the member count one more (a reply
/// too short to hold the floor count is left as it is).
fn add_member(msg: &mut Vec<u8>, id: ParticipantId) {
    let at = reply_floor_count_at(msg);
    if msg.len() >= at + 2 + SIG {
        let count = u16::from_be_bytes([msg[R_MEMBER_COUNT], msg[R_MEMBER_COUNT + 1]]);
        msg[R_MEMBER_COUNT..R_MEMBERS].copy_from_slice(&count.wrapping_add(1).to_be_bytes());
        msg.splice(at..at, id.as_bytes().iter().copied());
    }
}

/// The topic a `Seal::Resign` signs for.
fn resign_topic(own: usize, choice: u8, lanes: usize) -> usize {
    match choice % 3 {
        0 => own,
        1 if lanes == 2 && own < 2 => 1 - own,
        _ => ELSEWHERE,
    }
}

/// The mutated bytes, and whose valid signature (for which topic) they carry.
fn mutate(
    world: &World,
    orig: &Pooled,
    m: Option<&Mutation>,
    lanes: usize,
    chain: &[[u8; 32]],
) -> (Vec<u8>, Sig) {
    let Some(m) = m else {
        return (orig.bytes.clone(), Some((orig.signer, orig.topic)));
    };
    let mut msg = orig.bytes.clone();
    for edit in m.edits.iter().take(4) {
        apply(world, orig.kind, &mut msg, edit, chain);
    }
    let own = world.topics[orig.topic];
    match m.seal {
        Seal::Resign { member, topic } if msg.len() >= SIG => {
            let i = usize::from(member) % CAST;
            let t = resign_topic(orig.topic, topic, lanes);
            sign_as(&world.cast[i], &world.topics[t], &mut msg);
            (msg, Some((i, t)))
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
            seal_message(&own, &orig.key, &orig.epoch_id, &mut msg, &plaintext);
            let signer = world.by_id(&msg[7..23]).unwrap_or(orig.signer);
            sign_as(&world.cast[signer], &own, &mut msg);
            (msg, Some((signer, orig.topic)))
        }
        Seal::Reseal if msg.len() >= SIG => {
            sign_as(&world.cast[orig.signer], &own, &mut msg);
            (msg, Some((orig.signer, orig.topic)))
        }
        _ => {
            let sig = (msg == orig.bytes).then_some((orig.signer, orig.topic));
            (msg, sig)
        }
    }
}

// ----- the receiver's model -----------------------------------------------------------------

/// An epoch as a topic holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EpochM {
    epoch: u32,
    id: [u8; 32],
    key: Option<[u8; 32]>,
    /// Listed by the rekey that started it; `None` for the first epoch and for an
    /// epoch entered through a reply.
    members: Option<BTreeSet<ParticipantId>>,
    /// The epoch this one follows (kept after its key is gone).
    parent: Option<[u8; 32]>,
    parent_members: Option<BTreeSet<ParticipantId>>,
    /// The admin whose rekey started it.
    starter: Option<ParticipantId>,
}

impl EpochM {
    fn first(world: &World, topic: usize, key: Option<[u8; 32]>) -> EpochM {
        EpochM {
            epoch: 0,
            id: world.first[topic],
            key,
            members: None,
            parent: None,
            parent_members: None,
            starter: None,
        }
    }

    /// The ranking of two rekeys of one epoch: "fewer members first, then the smaller
    /// admin id, then (one admin's two rekeys) the smaller epoch id". An epoch
    /// without a starter (the first) never loses; one whose list is unknown ranks
    /// last on members.
    fn loses_to(&self, starter: &ParticipantId, id: &[u8; 32], members: usize) -> bool {
        let Some(s) = &self.starter else {
            return false;
        };
        let ours = self.members.as_ref().map_or(usize::MAX, BTreeSet::len);
        (members, starter.as_bytes(), id) < (ours, s.as_bytes(), &self.id)
    }

    fn lists(&self, id: &ParticipantId) -> bool {
        self.members.as_ref().is_none_or(|m| m.contains(id))
    }
}

/// The previous epoch during its grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PrevM {
    epoch: u32,
    id: [u8; 32],
    key: [u8; 32],
    members: Option<BTreeSet<ParticipantId>>,
    remaining: u32,
}

/// The group state: what a topic exports and its store keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupM {
    /// One more with each change (an older state of the same epoch is refused).
    generation: u64,
    cur: EpochM,
    prev: Option<PrevM>,
    grace: u32,
    admins: BTreeSet<ParticipantId>,
    /// The digest of the pending v2 introduction and its ephemeral secret.
    pending: Option<([u8; 32], [u8; 32])>,
    /// A classic introduction is pending.
    classic: bool,
    floors: BTreeMap<ParticipantId, u64>,
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

/// A topic as the documentation describes it (the receiver, the joiner, the replier).
struct Model {
    /// The topic's protocol setting (V2, or Both for a replier to classic joiners).
    protocol: ProtocolVersion,
    /// Which topic, and its id.
    topic: usize,
    topic_id: [u8; 32],
    /// Which cast member it is.
    who: usize,
    me: ParticipantId,
    /// Participants trusted, by id.
    trusted: BTreeMap<ParticipantId, PublicKey>,
    g: GroupM,
    /// The group state in the store: `g` as it was at the last change, with each
    /// sender's floor raised to one past the highest counter accepted then.
    saved: GroupM,
    /// Windows in memory (a restart forgets them).
    windows: BTreeMap<ParticipantId, WindowM>,
    /// Marks in the trust store (a restart keeps them).
    marks: BTreeMap<ParticipantId, u64>,
    /// Every (sender, counter) a verified decode accepted with the current store,
    /// across restarts (each must lie below its stored mark).
    ever: BTreeSet<(ParticipantId, u64)>,
    /// Every (sender, counter) a verified decode accepted, across restarts and
    /// restores on a new store (none may be accepted again).
    history: BTreeSet<(ParticipantId, u64)>,
    /// Senders accepted before a restart and not heard since: `group_state()` (what
    /// this instance holds) does not cover their earlier counters, which are in the
    /// store's marks (`export_group_state()` covers them), so its checks leave them
    /// out.
    gap: BTreeSet<ParticipantId>,
}

/// A prediction: exactly this, or some error (a classic message on a v2 topic, whose
/// refusal the `decode` target checks).
#[derive(Debug)]
enum Expect<X> {
    Exactly(X),
    AnyErr,
}

fn err(e: Error) -> Outcome {
    Outcome::Err(e)
}

/// An id field that is all zero when absent.
fn present<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let mut a = [0u8; N];
    a.copy_from_slice(bytes);
    (a != [0; N]).then_some(a)
}

/// The framing of a v2 message handed to `decode`: the layout's refusal, or the
/// refusal that hands a discovery message or a rekey back.
fn message_framing(msg: &[u8]) -> Result<(), Error> {
    let framed = v2_framing(msg)?;
    in_topic_suite(msg)?;
    match framed {
        V2Type::Introduction => Err(Error::Introduction),
        V2Type::Reply => Err(Error::IntroductionReply),
        V2Type::Rekey => Err(Error::Rekey),
        V2Type::Message => Ok(()),
        // A new kind of message needs its prediction here first (`#[non_exhaustive]`).
        other => panic!("the oracle does not know {other:?}"),
    }
}

/// The epoch a reply (that parsed) offers, with the member list it carries if any,
/// and its replay floors.
fn offered_by_reply(reply: &[u8]) -> (EpochM, Vec<(ParticipantId, u64)>) {
    let (listed, floors) = reply_lists(reply);
    let listed: BTreeSet<ParticipantId> = listed.into_iter().collect();
    let offered = EpochM {
        epoch: be_u32(&reply[3..7]),
        id: array32(&reply[R_EPOCH_ID..R_PARENT]),
        key: None,
        members: (!listed.is_empty()).then_some(listed),
        parent: present(&reply[R_PARENT..R_STARTER]),
        parent_members: None,
        starter: present(&reply[R_STARTER..R_IDENTITY]).map(ParticipantId::from_bytes),
    };
    (offered, floors)
}

/// The epoch a topic holding `cur` is in after a reply from `replier` offering
/// `offered` (with the member list the reply carries, if any), or the refusal.
fn epoch_after_reply(
    cur: &EpochM,
    replier: &ParticipantId,
    offered: EpochM,
) -> Result<EpochM, Error> {
    let mismatch = Error::EpochMismatch {
        current: cur.epoch,
        got: offered.epoch,
    };
    // A topic without a key has no key to protect: it takes what a trusted replier
    // offers, never below the epoch it last held.
    if cur.key.is_none() {
        if offered.epoch < cur.epoch {
            return Err(mismatch);
        }
        return Ok(offered);
    }
    // One holding a key moves only through rekeys: a reply of its own epoch, from a
    // member of it, and nothing else.
    if !cur.lists(replier) {
        return Err(Error::NotAMember(*replier));
    }
    if offered.epoch != cur.epoch || offered.id != cur.id {
        return Err(mismatch);
    }
    let mut kept = cur.clone();
    if kept.members.is_none() {
        kept.members = offered.members;
    }
    Ok(kept)
}

impl Model {
    #[allow(clippy::too_many_arguments)] // a topic's starting state, named at each call
    fn new(
        world: &World,
        topic: usize,
        who: usize,
        key: Option<[u8; 32]>,
        trusted: &[usize],
        admins: &[usize],
        grace: u32,
        generation: u64,
    ) -> Model {
        let mut admins: BTreeSet<ParticipantId> =
            admins.iter().map(|&i| world.cast[i].id).collect();
        if key.is_some() {
            // Whoever starts with the key counts itself an admin.
            admins.insert(world.cast[who].id);
        }
        let g = GroupM {
            generation,
            cur: EpochM::first(world, topic, key),
            prev: None,
            grace,
            admins,
            pending: None,
            classic: false,
            floors: BTreeMap::new(),
        };
        Model {
            protocol: ProtocolVersion::V2,
            topic,
            topic_id: world.topics[topic],
            who,
            me: world.cast[who].id,
            trusted: trusted
                .iter()
                .map(|&i| (world.cast[i].id, world.cast[i].public))
                .collect(),
            saved: g.clone(),
            g,
            windows: BTreeMap::new(),
            marks: BTreeMap::new(),
            ever: BTreeSet::new(),
            history: BTreeSet::new(),
            gap: BTreeSet::new(),
        }
    }

    /// The group's floors as an export shows them: each sender heard raised to one
    /// past the highest counter accepted.
    fn export_floors(&self) -> BTreeMap<ParticipantId, u64> {
        let mut floors = self.g.floors.clone();
        for (id, w) in &self.windows {
            if let Some(top) = w.top {
                let f = floors.entry(*id).or_insert(0);
                *f = (*f).max(top.saturating_add(1));
            }
        }
        floors
    }

    /// A change to the group state: one generation more, saved to the store.
    fn save(&mut self) {
        self.g.generation += 1;
        self.store();
    }

    /// The group state reaches the store as it is.
    fn store(&mut self) {
        self.saved = self.export();
    }

    /// A restart on the store: the stored group state, no windows. What the senders
    /// heard so far sent is covered by the store's marks (and by a reply's floors,
    /// which read them), not by the group state.
    fn restart(&mut self) {
        self.g = self.saved.clone();
        self.windows.clear();
        let heard: Vec<ParticipantId> = self.history.iter().map(|(id, _)| *id).collect();
        self.gap.extend(heard);
    }

    /// `restore_group_state(state)` (the export `state` of this topic, made earlier),
    /// on this instance or on a new one with an empty store (trusting the same).
    fn restore(&mut self, state: &GroupM, fresh: bool) -> Result<(), Error> {
        if fresh {
            // A new instance without a topic id takes any state.
            self.windows.clear();
            self.marks.clear();
            self.ever.clear();
            // A new store has no marks: what the state's floors cover stays refused,
            // what was accepted after the export (or what its floors leave out, see
            // `gap`) is not protected any more, and left out of the replay checks.
            self.history
                .retain(|(id, c)| *c < state.floors.get(id).copied().unwrap_or(0));
            self.gap.clear();
            self.g.floors.clear();
            self.g.generation = 0;
            self.g.cur.key = None;
        } else {
            let cur = &self.g.cur;
            if state.cur.epoch < cur.epoch
                || (state.cur.epoch == cur.epoch && state.cur.id != cur.id)
            {
                return Err(Error::EpochMismatch {
                    current: cur.epoch,
                    got: state.cur.epoch,
                });
            }
            if state.cur.id == cur.id && state.generation < self.g.generation {
                return Err(Error::StaleState {
                    current: self.g.generation,
                    got: state.generation,
                });
            }
        }
        let mut g = state.clone();
        g.generation = g.generation.max(self.g.generation);
        // The replay floors of both are kept.
        for (id, f) in &self.g.floors {
            let kept = g.floors.entry(*id).or_insert(0);
            *kept = (*kept).max(*f);
        }
        for (id, f) in &g.floors {
            if let Some(w) = self.windows.get_mut(id) {
                w.floor = w.floor.max(*f);
            }
        }
        // In the first epoch the key the application started with is the authority.
        if g.cur.epoch == 0 && self.g.cur.key.is_some() {
            g.cur.key = self.g.cur.key;
        }
        self.g = g;
        self.store();
        Ok(())
    }

    /// `forget_epoch()`: the key, the member list and the previous epoch go.
    fn forget(&mut self) {
        self.g.cur.key = None;
        self.g.cur.members = None;
        self.g.prev = None;
        self.save();
    }

    /// The group state as `export_group_state()` exports it: a floor for every
    /// trusted participant from its mark in the store too.
    fn export_moved(&self) -> GroupM {
        let mut g = self.export();
        for id in self.trusted.keys() {
            if let Some(mark) = self.marks.get(id) {
                let f = g.floors.entry(*id).or_insert(0);
                *f = (*f).max(*mark);
            }
        }
        g
    }

    /// The group state as `group_state()` exports it.
    fn export(&self) -> GroupM {
        let mut g = self.g.clone();
        g.floors = self.export_floors();
        g
    }

    /// Every counter accepted from a trusted sender lies below `floors`' floor for it
    /// (newcomers and restored backups do not accept the past); `export`: the floors
    /// of `group_state()`, which leave out the senders of `gap`.
    fn check_covered(&self, floors: &BTreeMap<ParticipantId, u64>, export: bool, what: &str) {
        for (id, counter) in &self.history {
            if !self.trusted.contains_key(id) || (export && self.gap.contains(id)) {
                continue;
            }
            let floor = floors.get(id).copied().unwrap_or(0);
            assert!(
                *counter < floor,
                "{what}: counter {counter} of {id} was accepted but the floor is {floor}"
            );
        }
    }

    fn key_of(&self, epoch: u32) -> Option<([u8; 32], [u8; 32])> {
        if epoch == self.g.cur.epoch {
            self.g.cur.key.map(|k| (k, self.g.cur.id))
        } else {
            self.g
                .prev
                .as_ref()
                .filter(|p| p.epoch == epoch)
                .map(|p| (p.key, p.id))
        }
    }

    fn members_of(&self, epoch: u32) -> Option<&BTreeSet<ParticipantId>> {
        if epoch == self.g.cur.epoch {
            self.g.cur.members.as_ref()
        } else {
            self.g
                .prev
                .as_ref()
                .filter(|p| p.epoch == epoch)
                .and_then(|p| p.members.as_ref())
        }
    }

    /// A sender's window: the one in memory, or a fresh one from the higher of its
    /// stored mark and its floor.
    fn window(&self, id: &ParticipantId) -> WindowM {
        self.windows.get(id).cloned().unwrap_or_else(|| WindowM {
            floor: self
                .marks
                .get(id)
                .copied()
                .unwrap_or(0)
                .max(self.g.floors.get(id).copied().unwrap_or(0)),
            ..WindowM::default()
        })
    }

    /// Whether `sig` is a valid signature of `key` for this topic.
    fn signed(&self, world: &World, sig: Sig, key: &PublicKey) -> bool {
        sig.is_some_and(|(s, t)| t == self.topic && world.cast[s].public == *key)
    }

    /// What decoding `msg` gives, and the model moved as the receiver must move.
    /// `short`: `decode_into` with a buffer one byte short.
    fn decode(
        &mut self,
        world: &World,
        msg: &[u8],
        mode: DecodeMode,
        sig: Sig,
        short: bool,
    ) -> Expect<Outcome> {
        if msg.first() != Some(&0x02) {
            return Expect::AnyErr;
        }
        let stop = |e: Error| Expect::Exactly(err(e));
        let sender = match self.admit(world, msg, mode, sig) {
            Ok(sender) => sender,
            Err(outcome) => return Expect::Exactly(outcome),
        };
        let epoch = be_u32(&msg[3..7]);
        let counter = be_u64(&msg[39..47]);
        let Some((epoch_key, epoch_id)) = self.key_of(epoch) else {
            return stop(match self.g.cur.key {
                None => Error::MissingTopicKey,
                Some(_) => Error::UnknownEpoch(epoch),
            });
        };
        if counter > LAST_COUNTER {
            return stop(Error::CounterOutOfRange { sender, counter });
        }
        let mut window = self.window(&sender);
        if let Err(too_old) = window.check(counter) {
            return stop(Error::Replayed {
                sender,
                counter,
                too_old,
            });
        }
        if short {
            let needed = msg.len() - OVERHEAD;
            return stop(Error::BufferTooSmall {
                needed,
                available: needed - 1,
            });
        }
        let Some(plaintext) = open_message(&self.topic_id, &epoch_key, &epoch_id, msg) else {
            return stop(Error::DecryptFailed);
        };
        let verified = mode != DecodeMode::Naive;
        if verified {
            window.accept(counter);
            self.accepted(sender, counter, epoch, window);
        }
        Expect::Exactly(Outcome::Message {
            sender,
            verified,
            plaintext,
        })
    }

    /// The checks of `decode` (of bytes starting with `0x02`) before the key: the
    /// framing, our own message, and in a verified mode the sender. `Ok`: the sender;
    /// `Err`: the outcome where decoding stops.
    fn admit(
        &self,
        world: &World,
        msg: &[u8],
        mode: DecodeMode,
        sig: Sig,
    ) -> Result<ParticipantId, Outcome> {
        message_framing(msg).map_err(err)?;
        let sender = id_at(msg, 7);
        if sender == self.me {
            return Err(Outcome::Own);
        }
        if mode != DecodeMode::Naive {
            self.check_sender(world, sender, be_u32(&msg[3..7]), mode, sig)?;
        }
        Ok(sender)
    }

    /// The checks of a verified decode before the key: the sender trusted (else
    /// refused, or ignored in `IgnoreUntrusted`), a member, and the signature.
    fn check_sender(
        &self,
        world: &World,
        sender: ParticipantId,
        epoch: u32,
        mode: DecodeMode,
        sig: Sig,
    ) -> Result<(), Outcome> {
        let Some(key) = self.trusted.get(&sender) else {
            return Err(match mode {
                DecodeMode::IgnoreUntrusted => Outcome::Ignored(sender),
                _ => err(Error::UntrustedSender(sender)),
            });
        };
        if self.members_of(epoch).is_some_and(|m| !m.contains(&sender)) {
            return Err(err(Error::NotAMember(sender)));
        }
        // Once the current epoch leaves a participant out, it is not heard in the
        // previous epoch's grace period either.
        if !self.g.cur.lists(&sender) {
            return Err(err(Error::NotAMember(sender)));
        }
        if !self.signed(world, sig, key) {
            return Err(err(Error::BadSignature));
        }
        Ok(())
    }

    /// A verified message (`sender`, `counter`) of `epoch` opened: its mark stored
    /// ahead if it reached the stored one, `window` (which took the counter) kept, and
    /// the previous epoch's grace one message shorter if it is of the current epoch.
    fn accepted(&mut self, sender: ParticipantId, counter: u64, epoch: u32, window: WindowM) {
        // (A refusal stores nothing.)
        let mark = self.marks.get(&sender).copied().unwrap_or(0);
        if counter >= mark {
            let ahead = counter.saturating_add(1).saturating_add(RECEIVER_BLOCK);
            self.marks.insert(sender, ahead);
        }
        self.windows.insert(sender, window);
        self.ever.insert((sender, counter));
        self.history.insert((sender, counter));
        // Heard again: its window covers what it sent before (above the mark).
        self.gap.remove(&sender);
        if epoch == self.g.cur.epoch {
            if let Some(p) = &mut self.g.prev {
                p.remaining = p.remaining.saturating_sub(1);
                if p.remaining == 0 {
                    self.g.prev = None;
                    self.save();
                }
            }
        }
    }

    /// Moves to a new epoch started by `starter`; `from_current`: a normal rotation
    /// (the current epoch becomes the previous one), else the winner of a tie-break
    /// replaces the current epoch.
    #[allow(clippy::too_many_arguments)] // one rekey's fields
    fn enter(
        &mut self,
        epoch: u32,
        id: [u8; 32],
        parent: [u8; 32],
        starter: ParticipantId,
        key: [u8; 32],
        members: BTreeSet<ParticipantId>,
        from_current: bool,
    ) {
        let cur = &self.g.cur;
        let (parent, parent_members) = if from_current {
            self.g.prev = match cur.key {
                Some(k) if self.g.grace > 0 => Some(PrevM {
                    epoch: cur.epoch,
                    id: cur.id,
                    key: k,
                    members: cur.members.clone(),
                    remaining: self.g.grace,
                }),
                _ => None,
            };
            (Some(parent), cur.members.clone())
        } else {
            (cur.parent, cur.parent_members.clone())
        };
        self.g.cur = EpochM {
            epoch,
            id,
            key: Some(key),
            members: Some(members),
            parent,
            parent_members,
            starter: Some(starter),
        };
        self.save();
    }

    /// What `accept_rekey(msg)` gives, the model moved accordingly.
    fn accept_rekey(&mut self, world: &World, msg: &[u8], sig: Sig) -> Result<RekeyOutcome, Error> {
        let e = |e: Error| Err(e);
        let admin = self.rekey_signer(world, msg, sig)?;
        let epoch = be_u32(&msg[3..7]);
        let previous = array32(&msg[K_PREVIOUS..K_EPH]);
        let id = blake3::derive_key(EPOCH_CONTEXT, msg);
        let entries: Vec<&[u8]> = msg[K_ENTRIES..msg.len() - SIG].chunks(ENTRY).collect();
        let members: BTreeSet<ParticipantId> = entries.iter().map(|e| id_at(e, 0)).collect();
        let cur = &self.g.cur;
        if id == cur.id {
            return Ok(RekeyOutcome::Superseded);
        }
        let (from_current, followed) = if cur.key.is_none() && epoch > cur.epoch {
            // A keyless topic takes a rekey listing it, never below its epoch.
            (true, None)
        } else if Some(epoch) == cur.epoch.checked_add(1) && previous == cur.id {
            (true, cur.members.as_ref())
        } else if epoch == cur.epoch && cur.parent == Some(previous) {
            if !cur.loses_to(&admin, &id, members.len()) {
                return Ok(RekeyOutcome::Superseded);
            }
            (false, cur.parent_members.as_ref())
        } else {
            return e(Error::EpochMismatch {
                current: cur.epoch,
                got: epoch,
            });
        };
        // "Rekeys only from an admin who is a member of the epoch they follow."
        if followed.is_some_and(|m| !m.contains(&admin)) {
            return e(Error::NotAMember(admin));
        }
        let Some(index) = entries.iter().position(|e| e[..16] == *self.me.as_bytes()) else {
            return e(Error::NotAMember(self.me));
        };
        let eph = &msg[K_EPH..K_COUNT];
        if small_order(eph) {
            return e(Error::DecryptFailed);
        }
        let Some(new_key) = box_open(
            eph,
            &world.cast[self.who].static_secret,
            &rekey_entry_nonce(epoch, index),
            &entries[index][16..],
        ) else {
            return e(Error::DecryptFailed);
        };
        self.enter(epoch, id, previous, admin, new_key, members, from_current);
        Ok(RekeyOutcome::Rotated { epoch })
    }

    /// The checks of `accept_rekey` before the epochs: a v2 rekey, from an admin this
    /// topic trusts, signed by it for this topic. `Ok`: the admin.
    fn rekey_signer(&self, world: &World, msg: &[u8], sig: Sig) -> Result<ParticipantId, Error> {
        match msg.first() {
            None => {
                return Err(Error::Malformed {
                    message_type: None,
                    len: 0,
                })
            }
            Some(&b) if b != 0x02 => return Err(Error::UnknownType(b)),
            _ => {}
        }
        v2_of_type(msg, V2Type::Rekey)?;
        let admin = id_at(msg, 7);
        if !self.g.admins.contains(&admin) {
            return Err(Error::NotAnAdmin(admin));
        }
        let Some(key) = self.trusted.get(&admin) else {
            return Err(Error::UntrustedSender(admin));
        };
        if !self.signed(world, sig, key) {
            return Err(Error::BadSignature);
        }
        Ok(admin)
    }

    /// What `construct_reply(intro)` gives (it changes nothing of the group).
    fn construct_reply(&self, world: &World, intro: &[u8], sig: Sig) -> Expect<Result<(), Error>> {
        let e = |e: Error| Expect::Exactly(Err(e));
        if intro.first() != Some(&0x02) {
            return self.classic_refusal();
        }
        if let Err(x) = v2_of_type(intro, V2Type::Introduction) {
            return e(x);
        }
        let key = PublicKey::from_bytes(array32(&intro[47..79]));
        let id = id_at(intro, 7);
        if participant_id(key.as_bytes()) != id || !self.signed(world, sig, &key) {
            return e(Error::BadSignature);
        }
        if self.trusted.get(&id) != Some(&key) {
            return e(Error::UntrustedSender(id));
        }
        // "Replies go only to listed members" (and come from one).
        for x in [id, self.me] {
            if !self.g.cur.lists(&x) {
                return e(Error::NotAMember(x));
            }
        }
        if self.g.cur.key.is_none() {
            return e(Error::MissingTopicKey);
        }
        if small_order(&intro[79..111]) {
            return e(Error::InvalidPublicKey);
        }
        Expect::Exactly(Ok(()))
    }

    /// What a discovery call gives for bytes that are not v2: a topic that takes
    /// classic messages judges them as such (checked by the `discovery` target).
    fn classic_refusal<X>(&self) -> Expect<Result<X, Error>> {
        if self.protocol.accepts_classic() {
            Expect::AnyErr
        } else {
            Expect::Exactly(Err(Error::ProtocolRefused {
                version: 1,
                accepts: self.protocol,
            }))
        }
    }

    /// The floors a reply of this topic carries when its counter is `counter`.
    fn reply_floors(&self, counter: u64) -> Vec<([u8; 16], u64)> {
        let mut floors: BTreeMap<[u8; 16], u64> = self
            .g
            .floors
            .iter()
            .map(|(id, f)| (*id.as_bytes(), *f))
            .collect();
        // Every participant it trusts and every sender it heard: a trusted sender not
        // heard by this instance gets its mark in the store.
        for id in self.trusted.keys() {
            if self.windows.contains_key(id) {
                continue;
            }
            if let Some(mark) = self.marks.get(id) {
                let f = floors.entry(*id.as_bytes()).or_insert(0);
                *f = (*f).max(*mark);
            }
        }
        for (id, w) in &self.windows {
            let next = w.top.map_or(0, |t| t.saturating_add(1));
            let f = floors.entry(*id.as_bytes()).or_insert(0);
            *f = (*f).max(next).max(w.floor);
        }
        floors.insert(*self.me.as_bytes(), counter + 1);
        floors.into_iter().collect()
    }

    /// What `parse_reply(reply)` gives (the replier's key), the model moved
    /// accordingly.
    fn parse_reply(
        &mut self,
        world: &World,
        reply: &[u8],
        sig: Sig,
    ) -> Expect<Result<PublicKey, Error>> {
        let e = |e: Error| Expect::Exactly(Err(e));
        if reply.first() != Some(&0x02) {
            return self.classic_refusal();
        }
        if let Err(x) = v2_of_type(reply, V2Type::Reply) {
            return e(x);
        }
        let recipient = id_at(reply, R_RECIPIENT);
        if recipient != self.me {
            return e(Error::NotForUs { recipient });
        }
        let Some((digest, secret)) = self.g.pending else {
            return e(Error::NoPendingIntroduction);
        };
        if reply[R_DIGEST..R_EPOCH_ID] != digest {
            return e(Error::StaleReply);
        }
        let key = PublicKey::from_bytes(array32(&reply[R_IDENTITY..R_EPH]));
        let id = id_at(reply, 7);
        if participant_id(key.as_bytes()) != id || !self.signed(world, sig, &key) {
            return e(Error::BadSignature);
        }
        let eph = &reply[R_EPH..R_NONCE];
        if small_order(eph) {
            return e(Error::DecryptFailed);
        }
        let Some(topic_key) = box_open(
            eph,
            &secret,
            &reply[R_NONCE..R_SEALED],
            &reply[R_SEALED..R_MEMBER_COUNT],
        ) else {
            return e(Error::DecryptFailed);
        };
        if self.trusted.get(&id) != Some(&key) {
            return e(Error::UntrustedReplier { key, id });
        }
        let (offered, floors) = offered_by_reply(reply);
        let next = match epoch_after_reply(&self.g.cur, &id, offered) {
            Ok(next) => next,
            Err(x) => return e(x),
        };
        self.take_reply(next, topic_key, floors);
        Expect::Exactly(Ok(key))
    }

    /// A reply accepted: its floors taken, the epoch `next` entered with `topic_key`,
    /// the introduction answered.
    fn take_reply(&mut self, next: EpochM, topic_key: [u8; 32], floors: Vec<(ParticipantId, u64)>) {
        // Newcomers take the reply's floors.
        for (sender, value) in floors {
            let f = self.g.floors.entry(sender).or_insert(0);
            *f = (*f).max(value);
            if let Some(w) = self.windows.get_mut(&sender) {
                w.floor = w.floor.max(value);
            }
        }
        if next.id != self.g.cur.id {
            self.g.prev = None;
        }
        self.g.cur = next;
        self.g.cur.key = Some(topic_key);
        self.g.pending = None;
        self.g.classic = false;
        self.save();
    }

    /// A naive decode of a message, predicted without moving anything (naive
    /// decoding checks the window but moves nothing).
    fn probe(&self, world: &World, msg: &[u8]) -> Expect<Outcome> {
        let mut copy = Model {
            protocol: self.protocol,
            topic: self.topic,
            topic_id: self.topic_id,
            who: self.who,
            me: self.me,
            trusted: self.trusted.clone(),
            g: self.g.clone(),
            saved: self.saved.clone(),
            windows: self.windows.clone(),
            marks: self.marks.clone(),
            ever: BTreeSet::new(),
            history: BTreeSet::new(),
            gap: BTreeSet::new(),
        };
        copy.decode(world, msg, DecodeMode::Naive, None, false)
    }
}

/// A topic's state that every call is checked against.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    key: Option<[u8; 32]>,
    pending: bool,
    participants: Vec<([u8; 16], [u8; 32])>,
    epoch: u32,
    epoch_id: [u8; 32],
    members: Option<BTreeSet<ParticipantId>>,
    admins: BTreeSet<ParticipantId>,
    floors: BTreeMap<ParticipantId, u64>,
    generation: u64,
    marks: BTreeMap<ParticipantId, u64>,
    /// The group state in the trust store.
    stored: Option<StoredM>,
}

/// What a stored group state shows.
#[derive(Debug, PartialEq, Eq)]
struct StoredM {
    topic: Option<[u8; 32]>,
    epoch: u32,
    epoch_id: [u8; 32],
    members: Option<BTreeSet<ParticipantId>>,
    admins: BTreeSet<ParticipantId>,
    pending: bool,
    floors: BTreeMap<ParticipantId, u64>,
    generation: u64,
}

fn stored_of(s: &GroupState, ids: &[ParticipantId]) -> StoredM {
    StoredM {
        topic: s.topic_id().map(|t| *t.as_bytes()),
        epoch: s.epoch(),
        epoch_id: *s.epoch_id(),
        members: s.members().map(|m| m.copied().collect()),
        admins: s.admins().copied().collect(),
        pending: s.has_pending_introduction(),
        floors: ids
            .iter()
            .filter_map(|id| s.replay_floor(id).map(|f| (*id, f)))
            .collect(),
        generation: s.generation(),
    }
}

fn observe(t: &T, ids: &[ParticipantId]) -> Observed {
    let store = t.trust_store();
    let mut participants: Vec<_> = t
        .participants()
        .expect("memory store")
        .map(|(id, pk)| (*id.as_bytes(), pk.to_bytes()))
        .collect();
    participants.sort();
    let state = t.group_state();
    let stored = store
        .load_group_state()
        .expect("memory store")
        .map(|bytes| {
            let s = GroupState::from_bytes(&bytes).expect("the stored group state reads back");
            stored_of(&s, ids)
        });
    Observed {
        key: t.topic_key().map(|k| *k.expose_secret()),
        pending: t.has_pending_introduction(),
        participants,
        epoch: t.epoch(),
        epoch_id: t.epoch_id(),
        members: t.members().map(|m| m.copied().collect()),
        admins: state.admins().copied().collect(),
        floors: stored_of(&state, ids).floors,
        generation: state.generation(),
        marks: ids
            .iter()
            .filter_map(|id| {
                let mark = store
                    .load_mark(&MarkSlot::Received(*id))
                    .expect("memory store");
                mark.map(|m| (*id, m))
            })
            .collect(),
        stored,
    }
}

fn only(
    floors: &BTreeMap<ParticipantId, u64>,
    ids: &[ParticipantId],
) -> BTreeMap<ParticipantId, u64> {
    floors
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .map(|(id, f)| (*id, *f))
        .collect()
}

/// What [`observe`] must give, from the model.
fn expected(model: &Model, ids: &[ParticipantId]) -> Observed {
    let mut participants: Vec<_> = model
        .trusted
        .iter()
        .map(|(id, pk)| (*id.as_bytes(), pk.to_bytes()))
        .collect();
    participants.sort();
    let g = &model.g;
    Observed {
        key: g.cur.key,
        pending: g.pending.is_some() || g.classic,
        participants,
        epoch: g.cur.epoch,
        epoch_id: g.cur.id,
        members: g.cur.members.clone(),
        admins: g.admins.clone(),
        floors: only(&model.export_floors(), ids),
        generation: g.generation,
        marks: model.marks.clone(),
        stored: Some(stored_m(&model.topic_id, &model.saved, ids)),
    }
}

/// What a group state `s` of topic `topic` shows.
fn stored_m(topic: &[u8; 32], s: &GroupM, ids: &[ParticipantId]) -> StoredM {
    StoredM {
        topic: Some(*topic),
        epoch: s.cur.epoch,
        epoch_id: s.cur.id,
        members: s.cur.members.clone(),
        admins: s.admins.clone(),
        pending: s.pending.is_some() || s.classic,
        floors: only(&s.floors, ids),
        generation: s.generation,
    }
}

/// The ids whose marks and floors are watched: the cast, and any id the model holds
/// a mark or floor for.
fn watched(world: &World, model: &Model) -> Vec<ParticipantId> {
    let mut ids: BTreeSet<ParticipantId> = world.cast.iter().map(|m| m.id).collect();
    ids.extend(model.marks.keys().copied());
    ids.extend(model.g.floors.keys().copied());
    ids.extend(model.saved.floors.keys().copied());
    ids.into_iter().collect()
}

/// The topic's state against the model's.
fn check_model(world: &World, t: &T, model: &Model, what: &str) -> Observed {
    let ids = watched(world, model);
    let got = observe(t, &ids);
    assert_eq!(got, expected(model, &ids), "after {what}");
    model.check_covered(&got.floors, true, "group_state's floors");
    // The export to move elsewhere covers everything, earlier processes included.
    let moved = t.export_group_state().expect("memory store");
    let moved_floors = stored_of(&moved, &ids).floors;
    assert_eq!(
        moved_floors,
        only(&model.export_moved().floors, &ids),
        "export_group_state's floors after {what}"
    );
    model.check_covered(&moved_floors, false, "export_group_state's floors");
    // What keeps replays refused after a crash: every accepted counter is below
    // its sender's stored mark.
    for (id, counter) in &model.ever {
        let mark = got.marks.get(id).copied().unwrap_or(0);
        assert!(
            *counter < mark,
            "counter {counter} of {id} was accepted but the stored mark is {mark}: \
             a restart would accept it again"
        );
    }
    got
}

/// A new instance of cast member `i`'s topic on `store`: it resumes the stored group
/// state (epoch, key, members, admins, pending introduction, floors).
fn resume_topic(world: &World, i: usize, topic: usize, store: MemoryTrustStore) -> T {
    let mut t = T::with_store(SigningSeed::from_bytes(world.cast[i].seed), None, store);
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(world.topic_id(topic))
        .expect("the stored group state is this topic's");
    t
}

/// Takes `t` out of its place, leaving a placeholder, to restart it on its store.
fn take_store(t: &mut T) -> MemoryTrustStore {
    std::mem::replace(t, T::new(SigningSeed::from_bytes([0; 32]), None)).into_trust_store()
}

// ----- senders ----------------------------------------------------------------------------------

/// A cast member's topic sending v2, with what the harness knows of it.
struct Sender {
    index: usize,
    topic: usize,
    t: T,
    rng: TestRng,
    /// (next counter, end of the reserved block), once the topic has loaded its mark.
    counter: Option<(u64, u64)>,
    session: Option<[u8; 16]>,
    /// The id of the epoch the topic is in.
    epoch_id: [u8; 32],
    restarts: u8,
    /// The last counter it used, across restarts.
    last: Option<u64>,
}

fn sender_topic(world: &World, i: usize, topic: usize, store: MemoryTrustStore) -> T {
    let mut t = T::with_store(
        SigningSeed::from_bytes(world.cast[i].seed),
        Some(TopicKey::from_bytes(KEY)),
        store,
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(world.topic_id(topic))
        .expect("a fresh topic takes a topic id");
    // (`add_admin` trusts the key too: each key is prepared once.)
    for (j, m) in world.cast.iter().enumerate() {
        if ADMINS.contains(&j) {
            t.add_admin(m.public).expect("cast keys are valid");
        } else if j != i {
            t.add_participant(m.public).expect("cast keys are valid");
        }
    }
    t
}

impl Sender {
    fn new(world: &World, i: usize, topic: usize, seed: u8, start: Option<u64>) -> Sender {
        let mut store = MemoryTrustStore::new();
        if let Some(mark) = start {
            store
                .save_mark(MarkSlot::OwnCounter, mark)
                .expect("memory store");
        }
        Sender {
            index: i,
            topic,
            t: sender_topic(world, i, topic, store),
            rng: TestRng::seeded_by(&[&[seed, i as u8, 0, topic as u8]]),
            counter: None,
            session: None,
            epoch_id: world.first[topic],
            restarts: 0,
            last: None,
        }
    }

    /// A new instance on the same store: it resumes its epoch, key and counters.
    fn restart(&mut self, world: &World, seed: u8) {
        let key = self.t.topic_key().map(|k| *k.expose_secret());
        let epoch = self.t.epoch();
        let store = take_store(&mut self.t);
        self.t = resume_topic(world, self.index, self.topic, store);
        assert_eq!(self.t.epoch(), epoch, "a restart resumes the epoch");
        assert_eq!(
            self.t.epoch_id(),
            self.epoch_id,
            "a restart resumes the epoch id"
        );
        assert_eq!(
            self.t.topic_key().map(|k| *k.expose_secret()),
            key,
            "a restart resumes the key"
        );
        self.restarts = self.restarts.wrapping_add(1);
        self.rng =
            TestRng::seeded_by(&[&[seed, self.index as u8, self.restarts, self.topic as u8]]);
        self.counter = None;
        self.session = None;
    }

    fn stored_mark(&self) -> Option<u64> {
        self.t
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
    fn check_header(&mut self, world: &World, msg: &[u8], t: V2Type, epoch: u32) {
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
        if let Some(previous) = self.last {
            assert!(
                counter > previous,
                "a counter went backwards: {counter} after {previous}"
            );
        }
        self.last = Some(counter);
        let (_, reserved) = self.counter.expect("set");
        assert_eq!(
            self.stored_mark(),
            Some(reserved),
            "the sender's stored mark"
        );
        assert!(counter < reserved, "a counter at or above the stored mark");
        assert!(
            signed_by(me, &world.topics[self.topic], msg),
            "signed by its sender for its topic"
        );
    }
}

// ----- the Traffic scenario ---------------------------------------------------------------------------

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub enum Scenario {
    /// Messages, rekeys, introductions and replies between the cast and participant 0.
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
    /// No history: the actions start on a fresh cast.
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
    /// Chatter; admin 1 rotates, the receiver misses it; chatter; the receiver
    /// introduces itself and member 4's reply (of epoch 1) is refused; the receiver
    /// forgets its epoch, introduces itself again and takes member 4's reply;
    /// chatter; the round sent before the rejoin is replayed.
    Rejoin,
    /// Admin 1 rotates leaving member 4 out, admin 2 at once keeping everyone; the
    /// receiver gets admin 2's rekey, then admin 1's (fewer members: the winner);
    /// member 4, on admin 2's epoch, answers the receiver's introduction; chatter.
    Fork,
    /// Chatter; the receiver introduces itself; member 4's reply, re-signed with a
    /// high floor for admin 1, is taken; chatter.
    Floors,
    /// Admin 2 rotates leaving admin 1 out; admin 1 rotates epoch 0 anyway (a
    /// competing rekey); admin 1's rekey forged to follow admin 2's epoch, signed by
    /// 1 (`NotAMember` when 2's epoch holds); chatter.
    LeftOut,
    /// The receiver removes admin 2 and trusts it again; admin 2 rotates; chatter.
    RemovedAdmin,
    /// Chatter; admin 1 rotates leaving 4 out; chatter; the receiver restarts with
    /// exact marks; the rekey and the second round are replayed.
    RestartRotated,
    /// Chatter; an export; admin 1 rotates, the receiver follows; the export is
    /// restored (refused: a lower epoch); an export, a change, the export restored
    /// (refused: an older generation); a restart; an export restored on a new store;
    /// both rounds replayed; chatter.
    Backup,
}

pub(crate) fn plain_delivery(pick: u8) -> Action {
    Action::Deliver(Delivery {
        pick,
        mode: 0,
        variant: Variant::Decode,
        swap: false,
        mutation: None,
    })
}

/// Plain deliveries of messages `picks`, the oldest first (`pick` 0 is the latest).
fn deliver_again(actions: &mut Vec<Action>, picks: std::ops::Range<u8>) {
    for pick in picks.rev() {
        actions.push(plain_delivery(pick));
    }
}

/// Each sender sends once, then the receiver gets the five messages in order.
pub(crate) fn chatter(actions: &mut Vec<Action>, round: u8) {
    for sender in [1, 2, 4, 3, 0] {
        actions.push(Action::Send {
            sender,
            plaintext: vec![sender, round],
        });
    }
    deliver_again(actions, 0..5);
}

pub(crate) const ALL: u8 = 0b11111;

/// A delivery of message `pick` with `edits`, then `seal`.
fn edited_delivery(pick: u8, edits: Vec<Edit>, seal: Seal) -> Action {
    Action::Deliver(Delivery {
        pick,
        mode: 0,
        variant: Variant::Decode,
        swap: false,
        mutation: Some(Mutation { edits, seal }),
    })
}

/// A delivery of message `pick` with no edits and `seal` (re-signed, say).
pub(crate) fn sealed_delivery(pick: u8, seal: Seal) -> Action {
    edited_delivery(pick, Vec::new(), seal)
}

pub(crate) fn rotate(a: &mut Vec<Action>, admin: u8, members: u8, reach: u8) {
    a.push(Action::Rotate {
        admin,
        members,
        reach,
    });
}

/// Member 4 answers the latest message (the receiver's introduction).
fn member_replies(a: &mut Vec<Action>) {
    a.push(Action::Reply {
        replier: MEMBER as u8,
        pick: 0,
    });
}

impl Prelude {
    fn actions(self) -> Vec<Action> {
        let mut a = Vec::new();
        match self {
            Prelude::None => {}
            Prelude::Chatter => {
                chatter(&mut a, 0);
                chatter(&mut a, 1);
            }
            Prelude::Rotation => history::rotation(&mut a),
            Prelude::Removal => history::removal(&mut a),
            Prelude::Concurrent => history::concurrent(&mut a),
            Prelude::TwoEpochs => history::two_epochs(&mut a),
            Prelude::Restart => history::restart(&mut a),
            Prelude::Rejoin => history::rejoin(&mut a),
            Prelude::Fork => history::fork(&mut a),
            Prelude::Floors => history::floors(&mut a),
            Prelude::LeftOut => history::left_out(&mut a),
            Prelude::RemovedAdmin => history::removed_admin(&mut a),
            Prelude::RestartRotated => history::restart_rotated(&mut a),
            Prelude::Backup => history::backup(&mut a),
        }
        a
    }
}

/// The [`Prelude`]s' histories, one function each (documented on the variant).
mod history {
    use super::{
        chatter, deliver_again, edited_delivery, member_replies, plain_delivery, rotate, Action,
        Edit, Field, Seal, ALL, MEMBER,
    };

    /// Admin `admin` rotates listing `members` (senders `reach` take it), and the
    /// receiver gets the rekey.
    fn rotation_taken(a: &mut Vec<Action>, admin: u8, members: u8, reach: u8) {
        rotate(a, admin, members, reach);
        a.push(plain_delivery(0));
    }

    /// Chatter; admin 1 rotates listing `members`, the receiver accepts it; chatter.
    fn rotation_in_chatter(a: &mut Vec<Action>, members: u8) {
        chatter(a, 0);
        rotation_taken(a, 1, members, ALL);
        chatter(a, 1);
    }

    pub(super) fn rotation(a: &mut Vec<Action>) {
        rotation_in_chatter(a, ALL);
    }

    pub(super) fn removal(a: &mut Vec<Action>) {
        rotation_in_chatter(a, 0b00111);
        // Member 4 speaking in the epoch that left it out (a re-sealed message stands
        // for one made with the key): `NotAMember`.
        let next_epoch = Edit::Add {
            field: Field::Epoch,
            delta: 1,
        };
        a.push(edited_delivery(2, vec![next_epoch], Seal::Reseal));
    }

    pub(super) fn concurrent(a: &mut Vec<Action>) {
        rotate(a, 1, ALL, ALL & !(1 << 2));
        rotate(a, 2, ALL, ALL & !(1 << 1));
        a.push(plain_delivery(1));
        a.push(plain_delivery(0));
        chatter(a, 0);
    }

    pub(super) fn two_epochs(a: &mut Vec<Action>) {
        rotation_taken(a, 1, ALL, ALL);
        rotation_taken(a, 1, 0b00111, ALL);
        chatter(a, 0);
    }

    pub(super) fn restart(a: &mut Vec<Action>) {
        chatter(a, 0);
        a.push(Action::RestartReceiver { exact: false });
        chatter(a, 1);
        deliver_again(a, 5..10);
    }

    pub(super) fn rejoin(a: &mut Vec<Action>) {
        chatter(a, 0);
        rotate(a, 1, ALL, ALL);
        chatter(a, 1);
        // A reply of another epoch is refused to a topic that holds a key.
        a.push(Action::Introduce);
        member_replies(a);
        a.push(plain_delivery(0));
        a.push(Action::Forget);
        a.push(Action::Introduce);
        member_replies(a);
        a.push(plain_delivery(0));
        chatter(a, 2);
        // Round 1, sent before the rejoin (the latest are round 2, the reply and the
        // introduction): the replier's own message is below its floor.
        deliver_again(a, 7..12);
    }

    pub(super) fn fork(a: &mut Vec<Action>) {
        rotate(a, 1, ALL & !(1 << MEMBER), ALL & !(1 << 2));
        rotation_taken(a, 2, ALL, ALL & !(1 << 1));
        a.push(plain_delivery(1));
        a.push(Action::Introduce);
        member_replies(a);
        a.push(plain_delivery(0));
        chatter(a, 0);
    }

    pub(super) fn floors(a: &mut Vec<Action>) {
        chatter(a, 0);
        a.push(Action::Introduce);
        member_replies(a);
        let high_floor = Edit::AddFloor {
            member: 1,
            value: 1 << 20,
        };
        a.push(edited_delivery(0, vec![high_floor], Seal::Reseal));
        chatter(a, 1);
    }

    pub(super) fn left_out(a: &mut Vec<Action>) {
        rotation_taken(a, 2, ALL & !(1 << 1), ALL);
        rotation_taken(a, 1, ALL, 0);
        // Admin 1's rekey made to follow admin 2's epoch (the first rekey of the pool,
        // after the three first epochs), which left 1 out.
        let follow_admin_2 = vec![
            Edit::Chain {
                field: Field::EpochId,
                pick: 3,
            },
            Edit::Add {
                field: Field::Epoch,
                delta: 1,
            },
        ];
        a.push(edited_delivery(0, follow_admin_2, Seal::Reseal));
        chatter(a, 0);
    }

    pub(super) fn removed_admin(a: &mut Vec<Action>) {
        a.push(Action::Remove(2));
        a.push(Action::Trust(2));
        rotation_taken(a, 2, ALL, ALL);
        chatter(a, 0);
    }

    pub(super) fn restart_rotated(a: &mut Vec<Action>) {
        rotation_in_chatter(a, 0b00111);
        a.push(Action::RestartReceiver { exact: true });
        deliver_again(a, 0..6);
    }

    pub(super) fn backup(a: &mut Vec<Action>) {
        let restore_latest = |fresh| Action::Restore { pick: 0, fresh };
        chatter(a, 0);
        a.push(Action::Backup { moved: true });
        rotation_taken(a, 1, ALL, ALL);
        chatter(a, 1);
        a.push(restore_latest(false));
        a.push(Action::Backup { moved: false });
        a.push(Action::Grace(1));
        a.push(restore_latest(false));
        a.push(Action::RestartReceiver { exact: false });
        a.push(Action::Backup { moved: true });
        a.push(restore_latest(true));
        deliver_again(a, 0..11);
        chatter(a, 2);
    }
}

/// One step of a history: something a cast member or the receiver does.
#[derive(Arbitrary, Debug)]
pub enum Action {
    /// Cast member `% 5` encodes a message.
    Send {
        /// The sender, `% 5`.
        sender: u8,
        /// What it sends.
        plaintext: Vec<u8>,
    },
    /// The receiver gets a message the harness holds.
    Deliver(Delivery),
    /// Cast member `% 5` rotates, listing the members of bitmask `members`; the other
    /// senders of bitmask `reach` accept the rekey.
    Rotate {
        /// The admin, `% 5`.
        admin: u8,
        /// Bit `i`: cast member `i` is listed in the rekey.
        members: u8,
        /// Bit `i`: sender `i` accepts the rekey.
        reach: u8,
    },
    /// A sender restarts on its store (new session, counter from its mark, the group
    /// state resumed).
    RestartSender(u8),
    /// The receiver restarts on its store (the group state resumed), after
    /// `save_replay_marks` if `exact`.
    RestartReceiver {
        /// `save_replay_marks` first.
        exact: bool,
    },
    /// The receiver forgets the previous epoch.
    ExpirePrevious,
    /// The receiver introduces itself (a rejoin).
    Introduce,
    /// Cast member `% 5` introduces itself (for the receiver to answer).
    SenderIntroduce(u8),
    /// Cast member `% 5` answers the message `pick` (0 is the latest) if it is an
    /// introduction it takes.
    Reply {
        /// The replier, `% 5`.
        replier: u8,
        /// Which message: 0 is the latest.
        pick: u8,
    },
    /// The receiver stops trusting cast member `% 5`.
    Remove(u8),
    /// The receiver trusts cast member `% 5`.
    Trust(u8),
    /// The receiver's grace period becomes `% 4` messages.
    Grace(u8),
    /// The receiver's group state is exported (`export_group_state()`, or
    /// `group_state()` when `!moved`) as bytes, and kept.
    Backup {
        /// `export_group_state()`, else `group_state()`.
        moved: bool,
    },
    /// An export kept earlier (`pick`: 0 is the latest) is restored, on the running
    /// receiver or (`fresh`) on a new instance with an empty store trusting the same.
    Restore {
        /// Which export: 0 is the latest.
        pick: u8,
        /// On a new instance with an empty store.
        fresh: bool,
    },
    /// The receiver forgets its epoch's key (`forget_epoch`), to come back as a
    /// newcomer through a reply or a rekey listing it.
    Forget,
}

/// A delivery to the receiver.
#[derive(Arbitrary, Debug)]
pub struct Delivery {
    /// Which message: 0 is the latest.
    pick: u8,
    mode: u8,
    variant: Variant,
    /// Feed a message to `accept_rekey`, and any other type to `decode`.
    swap: bool,
    mutation: Option<Mutation>,
}

/// Which of the decode calls a delivery goes through.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Variant {
    /// `decode`.
    Decode,
    /// `decode_in_place`.
    InPlace,
    /// `decode_into`, with room enough.
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

/// The entry point a delivery goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Decode,
    Rekey,
    ParseReply,
    Answer,
}

impl Route {
    /// Where a message made as `kind` goes; `swap`: a message to `accept_rekey`, and
    /// any other type to `decode`.
    fn of(kind: V2Type, swap: bool) -> Route {
        match (kind, swap) {
            (V2Type::Message, false) | (V2Type::Rekey, true) => Route::Decode,
            (V2Type::Rekey, false) | (V2Type::Message, true) => Route::Rekey,
            (V2Type::Reply, false) => Route::ParseReply,
            (V2Type::Introduction, false) => Route::Answer,
            // (`V2Type` is non-exhaustive: a type added later goes to `decode`.)
            _ => Route::Decode,
        }
    }
}

/// A delivery's bytes as the receiver gets them, and what is known of them.
struct Delivered {
    /// The message of the pool it was made from.
    orig: Pooled,
    msg: Vec<u8>,
    sig: Sig,
    /// Its bytes are not the original's.
    mutated: bool,
    /// Signed (or sealed) again after the edits.
    resigned: bool,
    /// Made for another topic than the receiver's.
    foreign: bool,
    /// Carries a valid signature made for the receiver's topic.
    signed_here: bool,
}

/// One topic of a case: its receiver (participant 0), its model and its senders.
struct Lane {
    topic: usize,
    receiver: T,
    model: Model,
    senders: Vec<Option<Sender>>,
    /// The receiver instance's session value, once drawn.
    session: Option<[u8; 16]>,
    /// The last counter the receiver used, across restarts.
    last: Option<u64>,
    /// Randomness handed to the receiver so far (its draws are predicted).
    draws: u32,
    /// Exports of the receiver's group state, with the model's.
    backups: Vec<(Vec<u8>, GroupM)>,
}

fn receiver_topic(world: &World, topic: usize, key: Option<[u8; 32]>, grace: u32) -> T {
    let mut r = T::with_store(
        SigningSeed::from_bytes(world.cast[US].seed),
        key.map(TopicKey::from_bytes),
        MemoryTrustStore::new(),
    );
    r.set_protocol(ProtocolVersion::V2);
    r.set_topic_id(world.topic_id(topic))
        .expect("a fresh topic takes a topic id");
    for i in TRUSTED {
        if ADMINS.contains(&i) {
            r.add_admin(world.cast[i].public)
        } else {
            r.add_participant(world.cast[i].public)
        }
        .expect("cast keys are valid");
    }
    if grace != DEFAULT_GRACE {
        r.set_grace_messages(grace).expect("memory store");
    }
    r
}

/// Participant 0 in one topic or two, and the cast around it.
pub(crate) struct Traffic<'w> {
    world: &'w World,
    lanes: Vec<Lane>,
    pool: Vec<Pooled>,
    seed: u8,
    starts: [Option<u64>; CAST],
}

impl<'w> Traffic<'w> {
    /// The receiver in each of `topics` (indexes into [`TOPIC_NAMES`]).
    pub(crate) fn new(
        world: &'w World,
        topics: &[usize],
        has_key: bool,
        grace: Option<u8>,
        seed: u8,
        starts: [Option<u64>; CAST],
    ) -> Traffic<'w> {
        let grace = grace.map_or(DEFAULT_GRACE, |g| u32::from(g % 4));
        let key = has_key.then_some(KEY);
        let lanes = topics
            .iter()
            .map(|&topic| Lane {
                topic,
                receiver: receiver_topic(world, topic, key, grace),
                // Changes so far: the topic id, each admin, the grace period.
                model: Model::new(
                    world,
                    topic,
                    US,
                    key,
                    &TRUSTED,
                    &ADMINS,
                    grace,
                    1 + ADMINS.len() as u64 + u64::from(grace != DEFAULT_GRACE),
                ),
                senders: (0..CAST).map(|_| None).collect(),
                session: None,
                last: None,
                draws: 0,
                backups: Vec::new(),
            })
            .collect();
        let t = Traffic {
            world,
            lanes,
            pool: Vec::new(),
            seed,
            starts,
        };
        for l in 0..t.lanes.len() {
            t.check_state(l, "the start");
        }
        t
    }

    fn sender(&mut self, l: usize, i: usize) -> &mut Sender {
        let (world, seed, start) = (self.world, self.seed, self.starts[i]);
        let topic = self.lanes[l].topic;
        self.lanes[l].senders[i].get_or_insert_with(|| Sender::new(world, i, topic, seed, start))
    }

    /// Fresh randomness for the receiver of lane `l`.
    fn receiver_rng<const N: usize>(&mut self, l: usize) -> [u8; N] {
        let lane = &mut self.lanes[l];
        lane.draws += 1;
        TestRng::seeded_by(&[
            &[self.seed, 0xee, lane.topic as u8],
            &lane.draws.to_be_bytes(),
        ])
        .array()
    }

    fn check_state(&self, l: usize, what: &str) {
        let lane = &self.lanes[l];
        check_model(self.world, &lane.receiver, &lane.model, what);
    }

    fn observe(&self, l: usize) -> Observed {
        let lane = &self.lanes[l];
        observe(&lane.receiver, &watched(self.world, &lane.model))
    }

    fn push(&mut self, p: Pooled) {
        self.pool.push(p);
    }

    fn send(&mut self, l: usize, i: usize, plaintext: &[u8]) {
        let world = self.world;
        let plaintext = &plaintext[..plaintext.len().min(256)];
        let s = self.sender(l, i);
        let topic = s.topic;
        let available = s.next_counter(false).is_some();
        let epoch = s.t.epoch();
        let epoch_id = s.epoch_id;
        let key = *s.t.topic_key().expect("senders hold a key").expose_secret();
        let got = s.t.encode_with_rng(&mut s.rng, plaintext);
        let msg = match (got, available) {
            (Ok(msg), true) => msg,
            (Err(Error::CounterExhausted), false) => return,
            (got, _) => panic!("encode gave {got:?}; counters available: {available}"),
        };
        s.check_header(world, &msg, V2Type::Message, epoch);
        // The rest, sealed independently under the epoch id the harness tracks.
        let mut expected = msg.clone();
        seal_message(
            &world.topics[topic],
            &key,
            &epoch_id,
            &mut expected,
            plaintext,
        );
        sign_as(&world.cast[i], &world.topics[topic], &mut expected);
        assert_eq!(
            msg, expected,
            "encode's output is the v2 layout, sealed and signed for its topic and epoch"
        );
        let mut p = Pooled::new(msg, V2Type::Message, i, topic);
        p.key = key;
        p.epoch_id = epoch_id;
        p.plaintext = plaintext.to_vec();
        self.push(p);
    }

    fn rotate(&mut self, l: usize, a: usize, members: u8, reach: u8) {
        let world = self.world;
        let listed: Vec<ParticipantId> = (0..CAST)
            .filter(|&j| j != a && members & (1 << j) != 0)
            .map(|j| world.cast[j].id)
            .collect();
        let s = self.sender(l, a);
        let topic = s.topic;
        let available = s.next_counter(false).is_some();
        let old_epoch = s.t.epoch();
        let rekey = match (s.t.rotate_with(&mut s.rng, Some(&listed)), available) {
            (Ok(rekey), true) => rekey,
            (Err(Error::CounterExhausted), false) => {
                assert_eq!(
                    s.t.epoch(),
                    old_epoch,
                    "a refused rotation changed the epoch"
                );
                return;
            }
            (got, _) => panic!("rotate gave {got:?}; counters available: {available}"),
        };
        s.check_header(world, &rekey, V2Type::Rekey, old_epoch + 1);
        assert_eq!(s.t.epoch(), old_epoch + 1);
        let new_key = *s.t.topic_key().expect("a key").expose_secret();
        let mut ids = listed;
        ids.push(world.cast[a].id);
        check_rekey_body(world, &rekey, &ids, &s.epoch_id, old_epoch + 1, &new_key);
        let id = blake3::derive_key(EPOCH_CONTEXT, &rekey);
        s.epoch_id = id;
        assert_eq!(s.t.epoch_id(), id, "the epoch id is the rekey's digest");
        self.spread_rekey(l, a, reach, &rekey, (old_epoch + 1, id, new_key));
        let mut p = Pooled::new(rekey, V2Type::Rekey, a, topic);
        p.key = new_key;
        p.epoch_id = id;
        self.push(p);
    }

    /// The other senders of lane `l` in bitmask `reach` get admin `a`'s `rekey`, which
    /// starts `epoch` (its id and key): each that takes it holds them.
    fn spread_rekey(
        &mut self,
        l: usize,
        a: usize,
        reach: u8,
        rekey: &[u8],
        (epoch, id, key): (u32, [u8; 32], [u8; 32]),
    ) {
        for j in (0..CAST).filter(|&j| j != a && reach & (1 << j) != 0) {
            let s = self.sender(l, j);
            match s.t.accept_rekey(rekey) {
                Ok(RekeyOutcome::Rotated { epoch: got }) => {
                    assert_eq!(got, epoch);
                    assert_eq!(s.t.epoch(), epoch);
                    assert_eq!(s.t.topic_key().map(|k| *k.expose_secret()), Some(key));
                    s.epoch_id = id;
                }
                Ok(RekeyOutcome::Superseded) | Err(_) => {}
                Ok(other) => panic!("the oracle does not know {other:?}"),
            }
            assert_eq!(s.t.epoch_id(), s.epoch_id);
        }
    }

    /// The receiver introduces itself.
    fn introduce(&mut self, l: usize) {
        let world = self.world;
        let bytes: [u8; 48] = self.receiver_rng(l);
        let lane = &mut self.lanes[l];
        let drawn = lane.session;
        let intro = lane
            .receiver
            .construct_intro_with(&mut TestRng::replay(&[&bytes]))
            .expect("a v2 introduction")
            .to_vec();
        let (session, secret) = match drawn {
            Some(s) => (s, array32(&bytes[..32])),
            None => (bytes[..16].try_into().expect("16"), array32(&bytes[16..])),
        };
        lane.session = Some(session);
        assert_eq!(intro.len(), INTRO_LEN);
        check_own_header(lane, world, &intro, V2Type::Introduction);
        assert_eq!(&intro[47..79], world.cast[US].public.as_bytes());
        assert_eq!(intro[79..111], x25519_public(&secret));
        let model = &mut lane.model;
        model.g.pending = Some((blake3::derive_key(INTRO_CONTEXT, &intro), secret));
        model.g.classic = false;
        model.save();
        let mut p = Pooled::new(intro, V2Type::Introduction, US, lane.topic);
        p.by_receiver = true;
        p.secret = Some(secret);
        self.push(p);
        self.check_state(l, "an introduction");
    }

    /// Cast member `i` introduces itself.
    fn sender_introduce(&mut self, l: usize, i: usize) {
        let world = self.world;
        let s = self.sender(l, i);
        let bytes: [u8; 48] = s.rng.array();
        let available = s.next_counter(false).is_some();
        let intro = match (
            s.t.construct_intro_with(&mut TestRng::replay(&[&bytes])),
            available,
        ) {
            (Ok(intro), true) => intro.to_vec(),
            (Err(Error::CounterExhausted), false) => return,
            (got, _) => panic!("construct_intro gave {got:?}; counters available: {available}"),
        };
        // The session is drawn once per instance: the secret follows it, or comes first.
        let secret = [array32(&bytes[16..]), array32(&bytes[..32])]
            .into_iter()
            .find(|s| intro[79..111] == x25519_public(s))
            .expect("the intro's X25519 key is drawn from the randomness");
        let epoch = s.t.epoch();
        s.check_header(world, &intro, V2Type::Introduction, epoch);
        let mut p = Pooled::new(intro, V2Type::Introduction, i, s.topic);
        p.secret = Some(secret);
        self.push(p);
    }

    /// Cast member `i` answers an introduction of the pool.
    fn sender_reply(&mut self, l: usize, i: usize, pick: u8) {
        if self.pool.is_empty() {
            return;
        }
        let world = self.world;
        let intro = self.pooled(pick);
        let s = self.sender(l, i);
        let available = s.next_counter(false).is_some();
        let got = s.t.construct_reply_with(&mut s.rng, &intro.bytes);
        if intro.topic != s.topic {
            // Nothing made for another topic is answered.
            assert!(
                got.is_err(),
                "a sender answered another topic's introduction"
            );
        }
        let reply = match got {
            Ok(reply) => reply.to_vec(),
            Err(e) => {
                if available {
                    assert!(!matches!(e, Error::CounterExhausted), "{e:?}");
                }
                return;
            }
        };
        let epoch = s.t.epoch();
        s.check_header(world, &reply, V2Type::Reply, epoch);
        assert_eq!(&reply[R_RECIPIENT..R_DIGEST], &intro.bytes[7..23]);
        let p = Pooled::new(reply, V2Type::Reply, i, s.topic);
        self.push(p);
    }

    /// The epoch ids a `Chain` edit may put: the first epochs, then those the pool's
    /// rekeys started.
    fn chain(&self) -> Vec<[u8; 32]> {
        let mut ids = self.world.first.to_vec();
        ids.extend(
            self.pool
                .iter()
                .filter(|p| p.kind == V2Type::Rekey)
                .map(|p| blake3::derive_key(EPOCH_CONTEXT, &p.bytes)),
        );
        ids
    }

    /// Message `pick` of the pool (0 is the latest).
    fn pooled(&self, pick: u8) -> Pooled {
        self.pool[self.pool.len() - 1 - usize::from(pick) % self.pool.len()].clone()
    }

    fn deliver(&mut self, l: usize, d: &Delivery) {
        if self.pool.is_empty() {
            return;
        }
        let orig = self.pooled(d.pick);
        let lanes = self.lanes.len();
        let (msg, sig) = mutate(self.world, &orig, d.mutation.as_ref(), lanes, &self.chain());
        let topic = self.lanes[l].topic;
        let x = Delivered {
            mutated: msg != orig.bytes,
            resigned: d.mutation.as_ref().is_some_and(|m| m.seal != Seal::Keep),
            foreign: orig.topic != topic,
            signed_here: sig.is_some_and(|(_, t)| t == topic),
            orig,
            msg,
            sig,
        };
        let before = self.observe(l);
        let (unchanged, batch) = match Route::of(x.orig.kind, d.swap) {
            Route::Rekey => (self.deliver_rekey(l, &x), false),
            Route::Decode => (
                self.deliver_decode(l, &x, d),
                matches!(d.variant, Variant::Batch(_)),
            ),
            Route::ParseReply => (self.deliver_reply(l, &x), false),
            Route::Answer => {
                self.answer(l, &x.orig, &x.msg, x.sig, x.mutated);
                // Answering changes nothing of the group state.
                (true, false)
            }
        };
        // Whatever the outcome, the receiver is where the model is.
        self.check_state(l, "a delivery");
        // (A batch's second message may change what its first did not.)
        if unchanged && !batch {
            self.check_refusal(l, &x.orig, &before);
        }
    }

    /// A delivery to `accept_rekey`; `true` when it changed nothing.
    fn deliver_rekey(&mut self, l: usize, x: &Delivered) -> bool {
        let lane = &mut self.lanes[l];
        let expected = lane.model.accept_rekey(self.world, &x.msg, x.sig);
        let got = lane.receiver.accept_rekey(&x.msg);
        if x.mutated && !x.resigned {
            assert!(got.is_err(), "a mutated rekey was accepted: {got:?}");
        }
        // Nothing made for another topic is taken unless an admin signed it for this
        // one (which an admin may do with any bytes).
        if !x.signed_here {
            assert!(
                got.is_err(),
                "a rekey signed for topic {:?} was taken by topic {}: {got:?}",
                x.sig.map(|(_, t)| t),
                lane.topic
            );
        }
        assert_eq!(got, expected, "accept_rekey");
        !matches!(got, Ok(RekeyOutcome::Rotated { .. }))
    }

    /// A delivery to a decode call; `true` when it gave no message.
    fn deliver_decode(&mut self, l: usize, x: &Delivered, d: &Delivery) -> bool {
        let mode = MODES[usize::from(d.mode) % 3];
        let (msg, orig) = (&x.msg, &x.orig);
        // Whether this (sender, counter) was accepted before, asked before the model
        // records this delivery.
        let seen_before = msg.len() >= HEADER
            && self.lanes[l]
                .model
                .history
                .contains(&(id_at(msg, 7), be_u64(&msg[39..47])));
        let got = self.decode(l, msg, mode, d.variant, x.sig);
        let Outcome::Message {
            sender,
            verified,
            plaintext,
        } = &got
        else {
            return true;
        };
        assert!(
            !(x.foreign && orig.kind == V2Type::Message),
            "a message sealed for topic {} was read in topic {}",
            orig.topic,
            self.lanes[l].topic
        );
        if !x.mutated {
            assert_eq!(plaintext, &orig.plaintext, "the original plaintext");
        }
        if *verified {
            assert!(x.signed_here, "verified without a signature for this topic");
        }
        if x.mutated && !x.resigned {
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
        false
    }

    /// A delivery to `parse_reply`; `true` when it was refused.
    fn deliver_reply(&mut self, l: usize, x: &Delivered) -> bool {
        let lane = &mut self.lanes[l];
        let expected = lane.model.parse_reply(self.world, &x.msg, x.sig);
        let got = lane.receiver.parse_reply(&x.msg);
        if x.mutated && !x.resigned {
            assert!(got.is_err(), "a mutated reply was accepted: {got:?}");
        }
        if x.foreign || !x.signed_here {
            assert!(
                got.is_err(),
                "a reply made or signed for another topic was taken: {got:?}"
            );
        }
        compare_result(&got, expected, "parse_reply");
        got.is_err()
    }

    /// After a refusal of `orig` (as delivered): the topic is as it was `before` (key,
    /// epoch, members, admins, trust, floors, stored marks, stored group state), and
    /// the window did not move: the original message, probed with a naive decode
    /// (which checks the window and moves nothing), gets what the model says.
    fn check_refusal(&mut self, l: usize, orig: &Pooled, before: &Observed) {
        let after = self.observe(l);
        assert_eq!(*before, after, "a refusal changed the topic");
        if orig.kind == V2Type::Message {
            let lane = &mut self.lanes[l];
            let expected = lane.model.probe(self.world, &orig.bytes);
            let got = outcome(lane.receiver.decode(&orig.bytes, DecodeMode::Naive));
            match expected {
                Expect::Exactly(x) => assert_eq!(got, x, "the window after a refusal"),
                Expect::AnyErr => unreachable!("the pool holds v2 messages"),
            }
            self.check_state(l, "a probe");
        }
    }

    /// The receiver answers an introduction; a reply it makes is checked field by
    /// field and joins the pool (and the sender who introduced itself takes it).
    fn answer(&mut self, l: usize, orig: &Pooled, intro: &[u8], sig: Sig, mutated: bool) {
        let world = self.world;
        let bytes: [u8; 72] = self.receiver_rng(l);
        let lane = &mut self.lanes[l];
        let topic = lane.topic;
        let expected = lane.model.construct_reply(world, intro, sig);
        let got = lane
            .receiver
            .construct_reply_with(&mut TestRng::replay(&[&bytes]), intro)
            .map(|r| r.to_vec());
        let signed_here = sig.is_some_and(|(_, t)| t == topic);
        if !signed_here {
            assert!(
                got.is_err(),
                "an introduction not signed for this topic was answered"
            );
        }
        let reply = match (got, expected) {
            (Ok(reply), Expect::Exactly(Ok(()))) => reply,
            (Err(e), Expect::Exactly(Err(x))) => return assert_eq!(e, x, "construct_reply"),
            (Err(_), Expect::AnyErr) => return,
            (got, x) => panic!("construct_reply gave {got:?}, expected {x:?}"),
        };
        // The randomness: the session (once per instance), the X25519 secret, the
        // box nonce.
        let (session, secret, nonce) = match lane.session {
            Some(s) => (s, array32(&bytes[..32]), &bytes[32..56]),
            None => (
                bytes[..16].try_into().expect("16"),
                array32(&bytes[16..48]),
                &bytes[48..72],
            ),
        };
        lane.session = Some(session);
        check_own_header(lane, world, &reply, V2Type::Reply);
        let intro_secret = orig.secret.filter(|s| intro[79..111] == x25519_public(s));
        check_reply(
            world,
            &lane.model,
            intro,
            &reply,
            &secret,
            nonce,
            intro_secret,
        );
        let mut p = Pooled::new(reply.clone(), V2Type::Reply, US, topic);
        p.by_receiver = true;
        // The sender that introduced itself takes the reply.
        if !mutated && !orig.by_receiver && orig.topic == topic {
            if let Some(s) = lane.senders[orig.signer].as_mut() {
                if s.t.parse_reply(&reply).is_ok() {
                    s.epoch_id = s.t.epoch_id();
                }
            }
        }
        self.push(p);
    }

    /// Decodes through one variant, predicting with the model.
    fn decode(
        &mut self,
        l: usize,
        msg: &[u8],
        mode: DecodeMode,
        variant: Variant,
        sig: Sig,
    ) -> Outcome {
        let world = self.world;
        let ct_len = msg.len().saturating_sub(OVERHEAD);
        let short = matches!(variant, Variant::IntoShort) && ct_len > 0;
        if let Variant::Batch(second) = variant {
            let other = self.pooled(second);
            return self.decode_batch(l, msg, mode, sig, &other);
        }
        let lane = &mut self.lanes[l];
        let got = match variant {
            Variant::Decode => outcome(lane.receiver.decode(msg, mode)),
            Variant::InPlace => {
                let mut buf = msg.to_vec();
                let got = outcome(lane.receiver.decode_in_place(&mut buf, mode));
                if !matches!(got, Outcome::Message { .. }) {
                    assert_eq!(buf, msg, "a refused decode_in_place changed the buffer");
                }
                got
            }
            Variant::Into | Variant::IntoShort => {
                let mut out = vec![0u8; if short { ct_len - 1 } else { msg.len() }];
                outcome(lane.receiver.decode_into(msg, mode, &mut out))
            }
            Variant::Batch(_) => unreachable!("decoded as a batch above"),
        };
        let expected = lane.model.decode(world, msg, mode, sig, short);
        compare(&got, expected, "decode");
        got
    }

    /// `decode_batch` of `msg` and `other` (unedited), both predicted; the first's
    /// outcome.
    fn decode_batch(
        &mut self,
        l: usize,
        msg: &[u8],
        mode: DecodeMode,
        sig: Sig,
        other: &Pooled,
    ) -> Outcome {
        let world = self.world;
        let lane = &mut self.lanes[l];
        let mut batch = vec![msg.to_vec(), other.bytes.clone()];
        let got: Vec<Outcome> = lane
            .receiver
            .decode_batch(&mut batch, mode)
            .into_iter()
            .map(outcome)
            .collect();
        let first = lane.model.decode(world, msg, mode, sig, false);
        compare(&got[0], first, "decode_batch, first");
        let second = lane.model.decode(
            world,
            &other.bytes,
            mode,
            Some((other.signer, other.topic)),
            false,
        );
        compare(&got[1], second, "decode_batch, second");
        if other.topic != lane.topic && other.kind == V2Type::Message {
            assert!(
                !matches!(got[1], Outcome::Message { .. }),
                "batch: a foreign message"
            );
        }
        got[0].clone()
    }

    fn remove(&mut self, l: usize, i: usize) {
        let lane = &mut self.lanes[l];
        let id = self.world.cast[i].id;
        let got = lane.receiver.remove_participant(&id).expect("memory store");
        let m = &mut lane.model;
        assert_eq!(got, m.trusted.get(&id).copied(), "remove_participant");
        // "remove_participant removes admin rights" (saved first).
        if m.g.admins.remove(&id) {
            m.save();
        }
        m.trusted.remove(&id);
        self.check_state(l, "remove_participant");
    }

    fn trust(&mut self, l: usize, i: usize) {
        let lane = &mut self.lanes[l];
        let member = &self.world.cast[i];
        let got = lane.receiver.add_participant(member.public);
        assert_eq!(got.ok(), Some(member.id), "add_participant");
        lane.model.trusted.insert(member.id, member.public);
        self.check_state(l, "add_participant");
    }

    fn set_grace(&mut self, l: usize, g: u8) {
        let lane = &mut self.lanes[l];
        let g = u32::from(g % 4);
        lane.receiver.set_grace_messages(g).expect("memory store");
        let m = &mut lane.model.g;
        m.grace = g;
        if let Some(p) = &mut m.prev {
            p.remaining = p.remaining.min(g);
            if p.remaining == 0 {
                m.prev = None;
            }
        }
        lane.model.save();
        self.check_state(l, "set_grace_messages");
    }

    fn expire(&mut self, l: usize) {
        let lane = &mut self.lanes[l];
        lane.receiver.expire_previous_epoch().expect("memory store");
        if lane.model.g.prev.take().is_some() {
            lane.model.save();
        }
        self.check_state(l, "expire_previous_epoch");
    }

    fn backup(&mut self, l: usize, moved: bool) {
        let world = self.world;
        let lane = &mut self.lanes[l];
        let (bytes, exported) = if moved {
            let state = lane.receiver.export_group_state().expect("memory store");
            (state.to_bytes().to_vec(), lane.model.export_moved())
        } else {
            (
                lane.receiver.group_state().to_bytes().to_vec(),
                lane.model.export(),
            )
        };
        let state = GroupState::from_bytes(&bytes).expect("an export reads back");
        assert_eq!(*state.to_bytes(), bytes, "an export reads back as itself");
        let ids = watched(world, &lane.model);
        assert_eq!(
            stored_of(&state, &ids),
            stored_m(&lane.model.topic_id, &exported, &ids),
            "the export"
        );
        lane.backups.push((bytes, exported));
    }

    fn restore(&mut self, l: usize, pick: u8, fresh: bool) {
        let world = self.world;
        let lane = &mut self.lanes[l];
        if lane.backups.is_empty() {
            return;
        }
        let (bytes, exported) =
            lane.backups[lane.backups.len() - 1 - usize::from(pick) % lane.backups.len()].clone();
        let state = GroupState::from_bytes(&bytes).expect("an export reads back");
        if fresh {
            let mut t = T::with_store(
                SigningSeed::from_bytes(world.cast[US].seed),
                None,
                MemoryTrustStore::new(),
            );
            t.set_protocol(ProtocolVersion::V2);
            for key in lane.model.trusted.values() {
                t.add_participant(*key).expect("cast keys are valid");
            }
            t.restore_group_state(state)
                .expect("a topic without a topic id takes any state");
            lane.receiver = t;
            lane.session = None;
            lane.model
                .restore(&exported, true)
                .expect("a new instance takes any state");
            self.check_state(l, "a restore on a new store");
        } else {
            let before = self.observe(l);
            let lane = &mut self.lanes[l];
            let expected = lane.model.restore(&exported, false);
            let got = lane.receiver.restore_group_state(state);
            assert_eq!(got, expected, "restore_group_state");
            self.check_state(l, "a restore");
            if got.is_err() {
                assert_eq!(
                    self.observe(l),
                    before,
                    "a refused restore changed the topic"
                );
            }
        }
    }

    fn restart_receiver(&mut self, l: usize, exact: bool) {
        let world = self.world;
        let lane = &mut self.lanes[l];
        if exact {
            lane.receiver.save_replay_marks().expect("memory store");
            for (id, w) in &lane.model.windows {
                if let Some(top) = w.top {
                    lane.model.marks.insert(*id, top.saturating_add(1));
                }
            }
            self.check_state(l, "save_replay_marks");
        }
        let lane = &mut self.lanes[l];
        let store = take_store(&mut lane.receiver);
        lane.receiver = resume_topic(world, US, lane.topic, store);
        lane.model.restart();
        lane.session = None;
        self.check_state(l, "a restart");
    }

    /// At the end: each trusted sender in step with the receiver sends once more,
    /// and the receiver reads it if the model says its window allows.
    fn finish(&mut self) {
        for l in 0..self.lanes.len() {
            for i in 1..CAST {
                let lane = &self.lanes[l];
                let Some(s) = &lane.senders[i] else { continue };
                let m = &lane.model;
                let id = self.world.cast[i].id;
                let in_step = s.t.epoch() == m.g.cur.epoch
                    && s.epoch_id == m.g.cur.id
                    && s.t.topic_key().map(|k| *k.expose_secret()) == m.g.cur.key
                    && m.g.cur.lists(&id)
                    && m.trusted.get(&id) == Some(&self.world.cast[i].public);
                if !in_step {
                    continue;
                }
                let before = self.pool.len();
                self.send(l, i, b"a fresh message");
                if self.pool.len() == before {
                    continue;
                }
                let fresh = self.pool[before].clone();
                let counter = be_u64(&fresh.bytes[39..47]);
                let window_allows = self.lanes[l].model.window(&id).check(counter).is_ok();
                let got = self.decode(
                    l,
                    &fresh.bytes,
                    DecodeMode::Strict,
                    Variant::Decode,
                    Some((i, fresh.topic)),
                );
                if window_allows {
                    assert!(
                        matches!(&got, Outcome::Message { plaintext, .. } if plaintext == b"a fresh message"),
                        "a fresh message from {i} was refused: {got:?}"
                    );
                }
                self.check_state(l, "a fresh message");
            }
        }
    }

    /// Runs one action on lane `l`.
    pub(crate) fn run(&mut self, l: usize, action: &Action) {
        let l = l % self.lanes.len();
        let world = self.world;
        match action {
            Action::Send { sender, plaintext } => {
                self.send(l, usize::from(*sender) % CAST, plaintext)
            }
            Action::Deliver(d) => self.deliver(l, d),
            Action::Rotate {
                admin,
                members,
                reach,
            } => self.rotate(l, usize::from(*admin) % CAST, *members, *reach),
            Action::RestartSender(i) => {
                let seed = self.seed;
                self.sender(l, usize::from(*i) % CAST).restart(world, seed);
            }
            Action::RestartReceiver { exact } => self.restart_receiver(l, *exact),
            Action::ExpirePrevious => self.expire(l),
            Action::Introduce => self.introduce(l),
            Action::SenderIntroduce(i) => self.sender_introduce(l, usize::from(*i) % CAST),
            Action::Reply { replier, pick } => {
                self.sender_reply(l, usize::from(*replier) % CAST, *pick)
            }
            Action::Remove(i) => self.remove(l, usize::from(*i) % CAST),
            Action::Trust(i) => self.trust(l, usize::from(*i) % CAST),
            Action::Grace(g) => self.set_grace(l, *g),
            Action::Backup { moved } => self.backup(l, *moved),
            Action::Forget => {
                let lane = &mut self.lanes[l];
                lane.receiver.forget_epoch().expect("memory store");
                lane.model.forget();
                self.check_state(l, "forget_epoch");
            }
            Action::Restore { pick, fresh } => self.restore(l, *pick, *fresh),
        }
    }

    pub(crate) fn end(mut self) {
        self.finish();
    }
}

/// The header of a message the receiver made: its epoch, id and session, and a
/// counter above the last one and below its stored mark.
fn check_own_header(lane: &mut Lane, world: &World, msg: &[u8], t: V2Type) {
    assert_eq!(msg[..3], [0x02, t.byte(), 0x01]);
    assert_eq!(
        be_u32(&msg[3..7]),
        lane.model.g.cur.epoch,
        "the epoch in the header"
    );
    assert_eq!(&msg[7..23], world.cast[US].id.as_bytes());
    assert_eq!(Some(&msg[23..39]), lane.session.as_ref().map(|s| &s[..]));
    let counter = be_u64(&msg[39..47]);
    if let Some(last) = lane.last {
        assert!(counter > last, "the receiver's counter went backwards");
    }
    lane.last = Some(counter);
    let mark = lane
        .receiver
        .trust_store()
        .load_mark(&MarkSlot::OwnCounter)
        .expect("memory store")
        .unwrap_or(0);
    assert!(
        counter < mark,
        "the receiver's counter is not covered by its mark"
    );
    assert!(signed_by(&world.cast[US], &world.topics[lane.topic], msg));
}

/// The body of a rekey to `epoch` made by a sender: the epoch it follows
/// (`previous`), the admin's X25519 key, the members `listed` (the admin included) in
/// id order, each entry sealed to the member's static key; one entry, chosen by the
/// counter, is opened here to `new_key` (the receiver's is opened by the model when it
/// is delivered, and the reached senders' by the core: their new key is checked).
fn check_rekey_body(
    world: &World,
    rekey: &[u8],
    listed: &[ParticipantId],
    previous: &[u8; 32],
    epoch: u32,
    new_key: &[u8; 32],
) {
    let mut ids = listed.to_vec();
    ids.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    ids.dedup();
    assert_eq!(rekey.len(), REKEY_FIXED + ENTRY * ids.len());
    assert_eq!(
        rekey[K_PREVIOUS..K_EPH],
        *previous,
        "the rekey names the epoch it follows"
    );
    assert_eq!(
        usize::from(u16::from_be_bytes([rekey[K_COUNT], rekey[K_COUNT + 1]])),
        ids.len()
    );
    let pick = (be_u64(&rekey[39..47]) % ids.len() as u64) as usize;
    for (index, (entry, id)) in rekey[K_ENTRIES..rekey.len() - SIG]
        .chunks(ENTRY)
        .zip(&ids)
        .enumerate()
    {
        assert_eq!(&entry[..16], id.as_bytes(), "entry {index}");
        if index == pick {
            let m = &world.cast[world.by_id(id.as_bytes()).expect("a cast member")];
            let opened = box_open(
                &rekey[K_EPH..K_COUNT],
                &m.static_secret,
                &rekey_entry_nonce(epoch, index),
                &entry[16..],
            );
            assert_eq!(opened, Some(*new_key), "entry {index} opens to the new key");
        }
    }
}

/// A reply made by `model`'s topic to `intro`, field by field.
fn check_reply(
    world: &World,
    model: &Model,
    intro: &[u8],
    reply: &[u8],
    secret: &[u8; 32],
    nonce: &[u8],
    intro_secret: Option<[u8; 32]>,
) {
    let counter = be_u64(&reply[39..47]);
    let floors = model.reply_floors(counter);
    let (listed, handed) = reply_lists(reply);
    let handed_map: BTreeMap<ParticipantId, u64> = handed.iter().copied().collect();
    model.check_covered(&handed_map, false, "the floors a reply hands over");
    let cur = &model.g.cur;
    // The epoch's member list as the replier holds it, in id order.
    let mut members: Vec<[u8; 16]> = cur
        .members
        .iter()
        .flatten()
        .map(|m| *m.as_bytes())
        .collect();
    members.sort();
    assert_eq!(
        reply.len(),
        REPLY_FIXED + 16 * members.len() + FLOOR * floors.len(),
        "the reply's length"
    );
    assert_eq!(be_u32(&reply[3..7]), cur.epoch);
    assert_eq!(
        reply[R_RECIPIENT..R_DIGEST],
        intro[7..23],
        "for the newcomer"
    );
    assert_eq!(
        reply[R_DIGEST..R_EPOCH_ID],
        blake3::derive_key(INTRO_CONTEXT, intro),
        "bound to the introduction"
    );
    assert_eq!(reply[R_EPOCH_ID..R_PARENT], cur.id, "the epoch id");
    assert_eq!(
        reply[R_PARENT..R_STARTER],
        cur.parent.unwrap_or([0; 32]),
        "the parent epoch"
    );
    assert_eq!(
        reply[R_STARTER..R_IDENTITY],
        cur.starter.map_or([0; 16], |s| *s.as_bytes()),
        "the epoch's starter"
    );
    let me = &world.cast[model.who];
    assert_eq!(&reply[R_IDENTITY..R_EPH], me.public.as_bytes());
    assert_eq!(
        reply[R_EPH..R_NONCE],
        x25519_public(secret),
        "the drawn X25519 key"
    );
    assert_eq!(&reply[R_NONCE..R_SEALED], nonce, "the drawn nonce");
    if let Some(s) = intro_secret {
        assert_eq!(
            box_open(
                &reply[R_EPH..R_NONCE],
                &s,
                &reply[R_NONCE..R_SEALED],
                &reply[R_SEALED..R_MEMBER_COUNT]
            ),
            cur.key,
            "the box opens to the replier's key"
        );
    }
    assert_eq!(
        reply[R_MEMBER_COUNT..R_MEMBERS],
        (members.len() as u16).to_be_bytes(),
        "the member count"
    );
    let listed: Vec<[u8; 16]> = listed.iter().map(|m| *m.as_bytes()).collect();
    assert_eq!(listed, members, "the member list");
    let at = reply_floor_count_at(reply);
    assert_eq!(
        reply[at..at + 2],
        (floors.len() as u16).to_be_bytes(),
        "the floor count"
    );
    for (i, ((id, floor), (x_id, x_floor))) in handed.iter().zip(&floors).enumerate() {
        assert_eq!(id.as_bytes(), x_id, "floor {i}'s sender");
        assert_eq!(floor, x_floor, "floor {i}");
    }
    assert!(
        signed_by(me, &model.topic_id, reply),
        "signed for its topic"
    );
}

fn compare(got: &Outcome, expected: Expect<Outcome>, what: &str) {
    match expected {
        Expect::Exactly(x) => assert_eq!(*got, x, "{what}"),
        Expect::AnyErr => assert!(matches!(got, Outcome::Err(_)), "{what}: {got:?}"),
    }
}

/// A discovery call's result against its prediction.
fn compare_result<X: PartialEq + std::fmt::Debug>(
    got: &Result<X, Error>,
    expected: Expect<Result<X, Error>>,
    what: &str,
) {
    match (got, expected) {
        (Ok(got), Expect::Exactly(Ok(x))) => assert_eq!(*got, x, "{what}"),
        (Err(e), Expect::Exactly(Err(x))) => assert_eq!(*e, x, "{what}"),
        (Err(_), Expect::AnyErr) => {}
        (got, x) => panic!("{what} gave {got:?}, expected {x:?}"),
    }
}

fn check_traffic(world: &World, case: &TrafficCase) {
    let mut t = Traffic::new(
        world,
        &[0],
        case.receiver_has_key,
        case.grace,
        case.seed,
        case.starts,
    );
    for action in &case.prelude.actions() {
        t.run(0, action);
    }
    for action in case.actions.iter().take(32) {
        t.run(0, action);
    }
    t.end();
}

// ----- the Discovery scenario -----------------------------------------------------------------

/// Which introduction, if any, the joiner is waiting on when the reply comes.
#[derive(Arbitrary, Debug)]
pub enum Pending {
    /// The one it sent.
    Sent,
    /// A later v2 one, with this ephemeral secret, replaced it.
    Replaced([u8; 32]),
    /// A later classic one, with this ephemeral secret, retired it.
    ReplacedClassic([u8; 32]),
    /// The one it sent, kept across a restart on its store.
    Restarted,
    /// None: the reply reaches a fresh topic with the joiner's identity.
    Forgotten,
}

/// Discovery between participant 4 (joiner) and participant 0 (replier).
#[derive(Arbitrary, Debug)]
pub struct DiscoveryCase {
    /// The replier rotates this many times (`% 3`) before answering.
    rotations: u8,
    /// The rotations list admins 1 and 2 only (and the replier), not the joiner.
    leave_joiner_out: bool,
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
    /// A classic joiner and a replier in `ProtocolVersion::Both`: the classic
    /// introduction is answered only when membership allows.
    classic: bool,
}

/// The two parties to discovery.
#[derive(Clone, Copy)]
enum Party {
    /// Participant 0, in `Both` when the joiner is classic.
    Replier,
    /// Participant 4, a new device.
    Joiner,
}

/// A party to discovery as the case sets it up, on the first topic (V2, or the
/// classic case's setting), holding its key if it has one, trusting participants 1
/// and 2 and perhaps the other party; and its model.
fn discovery_topic(world: &World, case: &DiscoveryCase, party: Party) -> (T, Model) {
    let (who, key, classic_setting, also) = match party {
        Party::Replier => (
            US,
            case.replier_has_key.then_some(KEY),
            ProtocolVersion::Both,
            case.replier_trusts_joiner.then_some(MEMBER),
        ),
        Party::Joiner => (
            MEMBER,
            case.joiner_has_key.then_some(OLD_KEY),
            ProtocolVersion::Classic,
            case.joiner_trusts_replier.then_some(US),
        ),
    };
    let protocol = if case.classic {
        classic_setting
    } else {
        ProtocolVersion::V2
    };
    let mut t = T::new(
        SigningSeed::from_bytes(world.cast[who].seed),
        key.map(TopicKey::from_bytes),
    );
    t.set_protocol(protocol);
    t.set_topic_id(world.topic_id(0))
        .expect("a fresh topic takes a topic id");
    let trusted: Vec<usize> = [1, 2].into_iter().chain(also).collect();
    for &i in &trusted {
        t.add_participant(world.cast[i].public)
            .expect("cast keys are valid");
    }
    let mut model = Model::new(world, 0, who, key, &trusted, &[], DEFAULT_GRACE, 1);
    model.protocol = protocol;
    (t, model)
}

/// The replier's rotations, each checked and followed by its model; the epochs they
/// start join `chain`.
fn replier_rotations(
    world: &World,
    case: &DiscoveryCase,
    r: &mut Replier,
    chain: &mut Vec<[u8; 32]>,
) {
    let (replier, rm, rng) = (&mut r.t, &mut r.model, &mut r.rng);
    let me = world.cast[US].id;
    for _ in 0..case.rotations % 3 {
        let members: Option<Vec<ParticipantId>> = case
            .leave_joiner_out
            .then(|| vec![world.cast[1].id, world.cast[2].id]);
        match replier.rotate_with(rng, members.as_deref()) {
            Ok(rekey) => {
                assert!(case.replier_has_key, "rotated without being an admin");
                r.drawn = true;
                let mut listed: BTreeSet<ParticipantId> = match &members {
                    Some(m) => m.iter().copied().collect(),
                    None => rm.trusted.keys().copied().collect(),
                };
                listed.insert(me);
                let epoch = rm.g.cur.epoch + 1;
                assert_eq!(be_u32(&rekey[3..7]), epoch);
                assert_eq!(rekey[K_PREVIOUS..K_EPH], rm.g.cur.id, "follows its epoch");
                assert!(signed_by(&world.cast[US], &rm.topic_id, &rekey));
                let entries: Vec<&[u8]> =
                    rekey[K_ENTRIES..rekey.len() - SIG].chunks(ENTRY).collect();
                let ids: BTreeSet<ParticipantId> = entries.iter().map(|e| id_at(e, 0)).collect();
                assert_eq!(ids, listed, "the rekey lists the members");
                let index = entries
                    .iter()
                    .position(|e| e[..16] == *me.as_bytes())
                    .expect("the admin lists itself");
                let key = box_open(
                    &rekey[K_EPH..K_COUNT],
                    &world.cast[US].static_secret,
                    &rekey_entry_nonce(epoch, index),
                    &entries[index][16..],
                )
                .expect("its own entry opens");
                let id = blake3::derive_key(EPOCH_CONTEXT, &rekey);
                let parent = rm.g.cur.id;
                rm.enter(epoch, id, parent, me, key, listed, true);
                chain.push(id);
            }
            Err(e) => {
                assert!(!case.replier_has_key, "rotate: {e:?}");
                assert!(
                    matches!(e, Error::NotAnAdmin(id) if id == me),
                    "rotate: {e:?}"
                );
            }
        }
        check_model(world, replier, rm, "a rotation");
    }
}

/// A classic joiner and a replier in `Both`: membership applies to the classic
/// introduction too.
fn check_classic_discovery(world: &World, case: &DiscoveryCase, r: &mut Replier) {
    let (replier, rm) = (&mut r.t, &r.model);
    let (mut joiner, _) = discovery_topic(world, case, Party::Joiner);
    let intro = joiner
        .construct_intro_with(&mut TestRng::replay(&[&case.intro_randomness]))
        .expect("a classic introduction")
        .to_vec();
    assert_eq!(
        intro[0], b'i',
        "a classic topic introduces itself in the classic format"
    );
    let joiner_id = world.cast[MEMBER].id;
    let expected = if !case.replier_trusts_joiner {
        Some(Error::UntrustedSender(joiner_id))
    } else if !rm.g.cur.lists(&joiner_id) {
        Some(Error::NotAMember(joiner_id))
    } else if !case.replier_has_key {
        Some(Error::MissingTopicKey)
    } else {
        None
    };
    let got = replier
        .construct_reply_with(&mut r.rng, &intro)
        .map(|reply| reply.to_vec());
    let reply = match (got, expected) {
        (Ok(reply), None) => reply,
        (Err(e), Some(x)) => return assert_eq!(e, x, "classic construct_reply"),
        (got, x) => panic!("classic construct_reply gave {got:?}, expected {x:?}"),
    };
    let got = joiner.parse_reply(&reply).expect("the classic reply opens");
    assert_eq!(got, world.cast[US].public);
    assert_eq!(
        joiner.topic_key().map(|k| *k.expose_secret()),
        rm.g.cur.key,
        "the classic joiner holds the replier's key"
    );
    // The key and the end of the introduction are group state: a restart keeps them.
    let store = take_store(&mut joiner);
    let restarted = resume_topic(world, MEMBER, 0, store);
    assert_eq!(
        restarted.topic_key().map(|k| *k.expose_secret()),
        rm.g.cur.key,
        "a restart lost the key a classic reply installed"
    );
    assert!(
        !restarted.has_pending_introduction(),
        "a restart reopened an answered classic introduction"
    );
}

/// The replier of a discovery case (participant 0, trusting 1, 2 and perhaps the
/// joiner): its topic, its model and its randomness.
struct Replier {
    t: T,
    model: Model,
    rng: TestRng,
    /// Its session has been drawn (an instance's first draw starts with it).
    drawn: bool,
}

impl Replier {
    fn new(world: &World, case: &DiscoveryCase) -> Replier {
        let (t, model) = discovery_topic(world, case, Party::Replier);
        check_model(world, &t, &model, "the replier's start");
        Replier {
            t,
            model,
            rng: TestRng::seeded_by(&[&[case.seed, 0xd1]]),
            drawn: false,
        }
    }

    /// Answers `intro` (which carries `sig`), made from the joiner's introduction with
    /// the ephemeral secret `joiner_secret`: the reply, checked field by field, or
    /// `None` when refused as the model predicts.
    fn answer(
        &mut self,
        world: &World,
        intro: &[u8],
        sig: Sig,
        joiner_secret: [u8; 32],
    ) -> Option<Vec<u8>> {
        let bytes: [u8; 72] = self.rng.array();
        let rm = &self.model;
        let before = observe(&self.t, &watched(world, rm));
        let expected = rm.construct_reply(world, intro, sig);
        let got = self
            .t
            .construct_reply_with(&mut TestRng::replay(&[&bytes]), intro)
            .map(|r| r.to_vec());
        assert_eq!(
            observe(&self.t, &watched(world, rm)),
            before,
            "construct_reply changed the replier's group state"
        );
        let reply = match (got, expected) {
            (Ok(reply), Expect::Exactly(Ok(()))) => reply,
            (Err(e), Expect::Exactly(Err(x))) => {
                assert_eq!(e, x, "construct_reply");
                return None;
            }
            (Err(_), Expect::AnyErr) => return None,
            (got, x) => panic!("construct_reply gave {got:?}, expected {x:?}"),
        };
        let (secret, nonce) = if self.drawn {
            (array32(&bytes[..32]), &bytes[32..56])
        } else {
            (array32(&bytes[16..48]), &bytes[48..72])
        };
        self.drawn = true;
        assert_eq!(reply[..3], [0x02, b'r', 0x01]);
        assert_eq!(&reply[7..23], world.cast[US].id.as_bytes());
        let intro_secret = Some(joiner_secret).filter(|s| intro[79..111] == x25519_public(s));
        check_reply(world, rm, intro, &reply, &secret, nonce, intro_secret);
        Some(reply)
    }
}

fn check_discovery(world: &World, case: &DiscoveryCase) {
    let mut replier = Replier::new(world, case);
    let mut chain = world.first.to_vec();
    replier_rotations(world, case, &mut replier, &mut chain);
    if case.classic {
        return check_classic_discovery(world, case, &mut replier);
    }
    let (mut joiner, mut jm, intro, secret) = joiner_introduces(world, case);
    // Decode hands an introduction back.
    assert!(matches!(
        replier.t.decode(&intro, DecodeMode::Strict),
        Err(Error::Introduction)
    ));

    // The replier answers the (mutated) introduction.
    let mut orig = Pooled::new(intro.clone(), V2Type::Introduction, MEMBER, 0);
    orig.secret = Some(secret);
    let (edited, sig) = mutate(world, &orig, case.intro_mutation.as_ref(), 1, &chain);
    let mut reply = replier.answer(world, &edited, sig, secret);
    if reply.is_none() && edited != intro {
        reply = replier.answer(world, &intro, Some((MEMBER, 0)), secret);
    }
    let Some(reply) = reply else { return };
    assert!(matches!(
        joiner.decode(&reply, DecodeMode::Naive),
        Err(Error::IntroductionReply)
    ));
    if joiner_takes_reply(world, case, (&mut joiner, &mut jm), &reply, &chain) {
        check_joiner_reads(world, &mut replier, &mut joiner, &mut jm);
    }
}

/// The joiner's introduction, checked independently, then the introduction it waits
/// on as the case says: the joiner, its model, the introduction sent and its
/// ephemeral secret.
fn joiner_introduces(world: &World, case: &DiscoveryCase) -> (T, Model, Vec<u8>, [u8; 32]) {
    let (mut joiner, mut jm) = discovery_topic(world, case, Party::Joiner);
    let intro = joiner
        .construct_intro_with(&mut TestRng::replay(&[&case.intro_randomness]))
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
    assert_eq!(intro[79..111], x25519_public(&secret));
    assert!(signed_by(&world.cast[MEMBER], &world.topics[0], &intro));
    jm.g.pending = Some((blake3::derive_key(INTRO_CONTEXT, &intro), secret));
    jm.save();
    check_model(world, &joiner, &jm, "the introduction");
    pend(world, case, &mut joiner, &mut jm);
    check_model(world, &joiner, &jm, "the joiner's pending introduction");
    (joiner, jm, intro, secret)
}

/// What the joiner waits on when the reply comes (`case.pending`), after sending its
/// introduction.
fn pend(world: &World, case: &DiscoveryCase, joiner: &mut T, jm: &mut Model) {
    match &case.pending {
        Pending::Sent => {}
        Pending::Replaced(s) => {
            let second = joiner
                .construct_intro_with(&mut TestRng::replay(&[s]))
                .expect("intro");
            jm.g.pending = Some((blake3::derive_key(INTRO_CONTEXT, &second), *s));
            jm.save();
        }
        Pending::ReplacedClassic(s) => {
            joiner.set_protocol(ProtocolVersion::Classic);
            let classic = joiner
                .construct_intro_with(&mut TestRng::replay(&[s]))
                .expect("a classic intro");
            assert_eq!(classic[0], b'i');
            joiner.set_protocol(ProtocolVersion::V2);
            // "A new introduction of either format retires the older pending one."
            jm.g.pending = None;
            jm.g.classic = true;
            jm.save();
        }
        Pending::Restarted => {
            let store = take_store(joiner);
            *joiner = resume_topic(world, MEMBER, 0, store);
            jm.restart();
        }
        Pending::Forgotten => (*joiner, *jm) = discovery_topic(world, case, Party::Joiner),
    }
}

/// The joiner opens the (mutated) `reply`; after a refusal, the reply as sent (and,
/// if the case says so, once more after trusting the replier). Whether it took one.
fn joiner_takes_reply(
    world: &World,
    case: &DiscoveryCase,
    (joiner, jm): (&mut T, &mut Model),
    reply: &[u8],
    chain: &[[u8; 32]],
) -> bool {
    let orig = Pooled::new(reply.to_vec(), V2Type::Reply, US, 0);
    let (edited, sig) = mutate(world, &orig, case.reply_mutation.as_ref(), 1, chain);
    let mutated = edited != reply
        && case
            .reply_mutation
            .as_ref()
            .is_some_and(|m| m.seal == Seal::Keep);
    let mut accepted = parse(joiner, jm, world, &edited, sig, mutated);
    if !accepted && edited != reply {
        // A refusal changed nothing: the reply as sent is judged as if first.
        accepted = parse(joiner, jm, world, reply, Some((US, 0)), false);
    }
    if !accepted && case.trust_later {
        let key = world.cast[US].public;
        if jm.trusted.get(&world.cast[US].id) != Some(&key) {
            joiner.add_participant(key).expect("cast keys are valid");
            jm.trusted.insert(world.cast[US].id, key);
            accepted = parse(joiner, jm, world, reply, Some((US, 0)), false);
        }
    }
    accepted
}

/// The joiner, having taken a reply, reads the replier's messages in the epoch it is
/// in now.
fn check_joiner_reads(world: &World, replier: &mut Replier, joiner: &mut T, jm: &mut Model) {
    let wire = replier
        .t
        .encode_with_rng(&mut replier.rng, b"welcome")
        .expect("encode");
    // (A floor the reply carries for the replier itself, re-signed by it, may be
    // above the message's counter.)
    let window_allows = jm
        .window(&world.cast[US].id)
        .check(be_u64(&wire[39..47]))
        .is_ok();
    let expected = jm.decode(world, &wire, DecodeMode::Naive, Some((US, 0)), false);
    let got = outcome(joiner.decode(&wire, DecodeMode::Naive));
    compare(&got, expected, "the replier's message to the joiner");
    let rm = &replier.model;
    if jm.g.cur.id == rm.g.cur.id && jm.g.cur.key == rm.g.cur.key && window_allows {
        assert!(
            matches!(&got, Outcome::Message { plaintext, .. } if plaintext == b"welcome"),
            "the joiner cannot read the replier: {got:?}"
        );
    }
}

/// `parse_reply` on the joiner against the prediction: whether it was accepted.
fn parse(
    joiner: &mut T,
    jm: &mut Model,
    world: &World,
    reply: &[u8],
    sig: Sig,
    mutated: bool,
) -> bool {
    let before = observe(joiner, &watched(world, jm));
    let expected = jm.parse_reply(world, reply, sig);
    let got = joiner.parse_reply(reply);
    if mutated {
        assert!(got.is_err(), "a mutated reply was accepted: {got:?}");
    }
    compare_result(&got, expected, "parse_reply");
    let after = check_model(world, joiner, jm, "parse_reply");
    if got.is_err() {
        assert_eq!(after, before, "a refused reply changed the joiner");
    }
    got.is_ok()
}

/// Runs one fuzz case.
pub fn check(scenario: &Scenario) {
    with_world(|world| match scenario {
        Scenario::Traffic(case) => check_traffic(world, case),
        Scenario::Discovery(case) => check_discovery(world, case),
    });
}
