//! v2's two cipher suites under attack: a topic speaks the suite its id names, and
//! nothing made in the other suite (a message, an introduction, a reply, a rekey, a
//! group state) is taken by it, even under the same name, identity and key, and even
//! with the suite byte rewritten. Suite 0x02 (SHA-256) runs a whole session: discovery,
//! messages, rotation, a restart.
//!
//! Every test runs once per backend compiled in (`for_each_backend!`).

mod common;

use common::v2::{key_of, participant, trust_each_other, ALICE, BOB, CAROL, NICK, T, X};
use stringphone::v2::wire::SUITE_SHA256;
use stringphone::v2::{GroupState, RekeyOutcome, Suite, TopicId};
use stringphone::{Backend, DecodeMode, Error, MemoryTrustStore};

/// Topic X in `suite`.
fn topic_x(suite: Suite) -> TopicId {
    TopicId::from_name_in(suite, b"topic X")
}

/// A participant of topic X in `suite`, holding `[X; 32]` if `keyed`.
fn member<B: Backend>(seed: u8, keyed: bool, suite: Suite) -> T<B> {
    participant::<B, _>(
        seed,
        keyed.then_some(X),
        topic_x(suite),
        MemoryTrustStore::new(),
    )
}

fn decoded<B: Backend>(t: &mut T<B>, wire: &[u8], mode: DecodeMode) -> Result<Vec<u8>, Error> {
    match t.decode(wire, mode)? {
        stringphone::Decoded::Message { plaintext, .. } => Ok(plaintext),
        other => panic!("not a message: {other:?}"),
    }
}

/// Suite 0x02 end to end: a newcomer joins through a signed reply, messages go both
/// ways, the admin rotates Carol out, and a restarted member resumes in the suite.
fn sha256_suite_session<B: Backend>(backend: &str) {
    let mut alice = member::<B>(ALICE, true, Suite::Sha256);
    let mut bob = member::<B>(BOB, true, Suite::Sha256);
    let mut carol = member::<B>(CAROL, true, Suite::Sha256);
    let mut nick = member::<B>(NICK, false, Suite::Sha256);
    trust_each_other(&mut [&mut alice, &mut bob, &mut carol, &mut nick]);
    for m in [&mut bob, &mut carol, &mut nick] {
        m.add_admin(alice.public_key()).unwrap();
    }

    let intro = nick.construct_intro().unwrap();
    assert_eq!(intro[2], SUITE_SHA256, "{backend}: the intro's suite byte");
    let reply = alice.construct_reply(&intro).unwrap();
    assert_eq!(nick.parse_reply(&reply).unwrap(), alice.public_key());
    assert_eq!(key_of(&nick), Some([X; 32]), "{backend}");

    let wire = alice.encode("hello").unwrap();
    assert_eq!(wire[2], SUITE_SHA256, "{backend}: the message's suite byte");
    for m in [&mut bob, &mut nick] {
        assert_eq!(decoded(m, &wire, DecodeMode::Strict).unwrap(), b"hello");
    }

    let rekey = stringphone_testkit::scenario::rotate_carol_out(&mut alice, &mut bob, &mut carol);
    assert_eq!(rekey[2], SUITE_SHA256, "{backend}: the rekey's suite byte");
    assert_eq!((alice.epoch(), bob.epoch(), carol.epoch()), (2, 2, 1));
    let wire = alice.encode("epoch two").unwrap();
    assert_eq!(
        decoded(&mut bob, &wire, DecodeMode::Strict).unwrap(),
        b"epoch two"
    );
    assert!(
        decoded(&mut carol, &wire, DecodeMode::Strict).is_err(),
        "{backend}: Carol, rotated out, opened epoch 2"
    );

    // A clean restart over the same store resumes the suite with the rest of the state.
    bob.save_replay_marks().unwrap();
    let mut restarted = common::v2::restart(&bob, BOB);
    assert_eq!(restarted.topic_id(), Some(topic_x(Suite::Sha256)));
    assert_eq!(restarted.epoch(), 2);
    let wire = alice.encode("after the restart").unwrap();
    assert_eq!(
        decoded(&mut restarted, &wire, DecodeMode::Strict).unwrap(),
        b"after the restart"
    );
}
attack!(sha256_suite_session);

