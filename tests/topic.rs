//! Behaviour of a topic beyond the vectors: modes, trust changes, failures that must
//! change nothing, and what never prints.

mod common;

use common::TestRng;
use stringphone::protocol::Topic as GenericTopic;
use stringphone::{
    Backend, DecodeMode, Decoded, DefaultBackend, Error, FixedTrustStore, Identity, Message,
    PublicKey, SigningSeed, Topic, TopicKey, TrustStore,
};
use stringphone_testkit::store::{FlawedStore, Flaws};

fn pair() -> (Topic, Topic) {
    let key = TopicKey::from_bytes([0x33; 32]);
    let mut alice = Topic::new(SigningSeed::from_bytes([1; 32]), Some(key.clone()));
    let mut bob = Topic::new(SigningSeed::from_bytes([2; 32]), Some(key));
    alice.add_participant(bob.public_key()).unwrap();
    bob.add_participant(alice.public_key()).unwrap();
    (alice, bob)
}

#[test]
fn topic_is_send_and_sync_with_a_send_sync_store() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Topic>();
    assert_send_sync::<GenericTopic<DefaultBackend, FixedTrustStore<4>>>();
    assert_send_sync::<Error>();
}

#[test]
fn secrets_never_show_in_debug() {
    let seed_hex = "5e".repeat(32);
    let key_hex = "7a".repeat(32);
    let seed = SigningSeed::from_hex(&seed_hex).unwrap();
    let key = TopicKey::from_hex(&key_hex).unwrap();
    let mut t = Topic::new(seed.clone(), Some(key.clone()));
    t.construct_intro().unwrap();
    let shown = format!("{seed:?} {key:?} {t:?} {t:#?} {:?}", t.identity());
    for secret in [
        &seed_hex,
        &key_hex,
        &"5e5e5e5e".to_string(),
        &"7a7a7a7a".to_string(),
    ] {
        assert!(!shown.contains(secret.as_str()), "secret bytes in {shown}");
    }
    // What is public does show.
    assert!(shown.contains(&t.id().to_string()));
}

#[test]
fn own_messages_are_recognised_in_every_mode_without_crypto() {
    let (mut alice, _) = pair();
    let wire = alice.encode("echo").unwrap();
    for mode in [
        DecodeMode::Strict,
        DecodeMode::IgnoreUntrusted,
        DecodeMode::Naive,
    ] {
        assert_eq!(alice.decode(&wire, mode).unwrap(), Decoded::Own);
    }
    // Even with a broken signature and ciphertext: no crypto is done on our own id.
    let mut broken = wire.clone();
    broken[1] ^= 1;
    let last = broken.len() - 1;
    broken[last] ^= 1;
    assert_eq!(
        alice.decode(&broken, DecodeMode::Strict).unwrap(),
        Decoded::Own
    );
}

#[test]
fn removing_a_participant_revokes_its_messages() {
    let (mut alice, mut bob) = pair();
    let wire = alice.encode("before").unwrap();
    assert!(bob.decode(&wire, DecodeMode::Strict).is_ok());
    assert_eq!(
        bob.remove_participant(&alice.id()).unwrap(),
        Some(alice.public_key())
    );
    assert!(matches!(
        bob.decode(&wire, DecodeMode::Strict),
        Err(Error::UntrustedSender(id)) if id == alice.id()
    ));
    assert_eq!(bob.remove_participant(&alice.id()).unwrap(), None);
}

#[test]
fn the_store_stays_the_authority_over_the_key_cache() {
    let (mut alice, mut bob) = pair();
    let wire = alice.encode("hi").unwrap();
    // Changed behind the topic's back: the cached key must not keep Alice trusted.
    bob.trust_store_mut().remove(&alice.id()).unwrap();
    assert!(matches!(
        bob.decode(&wire, DecodeMode::Strict),
        Err(Error::UntrustedSender(_))
    ));
    // Added behind its back: no cache entry, still verified.
    let id = alice.id();
    bob.trust_store_mut()
        .insert(id, alice.public_key())
        .unwrap();
    assert!(bob.decode(&wire, DecodeMode::Strict).is_ok());
}

