//! The nonce source of the convenience calls ([`Topic::encode`](crate::Topic::encode)
//! and [`Topic::encode_with_rng`](crate::Topic::encode_with_rng) given a
//! [`NonceRng`]): a ChaCha20 CSPRNG per thread, seeded from the operating system and
//! reseeded from it after every 64 KiB of output.
//!
//! Why not the OS for every nonce: a `getrandom` system call per message costs about
//! as much as sealing a 64-byte message. Why ChaCha20 in a thread-local and not one
//! generator in the `Topic` behind a lock: encoding takes `&self`, so a topic shared
//! between threads would serialise every encode on that lock, and the lock would make
//! the `no_std` core depend on a mutex. Per thread there is nothing to share and
//! nothing to lock, and nothing in a `Topic` changes.
//!
//! XSalsa20's 24-byte nonces are safe to draw at random: a repeat needs about 2^96
//! messages under one key.
//!
//! # After `fork()`
//! A child process starts with a copy of its parent's generator state, so both would
//! draw the same nonces until the next reseed, and the same nonce under the same topic
//! key leaks plaintext. A process that forks and then encodes in the child must call
//! [`NonceRng::reseed`] in the child first (or encode with
//! [`Topic::encode_with_rng`](crate::Topic::encode_with_rng) and the OS generator). The
//! generator cannot notice a fork by itself without a system call per message.

use core::cell::RefCell;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroize;

/// Output between two reseeds from the OS.
const RESEED_AFTER: usize = 64 * 1024;

struct State {
    rng: ChaCha20Rng,
    /// Bytes left before the next reseed.
    left: usize,
}

std::thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn from_os() -> Result<State, rand_core::Error> {
    let mut seed = [0u8; 32];
    let drawn = OsRng.try_fill_bytes(&mut seed);
    let state = drawn.map(|()| State {
        rng: ChaCha20Rng::from_seed(seed),
        left: RESEED_AFTER,
    });
    seed.zeroize();
    state
}

fn unavailable() -> rand_core::Error {
    // Only while this thread's storage is being torn down, or on re-entry (which
    // nothing here does).
    rand_core::Error::new("stringphone: thread-local nonce generator unavailable")
}

/// A handle to this thread's nonce generator: a ChaCha20 CSPRNG seeded from the OS on
/// first use and reseeded from it after every 64 KiB of output. Zero-sized; create one
/// whenever needed.
///
/// Errors (as [`rand_core::Error`], which the encoders report as
/// [`Error::Rng`](crate::Error::Rng)) only when the OS generator fails.
///
/// ```
/// use rand_core::RngCore;
/// use stringphone_core::rng::NonceRng;
/// let mut a = [0u8; 24];
/// let mut b = [0u8; 24];
/// NonceRng.try_fill_bytes(&mut a).unwrap();
/// NonceRng.try_fill_bytes(&mut b).unwrap();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NonceRng;

impl NonceRng {
    /// Replaces this thread's generator state with a fresh seed from the OS. Call it in
    /// a child process after `fork()`, before encoding (see the [module docs](self)).
    ///
    /// ```
    /// stringphone_core::rng::NonceRng::reseed().unwrap();
    /// ```
    pub fn reseed() -> Result<(), rand_core::Error> {
        let fresh = from_os()?;
        STATE
            .try_with(|cell| {
                let mut slot = cell.try_borrow_mut().map_err(|_| unavailable())?;
                *slot = Some(fresh);
                Ok(())
            })
            .map_err(|_| unavailable())?
    }
}

impl RngCore for NonceRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    /// Panics if the OS generator fails; the encoders call
    /// [`try_fill_bytes`](Self::try_fill_bytes) instead.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = self.try_fill_bytes(dest) {
            panic!("stringphone: nonce generator failed: {e}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        STATE
            .try_with(|cell| {
                let mut slot = cell.try_borrow_mut().map_err(|_| unavailable())?;
                if slot.as_ref().is_none_or(|s| s.left < dest.len()) {
                    *slot = Some(from_os()?);
                }
                let state = slot.as_mut().ok_or_else(unavailable)?;
                state.left = state.left.saturating_sub(dest.len());
                state.rng.fill_bytes(dest);
                Ok(())
            })
            .map_err(|_| unavailable())?
    }
}

/// ChaCha20 keyed from the OS is a cryptographically secure generator.
impl CryptoRng for NonceRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseeds_after_its_budget() {
        NonceRng::reseed().unwrap();
        let mut buf = [0u8; 1000];
        for _ in 0..(RESEED_AFTER / 1000 + 2) {
            NonceRng.try_fill_bytes(&mut buf).unwrap();
        }
        let left = STATE.with(|c| c.borrow().as_ref().map(|s| s.left)).unwrap();
        assert!(left < RESEED_AFTER && left > RESEED_AFTER - 3000);
    }

    #[test]
    fn a_request_larger_than_the_budget_still_works() {
        let mut big = std::vec![0u8; RESEED_AFTER + 1];
        NonceRng.try_fill_bytes(&mut big).unwrap();
        assert!(big.iter().any(|&b| b != 0));
    }
}
