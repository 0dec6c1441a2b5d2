//! The ring backend of stringphone.
//!
//! [ring](https://docs.rs/ring/0.17) does the Ed25519 signatures, the SHA-256 of the
//! participant ids and (through [`RingRng`]) randomness. ring has no XSalsa20 and no
//! reusable X25519 secret, so the NaCl parts of the classic format are borrowed from
//! the RustCrypto crates, the same ones the RustCrypto backend uses:
//!
//! | primitive | implementation | whose |
//! | --- | --- | --- |
//! | Ed25519 signing | `ring::signature::Ed25519KeyPair::from_seed_unchecked` | ring |
//! | Ed25519 verification | `ring::signature::UnparsedPublicKey` with `ED25519`, inside [`VerifyingKey`], which applies libsodium's rule around it | ring |
//! | participant ids, SHA-256 | `ring::digest` | ring |
//! | randomness (optional, for the `*_with` calls) | [`RingRng`] over `ring::rand::SystemRandom` | ring |
//! | "is this a curve point?" when a key is trusted | `curve25519_dalek::edwards::CompressedEdwardsY::decompress` | borrowed: curve25519-dalek 4 |
//! | topic cipher, XSalsa20-Poly1305 | `crypto_secretbox::XSalsa20Poly1305` | borrowed: crypto_secretbox 0.1 |
//! | discovery box, X25519 + XSalsa20-Poly1305 | `crypto_box::SalsaBox` | borrowed: crypto_box 0.9 |
//! | X25519 public key of an ephemeral secret | `crypto_box::SecretKey::public_key` | borrowed: crypto_box 0.9 |
//!
//! ```
//! use stringphone_core::{Backend, Identity, SigningSeed};
//! use stringphone_ring::Ring;
//! let key = Ring::signing_key(&SigningSeed::from_bytes([7; 32]));
//! let id = Ring::participant_id(&key.public_key());
//! assert_eq!(id.as_bytes().len(), 16);
//! ```
//!
//! v2's message cipher, ChaCha20-Poly1305, is ring's ([`ChaCha20Poly1305`]). ring
//! zeroes a buffer whose tag fails; with `alloc` the ciphertext is kept and put back,
//! so a refused message is left as it was, as `decode_in_place` promises; without
//! `alloc` such a refused v2 message is left zeroed (its plaintext never shows).
//!
//! Why borrowed:
//! - ring's AEADs are AES-GCM and ChaCha20-Poly1305; the classic wire format is
//!   NaCl's `crypto_secretbox` and `crypto_box` (XSalsa20-Poly1305).
//! - ring's X25519 (`ring::agreement`) only makes secrets from its own randomness and
//!   consumes a secret in its one agreement. The vectors fix the ephemeral secrets,
//!   and a newcomer that gets several replies to one introduction must be able to try
//!   each of them with the same secret, so the X25519 secret comes from `crypto_box`.
//! - ring decompresses a public key only inside `verify`, and a key that is not a
//!   curve point fails there exactly like a bad signature. The backend contract (and
//!   agreement with the RustCrypto backend on which keys [`add_participant`] accepts)
//!   needs that answer when the key is trusted, so [`VerifyingKey::new`] asks
//!   curve25519-dalek, which `crypto_box` already depends on. ring still decompresses
//!   the key again, itself, in every verification.
//!
//! [`add_participant`]: stringphone_core::Topic::add_participant
//!
//! # The verification rule
//! Every backend verifies by libsodium's rule (see [`stringphone_core::rule`]). ring's
//! verify, read in ring 0.17's `ec/curve25519/ed25519/verification.rs`, does the
//! cofactorless part: it refuses `S >= L`, decompresses `A`, computes `SB - kA` with
//! `k = SHA-512(R || A || M)` and compares its encoding byte for byte with `R`. It does
//! *not* refuse a non-canonical key encoding (it reduces `y` mod `p`) nor a small-order
//! key or `R`: on its own it accepts 4 of the 12 "Taming the many EdDSAs" cases that
//! libsodium refuses. The core checks those parts on the encodings before it calls any
//! backend, and [`VerifyingKey`] checks them again itself, so ring's verifier reached
//! through this crate applies the whole rule even when called directly, without the
//! core. (So `Ring::verifying_key` alone refuses small-order and non-canonical keys,
//! where `RustCrypto::verifying_key` alone leaves them to the core; through the core,
//! as `add_participant` and decode use them, both refuse exactly the same keys.)
//!
//! ```
//! use signature::{Signer, Verifier};
//! use stringphone_core::{Backend, Identity, PublicKey, SigningSeed};
//! use stringphone_ring::{Ring, VerifyingKey};
//!
//! let key = Ring::signing_key(&SigningSeed::from_bytes([7; 32]));
//! let sig: ed25519::Signature = key.sign(b"hello");
//! let vk = VerifyingKey::new(&key.public_key()).unwrap();
//! assert!(vk.verify(b"hello", &sig).is_ok());
//!
//! // The identity point as a key: ring alone would verify (S = 0, R = identity);
//! // the wrapper refuses the key outright.
//! let mut identity = [0u8; 32];
//! identity[0] = 1;
//! assert!(VerifyingKey::new(&PublicKey::from_bytes(identity)).is_err());
//! ```
//!
//! # Targets
//! The crate is `#![no_std]` and builds without `alloc`. ring itself needs a C
//! compiler for the target and depends on `getrandom` 0.2 unconditionally, which has
//! no backend for bare-metal targets such as `thumbv7em-none-eabihf`; there, use the
//! RustCrypto backend (the no_std guarantee of the project covers the core and that
//! backend).
//!
//! # Zeroization
//! Seeds ([`stringphone_core::SigningSeed`]) are zeroized on drop by the core. ring's
//! `Ed25519KeyPair`, which holds the expanded private scalar and nonce prefix, does
//! not zeroize itself on drop and offers no way to do it from outside; this backend's
//! [`SigningKey`] therefore leaves those bytes in freed memory. If that matters for
//! your threat model, use the RustCrypto backend, whose signing key is zeroized.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

