//! A durable [`TrustStore`] for stringphone on SQLite.
//!
//! [`SqliteTrustStore`] keeps everything a participant knows beyond its keys in one
//! SQLite database file: whom it trusts, the v2 replay marks, and the v2 group state
//! (epoch chain, members, admins, the pending introduction, the topic key). SQLite is
//! built from the source `rusqlite` bundles, so no system library is needed.
//!
//! - **One transaction per change.** Every write ([`TrustStore::insert`],
//!   [`TrustStore::remove`], [`TrustStore::save_mark`],
//!   [`TrustStore::save_group_state`], [`SqliteTrustStore::insert_all`]) is one SQLite
//!   transaction: a process killed at any moment leaves the old state or the new one,
//!   never a mix (`tests/crash.rs` kills writers hundreds of times).
//! - **Write-ahead log, durable commits.** The database runs in WAL mode, so readers
//!   never wait for a writer. With [`Durability::Full`] (the default, SQLite's
//!   `synchronous=FULL`) a change is on disk before the call returns, power loss
//!   included; [`Durability::Normal`] (`synchronous=NORMAL`) skips the fsync per
//!   commit and survives any process crash, but may lose the last commits on power
//!   loss: see [`Durability`].
//! - **Several processes.** Writers take SQLite's write lock and wait for each other
//!   ([`BUSY_TIMEOUT`]); every read asks the database, so a `trust remove` in another
//!   process is seen by a running one at its next message. Replay marks follow the
//!   [rule for shared stores](#replay-marks), and one process at a time may send as
//!   the identity (the [sender lease](#sender-lease)).
//! - **Refuses what it does not know.** A file that is not an SQLite database, a
//!   damaged one, another program's database, or one written by a newer version of
//!   this crate is refused with one typed error ([`SqliteStoreError::Corrupt`],
//!   [`SqliteStoreError::Foreign`], [`SqliteStoreError::NewerSchema`]); the file is
//!   never replaced, emptied or written to.
//! - **Schema versions.** The database records its schema version; opening applies
//!   the migrations from the version found to [`SCHEMA_VERSION`], each in one
//!   transaction.
//! - **Private.** The database holds the topic key: it is created with mode 0600 (its
//!   `-wal` and `-shm` files get the same), in a directory created with mode 0700,
//!   and deleted content is overwritten (`secure_delete`).
//!
//! ```
//! use stringphone_core::{ParticipantId, PublicKey, TrustStore};
//! use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
//!
//! let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let key = PublicKey::from_bytes([7; 32]);
//! let id = participant_id(&key);
//!
//! let mut store = SqliteTrustStore::open(dir.join("state.db"))?;
//! store.insert(id, key)?;
//! // Another handle (another process, say) sees the change.
//! let mut other = SqliteTrustStore::open(dir.join("state.db"))?;
//! assert_eq!(other.get(&id)?, Some(key));
//! other.remove(&id)?;
//! assert_eq!(store.get(&id)?, None);
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
//! the exact values, which are lower. The database is shared by every process using
//! it, so a lower mark is applied only where that cannot undo anyone else's
//! reservation (the same rule as `stringphone-store-file`):
//!
//! - a save at or above the stored mark is applied (an equal one too: the handle
//!   saving it relies on it from now on);
//! - a save below the stored mark is applied only if this same handle wrote the
//!   stored mark (each handle writes a random token beside its marks), and never below
//!   the mark this handle found there before it raised it;
//! - any other save below the stored mark changes nothing: the higher mark stays.
//!
//! [`SqliteTrustStore::store_mark`] returns the mark actually stored.
//!
//! ```
//! use stringphone_core::{MarkSlot, PublicKey, TrustStore};
//! use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
//!
//! let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-marks-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let slot = MarkSlot::Received(participant_id(&PublicKey::from_bytes([7; 32])));
//! let mut store = SqliteTrustStore::open(dir.join("state.db"))?;
//! store.save_mark(slot, 1024)?;
//! // Durable: a new handle (a restarted process) finds it.
//! assert_eq!(SqliteTrustStore::open(dir.join("state.db"))?.load_mark(&slot)?, Some(1024));
//! // This handle raised it, so it may take its reservation back...
//! assert_eq!(store.store_mark(slot, 3)?, 3);
//! // ...but another handle cannot lower it.
//! let mut other = SqliteTrustStore::open(dir.join("state.db"))?;
//! assert_eq!(other.store_mark(slot, 1)?, 3);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Group state
//!
//! A v2 topic saves its whole group state ([`GroupState`]) after every change to it
//! and reads it back once, before its first v2 operation
//! ([`stringphone_core::Topic::resume`]). The database keeps the last one saved, with
//! its SHA-256, checked on every load: a damaged state is
//! [`SqliteStoreError::CorruptGroupState`], never "no state" (a topic that forgot its
//! group would go back to epoch 0, whose key a removed member holds). As in
//! `stringphone-store-file`, a save never moves the database to a **lower epoch**
//! ([`SqliteStoreError::StaleGroupState`]) or to **another topic**
//! ([`SqliteStoreError::GroupTopicMismatch`]); within one epoch the last save wins.
//!
//! # Sender lease
//!
//! Two processes sending as one identity would reserve interleaved counter blocks,
//! and receivers, having taken one process's higher counters, would refuse most of
//! the other's as too old (see `stringphone-store-file`'s docs for the whole
//! argument). So the first handle to store its own counter mark
//! ([`MarkSlot::OwnCounter`], the first thing a topic does before its first v2
//! message) takes the sender lease, and keeps it for as long as it lives; another
//! handle's own-counter save is refused with [`SqliteStoreError::SenderBusy`], naming
//! the holder's pid. A process that only receives never takes it.
//!
//! The lease is an exclusive `flock` on a file beside the database,
//! `<database>-sender.lock` ([`SqliteTrustStore::lease_path`]), not a row in it: the
//! kernel drops the lock when its holder exits, crash included, so a lease can never
//! outlive its process, and no liveness guess is needed (a row holding a pid would
//! need one, and pids are reused and differ across pid namespaces).
//!
//! ```
//! use stringphone_core::{MarkSlot, TrustStore};
//! use stringphone_store_sqlite::{SqliteStoreError, SqliteTrustStore};
//!
//! let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-lease-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let mut sender = SqliteTrustStore::open(dir.join("state.db"))?;
//! sender.save_mark(MarkSlot::OwnCounter, 1024)?; // what sending does first
//! assert!(sender.holds_lease());
//! let mut second = SqliteTrustStore::open(dir.join("state.db"))?;
//! let err = second.store_mark(MarkSlot::OwnCounter, 2048).unwrap_err();
//! assert!(matches!(err, SqliteStoreError::SenderBusy { .. }), "{err}");
//! drop(sender); // the lease ends with its handle (or its process)
//! let mut third = SqliteTrustStore::open(dir.join("state.db"))?;
//! assert_eq!(third.store_mark(MarkSlot::OwnCounter, 2048)?, 2048);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{ffi, params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::GroupState;
use stringphone_core::{MarkSlot, ParticipantId, PublicKey, StoreError, TrustStore};