#[test]
fn a_store_given_at_construction_is_trusted() {
    let mut alice = Topic::new(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    let mut store = FixedTrustStore::<2>::new();
    store.insert(alice.id(), alice.public_key()).unwrap();
    let mut bob = GenericTopic::<DefaultBackend, _>::with_store(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
        store,
    );
    let wire = alice.encode("hello").unwrap();
    let mut out = [0u8; 5];
    let got = bob
        .decode_into(&wire, DecodeMode::Strict, &mut out)
        .unwrap();
    assert_eq!(got.plaintext().map(|p| &*p), Some(&b"hello"[..]));
}

#[test]
fn unusable_public_keys_are_refused_and_nothing_is_stored() {
    let (_, mut bob) = pair();
    let before: Vec<_> = bob.participants().unwrap().collect();
    let mut identity = [0u8; 32];
    identity[0] = 1; // the neutral point: small order
    let mut non_canonical = [0xff; 32];
    non_canonical[0] = 0xee; // y = p + 1
    non_canonical[31] = 0x7f;
    for bad in [identity, non_canonical, [0; 32]] {
        assert!(matches!(
            bob.add_participant(PublicKey::from_bytes(bad)),
            Err(Error::InvalidPublicKey)
        ));
    }
    assert_eq!(bob.participants().unwrap().collect::<Vec<_>>(), before);
}

#[test]
fn missing_topic_key_is_reported_after_the_sender_checks() {
    let (mut alice, _) = pair();
    let mut keyless = Topic::new(SigningSeed::from_bytes([4; 32]), None);
    assert_eq!(keyless.encode("x"), Err(Error::MissingTopicKey));
    let wire = alice.encode("x").unwrap();
    // Untrusted first...
    assert!(matches!(
        keyless.decode(&wire, DecodeMode::Strict),
        Err(Error::UntrustedSender(_))
    ));
    // ...then, once trusted and verified, the missing key.
    keyless.add_participant(alice.public_key()).unwrap();
    assert!(matches!(
        keyless.decode(&wire, DecodeMode::Strict),
        Err(Error::MissingTopicKey)
    ));
    keyless.set_topic_key(alice.topic_key().cloned());
    assert!(keyless.decode(&wire, DecodeMode::Strict).is_ok());
}

#[test]
fn caller_buffers_that_are_too_small_are_refused() {
    let (mut alice, mut bob) = pair();
    let mut out = [0u8; 130];
    let err = alice
        .encode_into(&mut rand_core::OsRng, b"0123456789", &mut out)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::BufferTooSmall {
            needed: 131,
            available: 130
        }
    ));
    assert_eq!(
        err.to_string(),
        "buffer too small: 131 bytes needed, 130 available"
    );
    let wire = alice.encode(b"0123456789").unwrap();
    let mut small = [0u8; 9];
    assert!(matches!(
        bob.decode_into(&wire, DecodeMode::Strict, &mut small),
        Err(Error::BufferTooSmall {
            needed: 10,
            available: 9
        })
    ));
}

#[test]
fn decode_in_place_leaves_a_refused_message_unchanged() {
    let (mut alice, mut bob) = pair();
    let mut wire = alice.encode("secret words").unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 0x80;
    let before = wire.clone();
    // Naive mode skips the signature, so this reaches the cipher, which refuses.
    assert!(matches!(
        bob.decode_in_place(&mut wire, DecodeMode::Naive),
        Err(Error::DecryptFailed)
    ));
    assert_eq!(wire, before);
}

/// The same in v2, whose cipher on the ring backend is ring's ChaCha20-Poly1305: ring
/// zeroes a buffer whose tag fails, which left a refused v2 message zeroed here
/// (`Err(DecryptFailed)`, ciphertext all zeros) until the backend kept the ciphertext.
#[test]
fn decode_in_place_leaves_a_refused_v2_message_unchanged() {
    use stringphone::protocol::v2::{ProtocolVersion, TopicId};
    let (mut alice, mut bob) = pair();
    for t in [&mut alice, &mut bob] {
        t.set_topic_id(TopicId::from_name(b"in place")).unwrap();
        t.set_protocol(ProtocolVersion::V2);
    }
    let mut wire = alice.encode("secret words").unwrap();
    // A ciphertext byte (after the 47-byte header): the signature is skipped in naive
    // mode, so this reaches the cipher, which refuses its tag.
    wire[50] ^= 0x80;
    let before = wire.clone();
    assert!(matches!(
        bob.decode_in_place(&mut wire, DecodeMode::Naive),
        Err(Error::DecryptFailed)
    ));
    assert_eq!(wire, before, "a refused v2 message was changed in place");
}

