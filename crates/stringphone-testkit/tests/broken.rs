//! Each conformance check can fail: deliberately broken stores and backends, each
//! wrong in one way, are caught by the check that covers that part of the contract
//! (and the working originals pass the same checks).

use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::{
    Backend, BoxPublicKey, BoxSecret, Error, MemoryTrustStore, ParticipantId, PublicKey,
    SigningSeed,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_testkit::backend;
use stringphone_testkit::store::{self, FlawedStore, Flaws, SharedMemoryStore, StorePlace};

/// A store with one flaw, set by `flaw` (none with `|_| ()`).
fn broken(flaw: fn(&mut Flaws)) -> FlawedStore {
    let mut flaws = Flaws::default();
    flaw(&mut flaws);
    FlawedStore::new(flaws)
}

type OneHandleCheck = fn(&mut FlawedStore) -> stringphone_testkit::Check;

fn one_handle_checks() -> [(&'static str, OneHandleCheck); 4] {
    [
        ("trust_round_trips", store::trust_round_trips),
        (
            "raised_marks_are_kept_exactly",
            store::raised_marks_are_kept_exactly,
        ),
        ("group_state_round_trips", store::group_state_round_trips),
        (
            "a_refused_call_changes_nothing",
            store::a_refused_call_changes_nothing,
        ),
    ]
}

/// Which one-handle checks fail on a store with `flaw`.
fn failing(flaw: fn(&mut Flaws)) -> Vec<&'static str> {
    one_handle_checks()
        .into_iter()
        .filter_map(|(name, check)| {
            let verdict = check(&mut broken(flaw));
            if let Err(e) = &verdict {
                println!("{name}: {e}");
            }
            verdict.is_err().then_some(name)
        })
        .collect()
}

#[test]
fn each_broken_store_fails_the_check_of_what_it_breaks() {
    assert_eq!(failing(|_| ()), Vec::<&str>::new());
    assert_eq!(
        failing(|f| f.lowers_marks = true),
        ["raised_marks_are_kept_exactly"]
    );
    assert_eq!(failing(|f| f.keeps_removed = true), ["trust_round_trips"]);
    assert_eq!(
        failing(|f| f.writes_then_fails = true),
        ["a_refused_call_changes_nothing"]
    );
    assert_eq!(
        failing(|f| f.truncates_group_state = true),
        ["group_state_round_trips", "a_refused_call_changes_nothing"]
    );
}

/// Handles on one in-memory store: trust and group state are shared and kept like a
/// persistent store's, but marks are not saved by the shared-store rule.
struct SharedPlace(SharedMemoryStore);

impl StorePlace for SharedPlace {
    type Store = SharedMemoryStore;
    fn open(&self) -> Result<SharedMemoryStore, String> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_shared_store_that_lets_any_handle_lower_a_mark_fails_the_shared_rule() {
    let place = || SharedPlace(SharedMemoryStore::new());
    // What it does right passes.
    for check in [
        store::trust_is_durable_and_shared::<SharedPlace>,
        store::marks_are_durable,
        store::group_state_is_durable_and_shared,
        store::a_refused_call_changes_nothing_durably,
    ] {
        check(&place()).unwrap();
    }
    let err = store::marks_never_fall_below_what_another_handle_relies_on(&place()).unwrap_err();
    println!("{err}");
    assert!(err.contains("B saved 10"), "{err}");
    // Nor is never lowering any mark the rule: a handle's own take-back is refused.
    let never = SharedPlace(SharedMemoryStore::marks_never_fall());
    let err = store::marks_never_fall_below_what_another_handle_relies_on(&never).unwrap_err();
    println!("{err}");
    assert!(err.contains("A saved 44"), "{err}");
}

/// A "persistent" store that forgets everything between handles: every durability
/// check fails on it.
struct Forgetful;

impl StorePlace for Forgetful {
    type Store = MemoryTrustStore;
    fn open(&self) -> Result<MemoryTrustStore, String> {
        Ok(MemoryTrustStore::new())
    }
}

#[test]
fn a_store_that_forgets_between_handles_fails_every_durability_check() {
    // One handle at a time, it keeps the contract.
    for (_, check) in [
        (
            "trust_round_trips",
            store::trust_round_trips as fn(&mut _) -> _,
        ),
        (
            "raised_marks_are_kept_exactly",
            store::raised_marks_are_kept_exactly,
        ),
        ("group_state_round_trips", store::group_state_round_trips),
        (
            "a_refused_call_changes_nothing",
            store::a_refused_call_changes_nothing,
        ),
    ] {
        store::on_a_handle(Forgetful, check).unwrap();
    }
    for (name, check) in [
        (
            "trust_is_durable_and_shared",
            store::trust_is_durable_and_shared::<Forgetful> as fn(&Forgetful) -> _,
        ),
        ("marks_are_durable", store::marks_are_durable),
        (
            "marks_never_fall_below_what_another_handle_relies_on",
            store::marks_never_fall_below_what_another_handle_relies_on,
        ),
        (
            "group_state_is_durable_and_shared",
            store::group_state_is_durable_and_shared,
        ),
        (
            "a_refused_call_changes_nothing_durably",
            store::a_refused_call_changes_nothing_durably,
        ),
    ] {
        let err = check(&Forgetful).unwrap_err();
        println!("{name}: {err}");
    }
}

// ----- broken backends ----------------------------------------------------------------

use stringphone_core::reexports::aead::consts::{U0, U12, U16, U32};
use stringphone_core::reexports::aead::{
    self, AeadCore, AeadInPlace, Key, KeyInit, KeySizeUser, Nonce, Tag,
};

/// RustCrypto, but for one flaw, named by `F`.
struct Flawed<const F: u8>;

/// The participant id is the last 16 bytes of the key, not SHA-256's first.
const WRONG_IDS: u8 = 1;
/// An X25519 public key with its first byte flipped.
const WRONG_BOX_KEYS: u8 = 2;
/// HKDF ignores its salt.
const SALTLESS_HKDF: u8 = 3;
/// Any 32 bytes make a verifying key, every signature verifies, and every batch.
const ACCEPTS_EVERYTHING: u8 = 4;
/// The message cipher runs under another key than the one it is given.
const WRONG_MESSAGE_KEY: u8 = 5;

type Real = RustCrypto;

/// The verifying key of [`Flawed`]: RustCrypto's, or nothing for [`ACCEPTS_EVERYTHING`].
#[derive(Clone)]
struct Verifying<const F: u8>(Option<<Real as Backend>::VerifyingKey>);

impl<const F: u8> signature::Verifier<ed25519::Signature> for Verifying<F> {
    fn verify(&self, msg: &[u8], sig: &ed25519::Signature) -> Result<(), signature::Error> {
        match &self.0 {
            Some(key) if F != ACCEPTS_EVERYTHING => key.verify(msg, sig),
            _ => Ok(()),
        }
    }
}

/// The message cipher of [`Flawed`]: RustCrypto's, under a changed key for
/// [`WRONG_MESSAGE_KEY`].
struct MessageCipher<const F: u8>(<Real as Backend>::MessageCipher);

impl<const F: u8> KeySizeUser for MessageCipher<F> {
    type KeySize = U32;
}

impl<const F: u8> KeyInit for MessageCipher<F> {
    fn new(key: &Key<Self>) -> Self {
        let mut key = *key;
        if F == WRONG_MESSAGE_KEY {
            key[0] ^= 1;
        }
        MessageCipher(<Real as Backend>::MessageCipher::new(&key))
    }
}

impl<const F: u8> AeadCore for MessageCipher<F> {
    type NonceSize = U12;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

impl<const F: u8> AeadInPlace for MessageCipher<F> {
    fn encrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        aad: &[u8],
        buffer: &mut [u8],
    ) -> aead::Result<Tag<Self>> {
        self.0.encrypt_in_place_detached(nonce, aad, buffer)
    }
    fn decrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        aad: &[u8],
        buffer: &mut [u8],
        tag: &Tag<Self>,
    ) -> aead::Result<()> {
        self.0.decrypt_in_place_detached(nonce, aad, buffer, tag)
    }
}

impl<const F: u8> Backend for Flawed<F> {
    type SigningKey = <Real as Backend>::SigningKey;
    type VerifyingKey = Verifying<F>;
    type TopicCipher = <Real as Backend>::TopicCipher;
    type BoxCipher = <Real as Backend>::BoxCipher;
    type MessageCipher = MessageCipher<F>;

    fn signing_key(seed: &SigningSeed) -> Self::SigningKey {
        Real::signing_key(seed)
    }
    fn verifying_key(key: &PublicKey) -> Result<Self::VerifyingKey, Error> {
        match Real::verifying_key(key) {
            Ok(real) => Ok(Verifying(Some(real))),
            Err(_) if F == ACCEPTS_EVERYTHING => Ok(Verifying(None)),
            Err(e) => Err(e),
        }
    }
    fn participant_id(key: &PublicKey) -> ParticipantId {
        if F != WRONG_IDS {
            return Real::participant_id(key);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&key.as_bytes()[16..]);
        ParticipantId::from_bytes(id)
    }
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        let mut bytes = Real::box_public_key(secret).to_bytes();
        if F == WRONG_BOX_KEYS {
            bytes[0] ^= 1;
        }
        BoxPublicKey::from_bytes(bytes)
    }
    fn box_cipher(p: &BoxPublicKey, s: &BoxSecret) -> Self::BoxCipher {
        Real::box_cipher(p, s)
    }
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let salt = if F == SALTLESS_HKDF { &[][..] } else { salt };
        Real::hkdf_sha256(salt, ikm, info)
    }
    fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error> {
        Real::static_box_public(key)
    }
    fn batch_eligible(_: &Self::VerifyingKey) -> bool {
        F == ACCEPTS_EVERYTHING
    }
    fn verify_batch(_: &[stringphone_core::backend::BatchEntry<'_, Self::VerifyingKey>]) -> bool {
        F == ACCEPTS_EVERYTHING
    }
}

