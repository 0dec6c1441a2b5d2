//! Protocol v2, scenario by scenario: each test is an attack or an accident that the
//! classic format lets through and v2 must stop, or a guarantee v2 must keep.

mod common;

use stringphone_testkit::verified_message;

use common::v2::{restart, text};
use stringphone_testkit::store::FlawedStore;

use stringphone::protocol::trust::MarkSlot;
use stringphone::protocol::Topic;
use stringphone::v2::replay::{RECEIVER_BLOCK, SENDER_BLOCK, WINDOW};
use stringphone::v2::{ProtocolVersion, RekeyOutcome};
use stringphone::{
    Backend, DecodeMode, Decoded, Error, MemoryTrustStore, Message, SigningSeed, TopicKey,
    TrustStore,
};

type T<B> = Topic<B, MemoryTrustStore>;

fn v2<B: Backend>(seed: u8, key: Option<u8>) -> T<B> {
    let mut t = T::<B>::new(
        SigningSeed::from_bytes([seed; 32]),
        key.map(|k| TopicKey::from_bytes([k; 32])),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    t
}

/// Alice (admin, holds the key), Bob and Carol hold it too; all trust each other,
/// and Bob and Carol trust Alice as their admin.
fn group<B: Backend>() -> (T<B>, T<B>, T<B>) {
    let mut alice = v2::<B>(1, Some(9));
    let mut bob = v2::<B>(2, Some(9));
    let mut carol = v2::<B>(3, Some(9));
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let ts = [alice.public_key(), bob.public_key(), carol.public_key()];
        let mut pair = |x: usize, y: usize| match x {
            0 => alice.add_participant(ts[y]).map(|_| ()),
            1 => bob.add_participant(ts[y]).map(|_| ()),
            _ => carol.add_participant(ts[y]).map(|_| ()),
        };
        pair(a, b).unwrap();
        pair(b, a).unwrap();
    }
    bob.add_admin(alice.public_key()).unwrap();
    carol.add_admin(alice.public_key()).unwrap();
    (alice, bob, carol)
}

fn round_trip_and_layout<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    for size in [0usize, 1, 64, 1000, 65536] {
        let pt = vec![0x5a; size];
        let wire = alice.encode(&pt).unwrap();
        assert_eq!(wire.len(), size + 127);
        assert_eq!(wire[0], 0x02, "version byte");
        let Ok(Message::V2(view)) = Message::parse(&wire) else {
            panic!("not parsed as v2")
        };
        assert_eq!(view.header().sender_id(), alice.id());
        assert_eq!(view.header().epoch(), 0);
        let decoded = bob.decode(&wire, DecodeMode::Strict).unwrap();
        verified_message(&decoded, alice.id(), &pt).unwrap();
    }
    // Counters go up by one per message.
    let a = alice.encode("a").unwrap();
    let b = alice.encode("b").unwrap();
    assert_eq!(counter(&b), counter(&a) + 1);
}
mod round_trip {
    use super::*;
    for_each_backend!(round_trip_and_layout);
}

fn a_replayed_message_is_refused<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    let captured = alice.encode("transfer 100").unwrap();
    assert_eq!(
        text(bob.decode(&captured, DecodeMode::Strict)),
        "transfer 100"
    );
    for variant in 0..3 {
        let err = match variant {
            0 => bob.decode(&captured, DecodeMode::Strict).unwrap_err(),
            1 => bob
                .decode_into(&captured, DecodeMode::Strict, &mut [0u8; 64])
                .unwrap_err(),
            _ => bob
                .decode_in_place(&mut captured.clone(), DecodeMode::Strict)
                .unwrap_err(),
        };
        assert!(
            matches!(err, Error::Replayed { sender, too_old: false, .. } if sender == alice.id()),
            "{err:?}"
        );
    }
    // The classic format, for contrast, lets the same replay through.
    let mut classic_alice = T::<B>::new(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    let mut classic_bob = T::<B>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    classic_bob
        .add_participant(classic_alice.public_key())
        .unwrap();
    let old = classic_alice.encode("transfer 100").unwrap();
    assert!(classic_bob.decode(&old, DecodeMode::Strict).is_ok());
    assert!(classic_bob.decode(&old, DecodeMode::Strict).is_ok());
}
mod replay {
    use super::*;
    for_each_backend!(a_replayed_message_is_refused);
}

