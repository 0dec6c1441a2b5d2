//! The store type, its cache of the trust file, and its [`TrustStore`] impl: reads
//! notice outside changes by the file's metadata, writes are one change under the
//! writers' lock on a fresh read.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::{MarkSlot, ParticipantId, PublicKey, StoreError, TrustStore};

use crate::atomic::lock_ignoring_poison;
use crate::error::{io_err, FileStoreError};
use crate::lease::Lease;
use crate::marks::new_writer_token;
use crate::trust_file::{parse, serialize};
use crate::{participant_id, FILE_NAME, GROUP_NAME, MARKS_NAME, TMP_NAME};

/// What identifies one version of the file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            unix: (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Default)]
struct Cached {
    /// `None`: the file did not exist when last looked at.
    stamp: Option<Stamp>,
    entries: BTreeMap<ParticipantId, PublicKey>,
}

/// A [`TrustStore`] kept in `<dir>/trust` (and its v2 replay marks in `<dir>/marks`,
/// its v2 group state in `<dir>/group`); see the crate docs for its guarantees.
///
/// Opening creates nothing: a missing file is an empty store, and the directory
/// (mode 0700) and files (mode 0600) are created by the first write.
pub struct FileTrustStore {
    pub(crate) dir: PathBuf,
    path: PathBuf,
    pub(crate) marks_path: PathBuf,
    pub(crate) group_path: PathBuf,
    cache: Mutex<Cached>,
    /// The sender lease, once this handle stored its own counter mark.
    pub(crate) lease: Option<Lease>,
    /// The own-counter mark this handle last read or wrote (absent read as 0); `None`
    /// until it read it. A handle without the lease checks, when it takes it, that
    /// nobody sent since (see [`FileStoreError::SenderRaced`]).
    pub(crate) own_seen: Mutex<Option<u64>>,
    /// The token this handle writes beside the marks it stores.
    pub(crate) writer: u64,
    /// The marks this handle raised, by slot: the mark it found there before it raised
    /// it, below which it never lowers it. Meaningful only while the file's entry still
    /// carries `writer`.
    pub(crate) raised_from: BTreeMap<MarkSlot, u64>,
}

impl fmt::Debug for FileTrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTrustStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileTrustStore {
    /// Opens the store of state directory `dir`, loading its file if there is one.
    /// Fails on a file that cannot be read or is corrupt.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, FileStoreError> {
        let dir = dir.into();
        let store = FileTrustStore {
            path: dir.join(FILE_NAME),
            marks_path: dir.join(MARKS_NAME),
            group_path: dir.join(GROUP_NAME),
            dir,
            cache: Mutex::new(Cached::default()),
            lease: None,
            own_seen: Mutex::new(None),
            writer: new_writer_token(),
            raised_from: BTreeMap::new(),
        };
        drop(store.fresh()?);
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every trusted participant, in id order, as the file holds them now.
    pub fn entries(&self) -> Result<Vec<(ParticipantId, PublicKey)>, FileStoreError> {
        Ok(self
            .fresh()?
            .entries
            .iter()
            .map(|(id, key)| (*id, *key))
            .collect())
    }

    fn lock_cache(&self) -> MutexGuard<'_, Cached> {
        // The cache is only ever replaced whole, so a panic elsewhere cannot leave it
        // half-updated.
        lock_ignoring_poison(&self.cache)
    }

    /// The cache, reloaded first if the file changed since it was loaded.
    fn fresh(&self) -> Result<MutexGuard<'_, Cached>, FileStoreError> {
        let mut cache = self.lock_cache();
        let now = match fs::metadata(&self.path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("inspect", &self.path)(e)),
        };
        if now != cache.stamp {
            let (stamp, entries) = self.load()?;
            cache.stamp = stamp;
            cache.entries = entries;
        }
        Ok(cache)
    }

    /// Reads and parses the file; the stamp comes from the opened file itself, so it
    /// matches the bytes read even if the file is replaced meanwhile.
    #[allow(clippy::type_complexity)]
    fn load(&self) -> Result<(Option<Stamp>, BTreeMap<ParticipantId, PublicKey>), FileStoreError> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, BTreeMap::new())),
            Err(e) => return Err(io_err("open", &self.path)(e)),
        };
        let meta = file.metadata().map_err(io_err("inspect", &self.path))?;
        let mut text = String::new();
        if let Err(e) = file.read_to_string(&mut text) {
            if e.kind() == io::ErrorKind::InvalidData {
                return Err(FileStoreError::Corrupt {
                    path: self.path.clone(),
                    line: 1,
                    reason: "not UTF-8 text".into(),
                });
            }
            return Err(io_err("read", &self.path)(e));
        }
        let entries = parse(&text).map_err(|(line, reason)| FileStoreError::Corrupt {
            path: self.path.clone(),
            line,
            reason,
        })?;
        Ok((Some(Stamp::of(&meta)), entries))
    }

    /// One change, made under the lock on a fresh read of the file, then written
    /// atomically. `change` returns whether it changed anything.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<ParticipantId, PublicKey>) -> (T, bool),
    ) -> Result<T, FileStoreError> {
        let lock = self.lock_writers()?;

        let mut cache = self.lock_cache();
        let (_, mut entries) = self.load()?;
        let (result, changed) = change(&mut entries);
        if changed {
            self.replace(TMP_NAME, &self.path, &serialize(&entries))?;
        }
        // While we hold the lock nobody else writes, so this stamp is our version.
        cache.stamp = match fs::metadata(&self.path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("inspect", &self.path)(e)),
        };
        cache.entries = entries;
        drop(cache);
        drop(lock); // closing the file releases the lock
        Ok(result)
    }
}

impl TrustStore for FileTrustStore {
    type Iter<'a> = std::vec::IntoIter<(ParticipantId, PublicKey)>;

    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.fresh()?.entries.get(id).copied())
    }

    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        let expected = participant_id(&key);
        if expected != id {
            return Err(FileStoreError::IdMismatch { id, expected }.into());
        }
        self.modify(|entries| {
            let previous = entries.insert(id, key);
            ((), previous != Some(key))
        })?;
        Ok(())
    }

    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.modify(|entries| {
            let previous = entries.remove(id);
            let changed = previous.is_some();
            (previous, changed)
        })?)
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.entries()?.into_iter())
    }

    /// [`FileTrustStore::mark`]: read from the marks file.
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        Ok(self.mark(slot)?)
    }

    /// [`FileTrustStore::store_mark`]: durable before it returns; a lower mark is
    /// stored only when it takes back this handle's own reservation (see
    /// [Replay marks](crate#replay-marks)), otherwise the higher mark stays.
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.store_mark(slot, mark)?;
        Ok(())
    }

    /// [`FileTrustStore::group_state`]: read from the group-state file now.
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.group_state()?)
    }

    /// [`FileTrustStore::store_group_state`]: durable before it returns; never to a
    /// lower epoch or another topic than the one stored.
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.store_group_state(state)?;
        Ok(())
    }
}
