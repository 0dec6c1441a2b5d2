//! Shared by the v2 scenario tests: a store that can be made to fail, and the small
//! helpers every scenario uses.

use stringphone::protocol::reexports::zeroize::Zeroizing;
use stringphone::protocol::trust::MarkSlot;
use stringphone::protocol::Topic;
use stringphone::{
    Backend, Decoded, Error, MemoryTrustStore, ParticipantId, PublicKey, StoreError, TrustStore,
};

/// A trust store whose mark writes or group-state writes can be made to fail, like a
/// full disk; everything else is a [`MemoryTrustStore`].
#[derive(Clone, Default)]
pub struct FlakyStore {
    pub inner: MemoryTrustStore,
    pub fail_marks: bool,
    pub fail_group_state: bool,
}

impl TrustStore for FlakyStore {
    type Iter<'a> = <MemoryTrustStore as TrustStore>::Iter<'a>;
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.inner.get(id)
    }
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.inner.insert(id, key)
    }
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        self.inner.remove(id)
    }
    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        self.inner.iter()
    }
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        self.inner.load_mark(slot)
    }
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        if self.fail_marks {
            return Err(StoreError::msg("disk full"));
        }
        self.inner.save_mark(slot, mark)
    }
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.inner.load_group_state()
    }
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        if self.fail_group_state {
            return Err(StoreError::msg("disk full"));
        }
        self.inner.save_group_state(state)
    }
}

/// Every topic trusts every other one's identity.
pub fn trust_each_other<B: Backend, S: TrustStore>(topics: &mut [&mut Topic<B, S>]) {
    let keys: Vec<PublicKey> = topics.iter().map(|t| t.public_key()).collect();
    for t in topics.iter_mut() {
        for k in &keys {
            if *k != t.public_key() {
                t.add_participant(*k).unwrap();
            }
        }
    }
}

/// The key `t` holds now, as bytes (test keys only).
pub fn key_of<B: Backend, S: TrustStore>(t: &Topic<B, S>) -> Option<[u8; 32]> {
    t.topic_key().map(|k| *k.expose_secret())
}

/// A decode result, for assertion messages: the plaintext, or what came back.
pub fn show(d: &Result<Decoded<Vec<u8>>, Error>) -> String {
    match d {
        Ok(Decoded::Message { plaintext, .. }) => {
            format!("the message {:?}", String::from_utf8_lossy(plaintext))
        }
        other => format!("{other:?}"),
    }
}

/// The plaintext of a decoded message, or a description of what came back.
pub fn text(d: Result<Decoded<Vec<u8>>, Error>) -> String {
    match d {
        Ok(Decoded::Message { plaintext, .. }) => String::from_utf8(plaintext).unwrap(),
        other => format!("not a message: {other:?}"),
    }
}
