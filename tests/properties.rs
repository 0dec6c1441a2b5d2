//! Property tests: round trips, one-byte tampering, and no panic on any input.

mod common;

use std::cell::RefCell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stringphone::protocol::Topic;
use stringphone::{Backend, DecodeMode, Decoded, MemoryTrustStore, Message, SigningSeed, TopicKey};

type T<B> = Topic<B, MemoryTrustStore>;

/// Alice and Bob share a key and trust each other; Carol shares the key and is
/// trusted by nobody.
fn cast<B: Backend>() -> (T<B>, T<B>, T<B>) {
    let key = TopicKey::from_bytes([0x5a; 32]);
    let mut alice = Topic::new(SigningSeed::from_bytes([1; 32]), Some(key.clone()));
    let mut bob = Topic::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
    let carol = Topic::new(SigningSeed::from_bytes([3; 32]), Some(key));
    alice.add_participant(bob.public_key()).unwrap();
    bob.add_participant(alice.public_key()).unwrap();
    (alice, bob, carol)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes shaped like messages: a known type byte and a length near the boundaries,
/// as well as anything at all.
fn message_like() -> impl Strategy<Value = Vec<u8>> {
    let typed = (
        prop_oneof![Just(b's'), Just(b'i'), Just(b'r'), any::<u8>()],
        prop_oneof![
            0usize..4,
            118usize..125,
            126usize..132,
            150usize..156,
            0usize..600
        ],
    )
        .prop_flat_map(|(t, len)| {
            vec(any::<u8>(), len).prop_map(move |mut v| {
                if let Some(b) = v.first_mut() {
                    *b = t;
                }
                v
            })
        });
    prop_oneof![typed, vec(any::<u8>(), 0..2048)]
}

fn round_trip<B: Backend>(_: &str) {
    let cast = RefCell::new(cast::<B>());
    runner(256)
        .run(&vec(any::<u8>(), 0..=65536), |plaintext| {
            let (alice, bob, _) = &mut *cast.borrow_mut();
            let wire = alice.encode(&plaintext).unwrap();
            prop_assert_eq!(wire.len(), plaintext.len() + 121);
            match bob.decode(&wire, DecodeMode::Strict).unwrap() {
                Decoded::Message {
                    sender,
                    verified,
                    plaintext: got,
                } => {
                    prop_assert_eq!(sender, alice.id());
                    prop_assert!(verified);
                    prop_assert!(got == plaintext);
                }
                other => prop_assert!(false, "not a message: {:?}", other),
            }
            Ok(())
        })
        .unwrap();
}
for_each_backend!(round_trip);

fn one_byte_changed_is_refused<B: Backend>(_: &str) {
    let cast = RefCell::new(cast::<B>());
    let strategy = (
        vec(any::<u8>(), 0..300),
        any::<prop::sample::Index>(),
        1u8..=255,
    );
    runner(2048)
        .run(&strategy, |(plaintext, at, flip)| {
            let (alice, bob, _) = &mut *cast.borrow_mut();
            let mut wire = alice.encode(&plaintext).unwrap();
            let i = at.index(wire.len());
            wire[i] ^= flip;
            let result = bob.decode(&wire, DecodeMode::Strict);
            prop_assert!(
                !matches!(result, Ok(Decoded::Message { .. })),
                "byte {} changed and still decoded",
                i
            );
            Ok(())
        })
        .unwrap();
}
mod tamper {
    use super::*;
    for_each_backend!(one_byte_changed_is_refused);
}

fn arbitrary_bytes_never_panic<B: Backend>(_: &str) {
    let (alice, _, _) = cast::<B>();
    let mut joiner: T<B> = Topic::new(SigningSeed::from_bytes([9; 32]), None);
    joiner.construct_intro_with(&mut rand_core::OsRng).unwrap();
    let topics = RefCell::new((alice, joiner));
    runner(4096)
        .run(&message_like(), |bytes| {
            let (alice, joiner) = &mut *topics.borrow_mut();
            for mode in [
                DecodeMode::Strict,
                DecodeMode::IgnoreUntrusted,
                DecodeMode::Naive,
            ] {
                let _ = alice.decode(&bytes, mode);
                let mut out = vec![0u8; bytes.len()];
                let _ = alice.decode_into(&bytes, mode, &mut out);
                let mut copy = bytes.clone();
                let _ = alice.decode_in_place(&mut copy, mode);
            }
            if let Ok(view) = Message::parse(&bytes) {
                // The view's typed fields rebuild exactly the input.
                prop_assert_eq!(view.to_vec(), bytes.clone());
            }
            let _ = alice.construct_reply(&bytes);
            // A refused reply must leave the joiner waiting, with no key.
            if joiner.parse_reply(&bytes).is_err() {
                prop_assert!(joiner.has_pending_introduction());
                prop_assert!(joiner.topic_key().is_none());
            }
            Ok(())
        })
        .unwrap();
}
mod fuzzish {
    use super::*;
    for_each_backend!(arbitrary_bytes_never_panic);
}

fn untrusted_sender_never_decodes_strictly<B: Backend>(_: &str) {
    let cast = RefCell::new(cast::<B>());
    runner(32)
        .run(&vec(any::<u8>(), 0..256), |plaintext| {
            let (_, bob, carol) = &mut *cast.borrow_mut();
            let wire = carol.encode(&plaintext).unwrap();
            prop_assert!(bob.decode(&wire, DecodeMode::Strict).is_err());
            let ignored = matches!(
                bob.decode(&wire, DecodeMode::IgnoreUntrusted),
                Ok(Decoded::Ignored { sender }) if sender == carol.id()
            );
            prop_assert!(ignored, "ignore-untrusted did not ignore carol");
            let naive = bob.decode(&wire, DecodeMode::Naive).unwrap();
            let unverified = matches!(
                naive,
                Decoded::Message {
                    verified: false,
                    ..
                }
            );
            prop_assert!(unverified, "naive decode claimed a verified sender");
            Ok(())
        })
        .unwrap();
}
mod untrusted {
    use super::*;
    for_each_backend!(untrusted_sender_never_decodes_strictly);
}

fn v2_round_trip_and_one_byte_tamper<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = cast::<B>();
    alice.set_protocol(stringphone::v2::ProtocolVersion::V2);
    alice
        .set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    bob.set_protocol(stringphone::v2::ProtocolVersion::V2);
    bob.set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    let cast = RefCell::new((alice, bob));
    let strategy = (
        vec(any::<u8>(), 0..=16384),
        any::<prop::sample::Index>(),
        1u8..=255,
    );
    runner(256)
        .run(&strategy, |(plaintext, at, flip)| {
            let (alice, bob) = &mut *cast.borrow_mut();
            let wire = alice.encode(&plaintext).unwrap();
            prop_assert_eq!(wire.len(), plaintext.len() + 127);
            let mut tampered = wire.clone();
            let i = at.index(wire.len());
            tampered[i] ^= flip;
            // The tampered copy first: its refusal must not spend the genuine one.
            let refused = !matches!(
                bob.decode(&tampered, DecodeMode::Strict),
                Ok(Decoded::Message { .. })
            );
            prop_assert!(refused, "byte {} changed and still decoded", i);
            match bob.decode(&wire, DecodeMode::Strict).unwrap() {
                Decoded::Message { plaintext: got, .. } => prop_assert!(got == plaintext),
                other => prop_assert!(false, "not a message: {:?}", other),
            }
            Ok(())
        })
        .unwrap();
}
mod v2 {
    use super::*;
    for_each_backend!(v2_round_trip_and_one_byte_tamper);
}
