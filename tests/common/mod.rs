//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod v2;

use rand_core::{CryptoRng, RngCore};
use stringphone::{Error, TopicKey};

/// Runs a generic test body once per backend compiled in.
#[macro_export]
macro_rules! for_each_backend {
    ($body:ident) => {
        #[cfg(feature = "rustcrypto")]
        mod rustcrypto {
            #[test]
            fn run() {
                super::$body::<stringphone::RustCrypto>("rustcrypto");
            }
        }
        #[cfg(feature = "ring")]
        mod ring {
            #[test]
            fn run() {
                super::$body::<stringphone::Ring>("ring");
            }
        }
    };
}

/// A "random" source that hands out exactly the bytes it was given, in order: the
/// randomness the original drew when it made the vectors. Running dry is a test
/// failure (the code drew more than the original did), reported as an RNG error.
pub struct ReplayRng {
    bytes: Vec<u8>,
    pos: usize,
}

impl ReplayRng {
    pub fn new(parts: &[&[u8]]) -> Self {
        ReplayRng {
            bytes: parts.concat(),
            pos: 0,
        }
    }

    pub fn exhausted(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.try_fill_bytes(dest).expect("ReplayRng ran dry")
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        let end = self.pos + dest.len();
        let src = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| rand_core::Error::new("ReplayRng ran dry"))?;
        dest.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }
}

// Only ever fed fixed test bytes.
impl CryptoRng for ReplayRng {}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vectors ({e}): {s:.40}"))
}

pub fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("expected 32 bytes")
}

pub fn topic_key(s: &str) -> TopicKey {
    TopicKey::from_bytes(unhex32(s))
}

/// `vectors/NAME` in this repository (see `vectors/README.md`), or the file named by
/// the environment variable `var`.
pub fn vector_path(var: &str, name: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("vectors")
            .join(name),
    }
}

/// The vectors' error category of an error.
pub fn category(e: &Error) -> &'static str {
    match e {
        Error::Malformed { .. } => "Malformed",
        Error::UnknownType(_) => "UnknownType",
        Error::BadSignature => "BadSignature",
        Error::UntrustedSender(_) => "UntrustedSender",
        Error::DecryptFailed => "DecryptFailed",
        Error::Introduction => "Introduction",
        Error::IntroductionReply => "IntroductionReply",
        Error::NotForUs { .. } => "NotForUs",
        Error::MissingTopicKey => "MissingTopicKey",
        _ => "other",
    }
}
