//! Participants on different backends interoperate: every message type made by one
//! backend is accepted by the other, both ways; the same seed gives the same key, id
//! and byte-identical signatures; a whole discovery runs across backends; and the two
//! verifiers give the same verdict on valid, tampered and random signatures.
#![cfg(all(feature = "rustcrypto", feature = "ring"))]

mod common;

use common::TestRng;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand_core::{OsRng, RngCore};
use signature::Signer;
use stringphone::protocol::Topic;
use stringphone::wire::Message;
use stringphone::{
    verify_signature, Backend, BoxSecret, DecodeMode, Error, Identity, MemoryTrustStore, PublicKey,
    Ring, RustCrypto, SigningSeed, TopicKey,
};
use stringphone_testkit::verified_message;

type T<B> = Topic<B, MemoryTrustStore>;

fn seed(bytes: [u8; 32]) -> SigningSeed {
    SigningSeed::from_bytes(bytes)
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b
}

fn messages() -> Vec<Vec<u8>> {
    let mut big = vec![0u8; 100_000];
    OsRng.fill_bytes(&mut big);
    vec![
        vec![],
        b"x".to_vec(),
        b"Hi Bob!".to_vec(),
        big[..1000].to_vec(),
        big,
    ]
}

#[test]
fn the_same_seed_gives_the_same_key_id_and_signatures() {
    let seeds = (0..=255u8)
        .step_by(17)
        .map(|b| [b; 32])
        .chain((0..16).map(|_| random32()));
    let messages = messages();
    let mut compared = 0;
    for bytes in seeds {
        let a = RustCrypto::signing_key(&seed(bytes));
        let b = Ring::signing_key(&seed(bytes));
        let key = a.public_key();
        assert_eq!(key, b.public_key());
        assert_eq!(RustCrypto::participant_id(&key), Ring::participant_id(&key));
        for m in &messages {
            let (sa, sb): (ed25519::Signature, ed25519::Signature) = (a.sign(m), b.sign(m));
            assert_eq!(sa.to_bytes(), sb.to_bytes(), "seed {}", hex::encode(bytes));
            compared += 1;
        }
        // The topics say the same.
        let (ta, tb) = (
            T::<RustCrypto>::new(seed(bytes), None),
            T::<Ring>::new(seed(bytes), None),
        );
        assert_eq!((ta.public_key(), ta.id()), (tb.public_key(), tb.id()));
        // And so do the X25519 halves.
        let secret = BoxSecret::from_bytes(bytes);
        assert_eq!(
            RustCrypto::box_public_key(&secret),
            Ring::box_public_key(&secret)
        );
    }
    println!("{compared} signatures compared, all byte-identical");
}

/// Given the same randomness, both backends write the same bytes for every message
/// type.
#[test]
fn every_message_type_is_byte_identical_across_backends() {
    // The topic key, Alice's and Bob's seeds, the nonce, the ephemeral and reply secrets.
    let inputs = [(); 6].map(|_| random32());

    fn all<B: Backend>(
        [key, alice_seed, bob_seed, nonce, ephemeral, reply_secret]: [[u8; 32]; 6],
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let key = TopicKey::from_bytes(key);
        let mut alice = T::<B>::new(seed(alice_seed), Some(key.clone()));
        let mut bob = T::<B>::new(seed(bob_seed), None);
        let simple = alice
            .encode_with_rng(&mut TestRng::replay(&[&nonce[..24]]), "same bytes")
            .unwrap();
        let intro = bob
            .construct_intro_with(&mut TestRng::replay(&[&ephemeral]))
            .unwrap();
        alice.add_participant(bob.public_key()).unwrap();
        let reply = alice
            .construct_reply_with(&mut TestRng::replay(&[&reply_secret, &nonce[..24]]), &intro)
            .unwrap();
        (simple, intro.to_vec(), reply.to_vec())
    }

    let (a, b) = (all::<RustCrypto>(inputs), all::<Ring>(inputs));
    assert!(a.0 == b.0, "simple messages differ");
    assert_eq!(hex::encode(&a.1), hex::encode(&b.1), "introductions differ");
    assert_eq!(hex::encode(&a.2), hex::encode(&b.2), "replies differ");
}

/// Simple messages from `A` decode on `B`, in every mode; tampering is caught by `B`.
fn simple_messages<A: Backend, B: Backend>() {
    let key = TopicKey::from_bytes(random32());
    let mut alice = T::<A>::new(seed(random32()), Some(key.clone()));
    let mut bob = T::<B>::new(seed(random32()), Some(key));
    let untrusted = bob.decode(&alice.encode("hi").unwrap(), DecodeMode::Strict);
    assert_eq!(untrusted, Err(Error::UntrustedSender(alice.id())));
    bob.add_participant(alice.public_key()).unwrap();
    for m in messages() {
        let wire = alice.encode(&m).unwrap();
        for mode in [DecodeMode::Strict, DecodeMode::IgnoreUntrusted] {
            let decoded = bob.decode(&wire, mode).unwrap();
            verified_message(&decoded, alice.id(), &m).unwrap();
        }
        let mut in_place = wire.clone();
        let got = bob
            .decode_in_place(&mut in_place, DecodeMode::Strict)
            .unwrap();
        assert!(got.plaintext().unwrap() == &m[..]);
        // One flipped bit in the signed part: the other backend refuses it.
        let mut tampered = wire.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            bob.decode(&tampered, DecodeMode::Strict),
            Err(Error::BadSignature)
        ));
        // In the signature itself, too.
        let mut tampered = wire;
        tampered[40] ^= 0x20;
        assert!(matches!(
            bob.decode(&tampered, DecodeMode::Strict),
            Err(Error::BadSignature)
        ));
    }
}

