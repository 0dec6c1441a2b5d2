//! Tells the firmware which optimisation level it was built with (its limits apply at
//! "z"), and rebuilds it when the memory map changes.
//!
//! With the `v2` feature it also plays the topic's gateway on the host: Gail, an admin
//! the devices trust, rotates the key to Alice, Bob and herself, with this library (the
//! one the firmware links, built for the host) and fixed randomness. Her public key and
//! her rekey go into the image (`OUT_DIR/gateway.pub`, `OUT_DIR/rekey.bin`): the
//! devices accept a rotation made elsewhere, as devices do when the admin is a gateway,
//! and the image carries no rotation code of its own.
use std::path::Path;

use rand_chacha::rand_core::SeedableRng;
use stringphone_core::v2::{ProtocolVersion, Suite, TopicId};
use stringphone_core::{Backend, Identity, SigningSeed, Topic, TopicKey};
use stringphone_rustcrypto::RustCrypto;

/// The seeds and names `src/main.rs` and `src/v2.rs` use.
const ALICE: u8 = 1;
const BOB: u8 = 2;
const GAIL: u8 = 9;
const TOPIC_KEY: [u8; 32] = [0x42; 32];
const TOPIC: &[u8] = b"home/kitchen";

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=FIRMWARE_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");

    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let (public, rekey) = if std::env::var_os("CARGO_FEATURE_V2").is_some() {
        gateway_rotation()
    } else {
        (Vec::new(), Vec::new())
    };
    std::fs::write(Path::new(&out).join("gateway.pub"), public).expect("OUT_DIR is writable");
    std::fs::write(Path::new(&out).join("rekey.bin"), rekey).expect("OUT_DIR is writable");
}

/// Gail's public key and her rekey of the topic's first epoch to Alice, Bob and herself.
fn gateway_rotation() -> (Vec<u8>, Vec<u8>) {
    let key = |seed: u8| RustCrypto::signing_key(&SigningSeed::from_bytes([seed; 32])).public_key();
    let mut gail = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([GAIL; 32]),
        Some(TopicKey::from_bytes(TOPIC_KEY)),
    );
    gail.set_topic_id(TopicId::from_name_in(Suite::Sha256, TOPIC))
        .expect("a new topic takes an id");
    gail.set_protocol(ProtocolVersion::V2);
    for seed in [ALICE, BOB] {
        gail.add_participant(key(seed)).expect("a valid key");
    }
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([GAIL; 32]);
    let rekey = gail
        .rotate_with(&mut rng, None)
        .expect("the creator may rotate");
    (gail.public_key().as_bytes().to_vec(), rekey)
}
