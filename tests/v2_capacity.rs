//! v2 in fixed capacities (`v2::Fixed`, a device without a heap), played by an
//! attacker who fills a list: every change past a capacity is refused with
//! `Error::CapacityExceeded` and changes nothing, and nothing a full list refuses
//! reopens a replay or lets a removed participant back in. Against a topic of
//! unbounded capacity on the other side, on the wire the two are the same protocol.
#![cfg(feature = "std")]

use stringphone::protocol::v2::{Fixed, GroupState, ProtocolVersion, RekeyOutcome, TopicId};
use stringphone::protocol::Topic;
use stringphone::{
    Backend, DecodeMode, Decoded, DefaultBackend, Error, MemoryTrustStore, SigningSeed, TopicKey,
};

type Key = <DefaultBackend as Backend>::SigningKey;
/// A device: up to `M` members, `A` admins, `S` senders.
type Device<const M: usize, const A: usize, const S: usize> =
    Topic<DefaultBackend, MemoryTrustStore, Key, Fixed<M, A, S>>;
/// A gateway: lists that grow.
type Gateway = Topic<DefaultBackend, MemoryTrustStore>;

const KEY: [u8; 32] = [9; 32];

fn v2<const M: usize, const A: usize, const S: usize>(
    seed: u8,
    key: Option<[u8; 32]>,
) -> Device<M, A, S> {
    let mut t = Topic::from_identity(
        DefaultBackend::signing_key(&SigningSeed::from_bytes([seed; 32])),
        key.map(TopicKey::from_bytes),
        MemoryTrustStore::new(),
    );
    t.set_topic_id(TopicId::from_name(b"capacity")).unwrap();
    t.set_protocol(ProtocolVersion::V2);
    t
}

fn gateway(seed: u8, key: Option<[u8; 32]>) -> Gateway {
    let mut t = Gateway::new(
        SigningSeed::from_bytes([seed; 32]),
        key.map(TopicKey::from_bytes),
    );
    t.set_topic_id(TopicId::from_name(b"capacity")).unwrap();
    t.set_protocol(ProtocolVersion::V2);
    t
}

fn is_full(result: Result<impl Sized, Error>, list: &'static str, capacity: usize) -> bool {
    result.err() == Some(Error::CapacityExceeded { list, capacity })
}

/// A flood of trusted senders cannot push a tracked sender's replay window out: the
/// sender past capacity is refused, and a message already accepted stays refused. (A
/// list that made room by forgetting a window would accept the replay.)
#[test]
fn a_sender_past_capacity_is_refused_and_no_window_is_forgotten() {
    let mut device: Device<4, 2, 2> = v2(1, Some(KEY));
    let mut senders: Vec<Gateway> = (2..5).map(|seed| gateway(seed, Some(KEY))).collect();
    for s in &senders {
        device.add_participant(s.public_key()).unwrap();
    }
    let first = senders[0].encode("first").unwrap();
    assert!(matches!(
        device.decode(&first, DecodeMode::Strict),
        Ok(Decoded::Message { .. })
    ));
    let second = senders[1].encode("second").unwrap();
    assert!(matches!(
        device.decode(&second, DecodeMode::Strict),
        Ok(Decoded::Message { .. })
    ));

    let third = senders[2].encode("third").unwrap();
    let mut copy = third.clone();
    assert!(is_full(
        device.decode_in_place(&mut copy, DecodeMode::Strict),
        "senders",
        2
    ));
    assert_eq!(copy, third, "a refused message is left as it was");

    for replay in [&first, &second] {
        assert!(
            matches!(
                device.decode(replay, DecodeMode::Strict),
                Err(Error::Replayed { .. })
            ),
            "a replay was accepted after a sender past capacity came by"
        );
    }
    // The senders it tracks are still heard.
    let more = senders[0].encode("more").unwrap();
    assert!(matches!(
        device.decode(&more, DecodeMode::Strict),
        Ok(Decoded::Message { .. })
    ));
}

