//! The checks behind the raw-bytes fuzz targets (`parse`, `decode`, `discovery`).
//!
//! Each `check_*` function takes arbitrary bytes, runs one entry point that takes
//! bytes from the network, and asserts what must hold whatever the bytes are: no
//! panic, the outcome the wire format and docs/DESIGN.md's order of checks predict, the
//! same answer from every variant of a call, and no change of state on failure.
//!
//! The topics are built from `vectors/classic.json`, so the seed corpus
//! made from those vectors (`fuzz/make-corpus.py`) starts on the success paths:
//! - decode: the receiver is the joiner of the first `reply` vector (its id is in
//!   the file, so the corpus has an "own message" seed), holds the topic key of the
//!   `invalid` decode cases and trusts their sender plus three other keys;
//! - discovery: the replier of the first `reply` vector, with its topic key,
//!   trusting every introduction's sender; the joiners of the first two `reply`
//!   vectors, with their introductions pending.

use std::cell::RefCell;

use stringphone_core::reexports::aead::AeadInPlace;
use stringphone_core::v2::wire::V2Type;
use stringphone_core::wire::{MessageType, INTRODUCTION_LEN, REPLY_LEN, SIMPLE_OVERHEAD};
use stringphone_core::{
    verify_signature, Backend, BoxSecret, DecodeMode, Decoded, Error, MemoryTrustStore, Message,
    ParticipantId, PublicKey, SigningSeed, Topic, TopicKey,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_testkit::{small_order, TestRng};

/// The backend the raw-bytes targets run on.
pub type B = RustCrypto;
/// A topic on that backend with the in-memory store.
pub type T = Topic<B, MemoryTrustStore>;

/// Every decode mode.
pub const MODES: [DecodeMode; 3] = [
    DecodeMode::Strict,
    DecodeMode::IgnoreUntrusted,
    DecodeMode::Naive,
];

/// Values copied from `vectors/classic.json` (named by section and field).
pub mod fixture {
    /// `reply[0].joiner_seed` (also the receiver of two `invalid` cases).
    pub const JOINER0_SEED: &str =
        "71aac8edc54cb5e48d2fece1bccb6b761bffd6367c14d631c912f4aed48a7a72";
    /// `reply[0].joiner_ephemeral_secret`.
    pub const JOINER0_EPHEMERAL: &str =
        "ecd6921fea8a37030a86a69f70f5a47c1f508becc81382519674f7b715bf7506";
    /// `reply[0].joiner_id`.
    pub const JOINER0_ID: &str = "74ed2b0ab1711b1aaeacbb6613cbc569";
    /// `reply[1].joiner_seed`.
    pub const JOINER1_SEED: &str =
        "9d0a1eb24646afe4569190b686de66aacc6a3789db01b8b2db7348771b68d450";
    /// `reply[1].joiner_ephemeral_secret`.
    pub const JOINER1_EPHEMERAL: &str =
        "50ec313a83c20abd1679d58751f06357b7f4da655437fbf923b78d410c444c7b";
    /// `reply[0].replier_seed`.
    pub const REPLIER_SEED: &str =
        "94e0097fe37d78a9f2cd859bb7eb4d23a768fa7f8cc58fd13f954ca100ad81f7";
    /// `reply[0].topic_key`.
    pub const REPLIER_TOPIC_KEY: &str =
        "47f0b9af8ae73b175dc8075d9b3fc2e0bccdda58146b1eb57aec291da2191928";
    /// The topic key of the `invalid` decode cases.
    pub const DECODE_TOPIC_KEY: &str =
        "3053b8d24bbe8a535540b8717d152b64ab1b6324b13055eb40bf05a8e6bc7320";
    /// The `simple` vector sealed under `DECODE_TOPIC_KEY` by `DECODE_TRUSTED[0]`
    /// (31 bytes of plaintext): the decode receiver accepts it in every mode.
    pub const DECODE_VALID_MESSAGE: &str = concat!(
        "739c9c73919ffa0e3fb9d6bcfd7402c0969d4c98eee6b2e91829f49c181b7ea2c653149a8c1759",
        "844be03283b8e87eeea5c5a6846befa427caae668d953e4407055341d893b0959390ee687ca1f6",
        "11331c05ffddc85244286b98a2dbd29018371fda7dcfe2319b023dff099ab2f74ff86ae4901c3b",
        "15c0b198a39c7ba9ff5b90e40a8091caf951cc53c7195b23c497087f0adb4edc533654",
    );
    /// Whom the decode receiver trusts: the `invalid` cases' sender (whose `simple`
    /// vector shares the topic key), the senders of `simple[0]` and `simple[1]`
    /// (other topic keys: their messages verify, then fail to open) and the sender
    /// of `intro[0]`.
    pub const DECODE_TRUSTED: [&str; 4] = [
        "da8abed342e29f18ae13cfc7d1fe65b502a3db10b1f68d889bc51dd7d9651dd2",
        "c8be5b70cb4f5e744b80258ec060595954f6c251f4cee91a1257eaa0d6da24a7",
        "922b6e11e0fdb82cf73da4339469bb95b20ac262dca113a26f26979b3e14196f",
        "6d42ced112b2b60c4fd368e28d8e66e17b1ef0e60de6c1ae4d7c7a4ed8785260",
    ];
    /// Whom the replier trusts: the sender of every `intro` vector and the joiners
    /// of the first four `reply` vectors (the key inside each `reply[i].intro`).
    pub const REPLIER_TRUSTED: [&str; 12] = [
        "6d42ced112b2b60c4fd368e28d8e66e17b1ef0e60de6c1ae4d7c7a4ed8785260",
        "82a235e4e15da4a23d225fb18f7f3d7b830e21e6d6d9b3251cef5db4cff7adbc",
        "720e00b2ebd7a53c6ef6ae4c99dee1bc66b175893762493d244da4c4544f4f83",
        "522f6a9d692e4c6a2e718a878641c72b268a61f5459fe6f931a2f9b9e699bc0e",
        "aa149e16fe25c4f0300a6a249a234da52961ab8d77772a8b4041677a962fad58",
        "be6ff769d50c8cd17d0d9013488802bc43aaaf278b9f254e899bf267e2242c69",
        "164635407c0d0a629ed44499925823019cf09d08052a82de094a885f45e50a5f",
        "91ade8a4139542d914e41cc340e6418260b886dbdad57cb9d553507e2fcd5cb7",
        "310cc609eed3d28ee51f4dbebd53b7907ac13ba635e26135adeca230cd94726c",
        "79f3e09b36b706c43b7fcb82cfc6e2a62094e1fcff3394fbbf9d5cd6cbfbc221",
        "18a309860374e8188c19ffdd039b1e462fab35225b7dc539d16bd4454b5e98c5",
        "c9b04fff76f17c01ec24b6d50ce856f3803fac62d2b0196aa7755804ae718f56",
    ];
    /// The randomness construct_reply draws in the discovery target: a 32-byte
    /// X25519 secret, then a 24-byte nonce.
    pub const REPLY_RANDOMNESS: [u8; 56] = [0x5a; 56];
}

/// 32 bytes from 64 hex digits (fixtures only: panics on a typo).
pub fn hex32(hex: &str) -> [u8; 32] {
    PublicKey::from_hex(hex).expect("fixture hex").to_bytes()
}

/// A topic with the identity of `seed`, the topic key if given, trusting `trusted`.
pub fn topic(seed: [u8; 32], key: Option<[u8; 32]>, trusted: &[&str]) -> T {
    let mut t = T::new(SigningSeed::from_bytes(seed), key.map(TopicKey::from_bytes));
    for pk in trusted {
        t.add_participant(PublicKey::from_bytes(hex32(pk)))
            .expect("fixture key is valid");
    }
    t
}

/// Everything a failed call must leave as it was.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    topic_key: Option<[u8; 32]>,
    pending: bool,
    participants: Vec<([u8; 16], [u8; 32])>,
}