fn reordering_within_the_window_is_accepted_outside_refused<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    let n = WINDOW as usize + 10;
    let wires: Vec<Vec<u8>> = (0..n)
        .map(|i| alice.encode(format!("{i}")).unwrap())
        .collect();
    // Deliver the last one first, then the rest backwards.
    assert_eq!(
        text(bob.decode(&wires[n - 1], DecodeMode::Strict)),
        format!("{}", n - 1)
    );
    for i in (0..n - 1).rev() {
        let got = bob.decode(&wires[i], DecodeMode::Strict);
        if (n - 1 - i) < WINDOW as usize {
            assert_eq!(text(got), format!("{i}"), "message {i} within the window");
        } else {
            assert!(
                matches!(got, Err(Error::Replayed { too_old: true, .. })),
                "message {i} outside the window: {got:?}"
            );
        }
    }
}
mod reorder {
    use super::*;
    for_each_backend!(reordering_within_the_window_is_accepted_outside_refused);
}

fn a_forged_reply_never_installs_the_attackers_key<B: Backend>(_: &str) {
    let (mut alice, _, _) = group::<B>();
    let mut newcomer = v2::<B>(7, None);
    newcomer.add_participant(alice.public_key()).unwrap(); // it trusts Alice only
    let intro = newcomer.construct_intro().unwrap();

    // Mallory answers with a topic key of her own. Signing as herself, she is not
    // trusted: the reply is refused with her fingerprint, and nothing is installed.
    let mut mallory = v2::<B>(66, Some(0xee));
    mallory.add_participant(newcomer.public_key()).unwrap();
    let forged = mallory.construct_reply(&intro).unwrap();
    match newcomer.parse_reply(&forged) {
        Err(Error::UntrustedReplier { key, id }) => {
            assert_eq!(key, mallory.public_key());
            assert_eq!(id, mallory.id());
        }
        other => panic!("expected UntrustedReplier, got {other:?}"),
    }
    assert!(newcomer.topic_key().is_none() && newcomer.has_pending_introduction());

    // Claiming Alice's key instead: put it in the reply and fix up the header's id;
    // Mallory cannot sign for it.
    let mut claimed = forged;
    claimed[7..23].copy_from_slice(alice.id().as_bytes());
    claimed[47 + 80..47 + 112].copy_from_slice(alice.public_key().as_bytes());
    assert!(matches!(
        newcomer.parse_reply(&claimed),
        Err(Error::BadSignature)
    ));
    assert!(newcomer.topic_key().is_none());

    // A reply bound to another introduction is refused too.
    let mut other = v2::<B>(8, None);
    let other_intro = other.construct_intro().unwrap();
    alice.add_participant(other.public_key()).unwrap();
    let mut rebound = alice.construct_reply(&other_intro).unwrap();
    rebound[47..63].copy_from_slice(newcomer.id().as_bytes());
    assert!(matches!(
        newcomer.parse_reply(&rebound),
        Err(Error::StaleReply)
    ));

    // Alice's genuine reply installs her key.
    alice.add_participant(newcomer.public_key()).unwrap();
    let genuine = alice.construct_reply(&intro).unwrap();
    assert_eq!(newcomer.parse_reply(&genuine).unwrap(), alice.public_key());
    assert_eq!(newcomer.topic_key(), alice.topic_key());

    a_replier_trusted_after_its_fingerprint_is_taken(&mut mallory);
}
mod signed_discovery {
    use super::*;
    for_each_backend!(a_forged_reply_never_installs_the_attackers_key);
}

/// Had the user trusted Mallory after comparing her fingerprint, her reply would have
/// been taken: the rule is "installed once the replier is trusted".
fn a_replier_trusted_after_its_fingerprint_is_taken<B: Backend>(mallory: &mut T<B>) {
    let mut trusting = v2::<B>(9, None);
    let intro = trusting.construct_intro().unwrap();
    mallory.add_participant(trusting.public_key()).unwrap();
    let reply = mallory.construct_reply(&intro).unwrap();
    let Err(Error::UntrustedReplier { key, .. }) = trusting.parse_reply(&reply) else {
        panic!("expected UntrustedReplier")
    };
    trusting.add_participant(key).unwrap();
    assert_eq!(trusting.parse_reply(&reply).unwrap(), mallory.public_key());
    assert_eq!(trusting.topic_key(), mallory.topic_key());
}

