//! stringphone on a microcontroller: no `std`, no `alloc`, no global allocator.
//!
//! Everything goes through caller-provided buffers and a fixed-capacity trust store.
//! CI builds this crate for `thumbv7em-none-eabihf` as a static library, which fails
//! to link if anything in the dependency graph needs a heap.
//!
//! ```
//! use stringphone_no_heap::{Device, MAX_MESSAGE};
//! let key = [7u8; 32];
//! let mut alice = Device::new([1; 32], key);
//! let mut bob = Device::new([2; 32], key);
//! bob.trust(alice.public_key()).unwrap();
//!
//! let mut rng = rand_core::OsRng; // on a device: its hardware RNG
//! let mut wire = [0u8; MAX_MESSAGE];
//! let n = alice.seal(&mut rng, b"temperature=21.5", &mut wire).unwrap();
//! let mut plain = [0u8; MAX_MESSAGE];
//! let m = bob.open(&wire[..n], &mut plain).unwrap();
//! assert_eq!(&plain[..m], b"temperature=21.5");
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use rand_core::CryptoRngCore;
use stringphone_core::wire::SIMPLE_OVERHEAD;
use stringphone_core::{
    DecodeMode, Decoded, Error, FixedTrustStore, PublicKey, SigningSeed, Topic, TopicKey,
};
use stringphone_rustcrypto::RustCrypto;

/// The largest plaintext this device handles.
pub const MAX_PLAINTEXT: usize = 256;
/// The largest wire message this device handles.
pub const MAX_MESSAGE: usize = MAX_PLAINTEXT + SIMPLE_OVERHEAD;

/// A device that knows the topic key and trusts up to eight peers.
pub struct Device {
    topic: Topic<RustCrypto, FixedTrustStore<8>>,
}

impl Device {
    /// A device with the identity of `seed` and the topic key `topic_key`.
    pub fn new(seed: [u8; 32], topic_key: [u8; 32]) -> Self {
        Device {
            topic: Topic::with_store(
                SigningSeed::from_bytes(seed),
                Some(TopicKey::from_bytes(topic_key)),
                FixedTrustStore::new(),
            ),
        }
    }

    /// This device's public key, for its peers to trust.
    pub fn public_key(&self) -> PublicKey {
        self.topic.public_key()
    }

    /// Trusts a peer.
    pub fn trust(&mut self, peer: PublicKey) -> Result<(), Error> {
        self.topic.add_participant(peer).map(|_| ())
    }

    /// Seals and signs `plaintext` into `out`; returns the wire length.
    pub fn seal(
        &mut self,
        rng: &mut impl CryptoRngCore,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.topic.encode_into(rng, plaintext, out)
    }

    /// Verifies and opens a message from a trusted peer into `out`; returns the
    /// plaintext length (0 when there is nothing to read: our own echoed messages, and
    /// any outcome without a plaintext that later versions add).
    pub fn open(&mut self, message: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        match self.topic.decode_into(message, DecodeMode::Strict, out)? {
            Decoded::Message { plaintext, .. } => Ok(plaintext.len()),
            _ => Ok(0),
        }
    }
}

/// On the bare-metal target the static library needs a panic handler; nothing in the
/// protocol panics, so this only ever runs on a bug.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
