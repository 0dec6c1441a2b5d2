//! The decompressed keys of trusted participants, so that decoding a message from one
//! verifies its signature without decompressing its key again.
//!
//! The trust store stays the authority: a cached key is used only while the store
//! still maps its id to the same public key (see [`crate::Topic::cached_key`]), so a
//! missing or stale entry costs a decompression, never a wrong verdict.
//!
//! With `alloc` every trusted participant has an entry. Without it the cache is a fixed
//! array of [`SLOTS`] entries inside the topic, refilled in the order participants are
//! trusted (the oldest entry gives way); decoding from a participant without an entry
//! decompresses its key per message, as it would with no cache at all.

use crate::backend::Backend;
use crate::signatures::PreparedKey;
use crate::ParticipantId;

/// Entries of the cache without `alloc`: each holds a participant id and its
/// [`PreparedKey`] (about 250 bytes of the topic with the RustCrypto backend).
#[cfg(not(feature = "alloc"))]
pub(crate) const SLOTS: usize = 4;

pub(crate) struct KeyCache<B: Backend> {
    #[cfg(feature = "alloc")]
    entries: alloc::collections::BTreeMap<ParticipantId, PreparedKey<B>>,
    #[cfg(not(feature = "alloc"))]
    entries: [Option<(ParticipantId, PreparedKey<B>)>; SLOTS],
    /// The slot the next new entry takes when none is free.
    #[cfg(not(feature = "alloc"))]
    next: usize,
}

impl<B: Backend> KeyCache<B> {
    pub(crate) fn new() -> Self {
        KeyCache {
            #[cfg(feature = "alloc")]
            entries: alloc::collections::BTreeMap::new(),
            #[cfg(not(feature = "alloc"))]
            entries: [const { None }; SLOTS],
            #[cfg(not(feature = "alloc"))]
            next: 0,
        }
    }

    pub(crate) fn get(&self, id: &ParticipantId) -> Option<&PreparedKey<B>> {
        #[cfg(feature = "alloc")]
        return self.entries.get(id);
        #[cfg(not(feature = "alloc"))]
        return self
            .entries
            .iter()
            .flatten()
            .find(|(cached, _)| cached == id)
            .map(|(_, key)| key);
    }

    /// Caches `key` for `id`, replacing its old entry (or, without `alloc` and with
    /// every slot taken, the oldest entry).
    pub(crate) fn insert(&mut self, id: ParticipantId, key: PreparedKey<B>) {
        #[cfg(feature = "alloc")]
        self.entries.insert(id, key);
        #[cfg(not(feature = "alloc"))]
        {
            let slot = match self
                .entries
                .iter()
                .position(|e| matches!(e, Some((cached, _)) if *cached == id))
                .or_else(|| self.entries.iter().position(Option::is_none))
            {
                Some(slot) => slot,
                None => {
                    let oldest = self.next;
                    self.next = (self.next + 1) % SLOTS;
                    oldest
                }
            };
            self.entries[slot] = Some((id, key));
        }
    }

    pub(crate) fn remove(&mut self, id: &ParticipantId) {
        #[cfg(feature = "alloc")]
        self.entries.remove(id);
        #[cfg(not(feature = "alloc"))]
        for entry in &mut self.entries {
            if matches!(entry, Some((cached, _)) if cached == id) {
                *entry = None;
            }
        }
    }
}
