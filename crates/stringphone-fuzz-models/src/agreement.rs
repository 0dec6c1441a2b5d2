//! `verify_agreement`: one Ed25519 verdict, whoever computes it.
//!
//! For each (key, message, signature) triple, every backend's verifier (the
//! `verify_signature::<B>` that decode calls), an independent implementation of
//! libsodium's rule written here on curve25519-dalek's group operations, and
//! ed25519-dalek's `verify_strict` plus a canonical-key check must all give the same
//! verdict; and the byte checks of `stringphone_core::rule` must agree with the same
//! properties computed another way (integer comparison, point decompression).
//!
//! Triples are either arbitrary, or a valid signature (made here, so the signer's
//! key and `R` may carry a small-order component, the cases where Ed25519
//! libraries disagree) followed by chosen edits.

use arbitrary::Arbitrary;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};
use stringphone_core::batch::verify_batch;
use stringphone_core::{rule, verify_signature, Backend, Error, PreparedKey, PublicKey};
use stringphone_testkit::small_order;

/// A backend's verifier: the entry point decode takes.
pub type Verify = fn(&PublicKey, &[u8], &[u8; 64]) -> Result<(), Error>;

/// A backend's batch verification (`stringphone_core::batch::verify_batch`): one
/// verdict per triple, `None` where the key cannot be prepared (refused at trust
/// time, so never in a batch).
pub type VerifyBatch = fn(&[([u8; 32], &[u8], [u8; 64])]) -> Vec<Option<bool>>;

/// One backend under test.
pub struct BackendUnderTest {
    /// Its name, for messages.
    pub name: &'static str,
    /// Its per-message verifier.
    pub verify: Verify,
    /// Its batch verifier.
    pub verify_batch: VerifyBatch,
}

macro_rules! backend {
    ($name:literal, $backend:ty) => {
        BackendUnderTest {
            name: $name,
            verify: verify_signature::<$backend>,
            verify_batch: batch_verdicts::<$backend>,
        }
    };
}

/// Every backend under test. Adding one is one line here (plus its dependency in
/// `fuzz/Cargo.toml`).
pub const BACKENDS: &[BackendUnderTest] = &[
    backend!("rustcrypto", stringphone_rustcrypto::RustCrypto),
    backend!("ring", stringphone_ring::Ring),
];

fn batch_verdicts<B: Backend>(items: &[([u8; 32], &[u8], [u8; 64])]) -> Vec<Option<bool>> {
    let prepared: Vec<Option<PreparedKey<B>>> = items
        .iter()
        .map(|(key, _, _)| PreparedKey::new(&PublicKey::from_bytes(*key)).ok())
        .collect();
    let mut owners = Vec::new();
    let mut entries = Vec::new();
    for (i, ((_, message, sig), key)) in items.iter().zip(&prepared).enumerate() {
        if let Some(key) = key {
            owners.push(i);
            entries.push((key, *message, sig));
        }
    }
    let mut out = vec![None; items.len()];
    for (i, verdict) in owners.into_iter().zip(verify_batch(&entries)) {
        out[i] = Some(verdict.is_ok());
    }
    out
}

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub enum Case {
    /// Arbitrary bytes for all three.
    Raw {
        /// The public key.
        key: [u8; 32],
        /// The signature.
        signature: [u8; 64],
        /// The message.
        message: Vec<u8>,
    },
    /// A signature by `seed` over `message` whose key and `R` carry the small-order
    /// components `EIGHT_TORSION[key_torsion % 8]` and `EIGHT_TORSION[r_torsion % 8]`
    /// (index 0 is the identity: an ordinary RFC 8032 signature), then `edits`.
    Signed {
        /// The signer's seed.
        seed: [u8; 32],
        /// The message signed.
        message: Vec<u8>,
        /// Small-order component added to the key.
        key_torsion: u8,
        /// Small-order component added to `R`.
        r_torsion: u8,
        /// Changes made after signing.
        edits: Vec<Edit>,
    },
}

