//! `rule::SMALL_ORDER_ENCODINGS` is derived here from curve arithmetic, not trusted:
//! the eight torsion points of curve25519-dalek, compressed with the sign bit cleared,
//! plus every non-canonical encoding (`y + p` that still fits in 255 bits) of those.
//! And `rule::has_small_order` must agree with dalek's `is_small_order` on every
//! encoding that decompresses, over a wide sample.

use std::collections::BTreeSet;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::IsIdentity;
use rand_core::{OsRng, RngCore};
use stringphone::rule::{self, SMALL_ORDER_ENCODINGS};

/// p = 2^255 - 19, little-endian.
const P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// `y + p` when it fits in 255 bits (only for `y < 19`), else `None`.
fn plus_p(y: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(y[i]) + u16::from(P[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0 && out[31] & 0x80 == 0).then_some(out)
}

fn sign_cleared(p: &EdwardsPoint) -> [u8; 32] {
    let mut e = p.compress().to_bytes();
    e[31] &= 0x7f;
    e
}

fn derived() -> BTreeSet<[u8; 32]> {
    let canonical: BTreeSet<[u8; 32]> = EIGHT_TORSION.iter().map(sign_cleared).collect();
    let non_canonical: Vec<[u8; 32]> = canonical.iter().filter_map(plus_p).collect();
    canonical.into_iter().chain(non_canonical).collect()
}

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
    let derived = derived();
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
    assert_eq!(listed, derived);
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
