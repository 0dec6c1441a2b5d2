//! The one Ed25519 verification rule, the same for every backend: libsodium's.
//!
//! Two participants on different backends must never disagree on a signature, so the
//! parts of the rule that differ between Ed25519 libraries are checked here, once, on
//! the encodings, before any backend sees the signature:
//!
//! 1. `S < L` (the scalar half of the signature is reduced);
//! 2. the public key's encoding is canonical (`y < p`, sign bit ignored);
//! 3. neither the public key `A` nor the commitment `R` is one of the points of small
//!    order, in any of their encodings (sign bit ignored);
//!
//! and the backend then does the rest, which every library agrees on: decompress `A`,
//! compute `SB - kA` with `k = SHA-512(R || A || M)` (cofactorless) and compare its
//! encoding byte for byte with `R`. Both checks here are byte comparisons: no point
//! is decompressed twice for them.
//!
//! `vectors/ed25519-edge.json` holds 163 edge cases with libsodium's verdict; the test
//! kit's `backend_conformance!` (`crates/stringphone-testkit`) runs each backend through
//! [`crate::verify_signature`], the same call decode makes.

/// The group order `L = 2^252 + 27742317777372353535851937790883648493`, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Every encoding (sign bit cleared) of a point of order 1, 2, 4 or 8: `y` of the
/// eight torsion points, plus `p` and `p + 1`, the non-canonical encodings of
/// `y = 0` and `y = 1`. `tests` derive this list from curve arithmetic.
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 7] = [
    // y = 0: order 4
    [0; 32],
    // y = 1: the identity, order 1
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // y = p - 1 = -1: order 2
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = p (non-canonical 0): order 4
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = p + 1 (non-canonical 1): order 1
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// True when the 32-byte little-endian scalar is reduced (`s < L`).
///
/// ```
/// use stringphone_core::rule::scalar_is_canonical;
/// assert!(scalar_is_canonical(&[0; 32]));
/// assert!(!scalar_is_canonical(&[0xff; 32]));
/// ```
#[must_use]
pub fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    // Compare from the most significant byte down; signatures are public, so a
    // variable-time comparison leaks nothing.
    for i in (0..32).rev() {
        if s[i] != L[i] {
            return s[i] < L[i];
        }
    }
    false
}

/// True when the point encoding's `y` (sign bit ignored) is below `p = 2^255 - 19`.
///
/// ```
/// use stringphone_core::rule::point_is_canonical;
/// let mut p = [0xff; 32];
/// p[0] = 0xed; // y = p
/// p[31] = 0x7f;
/// assert!(!point_is_canonical(&p));
/// p[0] = 0xec; // y = p - 1
/// assert!(point_is_canonical(&p));
/// ```
#[must_use]
pub fn point_is_canonical(encoding: &[u8; 32]) -> bool {
    let top_all_ones = encoding[31] & 0x7f == 0x7f && encoding[1..31].iter().all(|&b| b == 0xff);
    !(top_all_ones && encoding[0] >= 0xed)
}

/// True when the encoding (sign bit ignored) is one of [`SMALL_ORDER_ENCODINGS`].
///
/// ```
/// use stringphone_core::rule::has_small_order;
/// let mut identity = [0u8; 32];
/// identity[0] = 1;
/// assert!(has_small_order(&identity));
/// identity[31] |= 0x80; // the sign bit does not matter
/// assert!(has_small_order(&identity));
/// ```
#[must_use]
pub fn has_small_order(encoding: &[u8; 32]) -> bool {
    SMALL_ORDER_ENCODINGS
        .iter()
        .any(|bad| bad[..31] == encoding[..31] && bad[31] == encoding[31] & 0x7f)
}

/// The key half of the rule: a canonical encoding of a point that is not of small order.
/// (Whether it decompresses at all is the backend's part.)
#[must_use]
pub fn public_key_passes(key: &[u8; 32]) -> bool {
    point_is_canonical(key) && !has_small_order(key)
}

/// The signature half of the rule: `S < L` and `R` not of small order.
#[must_use]
pub fn signature_passes(signature: &[u8; 64]) -> bool {
    let (r, s) = signature.split_at(32);
    let (Ok(r), Ok(s)) = (<&[u8; 32]>::try_from(r), <&[u8; 32]>::try_from(s)) else {
        return false;
    };
    scalar_is_canonical(s) && !has_small_order(r)
}
