//! The RustCrypto backend of stringphone.
//!
//! | primitive | crate |
//! | --- | --- |
//! | Ed25519 signing and verification | `ed25519-dalek` 2 |
//! | topic cipher, XSalsa20-Poly1305 | `crypto_secretbox` 0.1 |
//! | discovery box, X25519 + XSalsa20-Poly1305 | `crypto_box` 0.9 |
//! | participant ids, SHA-256 | `sha2` 0.10 |
//!
//! Verification is dalek's cofactorless equation (exact `R` comparison, `S < L`; see
//! [`VerifyingKey`]), after the core has applied the rest of libsodium's rule to the
//! encodings; dalek's equation alone would accept small-order keys and `R`s that
//! libsodium refuses.
//!
//! # Features
//! - `std` (default): the core's OS randomness; turns on `fast`.
//! - `fast`: ed25519-dalek's precomputed base-point tables: 38 KB of read-only data
//!   that make signing 2.6 times and X25519 key generation 2.8 times faster, and
//!   verification 8 % faster (instructions on a Cortex-M4, `examples/firmware`). Off
//!   without `std`, for bare metal, where the tables would be half the flash.
//! - `compact-sha2`: sha2's compact SHA-256 and SHA-512: 11 KB less code on a
//!   Cortex-M4 at opt-level "z", and no slower there. For bare metal only: on x86-64
//!   and AArch64 it also turns off the SHA and vector code.
//! - `batch`: batch verification for `Topic::decode_batch`.
//!
//! ```
//! use stringphone_core::{Backend, PublicKey, SigningSeed, Identity};
//! use stringphone_rustcrypto::RustCrypto;
//! let key = RustCrypto::signing_key(&SigningSeed::from_bytes([7; 32]));
//! let id = RustCrypto::participant_id(&key.public_key());
//! assert_eq!(id.as_bytes().len(), 16);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "batch")]
extern crate alloc;

use core::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519::Signature;
use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::{
    Backend, BoxPublicKey, BoxSecret, Error, Identity, ParticipantId, PublicKey, SigningSeed,
};

/// The RustCrypto backend: a marker type naming its primitives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RustCrypto;

/// An Ed25519 signing key (ed25519-dalek), zeroized on drop.
///
/// ```
/// use signature::Signer;
/// use stringphone_core::{Backend, SigningSeed};
/// use stringphone_rustcrypto::RustCrypto;
/// let key = RustCrypto::signing_key(&SigningSeed::from_bytes([7; 32]));
/// let sig: ed25519::Signature = key.sign(b"hello");
/// assert_eq!(format!("{key:?}"), "SigningKey(..)");
/// # let _ = sig;
/// ```
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The dalek key inside.
    #[must_use]
    pub fn as_dalek(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl signature::Signer<Signature> for SigningKey {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        self.0.try_sign(message)
    }
}

impl Identity for SigningKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(self.0.verifying_key().to_bytes())
    }

    fn static_box_secret(&self) -> Option<BoxSecret> {
        Some(BoxSecret::from_bytes(*Zeroizing::new(
            self.0.to_scalar_bytes(),
        )))
    }
}

/// A decompressed Ed25519 public key (ed25519-dalek's), ready to verify many
/// signatures.
///
/// Verification is dalek's: cofactorless, `S < L`, and `[S]B - [k]A` compressed and
/// compared byte for byte with `R`, where `k = SHA-512(R || A || M)`; written out here
/// with the curve25519-dalek operations dalek's own `verify` calls, so that hashing
/// and the double-scalar multiplication each get a stack frame of their own. Inlined
/// into one frame, as dalek's `verify` is, they take 1.2 KiB more of a
/// microcontroller's stack; on a desktop the two cost the same.
///
/// ```
/// use signature::{Signer, Verifier};
/// use stringphone_core::{Backend, Identity, SigningSeed};
/// use stringphone_rustcrypto::RustCrypto;
/// let signer = RustCrypto::signing_key(&SigningSeed::from_bytes([7; 32]));
/// let key = RustCrypto::verifying_key(&signer.public_key()).unwrap();
/// let sig: ed25519::Signature = signer.sign(b"hello");
/// assert!(key.verify(b"hello", &sig).is_ok());
/// assert!(key.verify(b"hellO", &sig).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// The dalek key inside.
    pub fn as_dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

