//! `Topic::receive`, the one door in: every kind of inbound message, of both wire
//! formats, goes through it, and each comes out as the per-type call (`decode`,
//! `construct_reply`, `parse_reply`, `accept_rekey`) gives it on the same bytes: the
//! same plaintext, the same key installed, the same refusal, nothing changed on a
//! refusal. Twin receivers (built alike) take the same bytes, one through `receive`
//! and one through the old call, and end in the same state.

mod common;

use common::v2::key_of;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stringphone::inbound::WireFormat;
use stringphone::protocol::Topic;
use stringphone::v2::{ProtocolVersion, RekeyOutcome, TopicId};
use stringphone::{
    Backend, DecodeMode, Decoded, Error, Inbound, MemoryTrustStore, Message, SigningSeed, TopicKey,
};

type T<B> = Topic<B, MemoryTrustStore>;

fn classic<B: Backend>(seed: u8, key: Option<u8>) -> T<B> {
    T::<B>::new(
        SigningSeed::from_bytes([seed; 32]),
        key.map(|k| TopicKey::from_bytes([k; 32])),
    )
}

fn v2<B: Backend>(seed: u8, key: Option<u8>) -> T<B> {
    let mut t = classic::<B>(seed, key);
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(b"receive topic"))
        .unwrap();
    t
}

/// Bob as a receiver of Alice (seed 1): holds the key, trusts Alice and, in v2,
/// takes her as admin. Built twice for the twin comparisons.
fn bob<B: Backend>(make: fn(u8, Option<u8>) -> T<B>, alice: &T<B>) -> T<B> {
    let mut bob = make(2, Some(9));
    bob.add_participant(alice.public_key()).unwrap();
    if bob.protocol().accepts_v2() {
        bob.add_admin(alice.public_key()).unwrap();
    }
    bob
}

/// Which refusal a case expects.
type Expected = fn(&Error) -> bool;

/// Everything a refusal must leave as it was.
fn state<B: Backend>(t: &T<B>) -> (Vec<u8>, Option<[u8; 32]>, bool, usize) {
    (
        t.group_state().to_bytes().to_vec(),
        key_of(t),
        t.has_pending_introduction(),
        t.participants().unwrap().count(),
    )
}

/// Two refusals are the same: same variant and fields (said by their text, which
/// names every field), and the variant is the one expected.
fn same_refusal<X, Y>(
    got: Result<X, Error>,
    old: Result<Y, Error>,
    expected: impl Fn(&Error) -> bool,
) {
    let (Err(got), Err(old)) = (got, old) else {
        panic!("expected two refusals")
    };
    assert!(expected(&got), "refused with {got:?}");
    assert_eq!(got.to_string(), old.to_string());
}

/// A message of each format: the same plaintext, sender and verification as
/// `decode` (and `decode_into` for `receive_into`), the same state after; our own
/// echo and an ignored sender as `decode` says them.
fn messages_come_out_as_decode_gives_them<B: Backend>(_: &str) {
    for make in [classic::<B> as fn(u8, Option<u8>) -> T<B>, v2::<B>] {
        let mut alice = make(1, Some(9));
        let (mut new, mut old) = (bob(make, &alice), bob(make, &alice));
        let format = a_message_and_its_replay(&mut alice, &mut new, &mut old);
        into_a_buffer_and_in_place(&mut alice, &mut new, &mut old, format);
        our_echo_and_a_strangers_message(make, &mut new, &mut old, format);
    }
}
mod messages {
    use super::*;
    for_each_backend!(messages_come_out_as_decode_gives_them);
}

