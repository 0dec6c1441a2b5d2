//! The fuzz targets' checks, on stable Rust.
//!
//! `fuzz/src/raw.rs` holds what the `parse`, `decode` and `discovery` targets
//! assert on any input, `fuzz/src/v2.rs` what the `v2` target asserts; both are
//! included here as they are. Every input a fuzzer ever
//! failed on is kept under `tests/fuzz_regressions/TARGET/` and replayed, and
//! so is every wire message of the classic vectors (the targets' seed corpus), so a
//! drift between the harness and the protocol shows up in the ordinary test run.
//! See docs/fuzzing.md.
#![cfg(feature = "rustcrypto")]

mod common;

#[allow(dead_code)]
#[path = "../fuzz/src/raw.rs"]
mod raw;

#[path = "../fuzz/src/v2.rs"]
mod v2;

use std::path::PathBuf;

/// Every saved input of one target, with its file name.
fn saved_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<_> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable input"))
        })
        .collect();
    inputs.sort();
    inputs
}

/// Every wire message of `classic.json`, including the intros inside `reply`.
fn vector_messages() -> Vec<Vec<u8>> {
    let path = common::vector_path("STRINGPHONE_VECTORS", "classic.json");
    let text = std::fs::read_to_string(&path).expect("classic.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut out = Vec::new();
    for (section, fields) in [
        ("simple", &["message"][..]),
        ("intro", &["message"][..]),
        ("reply", &["intro", "message"][..]),
        ("invalid", &["message"][..]),
    ] {
        for entry in v[section].as_array().expect("section") {
            for field in fields {
                out.push(common::unhex(entry[*field].as_str().expect("hex")));
            }
        }
    }
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    for (name, input) in saved_inputs(target) {
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(
            outcome.is_ok(),
            "tests/fuzz_regressions/{target}/{name} fails again"
        );
    }
}

#[test]
fn parse_saved_inputs() {
    replay("parse", raw::check_parse);
}

#[test]
fn decode_saved_inputs() {
    replay("decode", raw::check_decode);
}

#[test]
fn discovery_saved_inputs() {
    replay("discovery", raw::check_discovery);
}

#[test]
fn v2_saved_inputs() {
    replay("v2", v2::check_v2);
}

/// The `v2` target's four valid messages, unedited, are accepted by the entry
/// points they are for (the target asserts it).
#[test]
fn v2_templates_pass() {
    for which in 0..4 {
        v2::check_v2(&[0xff, which]);
    }
}

#[test]
fn vectors_pass_every_raw_check() {
    let messages = vector_messages();
    assert!(messages.len() > 50, "vectors found: {}", messages.len());
    for m in &messages {
        raw::check_parse(m);
        raw::check_decode(m);
        raw::check_discovery(m);
    }
}

/// The receivers the targets build are the vectors' participants: the first
/// reply vector decodes, is accepted, and gives the joiner the topic key.
#[test]
fn the_fixtures_reach_the_success_paths() {
    use stringphone_core::{DecodeMode, Decoded};
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::vector_path("STRINGPHONE_VECTORS", "classic.json"))
            .expect("classic.json"),
    )
    .expect("JSON");

    // A simple message from the decode receiver's trusted sender, under its key.
    let mut receiver = raw::topic(
        raw::hex32(raw::fixture::JOINER0_SEED),
        Some(raw::hex32(raw::fixture::DECODE_TOPIC_KEY)),
        &raw::fixture::DECODE_TRUSTED,
    );
    let simple = v["simple"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["topic_key"] == raw::fixture::DECODE_TOPIC_KEY)
        .expect("a simple vector under the decode key");
    let decoded = receiver
        .decode(
            &common::unhex(simple["message"].as_str().unwrap()),
            DecodeMode::Strict,
        )
        .expect("decodes");
    assert!(matches!(decoded, Decoded::Message { verified: true, .. }));

    // The first reply, on its joiner with the introduction pending.
    let reply = common::unhex(v["reply"][0]["message"].as_str().unwrap());
    let mut fresh = raw::topic(raw::hex32(raw::fixture::JOINER0_SEED), None, &[]);
    fresh
        .construct_intro_with(&mut raw::FixedRng::new(&raw::hex32(
            raw::fixture::JOINER0_EPHEMERAL,
        )))
        .unwrap();
    fresh
        .parse_reply(&reply)
        .expect("the reply vector is accepted");
    assert_eq!(
        fresh.topic_key().map(|k| *k.expose_secret()),
        Some(raw::hex32(raw::fixture::REPLIER_TOPIC_KEY))
    );

    // The replier answers the first introduction vector.
    let mut replier = raw::topic(
        raw::hex32(raw::fixture::REPLIER_SEED),
        Some(raw::hex32(raw::fixture::REPLIER_TOPIC_KEY)),
        &raw::fixture::REPLIER_TRUSTED,
    );
    let intro = common::unhex(v["intro"][0]["message"].as_str().unwrap());
    replier
        .construct_reply_with(&mut raw::FixedRng::new(&[7; 56]), &intro)
        .expect("the replier answers");
}

/// Found while writing the structured target's oracle (no fuzzer crash): a classic
/// introduction whose ephemeral X25519 key is a small-order point (here all zeros,
/// what a newcomer with a broken random source might send) is answered. The X25519
/// secret of such a box is all zeros whatever the replier's secret, so anyone who
/// sees the reply can open it and read the topic key. libsodium, under the Python
/// original, refuses to build that box (`crypto_box_beforenm` fails on a
/// small-order key), so the original answers with an error. The newcomer has to
/// sign the key, so only a trusted newcomer's own mistake triggers it; still, the
/// replier must refuse, and since 2b5ab15 it does (`InvalidPublicKey`).
#[test]
fn construct_reply_refuses_a_small_order_ephemeral_key() {
    use signature::Signer;
    use stringphone_core::{Backend, Identity};
    use stringphone_rustcrypto::RustCrypto;

    let newcomer = RustCrypto::signing_key(&stringphone_core::SigningSeed::from_bytes([3; 32]));
    let mut replier = raw::topic([2; 32], Some([9; 32]), &[]);
    replier.add_participant(newcomer.public_key()).unwrap();
    let ephemeral = [0u8; 32];
    let mut intro = vec![b'i'];
    intro.extend_from_slice(newcomer.public_key().as_bytes());
    intro.extend_from_slice(&newcomer.sign(&ephemeral).to_bytes());
    intro.extend_from_slice(&ephemeral);
    assert!(
        replier
            .construct_reply_with(&mut raw::FixedRng::new(&[7; 56]), &intro)
            .is_err(),
        "the topic key was sealed under an all-zero X25519 secret"
    );
}
