//! A crash-safe, file-backed [`TrustStore`] for stringphone.
//!
//! [`FileTrustStore`] keeps the trusted participants of one state directory in a
//! small text file, `trust`, beside a lock file, `trust.lock`:
//!
//! - **Crash-safe writes.** A change is written to `trust.tmp`, fsynced, renamed over
//!   `trust`, and the directory is fsynced. A process killed at any moment leaves the
//!   old store or the new one, never a mix; a stale `trust.tmp` is simply overwritten
//!   by the next writer.
//! - **No lost updates.** Every write takes an exclusive advisory lock on
//!   `trust.lock` (`flock` on Linux, through std's [`File::lock`]) and re-reads the
//!   file under it before applying its one change, so two processes (a running chat
//!   and a `trust remove` in another terminal) never undo each other.
//! - **Reads notice outside changes.** Every [`TrustStore::get`] and
//!   [`TrustStore::iter`] compares the file's metadata (inode, length, modification
//!   and change times) with what it last loaded, and reloads when it differs.
//!   Readers need no lock: a rename is atomic.
//! - **Corruption is refused.** The format is parsed exactly (header, one entry per
//!   line in ascending id order, each id checked to be the SHA-256 prefix of its key,
//!   a trailer with the entry count, nothing after it), so a truncated or damaged
//!   file is an error, never an empty store. Writes are refused too until the file
//!   is repaired or moved away by hand.
//! - **v2 replay marks** ([`TrustStore::load_mark`], [`TrustStore::save_mark`]) live in
//!   a second file, `marks`, written the same way (`marks.tmp`, fsync, rename, under
//!   the same lock) and parsed as strictly. The trust file's format is unchanged, so
//!   a state directory written before marks existed loads as it is, and an older
//!   program still reads its trust file. See [Replay marks](#replay-marks).
//!
//! The file format (version 1):
//!
//! ```text
//! stringphone-trust 1
//! <participant id, 32 lowercase hex digits> <Ed25519 public key, 64 lowercase hex digits>
//! ...
//! end <number of entries>
//! ```
//!
//! ```
//! use stringphone_core::{ParticipantId, PublicKey, TrustStore};
//! use stringphone_store_file::FileTrustStore;
//!
//! let dir = std::env::temp_dir().join(format!("sp-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let key = PublicKey::from_bytes([7; 32]);
//! let id = stringphone_store_file::participant_id(&key);
//!
//! let mut store = FileTrustStore::open(&dir)?;
//! store.insert(id, key)?;
//! // Another handle (another process, say) sees the change.
//! let other = FileTrustStore::open(&dir)?;
//! assert_eq!(other.get(&id)?, Some(key));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Replay marks
//!
//! Protocol v2 stores two kinds of mark (see [`MarkSlot`]): the end of the block of
//! counters this identity reserved, and per sender a counter below which everything
//! may have been accepted. A running topic stores marks *ahead* of what it used or
//! accepted, and on a clean shutdown ([`stringphone_core::Topic::save_replay_marks`])
//! stores the exact values, which are lower. The file is shared by every process
//! using the state directory, so a lower mark is applied only when that cannot undo
//! anyone else's reservation:
//!
//! - a save at or above the stored mark is applied (even an equal one: the handle
//!   saving it relies on it from now on);
//! - a save below the stored mark is applied only if this same handle was the last
//!   to write that mark (each handle tags what it writes with a random token), and
//!   never below the mark that handle found there before it raised it: a handle takes
//!   back its own reservation, never someone else's;
//! - any other save below the stored mark changes nothing: the higher mark stays,
//!   which only ever refuses more (and a failure to lower is not an error).
//!
//! So marks never move backwards past anything another process may have used or
//! accepted. [`FileTrustStore::store_mark`] returns the mark actually stored.
//!
//! The marks file (version 1):
//!
//! ```text
//! stringphone-marks 1
//! own <mark, decimal> <writer token, 16 lowercase hex digits>
//! recv <sender id, 32 lowercase hex digits> <mark, decimal> <writer token>
//! ...
//! end <number of entries>
//! ```
//!
//! with at most one `own` line, first, then `recv` lines in ascending id order.
//!
//! ```
//! use stringphone_core::{MarkSlot, TrustStore};
//! use stringphone_store_file::FileTrustStore;
//!
//! let dir = std::env::temp_dir().join(format!("sp-doc-marks-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let mut store = FileTrustStore::open(&dir)?;
//! store.save_mark(MarkSlot::OwnCounter, 1024)?;
//! // Durable: a new handle (a restarted process) finds it.
//! assert_eq!(FileTrustStore::open(&dir)?.load_mark(&MarkSlot::OwnCounter)?, Some(1024));
//! // This handle raised it, so it may take its reservation back...
//! assert_eq!(store.store_mark(MarkSlot::OwnCounter, 3)?, 3);
//! // ...but another handle cannot lower it.
//! let mut other = FileTrustStore::open(&dir)?;
//! assert_eq!(other.store_mark(MarkSlot::OwnCounter, 1)?, 3);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use stringphone_core::{MarkSlot, ParticipantId, PublicKey, StoreError, TrustStore};