/// Alice's message, received by `new` and decoded by `old`: the same plaintext,
/// sender and verification, the same state; the same bytes again: v2 refuses the
/// replay, classic takes them. Returns the format's name.
fn a_message_and_its_replay<B: Backend>(
    alice: &mut T<B>,
    new: &mut T<B>,
    old: &mut T<B>,
) -> &'static str {
    let wire = alice.encode("hello through the door").unwrap();
    let format = if wire[0] == 0x02 { "v2" } else { "classic" };
    let got = new.receive(&wire, DecodeMode::Strict).unwrap();
    let Inbound::Message {
        sender,
        verified,
        plaintext,
    } = got
    else {
        panic!("{format}: {got:?}")
    };
    let Decoded::Message {
        sender: old_sender,
        verified: old_verified,
        plaintext: old_plaintext,
    } = old.decode(&wire, DecodeMode::Strict).unwrap()
    else {
        panic!("{format}: decode gave no message")
    };
    assert_eq!(plaintext, b"hello through the door");
    assert_eq!(
        (sender, verified, &plaintext),
        (old_sender, old_verified, &old_plaintext)
    );
    assert_eq!(sender, alice.id());
    assert_eq!(state(new), state(old), "{format}");

    let again = new.receive(&wire, DecodeMode::Strict);
    let old_again = old.decode(&wire, DecodeMode::Strict);
    if format == "v2" {
        same_refusal(again, old_again, |e| {
            matches!(e, Error::Replayed { too_old: false, .. })
        });
    } else {
        assert_eq!(again.unwrap().plaintext(), old_again.unwrap().plaintext());
    }
    format
}

/// `receive_into` as `decode_into` (into a buffer, without a heap) and
/// `receive_in_place` as `decode_in_place`; a buffer too small: the same refusal,
/// nothing moved.
fn into_a_buffer_and_in_place<B: Backend>(
    alice: &mut T<B>,
    new: &mut T<B>,
    old: &mut T<B>,
    format: &str,
) {
    let wire = alice.encode("into a buffer").unwrap();
    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    let got = new.receive_into(&wire, DecodeMode::Strict, &mut a).unwrap();
    let old_got = old.decode_into(&wire, DecodeMode::Strict, &mut b).unwrap();
    let (Inbound::Message { plaintext, .. }, Decoded::Message { plaintext: p2, .. }) =
        (got, old_got)
    else {
        panic!("{format}: not a message")
    };
    assert_eq!(&*plaintext, b"into a buffer");
    assert_eq!(&*plaintext, &*p2);
    let wire = alice.encode("in place").unwrap();
    let (mut a, mut b) = (wire.clone(), wire.clone());
    let got = new.receive_in_place(&mut a, DecodeMode::Strict).unwrap();
    let old_got = old.decode_in_place(&mut b, DecodeMode::Strict).unwrap();
    let (Inbound::Message { plaintext, .. }, Decoded::Message { plaintext: p2, .. }) =
        (got, old_got)
    else {
        panic!("{format}: not a message in place")
    };
    assert_eq!(&*plaintext, b"in place");
    assert_eq!(&*plaintext, &*p2);
    assert_eq!(state(new), state(old), "{format}");
    let wire = alice.encode("too long for four bytes").unwrap();
    let before = state(new);
    same_refusal(
        new.receive_into(&wire, DecodeMode::Strict, &mut [0u8; 4]),
        old.decode_into(&wire, DecodeMode::Strict, &mut [0u8; 4]),
        |e| matches!(e, Error::BufferTooSmall { .. }),
    );
    assert_eq!(state(new), before, "{format}");
}

/// Our own echo is `Own`; an untrusted sender is refused in strict mode and ignored
/// when asked, as `decode` says, nothing changed.
fn our_echo_and_a_strangers_message<B: Backend>(
    make: fn(u8, Option<u8>) -> T<B>,
    new: &mut T<B>,
    old: &mut T<B>,
    format: &str,
) {
    let mine = new.encode("mine").unwrap();
    assert!(matches!(
        new.receive(&mine, DecodeMode::Strict),
        Ok(Inbound::Own)
    ));
    assert!(matches!(
        old.decode(&mine, DecodeMode::Strict),
        Ok(Decoded::Own)
    ));

    let mut carol = make(3, Some(9));
    let hers = carol.encode("from a stranger").unwrap();
    let before = state(new);
    same_refusal(
        new.receive(&hers, DecodeMode::Strict),
        old.decode(&hers, DecodeMode::Strict),
        |e| matches!(e, Error::UntrustedSender(id) if *id == carol.id()),
    );
    assert_eq!(state(new), before, "{format}");
    let got = new.receive(&hers, DecodeMode::IgnoreUntrusted).unwrap();
    assert!(
        matches!(got, Inbound::Ignored { sender } if sender == carol.id()),
        "{format}: {got:?}"
    );
    assert!(matches!(
        old.decode(&hers, DecodeMode::IgnoreUntrusted),
        Ok(Decoded::Ignored { sender }) if sender == carol.id()
    ));
    assert_eq!(state(new), before, "{format}");
}

