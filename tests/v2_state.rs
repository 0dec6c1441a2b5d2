//! v2's group state as a value: exported, parsed back exactly, restored only forward,
//! saved to the trust store on every change (and the change taken back when saving
//! fails), and bound to its topic. Every test runs once per backend.

mod common;

use common::v2::participant;
use stringphone_testkit::store::FlawedStore;

use proptest::prelude::*;
use stringphone::protocol::Topic;
use stringphone::v2::{GroupState, ProtocolVersion, TopicId};
use stringphone::{
    Backend, DecodeMode, Error, MemoryTrustStore, SigningSeed, TopicKey, TrustStore,
};

type T<B, S = MemoryTrustStore> = Topic<B, S>;

fn topic_id(name: &str) -> TopicId {
    TopicId::from_name(name.as_bytes())
}

/// A v2 participant of topic `name` on `store`.
fn member<B: Backend, S: TrustStore>(seed: u8, key: Option<u8>, store: S, name: &str) -> T<B, S> {
    participant::<B, S>(seed, key, topic_id(name), store)
}

/// Alice (admin) and Bob at epoch 2, both in topic "kitchen".
fn at_epoch_two<B: Backend>() -> (T<B>, T<B>) {
    let mut alice = member::<B, _>(1, Some(9), MemoryTrustStore::new(), "kitchen");
    let mut bob = member::<B, _>(2, Some(9), MemoryTrustStore::new(), "kitchen");
    alice.add_participant(bob.public_key()).unwrap();
    bob.add_admin(alice.public_key()).unwrap();
    for _ in 0..2 {
        bob.accept_rekey(&alice.rotate(None).unwrap()).unwrap();
    }
    (alice, bob)
}

fn the_state_round_trips_exactly<B: Backend>(_: &str) {
    let (mut alice, mut bob) = at_epoch_two::<B>();
    bob.decode(&alice.encode("hi").unwrap(), DecodeMode::Strict)
        .unwrap();
    let bytes = bob.group_state().to_bytes();
    let state = GroupState::from_bytes(&bytes).unwrap();
    assert_eq!(
        *state.to_bytes(),
        *bytes,
        "parse then write changed the bytes"
    );
    assert_eq!(state.epoch(), 2);
    assert_eq!(state.topic_id(), Some(topic_id("kitchen")));
    assert_eq!(state.epoch_id(), &bob.epoch_id());
    // Bob started holding the key, so he counts himself an admin, beside Alice.
    let admins: Vec<_> = state.admins().copied().collect();
    assert!(admins.contains(&alice.id()) && admins.contains(&bob.id()) && admins.len() == 2);
    // Alice used counters 0 and 1 for her rekeys and 2 for "hi", which Bob accepted.
    assert_eq!(state.replay_floor(&alice.id()), Some(3));
    assert_eq!(state.members().unwrap().count(), 2);

    // Restored into a fresh instance, it is the same participant at the same epoch.
    let mut again = T::<B>::new(SigningSeed::from_bytes([2; 32]), None);
    again.set_protocol(ProtocolVersion::V2);
    again.restore_group_state(state).unwrap();
    assert_eq!(again.epoch(), 2);
    assert_eq!(again.topic_key(), bob.topic_key());
    assert_eq!(again.topic_id(), Some(topic_id("kitchen")));
    assert_eq!(*again.group_state().to_bytes(), *bytes);
}
mod round_trip {
    use super::*;
    for_each_backend!(the_state_round_trips_exactly);
}