/// A change to a triple.
#[derive(Arbitrary, Debug)]
pub enum Edit {
    /// Flip one bit of the key.
    FlipKey(u8),
    /// Flip one bit of the signature (`R` is bits 0..256, `S` the rest).
    FlipSignature(u16),
    /// Flip one bit of the message.
    FlipMessage(u16, u8),
    /// Drop bytes from the end of the message.
    TruncateMessage(u16),
    /// Append bytes to the message.
    AppendMessage(Vec<u8>),
    /// Replace the key with an encoding of a small-order point.
    SmallOrderKey(u8),
    /// Replace `R` with an encoding of a small-order point.
    SmallOrderR(u8),
    /// Add a small-order point to the key (if it decompresses).
    AddTorsionToKey(u8),
    /// Add a small-order point to `R` (if it decompresses).
    AddTorsionToR(u8),
    /// `S += L`: the same scalar, not reduced.
    AddOrderToS,
    /// `S = 0`.
    ZeroS,
    /// Replace the key with a non-canonical encoding (`y + p`, `y < 19`).
    NonCanonicalKey(u8),
    /// Replace the key.
    SetKey([u8; 32]),
    /// Replace `R`.
    SetR([u8; 32]),
    /// Replace `S`.
    SetS([u8; 32]),
}

/// `L`, the order of the base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

fn h512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 8032 signing with torsion components: key `aB + T_i`, `R = rB + T_j`,
/// `S = r + H(R || A || M) a`. With `i = j = 0` this is the ordinary signature.
pub fn sign_with_torsion(
    seed: &[u8; 32],
    message: &[u8],
    key_torsion: usize,
    r_torsion: usize,
) -> ([u8; 32], [u8; 64]) {
    let h = h512(&[seed]);
    let mut low = [0u8; 32];
    low.copy_from_slice(&h[..32]);
    let a = Scalar::from_bytes_mod_order(clamp_integer(low));
    let key = (ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[key_torsion % 8])
        .compress()
        .to_bytes();
    let r = Scalar::from_bytes_mod_order_wide(&h512(&[&h[32..], message]));
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[r_torsion % 8])
        .compress()
        .to_bytes();
    let k = Scalar::from_bytes_mod_order_wide(&h512(&[&big_r, &key, message]));
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    (key, sig)
}

/// Every encoding of every small-order point, with either sign bit: the test kit's
/// derivation from the curve.
fn small_order_encodings() -> Vec<[u8; 32]> {
    small_order::ed25519()
        .iter()
        .flat_map(|e| {
            let mut negative = *e;
            negative[31] |= 0x80;
            [*e, negative]
        })
        .collect()
}

/// `y` (sign bit cleared) as (low 128 bits, high 127 bits).
fn y_limbs(enc: &[u8; 32]) -> (u128, u128) {
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    lo.copy_from_slice(&enc[..16]);
    hi.copy_from_slice(&enc[16..]);
    hi[15] &= 0x7f;
    (u128::from_le_bytes(lo), u128::from_le_bytes(hi))
}

/// `y < p = 2^255 - 19`, by integer comparison.
pub fn y_is_canonical(enc: &[u8; 32]) -> bool {
    let (lo, hi) = y_limbs(enc);
    let (p_lo, p_hi) = (u128::MAX - 18, u128::MAX >> 1);
    hi < p_hi || (hi == p_hi && lo < p_lo)
}

/// Small order by decompressing (sign bit cleared: `-P` has the order of `P`).
pub fn is_small_order(enc: &[u8; 32]) -> bool {
    let mut e = *enc;
    e[31] &= 0x7f;
    CompressedEdwardsY(e)
        .decompress()
        .is_some_and(|p| p.is_small_order())
}

/// `s < L`, through curve25519-dalek's canonical-scalar check.
pub fn s_is_canonical(s: &[u8; 32]) -> bool {
    bool::from(Scalar::from_canonical_bytes(*s).is_some())
}

/// A signature's `R` and its `S` as a scalar, if `S < L`.
fn split(sig: &[u8; 64]) -> Option<([u8; 32], Scalar)> {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).map(|s| (r, s))
}

