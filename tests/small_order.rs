//! `rule::SMALL_ORDER_ENCODINGS` is checked against a derivation from curve arithmetic
//! (the test kit's `small_order`), not trusted: the eight torsion points of
//! curve25519-dalek, compressed with the sign bit cleared, plus every non-canonical
//! encoding (`y + p` that still fits in 255 bits) of those.
//! And `rule::has_small_order` must agree with dalek's `is_small_order` on every
//! encoding that decompresses, over a wide sample.
//!
//! The same for discovery's X25519 keys: `BoxPublicKey::SMALL_ORDER_ENCODINGS` is
//! derived from the curve and its twist, `BoxPublicKey::has_small_order` agrees with
//! X25519 itself, and both discovery steps refuse every such key.

use std::collections::BTreeSet;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::IsIdentity;
use rand_core::{OsRng, RngCore};
use stringphone::rule::{self, SMALL_ORDER_ENCODINGS};
use stringphone::BoxPublicKey;
use stringphone_testkit::small_order::{self, plus_p, P};

#[test]
fn the_torsion_points_are_the_eight_points_of_small_order() {
    let distinct: BTreeSet<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    assert_eq!(distinct.len(), 8);
    for p in EIGHT_TORSION {
        assert!(p.mul_by_cofactor().is_identity());
        assert!(p.is_small_order());
    }
}

#[test]
fn small_order_encodings_are_derived_from_the_curve() {
    let listed: BTreeSet<[u8; 32]> = SMALL_ORDER_ENCODINGS.iter().copied().collect();
    assert_eq!(
        listed.len(),
        SMALL_ORDER_ENCODINGS.len(),
        "duplicates in the list"
    );
    // The test kit's derivation from curve arithmetic.
    let derived = small_order::ed25519();
    // Five y values (1, -1, 0, and the two of the order-8 points) and the two
    // non-canonical encodings p and p + 1.
    assert_eq!(derived.len(), 7);
    assert!(derived.contains(&P));
    assert!(derived.contains(
        &plus_p(&{
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        })
        .unwrap()
    ));
    assert_eq!(&listed, derived);
}

/// Every encoding that decompresses: `has_small_order` equals dalek's verdict.
fn check(encoding: [u8; 32]) -> bool {
    match CompressedEdwardsY(encoding).decompress() {
        Some(point) => {
            assert_eq!(
                rule::has_small_order(&encoding),
                point.is_small_order(),
                "{}",
                hex::encode(encoding)
            );
            true
        }
        None => false,
    }
}

#[test]
fn has_small_order_agrees_with_curve_arithmetic() {
    let mut points = 0;
    let mut tried = 0;
    let mut each = |mut e: [u8; 32]| {
        for sign in [0, 0x80] {
            e[31] = e[31] & 0x7f | sign;
            points += usize::from(check(e));
            tried += 1;
        }
    };
    // The listed encodings themselves, small y, y just below p and every encoding
    // above p.
    for e in SMALL_ORDER_ENCODINGS {
        each(e);
    }
    for y in 0..2048u16 {
        let mut e = [0u8; 32];
        e[..2].copy_from_slice(&y.to_le_bytes());
        each(e);
        let mut below_p = P;
        below_p[..2].copy_from_slice(&(0xffed_u16.wrapping_sub(y)).to_le_bytes());
        each(below_p);
    }
    for k in 0..19u8 {
        let mut e = P;
        e[0] += k;
        each(e);
    }
    // The y of the order-8 points, then random encodings.
    for p in EIGHT_TORSION {
        each(p.compress().to_bytes());
    }
    for _ in 0..4096 {
        let mut e = [0u8; 32];
        OsRng.fill_bytes(&mut e);
        each(e);
    }
    println!("has_small_order checked on {points} points among {tried} encodings");
    assert!(points > tried / 3);
}

// ----- X25519: the ephemeral keys of discovery --------------------------------------

/// The all-zero X25519 point, what every agreement with a small-order key gives.
const ZERO: MontgomeryPoint = MontgomeryPoint([0; 32]);

/// `BoxPublicKey::SMALL_ORDER_ENCODINGS` is the test kit's derivation from the curve
/// and its twist (`stringphone_testkit::small_order::x25519`, which says how).
#[test]
fn box_small_order_encodings_are_derived_from_the_curve() {
    let listed: BTreeSet<[u8; 32]> = BoxPublicKey::SMALL_ORDER_ENCODINGS
        .iter()
        .copied()
        .collect();
    assert_eq!(listed.len(), BoxPublicKey::SMALL_ORDER_ENCODINGS.len());
    assert_eq!(&listed, small_order::x25519());
}

/// The X25519 verdict: a key is of small order when agreements with two random secrets
/// are both all zeros (for any other key both are zero with probability ~2^-250).
fn zero_agreement(key: [u8; 32]) -> bool {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut a);
    OsRng.fill_bytes(&mut b);
    MontgomeryPoint(key).mul_clamped(a) == ZERO && MontgomeryPoint(key).mul_clamped(b) == ZERO
}

