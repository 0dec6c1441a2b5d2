//! The bare-metal configuration, run on the host: this crate's dependencies exactly as
//! a firmware has them (the core without `alloc`, the RustCrypto backend without
//! `std` and so without dalek's precomputed tables). Run it on its own, so that no
//! other workspace member's features unify in, and with the firmware's compact SHA-2:
//!
//! ```sh
//! cargo test -p stringphone-no-heap --features stringphone-rustcrypto/compact-sha2
//! ```
//!
//! (`cargo test --workspace` runs it too, but with the other members' features.)

use rand_core::OsRng;
use serde_json::Value;
use stringphone_core::wire::{MAX_DISCOVERY_LEN, REPLY_LEN};
use stringphone_core::{
    verify_signature, DecodeMode, Decoded, Error, FixedTrustStore, PreparedKey, PublicKey,
    SigningSeed, Topic, TopicKey, TrustStore,
};
use stringphone_no_heap::MAX_MESSAGE;
use stringphone_rustcrypto::RustCrypto;

type Device = Topic<RustCrypto, FixedTrustStore<8>>;

/// Whether this run has the core without `alloc`: only then is the longest discovery
/// message a classic reply (v2, which needs `alloc`, is compiled out).
fn bare() -> bool {
    MAX_DISCOVERY_LEN == REPLY_LEN
}

/// The cases of the repository's `vectors/ed25519-edge.json` (or the file named by
/// `$STRINGPHONE_ED25519_VECTORS`). A file without cases fails the test.
fn vectors() -> Vec<Value> {
    let path = std::env::var_os("STRINGPHONE_ED25519_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/ed25519-edge.json")
        });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).expect("not JSON");
    let cases = file["cases"].as_array().expect("no `cases` array").clone();
    assert!(!cases.is_empty(), "`cases` is empty");
    cases
}

fn field(case: &Value, name: &str) -> Vec<u8> {
    let text = case[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string in {case}"));
    hex::decode(text).unwrap_or_else(|e| panic!("`{name}`: {e} in {case}"))
}

/// Every Ed25519 edge case gets libsodium's verdict, through both calls decode makes:
/// `verify_signature` (a key not cached) and a `PreparedKey` (a cached one).
#[test]
fn ed25519_edge_cases_get_libsodiums_verdict() {
    println!("core without alloc: {}", bare());
    // CI sets this for the run it means as the bare-metal configuration.
    if std::env::var_os("STRINGPHONE_BARE_METAL").is_some() {
        assert!(
            bare(),
            "the core was built with alloc: not the bare-metal configuration"
        );
    }
    let cases = vectors();
    let mut wrong = Vec::new();
    let mut accepted = 0;
    for case in &cases {
        let libsodium = case["libsodium_accepts"]
            .as_bool()
            .expect("`libsodium_accepts` is not a boolean");
        let (key, message, signature) = (
            field(case, "public_key"),
            field(case, "message"),
            field(case, "signature"),
        );
        let verdicts = match (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(signature)) {
            (Ok(key), Ok(signature)) => {
                let key = PublicKey::from_bytes(key);
                let direct = verify_signature::<RustCrypto>(&key, &message, &signature).is_ok();
                let prepared = PreparedKey::<RustCrypto>::new(&key)
                    .is_ok_and(|k| k.verify(&message, &signature).is_ok());
                [direct, prepared]
            }
            // No verifier can be handed a key or signature of the wrong length.
            _ => [false, false],
        };
        accepted += usize::from(verdicts[0]);
        if verdicts != [libsodium; 2] {
            wrong.push(format!(
                "{} #{}: {verdicts:?}, libsodium {libsodium}",
                case["set"], case["id"]
            ));
        }
    }
    println!(
        "{} cases, {accepted} accepted, {} differ from libsodium",
        cases.len(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "differ from libsodium:\n{}",
        wrong.join("\n")
    );
}

fn device(seed: u8) -> Device {
    Topic::with_store(
        SigningSeed::from_bytes([seed; 32]),
        Some(TopicKey::from_bytes([0x42; 32])),
        FixedTrustStore::new(),
    )
}

fn message_from(sender: &mut Device, text: &[u8]) -> Vec<u8> {
    let mut wire = [0u8; MAX_MESSAGE];
    let n = sender.encode_into(&mut OsRng, text, &mut wire).unwrap();
    wire[..n].to_vec()
}

/// More trusted peers than the cache has entries: each one's messages open, and the
/// ones whose entries gave way still verify.
#[test]
fn more_peers_than_cache_entries_all_decode() {
    let mut receiver = device(1);
    let mut peers: Vec<Device> = (2..9).map(device).collect();
    for peer in &peers {
        receiver.add_participant(peer.public_key()).unwrap();
    }
    let mut out = [0u8; MAX_MESSAGE];
    for (i, peer) in peers.iter_mut().enumerate() {
        let text = format!("from peer {i}");
        let wire = message_from(peer, text.as_bytes());
        match receiver.decode_into(&wire, DecodeMode::Strict, &mut out) {
            Ok(Decoded::Message {
                sender,
                verified: true,
                plaintext,
            }) => {
                assert_eq!(sender, peer.id());
                assert_eq!(plaintext, text.as_bytes());
            }
            other => panic!("peer {i}: {other:?}"),
        }
    }
}

/// The trust store, not the cache, decides. A store that maps a cached peer's id to
/// another key (changed behind the topic's back, through `trust_store_mut`) is obeyed:
/// the message signed by the cached key does not verify under the store's. A peer then
/// removed behind the topic's back is refused although its key is still cached.
#[test]
fn a_cached_key_never_outlives_the_store() {
    let mut receiver = device(1);
    let mut alice = device(2);
    let mallory = device(3);
    receiver.add_participant(alice.public_key()).unwrap();
    let wire = message_from(&mut alice, b"hello");
    let mut out = [0u8; MAX_MESSAGE];
    assert!(receiver
        .decode_into(&wire, DecodeMode::Strict, &mut out)
        .is_ok());

    receiver
        .trust_store_mut()
        .insert(alice.id(), mallory.public_key())
        .unwrap();
    assert!(matches!(
        receiver.decode_into(&wire, DecodeMode::Strict, &mut out),
        Err(Error::BadSignature)
    ));

    receiver.trust_store_mut().remove(&alice.id()).unwrap();
    assert!(matches!(
        receiver.decode_into(&wire, DecodeMode::Strict, &mut out),
        Err(Error::UntrustedSender(id)) if id == alice.id()
    ));
}
