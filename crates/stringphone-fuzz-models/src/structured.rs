//! `structured`: valid messages of each type, then chosen edits, against an oracle.
//!
//! Random bytes almost never carry a valid signature, so a byte-level fuzzer stops
//! at the signature check. Here the fuzzer picks *who* signs (a cast of four
//! participants whose keys the harness holds), what, and which fields to change
//! afterwards, and may re-sign the edited message with any cast member's key; so
//! it reaches the topic cipher, the discovery box and the checks between them.
//!
//! The oracle predicts every outcome from the bytes and the cast alone: a signature
//! is valid exactly when it is the (deterministic) signature of the key the message
//! names, since nobody without a private key can make another; a box opens exactly
//! when its nonce, tag and ciphertext are the sealer's and both ends compute the
//! same X25519 secret.
//!
//! The cast: participant `i` has seed `[i + 1; 32]`. Participant 0 is "us" (the
//! receiver and the replier) and trusts 1 and 2; 3 is a stranger.

use std::cell::RefCell;

use arbitrary::Arbitrary;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::Signer;
use stringphone_core::reexports::aead::{AeadInPlace, KeyInit};
use stringphone_core::wire::MessageType;
use stringphone_core::{Backend, DecodeMode, Error, ParticipantId, PublicKey, TopicKey};
use stringphone_testkit::TestRng;

use crate::edit;
use crate::raw::{
    check_batch, decode_all_variants, refused_v2, snapshot, topic, v2_framing, Outcome, B, T,
};

const CAST: usize = 4;
/// The topic key of the cast.
const TOPIC_KEY: [u8; 32] = [0x4b; 32];
/// Another key, for messages sealed under the wrong one.
const WRONG_KEY: [u8; 32] = [0x77; 32];
/// The key a joiner may already hold before discovery.
const OLD_KEY: [u8; 32] = [0x01; 32];

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub enum Scenario {
    /// A simple message, decoded by participant 0.
    Simple(SimpleCase),
    /// An introduction, the reply to it, and the joiner opening the reply.
    Discovery(DiscoveryCase),
}

/// A simple message from cast member `sender % 4`.
#[derive(Arbitrary, Debug)]
pub struct SimpleCase {
    sender: u8,
    sealed_with_wrong_key: bool,
    receiver_has_key: bool,
    nonce: [u8; 24],
    plaintext: Vec<u8>,
    edits: Vec<Edit<SimpleField>>,
    /// Re-sign the edited message as this cast member (`% 4`).
    resign_as: Option<u8>,
}

/// The fields of a simple message.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SimpleField {
    /// The type byte, `s`.
    Type,
    /// The sender's Ed25519 signature.
    Signature,
    /// The sender's participant id.
    SenderId,
    /// The secretbox nonce.
    Nonce,
    /// The secretbox's Poly1305 tag.
    Mac,
    /// The ciphertext (to the end of the message).
    Ciphertext,
}

/// The fields of an introduction.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum IntroField {
    /// The type byte, `i`.
    Type,
    /// The newcomer's Ed25519 key.
    SenderKey,
    /// Its signature over the X25519 key.
    Signature,
    /// The ephemeral X25519 key.
    EncryptionKey,
}

/// The fields of a reply.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ReplyField {
    /// The type byte, `r`.
    Type,
    /// The newcomer's participant id.
    RecipientId,
    /// The box's nonce.
    Nonce,
    /// The box's Poly1305 tag.
    Mac,
    /// The topic key, sealed.
    SealedKey,
    /// The replier's ephemeral X25519 key.
    EncryptionKey,
    /// The replier's Ed25519 key.
    SenderKey,
}

/// Where each field lies in a message of its type.
pub trait Layout: Copy {
    /// The byte range of the field (the last field of a simple message runs on).
    fn range(self, len: usize) -> (usize, usize);
}

impl Layout for SimpleField {
    fn range(self, len: usize) -> (usize, usize) {
        match self {
            SimpleField::Type => (0, 1),
            SimpleField::Signature => (1, 65),
            SimpleField::SenderId => (65, 81),
            SimpleField::Nonce => (81, 105),
            SimpleField::Mac => (105, 121),
            SimpleField::Ciphertext => (121, len.max(121)),
        }
    }
}

