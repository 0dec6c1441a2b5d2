//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod v2;

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

/// The tests' deterministic random source (replays a vector's bytes).
#[allow(unused_imports)] // not every test replays
pub use stringphone_testkit::TestRng;

pub fn unhex(s: &str) -> Vec<u8> {
    stringphone_testkit::vectors::unhex(s).unwrap_or_else(|e| panic!("in the vectors: {e}"))
}

/// `vectors/NAME` in this repository (see `vectors/README.md`), or the file named by
/// the environment variable `var`.
pub fn vector_path(var: &str, name: &str) -> PathBuf {
    stringphone_testkit::vectors::path(var, name)
}