/// The `application_id` a stringphone database carries in its header (`"SPst"`): how
/// another program's SQLite database is told apart from ours.
pub const APPLICATION_ID: i32 = 0x5350_7374;

/// The schema version this crate writes; opening migrates older databases to it and
/// refuses newer ones ([`SqliteStoreError::NewerSchema`]).
pub const SCHEMA_VERSION: u32 = 1;

/// How long a write waits for another process's write to finish before it fails
/// ("database is locked").
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The migrations, in order: `MIGRATIONS[v]` takes a database from schema version `v`
/// to `v + 1`. Each runs in one transaction with the version update.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: trust, replay marks, group state.
    "CREATE TABLE trust (
        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
        key BLOB NOT NULL CHECK (length(key) = 32)
     ) WITHOUT ROWID;
     -- slot: empty for this identity's own counter, else the sender's 16-byte id.
     -- mark: 8 bytes big-endian (marks use the whole u64 range); writer: the token of
     -- the handle that wrote it.
     CREATE TABLE marks (
        slot BLOB NOT NULL PRIMARY KEY CHECK (length(slot) IN (0, 16)),
        mark BLOB NOT NULL CHECK (length(mark) = 8),
        writer INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE group_state (
        one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
        state BLOB NOT NULL,
        sha256 BLOB NOT NULL CHECK (length(sha256) = 32)
     );",
];

const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// A participant id as the protocol computes it: the first 16 bytes of SHA-256 of the
/// public key. The store checks every entry against it.
///
/// ```
/// use stringphone_core::PublicKey;
/// let id = stringphone_store_sqlite::participant_id(&PublicKey::from_bytes([7; 32]));
/// assert_eq!(id.as_bytes().len(), 16);
/// ```
pub fn participant_id(key: &PublicKey) -> ParticipantId {
    let digest = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    ParticipantId::from_bytes(id)
}

/// How durable a commit is before the call that made it returns.
///
/// ```
/// use stringphone_store_sqlite::{Durability, SqliteTrustStore};
/// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-dur-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = SqliteTrustStore::open_with(dir.join("state.db"), Durability::Normal)?;
/// assert_eq!(store.durability(), Durability::Normal);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// SQLite's `synchronous=FULL`: every commit fsyncs the write-ahead log, so a
    /// change survives power loss once the call returns. What the [`TrustStore`]
    /// contract asks ("durably stores before returning"). The default.
    #[default]
    Full,
    /// SQLite's `synchronous=NORMAL`: commits are written but fsynced only at
    /// checkpoints. A change survives any crash of the process (the kernel has it),
    /// and the database stays consistent on power loss, but the last commits before a
    /// power loss may be lost: a replay mark among them would let replays of the
    /// messages it covered be accepted again after the reboot. For gateways that
    /// trade that window for speed, knowingly.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// What went wrong with the database.