use core::fmt;
use core::num::NonZeroU32;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519::Signature;
use rand_core::{CryptoRng, RngCore};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use stringphone_core::reexports::{aead, zeroize};
use stringphone_core::{
    rule, Backend, BoxPublicKey, BoxSecret, Error, Identity, ParticipantId, PublicKey, SigningSeed,
};

/// The ring backend: a zero-sized marker type naming its primitives.
///
/// ```
/// use stringphone_core::{DecodeMode, SigningSeed, Topic, TopicKey};
/// use stringphone_ring::Ring;
///
/// let key = TopicKey::from_bytes([1; 32]);
/// let mut alice = Topic::<Ring, _>::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
/// let mut bob = Topic::<Ring, _>::new(SigningSeed::from_bytes([3; 32]), Some(key));
/// bob.add_participant(alice.public_key()).unwrap();
/// let wire = alice.encode("Hi Bob!").unwrap();
/// let plaintext = bob.decode(&wire, DecodeMode::Strict).unwrap().plaintext();
/// assert_eq!(plaintext.as_deref(), Some(&b"Hi Bob!"[..]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ring;

/// An Ed25519 signing key: ring's `Ed25519KeyPair`, made from a 32-byte seed.
///
/// Signatures are deterministic (RFC 8032), so they are byte-identical to those of
/// any other correct implementation given the same seed. ring does not zeroize the
/// key pair on drop; see the crate docs.
///
/// ```
/// use signature::Signer;
/// use stringphone_core::{Backend, SigningSeed};
/// use stringphone_ring::Ring;
/// let key = Ring::signing_key(&SigningSeed::from_bytes([7; 32]));
/// let sig: ed25519::Signature = key.sign(b"hello");
/// assert_eq!(format!("{key:?}"), "SigningKey(..)");
/// # let _ = sig;
/// ```
pub struct SigningKey {
    /// Always `Some`: ring refuses a seed only for its length, which the type fixes
    /// at 32 bytes. Were it ever `None`, the key signs nothing
    /// ([`signature::Error`], which the core reports as `Error::SigningFailed`) and
    /// its public key is the all-zero encoding, a small-order point every verifier
    /// refuses under the rule: it fails closed, without a panic.
    pair: Option<Ed25519KeyPair>,
    public_key: PublicKey,
    /// v2's static X25519 secret: the first half of SHA-512 of the seed, kept because
    /// ring's key pair does not give it out. Zeroized on drop.
    static_secret: Option<BoxSecret>,
}