/// The state of `t` that a refused call must not change.
pub fn snapshot(t: &T) -> Snapshot {
    let mut participants: Vec<_> = t
        .participants()
        .expect("memory store lists")
        .map(|(id, pk)| (*id.as_bytes(), pk.to_bytes()))
        .collect();
    participants.sort();
    Snapshot {
        topic_key: t.topic_key().map(|k| *k.expose_secret()),
        pending: t.has_pending_introduction(),
        participants,
    }
}

// ----- parse -------------------------------------------------------------------------

/// The length rule of each type, written out from the layout in
/// `vectors/README.md` rather than taken from the parser's constants.
fn length_fits(t: MessageType, len: usize) -> bool {
    match t {
        // The ciphertext may be empty.
        MessageType::Simple => len >= 1 + 64 + 16 + 24 + 16,
        MessageType::Introduction => len == 1 + 32 + 64 + 32,
        MessageType::IntroductionReply => len == 1 + 16 + 24 + 16 + 32 + 32 + 32,
        // `from_byte` names classic types only; v2 starts with 0x02.
        MessageType::V2(_) => false,
        // A new kind of message needs its rule here first (`#[non_exhaustive]`).
        other => panic!("the oracle has no length rule for {other:?}"),
    }
}

/// The message rebuilt field by field from the view's typed accessors (never from
/// the input slice).
pub fn rebuild(m: &Message<'_>) -> Vec<u8> {
    if let Message::V2(m) = m {
        return rebuild_v2(m);
    }
    let mut v = vec![m.message_type().byte()];
    match m {
        Message::Simple(s) => {
            v.extend_from_slice(s.signature());
            v.extend_from_slice(s.sender_id().as_bytes());
            v.extend_from_slice(s.nonce());
            v.extend_from_slice(s.mac());
            v.extend_from_slice(s.ciphertext());
        }
        Message::Introduction(i) => {
            v.extend_from_slice(i.sender_key().as_bytes());
            v.extend_from_slice(i.signature());
            v.extend_from_slice(i.encryption_key().as_bytes());
        }
        Message::IntroductionReply(r) => {
            v.extend_from_slice(r.recipient_id().as_bytes());
            v.extend_from_slice(r.nonce());
            v.extend_from_slice(r.mac());
            v.extend_from_slice(r.sealed_topic_key());
            v.extend_from_slice(r.encryption_key().as_bytes());
            v.extend_from_slice(r.sender_key().as_bytes());
        }
        Message::V2(_) => {}
        other => panic!("rebuild does not know {other:?}"),
    }
    v
}

