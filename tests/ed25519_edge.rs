//! One Ed25519 verification rule for every backend. Each backend's own tests give
//! every case of `vectors/ed25519-edge.json` (or `$STRINGPHONE_ED25519_VECTORS`)
//! libsodium's verdict and take exactly the public keys the rule allows
//! (`stringphone_testkit::backend_conformance!`); here, with both backends compiled
//! in, they must not disagree on any case nor on any key.
#![cfg(all(feature = "rustcrypto", feature = "ring"))]

use stringphone::{Ring, RustCrypto};
use stringphone_testkit::backend::{keys_to_try, takes_key, verdict};
use stringphone_testkit::vectors::load_edge_cases;

#[test]
fn the_backends_never_disagree() {
    let cases = load_edge_cases().unwrap_or_else(|e| panic!("{e}"));
    let disagreements: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let a = verdict::<RustCrypto>(c);
            let b = verdict::<Ring>(c);
            (a != b).then(|| format!("{}: rustcrypto {a:?}, ring {b:?}", c.name()))
        })
        .collect();
    println!(
        "rustcrypto vs ring: {} cases, {} disagreements",
        cases.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn the_backends_take_the_same_keys() {
    let keys = keys_to_try(&load_edge_cases().unwrap_or_else(|e| panic!("{e}")));
    let mut disagreements = Vec::new();
    for key in &keys {
        let a = takes_key::<RustCrypto>(key);
        let b = takes_key::<Ring>(key);
        if a != b {
            disagreements.push(format!(
                "{}: rustcrypto {a:?}, ring {b:?}",
                hex::encode(key)
            ));
        }
    }
    println!(
        "rustcrypto vs ring: add_participant on {} keys, {} disagreements",
        keys.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