fn a_removed_participant_reads_nothing_after_rotation<B: Backend>(_: &str) {
    let (mut alice, mut bob, mut carol) = group::<B>();
    bob.set_grace_messages(2).unwrap();
    let before = alice.encode("before").unwrap();
    assert_eq!(text(carol.decode(&before, DecodeMode::Strict)), "before");
    alice_rotates_carol_out(&mut alice, &mut bob, &mut carol);
    epoch_0_ends_with_its_grace_period(&mut alice, &mut bob, &mut carol);
    only_an_admins_rekey_brings_carol_back(&mut alice, &mut bob, &mut carol);
}
mod rotation {
    use super::*;
    for_each_backend!(a_removed_participant_reads_nothing_after_rotation);
}

/// Alice removes Carol and rotates: Bob follows, Carol is refused as no member. The
/// rest carry on; Carol can read none of it.
fn alice_rotates_carol_out<B: Backend>(alice: &mut T<B>, bob: &mut T<B>, carol: &mut T<B>) {
    alice.remove_participant(&carol.id()).unwrap();
    let rekey = alice.rotate(None).unwrap();
    assert_eq!(alice.epoch(), 1);
    assert_eq!(
        bob.accept_rekey(&rekey).unwrap(),
        RekeyOutcome::Rotated { epoch: 1 }
    );
    assert_eq!(
        carol.accept_rekey(&rekey),
        Err(Error::NotAMember(carol.id()))
    );
    assert_eq!(carol.epoch(), 0);

    let after = alice.encode("after").unwrap();
    assert_eq!(text(bob.decode(&after, DecodeMode::Strict)), "after");
    assert!(matches!(
        carol.decode(&after, DecodeMode::Strict),
        Err(Error::UnknownEpoch(1))
    ));
    assert!(matches!(
        carol.decode(&after, DecodeMode::Naive),
        Err(Error::UnknownEpoch(1))
    ));
    let reply = bob.encode("bob, epoch 1").unwrap();
    assert_eq!(
        text(alice.decode(&reply, DecodeMode::Strict)),
        "bob, epoch 1"
    );
}

/// Carol still holds the old key: Bob still reads epoch 0 for its grace period, but
/// not from her, whom epoch 1 left out (a participant rotated out is heard in no
/// epoch); and after the grace period, epoch 0 is gone altogether.
fn epoch_0_ends_with_its_grace_period<B: Backend>(
    alice: &mut T<B>,
    bob: &mut T<B>,
    carol: &mut T<B>,
) {
    let late = carol.encode("carol, epoch 0").unwrap();
    assert!(matches!(
        bob.decode(&late, DecodeMode::Strict),
        Err(Error::NotAMember(id)) if id == carol.id()
    ));
    for i in 0..2 {
        let m = alice.encode(format!("tick {i}")).unwrap();
        bob.decode(&m, DecodeMode::Strict).unwrap();
    }
    let later = carol.encode("carol again").unwrap();
    assert!(matches!(
        bob.decode(&later, DecodeMode::Strict),
        Err(Error::NotAMember(_))
    ));
    // Naive mode skips the sender checks: the epoch itself is gone.
    assert!(matches!(
        bob.decode(&later, DecodeMode::Naive),
        Err(Error::UnknownEpoch(0))
    ));
}