impl Layout for IntroField {
    fn range(self, _: usize) -> (usize, usize) {
        match self {
            IntroField::Type => (0, 1),
            IntroField::SenderKey => (1, 33),
            IntroField::Signature => (33, 97),
            IntroField::EncryptionKey => (97, 129),
        }
    }
}

impl Layout for ReplyField {
    fn range(self, _: usize) -> (usize, usize) {
        match self {
            ReplyField::Type => (0, 1),
            ReplyField::RecipientId => (1, 17),
            ReplyField::Nonce => (17, 41),
            ReplyField::Mac => (41, 57),
            ReplyField::SealedKey => (57, 89),
            ReplyField::EncryptionKey => (89, 121),
            ReplyField::SenderKey => (121, 153),
        }
    }
}

/// A change to a message.
#[derive(Arbitrary, Debug)]
pub enum Edit<F> {
    /// Flip one bit of a field.
    Flip {
        /// The field.
        field: F,
        /// The byte, modulo the field's length.
        index: u16,
        /// The bit, `% 8`.
        bit: u8,
    },
    /// Set one byte of a field.
    Set {
        /// The field.
        field: F,
        /// The byte, modulo the field's length.
        index: u16,
        /// Its new value.
        value: u8,
    },
    /// Overwrite a field from its start with these bytes (as many as fit).
    Overwrite {
        /// The field.
        field: F,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Put cast member `% 4`'s id (or key: the field decides) into a field of 16
    /// (or 32) bytes.
    Cast {
        /// The field.
        field: F,
        /// The cast member, `% 4`.
        member: u8,
    },
    /// Drop bytes from the end.
    Truncate(u16),
    /// Append bytes.
    Append(Vec<u8>),
}

struct Member {
    seed: [u8; 32],
    signer: ed25519_dalek::SigningKey,
    public: PublicKey,
    id: ParticipantId,
}

struct World {
    cast: Vec<Member>,
    /// Participant 0 with the topic key, trusting 1 and 2; and without the key.
    /// (Topics are `RefCell`s: decoding and encoding move v2 counters and windows.)
    us: [RefCell<T>; 2],
    /// Each member sealing with the topic key, and with the wrong key.
    senders: Vec<[RefCell<T>; 2]>,
    /// A message from member 1 that participant 0 accepts.
    valid: Vec<u8>,
}

impl World {
    fn new() -> World {
        let cast: Vec<Member> = (0..CAST)
            .map(|i| {
                let seed = [i as u8 + 1; 32];
                let signer = ed25519_dalek::SigningKey::from_bytes(&seed);
                let public = PublicKey::from_bytes(signer.verifying_key().to_bytes());
                Member {
                    seed,
                    signer,
                    public,
                    id: B::participant_id(&public),
                }
            })
            .collect();
        let build = |key: Option<[u8; 32]>| {
            let mut t = topic(cast[0].seed, key, &[]);
            for m in &cast[1..3] {
                t.add_participant(m.public).expect("cast key is valid");
            }
            t
        };
        let us = [
            RefCell::new(build(Some(TOPIC_KEY))),
            RefCell::new(build(None)),
        ];
        let senders: Vec<[RefCell<T>; 2]> = cast
            .iter()
            .map(|m| {
                [
                    RefCell::new(topic(m.seed, Some(TOPIC_KEY), &[])),
                    RefCell::new(topic(m.seed, Some(WRONG_KEY), &[])),
                ]
            })
            .collect();
        for (m, t) in cast.iter().zip(&senders) {
            assert_eq!(
                t[0].borrow().public_key(),
                m.public,
                "core and dalek derive one key"
            );
        }
        let valid = senders[1][0]
            .borrow_mut()
            .encode_with_rng(&mut TestRng::replay(&[&[3; 24]]), b"a good message")
            .expect("encode");
        World {
            cast,
            us,
            senders,
            valid,
        }
    }

    fn member(&self, i: u8) -> &Member {
        &self.cast[usize::from(i) % CAST]
    }