fn damaged_states_are_refused<B: Backend>(_: &str) {
    let (_, bob) = at_epoch_two::<B>();
    let bytes = bob.group_state().to_bytes();
    for len in 0..bytes.len() {
        assert!(
            matches!(
                GroupState::from_bytes(&bytes[..len]),
                Err(Error::InvalidState(_))
            ),
            "a state cut at {len} of {} bytes was taken",
            bytes.len()
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(matches!(
        GroupState::from_bytes(&longer),
        Err(Error::InvalidState("trailing bytes"))
    ));
    for (at, why) in [
        (0, "not a stringphone group state"),
        (4, "unknown group state version"),
    ] {
        let mut bad = bytes.to_vec();
        bad[at] ^= 0x40;
        assert_eq!(
            GroupState::from_bytes(&bad).err(),
            Some(Error::InvalidState(why)),
            "byte {at}"
        );
    }
    let mut flags = bytes.to_vec();
    flags[5] |= 0x80; // a flag this version does not know
    assert!(matches!(
        GroupState::from_bytes(&flags),
        Err(Error::InvalidState("unknown flags"))
    ));
}
mod damaged {
    use super::*;
    for_each_backend!(damaged_states_are_refused);
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = GroupState::from_bytes(&bytes);
    }
}

/// An old backup restored over a running topic would move it back to an epoch a
/// removed member may hold, or to another chain: refused, changing nothing.
fn restore_only_moves_forward_in_its_own_topic<B: Backend>(_: &str) {
    let (mut alice, mut bob) = at_epoch_two::<B>();
    let at_two = bob.group_state();
    let mut fresh = member::<B, _>(2, Some(9), MemoryTrustStore::new(), "kitchen");
    let at_zero = fresh.group_state();
    let key = bob.topic_key().cloned();

    let got = bob.restore_group_state(at_zero);
    assert_eq!(got, Err(Error::EpochMismatch { current: 2, got: 0 }));
    assert_eq!((bob.epoch(), bob.topic_key().cloned()), (2, key.clone()));

    // Same number, another chain: Alice's third epoch against one made elsewhere.
    let rekey3 = alice.rotate(None).unwrap();
    bob.accept_rekey(&rekey3).unwrap();
    let mut other = member::<B, _>(1, Some(9), MemoryTrustStore::new(), "kitchen");
    for _ in 0..3 {
        other.rotate(None).unwrap();
    }
    assert!(matches!(
        bob.restore_group_state(other.group_state()),
        Err(Error::EpochMismatch { current: 3, got: 3 })
    ));

    // Another topic's state is refused whatever its epoch.
    let mut garage = member::<B, _>(1, Some(9), MemoryTrustStore::new(), "garage");
    for _ in 0..5 {
        garage.rotate(None).unwrap();
    }
    assert!(matches!(
        bob.restore_group_state(garage.group_state()),
        Err(Error::TopicMismatch)
    ));
    assert_eq!(bob.epoch(), 3);
    // And a forward state is taken.
    assert!(fresh.restore_group_state(at_two).is_ok());
    assert_eq!(fresh.epoch(), 2);
}
mod restore {
    use super::*;
    for_each_backend!(restore_only_moves_forward_in_its_own_topic);
}

/// A change that cannot be saved does not happen: after a restart the topic would be
/// back where the store is, so it must not be anywhere else now either.
fn a_change_that_cannot_be_saved_changes_nothing<B: Backend>(_: &str) {
    let mut alice = member::<B, _>(1, Some(9), MemoryTrustStore::new(), "kitchen");
    let mut bob = member::<B, _>(2, Some(9), FlawedStore::default(), "kitchen");
    alice.add_participant(bob.public_key()).unwrap();
    bob.add_admin(alice.public_key()).unwrap();
    let rekey = alice.rotate(None).unwrap();
    let saved = bob.trust_store().inner.load_group_state().unwrap();

    bob.trust_store_mut().flaws.fails_group_state = true;
    let before = (bob.epoch(), bob.topic_key().cloned());
    assert!(matches!(bob.accept_rekey(&rekey), Err(Error::Store(_))));
    assert_eq!((bob.epoch(), bob.topic_key().cloned()), before);
    assert!(matches!(
        bob.rotate(None),
        Err(Error::Store(_)) | Err(Error::NotAnAdmin(_))
    ));
    assert!(matches!(
        bob.remove_admin(&alice.id()),
        Err(Error::Store(_))
    ));
    assert!(bob.is_admin(&alice.id()));
    assert!(matches!(
        bob.remove_participant(&alice.id()),
        Err(Error::Store(_))
    ));
    assert!(
        bob.trusted_key(&alice.id()).unwrap().is_some(),
        "trust removed though the admin right was not"
    );
    assert!(matches!(bob.construct_intro(), Err(Error::Store(_))));
    assert!(!bob.has_pending_introduction());
    assert_eq!(bob.trust_store().inner.load_group_state().unwrap(), saved);

    bob.trust_store_mut().flaws.fails_group_state = false;
    assert_eq!(
        bob.accept_rekey(&rekey).unwrap(),
        stringphone::v2::RekeyOutcome::Rotated { epoch: 1 }
    );
}
mod full_disk {
    use super::*;
    for_each_backend!(a_change_that_cannot_be_saved_changes_nothing);
}

/// One identity, one topic key, two topics (say the application reused a key): a
/// message made in one is refused in the other, since its signature and its cipher
/// both name the topic.
fn a_message_from_another_topic_is_refused<B: Backend>(_: &str) {
    let mut alice_kitchen = member::<B, _>(1, Some(9), MemoryTrustStore::new(), "kitchen");
    let mut bob_garage = member::<B, _>(2, Some(9), MemoryTrustStore::new(), "garage");
    bob_garage
        .add_participant(alice_kitchen.public_key())
        .unwrap();
    let wire = alice_kitchen.encode("for the kitchen").unwrap();
    assert!(matches!(
        bob_garage.decode(&wire, DecodeMode::Strict),
        Err(Error::BadSignature)
    ));
    // Naive mode skips the signature; the cipher's associated data still names the
    // topic.
    assert!(matches!(
        bob_garage.decode(&wire, DecodeMode::Naive),
        Err(Error::DecryptFailed)
    ));
    let intro = alice_kitchen.construct_intro().unwrap();
    bob_garage
        .add_participant(alice_kitchen.public_key())
        .unwrap();
    assert!(matches!(
        bob_garage.construct_reply(&intro),
        Err(Error::BadSignature)
    ));
}
mod other_topic {
    use super::*;
    for_each_backend!(a_message_from_another_topic_is_refused);
}

/// Without a topic id nothing v2 happens: better refused than bound to nothing.
fn v2_needs_a_topic_id<B: Backend>(_: &str) {
    let mut t = T::<B>::new(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    t.set_protocol(ProtocolVersion::V2);
    assert_eq!(t.encode("x"), Err(Error::NoTopicId));
    assert_eq!(t.construct_intro(), Err(Error::NoTopicId));
    assert_eq!(t.rotate(None), Err(Error::NoTopicId));
}
mod no_topic_id {
    use super::*;
    for_each_backend!(v2_needs_a_topic_id);
}