/// A v2 message rebuilt from its header's and body's typed fields.
fn rebuild_v2(m: &stringphone_core::v2::wire::V2Message<'_>) -> Vec<u8> {
    use stringphone_core::v2::wire::Body;
    let h = m.header();
    let mut v = vec![
        stringphone_core::v2::wire::VERSION,
        h.message_type().byte(),
        h.suite(),
    ];
    v.extend_from_slice(&h.epoch().to_be_bytes());
    v.extend_from_slice(h.sender_id().as_bytes());
    v.extend_from_slice(h.session());
    v.extend_from_slice(&h.counter().to_be_bytes());
    for f in body_fields(m) {
        v.extend_from_slice(f);
    }
    // Then a reply's member list and floors, a rekey's entries.
    match m.body() {
        Body::Reply { .. } => {
            put_list(&mut v, m.reply_members(), |v, id| {
                v.extend_from_slice(id.as_bytes())
            });
            put_list(&mut v, m.reply_floors(), |v, (id, floor)| {
                v.extend_from_slice(id.as_bytes());
                v.extend_from_slice(&floor.to_be_bytes());
            });
        }
        Body::Rekey { .. } => put_list(&mut v, m.rekey_entries(), |v, e| {
            v.extend_from_slice(e.member.as_bytes());
            v.extend_from_slice(e.sealed_key);
            v.extend_from_slice(e.tag);
        }),
        _ => {}
    }
    v.extend_from_slice(m.signature());
    v
}

/// The fixed fields of a v2 message's body, in their order on the wire.
fn body_fields<'a>(m: &stringphone_core::v2::wire::V2Message<'a>) -> Vec<&'a [u8]> {
    use stringphone_core::v2::wire::Body;
    match m.body() {
        Body::Message { ciphertext, tag } => vec![ciphertext, tag],
        Body::Introduction {
            identity,
            encryption_key,
        } => vec![&identity[..], encryption_key],
        Body::Reply {
            recipient,
            intro_digest,
            epoch_id,
            parent_epoch,
            starter,
            identity,
            encryption_key,
            nonce,
            sealed_key,
            tag,
            ..
        } => vec![
            &recipient[..],
            intro_digest,
            epoch_id,
            parent_epoch,
            starter,
            identity,
            encryption_key,
            nonce,
            sealed_key,
            tag,
        ],
        Body::Rekey {
            previous_epoch,
            encryption_key,
            ..
        } => vec![&previous_epoch[..], encryption_key],
        other => panic!("rebuild does not know {other:?}"),
    }
}

/// A list as the v2 layout writes one: its length (two bytes, big-endian), then each
/// item as `put` writes it.
fn put_list<X>(v: &mut Vec<u8>, items: impl Iterator<Item = X>, put: impl Fn(&mut Vec<u8>, X)) {
    let items: Vec<X> = items.collect();
    v.extend_from_slice(&(items.len() as u16).to_be_bytes());
    for x in items {
        put(v, x);
    }
}

/// The v2 layout's framing rules, written out from the table in
/// `stringphone_core::v2::wire` (not taken from its constants): `Ok(type)` when
/// `data` (which starts with `0x02`) parses, else the refusal.
pub fn v2_framing(data: &[u8]) -> Result<V2Type, Error> {
    let len = data.len();
    let malformed = |t: Option<V2Type>| Error::Malformed {
        message_type: t.map(MessageType::V2),
        len,
    };
    let Some(&type_byte) = data.get(1) else {
        return Err(malformed(None));
    };
    let t = match type_byte {
        b'm' => V2Type::Message,
        b'i' => V2Type::Introduction,
        b'r' => V2Type::Reply,
        b'k' => V2Type::Rekey,
        other => return Err(Error::UnknownType(other)),
    };
    // version, type, suite, epoch 4, sender id 16, session 16, counter 8
    let header = 1 + 1 + 1 + 4 + 16 + 16 + 8;
    if len < header {
        return Err(malformed(Some(t)));
    }
    // The format's two suites (0x01 BLAKE3, 0x02 SHA-256); a topic's own is its check.
    if data[2] != 0x01 && data[2] != 0x02 {
        return Err(Error::UnknownSuite(data[2]));
    }
    let signature = 64;
    let fits = match t {
        V2Type::Message => Some(len >= header + 16 + signature),
        V2Type::Introduction => Some(len == header + 32 + 32 + signature),
        V2Type::Reply => reply_fits(data, header, signature),
        V2Type::Rekey => {
            // previous epoch id 32, the admin's X25519 key 32, then the number of
            // entries (2) and 64 bytes per entry.
            count_at(data, header + 64).map(|count| {
                (1..=1024).contains(&count)
                    && len == header + 32 + 32 + 2 + count * (16 + 32 + 16) + signature
            })
        }
        other => panic!("the oracle has no length rule for {other:?}"),
    };
    match fits {
        Some(true) => Ok(t),
        // Too short for a count, or a length the counts do not give.
        _ => Err(malformed(Some(t))),
    }
}

/// The two-byte big-endian count at `at`, if `data` reaches it.
fn count_at(data: &[u8], at: usize) -> Option<usize> {
    data.get(at..at + 2)
        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])))
}