#[test]
fn simple_messages_cross_both_ways() {
    simple_messages::<RustCrypto, Ring>();
    simple_messages::<Ring, RustCrypto>();
}

/// A newcomer on `New` joins a topic held on `Old`: its introduction is accepted by
/// `Old`, `Old`'s reply by `New`, and then messages flow both ways.
fn discovery<Old: Backend, New: Backend>() {
    let key = TopicKey::from_bytes(random32());
    let mut old = T::<Old>::new(seed(random32()), Some(key.clone()));
    let mut newcomer = T::<New>::new(seed(random32()), None);

    let intro = newcomer.construct_intro().unwrap();
    assert!(matches!(
        old.decode(&intro, DecodeMode::Strict),
        Err(Error::Introduction)
    ));
    let Message::Introduction(view) = Message::parse(&intro).unwrap() else {
        panic!("not an introduction");
    };
    assert_eq!(view.sender_key(), newcomer.public_key());
    // Trust first (the seed's flow), then reply: the reply checks the introduction's
    // signature, made by the other backend.
    assert!(matches!(
        old.construct_reply(&intro),
        Err(Error::UntrustedSender(_))
    ));
    old.add_participant(view.sender_key()).unwrap();
    let reply = old.construct_reply(&intro).unwrap();

    assert!(matches!(
        newcomer.decode(&reply, DecodeMode::Strict),
        Err(Error::IntroductionReply)
    ));
    assert_eq!(newcomer.parse_reply(&reply).unwrap(), old.public_key());
    assert_eq!(newcomer.topic_key(), Some(&key));
    assert!(!newcomer.has_pending_introduction());
    newcomer.add_participant(old.public_key()).unwrap();

    let to_old = newcomer.encode("hello from the newcomer").unwrap();
    let to_new = old.encode("welcome").unwrap();
    assert_eq!(
        old.decode(&to_old, DecodeMode::Strict)
            .unwrap()
            .plaintext()
            .unwrap(),
        b"hello from the newcomer"
    );
    assert_eq!(
        newcomer
            .decode(&to_new, DecodeMode::Strict)
            .unwrap()
            .plaintext()
            .unwrap(),
        b"welcome"
    );
}

#[test]
fn discovery_runs_across_backends_both_ways() {
    discovery::<RustCrypto, Ring>();
    discovery::<Ring, RustCrypto>();
}

/// An introduction signed by one backend and tampered with is refused by the other.
#[test]
fn a_tampered_introduction_is_refused_across_backends() {
    fn check<A: Backend, B: Backend>() {
        let mut newcomer = T::<A>::new(seed(random32()), None);
        let mut old = T::<B>::new(seed(random32()), Some(TopicKey::from_bytes([3; 32])));
        let mut intro = newcomer.construct_intro().unwrap();
        old.add_participant(newcomer.public_key()).unwrap();
        let last = intro.len() - 1;
        intro[last] ^= 1; // the signed encryption key
        assert!(matches!(
            old.construct_reply(&intro),
            Err(Error::BadSignature)
        ));
    }
    check::<RustCrypto, Ring>();
    check::<Ring, RustCrypto>();
}

