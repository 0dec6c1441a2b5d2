//! The store's one error type: what failed, on which file, and (for a corrupt file)
//! where and why.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(doc)]
use stringphone_core::{v2::GroupState, TrustStore};
use stringphone_core::{ParticipantId, StoreError};

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
    // Longer than 60 lines: one arm per variant, each only its message.
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

pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> FileStoreError + 'a {
    move |source| FileStoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