/// Alice runs topic X in both suites with one identity and one key (a gateway serving
/// desktops and devices). Nothing she sends in one is taken in the other: messages are
/// refused for their suite, and with the suite byte rewritten, for their signature
/// (strict) or their tag (naive: the byte is in the associated data and the key).
fn messages_stay_in_their_suite<B: Backend>(backend: &str) {
    for (from, to) in [
        (Suite::Blake3, Suite::Sha256),
        (Suite::Sha256, Suite::Blake3),
    ] {
        let mut alice = member::<B>(ALICE, true, from);
        let mut bob = member::<B>(BOB, true, to);
        trust_each_other(&mut [&mut alice, &mut bob]);
        let wire = alice.encode("in the other suite").unwrap();

        for mode in [DecodeMode::Strict, DecodeMode::Naive] {
            let refused = decoded(&mut bob, &wire, mode).unwrap_err();
            assert_eq!(
                refused,
                Error::SuiteMismatch {
                    topic: to.byte(),
                    message: from.byte()
                },
                "{backend}: {from:?} message into a {to:?} topic, {mode:?}"
            );
            assert!(matches!(
                bob.receive(&wire, mode),
                Err(Error::SuiteMismatch { .. })
            ));
        }

        let mut rewritten = wire.clone();
        rewritten[2] = to.byte();
        assert_eq!(
            decoded(&mut bob, &rewritten, DecodeMode::Strict),
            Err(Error::BadSignature),
            "{backend}: {from:?} message relabelled {to:?}"
        );
        assert_eq!(
            decoded(&mut bob, &rewritten, DecodeMode::Naive),
            Err(Error::DecryptFailed),
            "{backend}: {from:?} message relabelled {to:?}, naive"
        );

        // Refusals changed nothing: the next message in Bob's own suite opens.
        let mut alice_here = member::<B>(ALICE, true, to);
        trust_each_other(&mut [&mut alice_here, &mut bob]);
        let wire = alice_here.encode("in the suite").unwrap();
        assert_eq!(
            decoded(&mut bob, &wire, DecodeMode::Strict).unwrap(),
            b"in the suite"
        );
    }
}
attack!(messages_stay_in_their_suite);

