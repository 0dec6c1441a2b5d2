//! Each conformance check can fail: deliberately broken stores and backends, each
//! wrong in one way, are caught by the check that covers that part of the contract
//! (and the working originals pass the same checks).

use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::{
    Backend, BoxPublicKey, BoxSecret, Error, MarkSlot, MemoryTrustStore, ParticipantId, PublicKey,
    SigningSeed, StoreError, TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_testkit::backend;
use stringphone_testkit::store::{self, SharedMemoryStore, StorePlace};

/// How a [`Broken`] store is wrong.
#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    /// Stores one less than every mark it is given.
    LowersMarks,
    /// `remove` says it removed, and keeps the key.
    KeepsRemoved,
    /// Refuses a group state that is not one, after writing it.
    WritesThenFails,
    /// Gives back a group state with its last byte dropped.
    TruncatesGroupState,
    /// Nothing wrong.
    None,
}

struct Broken {
    inner: MemoryTrustStore,
    flaw: Flaw,
}

impl Broken {
    fn new(flaw: Flaw) -> Self {
        Broken {
            inner: MemoryTrustStore::new(),
            flaw,
        }
    }
}

impl TrustStore for Broken {
    type Iter<'a> = <MemoryTrustStore as TrustStore>::Iter<'a>;
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.inner.get(id)
    }
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.inner.insert(id, key)
    }
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        if self.flaw == Flaw::KeepsRemoved {
            return self.inner.get(id);
        }
        self.inner.remove(id)
    }
    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        self.inner.iter()
    }
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        self.inner.load_mark(slot)
    }
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        let lowered = if self.flaw == Flaw::LowersMarks {
            mark.saturating_sub(1)
        } else {
            mark
        };
        self.inner.save_mark(slot, lowered)
    }
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let mut state = self.inner.load_group_state()?;
        if self.flaw == Flaw::TruncatesGroupState {
            if let Some(s) = state.as_mut() {
                s.pop();
            }
        }
        Ok(state)
    }
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.inner.save_group_state(state)?;
        if self.flaw == Flaw::WritesThenFails && state == b"not a group state" {
            return Err(StoreError::msg("not a group state"));
        }
        Ok(())
    }
}

type OneHandleCheck = fn(&mut Broken) -> stringphone_testkit::Check;

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
fn failing(flaw: Flaw) -> Vec<&'static str> {
    one_handle_checks()
        .into_iter()
        .filter_map(|(name, check)| {
            let verdict = check(&mut Broken::new(flaw));
            if let Err(e) = &verdict {
                println!("{name}: {e}");
            }
            verdict.is_err().then_some(name)
        })
        .collect()
}

#[test]
fn each_broken_store_fails_the_check_of_what_it_breaks() {
    assert_eq!(failing(Flaw::None), Vec::<&str>::new());
    assert_eq!(
        failing(Flaw::LowersMarks),
        ["raised_marks_are_kept_exactly"]
    );
    assert_eq!(failing(Flaw::KeepsRemoved), ["trust_round_trips"]);
    assert_eq!(
        failing(Flaw::WritesThenFails),
        ["a_refused_call_changes_nothing"]
    );
    assert_eq!(
        failing(Flaw::TruncatesGroupState),
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

// ----- broken backends ----------------------------------------------------------------

/// RustCrypto, but for the participant id: the last 16 bytes of the key, not SHA-256's.
struct WrongIds;

/// RustCrypto, but an X25519 public key with its first byte flipped.
struct WrongBoxKeys;

/// RustCrypto, but HKDF ignores its salt.
struct SaltlessHkdf;

macro_rules! rustcrypto_but {
    ($name:ident { $($item:item)* }) => {
        impl Backend for $name {
            type SigningKey = <RustCrypto as Backend>::SigningKey;
            type VerifyingKey = <RustCrypto as Backend>::VerifyingKey;
            type TopicCipher = <RustCrypto as Backend>::TopicCipher;
            type BoxCipher = <RustCrypto as Backend>::BoxCipher;
            type MessageCipher = <RustCrypto as Backend>::MessageCipher;
            fn signing_key(seed: &SigningSeed) -> Self::SigningKey {
                RustCrypto::signing_key(seed)
            }
            fn verifying_key(key: &PublicKey) -> Result<Self::VerifyingKey, Error> {
                RustCrypto::verifying_key(key)
            }
            fn box_cipher(p: &BoxPublicKey, s: &BoxSecret) -> Self::BoxCipher {
                RustCrypto::box_cipher(p, s)
            }
            fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error> {
                RustCrypto::static_box_public(key)
            }
            $($item)*
        }
    };
}

rustcrypto_but!(WrongIds {
    fn participant_id(key: &PublicKey) -> ParticipantId {
        let mut id = [0u8; 16];
        id.copy_from_slice(&key.as_bytes()[16..]);
        ParticipantId::from_bytes(id)
    }
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        RustCrypto::box_public_key(secret)
    }
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        RustCrypto::hkdf_sha256(salt, ikm, info)
    }
});