impl SigningKey {
    /// The key for `seed` (RFC 8032: the seed is hashed into the private scalar and
    /// the nonce prefix). This is what [`Backend::signing_key`] calls.
    ///
    /// ```
    /// use stringphone_core::{Identity, SigningSeed};
    /// use stringphone_ring::SigningKey;
    /// let key = SigningKey::from_seed(&SigningSeed::from_bytes([7; 32]));
    /// assert_ne!(key.public_key().to_bytes(), [0; 32]);
    /// ```
    #[must_use]
    pub fn from_seed(seed: &SigningSeed) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.expose_secret()).ok();
        let mut public_key = [0u8; 32];
        if let Some(pair) = &pair {
            for (out, byte) in public_key.iter_mut().zip(pair.public_key().as_ref()) {
                *out = *byte;
            }
        }
        let expanded = ring::digest::digest(&ring::digest::SHA512, seed.expose_secret());
        let static_secret = expanded
            .as_ref()
            .get(..32)
            .and_then(|half| <[u8; 32]>::try_from(half).ok())
            .map(|half| BoxSecret::from_bytes(*zeroize::Zeroizing::new(half)));
        SigningKey {
            pair,
            public_key: PublicKey::from_bytes(public_key),
            static_secret,
        }
    }

    /// ring's key pair inside (`None` only if ring refused the seed, which it does
    /// not for 32 bytes).
    ///
    /// ```
    /// use ring::signature::KeyPair;
    /// use stringphone_core::{Identity, SigningSeed};
    /// use stringphone_ring::SigningKey;
    /// let key = SigningKey::from_seed(&SigningSeed::from_bytes([7; 32]));
    /// let pair = key.as_ring().unwrap();
    /// assert_eq!(pair.public_key().as_ref(), key.public_key().as_bytes());
    /// ```
    #[must_use]
    pub fn as_ring(&self) -> Option<&Ed25519KeyPair> {
        self.pair.as_ref()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl signature::Signer<Signature> for SigningKey {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        let pair = self.pair.as_ref().ok_or_else(signature::Error::new)?;
        Signature::from_slice(pair.sign(message).as_ref())
    }
}

impl Identity for SigningKey {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn static_box_secret(&self) -> Option<BoxSecret> {
        self.static_secret.clone()
    }
}

/// True when `key` decodes to a point of the curve (any point, small order included;
/// `y` is reduced mod `p` first). ring cannot answer this without a signature, so
/// curve25519-dalek does.
fn is_curve_point(key: &[u8; 32]) -> bool {
    CompressedEdwardsY(*key).decompress().is_some()
}

