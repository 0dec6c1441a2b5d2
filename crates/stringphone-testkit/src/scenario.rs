//! The group the v2 scenario tests build, on any backend and any store: the same
//! steps in memory (the facade's tests) and on state directories (the file store's).

use stringphone_core::{Backend, PublicKey, Topic, TrustStore};

/// Every topic trusts every other one's identity.
///
/// ```
/// use stringphone_core::{MemoryTrustStore, SigningSeed, Topic};
/// use stringphone_rustcrypto::RustCrypto;
/// let new = |s| Topic::<RustCrypto, MemoryTrustStore>::new(SigningSeed::from_bytes([s; 32]), None);
/// let (mut a, mut b) = (new(1), new(2));
/// stringphone_testkit::scenario::trust_each_other(&mut [&mut a, &mut b]);
/// assert_eq!(a.participants().unwrap().count(), 1);
/// ```
pub fn trust_each_other<B: Backend, S: TrustStore>(topics: &mut [&mut Topic<B, S>]) {
    let keys: Vec<PublicKey> = topics.iter().map(|t| t.public_key()).collect();
    for t in topics.iter_mut() {
        for k in &keys {
            if *k != t.public_key() {
                t.add_participant(*k)
                    .expect("a test identity is a usable key");
            }
        }
    }
}

/// Alice, Bob and Carol (v2 members of one topic) trust each other, and Bob and Carol
/// name Alice their admin.
///
/// ```
/// use stringphone_core::v2::{ProtocolVersion, TopicId};
/// use stringphone_core::{MemoryTrustStore, SigningSeed, Topic, TopicKey};
/// use stringphone_rustcrypto::RustCrypto;
/// let member = |s| {
///     let key = Some(TopicKey::from_bytes([9; 32]));
///     let mut t = Topic::<RustCrypto, MemoryTrustStore>::new(SigningSeed::from_bytes([s; 32]), key);
///     t.set_protocol(ProtocolVersion::V2);
///     t.set_topic_id(TopicId::from_name(b"x")).unwrap();
///     t
/// };
/// let (mut alice, mut bob, mut carol) = (member(1), member(2), member(3));
/// stringphone_testkit::scenario::form_group(&mut alice, &mut bob, &mut carol);
/// assert!(bob.is_admin(&alice.id()));
/// ```
pub fn form_group<B: Backend, S: TrustStore>(
    alice: &mut Topic<B, S>,
    bob: &mut Topic<B, S>,
    carol: &mut Topic<B, S>,
) {
    trust_each_other(&mut [&mut *alice, &mut *bob, &mut *carol]);
    bob.add_admin(alice.public_key())
        .expect("Bob names Alice his admin");
    carol
        .add_admin(alice.public_key())
        .expect("Carol names Alice her admin");
}

/// From a [`form_group`] at epoch 0: Alice rotates to everyone (epoch 1), removes Carol
/// and rotates again (epoch 2, Alice and Bob). Bob accepts both rekeys, Carol only the
/// first (the second leaves her out). Returns the first rekey, as an eavesdropper kept
/// it.
///
/// ```
/// # use stringphone_core::v2::{ProtocolVersion, TopicId};
/// # use stringphone_core::{MemoryTrustStore, SigningSeed, Topic, TopicKey};
/// # use stringphone_rustcrypto::RustCrypto;
/// # let member = |s| {
/// #     let key = Some(TopicKey::from_bytes([9; 32]));
/// #     let mut t = Topic::<RustCrypto, MemoryTrustStore>::new(SigningSeed::from_bytes([s; 32]), key);
/// #     t.set_protocol(ProtocolVersion::V2);
/// #     t.set_topic_id(TopicId::from_name(b"x")).unwrap();
/// #     t
/// # };
/// # let (mut alice, mut bob, mut carol) = (member(1), member(2), member(3));
/// use stringphone_testkit::scenario::{form_group, rotate_carol_out};
/// form_group(&mut alice, &mut bob, &mut carol);
/// rotate_carol_out(&mut alice, &mut bob, &mut carol);
/// assert_eq!((alice.epoch(), bob.epoch(), carol.epoch()), (2, 2, 1));
/// ```
pub fn rotate_carol_out<B: Backend, S: TrustStore>(
    alice: &mut Topic<B, S>,
    bob: &mut Topic<B, S>,
    carol: &mut Topic<B, S>,
) -> Vec<u8> {
    let rekey1 = alice.rotate(None).expect("Alice rotates");
    bob.accept_rekey(&rekey1).expect("Bob takes epoch 1");
    carol.accept_rekey(&rekey1).expect("Carol takes epoch 1");
    alice
        .remove_participant(&carol.id())
        .expect("Alice removes Carol");
    let rekey2 = alice.rotate(None).expect("Alice rotates again");
    bob.accept_rekey(&rekey2).expect("Bob takes epoch 2");
    assert!(
        carol.accept_rekey(&rekey2).is_err(),
        "setup: Carol was removed"
    );
    assert_eq!((alice.epoch(), bob.epoch(), carol.epoch()), (2, 2, 1));
    rekey1
}