/// Name of the store file inside the state directory.
pub const FILE_NAME: &str = "trust";
/// Name of the lock file inside the state directory (never renamed, so every writer
/// locks the same inode).
pub const LOCK_NAME: &str = "trust.lock";
/// Name of the temporary file a write goes through.
pub const TMP_NAME: &str = "trust.tmp";
/// First line of a version-1 store file.
pub const HEADER: &str = "stringphone-trust 1";
/// Name of the v2 replay-marks file inside the state directory.
pub const MARKS_NAME: &str = "marks";
/// Name of the temporary file a marks write goes through.
pub const MARKS_TMP_NAME: &str = "marks.tmp";
/// First line of a version-1 marks file.
pub const MARKS_HEADER: &str = "stringphone-marks 1";

/// A participant id as the protocol computes it: the first 16 bytes of SHA-256 of the
/// public key. The store checks every entry against it when loading.
pub fn participant_id(key: &PublicKey) -> ParticipantId {
    let digest = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    ParticipantId::from_bytes(id)
}

/// What went wrong with the store file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileStoreError {
    /// A filesystem call failed.
    Io {
        /// What was being done (`"read"`, `"lock"`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a well-formed store: it was truncated, damaged or edited
    /// wrongly. Nothing is read from it and nothing is written over it.
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// The 1-based line where parsing stopped.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The replay-marks file is not well-formed. Nothing is read from it and nothing
    /// is written over it; the trust file is unaffected.
    CorruptMarks {
        /// The marks file.
        path: PathBuf,
        /// The 1-based line where parsing stopped.
        line: usize,
        /// Why.
        reason: String,
    },
    /// `insert` was given an id that is not the SHA-256 prefix of the key.
    IdMismatch {
        /// The id given.
        id: ParticipantId,
        /// The id the key has.
        expected: ParticipantId,
    },
}

impl fmt::Display for FileStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileStoreError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            FileStoreError::Corrupt { path, line, reason } => write!(
                f,
                "trust store {} is corrupt at line {line} ({reason}); refusing to use it: \
                 restore it or move it away",
                path.display()
            ),
            FileStoreError::CorruptMarks { path, line, reason } => write!(
                f,
                "replay marks file {} is corrupt at line {line} ({reason}); refusing to use \
                 it: restore it, or move it away (which forgets which v2 messages were \
                 accepted, so their replays would be accepted again)",
                path.display()
            ),
            FileStoreError::IdMismatch { id, expected } => write!(
                f,
                "participant id {id} does not belong to the key (its id is {expected})"
            ),
        }
    }
}

impl std::error::Error for FileStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileStoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FileStoreError> for StoreError {
    fn from(e: FileStoreError) -> Self {
        StoreError::new(e)
    }
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> FileStoreError + 'a {
    move |source| FileStoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

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

/// One mark in the marks file: its value and the token of the handle that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MarkEntry {
    mark: u64,
    writer: u64,
}

/// A token for the marks one handle writes: distinct across handles and processes
/// (std's `RandomState` is keyed from OS randomness, and moves on at every call), so
/// a handle can tell whether it wrote a mark last.
fn new_writer_token() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static HANDLES: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    RandomState::new().hash_one((
        std::process::id(),
        now,
        HANDLES.fetch_add(1, Ordering::Relaxed),
    ))
}

