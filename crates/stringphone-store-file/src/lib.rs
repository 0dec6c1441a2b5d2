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
//! - **The v2 group state** ([`TrustStore::load_group_state`],
//!   [`TrustStore::save_group_state`]) lives in a third file, `group` (mode 0600: it
//!   holds the topic key), written the same way and checked by length and SHA-256. A
//!   save never takes the directory to a lower epoch or another topic. See
//!   [Group state](#group-state).
//! - **One sender per identity and directory.** The first process to store its own
//!   counter mark takes the sender lease (`sender.lock`) for as long as its handle
//!   lives; a second process trying to send is refused with one clear line. A
//!   process that only receives never takes it. See [Sender lease](#sender-lease).
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
//! // ...but another handle cannot lower it (a sender's mark: another receiver process
//! // may rely on it).
//! let sender = stringphone_store_file::participant_id(&stringphone_core::PublicKey::from_bytes([7; 32]));
//! store.save_mark(MarkSlot::Received(sender), 300)?;
//! let mut other = FileTrustStore::open(&dir)?;
//! assert_eq!(other.store_mark(MarkSlot::Received(sender), 1)?, 300);
//! // Nor can it send: the first handle holds the sender lease.
//! assert!(other.store_mark(MarkSlot::OwnCounter, 2048).is_err());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Group state
//!
//! A v2 topic saves its whole group state ([`GroupState`]: topic id, topic key,
//! epoch chain, members, admins, pending introduction, replay floors, counter
//! reservation) after every change to it, and reads it back once, before its first v2
//! operation ([`stringphone_core::Topic::resume`]). This store keeps the last one
//! saved in `group`, so a restarted process resumes the epoch, members and admins it
//! had (`tests/v2_attacks.rs` restarts a member and replays an old rekey at it).
//!
//! - **Durable and whole.** A save is written to `group.tmp` (mode 0600), fsynced,
//!   renamed over `group`, and the directory fsynced, under the writers' lock
//!   (`trust.lock`): a crash leaves the old state or the new one.
//! - **Read exactly.** A load checks the header, the length, the SHA-256 of the
//!   bytes, the trailer and that the bytes are a group state
//!   ([`GroupState::from_bytes`]). A damaged or truncated file is a
//!   [`FileStoreError::CorruptGroupState`], never "no state": a topic that forgot its
//!   group would go back to epoch 0, whose key a removed member holds. Saves are
//!   refused too until it is restored or moved away by hand.
//! - **Shared by the processes of one directory: last writer wins, never backwards.**
//!   A save replaces the whole stored state with the saving process's; nothing is
//!   merged. Each process reads the state once, when it starts, so a change one
//!   process saves (a rotation, an admin named) is not seen by another already running
//!   until it restarts or learns it from the channel (a rekey reaches every member),
//!   and that other process's next save replaces it. Two rules hold whatever the
//!   order: a save never moves the directory to a **lower epoch**
//!   ([`FileStoreError::StaleGroupState`]: a process left behind cannot take the
//!   directory back to a key a removed member holds; it catches up by accepting the
//!   rekey, or by restarting), and never to **another topic**
//!   ([`FileStoreError::GroupTopicMismatch`]: one directory, one topic's group). A
//!   refused save is an error to the topic, which takes its change back. Within one
//!   epoch the last save wins (its members, admins and pending introduction): run the
//!   processes that change the group (rotate, name admins, join) one at a time, or
//!   through one long-running process.
//!
//! The group-state file (version 1), the bytes of [`GroupState::to_bytes`] in hex:
//!
//! ```text
//! stringphone-group 1
//! <length in bytes, decimal> <SHA-256 of the bytes, 64 lowercase hex digits>
//! <the bytes, 2 lowercase hex digits each>
//! end
//! ```
//!
//! # Sender lease
//!
//! A v2 sender's counters are the nonces' partners and the receivers' replay
//! defence: each receiver keeps one window per sender *identity*, which only moves
//! forward. Two processes sending as one identity from one state directory reserve
//! interleaved counter blocks from the shared mark, so each receiver, having taken
//! one process's higher counters, refuses most of the other's as too old: messages
//! lost, silently for the sender. Sharing safely would take receivers windows per
//! process (a wire change, and a way to flood them with fresh windows) or one counter
//! source shared across processes on every message (a lock and an fsync per send).
//! So the store refuses the second sender instead, before it sends anything:
//!
//! - Storing the own counter's mark ([`MarkSlot::OwnCounter`]) is the first thing a
//!   topic does before its first message. The first handle to do so takes a
//!   non-blocking exclusive lock on `sender.lock` ([`File::try_lock`], `flock` on
//!   Linux) and writes its pid in the file; it keeps the lock for as long as the
//!   handle lives. The kernel drops the lock when the process exits, crash included.
//! - Another handle's own-counter save then fails with
//!   [`FileStoreError::SenderBusy`], one line naming the directory and the holder's
//!   pid and saying what to do; nothing is written and nothing is sent.
//! - A handle that read the mark, then found, on taking the lease, that another
//!   process had reserved counters since (and exited), is refused too
//!   ([`FileStoreError::SenderRaced`]): the counters it read may be that process's.
//!   A new handle reads the mark again and goes on above them.
//! - A process that only receives stores only senders' marks and never takes the
//!   lease. A refused process's clean exit (its exact own mark, no higher than what it
//!   read and what is stored) needs no lease and writes nothing.
//!
//! A forked child of a sender inherits the parent's locked file, so the lock; it
//! does not count it as its own (the lease records the pid that took it), and is
//! refused like any second process while the parent's handle lives.
//!
//! `tests/v2_attacks.rs` runs two senders and a one-shot beside a running sender on
//! one directory, and `tests/sender_lease.rs` a second real process and a fork.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::GroupState;
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
/// Name of the v2 group-state file inside the state directory.
pub const GROUP_NAME: &str = "group";
/// Name of the temporary file a group-state write goes through.
pub const GROUP_TMP_NAME: &str = "group.tmp";
/// First line of a version-1 group-state file.
pub const GROUP_HEADER: &str = "stringphone-group 1";
/// Name of the sender lease's lock file inside the state directory: locked by the one
/// process sending as this identity from this directory, which writes its pid in it.
pub const SENDER_LOCK_NAME: &str = "sender.lock";

