//! libsodium through `libsodium-sys-stable` (which builds libsodium's bundled source):
//! `crypto_sign_detached`, `crypto_sign_verify_detached`, `crypto_secretbox_detached`
//! and `crypto_secretbox_open_detached`, wrapped so that every pointer handed to C
//! comes from a Rust slice or array whose length the wrapper has checked.
#![allow(unsafe_code)]

use std::ffi::CStr;

use libsodium_sys as ffi;

/// Length of a signature, a public key, a seed; of a secretbox key, nonce and tag.
const SIG: usize = 64;

/// Initialises libsodium (idempotent, thread-safe) and returns its version string.
///
/// # Panics
/// If libsodium cannot initialise: the benchmark cannot run without it.
pub fn init() -> String {
    // SAFETY: `sodium_init` takes no arguments and may be called any number of times
    // from any thread; it returns -1 only on failure.
    let rc = unsafe { ffi::sodium_init() };
    assert!(rc >= 0, "sodium_init failed");
    // SAFETY: `sodium_version_string` returns a pointer to a static, NUL-terminated
    // string owned by the library, valid for the life of the process.
    let version = unsafe { CStr::from_ptr(ffi::sodium_version_string()) };
    version.to_string_lossy().into_owned()
}

/// An Ed25519 key pair in libsodium's layout (`sk` = seed ‖ public key).
pub struct SignKeyPair {
    /// The public key.
    pub public: [u8; 32],
    secret: [u8; 64],
}

impl SignKeyPair {
    /// The key pair of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut public = [0u8; 32];
        let mut secret = [0u8; 64];
        // SAFETY: the output buffers are 32 (crypto_sign_PUBLICKEYBYTES) and 64
        // (crypto_sign_SECRETKEYBYTES) bytes, the seed 32 (crypto_sign_SEEDBYTES); all
        // are live, exclusive (outputs) for the call, and do not overlap.
        let rc = unsafe {
            ffi::crypto_sign_seed_keypair(public.as_mut_ptr(), secret.as_mut_ptr(), seed.as_ptr())
        };
        assert_eq!(rc, 0, "crypto_sign_seed_keypair failed");
        SignKeyPair { public, secret }
    }

    /// `crypto_sign_detached`: the signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIG] {
        let mut sig = [0u8; SIG];
        // SAFETY: `sig` is 64 bytes (crypto_sign_BYTES) and exclusively borrowed; a null
        // `siglen_p` is allowed by the API; `message` is valid for `message.len()` bytes;
        // `secret` is the 64-byte key libsodium made. Nothing overlaps.
        let rc = unsafe {
            ffi::crypto_sign_detached(
                sig.as_mut_ptr(),
                std::ptr::null_mut(),
                message.as_ptr(),
                message.len() as u64,
                self.secret.as_ptr(),
            )
        };
        assert_eq!(rc, 0, "crypto_sign_detached failed");
        sig
    }
}

/// `crypto_sign_verify_detached`: true when `sig` is `public`'s signature of `message`.
pub fn verify(public: &[u8; 32], message: &[u8], sig: &[u8; SIG]) -> bool {
    // SAFETY: `sig` is 64 bytes, `public` 32, `message` valid for `message.len()` bytes;
    // libsodium only reads them.
    unsafe {
        ffi::crypto_sign_verify_detached(
            sig.as_ptr(),
            message.as_ptr(),
            message.len() as u64,
            public.as_ptr(),
        ) == 0
    }
}

/// `crypto_secretbox_detached`: seals `plaintext` into `ciphertext` (same length,
/// checked) and returns the tag.
///
/// # Panics
/// If the two lengths differ.
pub fn seal(key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8], ciphertext: &mut [u8]) -> [u8; 16] {
    assert_eq!(plaintext.len(), ciphertext.len(), "length mismatch");
    let mut tag = [0u8; 16];
    // SAFETY: `ciphertext` is exclusively borrowed and exactly `plaintext.len()` bytes
    // (checked above), so it cannot overlap the shared `plaintext`; `tag` is 16 bytes
    // (crypto_secretbox_MACBYTES), the nonce 24, the key 32.
    let rc = unsafe {
        ffi::crypto_secretbox_detached(
            ciphertext.as_mut_ptr(),
            tag.as_mut_ptr(),
            plaintext.as_ptr(),
            plaintext.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0, "crypto_secretbox_detached failed");
    tag
}

/// `crypto_secretbox_open_detached`: opens `ciphertext` into `plaintext` (same length,
/// checked); false when the tag does not verify.
///
/// # Panics
/// If the two lengths differ.
pub fn open(
    key: &[u8; 32],
    nonce: &[u8; 24],
    tag: &[u8; 16],
    ciphertext: &[u8],
    plaintext: &mut [u8],
) -> bool {
    assert_eq!(plaintext.len(), ciphertext.len(), "length mismatch");
    // SAFETY: `plaintext` is exclusively borrowed and exactly `ciphertext.len()` bytes
    // (checked above), so it cannot overlap the shared `ciphertext`; the tag is 16
    // bytes, the nonce 24, the key 32; libsodium writes only `plaintext`.
    unsafe {
        ffi::crypto_secretbox_open_detached(
            plaintext.as_mut_ptr(),
            ciphertext.as_ptr(),
            tag.as_ptr(),
            ciphertext.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        init();
        let kp = SignKeyPair::from_seed(&[7; 32]);
        let sig = kp.sign(b"hello");
        assert!(verify(&kp.public, b"hello", &sig));
        assert!(!verify(&kp.public, b"hellO", &sig));
        let mut c = [0u8; 5];
        let tag = seal(&[1; 32], &[2; 24], b"hello", &mut c);
        let mut p = [0u8; 5];
        assert!(open(&[1; 32], &[2; 24], &tag, &c, &mut p));
        assert_eq!(&p, b"hello");
        c[0] ^= 1;
        assert!(!open(&[1; 32], &[2; 24], &tag, &c, &mut p));
    }
}