/// A public key checked by the whole key half of libsodium's rule, ready for ring's
/// verifier.
///
/// ring has no decompressed-key type, so this holds the 32 checked bytes; ring
/// decompresses them again in each verification. [`new`](Self::new) refuses, with
/// [`Error::InvalidPublicKey`], a non-canonical encoding (`y >= p`), a point of small
/// order, and bytes that are not a curve point at all: exactly the keys the
/// RustCrypto backend refuses through the core. Its [`Verifier`](signature::Verifier)
/// refuses a signature with `S >= L` or a small-order `R` before ring sees it, so
/// the rule holds whoever calls it.
///
/// ```
/// use stringphone_core::{Error, PublicKey};
/// use stringphone_ring::VerifyingKey;
///
/// // y = 2 is not the y of any curve point.
/// let mut not_a_point = [0u8; 32];
/// not_a_point[0] = 2;
/// assert!(matches!(VerifyingKey::new(&PublicKey::from_bytes(not_a_point)), Err(Error::InvalidPublicKey)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerifyingKey(PublicKey);

impl VerifyingKey {
    /// Checks `key` (canonical, not of small order, a curve point) and keeps it.
    ///
    /// ```
    /// use stringphone_core::{Backend, Identity, SigningSeed};
    /// use stringphone_ring::{Ring, VerifyingKey};
    /// let key = Ring::signing_key(&SigningSeed::from_bytes([7; 32])).public_key();
    /// assert_eq!(VerifyingKey::new(&key).unwrap().public_key(), key);
    /// ```
    pub fn new(key: &PublicKey) -> Result<Self, Error> {
        let bytes = key.as_bytes();
        if rule::public_key_passes(bytes) && is_curve_point(bytes) {
            Ok(VerifyingKey(*key))
        } else {
            Err(Error::InvalidPublicKey)
        }
    }

    /// The key's bytes.
    ///
    /// ```
    /// use stringphone_core::{Backend, Identity, SigningSeed};
    /// use stringphone_ring::{Ring, VerifyingKey};
    /// let key = Ring::signing_key(&SigningSeed::from_bytes([7; 32])).public_key();
    /// assert_eq!(VerifyingKey::new(&key).unwrap().public_key().as_bytes(), key.as_bytes());
    /// ```
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.0
    }
}

impl signature::Verifier<Signature> for VerifyingKey {
    fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), signature::Error> {
        let signature = signature.to_bytes();
        if !rule::signature_passes(&signature) {
            return Err(signature::Error::new());
        }
        UnparsedPublicKey::new(&ED25519, self.0.as_bytes())
            .verify(message, &signature)
            .map_err(|_| signature::Error::new())
    }
}

impl Backend for Ring {
    type SigningKey = SigningKey;
    type VerifyingKey = VerifyingKey;
    type TopicCipher = crypto_secretbox::XSalsa20Poly1305;
    type BoxCipher = crypto_box::SalsaBox;

    fn signing_key(seed: &SigningSeed) -> SigningKey {
        SigningKey::from_seed(seed)
    }

    fn verifying_key(key: &PublicKey) -> Result<VerifyingKey, Error> {
        VerifyingKey::new(key)
    }

    fn participant_id(key: &PublicKey) -> ParticipantId {
        let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
        let mut id = [0u8; 16];
        for (out, byte) in id.iter_mut().zip(digest.as_ref()) {
            *out = *byte;
        }
        ParticipantId::from_bytes(id)
    }

    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        let secret = crypto_box::SecretKey::from_bytes(*secret.expose_secret());
        BoxPublicKey::from_bytes(secret.public_key().to_bytes())
    }

    type MessageCipher = ChaCha20Poly1305;

    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> zeroize::Zeroizing<[u8; 32]> {
        struct Len32;
        impl ring::hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let mut okm = zeroize::Zeroizing::new([0u8; 32]);
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(ikm);
        // 32 bytes is far below HKDF's limit; were it to fail, the all-zero key it
        // leaves would open nothing sealed under the real one.
        if let Ok(expanded) = prk.expand(info, Len32) {
            let _ = expanded.fill(okm.as_mut());
        }
        okm
    }

    fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error> {
        let point = CompressedEdwardsY(*key.as_bytes())
            .decompress()
            .ok_or(Error::InvalidPublicKey)?;
        Ok(BoxPublicKey::from_bytes(point.to_montgomery().to_bytes()))
    }

    fn box_cipher(their_public: &BoxPublicKey, our_secret: &BoxSecret) -> crypto_box::SalsaBox {
        let secret = crypto_box::SecretKey::from_bytes(*our_secret.expose_secret());
        crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(*their_public.as_bytes()),
            &secret,
        )
    }
}

