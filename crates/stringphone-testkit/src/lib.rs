//! The stringphone test kit: what every crypto backend and every trust store must
//! pass, and the pieces the workspace's tests share.
//!
//! - [`backend_conformance!`] makes the `#[test]`s of the contract
//!   [`Backend`](stringphone_core::Backend)'s docs promise (the checks are in
//!   [`backend`]); [`store_conformance!`] does the same for
//!   [`TrustStore`](stringphone_core::TrustStore) ([`store`]). Every backend and store
//!   of this workspace runs them from its own tests; a backend or store written
//!   elsewhere can run them too, with this crate as a git dev-dependency.
//! - [`TestRng`]: the one deterministic random source of the tests; [`TempDir`]: a
//!   fresh directory, removed on drop.
//! - [`vectors`]: the repository's vector files, found and read; [`scenario`]: the
//!   group the v2 scenario tests build, on any store; [`damage`]: damaged variants of a
//!   store's file, for its parser to refuse; [`small_order`]: every encoding of a
//!   point of small order, derived from the curve.
//!
//! Every check is a plain function returning [`Check`], so that a test can also show
//! a check failing on a deliberately broken backend or store (this crate's own tests
//! do).
//!
//! ```
//! use stringphone_testkit::store::trust_round_trips;
//! trust_round_trips(&mut stringphone_core::MemoryTrustStore::new()).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod damage;
mod rng;
pub mod scenario;
pub mod small_order;
pub mod store;
mod temp;
pub mod vectors;

pub use rng::TestRng;
pub use temp::{read_records, write_records, TempDir};

/// What a check finds: `Err` says what is wrong, for the test's panic message.
///
/// ```
/// let passed: stringphone_testkit::Check = Ok(());
/// assert!(passed.is_ok());
/// ```
pub type Check = Result<(), String>;

/// Returns `Err` from the enclosing check when `cond` is false.
macro_rules! ensure {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("failed: {}", stringify!($cond)));
        }
    };
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}
pub(crate) use ensure;

/// `Ok` when `decoded` is a message verified as from `sender` carrying exactly
/// `plaintext`; otherwise what it is.
///
/// ```
/// use stringphone_core::{Decoded, ParticipantId};
/// use stringphone_testkit::verified_message;
/// let alice = ParticipantId::from_bytes([1; 16]);
/// let got = Decoded::Message { sender: alice, verified: true, plaintext: b"hi".to_vec() };
/// assert!(verified_message(&got, alice, b"hi").is_ok());
/// assert!(verified_message(&got, alice, b"ho").is_err());
/// assert!(verified_message(&Decoded::<Vec<u8>>::Own, alice, b"hi").is_err());
/// ```
pub fn verified_message<P: AsRef<[u8]> + std::fmt::Debug>(
    decoded: &stringphone_core::Decoded<P>,
    sender: stringphone_core::ParticipantId,
    plaintext: &[u8],
) -> Check {
    match decoded {
        stringphone_core::Decoded::Message {
            sender: from,
            verified: true,
            plaintext: got,
        } if *from == sender && got.as_ref() == plaintext => Ok(()),
        stringphone_core::Decoded::Message {
            sender: from,
            verified,
            plaintext: got,
        } => Err(format!(
            "a message from {from} (verified: {verified}) of {} bytes, not the {} bytes \
             expected from {sender}, verified",
            got.as_ref().len(),
            plaintext.len()
        )),
        other => Err(format!("expected a message, got {other:?}")),
    }
}

/// A decode result, for assertion messages: the plaintext, or what came back.
///
/// ```
/// use stringphone_core::{Decoded, Error, ParticipantId};
/// let sender = ParticipantId::from_bytes([1; 16]);
/// let got: Result<Decoded<Vec<u8>>, Error> =
///     Ok(Decoded::Message { sender, verified: true, plaintext: b"hi".to_vec() });
/// assert_eq!(stringphone_testkit::show(&got), "the message \"hi\"");
/// ```
#[must_use]
pub fn show(d: &Result<stringphone_core::Decoded<Vec<u8>>, stringphone_core::Error>) -> String {
    match d {
        Ok(stringphone_core::Decoded::Message { plaintext, .. }) => {
            format!("the message {:?}", String::from_utf8_lossy(plaintext))
        }
        other => format!("{other:?}"),
    }
}

/// The plaintext of a decoded message as text, or a description of what came back.
///
/// ```
/// use stringphone_core::{Decoded, Error};
/// let got: Result<Decoded<Vec<u8>>, Error> = Err(Error::BadSignature);
/// assert!(stringphone_testkit::text(got).starts_with("not a message"));
/// ```
#[must_use]
pub fn text(d: Result<stringphone_core::Decoded<Vec<u8>>, stringphone_core::Error>) -> String {
    match d {
        Ok(stringphone_core::Decoded::Message { plaintext, .. }) => {
            String::from_utf8_lossy(&plaintext).into_owned()
        }
        other => format!("not a message: {other:?}"),
    }
}

/// An error and its causes, once each, joined by `": "`: what a program that prints
/// the chain shows.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
/// assert_eq!(stringphone_testkit::error_chain(&io), "disk full");
/// ```
#[must_use]
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Fails the test with the check's message. Used by the macros' tests.
///
/// ```
/// stringphone_testkit::report(Ok(()));
/// ```
///
/// ```should_panic
/// stringphone_testkit::report(Err("the mark went down".into()));
/// ```
#[track_caller]
pub fn report(check: Check) {
    if let Err(e) = check {
        panic!("{e}");
    }
}