/// libsodium's `crypto_sign_verify_detached`, decision for decision: `S < L`;
/// `R` not of small order; the key canonical, not of small order and on the curve;
/// then `R == encode([S]B - [k]A)` byte for byte, `k = SHA-512(R || A || M)`.
pub fn reference(key: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let Some((r, s)) = split(sig) else {
        return false;
    };
    if is_small_order(&r) || !y_is_canonical(key) || is_small_order(key) {
        return false;
    }
    let Some(a) = CompressedEdwardsY(*key).decompress() else {
        return false;
    };
    let k = Scalar::from_bytes_mod_order_wide(&h512(&[&r, key, message]));
    // [k](-A), not [-k]A: negating k modulo L is not negating it on a key with a
    // small-order component (L is 5 mod 8), and libsodium negates the point.
    let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    expected.compress().to_bytes() == r
}

/// ed25519-dalek's `verify_strict` plus the canonical-key check
/// (`vectors/README.md`: it matches libsodium on every edge case).
pub fn dalek_strict(key: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    y_is_canonical(key)
        && vk
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
}

fn add_torsion(enc: &mut [u8; 32], i: u8) {
    if let Some(p) = CompressedEdwardsY(*enc).decompress() {
        *enc = (p + EIGHT_TORSION[usize::from(i) % 8])
            .compress()
            .to_bytes();
    }
}

fn apply(edit: &Edit, key: &mut [u8; 32], sig: &mut [u8; 64], msg: &mut Vec<u8>) {
    let pick = |i: u8| {
        let all = small_order_encodings();
        all[usize::from(i) % all.len()]
    };
    let mut r = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    match edit {
        Edit::FlipKey(bit) => key[usize::from(*bit) / 8] ^= 1 << (bit % 8),
        Edit::FlipSignature(bit) => {
            let bit = usize::from(*bit) % 512;
            sig[bit / 8] ^= 1 << (bit % 8);
        }
        Edit::FlipMessage(index, bit) => {
            if !msg.is_empty() {
                let i = usize::from(*index) % msg.len();
                msg[i] ^= 1 << (bit % 8);
            }
        }
        Edit::TruncateMessage(n) => msg.truncate(msg.len().saturating_sub(usize::from(*n))),
        Edit::AppendMessage(more) => msg.extend_from_slice(more),
        Edit::SmallOrderKey(i) => *key = pick(*i),
        Edit::SmallOrderR(i) => sig[..32].copy_from_slice(&pick(*i)),
        Edit::AddTorsionToKey(i) => add_torsion(key, *i),
        Edit::AddTorsionToR(i) => {
            add_torsion(&mut r, *i);
            sig[..32].copy_from_slice(&r);
        }
        Edit::AddOrderToS => {
            let mut carry = 0u16;
            for (b, l) in sig[32..].iter_mut().zip(L) {
                let sum = u16::from(*b) + u16::from(l) + carry;
                *b = sum as u8;
                carry = sum >> 8;
            }
        }
        Edit::ZeroS => sig[32..].fill(0),
        Edit::NonCanonicalKey(i) => {
            let mut enc = [0u8; 32];
            enc[0] = i % 19;
            *key = small_order::plus_p(&enc).expect("y < 19");
            key[31] |= i & 0x80;
        }
        Edit::SetKey(k) => *key = *k,
        Edit::SetR(v) => sig[..32].copy_from_slice(v),
        Edit::SetS(v) => sig[32..].copy_from_slice(v),
    }
}

/// Checks one triple: every verdict the same, the rule's byte checks right.
pub fn check_triple(key: &[u8; 32], message: &[u8], sig: &[u8; 64]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);

    // The rule's byte checks against the same properties computed another way.
    for enc in [key, &r] {
        assert_eq!(
            rule::point_is_canonical(enc),
            y_is_canonical(enc),
            "{enc:02x?}"
        );
        assert_eq!(
            rule::has_small_order(enc),
            is_small_order(enc),
            "{enc:02x?}"
        );
    }
    assert_eq!(
        rule::scalar_is_canonical(&s),
        s_is_canonical(&s),
        "{s:02x?}"
    );
    assert_eq!(
        rule::public_key_passes(key),
        y_is_canonical(key) && !is_small_order(key)
    );
    assert_eq!(
        rule::signature_passes(sig),
        s_is_canonical(&s) && !is_small_order(&r)
    );

    let expected = reference(key, message, sig);
    assert_eq!(
        dalek_strict(key, message, sig),
        expected,
        "dalek verify_strict vs the reference on key {key:02x?} sig {sig:02x?}"
    );
    if expected {
        assert!(rule::public_key_passes(key) && rule::signature_passes(sig));
    }
    GOOD.with(|good| check_batches(key, message, sig, expected, good));
}