/// Forged, malformed and refused-by-setting bytes of each format: `receive` refuses
/// them as `decode` does, and neither changes anything.
fn refusals_are_decodes_refusals<B: Backend>(_: &str) {
    for make in [classic::<B> as fn(u8, Option<u8>) -> T<B>, v2::<B>] {
        let mut alice = make(1, Some(9));
        let (mut new, mut old) = (bob(make, &alice), bob(make, &alice));
        let wire = alice.encode("genuine").unwrap();
        let mut forged = wire.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1; // the v2 signature's last byte; the classic ciphertext's
        let mut forged_signature = wire.clone();
        let at = if wire[0] == 0x02 { last - 10 } else { 10 };
        forged_signature[at] ^= 0x40;
        let mut unknown = wire.clone();
        unknown[0] = b'x';
        let cases: [(&[u8], Expected); 6] = [
            (&forged, |e| {
                matches!(e, Error::BadSignature | Error::DecryptFailed)
            }),
            (&forged_signature, |e| *e == Error::BadSignature),
            (&wire[..wire.len() - 100], |e| {
                matches!(e, Error::Malformed { .. })
            }),
            (&[], |e| matches!(e, Error::Malformed { len: 0, .. })),
            (&unknown, |e| *e == Error::UnknownType(b'x')),
            (&wire[..1], |e| matches!(e, Error::Malformed { .. })),
        ];
        for (bytes, expected) in cases {
            let before = state(&new);
            same_refusal(
                new.receive(bytes, DecodeMode::Strict),
                old.decode(bytes, DecodeMode::Strict),
                expected,
            );
            assert_eq!(state(&new), before);
        }
        // The genuine message still opens: the refusals changed nothing.
        assert_eq!(
            new.receive(&wire, DecodeMode::Strict)
                .unwrap()
                .plaintext()
                .unwrap(),
            b"genuine"
        );
    }

    a_format_the_setting_refuses_is_refused_as_decode_does::<B>();
}
mod refusals {
    use super::*;
    for_each_backend!(refusals_are_decodes_refusals);
}

/// A format the topic's setting refuses, with every message type: refused as
/// `decode` refuses it.
fn a_format_the_setting_refuses_is_refused_as_decode_does<B: Backend>() {
    let mut classic_alice = classic::<B>(1, None);
    let mut v2_alice = v2::<B>(1, None);
    let (mut v2_bob, mut v2_bob_old) = (v2::<B>(2, Some(9)), v2::<B>(2, Some(9)));
    let (mut classic_bob, mut classic_bob_old) =
        (classic::<B>(2, Some(9)), classic::<B>(2, Some(9)));
    let classic_intro = classic_alice.construct_intro().unwrap().to_vec();
    let v2_intro = v2_alice.construct_intro().unwrap().to_vec();
    same_refusal(
        v2_bob.receive(&classic_intro, DecodeMode::Strict),
        v2_bob_old.decode(&classic_intro, DecodeMode::Strict),
        |e| matches!(e, Error::ProtocolRefused { version: 1, .. }),
    );
    same_refusal(
        classic_bob.receive(&v2_intro, DecodeMode::Strict),
        classic_bob_old.decode(&v2_intro, DecodeMode::Strict),
        |e| matches!(e, Error::ProtocolRefused { version: 2, .. }),
    );
    // A v2 topic without a topic id refuses v2 bytes for that reason, as decode does.
    let mut no_id = classic::<B>(5, Some(9));
    no_id.set_protocol(ProtocolVersion::V2);
    let mut no_id_old = classic::<B>(5, Some(9));
    no_id_old.set_protocol(ProtocolVersion::V2);
    same_refusal(
        no_id.receive(&v2_intro, DecodeMode::Strict),
        no_id_old.decode(&v2_intro, DecodeMode::Strict),
        |e| *e == Error::NoTopicId,
    );
}