/// One `#[test]` per check of [`backend`], on the backend type given, in a module
/// `backend_conformance`.
///
/// Put it in an integration test of the backend's crate (`tests/conformance.rs`). The
/// vector files are read from this repository's `vectors/` or from the files named by
/// `STRINGPHONE_VECTORS` and `STRINGPHONE_ED25519_VECTORS`.
///
/// A backend written elsewhere runs the same tests (in its `Cargo.toml`:
/// `stringphone-testkit = { git = "…" }` under `[dev-dependencies]`):
///
/// ```
/// # mod outside {
/// # use stringphone_rustcrypto::RustCrypto as Theirs;
/// use stringphone_core::Backend;
///
/// /// A backend of someone else's: here it borrows everything from RustCrypto.
/// pub struct MyBackend;
///
/// impl Backend for MyBackend {
///     type SigningKey = <Theirs as Backend>::SigningKey;
///     type VerifyingKey = <Theirs as Backend>::VerifyingKey;
///     type TopicCipher = <Theirs as Backend>::TopicCipher;
///     type BoxCipher = <Theirs as Backend>::BoxCipher;
///     type MessageCipher = <Theirs as Backend>::MessageCipher;
///     # fn signing_key(s: &stringphone_core::SigningSeed) -> Self::SigningKey { Theirs::signing_key(s) }
///     # fn verifying_key(k: &stringphone_core::PublicKey) -> Result<Self::VerifyingKey, stringphone_core::Error> { Theirs::verifying_key(k) }
///     # fn participant_id(k: &stringphone_core::PublicKey) -> stringphone_core::ParticipantId { Theirs::participant_id(k) }
///     # fn box_public_key(s: &stringphone_core::BoxSecret) -> stringphone_core::BoxPublicKey { Theirs::box_public_key(s) }
///     # fn box_cipher(p: &stringphone_core::BoxPublicKey, s: &stringphone_core::BoxSecret) -> Self::BoxCipher { Theirs::box_cipher(p, s) }
///     # fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> stringphone_core::reexports::zeroize::Zeroizing<[u8; 32]> { Theirs::hkdf_sha256(salt, ikm, info) }
///     # fn static_box_public(k: &stringphone_core::PublicKey) -> Result<stringphone_core::BoxPublicKey, stringphone_core::Error> { Theirs::static_box_public(k) }
///     // … the functions, each the primitive the docs name
/// }
///
/// stringphone_testkit::backend_conformance!(MyBackend);
/// # }
/// # stringphone_testkit::backend::classic_vectors::<outside::MyBackend>().unwrap();
/// ```
#[macro_export]
macro_rules! backend_conformance {
    ($backend:ty) => {
        #[allow(unused_imports)]
        mod backend_conformance {
            use super::*;
            $crate::__backend_tests!(
                $backend;
                edge_cases_get_libsodiums_verdict,
                public_keys_are_taken_by_the_rule,
                signatures_are_rfc8032s,
                participant_ids_are_sha256_prefixes,
                classic_vectors,
                boxes_are_x25519s,
                message_cipher_is_rfc8439s,
                hkdf_is_rfc5869s,
                static_box_keys_agree,
                batches_never_accept_a_refused_signature,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __backend_tests {
    ($backend:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            pub fn $name() {
                $crate::report($crate::backend::$name::<$backend>());
            }
        )+
    };
}

/// One `#[test]` per check of [`store`], in a module `store_conformance`.
///
/// `store_conformance!(NEW)`: the checks on one handle, each on the fresh store
/// `NEW()` makes (a function or closure). `store_conformance!(persistent: PLACE)`: a
/// persistent store; `PLACE()` makes a fresh [`store::StorePlace`], and the checks of
/// durability and of several handles run too.
///
/// ```
/// # mod memory {
/// use stringphone_core::MemoryTrustStore;
/// stringphone_testkit::store_conformance!(MemoryTrustStore::new);
/// # }
/// ```
///
/// ```
/// # mod file {
/// use stringphone_store_file::FileTrustStore;
/// use stringphone_testkit::store::StorePlace;
/// use stringphone_testkit::TempDir;
///
/// /// A directory of the file store, removed when dropped.
/// struct Dir(TempDir);
///
/// impl StorePlace for Dir {
///     type Store = FileTrustStore;
///     fn open(&self) -> Result<FileTrustStore, String> {
///         FileTrustStore::open(self.0.path()).map_err(|e| e.to_string())
///     }
/// }
///
/// stringphone_testkit::store_conformance!(persistent: || Dir(TempDir::new("file-store")));
/// # }
/// ```
#[macro_export]
macro_rules! store_conformance {
    (persistent: $place:expr) => {
        #[allow(unused_imports)]
        mod store_conformance {
            use super::*;
            $crate::__store_tests!(
                $crate::store::on_a_handle, ($place)();
                trust_round_trips,
                raised_marks_are_kept_exactly,
                group_state_round_trips,
                a_refused_call_changes_nothing,
            );
            $crate::__store_tests!(
                $crate::store::on_a_place, ($place)();
                trust_is_durable_and_shared,
                marks_are_durable,
                marks_never_fall_below_what_another_handle_relies_on,
                group_state_is_durable_and_shared,
                a_refused_call_changes_nothing_durably,
            );
        }
    };
    ($new:expr) => {
        #[allow(unused_imports)]
        mod store_conformance {
            use super::*;
            $crate::__store_tests!(
                $crate::store::on_a_new_store, $new;
                trust_round_trips,
                raised_marks_are_kept_exactly,
                group_state_round_trips,
                a_refused_call_changes_nothing,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_tests {
    ($runner:path, $arg:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            pub fn $name() {
                $crate::report($runner($arg, $crate::store::$name));
            }
        )+
    };
}
