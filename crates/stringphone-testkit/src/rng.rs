//! The one deterministic random source of the tests.

use rand_chacha::ChaCha8Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// A deterministic random source: either exactly the bytes it was given, in order
/// ([`TestRng::replay`]), or an endless stream reproducible from a seed
/// ([`TestRng::seeded`], [`TestRng::seeded_by`]).
///
/// Replaying reproduces a vector: the randomness the original drew when it made it.
/// Running dry is an RNG error ([`rand_core::Error`], which the protocol turns into
/// `Error::Rng`), so a test notices when the code draws more than the vector did.
///
/// ```
/// use rand_core::RngCore;
/// use stringphone_testkit::TestRng;
///
/// let mut rng = TestRng::replay(&[&[1, 2], &[3]]);
/// let mut out = [0u8; 3];
/// rng.fill_bytes(&mut out);
/// assert_eq!(out, [1, 2, 3]);
/// assert!(rng.exhausted());
/// assert!(rng.try_fill_bytes(&mut [0u8; 1]).is_err());
///
/// // The same seed, the same stream.
/// assert_eq!(TestRng::seeded(7).next_u64(), TestRng::seeded(7).next_u64());
/// ```
#[derive(Clone, Debug)]
pub struct TestRng {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Replay { bytes: Vec<u8>, pos: usize },
    Stream(Box<ChaCha8Rng>),
}

impl TestRng {
    /// A source of exactly `parts`, concatenated, then dry.
    ///
    /// ```
    /// use stringphone_testkit::TestRng;
    /// let rng = TestRng::replay(&[b"nonce bytes"]);
    /// assert!(!rng.exhausted());
    /// ```
    #[must_use]
    pub fn replay(parts: &[&[u8]]) -> Self {
        TestRng {
            source: Source::Replay {
                bytes: parts.concat(),
                pos: 0,
            },
        }
    }

    /// An endless stream (ChaCha8) reproducible from `seed`: print the seed, and a
    /// failing run can be replayed.
    ///
    /// ```
    /// use rand_core::RngCore;
    /// use stringphone_testkit::TestRng;
    /// let mut rng = TestRng::seeded(1);
    /// assert_ne!(rng.next_u64(), rng.next_u64());
    /// ```
    #[must_use]
    pub fn seeded(seed: u64) -> Self {
        TestRng {
            source: Source::Stream(Box::new(ChaCha8Rng::seed_from_u64(seed))),
        }
    }

    /// An endless stream (ChaCha8) keyed by the SHA-256 of `parts` (each with its
    /// length first, so that no two lists of parts share a stream): a stream per
    /// (seed, participant, restart, ...) for a model that needs many independent ones.
    ///
    /// ```
    /// use rand_core::RngCore;
    /// use stringphone_testkit::TestRng;
    /// let a = TestRng::seeded_by(&[&[1, 2], &[3]]).next_u64();
    /// assert_eq!(a, TestRng::seeded_by(&[&[1, 2], &[3]]).next_u64());
    /// assert_ne!(a, TestRng::seeded_by(&[&[1], &[2, 3]]).next_u64());
    /// ```
    #[must_use]
    pub fn seeded_by(parts: &[&[u8]]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        TestRng {
            source: Source::Stream(Box::new(ChaCha8Rng::from_seed(h.finalize().into()))),
        }
    }

    /// The next `N` bytes, as an array. Panics where [`RngCore::fill_bytes`] does (a
    /// replaying source run dry).
    ///
    /// ```
    /// use stringphone_testkit::TestRng;
    /// let mut rng = TestRng::replay(&[&[1, 2, 3]]);
    /// assert_eq!(rng.array::<2>(), [1, 2]);
    /// ```
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_bytes(&mut out);
        out
    }

    /// A seed for [`TestRng::seeded`]: the number in the environment variable `var`
    /// (to replay a run), else one from the clock. Print it with the results.
    ///
    /// ```
    /// use stringphone_testkit::TestRng;
    /// let seed = TestRng::seed_from_env("NO_SUCH_SEED_VARIABLE");
    /// println!("seed {seed}");
    /// ```
    #[must_use]
    pub fn seed_from_env(var: &str) -> u64 {
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64 | 1)
            })
    }

    /// Whether a replaying source has handed out every byte it was given (a seeded
    /// stream never is).
    ///
    /// ```
    /// use rand_core::RngCore;
    /// use stringphone_testkit::TestRng;
    /// let mut rng = TestRng::replay(&[&[0; 4]]);
    /// rng.next_u32();
    /// assert!(rng.exhausted());
    /// ```
    #[must_use]
    pub fn exhausted(&self) -> bool {
        match &self.source {
            Source::Replay { bytes, pos } => *pos == bytes.len(),
            Source::Stream(_) => false,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    /// Panics when a replaying source runs dry: in a test, that is the failure.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = self.try_fill_bytes(dest) {
            panic!("{e}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        match &mut self.source {
            Source::Replay { bytes, pos } => {
                let end = *pos + dest.len();
                let src = bytes
                    .get(*pos..end)
                    .ok_or_else(|| rand_core::Error::new("TestRng ran dry"))?;
                dest.copy_from_slice(src);
                *pos = end;
                Ok(())
            }
            Source::Stream(stream) => stream.try_fill_bytes(dest),
        }
    }
}

// Only ever fed fixed test bytes or a test seed: never for real keys.
impl CryptoRng for TestRng {}