/// A newcomer that gets several replies to one introduction can try each of them:
/// refused replies leave its ephemeral secret in place (the reason the X25519 secret
/// is not ring's single-use one), and the first good reply, from either backend,
/// completes discovery.
fn several_replies<New: Backend>() {
    let key = TopicKey::from_bytes(random32());
    let (newcomer_seed, ephemeral) = (random32(), random32());
    let mut newcomer = T::<New>::new(seed(newcomer_seed), None);
    let intro = newcomer
        .construct_intro_with(&mut TestRng::replay(&[&ephemeral]))
        .unwrap();
    // Someone else's introduction, answered too.
    let mut other = T::<New>::new(seed(random32()), None);
    let other_intro = other.construct_intro().unwrap();

    let mut on_rustcrypto = T::<RustCrypto>::new(seed(random32()), Some(key.clone()));
    let mut on_ring = T::<Ring>::new(seed(random32()), Some(key.clone()));
    for replier_trusts in [newcomer.public_key(), other.public_key()] {
        on_rustcrypto.add_participant(replier_trusts).unwrap();
        on_ring.add_participant(replier_trusts).unwrap();
    }
    let good_rustcrypto = on_rustcrypto.construct_reply(&intro).unwrap();
    let good_ring = on_ring.construct_reply(&intro).unwrap();
    let for_other = on_ring.construct_reply(&other_intro).unwrap();

    bad_replies_leave_the_secret_in_place(&mut newcomer, &good_rustcrypto, &good_ring, &for_other);
    // After four refusals the same secret still opens a good reply; the first one
    // accepted ends discovery.
    assert_eq!(
        newcomer.parse_reply(&good_rustcrypto).unwrap(),
        on_rustcrypto.public_key()
    );
    assert_eq!(newcomer.topic_key(), Some(&key));
    assert!(matches!(
        newcomer.parse_reply(&good_ring),
        Err(Error::NoPendingIntroduction)
    ));
    // The other good reply opens under that secret as well: a twin with the same seed
    // and ephemeral secret takes it.
    let mut twin = T::<New>::new(seed(newcomer_seed), None);
    let twin_intro = twin
        .construct_intro_with(&mut TestRng::replay(&[&ephemeral]))
        .unwrap();
    assert_eq!(twin_intro, intro);
    assert_eq!(twin.parse_reply(&good_ring).unwrap(), on_ring.public_key());
    assert_eq!(twin.topic_key(), Some(&key));
    // And the other participant takes the reply meant for it.
    assert!(other.parse_reply(&for_other).is_ok());
}

/// Four replies to `newcomer`'s introduction made bad from good ones: one tampered,
/// one naming another replier's X25519 key, one for someone else, and that one
/// addressed to the newcomer: each refused, its ephemeral secret kept, no key
/// installed.
fn bad_replies_leave_the_secret_in_place<New: Backend>(
    newcomer: &mut T<New>,
    good_rustcrypto: &[u8],
    good_ring: &[u8],
    for_other: &[u8],
) {
    // Reply layout: type, recipient id (1..17), nonce (17..41), mac (41..57), sealed
    // key (57..89), the replier's X25519 key (89..121), its Ed25519 key (121..153).
    let mut tampered = good_rustcrypto.to_vec();
    tampered[57] ^= 1;
    let mut wrong_box_key = good_ring.to_vec();
    wrong_box_key[89..121].copy_from_slice(&for_other[89..121]);
    let mut sealed_elsewhere = for_other.to_vec();
    sealed_elsewhere[1..17].copy_from_slice(newcomer.id().as_bytes());

    type IsExpected = fn(&Error) -> bool;
    let refused: [(&[u8], IsExpected); 4] = [
        (&tampered[..], |e| *e == Error::DecryptFailed),
        (&wrong_box_key[..], |e| *e == Error::DecryptFailed),
        (for_other, |e| matches!(e, Error::NotForUs { .. })),
        (&sealed_elsewhere[..], |e| *e == Error::DecryptFailed),
    ];
    for (reply, expected) in refused {
        let err = newcomer.parse_reply(reply).unwrap_err();
        assert!(expected(&err), "unexpected {err:?}");
        assert!(newcomer.has_pending_introduction());
        assert!(newcomer.topic_key().is_none());
    }
}

#[test]
fn several_replies_to_one_introduction_can_each_be_tried() {
    several_replies::<RustCrypto>();
    several_replies::<Ring>();
}

/// Random seeds, messages and corruptions: both backends' verifiers give the same
/// verdict, through the call decode makes.
#[test]
fn verdicts_agree_on_valid_tampered_and_random_signatures() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u8>(), 0..256),
        0usize..96,
        any::<u8>(),
        any::<[u8; 32]>(),
    );
    runner
        .run(
            &strategy,
            |(seed_bytes, message, position, flip, random)| {
                let signer = Ring::signing_key(&seed(seed_bytes));
                let key = signer.public_key();
                let signature: ed25519::Signature = signer.sign(&message);
                let signature = signature.to_bytes();
                let verdicts = |key: &PublicKey, sig: &[u8; 64]| {
                    (
                        verify_signature::<RustCrypto>(key, &message, sig).is_ok(),
                        verify_signature::<Ring>(key, &message, sig).is_ok(),
                    )
                };
                // Valid.
                prop_assert_eq!(verdicts(&key, &signature), (true, true));
                // One byte of the signature or the key changed (a zero flip is no change).
                let mut sig = signature;
                let mut k = key.to_bytes();
                if position < 64 {
                    sig[position] ^= flip;
                } else {
                    k[position - 64] ^= flip;
                }
                let (a, b) = verdicts(&PublicKey::from_bytes(k), &sig);
                prop_assert_eq!(a, b);
                prop_assert_eq!(a, flip == 0);
                // Random R, random S, random key.
                let mut sig = signature;
                sig[..32].copy_from_slice(&random);
                let (a, b) = verdicts(&key, &sig);
                prop_assert_eq!(a, b);
                let mut sig = signature;
                sig[32..].copy_from_slice(&random);
                let (a, b) = verdicts(&key, &sig);
                prop_assert_eq!(a, b);
                let (a, b) = verdicts(&PublicKey::from_bytes(random), &signature);
                prop_assert_eq!(a, b);
                Ok(())
            },
        )
        .unwrap();
}