impl signature::Verifier<Signature> for VerifyingKey {
    fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), signature::Error> {
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))
            .ok_or_else(signature::Error::new)?;
        let k = challenge(signature.r_bytes(), self.0.as_bytes(), message);
        if recompute_r(&k, &self.0, &s) == *signature.r_bytes() {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

/// `k = SHA-512(R || A || M) mod L`. Never inlined: the hash's state is gone before
/// the multiplication's tables are built.
#[inline(never)]
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hash = sha2::Sha512::new();
    hash.update(r);
    hash.update(a);
    hash.update(message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// The encoding of `[s]B - [k]A`. Never inlined (see [`challenge`]).
#[inline(never)]
fn recompute_r(k: &Scalar, key: &ed25519_dalek::VerifyingKey, s: &Scalar) -> [u8; 32] {
    let minus_a = -key.to_edwards();
    EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &minus_a, s)
        .compress()
        .to_bytes()
}

impl Backend for RustCrypto {
    type SigningKey = SigningKey;
    type VerifyingKey = VerifyingKey;
    type TopicCipher = crypto_secretbox::XSalsa20Poly1305;
    type BoxCipher = crypto_box::SalsaBox;

    fn signing_key(seed: &SigningSeed) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed.expose_secret()))
    }

    fn verifying_key(key: &PublicKey) -> Result<Self::VerifyingKey, Error> {
        ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes())
            .map(VerifyingKey)
            .map_err(|_| Error::InvalidPublicKey)
    }

    fn participant_id(key: &PublicKey) -> ParticipantId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        ParticipantId::from_bytes(id)
    }

    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        let secret = crypto_box::SecretKey::from_bytes(*secret.expose_secret());
        BoxPublicKey::from_bytes(secret.public_key().to_bytes())
    }

    fn box_cipher(their_public: &BoxPublicKey, our_secret: &BoxSecret) -> crypto_box::SalsaBox {
        let secret = crypto_box::SecretKey::from_bytes(*our_secret.expose_secret());
        crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(*their_public.as_bytes()),
            &secret,
        )
    }

    type MessageCipher = chacha20poly1305::ChaCha20Poly1305;

    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let mut okm = Zeroizing::new([0u8; 32]);
        // Expanding to 32 bytes cannot exceed HKDF's 255 * 32 limit; were it to fail,
        // the all-zero key it leaves would open nothing sealed under the real one.
        let _ = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm).expand_multi_info(info, okm.as_mut());
        okm
    }

    fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes())
            .map_err(|_| Error::InvalidPublicKey)?;
        Ok(BoxPublicKey::from_bytes(key.to_montgomery().to_bytes()))
    }

    /// With the `batch` feature: keys without a small-order component (checked once,
    /// by multiplying the point by the group order).
    #[cfg(feature = "batch")]
    fn batch_eligible(key: &Self::VerifyingKey) -> bool {
        key.0.to_edwards().is_torsion_free()
    }

    /// With the `batch` feature: ed25519-dalek's batch verification (one random linear
    /// combination of the equations, cofactorless, randomness derived from the batch).
    #[cfg(feature = "batch")]
    fn verify_batch(
        entries: &[stringphone_core::backend::BatchEntry<'_, Self::VerifyingKey>],
    ) -> bool {
        use alloc::vec::Vec;
        let messages: Vec<&[u8]> = entries.iter().map(|e| e.message).collect();
        let signatures: Vec<Signature> = entries
            .iter()
            .map(|e| Signature::from_bytes(e.signature))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> = entries.iter().map(|e| e.key.0).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
