//! ring's verifier as this crate wraps it, called directly (no core in between), on
//! every case of `ed25519-edge.json` (or `$STRINGPHONE_ED25519_VECTORS`): the wrapper
//! alone must give libsodium's verdict. Bare ring, for comparison, must differ exactly
//! by accepting cases that the byte-level part of the rule refuses.

use std::path::PathBuf;

use ed25519::Signature;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::Value;
use signature::Verifier;
use stringphone_core::{rule, PublicKey};
use stringphone_ring::VerifyingKey;

fn cases() -> Vec<Value> {
    let path = match std::env::var_os("STRINGPHONE_ED25519_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../vectors/ed25519-edge.json"),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = v["cases"].as_array().cloned().unwrap_or_default();
    assert!(!cases.is_empty(), "{}: no cases", path.display());
    cases
}

fn field(c: &Value, name: &str) -> Vec<u8> {
    hex::decode(
        c[name]
            .as_str()
            .unwrap_or_else(|| panic!("no `{name}` in {c}")),
    )
    .unwrap_or_else(|e| panic!("`{name}` in {c}: {e}"))
}

/// The wrapper alone: key check, then the signature check and ring.
fn wrapped(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return false;
    };
    match VerifyingKey::new(&PublicKey::from_bytes(pk)) {
        Ok(vk) => vk.verify(msg, &Signature::from_bytes(&sig)).is_ok(),
        Err(_) => false,
    }
}

#[test]
fn the_wrapped_verifier_alone_gives_libsodiums_verdict() {
    let cases = cases();
    let mut wrong = Vec::new();
    let mut bare_extra = Vec::new();
    for c in &cases {
        let (pk, msg, sig) = (
            field(c, "public_key"),
            field(c, "message"),
            field(c, "signature"),
        );
        let libsodium = c["libsodium_accepts"].as_bool().expect("libsodium_accepts");
        let str_of = |k: &str| {
            c[k].as_str()
                .map_or_else(|| c[k].to_string(), str::to_owned)
        };
        let name = format!(
            "{} #{} ({})",
            str_of("set"),
            str_of("id"),
            str_of("description")
        );
        if wrapped(&pk, &msg, &sig) != libsodium {
            wrong.push(name.clone());
        }
        let bare = UnparsedPublicKey::new(&ED25519, &pk)
            .verify(&msg, &sig)
            .is_ok();
        if bare != libsodium {
            // Bare ring never refuses what libsodium accepts, and whatever extra it
            // accepts, the byte-level part of the rule refuses.
            assert!(
                bare && !libsodium,
                "{name}: bare ring refuses what libsodium accepts"
            );
            let pk: [u8; 32] = pk.as_slice().try_into().unwrap();
            let sig: [u8; 64] = sig.as_slice().try_into().unwrap();
            assert!(
                !(rule::public_key_passes(&pk) && rule::signature_passes(&sig)),
                "{name}: bare ring's extra acceptance is not covered by the rule"
            );
            bare_extra.push(name);
        }
    }
    println!(
        "{} cases: the wrapped ring verifier differs from libsodium on {}; bare ring accepts {} that libsodium refuses: {bare_extra:#?}",
        cases.len(),
        wrong.len(),
        bare_extra.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}
