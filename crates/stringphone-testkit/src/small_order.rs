//! Every encoding of a point of small order, derived from curve arithmetic (never
//! copied from a table): the independent side the core's own lists
//! (`rule::SMALL_ORDER_ENCODINGS`, `BoxPublicKey::SMALL_ORDER_ENCODINGS`) are checked
//! against, and what the fuzz models pick their small-order keys from.
//!
//! ```
//! use stringphone_testkit::small_order::{ed25519, x25519, P};
//! assert!(ed25519().contains(&P)); // y = 0 as y + p
//! assert!(x25519().contains(&[0; 32])); // u = 0
//! assert_eq!((ed25519().len(), x25519().len()), (7, 7));
//! ```

use std::collections::BTreeSet;
use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;

/// p = 2^255 - 19, little-endian.
///
/// ```
/// let p = stringphone_testkit::small_order::P;
/// assert_eq!((p[0], p[1], p[31]), (0xed, 0xff, 0x7f));
/// ```
pub const P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// `v + p` (a non-canonical encoding of `v`) when it fits in 255 bits, that is for
/// `v < 19`; else `None`. The top bit of `v` is ignored, and cleared in the result.
///
/// ```
/// use stringphone_testkit::small_order::{plus_p, P};
/// assert_eq!(plus_p(&[0; 32]), Some(P));
/// assert_eq!(plus_p(&[19; 32]), None);
/// ```
#[must_use]
pub fn plus_p(v: &[u8; 32]) -> Option<[u8; 32]> {
    let mut v = *v;
    v[31] &= 0x7f;
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(v[i]) + u16::from(P[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0 && out[31] & 0x80 == 0).then_some(out)
}

/// Each encoding with its non-canonical twin, where it has one.
fn with_plus_p(canonical: BTreeSet<[u8; 32]>) -> BTreeSet<[u8; 32]> {
    let twins: Vec<[u8; 32]> = canonical.iter().filter_map(plus_p).collect();
    canonical.into_iter().chain(twins).collect()
}

fn sign_cleared(p: &EdwardsPoint) -> [u8; 32] {
    let mut e = p.compress().to_bytes();
    e[31] &= 0x7f;
    e
}

/// Every Ed25519 encoding of a point of small order, sign bit cleared (either sign
/// bit gives a point of the same order): the `y` of curve25519-dalek's eight torsion
/// points (five values: 1, -1, 0 and the two of the points of order 8), and `y + p`
/// where that fits (`p` and `p + 1`).
///
/// ```
/// let all = stringphone_testkit::small_order::ed25519();
/// assert!(all.iter().all(|e| e[31] & 0x80 == 0));
/// ```
#[must_use]
pub fn ed25519() -> &'static BTreeSet<[u8; 32]> {
    static ALL: OnceLock<BTreeSet<[u8; 32]>> = OnceLock::new();
    ALL.get_or_init(|| with_plus_p(EIGHT_TORSION.iter().map(sign_cleared).collect()))
}

/// Every X25519 encoding (`u`, top bit cleared: X25519 ignores it) whose agreement
/// with any secret is all zeros: the `u` of the curve's eight points of small order
/// (dalek's torsion points in Montgomery form: the identity and the point of order 2
/// both give 0, the two of order 4 give 1, the four of order 8 give two values);
/// `u = -1`, the twist's points of order 4 (x-only doubling sends `u` to the point of
/// order 2 exactly when `u² = 1`, and `u = 1` is on the curve; the twist's order is 4
/// times a prime, so it has no other small order); and `u + p` where that fits.
///
/// ```
/// let all = stringphone_testkit::small_order::x25519();
/// let mut minus_one = stringphone_testkit::small_order::P;
/// minus_one[0] -= 1;
/// assert!(all.contains(&minus_one));
/// ```
#[must_use]
pub fn x25519() -> &'static BTreeSet<[u8; 32]> {
    static ALL: OnceLock<BTreeSet<[u8; 32]>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut minus_one = P;
        minus_one[0] -= 1;
        let curve = EIGHT_TORSION.iter().map(|p| p.to_montgomery().to_bytes());
        with_plus_p(curve.chain([minus_one]).collect())
    })
}

/// Whether an X25519 key (top bit ignored) is one of [`x25519`]'s.
///
/// ```
/// use stringphone_testkit::small_order::is_x25519;
/// assert!(is_x25519(&[0; 32]));
/// assert!(!is_x25519(&[9; 32])); // the base point
/// ```
#[must_use]
pub fn is_x25519(key: &[u8; 32]) -> bool {
    let mut u = *key;
    u[31] &= 0x7f;
    x25519().contains(&u)
}