/// A [`TrustStore`] kept in `<dir>/trust` (and its v2 replay marks in `<dir>/marks`);
/// see the crate docs for its guarantees.
///
/// Opening creates nothing: a missing file is an empty store, and the directory
/// (mode 0700) and files (mode 0600) are created by the first write.
pub struct FileTrustStore {
    dir: PathBuf,
    path: PathBuf,
    marks_path: PathBuf,
    cache: Mutex<Cached>,
    /// The token this handle writes beside the marks it stores.
    writer: u64,
    /// The marks this handle raised, by slot: the mark it found there before it raised
    /// it, below which it never lowers it. Meaningful only while the file's entry still
    /// carries `writer`.
    raised_from: BTreeMap<MarkSlot, u64>,
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
            dir,
            cache: Mutex::new(Cached::default()),
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

    /// The v2 replay-marks file.
    pub fn marks_path(&self) -> &Path {
        &self.marks_path
    }

    /// The v2 mark stored under `slot`, read from the file now; `None` if there is
    /// none (or no marks file: a state directory from before marks existed).
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_file::FileTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-doc-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = FileTrustStore::open(&dir)?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, None);
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, Some(7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_file::FileStoreError>(())
    /// ```
    pub fn mark(&self, slot: &MarkSlot) -> Result<Option<u64>, FileStoreError> {
        Ok(self.load_marks()?.get(slot).map(|e| e.mark))
    }

    /// Stores `mark` under `slot` durably (under the writers' lock, on a fresh read of
    /// the marks file, through `marks.tmp` and a rename) and returns the mark now
    /// stored, which is higher than `mark` when lowering was not this handle's to do:
    /// see [Replay marks](crate#replay-marks). On failure nothing changed, on disk or in
    /// this handle.
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, ParticipantId};
    /// use stringphone_store_file::FileTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-doc-store-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let slot = MarkSlot::Received(ParticipantId::from_bytes([1; 16]));
    /// let mut store = FileTrustStore::open(&dir)?;
    /// assert_eq!(store.store_mark(slot, 300)?, 300); // raised ahead while running
    /// assert_eq!(store.store_mark(slot, 44)?, 44); // the exact mark, on a clean exit
    /// let mut restarted = FileTrustStore::open(&dir)?;
    /// assert_eq!(restarted.store_mark(slot, 400)?, 400);
    /// // The first handle's reservation was taken over: it cannot lower it any more.
    /// assert_eq!(store.store_mark(slot, 45)?, 400);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_file::FileStoreError>(())
    /// ```
    pub fn store_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<u64, FileStoreError> {
        let lock = self.lock_writers()?;
        let mut marks = self.load_marks()?;
        let current = marks.get(&slot).copied();
        let ours = current
            .filter(|e| e.writer == self.writer)
            .and_then(|_| self.raised_from.get(&slot).copied());
        let (floor, new) = match (current, ours) {
            // Nothing stored yet: nothing of anyone else's to protect.
            (None, _) => (0, mark),
            // Our own reservation: raise it, or take it back down to where we found it.
            (Some(e), Some(floor)) => {
                let new = mark.max(floor);
                if new == e.mark {
                    return Ok(new);
                }
                (floor, new)
            }
            // Someone else's mark (or one from before this handle): raise it or leave it.
            // An equal save is written too, so that its last writer (who may be about
            // to lower it) no longer owns it: this handle relies on it from now on.
            (Some(e), None) if mark >= e.mark => (e.mark, mark),
            (Some(e), None) => return Ok(e.mark),
        };
        marks.insert(
            slot,
            MarkEntry {
                mark: new,
                writer: self.writer,
            },
        );
        self.replace(MARKS_TMP_NAME, &self.marks_path, &serialize_marks(&marks))?;
        self.raised_from.insert(slot, floor);
        drop(lock); // closing the file releases the lock
        Ok(new)
    }

    /// Reads and parses the marks file (no cache: the protocol reads a mark once per
    /// sender and topic instance).
    fn load_marks(&self) -> Result<BTreeMap<MarkSlot, MarkEntry>, FileStoreError> {
        let bytes = match fs::read(&self.marks_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io_err("read", &self.marks_path)(e)),
        };
        let corrupt = |(line, reason)| FileStoreError::CorruptMarks {
            path: self.marks_path.clone(),
            line,
            reason,
        };
        let text = String::from_utf8(bytes).map_err(|_| corrupt((1, "not UTF-8 text".into())))?;
        parse_marks(&text).map_err(corrupt)
    }

    /// Takes the exclusive lock every writer takes, creating the directory and the lock
    /// file if needed. Dropping the returned file releases the lock.
    fn lock_writers(&self) -> Result<File, FileStoreError> {
        create_private_dir(&self.dir)?;
        let lock_path = self.dir.join(LOCK_NAME);
        let lock = private_file(&lock_path, false).map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        Ok(lock)
    }

    /// Replaces `target` with `text` atomically: written to `tmp_name` in the state
    /// directory, fsynced, renamed over `target`, then the directory is fsynced. A
    /// failure before the rename leaves `target` as it was. Call under the lock.
    fn replace(&self, tmp_name: &str, target: &Path, text: &str) -> Result<(), FileStoreError> {
        let tmp_path = self.dir.join(tmp_name);
        let mut tmp = private_file(&tmp_path, true).map_err(io_err("create", &tmp_path))?;
        tmp.write_all(text.as_bytes())
            .map_err(io_err("write", &tmp_path))?;
        tmp.sync_all().map_err(io_err("fsync", &tmp_path))?;
        drop(tmp);
        fs::rename(&tmp_path, target).map_err(io_err("rename into place", target))?;
        sync_dir(&self.dir)
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
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
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
}