/// The `rand_core` error code of a failed ring `fill`.
const RING_RNG_FAILED: NonZeroU32 = match NonZeroU32::new(rand_core::Error::CUSTOM_START) {
    Some(code) => code,
    None => NonZeroU32::MIN,
};

/// A `rand_core` random number generator over a ring `SecureRandom` (by default
/// `SystemRandom`, the operating system's CSPRNG), for the core's `*_with` calls.
///
/// The core's `generate()`, `encode()`, `construct_intro()` and `construct_reply()`
/// draw from `rand_core::OsRng`; pass a `RingRng` to `generate_with`,
/// `encode_with_rng`, `construct_intro_with` and `construct_reply_with` to draw from
/// ring instead. It is usable wherever ring's `SystemRandom` is (the common operating
/// systems; not bare metal).
///
/// ```
/// use stringphone_core::{SigningSeed, Topic, TopicKey};
/// use stringphone_ring::{Ring, RingRng};
///
/// let mut rng = RingRng::system();
/// let key = TopicKey::generate_with(&mut rng).unwrap();
/// let mut alice = Topic::<Ring, _>::new(SigningSeed::generate_with(&mut rng).unwrap(), Some(key));
/// let wire = alice.encode_with_rng(&mut rng, "hi").unwrap();
/// assert_eq!(wire.len(), 2 + 121);
/// ```
#[derive(Clone, Debug)]
pub struct RingRng<R = SystemRandom>(R);

impl RingRng<SystemRandom> {
    /// The operating system's CSPRNG, through ring.
    ///
    /// ```
    /// use rand_core::RngCore;
    /// let mut buf = [0u8; 32];
    /// stringphone_ring::RingRng::system().try_fill_bytes(&mut buf).unwrap();
    /// ```
    #[must_use]
    pub fn system() -> Self {
        RingRng(SystemRandom::new())
    }
}

impl Default for RingRng<SystemRandom> {
    fn default() -> Self {
        Self::system()
    }
}

impl<R: SecureRandom> RingRng<R> {
    /// Wraps any ring `SecureRandom`.
    ///
    /// ```
    /// use stringphone_ring::RingRng;
    /// let rng = RingRng::new(ring::rand::SystemRandom::new());
    /// # let _ = rng;
    /// ```
    pub fn new(inner: R) -> Self {
        RingRng(inner)
    }

    /// The ring generator inside.
    ///
    /// ```
    /// use ring::rand::SecureRandom;
    /// let rng = stringphone_ring::RingRng::system().into_inner();
    /// let mut buf = [0u8; 8];
    /// rng.fill(&mut buf).unwrap();
    /// ```
    pub fn into_inner(self) -> R {
        self.0
    }
}