#[test]
fn box_has_small_order_agrees_with_x25519() {
    let mut tried = 0;
    let mut flagged = BTreeSet::new();
    let mut each = |mut e: [u8; 32]| {
        for top in [0, 0x80] {
            e[31] = e[31] & 0x7f | top;
            let listed = BoxPublicKey::from_bytes(e).has_small_order();
            assert_eq!(listed, zero_agreement(e), "{}", hex::encode(e));
            tried += 1;
            if listed {
                flagged.insert(e);
            }
        }
    };
    // The listed encodings and their neighbours, small u, u just below p, every
    // encoding from p up to 2^255 - 1, then random keys.
    for e in BoxPublicKey::SMALL_ORDER_ENCODINGS {
        each(e);
        for delta in [1u8, 0xff] {
            let mut near = e;
            near[0] = near[0].wrapping_add(delta);
            each(near);
        }
    }
    for u in 0..1024u16 {
        let mut e = [0u8; 32];
        e[..2].copy_from_slice(&u.to_le_bytes());
        each(e);
        let mut below_p = P;
        below_p[..2].copy_from_slice(&(0xffed_u16.wrapping_sub(u)).to_le_bytes());
        each(below_p);
    }
    for k in 0..19u8 {
        let mut e = P;
        e[0] += k;
        each(e);
    }
    for _ in 0..1024 {
        let mut e = [0u8; 32];
        OsRng.fill_bytes(&mut e);
        each(e);
    }
    println!(
        "BoxPublicKey::has_small_order checked on {tried} keys, {} of small order",
        flagged.len()
    );
    // Each listed encoding, top bit clear and set, was met and flagged.
    assert_eq!(flagged.len(), 2 * BoxPublicKey::SMALL_ORDER_ENCODINGS.len());
}

/// A trusted newcomer whose introduction carries a small-order X25519 key (a broken
/// random source, or a newcomer tricked into it) gets no reply: a topic key sealed to
/// it would be readable by anyone who sees the reply. Every listed key, top bit set or
/// not.
#[test]
fn construct_reply_refuses_every_small_order_key() {
    use signature::Signer;
    use stringphone::{Backend, DefaultBackend, Error, Identity, SigningSeed, Topic, TopicKey};

    let newcomer = DefaultBackend::signing_key(&SigningSeed::from_bytes([3; 32]));
    let mut replier = Topic::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    replier.add_participant(newcomer.public_key()).unwrap();
    let intro_with = |ephemeral: [u8; 32]| {
        let mut intro = vec![b'i'];
        intro.extend_from_slice(newcomer.public_key().as_bytes());
        intro.extend_from_slice(&newcomer.sign(&ephemeral).to_bytes());
        intro.extend_from_slice(&ephemeral);
        intro
    };
    // The same introduction with a good key is answered.
    let mut good = [0u8; 32];
    OsRng.fill_bytes(&mut good);
    replier
        .construct_reply(&intro_with(good))
        .expect("a good key is answered");
    for mut key in BoxPublicKey::SMALL_ORDER_ENCODINGS {
        for top in [0, 0x80] {
            key[31] = key[31] & 0x7f | top;
            assert!(
                matches!(
                    replier.construct_reply(&intro_with(key)),
                    Err(Error::InvalidPublicKey)
                ),
                "answered {}",
                hex::encode(key)
            );
        }
    }
}

/// A reply whose X25519 key is of small order is a box anyone can seal (the agreement
/// is zero whatever the newcomer's secret), here with the attacker's own topic key. The
/// box opens under the newcomer's secret (checked), yet `parse_reply` refuses it, as
/// libsodium does, and the newcomer still has no key and still awaits a reply.
#[test]
fn parse_reply_refuses_a_box_from_a_small_order_key() {
    use stringphone::{Backend, BoxSecret, DefaultBackend, Error, SigningSeed, Topic};
    use stringphone_core::reexports::aead::AeadInPlace;

    let mut newcomer = Topic::new(SigningSeed::from_bytes([3; 32]), None);
    newcomer.construct_intro().unwrap();
    let attacker_key = [0x66u8; 32];
    for mut small in BoxPublicKey::SMALL_ORDER_ENCODINGS {
        for top in [0, 0x80] {
            small[31] = small[31] & 0x7f | top;
            // Any secret gives the same box with a small-order key: the attacker's.
            let anyone = BoxSecret::from_bytes([0x55; 32]);
            let nonce = [4u8; 24];
            let mut sealed = attacker_key;
            let tag = DefaultBackend::box_cipher(&BoxPublicKey::from_bytes(small), &anyone)
                .encrypt_in_place_detached(&nonce.into(), b"", &mut sealed)
                .unwrap();
            let mut reply = vec![b'r'];
            reply.extend_from_slice(newcomer.id().as_bytes());
            reply.extend_from_slice(&nonce);
            reply.extend_from_slice(&tag);
            reply.extend_from_slice(&sealed);
            reply.extend_from_slice(&small);
            reply.extend_from_slice(&[0x77; 32]);
            // The newcomer's own box with that key opens it: only the check stands
            // between the attacker and the newcomer's topic key.
            let own = BoxPublicKey::from_bytes(small);
            let mut opened = sealed;
            DefaultBackend::box_cipher(&own, &BoxSecret::from_bytes([0x11; 32]))
                .decrypt_in_place_detached(&nonce.into(), b"", &mut opened, &tag)
                .expect("a small-order key gives one box for every secret");
            assert_eq!(opened, attacker_key);

            assert_eq!(
                newcomer.parse_reply(&reply),
                Err(Error::DecryptFailed),
                "accepted a reply from {}",
                hex::encode(small)
            );
            assert!(newcomer.topic_key().is_none());
            assert!(newcomer.has_pending_introduction());
        }
    }
}
