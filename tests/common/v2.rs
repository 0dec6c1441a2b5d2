//! Shared by the v2 scenario tests: the small helpers every scenario uses (a store
//! that can be made to fail is the kit's `store::FlawedStore`).

use stringphone::protocol::Topic;
use stringphone::v2::{ProtocolVersion, TopicId};
use stringphone::{Backend, MemoryTrustStore, SigningSeed, TopicKey, TrustStore};

/// Every topic trusts every other one's identity (the kit's).
#[allow(unused_imports)] // not every test forms a group
pub use stringphone_testkit::scenario::trust_each_other;

/// The key `t` holds now, as bytes (test keys only).
pub fn key_of<B: Backend, S: TrustStore>(t: &Topic<B, S>) -> Option<[u8; 32]> {
    t.topic_key().map(|k| *k.expose_secret())
}

/// Decode results for assertion messages (the kit's).
#[allow(unused_imports)] // not every test shows results
pub use stringphone_testkit::{show, text};

// ----- the cast and the group of the v2 scenario tests (v2_attacks.rs, v2_redteam.rs) --

/// A topic over `S` (in-memory unless said).
pub type T<B, S = MemoryTrustStore> = Topic<B, S>;

pub const ALICE: u8 = 1;
pub const BOB: u8 = 2;
pub const CAROL: u8 = 3;
pub const NICK: u8 = 7;
/// The first keys of topics X and Y (and the names they go by).
pub const X: u8 = 9;
pub const Y: u8 = 10;

/// The ids of topics X and Y.
pub fn topic(name: u8) -> TopicId {
    TopicId::from_name(if name == Y { b"topic Y" } else { b"topic X" })
}

/// A participant of topic `id` speaking v2 only: identity `seed`, holding
/// `[key; 32]` if any, on `store`.
pub fn participant<B: Backend, S: TrustStore>(
    seed: u8,
    key: Option<u8>,
    id: TopicId,
    store: S,
) -> T<B, S> {
    let mut t = T::<B, S>::with_store(
        SigningSeed::from_bytes([seed; 32]),
        key.map(|k| TopicKey::from_bytes([k; 32])),
        store,
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(id).unwrap();
    t
}

/// A participant on `store`, in topic Y if its key is Y's, else in topic X.
pub fn member_on<B: Backend, S: TrustStore>(seed: u8, key: Option<u8>, store: S) -> T<B, S> {
    participant::<B, S>(seed, key, topic(key.unwrap_or(X)), store)
}

/// A participant of topic `name` on its own in-memory store.
pub fn member_in<B: Backend>(seed: u8, key: Option<u8>, name: u8) -> T<B> {
    participant::<B, _>(seed, key, topic(name), MemoryTrustStore::new())
}

/// A participant on its own in-memory store, in topic Y if its key is Y's, else X.
pub fn member<B: Backend>(seed: u8, key: Option<u8>) -> T<B> {
    member_in::<B>(seed, key, key.unwrap_or(X))
}

/// Topic X: Alice (admin, creator), Bob and Carol, all holding `[9; 32]`, all trusting
/// each other; Bob and Carol name Alice their admin.
pub fn group<B: Backend>() -> (T<B>, T<B>, T<B>) {
    let mut alice = member::<B>(ALICE, Some(X));
    let mut bob = member::<B>(BOB, Some(X));
    let mut carol = member::<B>(CAROL, Some(X));
    stringphone_testkit::scenario::form_group(&mut alice, &mut bob, &mut carol);
    (alice, bob, carol)
}

/// A restart of `t` (identity `seed`): a new `Topic` over a copy of its trust store (its
/// participants, replay marks and saved group state) with the key the application
/// started with, v2 on, naming its topic as an application does at start (which
/// resumes the saved group state).
pub fn restart<B: Backend>(t: &T<B>, seed: u8) -> T<B> {
    let mut r = T::<B>::with_store(
        SigningSeed::from_bytes([seed; 32]),
        Some(TopicKey::from_bytes([X; 32])),
        t.trust_store().clone(),
    );
    r.set_protocol(ProtocolVersion::V2);
    r.set_topic_id(t.topic_id().unwrap()).unwrap();
    r
}

/// Runs a generic scenario once per backend, in a module named after it.
#[macro_export]
macro_rules! attack {
    ($name:ident) => {
        mod $name {
            use super::*;
            for_each_backend!($name);
        }
    };
}