/// Whether a reply's length is what its counts give (`None`: too short to hold them).
fn reply_fits(data: &[u8], header: usize, signature: usize) -> Option<bool> {
    // recipient 16, intro digest 32, epoch id 32, parent epoch id 32, starter 16,
    // replier's key 32, its X25519 key 32, box nonce 24, sealed key 32, tag 16, then
    // the number of members (2) and 16 bytes per member, then the number of replay
    // floors (2) and 24 bytes per floor.
    let fixed = header + 16 + 32 + 32 + 32 + 16 + 32 + 32 + 24 + 32 + 16;
    let members = count_at(data, fixed)?;
    let floors = count_at(data, fixed + 2 + members * 16)?;
    Some(
        members <= 1024
            && floors <= 16384
            && data.len() == fixed + 2 + members * 16 + 2 + floors * (16 + 8) + signature,
    )
}

/// What a classic-only topic answers to a v2 message that parses.
pub fn refused_v2() -> Error {
    Error::ProtocolRefused {
        version: 2,
        accepts: stringphone_core::v2::ProtocolVersion::Classic,
    }
}

/// `check_parse` for input starting with `0x02`.
fn check_parse_v2(data: &[u8]) {
    let expected = v2_framing(data);
    let m = match (Message::parse(data).map_err(Error::from), expected) {
        (Err(e), Err(x)) => return assert_eq!(e, x),
        (Ok(m), Ok(t)) => {
            assert_eq!(m.message_type(), MessageType::V2(t));
            m
        }
        (got, x) => panic!("v2 parse gave {got:?}, the layout says {x:?}"),
    };
    let Message::V2(v) = &m else {
        panic!("0x02 parsed as a classic message");
    };
    assert!(check_round_trip(&m, data).is_err());
    assert_eq!(m.sender_id(), Some(v.header().sender_id()));
    assert_eq!(v.signed_part().len() + 64, data.len());
    assert_eq!(&v.signature()[..], &data[data.len() - 64..]);
    assert_eq!(m.sender_key(), v.identity());
    assert_eq!(m.recipient_id(), v.recipient_id());
    assert_eq!(m.encryption_key(), v.encryption_key());
}

/// A parsed view is its input again however it is written out: its length, rebuilt
/// from its typed fields (which parse back to it), `to_vec`, and `write_to` with room
/// to spare (nothing written past the end). Returns what `write_to` gives for a buffer
/// one byte short.
fn check_round_trip(m: &Message<'_>, data: &[u8]) -> Result<usize, Error> {
    assert_eq!(m.encoded_len(), data.len());
    let rebuilt = rebuild(m);
    assert_eq!(rebuilt, data, "rebuilt from the typed fields");
    assert_eq!(Message::parse(&rebuilt).expect("rebuilt parses"), *m);
    assert_eq!(m.to_vec(), data, "to_vec");
    let mut out = vec![0xa5u8; data.len() + 3];
    let n = m.write_to(&mut out).expect("room to write");
    assert_eq!(&out[..n], data, "write_to");
    assert!(
        out[n..].iter().all(|&b| b == 0xa5),
        "write_to wrote past the end"
    );
    m.write_to(&mut out[..data.len() - 1])
}

/// `Message::parse` on arbitrary bytes: it refuses exactly what the layout refuses,
/// with the right error, and a parsed view rebuilt from its fields is the input.
pub fn check_parse(data: &[u8]) {
    if data.first() == Some(&0x02) {
        return check_parse_v2(data);
    }
    let named = data.first().and_then(|&b| MessageType::from_byte(b));
    if let Some(t) = named {
        assert_eq!(t.byte(), data[0]);
    }
    let m = match Message::parse(data).map_err(Error::from) {
        Err(e) => return check_refused(data, named, e),
        Ok(m) => m,
    };
    let t = named.expect("parsed a message whose type byte names no type");
    assert_eq!(m.message_type(), t);
    assert!(
        length_fits(t, data.len()),
        "accepted {t:?} of {}",
        data.len()
    );
    let short = data.len() - 1;
    match check_round_trip(&m, data) {
        Err(Error::BufferTooSmall { needed, available }) => {
            assert_eq!((needed, available), (data.len(), short))
        }
        other => panic!("write_to a short buffer: {other:?}"),
    }
    check_accessors(&m, data);
}

/// A classic parse refused `data` (whose type byte names `named`) with `e`: the
/// refusal the layout gives.
fn check_refused(data: &[u8], named: Option<MessageType>, e: Error) {
    match (data.first(), named) {
        (None, _) => assert!(
            matches!(
                e,
                Error::Malformed {
                    message_type: None,
                    len: 0
                }
            ),
            "{e:?}"
        ),
        (Some(&b), None) => {
            assert!(matches!(e, Error::UnknownType(x) if x == b), "{e:?}")
        }
        (Some(_), Some(t)) => {
            assert!(
                !length_fits(t, data.len()),
                "refused a fitting {t:?}: {e:?}"
            );
            assert!(
                matches!(e, Error::Malformed { message_type: Some(mt), len }
                    if mt == t && len == data.len()),
                "{e:?}"
            );
        }
    }
}