/// A participant id as the protocol computes it: the first 16 bytes of SHA-256 of the
/// public key. The store checks every entry against it when loading.
#[must_use]
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
    /// The group-state file is not well-formed (truncated, damaged, edited, or its
    /// bytes are not a group state this version reads). Nothing is read from it and
    /// nothing is written over it; the trust and marks files are unaffected.
    CorruptGroupState {
        /// The group-state file.
        path: PathBuf,
        /// The 1-based line where parsing stopped.
        line: usize,
        /// Why.
        reason: String,
    },
    /// [`TrustStore::save_group_state`] was handed bytes that are not a group state
    /// ([`GroupState::from_bytes`] refuses them). Nothing was written.
    NotAGroupState {
        /// Why [`GroupState::from_bytes`] refused them.
        reason: String,
    },
    /// A save would move the stored group state to a lower epoch: another process on
    /// this state directory moved the group on since this one loaded it. Nothing was
    /// written. See [Group state](crate#group-state).
    StaleGroupState {
        /// The group-state file.
        path: PathBuf,
        /// The epoch stored.
        stored: u32,
        /// The epoch of the state this handle tried to save.
        saving: u32,
    },
    /// A save would replace the stored group state with another topic's. Nothing was
    /// written: a state directory holds one topic's group.
    GroupTopicMismatch {
        /// The group-state file.
        path: PathBuf,
    },
    /// Another process holds the sender lease of this state directory: it is sending as
    /// this identity, so this one may not (see [Sender lease](crate#sender-lease)).
    /// Nothing was written.
    SenderBusy {
        /// The state directory.
        dir: PathBuf,
        /// The pid the lease holder wrote in the lock file, when it could be read.
        pid: Option<u32>,
    },
    /// This handle read its counter mark, then another process sent as this identity
    /// (and exited) before this handle took the sender lease: the counters this handle
    /// would use may be that process's. Nothing was written; start again from the
    /// store (a new handle) to count on from where that process stopped.
    SenderRaced {
        /// The state directory.
        dir: PathBuf,
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
}

