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

// One job a module: `store` (the type, its cache and its TrustStore impl), one module
// per file format and its policy (`trust_file`, `marks`, `group`), `lease` (the
// sender lease), `atomic` (durable replaces under the writers' lock), `error`, and
// `text` (the hex and numbers, headers and trailers every format is written with).
mod atomic;
mod error;
mod group;
mod lease;
mod marks;
mod store;
mod text;
mod trust_file;

use sha2::{Digest, Sha256};
#[cfg(doc)]
use std::fs::File;
#[cfg(doc)]
use stringphone_core::{v2::GroupState, MarkSlot, TrustStore};
use stringphone_core::{ParticipantId, PublicKey};

pub use error::FileStoreError;
pub use store::FileTrustStore;
pub use trust_file::{parse, serialize};

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

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