    /// The cast member holding this public key.
    fn by_key(&self, key: &[u8]) -> Option<&Member> {
        self.cast.iter().find(|m| m.public.as_bytes() == key)
    }
}

thread_local! {
    static WORLD: World = World::new();
}

fn apply<F: Layout>(world: &World, msg: &mut Vec<u8>, edit: &Edit<F>) {
    let len = msg.len();
    // The part of the field that the message still has.
    let span = |field: F| {
        let (start, end) = field.range(len);
        (start.min(len), end.min(len))
    };
    match edit {
        Edit::Flip { field, index, bit } => edit::flip(msg, span(*field), *index, *bit),
        Edit::Set {
            field,
            index,
            value,
        } => edit::set(msg, span(*field), *index, *value),
        Edit::Overwrite { field, bytes } => edit::overwrite(msg, span(*field), bytes),
        Edit::Cast { field, member } => {
            let (s, e) = span(*field);
            let m = world.member(*member);
            let value: &[u8] = match e - s {
                16 => m.id.as_bytes(),
                32 => m.public.as_bytes(),
                _ => return,
            };
            msg[s..e].copy_from_slice(value);
        }
        Edit::Truncate(n) => msg.truncate(len.saturating_sub(usize::from(*n))),
        Edit::Append(more) => msg.extend_from_slice(more),
    }
}

/// The refusal every entry point gives before its own checks: an empty message, an
/// unknown type byte, or a length that does not fit the type.
fn framing(msg: &[u8]) -> Result<(), Error> {
    if msg.first() == Some(&0x02) {
        // An edit made it a v2 message: v2 framing, then the classic topics'
        // refusal of v2.
        return Err(v2_framing(msg).err().unwrap_or_else(refused_v2));
    }
    let Some(&t) = msg.first() else {
        return Err(Error::Malformed {
            message_type: None,
            len: 0,
        });
    };
    let (message_type, fits) = match t {
        b's' => (MessageType::Simple, msg.len() >= 121),
        b'i' => (MessageType::Introduction, msg.len() == 129),
        b'r' => (MessageType::IntroductionReply, msg.len() == 153),
        other => return Err(Error::UnknownType(other)),
    };
    if fits {
        Ok(())
    } else {
        Err(Error::Malformed {
            message_type: Some(message_type),
            len: msg.len(),
        })
    }
}

fn fail(e: Error) -> Outcome {
    Outcome::Err(e)
}

/// What participant 0 (`us`) must get from decoding `msg`, given the message as
/// its sender sealed it.
fn predict_decode(
    world: &World,
    has_key: bool,
    mode: DecodeMode,
    msg: &[u8],
    sealed: &[u8],
    plaintext: &[u8],
    sealed_with_topic_key: bool,
) -> Outcome {
    if let Err(e) = framing(msg) {
        return fail(e);
    }
    match msg[0] {
        b'i' => return fail(Error::Introduction),
        b'r' => return fail(Error::IntroductionReply),
        _ => {}
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&msg[65..81]);
    let sender = ParticipantId::from_bytes(id);
    if sender == world.cast[0].id {
        return Outcome::Own;
    }
    let verified = mode != DecodeMode::Naive;
    if verified {
        let trusted = world.cast[1..3].iter().find(|m| m.id == sender);
        let Some(member) = trusted else {
            return match mode {
                DecodeMode::IgnoreUntrusted => Outcome::Ignored(sender),
                _ => fail(Error::UntrustedSender(sender)),
            };
        };
        if msg[1..65] != member.signer.sign(&msg[65..]).to_bytes() {
            return fail(Error::BadSignature);
        }
    }
    if !has_key {
        return fail(Error::MissingTopicKey);
    }
    if sealed_with_topic_key && msg.len() == sealed.len() && msg[81..] == sealed[81..] {
        Outcome::Message {
            sender,
            verified,
            plaintext: plaintext.to_vec(),
        }
    } else {
        fail(Error::DecryptFailed)
    }
}

fn check_simple(world: &World, case: &SimpleCase) {
    let sealed = sealed_simple(world, case);
    let mut msg = sealed.clone();
    for edit in case.edits.iter().take(8) {
        apply(world, &mut msg, edit);
    }
    if let Some(i) = case.resign_as {
        if msg.len() >= 65 {
            let sig = world.member(i).signer.sign(&msg[65..]).to_bytes();
            msg[1..65].copy_from_slice(&sig);
        }
    }

    let us = &mut *world.us[usize::from(!case.receiver_has_key)].borrow_mut();
    let before = snapshot(us);
    for mode in crate::raw::MODES {
        let got = decode_all_variants(us, &msg, mode);
        let expected = predict_decode(
            world,
            case.receiver_has_key,
            mode,
            &msg,
            &sealed,
            &case.plaintext,
            !case.sealed_with_wrong_key,
        );
        assert_eq!(got, expected, "{mode:?}");
        // Batched between two good messages, the same outcome.
        let valid_alone = crate::raw::outcome(us.decode(&world.valid, mode));
        check_batch(us, &msg, mode, &got, &world.valid, &valid_alone);
    }
    assert_eq!(snapshot(us), before);
}

/// The case's simple message as its sender encodes it, checked against the classic
/// layout sealed independently of the core.
fn sealed_simple(world: &World, case: &SimpleCase) -> Vec<u8> {
    let sender = world.member(case.sender);
    let sealer = &mut *world.senders[usize::from(case.sender) % CAST]
        [usize::from(case.sealed_with_wrong_key)]
    .borrow_mut();
    let plaintext = &case.plaintext;
    let mut sealed = vec![0u8; plaintext.len() + 121];
    let n = sealer
        .encode_into(&mut TestRng::replay(&[&case.nonce]), plaintext, &mut sealed)
        .expect("encode");
    assert_eq!(n, sealed.len());

    assert_eq!(sealed[0], b's');
    assert_eq!(&sealed[65..81], sender.id.as_bytes());
    assert_eq!(&sealed[81..105], &case.nonce);
    assert_eq!(
        &sealed[1..65],
        &sender.signer.sign(&sealed[65..]).to_bytes()
    );
    let key = if case.sealed_with_wrong_key {
        WRONG_KEY
    } else {
        TOPIC_KEY
    };
    let mut body = plaintext.clone();
    let tag = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt_in_place_detached(&case.nonce.into(), b"", &mut body)
        .expect("seal");
    assert_eq!(&sealed[105..121], &tag[..]);
    assert_eq!(&sealed[121..], &body[..]);
    sealed
}

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

/// Discovery between cast member `joiner % 4` and participant 0.
#[derive(Arbitrary, Debug)]
pub struct DiscoveryCase {
    joiner: u8,
    joiner_has_key: bool,
    intro_secret: [u8; 32],
    intro_edits: Vec<Edit<IntroField>>,
    /// Re-sign the (edited) encryption key as this cast member (`% 4`).
    resign_intro_as: Option<u8>,
    replier_has_key: bool,
    reply_randomness: [u8; 56],
    reply_edits: Vec<Edit<ReplyField>>,
    pending: Pending,
}

fn x25519(secret: &[u8; 32], public: &[u8]) -> [u8; 32] {
    let mut p = [0u8; 32];
    p.copy_from_slice(public);
    MontgomeryPoint(p).mul_clamped(*secret).to_bytes()
}

/// Whether an X25519 key has small order: its agreement with a secret is all
/// zeros. Checked against the test kit's encodings (derived from the curve) on every
/// call.
fn small_order(key: &[u8]) -> bool {
    let zero = x25519(&[0x55; 32], key) == [0; 32];
    let mut k = [0u8; 32];
    k.copy_from_slice(key);
    assert_eq!(
        stringphone_testkit::small_order::is_x25519(&k),
        zero,
        "the small-order list and the arithmetic disagree on {k:02x?}"
    );
    zero
}

fn check_discovery(world: &World, case: &DiscoveryCase) {
    let j = usize::from(case.joiner) % CAST;
    let (mut joiner, intro, pending_secret) = introduction(world, case, &world.cast[j]);
    let replier = &mut *world.us[usize::from(!case.replier_has_key)].borrow_mut();
    let Some(exchange) = answered(world, case, replier, intro) else {
        return;
    };
    let mut edited = exchange.reply.clone();
    for edit in case.reply_edits.iter().take(8) {
        apply(world, &mut edited, edit);
    }
    check_opened(world, j, &mut joiner, pending_secret, &exchange, &edited);

    // decode hands discovery messages back, whatever the key.
    let intro = &exchange.intro;
    if framing(intro).is_ok() && intro[0] == b'i' {
        assert!(matches!(
            replier.decode(intro, DecodeMode::Naive),
            Err(Error::Introduction)
        ));
    }
    if framing(&edited).is_ok() && edited[0] == b'r' {
        assert!(matches!(
            joiner.decode(&edited, DecodeMode::Strict),
            Err(Error::IntroductionReply)
        ));
    }
}

/// The joiner `member`'s introduction, checked, then edited as the case says; the
/// joiner waiting on what the case says, and the ephemeral secret of the
/// introduction it waits on (none for a fresh topic).
fn introduction(
    world: &World,
    case: &DiscoveryCase,
    member: &Member,
) -> (T, Vec<u8>, Option<[u8; 32]>) {
    let joiner_key = case.joiner_has_key.then_some(OLD_KEY);
    let mut joiner = topic(member.seed, joiner_key, &[]);
    let intro0 = joiner
        .construct_intro_with(&mut TestRng::replay(&[&case.intro_secret]))
        .expect("intro");
    let ephemeral = MontgomeryPoint::mul_base_clamped(case.intro_secret).to_bytes();
    assert_eq!(intro0[0], b'i');
    assert_eq!(&intro0[1..33], member.public.as_bytes());
    assert_eq!(&intro0[33..97], &member.signer.sign(&ephemeral).to_bytes());
    assert_eq!(&intro0[97..129], &ephemeral);

    let mut intro = intro0.to_vec();
    for edit in case.intro_edits.iter().take(8) {
        apply(world, &mut intro, edit);
    }
    if let Some(i) = case.resign_intro_as {
        if intro.len() >= 129 {
            let sig = world.member(i).signer.sign(&intro[97..129]).to_bytes();
            intro[33..97].copy_from_slice(&sig);
        }
    }
    let pending_secret = match &case.pending {
        Pending::Sent => Some(case.intro_secret),
        Pending::Replaced(s) => {
            joiner
                .construct_intro_with(&mut TestRng::replay(&[s]))
                .expect("intro");
            Some(*s)
        }
        Pending::Forgotten => {
            joiner = topic(member.seed, joiner_key, &[]);
            None
        }
    };
    (joiner, intro, pending_secret)
}

/// A discovery call's refusal of a classic message of either other type (`others`,
/// the type bytes), before its framing.
fn wrong_type(msg: &[u8], wanted: MessageType, others: [u8; 2]) -> Result<(), Error> {
    match msg.first() {
        Some(&t) if others.contains(&t) => Err(Error::WrongType {
            expected: wanted,
            found: MessageType::from_byte(t).expect("known"),
        }),
        _ => Ok(()),
    }
}

/// What crossed between the joiner and the replier: the introduction as the replier
/// got it, the reply it made and the replier's ephemeral X25519 secret in it.
struct Exchange {
    intro: Vec<u8>,
    reply: Vec<u8>,
    reply_secret: [u8; 32],
}

/// What `construct_reply(intro)` gives: the newcomer the reply is for (whoever's key
/// the introduction carries, which the edits may have made another cast member than
/// the joiner), or the refusal.
fn expected_newcomer<'w>(
    world: &'w World,
    case: &DiscoveryCase,
    intro: &[u8],
) -> Result<&'w Member, Error> {
    wrong_type(intro, MessageType::Introduction, [b's', b'r'])?;
    framing(intro)?;
    let signer = world
        .by_key(&intro[1..33])
        .filter(|m| intro[33..97] == m.signer.sign(&intro[97..129]).to_bytes())
        .ok_or(Error::BadSignature)?;
    if !world.cast[1..3].iter().any(|m| m.id == signer.id) {
        return Err(Error::UntrustedSender(signer.id));
    }
    if !case.replier_has_key {
        return Err(Error::MissingTopicKey);
    }
    // A small-order key makes the box's secret all zeros: refused.
    if small_order(&intro[97..129]) {
        return Err(Error::InvalidPublicKey);
    }
    Ok(signer)
}