impl fmt::Display for FileStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The OS error is the source, printed by whoever walks the chain.
            FileStoreError::Io { action, path, .. } => {
                write!(f, "cannot {action} {}", path.display())
            }
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
            FileStoreError::CorruptGroupState { path, line, reason } => write!(
                f,
                "group state file {} is corrupt at line {line} ({reason}); refusing to use \
                 it: restore it, or move it away (which forgets the v2 group: its epoch, \
                 members, admins and key; rejoin the topic then)",
                path.display()
            ),
            FileStoreError::NotAGroupState { reason } => {
                write!(
                    f,
                    "refusing to store bytes that are not a group state: {reason}"
                )
            }
            FileStoreError::StaleGroupState {
                path,
                stored,
                saving,
            } => write!(
                f,
                "not saving the group state at epoch {saving}: {} holds epoch {stored}, \
                 saved by another process on this state directory since this one started; \
                 restart this process to resume from it",
                path.display()
            ),
            FileStoreError::GroupTopicMismatch { path } => write!(
                f,
                "not saving the group state: {} holds another topic's group (one state \
                 directory holds one topic: use another state directory, or move that file \
                 away to leave that topic)",
                path.display()
            ),
            FileStoreError::SenderBusy { dir, pid } => {
                let who = match pid {
                    Some(pid) => format!("another process (pid {pid})"),
                    None => "another process".to_string(),
                };
                write!(
                    f,
                    "{who} is sending as this identity from this state directory ({}); \
                     only one process may send as one identity from one state directory: \
                     send through that process, or stop it and try again (or give this \
                     one its own identity and state directory)",
                    dir.display()
                )
            }
            FileStoreError::SenderRaced { dir, read, stored } => write!(
                f,
                "another process sent as this identity from this state directory ({}) \
                 while this one was starting to send (its counter moved from {read} to \
                 {stored}); start this process again to count on from there",
                dir.display()
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

/// The sender lease this handle holds: the locked `sender.lock`, and the process that
/// locked it.
struct Lease {
    /// Kept open for the handle's lifetime: closing it releases the lock.
    _file: File,
    /// A forked child inherits the open file, and with it the lock; it must not count
    /// that as its own (see [`FileTrustStore::holds_lease`]).
    pid: u32,
}

/// A [`TrustStore`] kept in `<dir>/trust` (and its v2 replay marks in `<dir>/marks`,
/// its v2 group state in `<dir>/group`); see the crate docs for its guarantees.
///
/// Opening creates nothing: a missing file is an empty store, and the directory
/// (mode 0700) and files (mode 0600) are created by the first write.
pub struct FileTrustStore {
    dir: PathBuf,
    path: PathBuf,
    marks_path: PathBuf,
    group_path: PathBuf,
    cache: Mutex<Cached>,
    /// The sender lease, once this handle stored its own counter mark.
    lease: Option<Lease>,
    /// The own-counter mark this handle last read or wrote (absent read as 0); `None`
    /// until it read it. A handle without the lease checks, when it takes it, that
    /// nobody sent since (see [`FileStoreError::SenderRaced`]).
    own_seen: Mutex<Option<u64>>,
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

    /// The v2 replay-marks file.
    pub fn marks_path(&self) -> &Path {
        &self.marks_path
    }

    /// The v2 mark stored under `slot`, read from the file now; `None` if there is
    /// none (or no marks file: a state directory from before marks existed). The own
    /// counter's mark read is remembered: taking the sender lease later checks that
    /// nobody sent since ([`FileStoreError::SenderRaced`]).
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
        let mark = self.load_marks()?.get(slot).map(|e| e.mark);
        if *slot == MarkSlot::OwnCounter {
            *lock_ignoring_poison(&self.own_seen) = Some(mark.unwrap_or(0));
        }
        Ok(mark)
    }

    /// Every v2 mark in the marks file, read now (empty without a marks file): what a
    /// move to another store takes along.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_file::FileTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-doc-all-marks-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = FileTrustStore::open(&dir)?;
    /// assert!(store.marks()?.is_empty());
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.marks()?.get(&MarkSlot::OwnCounter), Some(&7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_file::FileStoreError>(())
    /// ```
    pub fn marks(&self) -> Result<BTreeMap<MarkSlot, u64>, FileStoreError> {
        Ok(self
            .load_marks()?
            .into_iter()
            .map(|(slot, e)| (slot, e.mark))
            .collect())
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
        // The own counter: saving it is what sending takes, so it takes the lease.
        let mut new_lease = None;
        if slot == MarkSlot::OwnCounter && !self.holds_lease() {
            let seen = *lock_ignoring_poison(&self.own_seen);
            let stored = current.map_or(0, |e| e.mark);
            // Reserving nothing above what this handle saw and what is stored (a
            // clean exit after its first send was refused): no counter to send with,
            // so no lease needed, and nothing to write.
            if mark <= stored && mark <= seen.unwrap_or(0) {
                return Ok(stored);
            }
            let lease = self.take_lease()?;
            if let Some(read) = seen.filter(|read| stored > *read) {
                // Another process reserved counters after this handle read the mark,
                // then let the lease go: the counters above `read` may be its.
                return Err(FileStoreError::SenderRaced {
                    dir: self.dir.clone(),
                    read,
                    stored,
                });
            }
            new_lease = Some(lease);
        }
        let ours = current
            .filter(|e| e.writer == self.writer)
            .and_then(|_| self.raised_from.get(&slot).copied());
        let write = match (current, ours) {
            // Nothing stored yet: nothing of anyone else's to protect.
            (None, _) => Some((0, mark)),
            // Our own reservation: raise it, or take it back down to where we found it.
            (Some(e), Some(floor)) => {
                let new = mark.max(floor);
                (new != e.mark).then_some((floor, new))
            }
            // Someone else's mark (or one from before this handle): raise it or leave it.
            // An equal save is written too, so that its last writer (who may be about
            // to lower it) no longer owns it: this handle relies on it from now on.
            (Some(e), None) if mark >= e.mark => Some((e.mark, mark)),
            (Some(_), None) => None,
        };
        let stored = match write {
            Some((floor, new)) => {
                marks.insert(
                    slot,
                    MarkEntry {
                        mark: new,
                        writer: self.writer,
                    },
                );
                self.replace(MARKS_TMP_NAME, &self.marks_path, &serialize_marks(&marks))?;
                self.raised_from.insert(slot, floor);
                new
            }
            None => current.map_or(mark, |e| e.mark.max(mark)),
        };
        if new_lease.is_some() {
            self.lease = new_lease;
        }
        if slot == MarkSlot::OwnCounter {
            *lock_ignoring_poison(&self.own_seen) = Some(stored);
        }
        drop(lock); // closing the file releases the lock
        Ok(stored)
    }

    /// Whether this handle holds the sender lease: it locked `sender.lock`, in this
    /// process. A forked child has a copy of the parent's open lock file, so the lock
    /// is still held, but by the parent's sending: the child must take its own.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_file::FileTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-doc-lease-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = FileTrustStore::open(&dir)?;
    /// assert!(!store.holds_lease());
    /// store.store_mark(MarkSlot::OwnCounter, 1024)?; // what sending does first
    /// assert!(store.holds_lease());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_file::FileStoreError>(())
    /// ```
    pub fn holds_lease(&self) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.pid == std::process::id())
    }

    /// Takes the sender lease: a non-blocking exclusive lock on `sender.lock`, with
    /// this process's pid written in the file for whoever is refused next.
    fn take_lease(&mut self) -> Result<Lease, FileStoreError> {
        // A forked child's copy of its parent's lease: close it (closing does not
        // unlock while the parent keeps its own copy open), or the child's new lock
        // below would conflict with itself.
        if !self.holds_lease() {
            self.lease = None;
        }
        let path = self.dir.join(SENDER_LOCK_NAME);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io_err("open", &path))?;
        match file.try_lock() {
            Ok(()) => {
                let pid = std::process::id();
                // The pid only makes the next refusal clearer: a failure to write it
                // costs that, not the lease.
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.write_all(format!("{pid}\n").as_bytes()));
                Ok(Lease { _file: file, pid })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.strip_suffix('\n')?.parse().ok());
                Err(FileStoreError::SenderBusy {
                    dir: self.dir.clone(),
                    pid,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
        }
    }

    /// The v2 group-state file.
    pub fn group_path(&self) -> &Path {
        &self.group_path
    }

    /// The v2 group state stored (the bytes of [`GroupState::to_bytes`]), read from
    /// the file now and checked (its length, its SHA-256, and that the bytes are a
    /// group state); `None` if there is none. The bytes hold the topic key: they are
    /// zeroized when dropped.
    ///
    /// ```
    /// use stringphone_core::v2::{GroupState, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_file::FileTrustStore;
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-doc-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let seed = SigningSeed::from_bytes([2; 32]);
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut topic = Topic::<RustCrypto, _>::with_store(seed.clone(), Some(key), FileTrustStore::open(&dir)?);
    /// topic.set_topic_id(TopicId::from_name(b"home/kitchen"))?; // saved to the store
    ///
    /// let bytes = FileTrustStore::open(&dir)?.group_state()?.expect("saved");
    /// let state = GroupState::from_bytes(&bytes)?;
    /// assert_eq!(state.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    ///
    /// // A restarted process resumes it on its first v2 operation.
    /// let mut restarted = Topic::<RustCrypto, _>::with_store(seed, None, FileTrustStore::open(&dir)?);
    /// assert!(restarted.resume()?);
    /// assert_eq!(restarted.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, FileStoreError> {
        let bytes = match fs::read(&self.group_path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &self.group_path)(e)),
        };
        let corrupt = |(line, reason)| FileStoreError::CorruptGroupState {
            path: self.group_path.clone(),
            line,
            reason,
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|_| corrupt((1, "not UTF-8 text".into())))?;
        let state = parse_group(text).map_err(corrupt)?;
        // The checksum proves the bytes are what was saved; this proves they are a
        // group state this version reads, so the error names the file.
        GroupState::from_bytes(&state).map_err(|e| corrupt((3, e.to_string())))?;
        Ok(Some(state))
    }

    /// Stores `state` (the bytes of [`GroupState::to_bytes`]) durably as the group
    /// state, replacing the one stored: under the writers' lock, through `group.tmp`
    /// (mode 0600), fsync and a rename. Refused, writing nothing, when the bytes are
    /// not a group state ([`FileStoreError::NotAGroupState`]), when the stored one is
    /// corrupt, belongs to another topic ([`FileStoreError::GroupTopicMismatch`]) or
    /// is at a higher epoch ([`FileStoreError::StaleGroupState`]). See
    /// [Group state](crate#group-state).
    ///
    /// ```
    /// use stringphone_core::v2::{ProtocolVersion, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_file::{FileStoreError, FileTrustStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-doc-store-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut admin = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// admin.set_topic_id(TopicId::from_name(b"home/kitchen"))?;
    /// admin.set_protocol(ProtocolVersion::V2);
    /// let at_zero = admin.group_state().to_bytes();
    /// admin.rotate(None)?;
    ///
    /// let mut store = FileTrustStore::open(&dir)?;
    /// store.store_group_state(&admin.group_state().to_bytes())?;
    /// // A process still at epoch 0 cannot take the directory back there.
    /// let err = FileTrustStore::open(&dir)?.store_group_state(&at_zero).unwrap_err();
    /// assert!(matches!(err, FileStoreError::StaleGroupState { stored: 1, saving: 0, .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_group_state(&mut self, state: &[u8]) -> Result<(), FileStoreError> {
        let saving = GroupState::from_bytes(state).map_err(|e| FileStoreError::NotAGroupState {
            reason: e.to_string(),
        })?;
        let lock = self.lock_writers()?;
        if let Some(stored) = self.group_state()? {
            let stored =
                GroupState::from_bytes(&stored).map_err(|e| FileStoreError::CorruptGroupState {
                    path: self.group_path.clone(),
                    line: 3,
                    reason: e.to_string(),
                })?;
            if stored.topic_id().is_some() && stored.topic_id() != saving.topic_id() {
                return Err(FileStoreError::GroupTopicMismatch {
                    path: self.group_path.clone(),
                });
            }
            if saving.epoch() < stored.epoch() {
                return Err(FileStoreError::StaleGroupState {
                    path: self.group_path.clone(),
                    stored: stored.epoch(),
                    saving: saving.epoch(),
                });
            }
        }
        self.replace(GROUP_TMP_NAME, &self.group_path, &serialize_group(state))?;
        drop(lock); // closing the file releases the lock
        Ok(())
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
        // A stale temporary file keeps its mode through `truncate`: make it private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io_err("chmod", &tmp_path))?;
        }
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