/// The file's text for `entries`.
pub fn serialize(entries: &BTreeMap<ParticipantId, PublicKey>) -> String {
    let mut out = String::with_capacity(32 + entries.len() * 98);
    out.push_str(HEADER);
    out.push('\n');
    for (id, key) in entries {
        out.push_str(&format!("{id} {key}\n"));
    }
    out.push_str(&format!("end {}\n", entries.len()));
    out
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses a whole store file exactly; on failure, the 1-based line and the reason.
#[allow(clippy::type_complexity)]
pub fn parse(text: &str) -> Result<BTreeMap<ParticipantId, PublicKey>, (usize, String)> {
    let Some(body) = text.strip_suffix('\n') else {
        let line = text.split('\n').count();
        return Err((
            line,
            "the file does not end with a newline: truncated?".into(),
        ));
    };
    let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, HEADER)) => {}
        Some((_, other)) if other.starts_with("stringphone-trust ") => {
            return Err((1, format!("unsupported version header {other:?}")))
        }
        _ => return Err((1, format!("missing header {HEADER:?}"))),
    }
    let mut entries = BTreeMap::new();
    let mut last: Option<ParticipantId> = None;
    for (n, line) in lines {
        if let Some(count) = line.strip_prefix("end ") {
            let canonical = count.bytes().all(|b| b.is_ascii_digit())
                && !count.is_empty()
                && (count == "0" || !count.starts_with('0'));
            if !canonical || count.parse::<usize>().ok() != Some(entries.len()) {
                return Err((
                    n,
                    format!(
                        "trailer says {count:?} entries, the file has {}",
                        entries.len()
                    ),
                ));
            }
            if n != body.split('\n').count() {
                return Err((n + 1, "text after the trailer".into()));
            }
            return Ok(entries);
        }
        let (id_hex, key_hex) = line
            .split_once(' ')
            .filter(|(i, k)| i.len() == 32 && k.len() == 64 && is_lower_hex(i) && is_lower_hex(k))
            .ok_or((n, "expected `<32 hex id> <64 hex public key>`".to_string()))?;
        let id = ParticipantId::from_hex(id_hex).map_err(|e| (n, e.to_string()))?;
        let key = PublicKey::from_hex(key_hex).map_err(|e| (n, e.to_string()))?;
        if participant_id(&key) != id {
            return Err((n, "the id is not the SHA-256 prefix of the key".into()));
        }
        if last.is_some_and(|prev| prev >= id) {
            return Err((n, "entries out of order or repeated".into()));
        }
        last = Some(id);
        entries.insert(id, key);
    }
    Err((
        body.split('\n').count() + 1,
        "missing `end` trailer: truncated?".into(),
    ))
}

/// The marks file's text.
fn serialize_marks(marks: &BTreeMap<MarkSlot, MarkEntry>) -> String {
    let mut out = String::with_capacity(32 + marks.len() * 72);
    out.push_str(MARKS_HEADER);
    out.push('\n');
    for (slot, e) in marks {
        match slot {
            MarkSlot::OwnCounter => out.push_str(&format!("own {} {:016x}\n", e.mark, e.writer)),
            MarkSlot::Received(id) => {
                out.push_str(&format!("recv {id} {} {:016x}\n", e.mark, e.writer))
            }
        }
    }
    out.push_str(&format!("end {}\n", marks.len()));
    out
}