/// Bob, a member but no admin, still trusts Carol, yet will not hand her the key of
/// an epoch that does not list her: only an admin's rekey brings her back. Carol
/// missed epoch 1, so she cannot check that epoch 2 extends her chain: the rekey is
/// refused, and so is a reply of another epoch than hers. She forgets her epoch and
/// comes in again as a newcomer, through the rekey that lists her or through a
/// member's reply.
fn only_an_admins_rekey_brings_carol_back<B: Backend>(
    alice: &mut T<B>,
    bob: &mut T<B>,
    carol: &mut T<B>,
) {
    let intro = carol.construct_intro().unwrap();
    assert_eq!(
        bob.construct_reply(&intro),
        Err(Error::NotAMember(carol.id()))
    );
    assert_eq!(carol.epoch(), 0);

    alice.add_participant(carol.public_key()).unwrap();
    let rekey2 = alice.rotate(None).unwrap();
    assert_eq!(
        bob.accept_rekey(&rekey2).unwrap(),
        RekeyOutcome::Rotated { epoch: 2 }
    );
    assert!(matches!(
        carol.accept_rekey(&rekey2),
        Err(Error::EpochMismatch { current: 0, got: 2 })
    ));
    let intro = carol.construct_intro().unwrap();
    let welcome = bob.construct_reply(&intro).unwrap();
    assert!(matches!(
        carol.parse_reply(&welcome),
        Err(Error::EpochMismatch { current: 0, got: 2 })
    ));
    carol.forget_epoch().unwrap();
    assert!(carol.topic_key().is_none());
    carol.parse_reply(&welcome).unwrap();
    assert_eq!(carol.epoch(), 2);
    assert_eq!(carol.topic_key(), bob.topic_key());
    let back = carol.encode("carol is back").unwrap();
    assert_eq!(
        text(alice.decode(&back, DecodeMode::Strict)),
        "carol is back"
    );
    assert_eq!(text(bob.decode(&back, DecodeMode::Strict)), "carol is back");
    // A rekey is refused by whoever missed the one before it.
    let mut stale = v2::<B>(2, Some(9));
    stale.add_admin(alice.public_key()).unwrap();
    assert!(matches!(
        stale.accept_rekey(&rekey2),
        Err(Error::EpochMismatch { current: 0, got: 2 })
    ));
}

fn only_admins_rotate_and_concurrent_rotations_converge<B: Backend>(_: &str) {
    let (mut alice, mut bob, mut carol) = group::<B>();
    // Bob is not an admin (of his own topic: he started with the key, so he thinks he
    // is; of Carol's: she never named him).
    let bobs = bob.rotate(None).unwrap();
    assert_eq!(carol.accept_rekey(&bobs), Err(Error::NotAnAdmin(bob.id())));
    assert_eq!(carol.epoch(), 0);

    // Now two real admins rotate at once.
    let (mut alice2, mut bob2, mut carol2) = group::<B>();
    bob2.add_admin(carol2.public_key()).unwrap();
    carol2.add_admin(alice2.public_key()).unwrap();
    alice2.add_admin(carol2.public_key()).unwrap();
    let from_alice = alice2.rotate(None).unwrap();
    let from_carol = carol2.rotate(None).unwrap();
    // Bob sees them in one order, Alice and Carol each see the other's.
    bob2.accept_rekey(&from_alice).unwrap();
    let second = bob2.accept_rekey(&from_carol).unwrap();
    let a = alice2.accept_rekey(&from_carol).unwrap();
    let c = carol2.accept_rekey(&from_alice).unwrap();
    // Exactly one of the two wins everywhere: all three hold the same key.
    assert_eq!(bob2.topic_key(), alice2.topic_key());
    assert_eq!(bob2.topic_key(), carol2.topic_key());
    assert_eq!((bob2.epoch(), alice2.epoch(), carol2.epoch()), (1, 1, 1));
    let outcomes = [second, a, c];
    assert!(outcomes.contains(&RekeyOutcome::Superseded));
    let m = bob2.encode("converged").unwrap();
    assert_eq!(text(alice2.decode(&m, DecodeMode::Strict)), "converged");
    assert_eq!(text(carol2.decode(&m, DecodeMode::Strict)), "converged");
    let _ = (&mut alice, &mut bob);
}
mod admins {
    use super::*;
    for_each_backend!(only_admins_rotate_and_concurrent_rotations_converge);
}

/// A v2 message's counter (header bytes 39..47).
fn counter(w: &[u8]) -> u64 {
    u64::from_be_bytes(w[39..47].try_into().unwrap())
}