/// Discovery and rotation across suites: an introduction, a reply and a rekey made in
/// one suite are refused by the other's topic, which keeps its key and epoch.
fn discovery_and_rekeys_stay_in_their_suite<B: Backend>(backend: &str) {
    for (from, to) in [
        (Suite::Blake3, Suite::Sha256),
        (Suite::Sha256, Suite::Blake3),
    ] {
        let mismatch = Error::SuiteMismatch {
            topic: to.byte(),
            message: from.byte(),
        };
        // Nick's introduction from the other suite gets no reply from Alice.
        let mut alice = member::<B>(ALICE, true, to);
        let mut nick_there = member::<B>(NICK, false, from);
        trust_each_other(&mut [&mut alice, &mut nick_there]);
        let intro = nick_there.construct_intro().unwrap();
        assert_eq!(
            alice.construct_reply(&intro).unwrap_err(),
            mismatch,
            "{backend}"
        );
        assert_eq!(
            alice.receive(&intro, DecodeMode::Strict).unwrap_err(),
            mismatch
        );

        // A reply from the other suite's Alice to Nick's own intro installs nothing,
        // though Nick trusts her and the reply answers his intro's bytes.
        let mut nick = member::<B>(NICK, false, to);
        let mut alice_there = member::<B>(ALICE, true, from);
        trust_each_other(&mut [&mut nick, &mut alice_there]);
        let intro = nick.construct_intro().unwrap();
        let mut relabelled = intro.to_vec();
        relabelled[2] = from.byte();
        assert!(
            alice_there.construct_reply(&relabelled).is_err(),
            "{backend}"
        );
        let mut alice_there_ok = member::<B>(ALICE, true, from);
        let mut nick_there = member::<B>(NICK, false, from);
        trust_each_other(&mut [&mut alice_there_ok, &mut nick_there]);
        let reply = alice_there_ok
            .construct_reply(&nick_there.construct_intro().unwrap())
            .unwrap();
        assert_eq!(nick.parse_reply(&reply).unwrap_err(), mismatch, "{backend}");
        assert_eq!(
            key_of(&nick),
            None,
            "{backend}: a key installed across suites"
        );

        // A rekey by an admin Bob trusts, made in the other suite, does not move him.
        let mut admin_there = member::<B>(ALICE, true, from);
        let mut bob_there = member::<B>(BOB, true, from);
        let mut bob = member::<B>(BOB, true, to);
        trust_each_other(&mut [&mut admin_there, &mut bob_there, &mut bob]);
        bob.add_admin(admin_there.public_key()).unwrap();
        let rekey = admin_there.rotate(None).unwrap();
        assert_eq!(bob.accept_rekey(&rekey).unwrap_err(), mismatch, "{backend}");
        assert_eq!(
            bob.receive(&rekey, DecodeMode::Strict).unwrap_err(),
            mismatch
        );
        assert_eq!((bob.epoch(), key_of(&bob)), (0, Some([X; 32])), "{backend}");
        // The same admin's rekey in Bob's suite is taken: the refusal was the suite's.
        let mut admin_here = member::<B>(ALICE, true, to);
        trust_each_other(&mut [&mut admin_here, &mut bob]);
        let rekey = admin_here.rotate(None).unwrap();
        assert_eq!(
            bob.accept_rekey(&rekey).unwrap(),
            RekeyOutcome::Rotated { epoch: 1 }
        );
    }
}
attack!(discovery_and_rekeys_stay_in_their_suite);

/// A group state keeps its suite through bytes and restarts; one of the other suite,
/// or one whose suite flag was flipped, is refused by the topic.
fn group_state_keeps_its_suite<B: Backend>(backend: &str) {
    let mut alice = member::<B>(ALICE, true, Suite::Sha256);
    alice.rotate(None).unwrap();
    let bytes = alice.export_group_state().unwrap().to_bytes();
    let state = GroupState::from_bytes(&bytes).unwrap();
    assert_eq!(state.topic_id(), Some(topic_x(Suite::Sha256)), "{backend}");

    // Into the same name's topic in suite 0x01: another topic.
    let mut other = member::<B>(ALICE, true, Suite::Blake3);
    assert_eq!(
        other.restore_group_state(state.clone()),
        Err(Error::TopicMismatch)
    );
    assert_eq!(other.epoch(), 0, "{backend}");

    // The suite flag (bit 9 of the flags after "SPGS" and the version) flipped: the
    // state now names suite 0x01's topic with suite 0x02's bytes, and is refused.
    let mut flipped = bytes.to_vec();
    assert_eq!(flipped[5] & 0x02, 0x02, "{backend}: the suite flag is set");
    flipped[5] &= !0x02;
    let flipped = GroupState::from_bytes(&flipped).unwrap();
    assert_ne!(flipped.topic_id(), Some(topic_x(Suite::Sha256)));
    let mut fresh = member::<B>(ALICE, true, Suite::Sha256);
    assert_eq!(
        fresh.restore_group_state(flipped),
        Err(Error::TopicMismatch)
    );
    // The untouched state restores.
    fresh.restore_group_state(state).unwrap();
    assert_eq!(fresh.epoch(), 1, "{backend}");

    // A suite flag without a topic id is no state at all.
    let mut t = T::<B>::new(stringphone::SigningSeed::from_bytes([ALICE; 32]), None);
    let mut bare = t.export_group_state().unwrap().to_bytes().to_vec();
    bare[5] |= 0x02;
    assert!(matches!(
        GroupState::from_bytes(&bare),
        Err(Error::InvalidState(_))
    ));
    // and t itself is untouched by all this
    assert_eq!(t.topic_id(), None);
    t.set_topic_id(topic_x(Suite::Sha256)).unwrap();
}
attack!(group_state_keeps_its_suite);