#[test]
fn a_failing_rng_is_an_error_not_a_panic() {
    let (mut alice, _) = pair();
    let mut dry = TestRng::replay(&[&[0u8; 10]]);
    let mut out = [0u8; 200];
    assert!(matches!(
        alice.encode_into(&mut dry, b"x", &mut out),
        Err(Error::Rng)
    ));
    let mut t = Topic::new(SigningSeed::from_bytes([5; 32]), None);
    assert_eq!(t.construct_intro_with(&mut dry), Err(Error::Rng));
    assert!(!t.has_pending_introduction());
}

/// A signer that lives elsewhere: here it delegates to a backend key, or refuses.
struct Hsm {
    key: <DefaultBackend as Backend>::SigningKey,
    refuse: bool,
}

impl signature::Signer<ed25519::Signature> for Hsm {
    fn try_sign(&self, msg: &[u8]) -> Result<ed25519::Signature, signature::Error> {
        if self.refuse {
            return Err(signature::Error::new());
        }
        self.key.try_sign(msg)
    }
}

impl Identity for Hsm {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }
}

#[test]
fn any_identity_plugs_in_and_its_failures_are_errors() {
    let (_, mut bob) = pair();
    let seed = SigningSeed::from_bytes([7; 32]);
    let hsm = Hsm {
        key: DefaultBackend::signing_key(&seed),
        refuse: false,
    };
    let mut remote: GenericTopic<DefaultBackend, _, Hsm> = GenericTopic::from_identity(
        hsm,
        bob.topic_key().cloned(),
        stringphone::MemoryTrustStore::new(),
    );
    // Same seed, same identity as a seed-built topic.
    assert_eq!(remote.id(), Topic::new(seed, None).id());
    bob.add_participant(remote.public_key()).unwrap();
    let wire = remote.encode("from the HSM").unwrap();
    assert!(bob.decode(&wire, DecodeMode::Strict).is_ok());

    let refusing = Hsm {
        key: DefaultBackend::signing_key(&SigningSeed::from_bytes([7; 32])),
        refuse: true,
    };
    let mut refused: GenericTopic<DefaultBackend, _, Hsm> = GenericTopic::from_identity(
        refusing,
        bob.topic_key().cloned(),
        stringphone::MemoryTrustStore::new(),
    );
    assert_eq!(refused.encode("x"), Err(Error::SigningFailed));
    assert!(matches!(
        refused.construct_intro(),
        Err(Error::SigningFailed)
    ));
    assert!(!refused.has_pending_introduction());
    let _ = remote.construct_intro().unwrap();
}

#[test]
fn store_failures_carry_their_source_and_change_nothing() {
    let (mut alice, _) = pair();
    let mut t = GenericTopic::<DefaultBackend, _>::with_store(
        SigningSeed::from_bytes([8; 32]),
        alice.topic_key().cloned(),
        FlawedStore::new(Flaws {
            fails_trust_writes: true,
            ..Flaws::default()
        }),
    );
    let err = t.add_participant(alice.public_key()).unwrap_err();
    // Each cause once: what failed, then (as the source) why.
    assert_eq!(err.to_string(), "the trust store failed");
    let source = std::error::Error::source(&err).expect("a source");
    assert_eq!(source.to_string(), "disk full");
    assert!(
        source.source().is_none(),
        "DiskFull has no cause of its own"
    );
    // Nothing trusted, not even through the cache.
    let wire = alice.encode("x").unwrap();
    assert!(matches!(
        t.decode(&wire, DecodeMode::Strict),
        Err(Error::UntrustedSender(_))
    ));
    assert!(matches!(
        t.remove_participant(&alice.id()),
        Err(Error::Store(_))
    ));

    let mut full = GenericTopic::<DefaultBackend, _>::with_store(
        SigningSeed::from_bytes([8; 32]),
        None,
        FixedTrustStore::<1>::new(),
    );
    full.add_participant(alice.public_key()).unwrap();
    let other = Topic::new(SigningSeed::from_bytes([9; 32]), None);
    let err = full.add_participant(other.public_key()).unwrap_err();
    assert_eq!(err.to_string(), "the trust store failed");
    let source = std::error::Error::source(&err).expect("a source");
    assert_eq!(source.to_string(), "fixed trust store is full");
    assert_eq!(full.participants().unwrap().count(), 1);
}