///
/// ```
/// use stringphone_store_sqlite::{SqliteStoreError, SqliteTrustStore};
/// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-err-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("state.db"), b"not a database, just text").unwrap();
/// let err = SqliteTrustStore::open(dir.join("state.db")).unwrap_err();
/// assert!(matches!(err, SqliteStoreError::Corrupt { .. }), "{err}");
/// // Refused, not replaced.
/// assert_eq!(std::fs::read(dir.join("state.db")).unwrap(), b"not a database, just text");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// A filesystem call around the database failed (creating its directory or file,
    /// the sender lease's lock file).
    Io {
        /// What was being done (`"create directory"`, `"lock"`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An SQLite call failed (the disk is full, the database stayed locked by another
    /// process for longer than [`BUSY_TIMEOUT`], ...). Nothing was changed.
    Sqlite {
        /// What was being done (`"read trust"`, `"store a mark"`, ...).
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is not a readable stringphone database: not an SQLite file at all, or
    /// an SQLite file that is damaged, or one of ours whose contents break its own
    /// rules. It is refused, and nothing is written over it.
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is another program's SQLite database (its header does not carry
    /// [`APPLICATION_ID`]). It is refused, and nothing is written to it.
    Foreign {
        /// The database file.
        path: PathBuf,
        /// The `application_id` its header carries.
        application_id: i32,
    },
    /// The database was written by a newer version of this crate (its schema version
    /// is above [`SCHEMA_VERSION`]). It is refused, and nothing is written to it.
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found.
        found: u32,
        /// The newest schema version this crate knows.
        supported: u32,
    },
    /// The stored group state fails its checksum, or is not a group state this version
    /// reads. Nothing is read from it and nothing is written over it.
    CorruptGroupState {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// [`TrustStore::save_group_state`] was handed bytes that are not a group state.
    /// Nothing was written.
    NotAGroupState {
        /// Why [`GroupState::from_bytes`] refused them.
        reason: String,
    },
    /// A save would move the stored group state to a lower epoch: another process
    /// moved the group on since this one loaded it. Nothing was written.
    StaleGroupState {
        /// The database file.
        path: PathBuf,
        /// The epoch stored.
        stored: u32,
        /// The epoch of the state this handle tried to save.
        saving: u32,
    },
    /// A save would replace the stored group state with another topic's. Nothing was
    /// written: a database holds one topic's group.
    GroupTopicMismatch {
        /// The database file.
        path: PathBuf,
    },
    /// Another process holds the sender lease: it is sending as this identity from
    /// this database, so this one may not. Nothing was written.
    SenderBusy {
        /// The database file.
        path: PathBuf,
        /// The pid the lease holder wrote in the lock file, when it could be read.
        pid: Option<u32>,
    },
    /// This handle read its counter mark, then another process sent as this identity
    /// (and exited) before this handle took the sender lease: the counters this handle
    /// would use may be that process's. Nothing was written; open the database again
    /// to count on from where that process stopped.
    SenderRaced {
        /// The database file.
        path: PathBuf,
        /// The counter mark this handle had read.
        read: u64,
        /// The counter mark stored now.
        stored: u64,
    },
    /// `insert` was given an id that is not the SHA-256 prefix of the key.
    IdMismatch {
        /// The id given.
        id: ParticipantId,
        /// The id the key has.
        expected: ParticipantId,
    },
    /// [`SqliteTrustStore::import`] was asked to import into a database that already
    /// holds something. Nothing was written.
    NotEmpty {
        /// The database file.
        path: PathBuf,
    },
}

impl fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The OS's or SQLite's error is the source, printed by whoever walks the
            // chain.
            SqliteStoreError::Io { action, path, .. } => {
                write!(f, "cannot {action} {}", path.display())
            }
            SqliteStoreError::Sqlite { action, path, .. } => {
                write!(f, "cannot {action} in {}", path.display())
            }
            SqliteStoreError::Corrupt { path, reason } => write!(
                f,
                "{} is not a usable stringphone database ({reason}); refusing to use it: \
                 restore it from a backup or move it away",
                path.display()
            ),
            SqliteStoreError::Foreign {
                path,
                application_id,
            } => write!(
                f,
                "{} is another program's SQLite database (application id {application_id:#010x}, \
                 not stringphone's); refusing to touch it: give stringphone its own file",
                path.display()
            ),
            SqliteStoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "{} was written by a newer stringphone (schema version {found}; this one \
                 reads up to {supported}); refusing to use it: upgrade stringphone",
                path.display()
            ),
            SqliteStoreError::CorruptGroupState { path, reason } => write!(
                f,
                "the group state in {} is corrupt ({reason}); refusing to use it: restore \
                 the database from a backup (deleting the state forgets the v2 group: its \
                 epoch, members, admins and key; rejoin the topic then)",
                path.display()
            ),
            SqliteStoreError::NotAGroupState { reason } => write!(
                f,
                "refusing to store bytes that are not a group state: {reason}"
            ),
            SqliteStoreError::StaleGroupState {
                path,
                stored,
                saving,
            } => write!(
                f,
                "not saving the group state at epoch {saving}: {} holds epoch {stored}, \
                 saved by another process since this one started; restart this process to \
                 resume from it",
                path.display()
            ),
            SqliteStoreError::GroupTopicMismatch { path } => write!(
                f,
                "not saving the group state: {} holds another topic's group (one database \
                 holds one topic: use another database)",
                path.display()
            ),
            SqliteStoreError::SenderBusy { path, pid } => {
                let who = match pid {
                    Some(pid) => format!("another process (pid {pid})"),
                    None => "another process".to_string(),
                };
                write!(
                    f,
                    "{who} is sending as this identity from {}; only one process may send \
                     as one identity from one database: send through that process, or stop \
                     it and try again (or give this one its own identity and database)",
                    path.display()
                )
            }
            SqliteStoreError::SenderRaced { path, read, stored } => write!(
                f,
                "another process sent as this identity from {} while this one was starting \
                 to send (its counter moved from {read} to {stored}); start this process \
                 again to count on from there",
                path.display()
            ),
            SqliteStoreError::IdMismatch { id, expected } => write!(
                f,
                "participant id {id} does not belong to the key (its id is {expected})"
            ),
            SqliteStoreError::NotEmpty { path } => write!(
                f,
                "not importing into {}: it already holds trust, marks or a group state",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SqliteStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SqliteStoreError::Io { source, .. } => Some(source),
            SqliteStoreError::Sqlite { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<SqliteStoreError> for StoreError {
    fn from(e: SqliteStoreError) -> Self {
        StoreError::new(e)
    }
}

/// A token for the marks one handle writes: distinct across handles and processes
/// (std's `RandomState` is keyed from OS randomness), so a handle can tell whether it
/// wrote a mark last.
fn new_writer_token() -> i64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static HANDLES: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = RandomState::new().hash_one((
        std::process::id(),
        now,
        HANDLES.fetch_add(1, Ordering::Relaxed),
    )) as i64;
    // 0 is the writer of imported marks, which no handle may lower.
    if token == 0 {
        1
    } else {
        token
    }
}

/// The sender lease this handle holds: the locked lock file, and the process that
/// locked it.
struct Lease {
    /// Kept open for the handle's lifetime: closing it releases the lock.
    _file: File,
    /// A forked child inherits the open file, and with it the lock; it must not count
    /// that as its own (see [`SqliteTrustStore::holds_lease`]).
    pid: u32,
}

/// Everything a store holds, for [`SqliteTrustStore::import`] and
/// [`SqliteTrustStore::snapshot`]: the trusted participants, the replay marks and the
/// group state (whose bytes hold the topic key: zeroized when dropped).
///
/// ```
/// use stringphone_store_sqlite::Snapshot;
/// let empty = Snapshot::default();
/// assert!(empty.trust.is_empty() && empty.marks.is_empty() && empty.group_state.is_none());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every trusted participant.
    pub trust: BTreeMap<ParticipantId, PublicKey>,
    /// Every replay mark.
    pub marks: BTreeMap<MarkSlot, u64>,
    /// The group state's bytes ([`GroupState::to_bytes`]), if any.
    pub group_state: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("trust", &self.trust.len())
            .field("marks", &self.marks)
            .field(
                "group_state",
                &self
                    .group_state
                    .as_ref()
                    .map(|s| format!("{} bytes", s.len())),
            )
            .finish()
    }
}

/// A [`TrustStore`] in one SQLite database; see the crate docs for its guarantees.
///
/// A handle is one SQLite connection: `Send`, not `Sync` (one thread at a time). Open
/// one per thread or process; they see each other's changes.
pub struct SqliteTrustStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
    /// The token this handle writes beside the marks it stores.
    writer: i64,
    /// The marks this handle raised, by slot: the mark it found there before it raised
    /// it, below which it never lowers it. Meaningful only while the stored mark still
    /// carries `writer`.
    raised_from: BTreeMap<MarkSlot, u64>,
    /// The sender lease, once this handle stored its own counter mark.
    lease: Option<Lease>,
    /// The own-counter mark this handle last read or wrote (absent read as 0); `None`
    /// until it read it. A handle without the lease checks, when it takes it, that
    /// nobody sent since (see [`SqliteStoreError::SenderRaced`]).
    own_seen: Cell<Option<u64>>,
}

