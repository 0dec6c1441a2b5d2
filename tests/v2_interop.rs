//! v2 across backends: byte-identical output from the same randomness, and every v2
//! message type made by one backend accepted by the other.
#![cfg(all(feature = "rustcrypto", feature = "ring"))]

mod common;

use common::TestRng;
use stringphone::protocol::Topic;
use stringphone::v2::{ProtocolVersion, RekeyOutcome};
use stringphone::{
    Backend, DecodeMode, Decoded, MemoryTrustStore, Ring, RustCrypto, SigningSeed, TopicKey,
};

fn v2<B: Backend>(seed: u8, key: Option<u8>) -> Topic<B, MemoryTrustStore> {
    let mut t = Topic::<B, _>::new(
        SigningSeed::from_bytes([seed; 32]),
        key.map(|k| TopicKey::from_bytes([k; 32])),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(stringphone::v2::TopicId::from_name(b"test topic"))
        .unwrap();
    t
}

#[test]
fn the_same_randomness_gives_the_same_bytes_on_both_backends() {
    let mut a = v2::<RustCrypto>(1, Some(9));
    let mut b = v2::<Ring>(1, Some(9));
    let session = [0x42u8; 16];
    for size in [0usize, 64, 1024, 65536] {
        let pt = vec![7u8; size];
        let mut out_a = vec![0u8; size + 127];
        let mut out_b = vec![0u8; size + 127];
        a.encode_into(&mut TestRng::replay(&[&session]), &pt, &mut out_a)
            .ok();
        b.encode_into(&mut TestRng::replay(&[&session]), &pt, &mut out_b)
            .ok();
        // Only the first encode draws the session; later ones draw nothing.
        assert_eq!(out_a, out_b, "{size} bytes");
    }
    let secret = [0x17u8; 32];
    let ia = a
        .construct_intro_with(&mut TestRng::replay(&[&secret]))
        .unwrap();
    let ib = b
        .construct_intro_with(&mut TestRng::replay(&[&secret]))
        .unwrap();
    assert_eq!(ia, ib);
}

fn talk<A: Backend, B: Backend>() {
    let mut x = v2::<A>(1, Some(9));
    let mut y = v2::<B>(2, Some(9));
    x.add_participant(y.public_key()).unwrap();
    y.add_participant(x.public_key()).unwrap();
    y.add_admin(x.public_key()).unwrap();
    let m = x.encode("across").unwrap();
    assert!(matches!(
        y.decode(&m, DecodeMode::Strict),
        Ok(Decoded::Message { verified: true, .. })
    ));

    // Signed discovery across backends.
    let mut newcomer = v2::<B>(3, None);
    newcomer.add_participant(x.public_key()).unwrap();
    x.add_participant(newcomer.public_key()).unwrap();
    let intro = newcomer.construct_intro().unwrap();
    let reply = x.construct_reply(&intro).unwrap();
    assert_eq!(newcomer.parse_reply(&reply).unwrap(), x.public_key());
    assert_eq!(newcomer.topic_key(), x.topic_key());

    // Rotation across backends: static keys derived alike on both.
    newcomer.add_admin(x.public_key()).unwrap();
    let rekey = x.rotate(None).unwrap();
    assert_eq!(
        y.accept_rekey(&rekey).unwrap(),
        RekeyOutcome::Rotated { epoch: 1 }
    );
    assert_eq!(
        newcomer.accept_rekey(&rekey).unwrap(),
        RekeyOutcome::Rotated { epoch: 1 }
    );
    assert_eq!(y.topic_key(), x.topic_key());
    let m = newcomer.encode("epoch 1").unwrap();
    y.add_participant(newcomer.public_key()).unwrap();
    assert!(x.decode(&m, DecodeMode::Strict).is_ok());
    assert!(y.decode(&m, DecodeMode::Strict).is_ok());
}

#[test]
fn every_v2_message_type_crosses_backends_both_ways() {
    talk::<RustCrypto, Ring>();
    talk::<Ring, RustCrypto>();
}

#[test]
fn static_keys_agree() {
    use stringphone::Identity;
    for seed in 0..16u8 {
        let s = SigningSeed::from_bytes([seed; 32]);
        let (a, b) = (RustCrypto::signing_key(&s), Ring::signing_key(&s));
        assert_eq!(
            a.static_box_secret().map(|k| *k.expose_secret()),
            b.static_box_secret().map(|k| *k.expose_secret())
        );
        let pa = RustCrypto::static_box_public(&a.public_key()).unwrap();
        assert_eq!(pa, Ring::static_box_public(&b.public_key()).unwrap());
        // The derived public key is the X25519 key of the derived secret.
        let secret = a.static_box_secret().unwrap();
        assert_eq!(pa, RustCrypto::box_public_key(&secret));
    }
}