/// The replier answers `intro` (changing nothing of itself): the reply, checked, or
/// `None` when refused as predicted.
fn answered(
    world: &World,
    case: &DiscoveryCase,
    replier: &mut T,
    intro: Vec<u8>,
) -> Option<Exchange> {
    let before = snapshot(replier);
    let got = replier.construct_reply_with(&mut TestRng::replay(&[&case.reply_randomness]), &intro);
    assert_eq!(snapshot(replier), before);
    let (reply, newcomer) = match (got, expected_newcomer(world, case, &intro)) {
        (Ok(reply), Ok(newcomer)) => (reply, newcomer),
        (Err(e), Err(x)) => {
            assert_eq!(e, x);
            return None;
        }
        (got, x) => panic!(
            "construct_reply gave {got:?}, expected {:?}",
            x.map(|m| m.public)
        ),
    };
    let (reply_secret, nonce) = case.reply_randomness.split_at(32);
    let reply_secret: [u8; 32] = reply_secret.try_into().expect("32");
    assert_eq!(reply[0], b'r');
    assert_eq!(&reply[1..17], newcomer.id.as_bytes());
    assert_eq!(&reply[17..41], nonce);
    assert_eq!(
        &reply[89..121],
        &MontgomeryPoint::mul_base_clamped(reply_secret).to_bytes()
    );
    assert_eq!(&reply[121..153], world.cast[0].public.as_bytes());
    Some(Exchange {
        intro,
        reply: reply.to_vec(),
        reply_secret,
    })
}

