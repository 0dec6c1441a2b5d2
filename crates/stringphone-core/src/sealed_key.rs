//! The one place a key is sealed in a crypto_box to an X25519 key, and opened from
//! one: the topic key of a classic or v2 reply, an epoch key of a v2 rekey. And the
//! one check that an X25519 key is not of small order
//! ([`BoxPublicKey::has_small_order`]): a box to or from such a key is sealed under an
//! all-zero shared secret that anyone can compute (libsodium refuses both).

use aead::AeadInPlace;
use zeroize::Zeroizing;

use crate::{Backend, BoxPublicKey, BoxSecret, Error};

/// A key sealed to someone: its ciphertext and the box's tag.
pub(crate) struct SealedKey {
    pub(crate) sealed: [u8; 32],
    pub(crate) tag: [u8; 16],
}

/// Refuses `key` with `refusal` when it is of small order: [`Error::InvalidPublicKey`]
/// before sealing to it, [`Error::DecryptFailed`] when opening from it.
pub(crate) fn refuse_small_order(key: &BoxPublicKey, refusal: Error) -> Result<(), Error> {
    if key.has_small_order() {
        return Err(refusal);
    }
    Ok(())
}

/// Seals `key` to `to` with our `secret` under `nonce`. The caller refused a
/// small-order `to` first ([`refuse_small_order`]), before drawing `secret` and
/// `nonce`, or derived `to` from a key the rule accepted.
pub(crate) fn seal_key<B: Backend>(
    to: &BoxPublicKey,
    secret: &BoxSecret,
    nonce: &[u8; 24],
    key: &[u8; 32],
) -> Result<SealedKey, Error> {
    let mut sealed = Zeroizing::new(*key);
    let tag = B::box_cipher(to, secret)
        .encrypt_in_place_detached(nonce.into(), b"", sealed.as_mut())
        .map_err(|_| Error::EncryptFailed)?;
    let mut out = SealedKey {
        sealed: *sealed,
        tag: [0; 16],
    };
    out.tag.copy_from_slice(&tag);
    Ok(out)
}

/// Opens a key sealed by `from` to our secret: a small-order `from` is refused first
/// ([`Error::DecryptFailed`]), then `secret` (or the reason there is none) is taken,
/// then the box ([`Error::DecryptFailed`]). The key comes back zeroized on drop.
///
/// Never inlined: the box's frame stays out of the reply parser's, under which the
/// reply's signature is verified (the deepest stack of a device's discovery).
#[inline(never)]
pub(crate) fn open_key<B: Backend>(
    from: &BoxPublicKey,
    secret: Result<&BoxSecret, Error>,
    nonce: &[u8; 24],
    sealed: &[u8; 32],
    tag: &[u8; 16],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    refuse_small_order(from, Error::DecryptFailed)?;
    let mut key = Zeroizing::new(*sealed);
    B::box_cipher(from, secret?)
        .decrypt_in_place_detached(nonce.into(), b"", key.as_mut(), tag.into())
        .map_err(|_| Error::DecryptFailed)?;
    Ok(key)
}
