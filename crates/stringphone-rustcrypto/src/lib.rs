//! The RustCrypto backend of stringphone.
//!
//! | primitive | crate |
//! | --- | --- |
//! | Ed25519 signing and verification | `ed25519-dalek` 2 |
//! | topic cipher, XSalsa20-Poly1305 | `crypto_secretbox` 0.1 |
//! | discovery box, X25519 + XSalsa20-Poly1305 | `crypto_box` 0.9 |
//! | participant ids, SHA-256 | `sha2` 0.10 |
//!
//! Verification goes through dalek's cofactorless `verify` (exact `R` comparison,
//! `S < L`), after the core has applied the rest of libsodium's rule to the
//! encodings; dalek's own `verify` alone would accept small-order keys and `R`s that
//! libsodium refuses.
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
#![deny(missing_docs)]

#[cfg(feature = "batch")]
extern crate alloc;

use core::fmt;

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

impl Backend for RustCrypto {
    type SigningKey = SigningKey;
    type VerifyingKey = ed25519_dalek::VerifyingKey;
    type TopicCipher = crypto_secretbox::XSalsa20Poly1305;
    type BoxCipher = crypto_box::SalsaBox;

    fn signing_key(seed: &SigningSeed) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed.expose_secret()))
    }

    fn verifying_key(key: &PublicKey) -> Result<Self::VerifyingKey, Error> {
        ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| Error::InvalidPublicKey)
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
        key.to_edwards().is_torsion_free()
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
        let keys: Vec<ed25519_dalek::VerifyingKey> = entries.iter().map(|e| *e.key).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}