/// An introduction of each format: reported with the newcomer's verified key, id
/// and format, nothing changed; answered by `construct_reply` on the same bytes. A
/// forged one is refused as `construct_reply` refuses it; our own is `Own`.
fn introductions_are_reported_for_the_application_to_decide<B: Backend>(_: &str) {
    for (make, format) in [
        (
            classic::<B> as fn(u8, Option<u8>) -> T<B>,
            WireFormat::Classic,
        ),
        (v2::<B>, WireFormat::V2),
    ] {
        let mut alice = make(1, Some(9));
        let mut dave = make(4, None);
        let intro = dave.construct_intro().unwrap().to_vec();

        let before = state(&alice);
        let got = alice.receive(&intro, DecodeMode::Strict).unwrap();
        let Inbound::Introduction(newcomer) = got else {
            panic!("{format:?}: {got:?}")
        };
        assert_eq!(newcomer.format(), format);
        assert_eq!(newcomer.public_key(), dave.public_key());
        assert_eq!(
            Some(newcomer.public_key()),
            Message::parse(&intro).unwrap().sender_key()
        );
        assert_eq!(newcomer.id(), dave.id());
        assert_eq!(newcomer.fingerprint(), dave.id().fingerprint());
        assert_eq!(newcomer.as_bytes(), &intro[..]);
        assert_eq!(
            state(&alice),
            before,
            "{format:?}: reporting changed the topic"
        );
        // Reported, not trusted: the old call refuses until the application trusts.
        assert!(matches!(
            alice.construct_reply(&intro),
            Err(Error::UntrustedSender(id)) if id == dave.id()
        ));
        alice.add_participant(newcomer.public_key()).unwrap();
        let reply = alice.construct_reply(newcomer.as_bytes()).unwrap();
        dave.add_participant(alice.public_key()).unwrap();
        assert_eq!(dave.parse_reply(&reply).unwrap(), alice.public_key());
        assert_eq!(key_of(&dave), key_of(&alice));

        a_forged_introduction_and_our_own(make, &mut alice, format);
    }
}
mod introductions {
    use super::*;
    for_each_backend!(introductions_are_reported_for_the_application_to_decide);
}

/// A forged introduction: a signature byte changed (classic: bytes 33..97; v2: the
/// last 64). Refused as construct_reply refuses it, nothing changed. Our own
/// introduction, echoed, is `Own` and keeps the pending introduction.
fn a_forged_introduction_and_our_own<B: Backend>(
    make: fn(u8, Option<u8>) -> T<B>,
    alice: &mut T<B>,
    format: WireFormat,
) {
    let mut dave2 = make(6, None);
    let mut forged = dave2.construct_intro().unwrap().to_vec();
    let at = if format == WireFormat::V2 {
        forged.len() - 5
    } else {
        40
    };
    forged[at] ^= 0x10;
    alice.add_participant(dave2.public_key()).unwrap();
    let before = state(alice);
    same_refusal(
        alice.receive(&forged, DecodeMode::Strict),
        alice.construct_reply(&forged),
        |e| *e == Error::BadSignature,
    );
    assert_eq!(state(alice), before);

    let mine = dave2.construct_intro().unwrap().to_vec();
    assert!(matches!(
        dave2.receive(&mine, DecodeMode::Strict),
        Ok(Inbound::Own)
    ));
    assert!(dave2.has_pending_introduction(), "the echo kept our intro");
}