fn a_restart_never_reuses_a_counter_nor_reopens_replays<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    let mut seen = std::collections::BTreeSet::new();
    let mut captured = Vec::new();
    for i in 0..5 {
        let w = alice.encode(format!("{i}")).unwrap();
        assert!(seen.insert(counter(&w)));
        bob.decode(&w, DecodeMode::Strict).unwrap();
        captured.push(w);
    }
    // Alice crashes and restarts from her store (the same identity, a new process).
    let mut restarted = restart::<B>(&alice, 1);
    for i in 0..5 {
        let w = restarted.encode(format!("again {i}")).unwrap();
        assert!(seen.insert(counter(&w)), "counter {} reused", counter(&w));
        assert!(counter(&w) >= SENDER_BLOCK);
        // Bob accepts the restarted Alice: her counters only moved forward.
        assert_eq!(
            text(bob.decode(&w, DecodeMode::Strict)),
            format!("again {i}")
        );
    }
    two_live_instances_of_one_identity_share_no_nonce::<B>();

    // Bob crashes; his store holds his replay marks (ahead of what he accepted).
    let mut bob_again = restart::<B>(&bob, 2);
    for w in &captured {
        assert!(
            matches!(
                bob_again.decode(w, DecodeMode::Strict),
                Err(Error::Replayed { .. })
            ),
            "a replay reopened by the restart"
        );
    }
    a_clean_restart_refuses_only_replays(&mut bob, &mut restarted, &captured);
}

/// Two live instances of one identity: same counters, different sessions, so no
/// (key, nonce) pair repeats: the same plaintext at the same counter differs.
fn two_live_instances_of_one_identity_share_no_nonce<B: Backend>() {
    let mut twin_a = v2::<B>(5, Some(9));
    let mut twin_b = v2::<B>(5, Some(9));
    let (wa, wb) = (
        twin_a.encode("same").unwrap(),
        twin_b.encode("same").unwrap(),
    );
    assert_eq!(counter(&wa), counter(&wb));
    assert_ne!(wa[23..39], wb[23..39], "sessions");
    assert_ne!(wa[47..51], wb[47..51], "ciphertexts under one (key, nonce)");
}

/// A clean shutdown of Bob stores exact marks instead, so a clean restart refuses
/// nothing that had not arrived yet (the restarted Alice's next message, below the
/// crash-safe mark), and still refuses every `captured` message again.
fn a_clean_restart_refuses_only_replays<B: Backend>(
    bob: &mut T<B>,
    restarted: &mut T<B>,
    captured: &[Vec<u8>],
) {
    bob.save_replay_marks().unwrap();
    let mut clean = restart::<B>(bob, 2);
    let w = restarted.encode("after a clean restart").unwrap();
    assert!(
        counter(&w) < SENDER_BLOCK + 1 + RECEIVER_BLOCK,
        "below the crash-safe mark"
    );
    assert_eq!(
        text(clean.decode(&w, DecodeMode::Strict)),
        "after a clean restart"
    );
    for w in captured {
        assert!(matches!(
            clean.decode(w, DecodeMode::Strict),
            Err(Error::Replayed { .. })
        ));
    }
}
mod restart {
    use super::*;
    for_each_backend!(a_restart_never_reuses_a_counter_nor_reopens_replays);
}