/// A reply handing over more replay floors than the newcomer can hold is refused as a
/// whole: no key installed, no floor taken, the introduction still pending.
#[test]
fn a_reply_with_more_floors_than_capacity_changes_nothing() {
    let mut member = gateway(1, Some(KEY));
    let mut other = gateway(2, Some(KEY));
    let mut newcomer: Device<4, 2, 1> = v2(3, None);
    member.add_participant(newcomer.public_key()).unwrap();
    member.add_participant(other.public_key()).unwrap();
    newcomer.add_participant(member.public_key()).unwrap();
    // The member heard `other`: its reply carries two floors (other's and its own).
    let heard = other.encode("hello").unwrap();
    member.add_participant(other.public_key()).unwrap();
    other.add_participant(member.public_key()).unwrap();
    member.decode(&heard, DecodeMode::Strict).unwrap();

    let intro = newcomer.construct_intro().unwrap();
    let reply = member.construct_reply(&intro).unwrap();
    let before = newcomer.group_state().to_bytes();
    assert!(is_full(newcomer.parse_reply(&reply), "replay floors", 1));
    assert!(newcomer.topic_key().is_none());
    assert!(newcomer.has_pending_introduction());
    assert_eq!(
        newcomer.group_state().to_bytes(),
        before,
        "the group state changed"
    );
}

/// A rekey listing more members than the device holds is refused: the device stays
/// in its epoch with its key (and keeps refusing what the old epoch refused).
#[test]
fn a_rekey_listing_more_members_than_capacity_is_refused() {
    let mut admin = gateway(1, Some(KEY));
    let mut device: Device<2, 2, 4> = v2(2, Some(KEY));
    let third = gateway(3, Some(KEY));
    admin.add_participant(device.public_key()).unwrap();
    admin.add_participant(third.public_key()).unwrap();
    device.add_admin(admin.public_key()).unwrap();

    let rekey = admin.rotate(None).unwrap();
    assert!(is_full(device.accept_rekey(&rekey), "members", 2));
    assert_eq!(device.epoch(), 0);
    assert_eq!(device.topic_key().map(|k| *k.expose_secret()), Some(KEY));
}

/// An admin past capacity is refused before its key is trusted.
#[test]
fn an_admin_past_capacity_is_refused_and_not_trusted() {
    // The creator (holding the key) is its own admin: one admin fills a capacity of one.
    let mut device: Device<4, 1, 4> = v2(1, Some(KEY));
    let candidate = gateway(2, None);
    assert!(is_full(
        device.add_admin(candidate.public_key()),
        "admins",
        1
    ));
    assert_eq!(
        device.trusted_key(&candidate.id()).unwrap(),
        None,
        "trusted anyway"
    );
    assert!(!device.is_admin(&candidate.id()));
}

/// A group state travels between capacities: a fixed one reads what fits and refuses
/// what does not, and writes the same bytes an unbounded topic does.
#[test]
fn a_group_state_reads_into_a_fixed_capacity_only_when_it_fits() {
    let mut admin = gateway(1, Some(KEY));
    for seed in 2..5 {
        let peer = gateway(seed, None);
        admin.add_participant(peer.public_key()).unwrap();
    }
    admin.rotate(None).unwrap();
    let bytes = admin.group_state().to_bytes();

    assert!(is_full(
        GroupState::<Fixed<2, 2, 8>>::from_bytes_in(&bytes),
        "members",
        2
    ));
    let fitted = GroupState::<Fixed<4, 2, 8>>::from_bytes_in(&bytes).unwrap();
    let mut written = vec![0u8; fitted.encoded_len()];
    assert_eq!(fitted.write_to(&mut written).unwrap(), bytes.len());
    assert_eq!(&written[..], &bytes[..]);
    assert!(matches!(
        fitted.write_to(&mut written[..bytes.len() - 1]),
        Err(Error::BufferTooSmall { .. })
    ));
}

/// A device and a gateway speak the same v2: the device joins through the gateway's
/// reply, follows its rotation, and each reads the other.
#[test]
fn a_device_of_fixed_capacity_and_a_gateway_talk() {
    let mut gw = gateway(1, Some(KEY));
    let mut device: Device<4, 2, 4> = v2(2, None);
    gw.add_participant(device.public_key()).unwrap();
    device.add_admin(gw.public_key()).unwrap();

    let intro = device.construct_intro().unwrap();
    let reply = gw.construct_reply(&intro).unwrap();
    device.parse_reply(&reply).unwrap();
    let rekey = gw.rotate(None).unwrap();
    assert!(matches!(
        device.accept_rekey(&rekey),
        Ok(RekeyOutcome::Rotated { epoch: 1 })
    ));

    let wire = gw.encode("to the device").unwrap();
    assert_eq!(
        device
            .decode(&wire, DecodeMode::Strict)
            .unwrap()
            .plaintext()
            .unwrap(),
        b"to the device"
    );
    let mut out = [0u8; 200];
    let n = device
        .encode_into(&mut rand_core::OsRng, b"to the gateway", &mut out)
        .unwrap();
    assert_eq!(
        gw.decode(&out[..n], DecodeMode::Strict)
            .unwrap()
            .plaintext()
            .unwrap(),
        b"to the gateway"
    );
}