/// What `parse_reply(edited)` gives on joiner `member` waiting on the introduction
/// of ephemeral secret `pending` (if any): the replier's key, or the refusal.
fn expected_replier(
    member: &Member,
    pending: Option<[u8; 32]>,
    exchange: &Exchange,
    edited: &[u8],
) -> Result<PublicKey, Error> {
    wrong_type(edited, MessageType::IntroductionReply, [b's', b'i'])?;
    framing(edited)?;
    if edited[1..17] != *member.id.as_bytes() {
        let mut id = [0u8; 16];
        id.copy_from_slice(&edited[1..17]);
        return Err(Error::NotForUs {
            recipient: ParticipantId::from_bytes(id),
        });
    }
    let secret = pending.ok_or(Error::NoPendingIntroduction)?;
    if small_order(&edited[89..121]) {
        return Err(Error::DecryptFailed);
    }
    // Both ends of the box must compute one X25519 secret (this also covers the
    // encodings X25519 treats alike: the top bit, u >= p, small order).
    let theirs = x25519(&exchange.reply_secret, &exchange.intro[97..129]);
    if x25519(&secret, &edited[89..121]) != theirs || edited[17..89] != exchange.reply[17..89] {
        return Err(Error::DecryptFailed);
    }
    let mut pk = [0u8; 32];
    pk.copy_from_slice(&edited[121..153]);
    Ok(PublicKey::from_bytes(pk))
}

