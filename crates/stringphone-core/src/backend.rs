//! What the protocol needs from a crypto implementation, in one bundle.
//!
//! A [`Backend`] is a zero-sized marker type that names the implementations of each
//! primitive; the protocol is written once against it. Backends live in their own
//! crates (`stringphone-rustcrypto`, `stringphone-ring`) and never depend on each other.

use aead::consts::{U12, U16, U24, U32};
use aead::{AeadCore, AeadInPlace, KeyInit, KeySizeUser};
use ed25519::Signature;
use signature::{Signer, Verifier};

use zeroize::Zeroizing;

use crate::{BoxPublicKey, BoxSecret, Error, ParticipantId, PublicKey, SigningSeed};

/// A local signing identity: an Ed25519 signer that knows its own public key.
///
/// The backends' key types implement it; so can a key held in an HSM or a secure
/// element, which then plugs into [`crate::Topic::from_identity`] unchanged.
///
/// ```
/// use ed25519::Signature;
/// use stringphone_core::{Identity, PublicKey};
///
/// /// A signer that lives elsewhere (an HSM, a remote service).
/// struct Remote { public: PublicKey }
///
/// impl signature::Signer<Signature> for Remote {
///     fn try_sign(&self, _msg: &[u8]) -> Result<Signature, signature::Error> {
///         Err(signature::Error::new()) // ask the device here
///     }
/// }
///
/// impl Identity for Remote {
///     fn public_key(&self) -> PublicKey { self.public }
/// }
/// ```
pub trait Identity: Signer<Signature> {
    /// The Ed25519 public key matching the signatures this identity makes.
    fn public_key(&self) -> PublicKey;

    /// v2 key rotation: the static X25519 secret of this identity, the first 32 bytes
    /// of SHA-512 of the Ed25519 seed (what libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519` gives), so that admins can seal new
    /// epoch keys to it. The default, `None`, suits a signer that never reveals its
    /// seed (an HSM): such an identity cannot open rekeys.
    fn static_box_secret(&self) -> Option<BoxSecret> {
        None
    }
}

/// The crypto primitives the classic protocol is made of.
///
/// Contract, checked by the test suite for every backend:
/// - [`signing_key`](Self::signing_key) derives the RFC 8032 Ed25519 key from a seed;
///   signatures are deterministic, so two backends sign byte-identically.
/// - [`verifying_key`](Self::verifying_key) decompresses the key once (it is cached
///   for trusted participants) and fails on bytes that are not a curve point.
///   The `Verifier` does cofactorless verification, refuses `S >= L`, and compares
///   the encoding of `SB - kA` byte for byte with `R`. The rest of the rule
///   (canonical key, no small-order key or `R`) is checked by the core on the
///   encodings before the backend is called; see [`crate::rule`].
/// - [`TopicCipher`](Self::TopicCipher) is XSalsa20-Poly1305 (NaCl `crypto_secretbox`),
///   [`BoxCipher`](Self::BoxCipher) is NaCl `crypto_box` (X25519, HSalsa20,
///   XSalsa20-Poly1305); both are used through detached in-place calls with empty
///   associated data, the tag placed by the wire format.
/// - [`participant_id`](Self::participant_id) is the first 16 bytes of SHA-256.
pub trait Backend: 'static {
    /// The local identity made from a seed.
    type SigningKey: Identity;
    /// A decompressed public key, ready to verify many signatures.
    type VerifyingKey: Verifier<Signature> + Clone;
    /// The topic cipher: XSalsa20-Poly1305.
    type TopicCipher: KeyInit
        + KeySizeUser<KeySize = U32>
        + AeadInPlace
        + AeadCore<NonceSize = U24, TagSize = U16>;
    /// The discovery box: crypto_box keyed by an X25519 agreement.
    type BoxCipher: AeadInPlace + AeadCore<NonceSize = U24, TagSize = U16>;

    /// The Ed25519 signing key for `seed`.
    fn signing_key(seed: &SigningSeed) -> Self::SigningKey;

    /// Decompresses `key` ([`Error::InvalidPublicKey`] if it is not a curve point).
    fn verifying_key(key: &PublicKey) -> Result<Self::VerifyingKey, Error>;

    /// First 16 bytes of SHA-256 of the key.
    fn participant_id(key: &PublicKey) -> ParticipantId;

    /// The X25519 public key of `secret` (clamped scalar times the base point).
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey;

    /// The crypto_box between our `secret` and their `public` key.
    fn box_cipher(their_public: &BoxPublicKey, our_secret: &BoxSecret) -> Self::BoxCipher;

    /// v2: the message cipher, ChaCha20-Poly1305 (RFC 8439), used through detached
    /// in-place calls with the header as associated data.
    type MessageCipher: KeyInit
        + KeySizeUser<KeySize = U32>
        + AeadInPlace
        + AeadCore<NonceSize = U12, TagSize = U16>;

    /// v2: HKDF-SHA256 (RFC 5869): extract with `salt` from `ikm`, expand with the
    /// concatenation of `info` to 32 bytes.
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]>;

    /// v2: the X25519 form of an Ed25519 public key (the Edwards-to-Montgomery map,
    /// what libsodium's `crypto_sign_ed25519_pk_to_curve25519` gives), to seal rekeys
    /// to. [`Error::InvalidPublicKey`] if the bytes are not a curve point.
    fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error>;

    /// Batch verification, optional (see [`crate::batch`]): whether signatures under
    /// `key` may be checked by [`verify_batch`](Self::verify_batch). Asked once per
    /// trusted key when it is cached, never per message, so it may cost a scalar
    /// multiplication.
    ///
    /// The default, `false`, turns batching off: a backend without batch verification
    /// implements neither method and every signature is verified on its own. A backend
    /// that batches answers `true` only for keys of prime order (no small-order
    /// component), on which its batch equation and the rule can only disagree through
    /// the signature's own `R`.
    fn batch_eligible(key: &Self::VerifyingKey) -> bool {
        let _ = key;
        false
    }

    /// Batch verification, optional (see [`crate::batch`]): `true` when every entry
    /// verifies; `false` when at least one may not, or when the backend has no batch
    /// verification. On `false` the caller verifies each entry on its own, so a backend
    /// may answer `false` whenever it likes; it must never answer `true` for a batch
    /// holding a signature that someone without the private key could have made and
    /// the rule refuses.
    ///
    /// The core calls it only with entries whose keys are
    /// [`batch_eligible`](Self::batch_eligible) and whose signatures passed the rule's
    /// byte checks ([`crate::rule::signature_passes`]) and have a canonical `R`.
    #[must_use]
    fn verify_batch(entries: &[BatchEntry<'_, Self::VerifyingKey>]) -> bool {
        let _ = entries;
        false
    }
}

/// One signature of a batch handed to [`Backend::verify_batch`].
///
/// ```
/// use stringphone_core::backend::BatchEntry;
/// let key = (); // a backend's decompressed key
/// let entry = BatchEntry { key: &key, message: b"signed bytes", signature: &[0; 64] };
/// assert_eq!(entry.message.len(), 12);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BatchEntry<'a, K> {
    /// The signer's decompressed key.
    pub key: &'a K,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature, `R || S`.
    pub signature: &'a [u8; 64],
}