impl fmt::Debug for SqliteTrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTrustStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// The empty blob is this identity's own counter; a sender's slot is its id.
fn slot_key(slot: &MarkSlot) -> &[u8] {
    match slot {
        MarkSlot::OwnCounter => &[],
        MarkSlot::Received(id) => id.as_bytes(),
    }
}

impl SqliteTrustStore {
    /// Opens the database at `path` with [`Durability::Full`], creating it (and its
    /// directory) if missing. See [`open_with`](Self::open_with).
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-open-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open(dir.join("state.db"))?;
    /// assert!(store.entries()?.is_empty());
    /// assert!(dir.join("state.db").exists());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SqliteStoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens the database at `path`, creating it if missing (the directory with mode
    /// 0700, the file with mode 0600), with commits as durable as `durability` says.
    ///
    /// Refuses, writing nothing: a file that is not an SQLite database or is damaged
    /// ([`SqliteStoreError::Corrupt`]; SQLite's `quick_check` runs on every open),
    /// another program's database ([`SqliteStoreError::Foreign`]), one from a newer
    /// version of this crate ([`SqliteStoreError::NewerSchema`]). A database of an
    /// older schema version is migrated, one transaction per version.
    ///
    /// ```
    /// use stringphone_store_sqlite::{Durability, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-openw-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open_with(dir.join("state.db"), Durability::Full)?;
    /// assert_eq!(store.path(), dir.join("state.db"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn open_with(
        path: impl Into<PathBuf>,
        durability: Durability,
    ) -> Result<Self, SqliteStoreError> {
        let path = path.into();
        create_private_file(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(&path, "open the database", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(&path, "set the busy timeout", e))?;
        let mut store = SqliteTrustStore {
            conn,
            path,
            durability,
            writer: new_writer_token(),
            raised_from: BTreeMap::new(),
            lease: None,
            own_seen: Cell::new(None),
        };
        store.identify_or_create()?;
        store.migrate()?;
        store.configure()?;
        store.check()?;
        Ok(store)
    }

    /// Reads the header (nothing is written before it is known to be ours); creates
    /// the schema in a fresh, empty database.
    fn identify_or_create(&mut self) -> Result<(), SqliteStoreError> {
        if !self.is_blank()? {
            return self.ours();
        }
        // A blank database: WAL first (it cannot change inside a transaction), then the
        // header's id and the schema in one transaction, so a crash leaves a blank
        // database, which is created again next time.
        self.set_wal()?;
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, "create the database", e))?;
        if !is_blank(&tx, &path)? {
            // Another process created it meanwhile.
            drop(tx);
            return self.ours();
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .and_then(|()| {
                tx.execute_batch("CREATE TABLE stringphone_schema (version INTEGER NOT NULL);")
            })
            .and_then(|()| {
                tx.execute(
                    "INSERT INTO stringphone_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
            })
            .and_then(|_| MIGRATIONS.iter().try_for_each(|sql| tx.execute_batch(sql)))
            .and_then(|()| tx.commit())
            .map_err(|e| classify(&path, "create the database", e))
    }

    fn is_blank(&self) -> Result<bool, SqliteStoreError> {
        is_blank(&self.conn, &self.path)
    }

    fn ours(&self) -> Result<(), SqliteStoreError> {
        let application_id = application_id(&self.conn, &self.path)?;
        if application_id == APPLICATION_ID {
            Ok(())
        } else {
            Err(SqliteStoreError::Foreign {
                path: self.path.clone(),
                application_id,
            })
        }
    }

    fn set_wal(&self) -> Result<(), SqliteStoreError> {
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| classify(&self.path, "switch to WAL mode", e))?;
        if mode.eq_ignore_ascii_case("wal") {
            Ok(())
        } else {
            Err(SqliteStoreError::Sqlite {
                action: "switch to WAL mode",
                path: self.path.clone(),
                source: rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode stayed {mode}"
                )),
            })
        }
    }

    /// The schema version stored.
    fn stored_version(conn: &Connection, path: &Path) -> Result<u32, SqliteStoreError> {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'stringphone_schema'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| classify(path, "read the schema version", e))?;
        if tables != 1 {
            return Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "its schema version table is missing".into(),
            });
        }
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM stringphone_schema")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| classify(path, "read the schema version", e))?;
        match versions.as_slice() {
            [v] => u32::try_from(*v).map_err(|_| SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("schema version {v} is not a version"),
            }),
            _ => Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("{} schema version rows instead of one", versions.len()),
            }),
        }
    }

    /// Applies the migrations from the stored version up to [`SCHEMA_VERSION`], one
    /// transaction each; refuses a newer database.
    fn migrate(&mut self) -> Result<(), SqliteStoreError> {
        loop {
            let version = Self::stored_version(&self.conn, &self.path)?;
            if version > SCHEMA_VERSION {
                return Err(SqliteStoreError::NewerSchema {
                    path: self.path.clone(),
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            if version == SCHEMA_VERSION {
                return Ok(());
            }
            let path = self.path.clone();
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| classify(&path, "migrate the schema", e))?;
            // Another process may have migrated meanwhile: read again under the lock.
            if Self::stored_version(&tx, &path)? != version {
                continue;
            }
            tx.execute_batch(MIGRATIONS[version as usize])
                .and_then(|()| {
                    tx.execute("UPDATE stringphone_schema SET version = ?1", [version + 1])
                })
                .and_then(|_| tx.commit())
                .map_err(|e| classify(&path, "migrate the schema", e))?;
        }
    }

    /// Per-connection settings, and WAL for a database that is not in it.
    fn configure(&self) -> Result<(), SqliteStoreError> {
        let mode: String = self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| classify(&self.path, "read the journal mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            self.set_wal()?;
        }
        self.conn
            .pragma_update(None, "synchronous", self.durability.pragma())
            .and_then(|()| self.conn.pragma_update(None, "secure_delete", "ON"))
            .map_err(|e| classify(&self.path, "configure the connection", e))
    }

    /// SQLite's own check of the file's structure, then ours of the rows.
    fn check(&self) -> Result<(), SqliteStoreError> {
        let verdicts: Vec<String> = self
            .conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| classify(&self.path, "check the database", e))?;
        if verdicts != ["ok"] {
            return Err(SqliteStoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("SQLite's check: {}", verdicts.join("; ")),
            });
        }
        self.entries()?;
        self.marks()?;
        self.group_state()?;
        Ok(())
    }

    /// The database file.
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-path-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// assert_eq!(SqliteTrustStore::open(dir.join("s.db"))?.path(), dir.join("s.db"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How durable this handle's commits are.
    ///
    /// ```
    /// use stringphone_store_sqlite::{Durability, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-durab-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// assert_eq!(SqliteTrustStore::open(dir.join("s.db"))?.durability(), Durability::Full);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The sender lease's lock file: `<database>-sender.lock`.
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-lp-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(store.lease_path(), dir.join("s.db-sender.lock"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn lease_path(&self) -> PathBuf {
        lease_path(&self.path)
    }

    fn sql_err(
        &self,
        action: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> SqliteStoreError + '_ {
        move |e| classify(&self.path, action, e)
    }

    fn corrupt(&self, reason: impl Into<String>) -> SqliteStoreError {
        SqliteStoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// A trust row as read: checked to be a key under its own id.
    fn trust_row(
        &self,
        id: &[u8],
        key: &[u8],
    ) -> Result<(ParticipantId, PublicKey), SqliteStoreError> {
        let (Ok(id), Ok(key)) = (<[u8; 16]>::try_from(id), <[u8; 32]>::try_from(key)) else {
            return Err(self.corrupt("a trust row of the wrong length"));
        };
        let (id, key) = (ParticipantId::from_bytes(id), PublicKey::from_bytes(key));
        if participant_id(&key) != id {
            return Err(self.corrupt(format!(
                "trust row {id}: the id is not the SHA-256 prefix of the key"
            )));
        }
        Ok((id, key))
    }

    /// Every trusted participant, in id order, each checked to be a key under its own
    /// id.
    ///
    /// ```
    /// use stringphone_core::{PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-entries-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// assert_eq!(store.entries()?, vec![(participant_id(&key), key)]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entries(&self) -> Result<Vec<(ParticipantId, PublicKey)>, SqliteStoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, key FROM trust ORDER BY id")
            .map_err(self.sql_err("read trust"))?;
        let mut rows = stmt.query([]).map_err(self.sql_err("read trust"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.sql_err("read trust"))? {
            let id = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read trust"))?;
            let key = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read trust"))?;
            out.push(self.trust_row(id, key)?);
        }
        Ok(out)
    }

    /// How many participants are trusted.
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-len-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(store.len()?, 0);
    /// assert!(store.is_empty()?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn len(&self) -> Result<usize, SqliteStoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM trust")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(self.sql_err("count trust"))?;
        Ok(n as usize)
    }

    /// Whether nobody is trusted.
    ///
    /// ```
    /// use stringphone_core::{PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-empty-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// assert!(!store.is_empty()?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, SqliteStoreError> {
        Ok(self.len()? == 0)
    }

    /// Trusts every key in `keys`, in one transaction (all or none): how a gateway
    /// loads thousands of participants without a commit each. Returns how many were
    /// new.
    ///
    /// ```
    /// use stringphone_core::PublicKey;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-all-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let keys: Vec<PublicKey> = (1..=3u8).map(|n| PublicKey::from_bytes([n; 32])).collect();
    /// assert_eq!(store.insert_all(keys.iter().copied())?, 3);
    /// assert_eq!(store.insert_all(keys)?, 0);
    /// assert_eq!(store.len()?, 3);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn insert_all(
        &mut self,
        keys: impl IntoIterator<Item = PublicKey>,
    ) -> Result<usize, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "store trust", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO trust (id, key) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET key = excluded.key WHERE key != excluded.key",
                )
                .map_err(err)?;
            let mut exists = tx
                .prepare_cached("SELECT 1 FROM trust WHERE id = ?1")
                .map_err(err)?;
            for key in keys {
                let id = participant_id(&key);
                let id = id.as_bytes();
                if !exists.exists([&id[..]]).map_err(err)? {
                    added += 1;
                }
                stmt.execute(params![&id[..], &key.as_bytes()[..]])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Stops trusting every id in `ids`, in one transaction (all or none). Returns how
    /// many were trusted.
    ///
    /// ```
    /// use stringphone_core::PublicKey;
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-rmall-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let keys: Vec<PublicKey> = (1..=3u8).map(|n| PublicKey::from_bytes([n; 32])).collect();
    /// store.insert_all(keys.iter().copied())?;
    /// assert_eq!(store.remove_all(keys[..2].iter().map(participant_id))?, 2);
    /// assert_eq!(store.len()?, 1);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn remove_all(
        &mut self,
        ids: impl IntoIterator<Item = ParticipantId>,
    ) -> Result<usize, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "remove trust", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut removed = 0;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM trust WHERE id = ?1")
                .map_err(err)?;
            for id in ids {
                removed += stmt.execute([&id.as_bytes()[..]]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }

    /// The v2 mark stored under `slot`, read from the database now; `None` if there is
    /// none.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, None);
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, Some(7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn mark(&self, slot: &MarkSlot) -> Result<Option<u64>, SqliteStoreError> {
        let mark = read_mark(&self.conn, &self.path, slot)?.map(|(mark, _)| mark);
        if *slot == MarkSlot::OwnCounter {
            self.own_seen.set(Some(mark.unwrap_or(0)));
        }
        Ok(mark)
    }

    /// Every v2 mark stored.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-marks-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.marks()?.get(&MarkSlot::OwnCounter), Some(&7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn marks(&self) -> Result<BTreeMap<MarkSlot, u64>, SqliteStoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT slot, mark FROM marks")
            .map_err(self.sql_err("read marks"))?;
        let mut rows = stmt.query([]).map_err(self.sql_err("read marks"))?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().map_err(self.sql_err("read marks"))? {
            let slot = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read marks"))?;
            let slot = match <[u8; 16]>::try_from(slot) {
                _ if slot.is_empty() => MarkSlot::OwnCounter,
                Ok(id) => MarkSlot::Received(ParticipantId::from_bytes(id)),
                Err(_) => return Err(self.corrupt("a mark row with a slot of the wrong length")),
            };
            let mark = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read marks"))?;
            let mark =
                decode_mark(mark).ok_or_else(|| self.corrupt("a mark of the wrong length"))?;
            out.insert(slot, mark);
        }
        Ok(out)
    }

    /// Stores `mark` under `slot` in one transaction, durable as [`Durability`] says,
    /// by the rule for shared stores (see [Replay marks](crate#replay-marks)); returns
    /// the mark stored now. Storing the own counter's mark takes the sender lease
    /// first ([`SqliteStoreError::SenderBusy`], [`SqliteStoreError::SenderRaced`]).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-store-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let slot = MarkSlot::Received(participant_id(&PublicKey::from_bytes([1; 32])));
    /// let mut a = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let mut b = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(a.store_mark(slot, 300)?, 300);
    /// assert_eq!(b.store_mark(slot, 400)?, 400); // B raises A's mark...
    /// assert_eq!(a.store_mark(slot, 45)?, 400); // ...so A can no longer lower it.
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn store_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<u64, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "store a mark", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current = read_mark(&tx, &path, &slot)?;
        // The own counter: saving it is what sending takes, so it takes the lease.
        let mut new_lease = None;
        let holds_lease = self
            .lease
            .as_ref()
            .is_some_and(|l| l.pid == std::process::id());
        if slot == MarkSlot::OwnCounter && !holds_lease {
            let seen = self.own_seen.get();
            let stored = current.map_or(0, |(m, _)| m);
            // Reserving nothing above what this handle saw and what is stored (a clean
            // exit after its first send was refused): no counter to send with, so no
            // lease needed, and nothing to write.
            if mark <= stored && mark <= seen.unwrap_or(0) {
                return Ok(stored);
            }
            // A forked child's copy of its parent's lease is not its own.
            self.lease = None;
            let lease = take_lease(&self.path, &lease_path(&self.path))?;
            if let Some(read) = seen.filter(|read| stored > *read) {
                // Another process reserved counters after this handle read the mark,
                // then let the lease go: the counters above `read` may be its.
                return Err(SqliteStoreError::SenderRaced { path, read, stored });
            }
            new_lease = Some(lease);
        }
        let ours = current
            .filter(|(_, writer)| *writer == self.writer)
            .and_then(|_| self.raised_from.get(&slot).copied());
        let write = match (current, ours) {
            // Nothing stored yet: nothing of anyone else's to protect.
            (None, _) => Some((0, mark)),
            // Our own reservation: raise it, or take it back down to where we found it.
            (Some((stored, _)), Some(floor)) => {
                let new = mark.max(floor);
                (new != stored).then_some((floor, new))
            }
            // Someone else's mark (or one from before this handle): raise it or leave
            // it. An equal save is written too, so that its last writer (who may be
            // about to lower it) no longer owns it: this handle relies on it from now on.
            (Some((stored, _)), None) if mark >= stored => Some((stored, mark)),
            (Some(_), None) => None,
        };
        let stored = match write {
            Some((floor, new)) => {
                tx.execute(
                    "INSERT INTO marks (slot, mark, writer) VALUES (?1, ?2, ?3)
                     ON CONFLICT (slot) DO UPDATE SET mark = excluded.mark, writer = excluded.writer",
                    params![slot_key(&slot), &new.to_be_bytes()[..], self.writer],
                )
                .and_then(|_| tx.commit())
                .map_err(err)?;
                self.raised_from.insert(slot, floor);
                new
            }
            None => current.map_or(mark, |(m, _)| m.max(mark)),
        };
        if new_lease.is_some() {
            self.lease = new_lease;
        }
        if slot == MarkSlot::OwnCounter {
            self.own_seen.set(Some(stored));
        }
        Ok(stored)
    }

    /// Whether this handle holds the sender lease (it stored its own counter's mark,
    /// in this process). A forked child has a copy of the parent's lock, which is the
    /// parent's: the child takes its own.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-holds-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert!(!store.holds_lease());
    /// store.store_mark(MarkSlot::OwnCounter, 1024)?;
    /// assert!(store.holds_lease());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn holds_lease(&self) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.pid == std::process::id())
    }

    /// The v2 group state stored (the bytes of [`GroupState::to_bytes`]), read now and
    /// checked (its SHA-256, and that the bytes are a group state); `None` if there is
    /// none. The bytes hold the topic key: they are zeroized when dropped.
    ///
    /// ```
    /// use stringphone_core::v2::{GroupState, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let db = dir.join("s.db");
    /// let seed = SigningSeed::from_bytes([2; 32]);
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut topic = Topic::<RustCrypto, _>::with_store(seed.clone(), Some(key), SqliteTrustStore::open(&db)?);
    /// topic.set_topic_id(TopicId::from_name(b"home/kitchen"))?; // saved to the store
    ///
    /// let bytes = SqliteTrustStore::open(&db)?.group_state()?.expect("saved");
    /// assert_eq!(GroupState::from_bytes(&bytes)?.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    ///
    /// // A restarted process resumes it on its first v2 operation.
    /// let mut restarted = Topic::<RustCrypto, _>::with_store(seed, None, SqliteTrustStore::open(&db)?);
    /// assert!(restarted.resume()?);
    /// assert_eq!(restarted.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, SqliteStoreError> {
        read_group_state(&self.conn, &self.path).map(|s| s.map(|(bytes, _)| bytes))
    }

    /// Stores `state` (the bytes of [`GroupState::to_bytes`]) as the group state, in
    /// one transaction, replacing the one stored. Refused, writing nothing, when the
    /// bytes are not a group state ([`SqliteStoreError::NotAGroupState`]), or the
    /// stored one is corrupt, belongs to another topic
    /// ([`SqliteStoreError::GroupTopicMismatch`]) or is at a higher epoch
    /// ([`SqliteStoreError::StaleGroupState`]).
    ///
    /// ```
    /// use stringphone_core::v2::{ProtocolVersion, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_sqlite::{SqliteStoreError, SqliteTrustStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-sg-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut admin = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// admin.set_topic_id(TopicId::from_name(b"home/kitchen"))?;
    /// admin.set_protocol(ProtocolVersion::V2);
    /// let at_zero = admin.group_state().to_bytes();
    /// admin.rotate(None)?;
    ///
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.store_group_state(&admin.group_state().to_bytes())?;
    /// // A process still at epoch 0 cannot take the database back there.
    /// let err = SqliteTrustStore::open(dir.join("s.db"))?.store_group_state(&at_zero).unwrap_err();
    /// assert!(matches!(err, SqliteStoreError::StaleGroupState { stored: 1, saving: 0, .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_group_state(&mut self, state: &[u8]) -> Result<(), SqliteStoreError> {
        let saving =
            GroupState::from_bytes(state).map_err(|e| SqliteStoreError::NotAGroupState {
                reason: e.to_string(),
            })?;
        let path = self.path.clone();
        let err = |e| classify(&path, "store the group state", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some((_, stored)) = read_group_state(&tx, &path)? {
            if stored.topic_id().is_some() && stored.topic_id() != saving.topic_id() {
                return Err(SqliteStoreError::GroupTopicMismatch { path });
            }
            if saving.epoch() < stored.epoch() {
                return Err(SqliteStoreError::StaleGroupState {
                    path,
                    stored: stored.epoch(),
                    saving: saving.epoch(),
                });
            }
        }
        let digest: [u8; 32] = Sha256::digest(state).into();
        tx.execute(
            "INSERT INTO group_state (one, state, sha256) VALUES (1, ?1, ?2)
             ON CONFLICT (one) DO UPDATE SET state = excluded.state, sha256 = excluded.sha256",
            params![state, &digest[..]],
        )
        .and_then(|_| tx.commit())
        .map_err(err)
    }

    /// Everything this database holds, read in one transaction (a consistent view).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-snap-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// store.save_mark(MarkSlot::Received(participant_id(&key)), 300)?;
    /// let snap = store.snapshot()?;
    /// assert_eq!(snap.trust.len(), 1);
    /// assert_eq!(snap.marks.len(), 1);
    /// assert!(snap.group_state.is_none());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Result<Snapshot, SqliteStoreError> {
        // The reads below run inside this one read transaction (same connection), so
        // they see one state.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.sql_err("read the database"))?;
        let snapshot = Snapshot {
            trust: self.entries()?.into_iter().collect(),
            marks: self.marks()?,
            group_state: self.group_state()?,
        };
        drop(tx);
        Ok(snapshot)
    }

    /// Writes `snapshot` (a state read from another store: the one-time import of a
    /// text store's state directory, say) into this database in one transaction, all
    /// or nothing. Refused, writing nothing, unless the database is empty
    /// ([`SqliteStoreError::NotEmpty`]), or when a trust entry's id is not its key's
    /// ([`SqliteStoreError::IdMismatch`]) or the group state's bytes are not one
    /// ([`SqliteStoreError::NotAGroupState`]). Marks are written as they are, owned by
    /// nobody (no handle can lower them).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey};
    /// use stringphone_store_sqlite::{participant_id, Snapshot, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-import-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let key = PublicKey::from_bytes([7; 32]);
    /// let mut snap = Snapshot::default();
    /// snap.trust.insert(participant_id(&key), key);
    /// snap.marks.insert(MarkSlot::OwnCounter, 2048);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.import(&snap)?;
    /// assert_eq!(store.snapshot()?, snap);
    /// assert!(store.import(&snap).is_err()); // only into an empty database
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn import(&mut self, snapshot: &Snapshot) -> Result<(), SqliteStoreError> {
        for (id, key) in &snapshot.trust {
            let expected = participant_id(key);
            if expected != *id {
                return Err(SqliteStoreError::IdMismatch { id: *id, expected });
            }
        }
        if let Some(state) = &snapshot.group_state {
            GroupState::from_bytes(state).map_err(|e| SqliteStoreError::NotAGroupState {
                reason: e.to_string(),
            })?;
        }
        let path = self.path.clone();
        let err = |e| classify(&path, "import", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let held: i64 = tx
            .query_row(
                "SELECT (SELECT count(*) FROM trust) + (SELECT count(*) FROM marks)
                      + (SELECT count(*) FROM group_state)",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if held != 0 {
            return Err(SqliteStoreError::NotEmpty { path });
        }
        for (id, key) in &snapshot.trust {
            tx.execute(
                "INSERT INTO trust (id, key) VALUES (?1, ?2)",
                params![&id.as_bytes()[..], &key.as_bytes()[..]],
            )
            .map_err(err)?;
        }
        for (slot, mark) in &snapshot.marks {
            // Writer 0: no handle's token (tokens are random), so nobody owns them.
            tx.execute(
                "INSERT INTO marks (slot, mark, writer) VALUES (?1, ?2, 0)",
                params![slot_key(slot), &mark.to_be_bytes()[..]],
            )
            .map_err(err)?;
        }
        if let Some(state) = &snapshot.group_state {
            let digest: [u8; 32] = Sha256::digest(&state[..]).into();
            tx.execute(
                "INSERT INTO group_state (one, state, sha256) VALUES (1, ?1, ?2)",
                params![&state[..], &digest[..]],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

/// The `application_id` in the database's header (read, not written: this is how
/// an open decides whether the file is ours).
fn application_id(conn: &Connection, path: &Path) -> Result<i32, SqliteStoreError> {
    conn.pragma_query_value(None, "application_id", |r| r.get::<_, i64>(0))
        .map(|id| id as i32)
        .map_err(|e| classify(path, "read the database header", e))
}

/// Whether the database holds nothing at all: no page, or (after WAL mode was set on a
/// new file) a header without an application id and no schema object. Anything else
/// is someone's data, ours or not.
fn is_blank(conn: &Connection, path: &Path) -> Result<bool, SqliteStoreError> {
    let err = |e| classify(path, "read the database header", e);
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .map_err(err)?;
    if pages == 0 {
        return Ok(true);
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(err)?;
    Ok(objects == 0 && application_id(conn, path)? == 0)
}

fn decode_mark(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// The mark and its writer's token stored under `slot`.
fn read_mark(
    conn: &Connection,
    path: &Path,
    slot: &MarkSlot,
) -> Result<Option<(u64, i64)>, SqliteStoreError> {
    let row = conn
        .prepare_cached("SELECT mark, writer FROM marks WHERE slot = ?1")
        .and_then(|mut s| {
            s.query_row([slot_key(slot)], |r| {
                Ok((r.get_ref(0)?.as_blob()?.to_vec(), r.get::<_, i64>(1)?))
            })
            .optional()
        })
        .map_err(|e| classify(path, "read a mark", e))?;
    match row {
        None => Ok(None),
        Some((mark, writer)) => match decode_mark(&mark) {
            Some(mark) => Ok(Some((mark, writer))),
            None => Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "a mark of the wrong length".into(),
            }),
        },
    }
}

/// A stored group state: its bytes, and what they parse to.
type StoredGroup = (Zeroizing<Vec<u8>>, GroupState);

/// The stored group state, checked.
fn read_group_state(
    conn: &Connection,
    path: &Path,
) -> Result<Option<StoredGroup>, SqliteStoreError> {
    let corrupt = |reason: String| SqliteStoreError::CorruptGroupState {
        path: path.to_path_buf(),
        reason,
    };
    let row = conn
        .prepare_cached("SELECT state, sha256 FROM group_state WHERE one = 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                let state = Zeroizing::new(r.get_ref(0)?.as_blob()?.to_vec());
                let digest = r.get_ref(1)?.as_blob()?.to_vec();
                Ok((state, digest))
            })
            .optional()
        })
        .map_err(|e| classify(path, "read the group state", e))?;
    let Some((state, digest)) = row else {
        return Ok(None);
    };
    if Sha256::digest(&state[..])[..] != digest[..] {
        return Err(corrupt("its SHA-256 does not match".into()));
    }
    let parsed = GroupState::from_bytes(&state).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some((state, parsed)))
}