/// A parsed classic view's type-independent accessors agree with its type's.
fn check_accessors(m: &Message<'_>, data: &[u8]) {
    match m {
        Message::Simple(s) => {
            assert_eq!(s.signed_part(), &data[65..]);
            assert_eq!(s.ciphertext().len(), data.len() - SIMPLE_OVERHEAD);
            assert_eq!(m.sender_id(), Some(s.sender_id()));
            assert_eq!(m.sender_key(), None);
            assert_eq!(m.recipient_id(), None);
            assert_eq!(m.encryption_key(), None);
        }
        Message::Introduction(i) => {
            assert_eq!(data.len(), INTRODUCTION_LEN);
            assert_eq!(m.sender_id(), None);
            assert_eq!(m.sender_key(), Some(i.sender_key()));
            assert_eq!(m.recipient_id(), None);
            assert_eq!(m.encryption_key(), Some(i.encryption_key()));
            assert_eq!(i.sender_id::<B>(), B::participant_id(&i.sender_key()));
        }
        Message::IntroductionReply(r) => {
            assert_eq!(data.len(), REPLY_LEN);
            assert_eq!(m.sender_id(), None);
            assert_eq!(m.sender_key(), Some(r.sender_key()));
            assert_eq!(m.recipient_id(), Some(r.recipient_id()));
            assert_eq!(m.encryption_key(), Some(r.encryption_key()));
        }
        Message::V2(_) => unreachable!("0x02 goes to check_parse_v2"),
        other => panic!("the oracle does not know {other:?}"),
    }
}

// ----- decode ------------------------------------------------------------------------

/// A decode outcome with the plaintext copied out, comparable across variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `Decoded::Own`.
    Own,
    /// `Decoded::Ignored`.
    Ignored(ParticipantId),
    /// `Decoded::Message`.
    Message {
        /// The sender.
        sender: ParticipantId,
        /// Whether the signature was checked.
        verified: bool,
        /// The plaintext.
        plaintext: Vec<u8>,
    },
    /// An error, compared as a value.
    Err(Error),
}

/// The outcome of one decode call.
pub fn outcome<P: AsRef<[u8]>>(r: Result<Decoded<P>, Error>) -> Outcome {
    match r {
        Ok(Decoded::Own) => Outcome::Own,
        Ok(Decoded::Ignored { sender }) => Outcome::Ignored(sender),
        Ok(Decoded::Message {
            sender,
            verified,
            plaintext,
        }) => Outcome::Message {
            sender,
            verified,
            plaintext: plaintext.as_ref().to_vec(),
        },
        Err(e) => Outcome::Err(e),
        // A new kind of outcome needs its own case above (`#[non_exhaustive]`).
        Ok(_) => panic!("a decode outcome this oracle does not know"),
    }
}

thread_local! {
    /// The decode receiver with the topic key, and the same identity without it.
    static DECODE_TOPICS: RefCell<[T; 2]> = RefCell::new({
        let seed = hex32(fixture::JOINER0_SEED);
        let key = hex32(fixture::DECODE_TOPIC_KEY);
        let with = topic(seed, Some(key), &fixture::DECODE_TRUSTED);
        assert_eq!(with.id().to_string(), fixture::JOINER0_ID, "fixture id");
        [with, topic(seed, None, &fixture::DECODE_TRUSTED)]
    });
}

/// What `decode` must give on `data`, up to decryption: `Ok((sender, verified))`
/// means "the box is opened now", and the caller compares the result with the other
/// modes'.
fn predicted(t: &T, data: &[u8], mode: DecodeMode) -> Result<(ParticipantId, bool), Outcome> {
    let m = match Message::parse(data).map_err(Error::from) {
        Err(e) => return Err(Outcome::Err(e)),
        Ok(Message::Introduction(_)) => return Err(Outcome::Err(Error::Introduction)),
        Ok(Message::IntroductionReply(_)) => return Err(Outcome::Err(Error::IntroductionReply)),
        // The fixtures' topics speak the classic format only.
        Ok(Message::V2(_)) => {
            return Err(Outcome::Err(Error::ProtocolRefused {
                version: 2,
                accepts: stringphone_core::v2::ProtocolVersion::Classic,
            }))
        }
        Ok(Message::Simple(m)) => m,
        Ok(other) => panic!("the oracle does not know {other:?}"),
    };
    let sender = m.sender_id();
    if sender == t.id() {
        return Err(Outcome::Own);
    }
    let verified = match mode {
        DecodeMode::Naive => false,
        _ => {
            let Some(key) = t.trusted_key(&sender).expect("memory store") else {
                return Err(match mode {
                    DecodeMode::IgnoreUntrusted => Outcome::Ignored(sender),
                    _ => Outcome::Err(Error::UntrustedSender(sender)),
                });
            };
            if verify_signature::<B>(&key, m.signed_part(), m.signature()).is_err() {
                return Err(Outcome::Err(Error::BadSignature));
            }
            true
        }
    };
    if t.topic_key().is_none() {
        return Err(Outcome::Err(Error::MissingTopicKey));
    }
    Ok((sender, verified))
}