/// The file's text for `entries`.
#[must_use]
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

/// The group-state file's text: header, `<length> <SHA-256>`, the bytes in hex,
/// `end`. Zeroized when dropped: it holds the topic key.
fn serialize_group(state: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(128 + state.len() * 2));
    out.push_str(GROUP_HEADER);
    out.push('\n');
    out.push_str(&format!(
        "{} {}\n",
        state.len(),
        hex(&Sha256::digest(state))
    ));
    for b in state {
        // Through a fixed table, not `format!`, so no unzeroized copy is made.
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.push_str("\nend\n");
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Parses a whole group-state file exactly; on failure, the 1-based line and the
/// reason.
fn parse_group(text: &str) -> Result<Zeroizing<Vec<u8>>, (usize, String)> {
    let Some(body) = text.strip_suffix('\n') else {
        let line = text.split('\n').count();
        return Err((
            line,
            "the file does not end with a newline: truncated?".into(),
        ));
    };
    let lines: Vec<&str> = body.split('\n').collect();
    match lines.first() {
        Some(&GROUP_HEADER) => {}
        Some(other) if other.starts_with("stringphone-group ") => {
            return Err((1, format!("unsupported version header {other:?}")))
        }
        _ => return Err((1, format!("missing header {GROUP_HEADER:?}"))),
    }
    let (len, digest) = lines
        .get(1)
        .and_then(|l| l.split_once(' '))
        .and_then(|(len, digest)| {
            let len = usize::try_from(canonical_u64(len)?).ok()?;
            (digest.len() == 64 && is_lower_hex(digest)).then_some((len, digest))
        })
        .ok_or((2, "expected `<length> <64 hex digit SHA-256>`".to_string()))?;
    let data = lines.get(3).and(lines.get(2)).ok_or((
        lines.len() + 1,
        "missing `end` trailer: truncated?".to_string(),
    ))?;
    if len.checked_mul(2) != Some(data.len()) {
        return Err((
            3,
            format!(
                "{} hex digits, the length line says {len} bytes",
                data.len()
            ),
        ));
    }
    let mut state = Zeroizing::new(Vec::with_capacity(len));
    for pair in data.as_bytes().chunks_exact(2) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(high), Some(low)) => state.push(high << 4 | low),
            _ => return Err((3, "expected lowercase hex digits".into())),
        }
    }
    if hex(&Sha256::digest(&state[..])) != digest {
        return Err((3, "the bytes do not match their SHA-256: damaged".into()));
    }
    match lines.get(3..) {
        Some(["end"]) => Ok(state),
        Some(["end", ..]) => Err((5, "text after the trailer".into())),
        _ => Err((4, "missing `end` trailer: truncated?".into())),
    }
}