fn a_failed_decode_stores_nothing<B: Backend>(_: &str) {
    let mut alice = v2::<B>(1, Some(9));
    let mut bob = Topic::<B, FlawedStore>::with_store(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
        FlawedStore::default(),
    );
    bob.set_protocol(ProtocolVersion::V2);
    bob.set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    bob.add_participant(alice.public_key()).unwrap();
    let slot = MarkSlot::Received(alice.id());

    // Signed by Alice's identity but sealed under another topic key (a stale key, or
    // a trusted identity that lost its membership): the signature passes, the
    // decryption does not, and Bob's stored mark for Alice must not move.
    let mut stale = v2::<B>(1, Some(8));
    let sealed_wrong = stale.encode("under the wrong key").unwrap();
    assert!(matches!(
        bob.decode(&sealed_wrong, DecodeMode::Strict),
        Err(Error::DecryptFailed)
    ));
    assert_eq!(
        bob.trust_store().load_mark(&slot).unwrap(),
        None,
        "a message that did not open moved the stored mark"
    );

    // The store cannot write the mark: the decode fails with the store's error and
    // the caller's buffer holds the ciphertext it held before.
    let wire = alice.encode("kept for later").unwrap();
    bob.trust_store_mut().flaws.fails_marks = true;
    let mut buffer = wire.clone();
    let got = bob
        .decode_in_place(&mut buffer, DecodeMode::Strict)
        .map(|_| ());
    assert!(matches!(got, Err(Error::Store(_))), "{got:?}");
    assert_eq!(buffer, wire, "the failed decode left plaintext behind");
    assert_eq!(bob.trust_store().load_mark(&slot).unwrap(), None);

    // Nothing was accepted: the same message (same counter as the stale one) decodes
    // once the store works again, and only once.
    bob.trust_store_mut().flaws.fails_marks = false;
    assert_eq!(
        text(bob.decode(&wire, DecodeMode::Strict)),
        "kept for later"
    );
    assert!(bob.trust_store().load_mark(&slot).unwrap().is_some());
    assert!(matches!(
        bob.decode(&wire, DecodeMode::Strict),
        Err(Error::Replayed { .. })
    ));
}
mod failed_decode {
    use super::*;
    for_each_backend!(a_failed_decode_stores_nothing);
}

fn protocol_settings_refuse_what_they_should<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    let mut classic = T::<B>::new(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    classic.add_participant(bob.public_key()).unwrap();
    let classic_msg = classic.encode("old").unwrap();
    let mut newcomer = T::<B>::new(SigningSeed::from_bytes([7; 32]), None);
    let classic_intro = newcomer.construct_intro().unwrap();
    let mut old_replier = T::<B>::new(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    old_replier.add_participant(newcomer.public_key()).unwrap();
    let classic_reply = old_replier.construct_reply(&classic_intro).unwrap();

    // A v2-only topic refuses every classic message, replies and intros included.
    let refused = |e: &Error| matches!(e, Error::ProtocolRefused { version: 1, .. });
    assert!(refused(
        &bob.decode(&classic_msg, DecodeMode::Strict).unwrap_err()
    ));
    assert!(refused(
        &bob.decode(&classic_msg, DecodeMode::Naive).unwrap_err()
    ));
    bob.add_participant(newcomer.public_key()).unwrap();
    assert!(refused(&bob.construct_reply(&classic_intro).unwrap_err()));
    assert!(refused(
        &bob.decode(&classic_intro, DecodeMode::Strict).unwrap_err()
    ));
    let mut v2_newcomer = v2::<B>(7, None);
    assert!(refused(
        &v2_newcomer.parse_reply(&classic_reply).unwrap_err()
    ));

    // A classic topic refuses v2.
    let v2_msg = alice.encode("new").unwrap();
    assert!(matches!(
        classic.decode(&v2_msg, DecodeMode::Strict),
        Err(Error::ProtocolRefused { version: 2, .. })
    ));

    // Accept-both reads both and sends v2.
    bob.set_protocol(ProtocolVersion::Both);
    bob.set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    bob.add_participant(classic.public_key()).unwrap();
    assert_eq!(text(bob.decode(&classic_msg, DecodeMode::Strict)), "old");
    assert_eq!(text(bob.decode(&v2_msg, DecodeMode::Strict)), "new");
    assert_eq!(bob.encode("x").unwrap()[0], 0x02);
}
mod settings {
    use super::*;
    for_each_backend!(protocol_settings_refuse_what_they_should);
}

fn one_changed_byte_is_refused<B: Backend>(_: &str) {
    let (mut alice, mut bob, _) = group::<B>();
    let wire = alice.encode("a message worth tampering with").unwrap();
    for i in 0..wire.len() {
        for flip in [0x01u8, 0x80] {
            let mut t = wire.clone();
            t[i] ^= flip;
            let got = bob.decode(&t, DecodeMode::Strict);
            assert!(
                !matches!(got, Ok(Decoded::Message { .. })),
                "byte {i} ^ {flip:#x} accepted"
            );
        }
    }
    // The genuine one still decodes: refusals changed nothing.
    assert!(bob.decode(&wire, DecodeMode::Strict).is_ok());
}
mod tamper {
    use super::*;
    for_each_backend!(one_changed_byte_is_refused);
}