thread_local! {
    /// A valid triple by a fixed signer, to batch with.
    static GOOD: ([u8; 32], Vec<u8>, [u8; 64]) = {
        let message = b"a good signature".to_vec();
        let (key, sig) = sign_with_torsion(&[0x42; 32], &message, 0, 0);
        (key, message, sig)
    };
}

/// Every backend's per-message verdict is `expected`; batched, the same except
/// where batching is documented to differ.
fn check_batches(
    key: &[u8; 32],
    message: &[u8],
    sig: &[u8; 64],
    expected: bool,
    good: &([u8; 32], Vec<u8>, [u8; 64]),
) {
    let pk = PublicKey::from_bytes(*key);
    for b in BACKENDS {
        let name = b.name;
        assert_eq!(
            (b.verify)(&pk, message, sig).is_ok(),
            expected,
            "{name} vs the reference on key {key:02x?} sig {sig:02x?} message {message:02x?}"
        );

        // Batched with a good signature: the same verdict, except the one batching
        // may change (crate::batch): a signature the rule refuses whose equation
        // holds up to a small-order point, which only its signer can make.
        let batch = [
            (good.0, &good.1[..], good.2),
            (*key, message, *sig),
            (good.0, &good.1[..], good.2),
        ];
        let verdicts = (b.verify_batch)(&batch);
        assert_eq!(
            verdicts[0],
            Some(true),
            "{name}: a good signature refused in a batch"
        );
        assert_eq!(
            verdicts[2],
            Some(true),
            "{name}: a good signature refused in a batch"
        );
        let keyable = y_is_canonical(key)
            && !is_small_order(key)
            && CompressedEdwardsY(*key).decompress().is_some();
        assert_eq!(
            verdicts[1].is_some(),
            keyable,
            "{name}: PreparedKey::new on {key:02x?}"
        );
        if let Some(batched) = verdicts[1] {
            if batched != expected {
                assert!(
                    batched && cofactored(key, message, sig),
                    "{name}: batching changed the verdict to {batched} on key {key:02x?} \
                     sig {sig:02x?} message {message:02x?}"
                );
            }
        }
    }
}

/// The cofactored equation `[8](S·B - k·A - R) = 0` (with `S < L` and both points
/// decompressing): what a batch of random linear combinations can accept.
pub fn cofactored(key: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let Some((r, s)) = split(sig) else {
        return false;
    };
    let (Some(a), Some(big_r)) = (
        CompressedEdwardsY(*key).decompress(),
        CompressedEdwardsY(r).decompress(),
    ) else {
        return false;
    };
    let k = Scalar::from_bytes_mod_order_wide(&h512(&[&r, key, message]));
    let diff = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s) - big_r;
    diff.mul_by_cofactor().is_identity()
}

/// Runs one fuzz case.
pub fn check(case: &Case) {
    match case {
        Case::Raw {
            key,
            signature,
            message,
        } => check_triple(key, message, signature),
        Case::Signed {
            seed,
            message,
            key_torsion,
            r_torsion,
            edits,
        } => {
            let (kt, rt) = (usize::from(*key_torsion % 8), usize::from(*r_torsion % 8));
            let (mut key, mut sig) = sign_with_torsion(seed, message, kt, rt);
            let mut msg = message.clone();
            if kt == 0 && rt == 0 {
                // The ordinary signature: what ed25519-dalek makes, and valid.
                let dalek = ed25519_dalek::SigningKey::from_bytes(seed);
                assert_eq!(key, dalek.verifying_key().to_bytes());
                assert_eq!(sig, ed25519_dalek::Signer::sign(&dalek, &msg).to_bytes());
                assert!(reference(&key, &msg, &sig), "a fresh signature was refused");
            }
            check_triple(&key, &msg, &sig);
            if !edits.is_empty() {
                for edit in edits.iter().take(8) {
                    apply(edit, &mut key, &mut sig, &mut msg);
                }
                check_triple(&key, &msg, &sig);
            }
        }
    }
}