/// A decimal number written the one way `format!` writes it (no sign, no leading
/// zero), that fits in a `u64`.
fn canonical_u64(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// A writer token: exactly 16 lowercase hex digits.
fn writer_token(s: &str) -> Option<u64> {
    (s.len() == 16 && is_lower_hex(s))
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
}

/// Parses a whole marks file exactly; on failure, the 1-based line and the reason.
fn parse_marks(text: &str) -> Result<BTreeMap<MarkSlot, MarkEntry>, (usize, String)> {
    let Some(body) = text.strip_suffix('\n') else {
        let line = text.split('\n').count();
        return Err((
            line,
            "the file does not end with a newline: truncated?".into(),
        ));
    };
    let total = body.split('\n').count();
    let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, MARKS_HEADER)) => {}
        Some((_, other)) if other.starts_with("stringphone-marks ") => {
            return Err((1, format!("unsupported version header {other:?}")))
        }
        _ => return Err((1, format!("missing header {MARKS_HEADER:?}"))),
    }
    let mut marks = BTreeMap::new();
    let mut last: Option<MarkSlot> = None;
    for (n, line) in lines {
        if let Some(count) = line.strip_prefix("end ") {
            if canonical_u64(count) != Some(marks.len() as u64) {
                return Err((
                    n,
                    format!(
                        "trailer says {count:?} entries, the file has {}",
                        marks.len()
                    ),
                ));
            }
            if n != total {
                return Err((n + 1, "text after the trailer".into()));
            }
            return Ok(marks);
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let (slot, mark, writer) = match fields.as_slice() {
            ["own", mark, writer] => (MarkSlot::OwnCounter, mark, writer),
            ["recv", id, mark, writer] => {
                let id = (id.len() == 32 && is_lower_hex(id))
                    .then(|| ParticipantId::from_hex(id).ok())
                    .flatten()
                    .ok_or((
                        n,
                        "expected a 32 hex digit sender id after `recv`".to_string(),
                    ))?;
                (MarkSlot::Received(id), mark, writer)
            }
            _ => {
                return Err((
                    n,
                    "expected `own <mark> <writer>` or `recv <id> <mark> <writer>`".into(),
                ))
            }
        };
        let mark =
            canonical_u64(mark).ok_or((n, format!("{mark:?} is not a mark (a decimal number)")))?;
        let writer =
            writer_token(writer).ok_or((n, "expected a 16 hex digit writer token".to_string()))?;
        if last.is_some_and(|prev| prev >= slot) {
            return Err((
                n,
                "entries out of order or repeated (`own` first, then senders by id)".into(),
            ));
        }
        last = Some(slot);
        marks.insert(slot, MarkEntry { mark, writer });
    }
    Err((total + 1, "missing `end` trailer: truncated?".into()))
}

fn create_private_dir(dir: &Path) -> Result<(), FileStoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err("create directory", dir))
}