impl<R: SecureRandom> RngCore for RingRng<R> {
    /// # Panics
    /// If ring's generator fails (`rand_core`'s infallible calls have no other way to
    /// report it); the core only ever calls [`try_fill_bytes`](Self::try_fill_bytes).
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    /// # Panics
    /// If ring's generator fails; see [`next_u32`](Self::next_u32).
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    /// # Panics
    /// If ring's generator fails, rather than hand out predictable bytes (as
    /// `rand_core::OsRng` does); see [`next_u32`](Self::next_u32).
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = self.try_fill_bytes(dest) {
            panic!("ring's random number generator failed: {e}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0
            .fill(dest)
            .map_err(|_| rand_core::Error::from(RING_RNG_FAILED))
    }
}

/// ring's `SecureRandom` is a CSPRNG by its contract.
impl<R: SecureRandom> CryptoRng for RingRng<R> {}

/// ring's ChaCha20-Poly1305 behind the `aead` traits: v2's message cipher.
///
/// ```
/// use stringphone_core::reexports::aead::{AeadInPlace, KeyInit};
/// use stringphone_ring::ChaCha20Poly1305;
/// let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
/// let mut buf = *b"hello";
/// let tag = cipher.encrypt_in_place_detached(&[0u8; 12].into(), b"header", &mut buf).unwrap();
/// cipher.decrypt_in_place_detached(&[0u8; 12].into(), b"header", &mut buf, &tag).unwrap();
/// assert_eq!(&buf, b"hello");
/// assert!(cipher.decrypt_in_place_detached(&[0u8; 12].into(), b"other", &mut buf, &tag).is_err());
/// ```
pub struct ChaCha20Poly1305 {
    /// Always `Some`: ring refuses a key only for its length, which the type fixes.
    key: Option<ring::aead::LessSafeKey>,
}

impl aead::KeySizeUser for ChaCha20Poly1305 {
    type KeySize = aead::consts::U32;
}

impl aead::KeyInit for ChaCha20Poly1305 {
    fn new(key: &aead::Key<Self>) -> Self {
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key)
            .ok()
            .map(ring::aead::LessSafeKey::new);
        ChaCha20Poly1305 { key }
    }
}

impl aead::AeadCore for ChaCha20Poly1305 {
    type NonceSize = aead::consts::U12;
    type TagSize = aead::consts::U16;
    type CiphertextOverhead = aead::consts::U0;
}