/// Runs every decode variant of `t` on `data` in `mode`, checks that they agree and
/// what each leaves in its buffers, and returns their common outcome.
pub fn decode_all_variants(t: &mut T, data: &[u8], mode: DecodeMode) -> Outcome {
    let owned = outcome(t.decode(data, mode));

    let room = data.len().saturating_sub(SIMPLE_OVERHEAD);
    let mut out = vec![0u8; room];
    let into = outcome(t.decode_into(data, mode, &mut out));
    assert_eq!(owned, into, "decode vs decode_into ({mode:?})");

    let mut buf = data.to_vec();
    let in_place = outcome(t.decode_in_place(&mut buf, mode));
    assert_eq!(owned, in_place, "decode vs decode_in_place ({mode:?})");
    match &owned {
        Outcome::Message { plaintext, .. } => {
            assert_eq!(&buf[..SIMPLE_OVERHEAD], &data[..SIMPLE_OVERHEAD]);
            assert_eq!(&buf[SIMPLE_OVERHEAD..], &plaintext[..]);
            assert_eq!(&out[..], &plaintext[..]);
        }
        _ => assert_eq!(
            buf, data,
            "a decode that gave no plaintext changed the buffer"
        ),
    }

    // One byte too few for the plaintext: a decode that reaches the box notices,
    // and says so after every other check.
    let opened = matches!(&owned, Outcome::Message { .. })
        || matches!(owned, Outcome::Err(Error::DecryptFailed));
    if let (Some(short), true) = (room.checked_sub(1), opened) {
        let mut small = vec![0u8; short];
        let got = outcome(t.decode_into(data, mode, &mut small));
        match &owned {
            Outcome::Message { .. } => assert_eq!(
                got,
                Outcome::Err(Error::BufferTooSmall {
                    needed: room,
                    available: short
                }),
                "decode_into a short buffer ({mode:?})"
            ),
            _ => assert!(
                matches!(got, Outcome::Err(Error::BufferTooSmall { .. })),
                "decode_into a short buffer ({mode:?}): {got:?}"
            ),
        }
    }
    owned
}

/// decode_batch gives each message what decode_in_place gives it alone: `data`
/// between two copies of `valid` (whose outcome alone is `valid_alone`), so that
/// the batch mixes good signatures with whatever `data` carries; refused messages
/// keep their bytes, accepted ones hold their plaintext.
pub fn check_batch(
    t: &mut T,
    data: &[u8],
    mode: DecodeMode,
    alone: &Outcome,
    valid: &[u8],
    valid_alone: &Outcome,
) {
    let mut batch = vec![valid.to_vec(), data.to_vec(), valid.to_vec()];
    let expected = [valid_alone, alone, valid_alone];
    let batched: Vec<Outcome> = t
        .decode_batch(&mut batch, mode)
        .into_iter()
        .map(outcome)
        .collect();
    assert_eq!(
        batched.iter().collect::<Vec<_>>(),
        expected,
        "decode_batch vs decode ({mode:?})"
    );
    let originals: [&[u8]; 3] = [valid, data, valid];
    for ((m, o), original) in batch.iter().zip(expected).zip(originals) {
        match o {
            Outcome::Message { plaintext, .. } => {
                assert_eq!(&m[..SIMPLE_OVERHEAD], &original[..SIMPLE_OVERHEAD]);
                assert_eq!(&m[SIMPLE_OVERHEAD..], &plaintext[..]);
            }
            _ => assert_eq!(&m[..], original, "decode_batch changed a refused message"),
        }
    }
}

thread_local! {
    /// A message the decode receiver accepts in every mode, and what decoding it
    /// alone gives in each mode (the same on every input, so computed once).
    static VALID: (Vec<u8>, Vec<Outcome>) = {
        let valid = hex(fixture::DECODE_VALID_MESSAGE);
        let outcomes = DECODE_TOPICS.with(|topics| {
            let topics = &mut *topics.borrow_mut();
            MODES.iter().map(|&mode| outcome(topics[0].decode(&valid, mode))).collect()
        });
        (valid, outcomes)
    };
}

/// Bytes from hex (fixtures only: panics on a typo).
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

/// `decode` on arbitrary bytes, in every mode and through every variant, on a
/// receiver with the topic key and on one without.
pub fn check_decode(data: &[u8]) {
    // VALID borrows the topics to compute itself: let it do so before they are
    // borrowed here.
    VALID.with(|_| ());
    DECODE_TOPICS.with(|topics| {
        for (which, t) in topics.borrow_mut().iter_mut().enumerate() {
            let before = snapshot(t);
            let mut opened: Option<Result<Vec<u8>, Error>> = None;
            for (m, mode) in MODES.into_iter().enumerate() {
                let got = decode_all_variants(t, data, mode);
                if which == 0 {
                    VALID.with(|(valid, alone)| check_batch(t, data, mode, &got, valid, &alone[m]));
                }
                match predicted(t, data, mode) {
                    Err(expected) => assert_eq!(got, expected, "{mode:?}"),
                    Ok((sender, verified)) => {
                        let plain = check_reached_box(data, mode, &got, (sender, verified));
                        // Opening the box does not depend on the mode.
                        if let Some(first) = &opened {
                            assert_eq!(first, &plain, "the modes opened the box differently");
                        }
                        opened = Some(plain);
                    }
                }
                check_mode_properties(t, mode, &got);
            }
            assert_eq!(snapshot(t), before, "decode changed the topic");
        }
    });
}