/// Locks a mutex whose value is only ever replaced whole (so a panic elsewhere cannot
/// leave it half-updated).
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
    use stringphone_testkit::damage;
    use stringphone_testkit::store::group_state;

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

    /// Display and `source()` of every error in the chain, outermost first.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut parts = vec![e.to_string()];
        let mut cause = e.source();
        while let Some(c) = cause {
            parts.push(c.to_string());
            cause = c.source();
        }
        parts
    }

    #[test]
    fn an_io_failure_prints_each_cause_once_through_the_protocol_error() {
        let dir = temp_dir("chain");
        fs::create_dir_all(dir.join(FILE_NAME)).unwrap(); // the trust file is a directory
        let err = FileTrustStore::open(&dir).unwrap_err();
        assert!(
            matches!(err, FileStoreError::Io { action: "read", .. }),
            "{err:?}"
        );
        let os = match &err {
            FileStoreError::Io { source, .. } => source.to_string(),
            _ => unreachable!(),
        };
        let err = stringphone_core::Error::Store(StoreError::from(err));
        let parts = chain(&err);
        let path = dir.join(FILE_NAME).display().to_string();
        assert_eq!(
            parts,
            [
                "the trust store failed".to_string(),
                format!("cannot read {path}"),
                os.clone()
            ]
        );
        let printed = parts.join(": ");
        assert_eq!(printed.matches(&os).count(), 1, "{printed}");
        assert_eq!(printed.matches(&path).count(), 1, "{printed}");
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
        damage::refuses_every_truncation(&text, parse).unwrap();
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
        // Every hex digit changed to another: each must be caught.
        damage::refuses_every_hex_digit_change(&text, 0, parse).unwrap();
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
        // What a reopened store loads: tests/conformance.rs. Here, the file.
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
        let text = fs::read_to_string(dir.join(MARKS_NAME)).unwrap();
        assert!(text.starts_with("stringphone-marks 1\nown 2048 "), "{text}");
        assert!(text.ends_with("end 3\n"), "{text}");
        assert_eq!(
            FileTrustStore::open(&dir).unwrap().marks().unwrap().len(),
            3
        );
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
        damage::refuses_every_truncation(&text, parse_marks).unwrap();
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

    #[test]
    fn group_state_round_trips_privately_and_alone() {
        let dir = temp_dir("group-rt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        assert!(s.group_state().unwrap().is_none());
        assert!(s.load_group_state().unwrap().is_none());
        let state = group_state(b"t", 1);
        s.save_group_state(&state).unwrap();
        let text = fs::read_to_string(dir.join(GROUP_NAME)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], GROUP_HEADER);
        assert_eq!(
            lines[1],
            format!("{} {}", state.len(), hex(&Sha256::digest(&state[..])))
        );
        assert_eq!(lines[2], hex(&state));
        assert_eq!(lines[3], "end");
        // Durable: a new handle finds exactly the bytes saved.
        let again = FileTrustStore::open(&dir).unwrap();
        assert_eq!(again.load_group_state().unwrap().as_deref(), Some(&*state));
        // The state is not trust nor marks, and no temporary file is left.
        assert!(!dir.join(FILE_NAME).exists());
        assert!(!dir.join(MARKS_NAME).exists());
        assert!(!dir.join(GROUP_TMP_NAME).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join(GROUP_NAME)), 0o600);
            // Even through a stale temporary file someone left readable.
            fs::write(dir.join(GROUP_TMP_NAME), "old").unwrap();
            fs::set_permissions(dir.join(GROUP_TMP_NAME), fs::Permissions::from_mode(0o644))
                .unwrap();
            s.save_group_state(&group_state(b"t", 2)).unwrap();
            assert_eq!(mode(&dir.join(GROUP_NAME)), 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_group_truncation_and_damage_is_refused() {
        let state = group_state(b"t", 1);
        let text = serialize_group(&state);
        assert_eq!(&parse_group(&text).unwrap()[..], &state[..]);
        damage::refuses_every_truncation(&text, parse_group).unwrap();
        // Every hex digit changed to another: the length, the checksum or the bytes
        // (the header's own "1" is checked below).
        damage::refuses_every_hex_digit_change(&text, GROUP_HEADER.len(), parse_group).unwrap();
        let bad = [
            text.replace("stringphone-group 1", "stringphone-group 2"),
            text.to_uppercase(),
            format!("{}{}", *text, *text),
            text.replace("\nend\n", "\nend\nextra\n"),
            text.replace("\nend\n", "\n"),
            text.replacen(
                &format!("{} ", state.len()),
                &format!("0{} ", state.len()),
                1,
            ),
            text.replacen(' ', "  ", 1),
            String::new(),
        ];
        for damaged in &bad {
            assert!(parse_group(damaged).is_err(), "{damaged:?} accepted");
        }
        // A checksum that matches bytes which are not a group state: refused by the
        // store too (the checksum only proves the bytes are what was written).
        let dir = temp_dir("group-not-state");
        let s = FileTrustStore::open(&dir).unwrap();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(GROUP_NAME), &*serialize_group(b"not a state")).unwrap();
        assert!(matches!(
            s.group_state(),
            Err(FileStoreError::CorruptGroupState { line: 3, .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_group_state_is_a_typed_error_never_none_and_is_kept() {
        let dir = temp_dir("group-corrupt");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let (a, ka) = key(1);
        s.insert(a, ka).unwrap();
        s.save_group_state(&group_state(b"t", 1)).unwrap();
        let path = dir.join(GROUP_NAME);
        let good = fs::read(&path).unwrap();
        for damaged in [&good[..good.len() - 5], &good[..0], b"\xff\xfe\n"] {
            fs::write(&path, damaged).unwrap();
            let err = s.group_state().unwrap_err();
            assert!(
                matches!(err, FileStoreError::CorruptGroupState { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("group state file"), "{err}");
            // Through the trait: an error, not an empty state.
            assert!(s.load_group_state().is_err());
            // Nothing written over it, whatever the save.
            assert!(s.save_group_state(&group_state(b"t", 3)).is_err());
            assert_eq!(fs::read(&path).unwrap(), damaged);
            // Trust and marks still work.
            assert_eq!(s.get(&a).unwrap(), Some(ka));
            s.save_mark(MarkSlot::Received(a), 7).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_group_save_never_goes_back_an_epoch_nor_to_another_topic() {
        let dir = temp_dir("group-forward");
        let mut a = FileTrustStore::open(&dir).unwrap();
        let mut b = FileTrustStore::open(&dir).unwrap();
        a.save_group_state(&group_state(b"t", 2)).unwrap();
        let stored = fs::read(dir.join(GROUP_NAME)).unwrap();
        // Another process still at epoch 1 (or 0) cannot take the directory back.
        for behind in [1, 0] {
            let err = b.store_group_state(&group_state(b"t", behind)).unwrap_err();
            assert!(
                matches!(err, FileStoreError::StaleGroupState { stored: 2, saving, .. } if saving == behind),
                "{err}"
            );
        }
        let err = b
            .store_group_state(&group_state(b"other topic", 3))
            .unwrap_err();
        assert!(
            matches!(err, FileStoreError::GroupTopicMismatch { .. }),
            "{err}"
        );
        let err = b.store_group_state(b"not a state").unwrap_err();
        assert!(
            matches!(err, FileStoreError::NotAGroupState { .. }),
            "{err}"
        );
        assert_eq!(fs::read(dir.join(GROUP_NAME)).unwrap(), stored);
        // The same epoch or a later one replaces it whole: the last save wins.
        let later = group_state(b"t", 3);
        b.save_group_state(&later).unwrap();
        assert_eq!(a.group_state().unwrap().as_deref(), Some(&*later));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_group_save_leaves_the_stored_state() {
        let dir = temp_dir("group-fail");
        let mut s = FileTrustStore::open(&dir).unwrap();
        let first = group_state(b"t", 1);
        s.save_group_state(&first).unwrap();
        fs::create_dir(dir.join(GROUP_TMP_NAME)).unwrap();
        let err = s.store_group_state(&group_state(b"t", 2)).unwrap_err();
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
        assert_eq!(s.group_state().unwrap().as_deref(), Some(&*first));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_sender_is_refused_in_one_line_with_the_holders_pid() {
        let dir = temp_dir("lease");
        let mut first = FileTrustStore::open(&dir).unwrap();
        let mut second = FileTrustStore::open(&dir).unwrap();
        assert_eq!(first.mark(&MarkSlot::OwnCounter).unwrap(), None);
        assert_eq!(second.mark(&MarkSlot::OwnCounter).unwrap(), None);
        first.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        assert!(first.holds_lease());
        let marks = fs::read(dir.join(MARKS_NAME)).unwrap();
        let err = second.store_mark(MarkSlot::OwnCounter, 1024).unwrap_err();
        let FileStoreError::SenderBusy { pid, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*pid, Some(std::process::id()));
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains(&format!(
                "another process (pid {}) is sending as this identity from this state directory",
                std::process::id()
            )),
            "{line}"
        );
        assert!(!second.holds_lease());
        // Refused: nothing written.
        assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), marks);
        // The holder goes on raising and taking back its own mark.
        assert_eq!(first.store_mark(MarkSlot::OwnCounter, 2048).unwrap(), 2048);
        assert_eq!(first.store_mark(MarkSlot::OwnCounter, 1030).unwrap(), 1030);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(SENDER_LOCK_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The lease lives as long as the handle: once it is gone, a new handle sends.
        drop(first);
        let mut third = FileTrustStore::open(&dir).unwrap();
        assert_eq!(third.mark(&MarkSlot::OwnCounter).unwrap(), Some(1030));
        assert_eq!(third.store_mark(MarkSlot::OwnCounter, 2054).unwrap(), 2054);
        assert!(third.holds_lease());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_receiver_never_takes_the_lease() {
        let dir = temp_dir("lease-receiver");
        let mut receiver = FileTrustStore::open(&dir).unwrap();
        let (a, _) = key(1);
        receiver.save_mark(MarkSlot::Received(a), 300).unwrap();
        assert_eq!(receiver.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
        receiver.save_mark(MarkSlot::Received(a), 44).unwrap();
        assert!(!receiver.holds_lease());
        // A sender starts beside the running receiver, and is not refused.
        let mut sender = FileTrustStore::open(&dir).unwrap();
        sender.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        assert!(sender.holds_lease());
        // And the receiver still receives beside it.
        receiver.save_mark(MarkSlot::Received(a), 600).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refused_senders_clean_exit_needs_no_lease_and_writes_nothing() {
        let dir = temp_dir("lease-exit");
        let mut running = FileTrustStore::open(&dir).unwrap();
        running.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        let mut refused = FileTrustStore::open(&dir).unwrap();
        // What a topic does: read the mark, reserve above it (refused), then on its
        // clean exit store its exact next counter, which is the mark it read.
        assert_eq!(
            refused.load_mark(&MarkSlot::OwnCounter).unwrap(),
            Some(1024)
        );
        assert!(refused.save_mark(MarkSlot::OwnCounter, 2048).is_err());
        let marks = fs::read(dir.join(MARKS_NAME)).unwrap();
        assert_eq!(
            refused.store_mark(MarkSlot::OwnCounter, 1024).unwrap(),
            1024
        );
        assert_eq!(refused.store_mark(MarkSlot::OwnCounter, 3).unwrap(), 1024);
        assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), marks);
        assert!(!refused.holds_lease());
        // But anything above what it read is a reservation, and is refused.
        assert!(refused.store_mark(MarkSlot::OwnCounter, 1025).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sender_that_read_its_counter_before_another_sent_is_refused() {
        let dir = temp_dir("lease-race");
        let mut late = FileTrustStore::open(&dir).unwrap();
        // `late` reads the mark (nothing yet) to reserve above it...
        assert_eq!(late.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
        // ...meanwhile another process sends (counters 0..1024) and exits.
        let mut quick = FileTrustStore::open(&dir).unwrap();
        assert_eq!(quick.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
        quick.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
        quick.save_mark(MarkSlot::OwnCounter, 5).unwrap();
        drop(quick);
        // `late` would use counters from 0: refused, though the lease is free, and it
        // does not keep the lease.
        let err = late.store_mark(MarkSlot::OwnCounter, 1024).unwrap_err();
        assert!(
            matches!(
                err,
                FileStoreError::SenderRaced {
                    read: 0,
                    stored: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!late.holds_lease());
        assert_eq!(late.mark(&MarkSlot::OwnCounter).unwrap(), Some(5));
        // A new read is a fresh start: it reserves above 5.
        assert_eq!(late.store_mark(MarkSlot::OwnCounter, 1029).unwrap(), 1029);
        assert!(late.holds_lease());
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