/// The checks of `backend_conformance!` that fail on backend `B`.
fn failing_on<B: Backend>() -> Vec<&'static str> {
    type Of = fn() -> stringphone_testkit::Check;
    let checks: [(&str, Of); 10] = [
        (
            "edge_cases_get_libsodiums_verdict",
            backend::edge_cases_get_libsodiums_verdict::<B>,
        ),
        (
            "public_keys_are_taken_by_the_rule",
            backend::public_keys_are_taken_by_the_rule::<B>,
        ),
        (
            "signatures_are_rfc8032s",
            backend::signatures_are_rfc8032s::<B>,
        ),
        (
            "participant_ids_are_sha256_prefixes",
            backend::participant_ids_are_sha256_prefixes::<B>,
        ),
        ("classic_vectors", backend::classic_vectors::<B>),
        ("boxes_are_x25519s", backend::boxes_are_x25519s::<B>),
        (
            "message_cipher_is_rfc8439s",
            backend::message_cipher_is_rfc8439s::<B>,
        ),
        ("hkdf_is_rfc5869s", backend::hkdf_is_rfc5869s::<B>),
        ("static_box_keys_agree", backend::static_box_keys_agree::<B>),
        (
            "batches_never_accept_a_refused_signature",
            backend::batches_never_accept_a_refused_signature::<B>,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(name, check)| {
            let verdict = check();
            if let Err(e) = &verdict {
                println!("{name}: {}", e.lines().next().unwrap_or(""));
            }
            verdict.is_err().then_some(name)
        })
        .collect()
}

