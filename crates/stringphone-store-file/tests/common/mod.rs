//! Helpers shared by the file store's v2 tests.
#![allow(dead_code)]

use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{SigningSeed, Topic, TopicKey};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_file::FileTrustStore;
use stringphone_testkit::TempDir;

pub type T = Topic<RustCrypto, FileTrustStore>;

/// The topic key every process of the group was first given (its key file).
pub fn first_key() -> TopicKey {
    TopicKey::from_bytes([9; 32])
}

/// A process starting as identity `seed` on state directory `dir`, v2 only, with the
/// topic key the application kept (its key file). The group state is restored from
/// the store by `set_topic_id` (its `resume`): what the store kept must win over the
/// key passed.
pub fn start(dir: &TempDir, seed: u8, key: Option<&TopicKey>) -> T {
    let mut t = T::with_store(
        SigningSeed::from_bytes([seed; 32]),
        key.cloned(),
        FileTrustStore::open(dir.path()).unwrap(),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(b"home/kitchen")).unwrap();
    t
}

/// A v2 message's counter (header offset 39).
pub fn counter(wire: &[u8]) -> u64 {
    u64::from_be_bytes(wire[39..47].try_into().unwrap())
}
