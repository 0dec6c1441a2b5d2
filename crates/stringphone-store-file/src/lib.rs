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
use stringphone_core::{ParticipantId, PublicKey, StoreError, TrustStore};

/// Name of the store file inside the state directory.
pub const FILE_NAME: &str = "trust";
/// Name of the lock file inside the state directory (never renamed, so every writer
/// locks the same inode).
pub const LOCK_NAME: &str = "trust.lock";
/// Name of the temporary file a write goes through.
pub const TMP_NAME: &str = "trust.tmp";
/// First line of a version-1 store file.
pub const HEADER: &str = "stringphone-trust 1";

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

/// A [`TrustStore`] kept in `<dir>/trust`; see the crate docs for its guarantees.
///
/// Opening creates nothing: a missing file is an empty store, and the directory
/// (mode 0700) and files (mode 0600) are created by the first write.
pub struct FileTrustStore {
    dir: PathBuf,
    path: PathBuf,
    cache: Mutex<Cached>,
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
            dir,
            cache: Mutex::new(Cached::default()),
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
        create_private_dir(&self.dir)?;
        let lock_path = self.dir.join(LOCK_NAME);
        let lock = private_file(&lock_path, false).map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;

        let mut cache = self.lock_cache();
        let (_, mut entries) = self.load()?;
        let (result, changed) = change(&mut entries);
        if changed {
            let tmp_path = self.dir.join(TMP_NAME);
            let mut tmp = private_file(&tmp_path, true).map_err(io_err("create", &tmp_path))?;
            tmp.write_all(serialize(&entries).as_bytes())
                .map_err(io_err("write", &tmp_path))?;
            tmp.sync_all().map_err(io_err("fsync", &tmp_path))?;
            drop(tmp);
            fs::rename(&tmp_path, &self.path).map_err(io_err("rename into place", &self.path))?;
            sync_dir(&self.dir)?;
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