/// A decode in `mode` that reached the box, from the `expected` sender and verified
/// or not: a message of that sender, or `DecryptFailed`. What the box gave.
fn check_reached_box(
    data: &[u8],
    mode: DecodeMode,
    got: &Outcome,
    expected: (ParticipantId, bool),
) -> Result<Vec<u8>, Error> {
    match got {
        Outcome::Message {
            sender,
            verified,
            plaintext,
        } => {
            assert_eq!((sender, *verified), (&expected.0, expected.1), "{mode:?}");
            assert_eq!(plaintext.len(), data.len() - SIMPLE_OVERHEAD);
            Ok(plaintext.clone())
        }
        Outcome::Err(e) => {
            assert_eq!(e, &Error::DecryptFailed, "{mode:?}");
            Err(e.clone())
        }
        other => panic!("{mode:?}: {other:?} where the box was to be opened"),
    }
}

/// The properties the issue names, spelled out: strict and ignore-untrusted modes
/// give only verified messages from trusted senders, naive mode only unverified ones,
/// and only ignore-untrusted mode ignores, untrusted senders only.
fn check_mode_properties(t: &T, mode: DecodeMode, got: &Outcome) {
    match (got, mode) {
        (
            Outcome::Message {
                sender, verified, ..
            },
            DecodeMode::Strict,
        )
        | (
            Outcome::Message {
                sender, verified, ..
            },
            DecodeMode::IgnoreUntrusted,
        ) => {
            assert!(*verified, "{mode:?} gave an unverified message");
            assert!(t.trusted_key(sender).expect("store").is_some());
        }
        (Outcome::Message { verified, .. }, DecodeMode::Naive) => assert!(!verified),
        (Outcome::Ignored(sender), DecodeMode::IgnoreUntrusted) => {
            assert!(t.trusted_key(sender).expect("store").is_none())
        }
        (Outcome::Ignored(_), _) => panic!("{mode:?} ignored a message"),
        _ => {}
    }
}

// ----- discovery ---------------------------------------------------------------------

/// A joiner parse_reply runs on.
struct JoinerSpec {
    seed: [u8; 32],
    /// The ephemeral secret of the pending introduction, if any.
    pending: Option<[u8; 32]>,
    /// The topic key it already holds, if any.
    key: Option<[u8; 32]>,
}

/// The joiners: the first reply vector's, with its introduction pending, without
/// and with a key, and without a pending introduction; the second reply vector's.
fn joiner_specs() -> [JoinerSpec; 4] {
    let j0 = hex32(fixture::JOINER0_SEED);
    let e0 = hex32(fixture::JOINER0_EPHEMERAL);
    let j1 = hex32(fixture::JOINER1_SEED);
    let e1 = hex32(fixture::JOINER1_EPHEMERAL);
    let spec = |seed, pending, key| JoinerSpec { seed, pending, key };
    [
        spec(j0, Some(e0), None),
        spec(j0, Some(e0), Some([0x11; 32])),
        spec(j0, None, None),
        spec(j1, Some(e1), None),
    ]
}

fn joiner(spec: &JoinerSpec) -> T {
    let mut t = topic(spec.seed, spec.key, &[]);
    if let Some(e) = &spec.pending {
        t.construct_intro_with(&mut TestRng::replay(&[e]))
            .expect("intro from a fixed secret");
    }
    t
}

thread_local! {
    /// Repliers: with the key trusting the fixtures, without the key, trusting nobody.
    static REPLIERS: RefCell<[T; 3]> = RefCell::new({
        let seed = hex32(fixture::REPLIER_SEED);
        let key = hex32(fixture::REPLIER_TOPIC_KEY);
        [
            topic(seed, Some(key), &fixture::REPLIER_TRUSTED),
            topic(seed, None, &fixture::REPLIER_TRUSTED),
            topic(seed, Some(key), &[]),
        ]
    });
    /// Joiners; one that accepts a reply is replaced by a fresh one.
    static JOINERS: RefCell<Vec<T>> = RefCell::new(joiner_specs().iter().map(joiner).collect());
}

/// What a discovery step gives before its crypto: the refusal for a message of
/// another type, or the parse.
pub fn expect_type(data: &[u8], wanted: MessageType) -> Result<Message<'_>, Error> {
    if data.first() == Some(&0x02) {
        return Err(v2_framing(data).err().unwrap_or_else(refused_v2));
    }
    if let Some(found) = data.first().and_then(|&b| MessageType::from_byte(b)) {
        if found != wanted {
            return Err(Error::WrongType {
                expected: wanted,
                found,
            });
        }
    }
    Message::parse(data).map_err(Error::from)
}