fn lease_path(db: &Path) -> PathBuf {
    let mut name = db.to_path_buf().into_os_string();
    name.push("-sender.lock");
    PathBuf::from(name)
}

/// Takes the sender lease: a non-blocking exclusive lock on the lock file, with this
/// process's pid written in it for whoever is refused next.
fn take_lease(db: &Path, path: &Path) -> Result<Lease, SqliteStoreError> {
    let io = |action| {
        move |source| SqliteStoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io("open"))?;
    match file.try_lock() {
        Ok(()) => {
            let pid = std::process::id();
            // The pid only makes the next refusal clearer: a failure to write it costs
            // that, not the lease.
            let _ = file
                .set_len(0)
                .and_then(|()| file.write_all(format!("{pid}\n").as_bytes()));
            Ok(Lease { _file: file, pid })
        }
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.strip_suffix('\n')?.parse().ok());
            Err(SqliteStoreError::SenderBusy {
                path: db.to_path_buf(),
                pid,
            })
        }
        Err(fs::TryLockError::Error(e)) => Err(io("lock")(e)),
    }
}

/// An SQLite error, with damage and foreign files told apart from other failures.
fn classify(path: &Path, action: &'static str, e: rusqlite::Error) -> SqliteStoreError {
    match e.sqlite_error().map(|f| f.extended_code & 0xff) {
        Some(ffi::SQLITE_NOTADB) => SqliteStoreError::Corrupt {
            path: path.to_path_buf(),
            reason: "not an SQLite database".into(),
        },
        Some(ffi::SQLITE_CORRUPT) => SqliteStoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("SQLite: {e}"),
        },
        _ => SqliteStoreError::Sqlite {
            action,
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Creates the database's directory (mode 0700) and an empty file (mode 0600) if
/// missing, so that SQLite, which gives its `-wal` and `-shm` files the database's
/// mode, never makes them readable by others.
fn create_private_file(path: &Path) -> Result<(), SqliteStoreError> {
    let io = |action, p: &Path| {
        let p = p.to_path_buf();
        move |source| SqliteStoreError::Io {
            action,
            path: p,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io("create directory", dir))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", path)(e)),
    }
}

impl TrustStore for SqliteTrustStore {
    type Iter<'a> = std::vec::IntoIter<(ParticipantId, PublicKey)>;

    /// One indexed read of the database, so a change by another process is seen at
    /// once.
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        let key = self
            .conn
            .prepare_cached("SELECT key FROM trust WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([&id.as_bytes()[..]], |r| {
                    Ok(<[u8; 32]>::try_from(r.get_ref(0)?.as_blob()?).ok())
                })
                .optional()
            })
            .map_err(self.sql_err("read trust"))?;
        match key {
            None => Ok(None),
            Some(Some(key)) => Ok(Some(PublicKey::from_bytes(key))),
            Some(None) => Err(self.corrupt("a trust row of the wrong length").into()),
        }
    }

    /// One statement, so one transaction. Refuses an id that is not the key's.
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        let expected = participant_id(&key);
        if expected != id {
            return Err(SqliteStoreError::IdMismatch { id, expected }.into());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO trust (id, key) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key WHERE key != excluded.key",
            )
            .and_then(|mut s| s.execute(params![&id.as_bytes()[..], &key.as_bytes()[..]]))
            .map_err(self.sql_err("store trust"))?;
        Ok(())
    }

    /// One statement (`DELETE ... RETURNING`), so one transaction.
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        let key = self
            .conn
            .prepare_cached("DELETE FROM trust WHERE id = ?1 RETURNING key")
            .and_then(|mut s| {
                s.query_row([&id.as_bytes()[..]], |r| {
                    Ok(<[u8; 32]>::try_from(r.get_ref(0)?.as_blob()?).ok())
                })
                .optional()
            })
            .map_err(self.sql_err("remove trust"))?;
        Ok(key.flatten().map(PublicKey::from_bytes))
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.entries()?.into_iter())
    }

    /// [`SqliteTrustStore::mark`]: read from the database now.
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        Ok(self.mark(slot)?)
    }

    /// [`SqliteTrustStore::store_mark`]: one transaction; a lower mark is stored only
    /// when it takes back this handle's own reservation.
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.store_mark(slot, mark)?;
        Ok(())
    }

    /// [`SqliteTrustStore::group_state`]: read and checked now.
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.group_state()?)
    }

    /// [`SqliteTrustStore::store_group_state`]: one transaction; never to a lower
    /// epoch or another topic than the one stored.
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.store_group_state(state)?;
        Ok(())
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