/// Joiner `j` opens the (edited) reply: as predicted; then it holds the topic key
/// and reads the topic, or, refused, it is as it was.
fn check_opened(
    world: &World,
    j: usize,
    joiner: &mut T,
    pending: Option<[u8; 32]>,
    exchange: &Exchange,
    edited: &[u8],
) {
    let before = snapshot(joiner);
    let got = joiner.parse_reply(edited);
    match (
        got,
        expected_replier(&world.cast[j], pending, exchange, edited),
    ) {
        (Ok(pk), Ok(x)) => {
            assert_eq!(pk, x);
            assert_eq!(joiner.topic_key(), Some(&TopicKey::from_bytes(TOPIC_KEY)));
            assert!(!joiner.has_pending_introduction());
            // The joiner now reads the topic.
            let wire = world.senders[(j + 1) % CAST][0]
                .borrow_mut()
                .encode_with_rng(&mut TestRng::replay(&[&[9; 24]]), b"welcome")
                .expect("encode");
            let got = joiner.decode(&wire, DecodeMode::Naive).expect("decode");
            assert_eq!(got.plaintext().as_deref(), Some(&b"welcome"[..]));
        }
        (Err(e), Err(x)) => {
            assert_eq!(e, x);
            assert_eq!(
                snapshot(joiner),
                before,
                "a refused reply changed the joiner"
            );
        }
        (got, x) => panic!("parse_reply gave {got:?}, expected {x:?}"),
    }
}

/// Runs one fuzz case.
pub fn check(scenario: &Scenario) {
    WORLD.with(|world| match scenario {
        Scenario::Simple(case) => check_simple(world, case),
        Scenario::Discovery(case) => check_discovery(world, case),
    });
}
