//! A durable [`TrustStore`](stringphone_core::TrustStore) for stringphone on SQLite.
//!
//! [`SqliteTrustStore`] keeps everything a participant knows beyond its keys in one
//! SQLite database file: whom it trusts, the v2 replay marks, and the v2 group state
//! (epoch chain, members, admins, the pending introduction, the topic key). SQLite is
//! built from the source `rusqlite` bundles, so no system library is needed.
//!
//! - **One transaction per change.** Every write ([`TrustStore::insert`](stringphone_core::TrustStore::insert),
//!   [`TrustStore::remove`](stringphone_core::TrustStore::remove), [`TrustStore::save_mark`](stringphone_core::TrustStore::save_mark),
//!   [`TrustStore::save_group_state`](stringphone_core::TrustStore::save_group_state), [`SqliteTrustStore::insert_all`]) is one SQLite
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
//!   process is seen by a running one at its next message (a batch's trust is read
//!   in one read transaction, [`TrustStore::with_read_snapshot`](stringphone_core::TrustStore::with_read_snapshot):
//!   there, at its next batch). Replay marks follow the
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
//! A v2 topic saves its whole group state ([`GroupState`](stringphone_core::v2::GroupState)) after every change to it
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

mod error;
mod group;
mod lease;
mod marks;
mod open;
mod snapshot;
mod trust;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use stringphone_core::{MarkSlot, ParticipantId, PublicKey};

use crate::error::classify;
use crate::lease::Lease;

pub use error::SqliteStoreError;
pub use snapshot::Snapshot;

/// The `application_id` a stringphone database carries in its header (`"SPst"`): how
/// another program's SQLite database is told apart from ours.
pub const APPLICATION_ID: i32 = 0x5350_7374;

/// The schema version this crate writes; opening migrates older databases to it and
/// refuses newer ones ([`SqliteStoreError::NewerSchema`]).
pub const SCHEMA_VERSION: u32 = 1;

/// How long a write waits for another process's write to finish before it fails
/// ("database is locked").
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// change survives power loss once the call returns. What the [`TrustStore`](stringphone_core::TrustStore)
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

/// A [`TrustStore`](stringphone_core::TrustStore) in one SQLite database; see the crate docs for its guarantees.
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

impl SqliteTrustStore {
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

    pub(crate) fn sql_err(
        &self,
        action: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> SqliteStoreError + '_ {
        move |e| classify(&self.path, action, e)
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> SqliteStoreError {
        SqliteStoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