rustcrypto_but!(WrongBoxKeys {
    fn participant_id(key: &PublicKey) -> ParticipantId {
        RustCrypto::participant_id(key)
    }
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        let mut bytes = RustCrypto::box_public_key(secret).to_bytes();
        bytes[0] ^= 1;
        BoxPublicKey::from_bytes(bytes)
    }
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        RustCrypto::hkdf_sha256(salt, ikm, info)
    }
});

rustcrypto_but!(SaltlessHkdf {
    fn participant_id(key: &PublicKey) -> ParticipantId {
        RustCrypto::participant_id(key)
    }
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        RustCrypto::box_public_key(secret)
    }
    fn hkdf_sha256(_salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        RustCrypto::hkdf_sha256(&[], ikm, info)
    }
});

/// RustCrypto, but a verifier that accepts every signature.
struct AcceptsEverything;

#[derive(Clone)]
struct YesMan;

impl signature::Verifier<ed25519::Signature> for YesMan {
    fn verify(&self, _: &[u8], _: &ed25519::Signature) -> Result<(), signature::Error> {
        Ok(())
    }
}

impl Backend for AcceptsEverything {
    type SigningKey = <RustCrypto as Backend>::SigningKey;
    type VerifyingKey = YesMan;
    type TopicCipher = <RustCrypto as Backend>::TopicCipher;
    type BoxCipher = <RustCrypto as Backend>::BoxCipher;
    type MessageCipher = <RustCrypto as Backend>::MessageCipher;
    fn signing_key(seed: &SigningSeed) -> Self::SigningKey {
        RustCrypto::signing_key(seed)
    }
    fn verifying_key(key: &PublicKey) -> Result<YesMan, Error> {
        RustCrypto::verifying_key(key).map(|_| YesMan)
    }
    fn participant_id(key: &PublicKey) -> ParticipantId {
        RustCrypto::participant_id(key)
    }
    fn box_public_key(secret: &BoxSecret) -> BoxPublicKey {
        RustCrypto::box_public_key(secret)
    }
    fn box_cipher(p: &BoxPublicKey, s: &BoxSecret) -> Self::BoxCipher {
        RustCrypto::box_cipher(p, s)
    }
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        RustCrypto::hkdf_sha256(salt, ikm, info)
    }
    fn static_box_public(key: &PublicKey) -> Result<BoxPublicKey, Error> {
        RustCrypto::static_box_public(key)
    }
}

#[test]
fn a_verifier_that_accepts_everything_fails_the_rule_checks() {
    backend::edge_cases_get_libsodiums_verdict::<RustCrypto>().unwrap();
    backend::signatures_are_rfc8032s::<RustCrypto>().unwrap();
    let err = backend::edge_cases_get_libsodiums_verdict::<AcceptsEverything>().unwrap_err();
    println!("{}", err.lines().next().unwrap());
    assert!(err.contains("differs from libsodium"), "{err}");
    assert!(backend::signatures_are_rfc8032s::<AcceptsEverything>().is_err());
    assert!(backend::classic_vectors::<AcceptsEverything>().is_err());
}

#[test]
fn each_broken_backend_fails_the_check_of_what_it_breaks() {
    // The working original passes what the broken ones fail.
    backend::participant_ids_are_sha256_prefixes::<RustCrypto>().unwrap();
    backend::boxes_are_x25519s::<RustCrypto>().unwrap();
    backend::hkdf_is_rfc5869s::<RustCrypto>().unwrap();
    backend::classic_vectors::<RustCrypto>().unwrap();

    let err = backend::participant_ids_are_sha256_prefixes::<WrongIds>().unwrap_err();
    println!("wrong ids: {err}");
    // The original's vectors catch it too (the ids they give).
    let err = backend::classic_vectors::<WrongIds>().unwrap_err();
    println!("wrong ids, vectors: {err}");

    let err = backend::boxes_are_x25519s::<WrongBoxKeys>().unwrap_err();
    println!("wrong box keys: {err}");
    assert!(backend::static_box_keys_agree::<WrongBoxKeys>().is_err());
    assert!(backend::classic_vectors::<WrongBoxKeys>().is_err());

    let err = backend::hkdf_is_rfc5869s::<SaltlessHkdf>().unwrap_err();
    println!("saltless hkdf: {err}");
    // What it does not touch still passes.
    backend::participant_ids_are_sha256_prefixes::<SaltlessHkdf>().unwrap();
}