fn check_construct_reply(r: &mut T, data: &[u8]) {
    let before = snapshot(r);
    let randomness = fixture::REPLY_RANDOMNESS;
    let got = r.construct_reply_with(&mut TestRng::replay(&[&randomness]), data);
    assert_eq!(snapshot(r), before, "construct_reply changed the topic");

    let intro = match expect_type(data, MessageType::Introduction) {
        Err(e) => return assert_eq!(got.err(), Some(e)),
        Ok(Message::Introduction(i)) => i,
        Ok(other) => panic!("expect_type let {:?} through", other.message_type()),
    };
    let pk = intro.sender_key();
    let id = B::participant_id(&pk);
    let expected_err = if verify_signature::<B>(
        &pk,
        intro.encryption_key().as_bytes(),
        intro.signature(),
    )
    .is_err()
    {
        Some(Error::BadSignature)
    } else if r.trusted_key(&id).expect("store") != Some(pk) {
        Some(Error::UntrustedSender(id))
    } else if r.topic_key().is_none() {
        Some(Error::MissingTopicKey)
    } else if small_order::is_x25519(intro.encryption_key().as_bytes()) {
        Some(Error::InvalidPublicKey)
    } else {
        None
    };
    let reply = match (got, expected_err) {
        (Err(e), Some(x)) => return assert_eq!(e, x),
        (Ok(reply), None) => reply,
        (got, x) => panic!("construct_reply gave {got:?}, expected {x:?}"),
    };
    // The reply: for the newcomer, with the drawn nonce and key, our public key, and
    // a box that opens (from our side of the same X25519 agreement) to our topic key.
    let Ok(Message::IntroductionReply(rp)) = Message::parse(&reply) else {
        panic!("construct_reply made something that is not a reply");
    };
    let (secret, nonce) = randomness.split_at(32);
    let secret = BoxSecret::from_bytes(secret.try_into().expect("32"));
    assert_eq!(rp.recipient_id(), id);
    assert_eq!(&rp.nonce()[..], nonce);
    assert_eq!(rp.sender_key(), r.public_key());
    assert_eq!(rp.encryption_key(), B::box_public_key(&secret));
    let mut sealed = *rp.sealed_topic_key();
    B::box_cipher(&intro.encryption_key(), &secret)
        .decrypt_in_place_detached(rp.nonce().into(), b"", &mut sealed, rp.mac().into())
        .expect("the reply's box opens");
    assert_eq!(Some(&sealed), r.topic_key().map(|k| k.expose_secret()));
}

fn check_parse_reply(j: &mut T, pending: Option<[u8; 32]>, data: &[u8]) -> bool {
    let before = snapshot(j);
    let got = j.parse_reply(data);
    let expected: Result<(PublicKey, [u8; 32]), Error> = (|| {
        let reply = match expect_type(data, MessageType::IntroductionReply)? {
            Message::IntroductionReply(r) => r,
            other => panic!("expect_type let {:?} through", other.message_type()),
        };
        if reply.recipient_id() != j.id() {
            return Err(Error::NotForUs {
                recipient: reply.recipient_id(),
            });
        }
        let Some(secret) = pending else {
            return Err(Error::NoPendingIntroduction);
        };
        if small_order::is_x25519(reply.encryption_key().as_bytes()) {
            return Err(Error::DecryptFailed);
        }
        let mut key = *reply.sealed_topic_key();
        B::box_cipher(&reply.encryption_key(), &BoxSecret::from_bytes(secret))
            .decrypt_in_place_detached(reply.nonce().into(), b"", &mut key, reply.mac().into())
            .map_err(|_| Error::DecryptFailed)?;
        Ok((reply.sender_key(), key))
    })();
    match (got, expected) {
        (Ok(pk), Ok((epk, key))) => {
            assert_eq!(pk, epk);
            let after = snapshot(j);
            assert_eq!(
                after.topic_key,
                Some(key),
                "parse_reply installed another key"
            );
            assert!(!after.pending, "parse_reply kept the introduction");
            assert_eq!(after.participants, before.participants);
            true
        }
        (Err(e), Err(x)) => {
            assert_eq!(e, x);
            assert_eq!(
                snapshot(j),
                before,
                "a refused parse_reply changed the topic"
            );
            false
        }
        (got, x) => panic!("parse_reply gave {got:?}, expected {x:?}"),
    }
}

/// construct_reply on arbitrary intro bytes and parse_reply on arbitrary reply
/// bytes, from topics with and without the key, with and without a pending
/// introduction; decode hands both kinds back.
pub fn check_discovery(data: &[u8]) {
    REPLIERS.with(|repliers| {
        for r in repliers.borrow_mut().iter_mut() {
            check_construct_reply(r, data);
        }
    });
    JOINERS.with(|joiners| {
        let mut joiners = joiners.borrow_mut();
        for (i, spec) in joiner_specs().iter().enumerate() {
            let accepted = check_parse_reply(&mut joiners[i], spec.pending, data);
            // decode never opens a discovery message, key or no key.
            if let Ok(m) = Message::parse(data) {
                let got = joiners[i].decode(data, DecodeMode::Strict);
                match m.message_type() {
                    MessageType::Introduction => {
                        assert!(matches!(got, Err(Error::Introduction)), "{got:?}")
                    }
                    MessageType::IntroductionReply => {
                        assert!(matches!(got, Err(Error::IntroductionReply)), "{got:?}")
                    }
                    MessageType::Simple | MessageType::V2(_) => {}
                    other => panic!("the oracle does not know {other:?}"),
                }
            }
            if accepted {
                joiners[i] = joiner(spec);
            }
        }
    });
}