impl aead::AeadInPlace for ChaCha20Poly1305 {
    fn encrypt_in_place_detached(
        &self,
        nonce: &aead::Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<aead::Tag<Self>, aead::Error> {
        let key = self.key.as_ref().ok_or(aead::Error)?;
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| aead::Error)?;
        let tag = key
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(associated_data), buffer)
            .map_err(|_| aead::Error)?;
        Ok(aead::Tag::<Self>::clone_from_slice(tag.as_ref()))
    }

    fn decrypt_in_place_detached(
        &self,
        nonce: &aead::Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &aead::Tag<Self>,
    ) -> Result<(), aead::Error> {
        let key = self.key.as_ref().ok_or(aead::Error)?;
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| aead::Error)?;
        let tag = ring::aead::Tag::try_from(tag.as_slice()).map_err(|_| aead::Error)?;
        // ring zeroes the buffer when the tag fails; the core promises that a refused
        // message is left as it was (`decode_in_place`), so the ciphertext is kept to
        // be put back. A copy per message: about 5 % of a 64 KiB decode, nothing at
        // 64 B. (Without `alloc` there is nowhere to keep it: the buffer is then left
        // zeroed, which is said in the crate docs.)
        #[cfg(feature = "alloc")]
        let kept = alloc::vec::Vec::from(&*buffer);
        let opened = key.open_in_place_separate_tag(
            nonce,
            ring::aead::Aad::from(associated_data),
            tag,
            buffer,
            0..,
        );
        if opened.is_err() {
            #[cfg(feature = "alloc")]
            buffer.copy_from_slice(&kept);
            return Err(aead::Error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signature::{Signer, Verifier};

    #[test]
    fn rng_fills_and_differs() {
        let mut rng = RingRng::system();
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        rng.try_fill_bytes(&mut a).unwrap();
        rng.fill_bytes(&mut b);
        assert_ne!(a, [0; 64]);
        assert_ne!(a, b);
        assert_ne!(rng.next_u64(), rng.next_u64());
    }

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let key = Ring::signing_key(&SigningSeed::from_bytes([9; 32]));
        let vk = Ring::verifying_key(&key.public_key()).unwrap();
        let sig = key.sign(b"message");
        assert!(vk.verify(b"message", &sig).is_ok());
        assert!(vk.verify(b"messagf", &sig).is_err());
        let mut bytes = sig.to_bytes();
        bytes[63] ^= 0x10;
        assert!(vk
            .verify(b"message", &Signature::from_bytes(&bytes))
            .is_err());
    }

    #[test]
    fn rfc8032_test_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed = hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let key = Ring::signing_key(&SigningSeed::from_bytes(seed));
        assert_eq!(key.public_key().to_bytes(), public);
        let sig = key.sign(b"").to_bytes();
        let expected_r = hex32("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155");
        let expected_s = hex32("5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
        assert_eq!(sig[..32], expected_r);
        assert_eq!(sig[32..], expected_s);
    }

    #[test]
    fn participant_id_is_sha256_prefix() {
        // SHA-256 of 32 zero bytes starts 66687aadf862bd776c8fc18b8e9f8e20.
        let id = Ring::participant_id(&PublicKey::from_bytes([0; 32]));
        assert_eq!(id.as_bytes()[..], hex16("66687aadf862bd776c8fc18b8e9f8e20"));
    }

    #[test]
    fn verifier_applies_the_rule_on_its_own() {
        // A = identity and R = identity, S = 0: SB - kA = identity = R, so the bare
        // cofactorless equation holds and ring alone accepts it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        assert!(UnparsedPublicKey::new(&ED25519, &identity)
            .verify(b"anything", &sig)
            .is_ok());
        // The wrapper refuses the key ...
        assert!(matches!(
            VerifyingKey::new(&PublicKey::from_bytes(identity)),
            Err(Error::InvalidPublicKey)
        ));
        // ... and a small-order R even under a good key, before ring is asked.
        let key = Ring::signing_key(&SigningSeed::from_bytes([9; 32]));
        let vk = VerifyingKey::new(&key.public_key()).unwrap();
        assert!(vk
            .verify(b"anything", &Signature::from_bytes(&sig))
            .is_err());
    }

    #[test]
    fn s_at_or_above_l_is_refused() {
        let key = Ring::signing_key(&SigningSeed::from_bytes([9; 32]));
        let vk = VerifyingKey::new(&key.public_key()).unwrap();
        let mut sig = key.sign(b"m").to_bytes();
        // S + L: the same point equation, a non-reduced scalar.
        let l = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            sig[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(vk.verify(b"m", &Signature::from_bytes(&sig)).is_err());
    }

    #[test]
    fn key_checks() {
        let point = |y: u8| {
            let mut k = [0u8; 32];
            k[0] = y;
            PublicKey::from_bytes(k)
        };
        // y = 2 and y = 7 are not on the curve, y = 3 and y = 4 are (and not of small
        // order); y = 0 and y = 1 are of small order.
        assert!(VerifyingKey::new(&point(2)).is_err());
        assert!(VerifyingKey::new(&point(7)).is_err());
        assert!(VerifyingKey::new(&point(3)).is_ok());
        assert!(VerifyingKey::new(&point(4)).is_ok());
        assert!(VerifyingKey::new(&point(0)).is_err());
        assert!(VerifyingKey::new(&point(1)).is_err());
        // y = p + 3 is the non-canonical encoding of the valid y = 3.
        let mut p3 = [0xff; 32];
        p3[0] = 0xf0;
        p3[31] = 0x7f;
        assert!(is_curve_point(&p3));
        assert!(VerifyingKey::new(&PublicKey::from_bytes(p3)).is_err());
    }

    #[test]
    fn failed_rng_maps_to_an_error() {
        // ring's `SecureRandom` is sealed, so no failing generator can be plugged in;
        // the error the adaptor returns is checked instead.
        let e = rand_core::Error::from(RING_RNG_FAILED);
        assert_eq!(e.raw_os_error(), None);
        assert_eq!(e.code(), Some(RING_RNG_FAILED));
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        assert_eq!(s.len(), 2 * N);
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex(s)
    }

    fn hex16(s: &str) -> [u8; 16] {
        hex(s)
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