/// Opens `path` for writing (mode 0600 when created), truncating it if asked.
fn private_file(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a rename in `dir` durable (on Unix; elsewhere the rename is all there is).
fn sync_dir(dir: &Path) -> Result<(), FileStoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> (ParticipantId, PublicKey) {
        let key = PublicKey::from_bytes([n; 32]);
        (participant_id(&key), key)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sp-store-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trip_and_format() {
        let dir = temp_dir("rt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        assert!(!dir.exists(), "opening creates nothing");
        let (a, ka) = key(1);
        let (b, kb) = key(2);
        s.insert(a, ka).unwrap();
        s.insert(b, kb).unwrap();
        let text = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        assert!(text.starts_with("stringphone-trust 1\n"));
        assert!(text.ends_with("end 2\n"));
        assert_eq!(text.lines().count(), 4);
        assert_eq!(s.remove(&a).unwrap(), Some(ka));
        assert_eq!(s.remove(&a).unwrap(), None);
        let again = FileTrustStore::open(&dir).unwrap();
        assert_eq!(again.entries().unwrap(), vec![(b, kb)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn insert_refuses_an_id_that_is_not_the_keys() {
        let dir = temp_dir("mismatch");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let (_, ka) = key(1);
        let (b, _) = key(2);
        let err = s.insert(b, ka).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(!dir.join(FILE_NAME).exists());
    }

    #[test]
    fn every_truncation_is_refused() {
        let mut map = BTreeMap::new();
        for n in 1..=3 {
            let (id, k) = key(n);
            map.insert(id, k);
        }
        let text = serialize(&map);
        assert_eq!(parse(&text).unwrap(), map);
        for cut in 0..text.len() {
            assert!(
                parse(&text[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        // And an empty store is a header and a trailer, not an empty file.
        assert!(parse("").is_err());
        assert!(parse(&serialize(&BTreeMap::new())).unwrap().is_empty());
    }

    #[test]
    fn damage_is_refused() {
        let mut map = BTreeMap::new();
        for n in 1..=3 {
            let (id, k) = key(n);
            map.insert(id, k);
        }
        let text = serialize(&map);
        // Flip every hex digit of the body to another digit: each must be caught.
        for (i, c) in text.char_indices() {
            let replacement = match c {
                '0' => '1',
                'a'..='f' | '1'..='9' => '0',
                _ => continue,
            };
            let mut damaged = text.clone();
            damaged.replace_range(i..i + 1, &replacement.to_string());
            assert!(parse(&damaged).is_err(), "damage at byte {i} accepted");
        }
        let doubled = format!("{text}{text}");
        assert!(parse(&doubled).is_err());
        assert!(parse(&text.replace("end 3", "end 03")).is_err());
        assert!(parse(&text.to_uppercase()).is_err());
        assert!(parse(&text.replace("stringphone-trust 1", "stringphone-trust 2")).is_err());
    }

    #[test]
    fn a_corrupt_file_is_refused_not_replaced() {
        let dir = temp_dir("corrupt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let (a, ka) = key(1);
        s.insert(a, ka).unwrap();
        let path = dir.join(FILE_NAME);
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 4]).unwrap();
        let err = FileTrustStore::open(&dir).unwrap_err();
        assert!(matches!(err, FileStoreError::Corrupt { .. }), "{err}");
        // The open handle notices too, on read and on write, and writes nothing.
        assert!(s.get(&a).is_err());
        let (b, kb) = key(2);
        assert!(s.insert(b, kb).is_err());
        assert_eq!(fs::read(&path).unwrap(), &full[..full.len() - 4]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn readers_notice_outside_changes() {
        let dir = temp_dir("notice");
        let mut writer = FileTrustStore::open(&dir).unwrap();
        let reader = FileTrustStore::open(&dir).unwrap();
        let (a, ka) = key(1);
        assert_eq!(reader.get(&a).unwrap(), None);
        writer.insert(a, ka).unwrap();
        assert_eq!(reader.get(&a).unwrap(), Some(ka));
        writer.remove(&a).unwrap();
        assert_eq!(reader.get(&a).unwrap(), None);
        // The file removed by hand: an empty store (the user chose to drop it).
        writer.insert(a, ka).unwrap();
        assert_eq!(reader.get(&a).unwrap(), Some(ka));
        fs::remove_file(dir.join(FILE_NAME)).unwrap();
        assert_eq!(reader.get(&a).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A state directory exactly as this crate wrote it before marks existed: a trust
    /// file, its lock file, no marks file.
    fn pre_marks_state_dir(name: &str) -> (PathBuf, String) {
        let dir = temp_dir(name);
        fs::create_dir_all(&dir).unwrap();
        let (a, ka) = key(1);
        let (b, kb) = key(2);
        let (first, second) = if a < b {
            ((a, ka), (b, kb))
        } else {
            ((b, kb), (a, ka))
        };
        let text = format!(
            "stringphone-trust 1\n{} {}\n{} {}\nend 2\n",
            first.0, first.1, second.0, second.1
        );
        fs::write(dir.join("trust"), &text).unwrap();
        fs::write(dir.join("trust.lock"), "").unwrap();
        (dir, text)
    }

    #[test]
    fn a_store_from_before_marks_loads_and_keeps_its_trust_file() {
        let (dir, text) = pre_marks_state_dir("pre-marks");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let (a, ka) = key(1);
        assert_eq!(s.get(&a).unwrap(), Some(ka));
        assert_eq!(s.entries().unwrap().len(), 2);
        assert_eq!(s.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
        assert_eq!(s.load_mark(&MarkSlot::Received(a)).unwrap(), None);
        s.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        s.save_mark(MarkSlot::Received(a), 257).unwrap();
        // The trust file is untouched, byte for byte: an older program still reads it.
        assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), text);
        assert_eq!(parse(&text).unwrap().len(), 2);
        let again = FileTrustStore::open(&dir).unwrap();
        assert_eq!(again.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
        assert_eq!(again.load_mark(&MarkSlot::Received(a)).unwrap(), Some(257));
        assert_eq!(again.get(&a).unwrap(), Some(ka));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn marks_round_trip_across_reopen() {
        let dir = temp_dir("marks-rt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        assert!(!dir.exists(), "opening creates nothing");
        let (a, _) = key(1);
        let (b, _) = key(2);
        s.save_mark(MarkSlot::Received(b), 7).unwrap();
        s.save_mark(MarkSlot::OwnCounter, 2048).unwrap();
        s.save_mark(MarkSlot::Received(a), u64::MAX).unwrap();
        // Marks are not trust: the trust file is not even created.
        assert!(!dir.join(FILE_NAME).exists());
        assert!(s.entries().unwrap().is_empty());
        let text = fs::read_to_string(dir.join(MARKS_NAME)).unwrap();
        assert!(text.starts_with("stringphone-marks 1\nown 2048 "), "{text}");
        assert!(text.ends_with("end 3\n"), "{text}");
        let again = FileTrustStore::open(&dir).unwrap();
        assert_eq!(again.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(2048));
        assert_eq!(
            again.load_mark(&MarkSlot::Received(a)).unwrap(),
            Some(u64::MAX)
        );
        assert_eq!(again.load_mark(&MarkSlot::Received(b)).unwrap(), Some(7));
        let (c, _) = key(3);
        assert_eq!(again.load_mark(&MarkSlot::Received(c)).unwrap(), None);
        assert!(!dir.join(MARKS_TMP_NAME).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(MARKS_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn marks_only_go_down_when_a_handle_takes_back_its_own_reservation() {
        let dir = temp_dir("marks-monotone");
        let slot = MarkSlot::Received(key(1).0);
        let mut a = FileTrustStore::open(&dir).unwrap();
        let mut b = FileTrustStore::open(&dir).unwrap();

        // A raises ahead, then takes its own reservation back (a clean shutdown).
        assert_eq!(a.store_mark(slot, 300).unwrap(), 300);
        assert_eq!(a.store_mark(slot, 44).unwrap(), 44);
        // Another handle never lowers a mark it did not raise.
        assert_eq!(b.store_mark(slot, 10).unwrap(), 44);
        assert_eq!(b.mark(&slot).unwrap(), Some(44));

        // B raises A's mark: A can no longer lower it, not even to a value above its
        // own exact mark, since B may have accepted counters below B's mark.
        assert_eq!(b.store_mark(slot, 400).unwrap(), 400);
        assert_eq!(a.store_mark(slot, 45).unwrap(), 400);
        // B takes back, but never below the 44 it found there: what A had accepted
        // stays covered.
        assert_eq!(b.store_mark(slot, 1).unwrap(), 44);

        // An equal save takes ownership too: after B relies on A's 500, A's take-back
        // must not lower it.
        assert_eq!(a.store_mark(slot, 500).unwrap(), 500);
        assert_eq!(b.store_mark(slot, 500).unwrap(), 500);
        assert_eq!(a.store_mark(slot, 50).unwrap(), 500);
        // Nor can B go below the 500 it found (A's counters up to there may be in use).
        assert_eq!(b.store_mark(slot, 60).unwrap(), 500);
        assert_eq!(b.store_mark(slot, 560).unwrap(), 560);
        assert_eq!(b.store_mark(slot, 60).unwrap(), 500);

        // A restarted process (a new handle) starts with nothing of its own.
        let mut c = FileTrustStore::open(&dir).unwrap();
        assert_eq!(c.store_mark(slot, 0).unwrap(), 500);
        assert_eq!(
            FileTrustStore::open(&dir).unwrap().mark(&slot).unwrap(),
            Some(500)
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_mark_save_leaves_everything_as_it_was() {
        let dir = temp_dir("marks-fail");
        let mut s = FileTrustStore::open(&dir).unwrap();
        s.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        let before = fs::read(dir.join(MARKS_NAME)).unwrap();
        // A directory where the temporary file goes: creating it fails (even as root).
        fs::create_dir(dir.join(MARKS_TMP_NAME)).unwrap();
        let err = s.store_mark(MarkSlot::OwnCounter, 2048).unwrap_err();
        assert!(
            matches!(
                err,
                FileStoreError::Io {
                    action: "create",
                    ..
                }
            ),
            "{err}"
        );
        assert!(s.save_mark(MarkSlot::OwnCounter, 2048).is_err());
        // A lowering attempt fails the same way.
        assert!(s.save_mark(MarkSlot::OwnCounter, 5).is_err());
        assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), before);
        assert_eq!(s.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
        fs::remove_dir(dir.join(MARKS_TMP_NAME)).unwrap();
        // The handle's own state did not move either: it still owns 1024 (found 0).
        assert_eq!(s.store_mark(MarkSlot::OwnCounter, 5).unwrap(), 5);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_marks_are_a_typed_error_and_are_kept() {
        let dir = temp_dir("marks-corrupt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let (a, ka) = key(1);
        s.insert(a, ka).unwrap();
        s.save_mark(MarkSlot::Received(a), 300).unwrap();
        let path = dir.join(MARKS_NAME);
        let good = fs::read_to_string(&path).unwrap();
        let damaged = [
            good.replace(" 300 ", " 0300 "),
            good.replace(" 300 ", " -1 "),
            good.replace(" 300 ", " 18446744073709551616 "),
            good.replace("recv ", "recv  "),
            good.replace("end 1", "end 2"),
            good[..good.len() - 3].to_string(),
            format!("{good}{good}"),
            good.replace("stringphone-marks 1", "stringphone-marks 2"),
            good.to_uppercase(),
            String::new(),
        ];
        for text in &damaged {
            fs::write(&path, text).unwrap();
            for err in [
                s.mark(&MarkSlot::Received(a)).unwrap_err(),
                s.store_mark(MarkSlot::Received(a), 900).unwrap_err(),
            ] {
                assert!(
                    matches!(err, FileStoreError::CorruptMarks { .. }),
                    "{text:?}: {err}"
                );
                assert!(err.to_string().contains("replay marks file"), "{err}");
            }
            // Through the trait: the store's error, not a panic, not an empty store.
            let err = s.load_mark(&MarkSlot::OwnCounter).unwrap_err();
            assert!(err.to_string().contains("is corrupt at line"), "{err}");
            assert!(s.save_mark(MarkSlot::OwnCounter, 1).is_err());
            // Nothing written over it, and the trust file still works.
            assert_eq!(fs::read_to_string(&path).unwrap(), *text);
            assert_eq!(s.get(&a).unwrap(), Some(ka));
        }
        fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert!(matches!(
            s.mark(&MarkSlot::OwnCounter),
            Err(FileStoreError::CorruptMarks { line: 1, .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_marks_truncation_is_refused_and_the_format_is_exact() {
        let mut marks = BTreeMap::new();
        marks.insert(
            MarkSlot::OwnCounter,
            MarkEntry {
                mark: 1024,
                writer: 0xab,
            },
        );
        for n in 1..=3 {
            marks.insert(
                MarkSlot::Received(key(n).0),
                MarkEntry {
                    mark: u64::from(n) * 1000,
                    writer: u64::MAX,
                },
            );
        }
        let text = serialize_marks(&marks);
        assert_eq!(parse_marks(&text).unwrap(), marks);
        for cut in 0..text.len() {
            assert!(
                parse_marks(&text[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        assert!(parse_marks(&serialize_marks(&BTreeMap::new()))
            .unwrap()
            .is_empty());
        // Out of order: `own` after a sender, senders swapped.
        let lines: Vec<&str> = text.lines().collect();
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert!(parse_marks(&(swapped.join("\n") + "\n")).is_err());
        let mut swapped = lines.clone();
        swapped.swap(2, 3);
        assert!(parse_marks(&(swapped.join("\n") + "\n")).is_err());
        let mut repeated = lines.clone();
        repeated[3] = repeated[2];
        assert!(parse_marks(&(repeated.join("\n") + "\n")).is_err());
        assert!(parse_marks(&text.replace("own 1024 00000000000000ab", "own 1024 ab")).is_err());
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = temp_dir("concurrent");
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    // Each thread its own handle: its own stale cache, its own lock fd.
                    let mut s = FileTrustStore::open(&dir).unwrap();
                    for i in 0..10u8 {
                        let (id, k) = key(1 + t * 10 + i);
                        s.insert(id, k).unwrap();
                    }
                    // And one removal of an entry another thread wrote.
                    let (victim, _) = key(1 + ((t + 1) % 4) * 10);
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    while s.get(&victim).unwrap().is_none() {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "another writer's entry never appeared: an update was lost"
                        );
                        std::thread::yield_now();
                    }
                    s.remove(&victim).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = FileTrustStore::open(&dir).unwrap();
        assert_eq!(s.entries().unwrap().len(), 40 - 4);
        fs::remove_dir_all(&dir).unwrap();
    }
}