/// A reply of each format: reported to its recipient and to everyone else, with the
/// recipient and the replier it claims, and nothing installed; `parse_reply` on its
/// bytes then installs the same key it installs on a twin that never saw `receive`.
/// A v2 reply from an untrusted replier is refused there with its key.
fn replies_are_reported_and_taken_by_parse_reply<B: Backend>(_: &str) {
    for (make, format) in [
        (
            classic::<B> as fn(u8, Option<u8>) -> T<B>,
            WireFormat::Classic,
        ),
        (v2::<B>, WireFormat::V2),
    ] {
        let mut alice = make(1, Some(9));
        let mut carol = make(3, Some(9));
        let mut dave = make(4, None);
        dave.add_participant(alice.public_key()).unwrap();
        let intro = dave.construct_intro().unwrap().to_vec();
        alice.add_participant(dave.public_key()).unwrap();
        let reply = alice.construct_reply(&intro).unwrap().to_vec();

        let before = state(&dave);
        let got = dave.receive(&reply, DecodeMode::Strict).unwrap();
        let Inbound::Reply(offer) = got else {
            panic!("{format:?}: {got:?}")
        };
        assert_eq!(offer.format(), format);
        assert_eq!(offer.recipient(), dave.id());
        assert_eq!(offer.claimed_replier(), alice.public_key());
        assert_eq!(offer.as_bytes(), &reply[..]);
        assert_eq!(state(&dave), before, "{format:?}: receive took the reply");
        assert!(dave.topic_key().is_none());
        // Seen by a third participant: a reply for someone else, nothing changed.
        let before = state(&carol);
        let got = carol.receive(&reply, DecodeMode::Strict).unwrap();
        assert!(
            matches!(got, Inbound::Reply(o) if o.recipient() == dave.id()),
            "{got:?}"
        );
        assert_eq!(state(&carol), before);
        same_refusal(
            carol.parse_reply(&reply),
            Err::<(), _>(Error::NotForUs {
                recipient: dave.id(),
            }),
            |e| matches!(e, Error::NotForUs { .. }),
        );

        assert_eq!(
            dave.parse_reply(offer.as_bytes()).unwrap(),
            alice.public_key()
        );
        assert_eq!(key_of(&dave), key_of(&alice));

        if format == WireFormat::V2 {
            an_untrusted_v2_replier_is_refused_with_its_key(make, &mut alice);
        }
    }
}
mod replies {
    use super::*;
    for_each_backend!(replies_are_reported_and_taken_by_parse_reply);
}

/// An untrusted v2 replier: reported alike; parse_reply refuses with its key,
/// nothing changed.
fn an_untrusted_v2_replier_is_refused_with_its_key<B: Backend>(
    make: fn(u8, Option<u8>) -> T<B>,
    alice: &mut T<B>,
) {
    let mut erin = make(5, None);
    let intro = erin.construct_intro().unwrap().to_vec();
    alice.add_participant(erin.public_key()).unwrap();
    let reply = alice.construct_reply(&intro).unwrap().to_vec();
    assert!(matches!(
        erin.receive(&reply, DecodeMode::Strict),
        Ok(Inbound::Reply(o)) if o.claimed_replier() == alice.public_key()
    ));
    let before = state(&erin);
    assert!(matches!(
        erin.parse_reply(&reply),
        Err(Error::UntrustedReplier { key, .. }) if key == alice.public_key()
    ));
    assert_eq!(state(&erin), before);
}

