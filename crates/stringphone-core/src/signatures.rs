//! Signing and verifying, for both formats: [`sign`] over what a message signs, and
//! every verification by the one rule ([`crate::rule`]), with a key prepared once
//! ([`PreparedKey`]) or not ([`verify_signature`]).

use core::fmt;

use ed25519::Signature;
use signature::Verifier;

use crate::backend::{Backend, Identity};
use crate::{rule, Error, PublicKey};

/// A public key checked against the rule and decompressed once, ready to verify many
/// signatures: what a [`Topic`](crate::Topic) keeps for each trusted participant, and what
/// [`crate::batch::verify_batch`] takes.
///
/// ```
/// use stringphone_core::{Backend, Identity, PreparedKey, SigningSeed};
/// use stringphone_rustcrypto::RustCrypto;
/// use signature::Signer;
/// let signer = RustCrypto::signing_key(&SigningSeed::from_bytes([7; 32]));
/// let key = PreparedKey::<RustCrypto>::new(&signer.public_key()).unwrap();
/// let sig: ed25519::Signature = signer.sign(b"hello");
/// assert!(key.verify(b"hello", &sig.to_bytes()).is_ok());
/// assert!(key.verify(b"hellO", &sig.to_bytes()).is_err());
/// ```
pub struct PreparedKey<B: Backend> {
    public: PublicKey,
    key: B::VerifyingKey,
    batchable: bool,
}

impl<B: Backend> PreparedKey<B> {
    /// Checks `public` against the rule (canonical, not of small order) and decompresses
    /// it ([`Error::InvalidPublicKey`]). With a backend that batches, also asks once
    /// whether the key may take part in batch verification.
    pub fn new(public: &PublicKey) -> Result<Self, Error> {
        let key = prepare_key::<B>(public)?;
        Ok(PreparedKey {
            public: *public,
            batchable: B::batch_eligible(&key),
            key,
        })
    }

    /// The public key this was made from.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Verifies `signature` over `message` by the rule ([`Error::BadSignature`]): the
    /// signature's byte checks, then the backend's verification. No decompression.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), Error> {
        verify_prepared::<B>(&self.key, message, signature)
    }

    /// The decompressed key, and whether the backend may batch it.
    #[cfg(feature = "alloc")]
    pub(crate) fn parts(&self) -> (&B::VerifyingKey, bool) {
        (&self.key, self.batchable)
    }
}

impl<B: Backend> Clone for PreparedKey<B> {
    fn clone(&self) -> Self {
        PreparedKey {
            public: self.public,
            key: self.key.clone(),
            batchable: self.batchable,
        }
    }
}

impl<B: Backend> fmt::Debug for PreparedKey<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedKey")
            .field("public", &self.public)
            .field("batchable", &self.batchable)
            .finish_non_exhaustive()
    }
}

/// Checks a public key against the rule and decompresses it.
fn prepare_key<B: Backend>(key: &PublicKey) -> Result<B::VerifyingKey, Error> {
    if !rule::public_key_passes(key.as_bytes()) {
        return Err(Error::InvalidPublicKey);
    }
    B::verifying_key(key)
}

fn verify_prepared<B: Backend>(
    key: &B::VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), Error> {
    if !rule::signature_passes(signature) {
        return Err(Error::BadSignature);
    }
    key.verify(message, &Signature::from_bytes(signature))
        .map_err(|_| Error::BadSignature)
}

/// Verifies an Ed25519 signature by the one rule ([`crate::rule`]) on backend `B`: the
/// exact path decode takes for a sender whose key is not cached. Any failure, key
/// included, is [`Error::BadSignature`].
///
/// ```
/// use stringphone_core::{verify_signature, PublicKey};
/// use stringphone_rustcrypto::RustCrypto;
/// // The identity point as a key is refused, whatever the signature.
/// let mut identity = [0u8; 32];
/// identity[0] = 1;
/// let r = verify_signature::<RustCrypto>(&PublicKey::from_bytes(identity), b"", &[0; 64]);
/// assert!(r.is_err());
/// ```
pub fn verify_signature<B: Backend>(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), Error> {
    let prepared = prepare_key::<B>(key).map_err(|_| Error::BadSignature)?;
    verify_prepared::<B>(&prepared, message, signature)
}

pub(crate) fn sign<I: Identity>(identity: &I, message: &[u8]) -> Result<[u8; 64], Error> {
    identity
        .try_sign(message)
        .map(|s| s.to_bytes())
        .map_err(|_| Error::SigningFailed)
}