#[test]
fn discovery_refusals_name_their_reason_and_change_nothing() {
    let (mut alice, _) = pair();
    let mut newcomer = Topic::new(SigningSeed::from_bytes([6; 32]), None);
    assert!(matches!(
        newcomer.parse_reply(&[b'r'; 153]),
        Err(Error::NotForUs { .. })
    ));
    let intro = newcomer.construct_intro().unwrap();
    // A simple message handed to construct_reply is refused by its type.
    let simple = alice.encode("x").unwrap();
    let err = alice.construct_reply(&simple).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }));
    assert_eq!(
        err.to_string(),
        "expected an introduction, got a simple message"
    );
    assert!(matches!(
        newcomer.parse_reply(&intro),
        Err(Error::WrongType { .. })
    ));

    alice.add_participant(newcomer.public_key()).unwrap();
    let mut keyless = {
        let mut t = Topic::new(SigningSeed::from_bytes([10; 32]), None);
        t.add_participant(newcomer.public_key()).unwrap();
        t
    };
    assert!(matches!(
        keyless.construct_reply(&intro),
        Err(Error::MissingTopicKey)
    ));

    // Two replies: a forged one fails and changes nothing; the real one then works.
    let reply = alice.construct_reply(&intro).unwrap();
    let mut forged = reply.clone();
    forged[60] ^= 1; // inside the sealed key
    assert!(matches!(
        newcomer.parse_reply(&forged),
        Err(Error::DecryptFailed)
    ));
    assert!(newcomer.has_pending_introduction() && newcomer.topic_key().is_none());
    assert_eq!(newcomer.parse_reply(&reply).unwrap(), alice.public_key());
    assert_eq!(newcomer.topic_key(), alice.topic_key());
    // Discovery is over: a further reply is refused, and the key stays.
    assert!(matches!(
        newcomer.parse_reply(&reply),
        Err(Error::NoPendingIntroduction)
    ));
    assert_eq!(newcomer.topic_key(), alice.topic_key());
}

#[test]
fn the_message_view_exposes_every_field() {
    let (mut alice, _) = pair();
    let wire = alice.encode("fields").unwrap();
    let Message::Simple(m) = Message::parse(&wire).unwrap() else {
        panic!("not simple")
    };
    assert_eq!(m.sender_id(), alice.id());
    assert_eq!(m.signature()[..], wire[1..65]);
    assert_eq!(m.nonce()[..], wire[81..105]);
    assert_eq!(m.mac()[..], wire[105..121]);
    assert_eq!(m.ciphertext(), &wire[121..]);
    assert_eq!(m.signed_part(), &wire[65..]);

    let mut joiner = Topic::new(SigningSeed::from_bytes([11; 32]), None);
    let intro = joiner.construct_intro().unwrap();
    let view = Message::parse(&intro).unwrap();
    assert_eq!(view.sender_key(), Some(joiner.public_key()));
    assert_eq!(view.recipient_id(), None);
    let mut alice = alice;
    alice.add_participant(joiner.public_key()).unwrap();
    let reply = alice.construct_reply(&intro).unwrap();
    let view = Message::parse(&reply).unwrap();
    assert_eq!(view.recipient_id(), Some(joiner.id()));
    assert_eq!(view.sender_key(), Some(alice.public_key()));
    assert_eq!(
        view.encryption_key().unwrap().as_bytes()[..],
        reply[89..121]
    );
    assert_eq!(view.sender_key().unwrap().as_bytes()[..], reply[121..]);
    assert_eq!(view.sender_id(), None);
}

#[test]
fn errors_read_clearly() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "malformed message: empty"),
        (
            b"s123",
            "malformed message: a simple message must be at least 121 bytes long, got 4",
        ),
        (
            &[b'i'; 130],
            "malformed message: an introduction must be exactly 129 bytes long, got 130",
        ),
        (b"\x00abc", "unknown message type byte 0x00"),
    ];
    for (bytes, text) in cases {
        assert_eq!(Message::parse(bytes).unwrap_err().to_string(), text);
    }
}