/// A v2 rekey: taken as `accept_rekey` takes it (the same outcome, key and state on
/// a twin); refused as it refuses it (an untrusted or non-admin sender, a rekey that
/// does not follow our epoch, a forged one), nothing changed; our own is `Own`.
fn rekeys_are_taken_as_accept_rekey_takes_them<B: Backend>(_: &str) {
    let mut alice = v2::<B>(1, Some(9));
    let (mut new, mut old) = (bob(v2::<B>, &alice), bob(v2::<B>, &alice));
    alice.add_participant(new.public_key()).unwrap();
    let rekey = alice.rotate(None).unwrap();

    let got = new.receive(&rekey, DecodeMode::Strict).unwrap();
    let Inbound::Rekey { admin, outcome } = got else {
        panic!("{got:?}")
    };
    assert_eq!(admin, alice.id());
    assert_eq!(outcome, old.accept_rekey(&rekey).unwrap());
    assert_eq!(outcome, RekeyOutcome::Rotated { epoch: 1 });
    assert_eq!(key_of(&new), key_of(&alice));
    assert_eq!(state(&new), state(&old));
    // The same rekey again: the epoch we hold, superseded on both.
    let again = new.receive(&rekey, DecodeMode::Strict).unwrap();
    assert!(
        matches!(
            again,
            Inbound::Rekey {
                outcome: RekeyOutcome::Superseded,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(old.accept_rekey(&rekey).unwrap(), RekeyOutcome::Superseded);
    // Our own rotation, echoed.
    assert!(matches!(
        alice.receive(&rekey, DecodeMode::Strict),
        Ok(Inbound::Own)
    ));

    let next = forged_and_non_admin_rekeys_are_refused(&mut alice, &mut new, &mut old);
    a_rekey_that_does_not_follow_is_refused(&rekey, &mut new, &mut old);

    // A rekey in a classic topic: refused as decode refuses every v2 byte there.
    let mut classic_bob = classic::<B>(2, Some(9));
    let mut classic_old = classic::<B>(2, Some(9));
    same_refusal(
        classic_bob.receive(&next, DecodeMode::Strict),
        classic_old.decode(&next, DecodeMode::Strict),
        |e| matches!(e, Error::ProtocolRefused { version: 2, .. }),
    );
}
mod rekeys {
    use super::*;
    for_each_backend!(rekeys_are_taken_as_accept_rekey_takes_them);
}

/// Alice's next rekey (to epoch 2) forged (a signature byte changed), and one from
/// Carol, who is no admin here: refused as `accept_rekey` refuses them, nothing
/// changed; then the genuine one is taken by both twins. Returns it.
fn forged_and_non_admin_rekeys_are_refused<B: Backend>(
    alice: &mut T<B>,
    new: &mut T<B>,
    old: &mut T<B>,
) -> Vec<u8> {
    let next = alice.rotate(None).unwrap();
    let mut forged = next.clone();
    let at = forged.len() - 3;
    forged[at] ^= 0x08;
    let mut carol = v2::<B>(3, Some(9));
    carol.add_participant(new.public_key()).unwrap();
    let not_admin = carol.rotate(None).unwrap();
    new.add_participant(carol.public_key()).unwrap();
    old.add_participant(carol.public_key()).unwrap();
    let cases: [(&[u8], Expected); 2] = [
        (&forged, |e| *e == Error::BadSignature),
        (&not_admin, |e| matches!(e, Error::NotAnAdmin(_))),
    ];
    for (bytes, expected) in cases {
        let before = state(new);
        same_refusal(
            new.receive(bytes, DecodeMode::Strict),
            old.accept_rekey(bytes),
            expected,
        );
        assert_eq!(state(new), before);
    }
    let got = new.receive(&next, DecodeMode::Strict).unwrap();
    assert!(matches!(
        got,
        Inbound::Rekey {
            outcome: RekeyOutcome::Rotated { epoch: 2 },
            ..
        }
    ));
    old.accept_rekey(&next).unwrap();
    next
}

/// At epoch 2, a rekey of epoch 1 that is not the one followed (its sender id
/// changed: nobody's, so no admin), and the epoch-1 `rekey` itself: refused as
/// `accept_rekey` refuses them, nothing changed, the twins alike.
fn a_rekey_that_does_not_follow_is_refused<B: Backend>(
    rekey: &[u8],
    new: &mut T<B>,
    old: &mut T<B>,
) {
    let mut stale = rekey.to_vec();
    let before = state(new);
    stale[10] ^= 1; // the sender id: now nobody's, so not an admin
    same_refusal(
        new.receive(&stale, DecodeMode::Strict),
        old.accept_rekey(&stale),
        |e| matches!(e, Error::NotAnAdmin(_)),
    );
    same_refusal(
        new.receive(rekey, DecodeMode::Strict),
        old.accept_rekey(rekey),
        |e| *e == Error::EpochMismatch { current: 2, got: 1 },
    );
    assert_eq!(state(new), before);
    assert_eq!(state(new), state(old));
}

/// `receive` (and its twins) never panics, on anything: arbitrary bytes, and every
/// valid kind with bytes changed, cut or added. A refusal changes nothing (group
/// state, topic key, pending introduction, trusted participants; in place, the
/// buffer).
fn receive_never_panics_and_a_refusal_changes_nothing<B: Backend>(backend: &str) {
    let (samples, bob) = samples_of_every_kind::<B>();
    let bob = std::cell::RefCell::new(bob);
    // What came out, by kind: printed, so a run shows the inputs reached every door.
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let genuine = {
        let samples = samples.clone();
        (0..samples.len()).prop_map(move |which| samples[which].clone())
    };
    let anything = vec(any::<u8>(), 0..600);
    let mut runner = TestRunner::new(Config {
        cases: 384,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &prop_oneof![1 => genuine, 6 => mutated(samples), 3 => anything],
            |bytes| received_every_way(&mut bob.borrow_mut(), &bytes, &mut seen.borrow_mut()),
        )
        .unwrap();
    eprintln!("receive on {backend}: {:?}", seen.borrow());
}
mod properties {
    use super::*;
    for_each_backend!(receive_never_panics_and_a_refusal_changes_nothing);
}

/// A valid message of every kind (a v2 and a classic message, a classic and a v2
/// introduction, a reply, a rekey) and Bob, who reads both formats, trusts their
/// senders and takes Alice as admin.
fn samples_of_every_kind<B: Backend>() -> (Vec<Vec<u8>>, T<B>) {
    let mut alice = v2::<B>(1, Some(9));
    alice.set_protocol(ProtocolVersion::Both);
    let mut dave = v2::<B>(4, None);
    alice.add_participant(dave.public_key()).unwrap();
    let mut classic_alice = classic::<B>(1, Some(9));
    let mut samples = vec![
        alice.encode("a v2 message").unwrap(),
        classic_alice.encode("a classic message").unwrap(),
        classic_alice.construct_intro().unwrap().to_vec(),
        dave.construct_intro().unwrap().to_vec(),
    ];
    samples.push(alice.construct_reply(&samples[3]).unwrap().to_vec());
    let mut bob = bob(v2::<B>, &alice);
    bob.set_protocol(ProtocolVersion::Both);
    bob.add_participant(dave.public_key()).unwrap();
    alice.add_participant(bob.public_key()).unwrap();
    samples.push(alice.rotate(None).unwrap());
    (samples, bob)
}

/// One of `samples` with one to three bytes changed, cut at or added.
fn mutated(samples: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (0..samples.len(), vec(any::<(usize, u8)>(), 1..4), 0usize..3).prop_map(
        move |(which, edits, how)| {
            let mut bytes = samples[which].clone();
            for (at, value) in edits {
                let at = at % bytes.len();
                match how {
                    0 => bytes[at] ^= value | 1,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, value),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            bytes
        },
    )
}

/// `bytes` through `receive`, `receive_into` and `receive_in_place` in every mode: a
/// refusal changes nothing (in place, not the buffer either). Counts what came out,
/// by kind, in `seen`.
fn received_every_way<B: Backend>(
    bob: &mut T<B>,
    bytes: &[u8],
    seen: &mut std::collections::BTreeMap<String, usize>,
) -> Result<(), TestCaseError> {
    for mode in [
        DecodeMode::Strict,
        DecodeMode::IgnoreUntrusted,
        DecodeMode::Naive,
    ] {
        let before = state(bob);
        let got = bob.receive(bytes, mode);
        let kind = match &got {
            Ok(inbound) => format!("{inbound:?}")
                .chars()
                .take_while(|c| c.is_alphabetic())
                .collect(),
            Err(e) => format!("refused: {}", stringphone_testkit::backend::category(e)),
        };
        *seen.entry(kind).or_default() += 1;
        if got.is_err() {
            prop_assert_eq!(&state(bob), &before);
        }
        let before = state(bob);
        if bob.receive_into(bytes, mode, &mut [0u8; 64]).is_err() {
            prop_assert_eq!(&state(bob), &before);
        }
        // In place: a refusal leaves the buffer as it was, too.
        let before = state(bob);
        let mut buffer = bytes.to_vec();
        if let Err(e) = bob.receive_in_place(&mut buffer, mode) {
            prop_assert_eq!(&state(bob), &before);
            // (On ring, whose ChaCha20-Poly1305 zeroes a buffer whose tag
            // fails, this held only once the backend kept the ciphertext.)
            prop_assert_eq!(&buffer[..], bytes, "{:?} {:?}", mode, e);
        }
    }
    Ok(())
}