#[test]
fn each_broken_backend_fails_the_checks_of_what_it_breaks() {
    // The real one, and the wrapper with no flaw, pass everything.
    assert_eq!(failing_on::<RustCrypto>(), Vec::<&str>::new());
    assert_eq!(failing_on::<Flawed<0>>(), Vec::<&str>::new());
    // Each flaw is caught where it lies (and the vectors catch what the wire shows).
    assert_eq!(
        failing_on::<Flawed<WRONG_IDS>>(),
        ["participant_ids_are_sha256_prefixes", "classic_vectors"]
    );
    assert_eq!(
        failing_on::<Flawed<WRONG_BOX_KEYS>>(),
        [
            "classic_vectors",
            "boxes_are_x25519s",
            "static_box_keys_agree"
        ]
    );
    assert_eq!(failing_on::<Flawed<SALTLESS_HKDF>>(), ["hkdf_is_rfc5869s"]);
    assert_eq!(
        failing_on::<Flawed<WRONG_MESSAGE_KEY>>(),
        ["message_cipher_is_rfc8439s"]
    );
    assert_eq!(
        failing_on::<Flawed<ACCEPTS_EVERYTHING>>(),
        [
            "edge_cases_get_libsodiums_verdict",
            "public_keys_are_taken_by_the_rule",
            "signatures_are_rfc8032s",
            "classic_vectors",
            "batches_never_accept_a_refused_signature",
        ]
    );
}
