//! [`SqliteStoreError`]: what went wrong with the database, and how an SQLite error
//! is told apart as damage, a foreign file or a failure.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ffi;
use stringphone_core::{ParticipantId, StoreError};

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
    /// process for longer than [`BUSY_TIMEOUT`](crate::BUSY_TIMEOUT), ...). Nothing was changed.
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
    /// [`APPLICATION_ID`](crate::APPLICATION_ID)). It is refused, and nothing is written to it.
    Foreign {
        /// The database file.
        path: PathBuf,
        /// The `application_id` its header carries.
        application_id: i32,
    },
    /// The database was written by a newer version of this crate (its schema version
    /// is above [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)). It is refused, and nothing is written to it.
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
    /// [`TrustStore::save_group_state`](stringphone_core::TrustStore::save_group_state) was handed bytes that are not a group state.
    /// Nothing was written.
    NotAGroupState {
        /// Why [`GroupState::from_bytes`](stringphone_core::v2::GroupState::from_bytes) refused them.
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
    /// [`SqliteTrustStore::import`](crate::SqliteTrustStore::import) was asked to import into a database that already
    /// holds something. Nothing was written.
    NotEmpty {
        /// The database file.
        path: PathBuf,
    },
}

impl fmt::Display for SqliteStoreError {
    // Longer than 60 lines: one arm per variant, each only its message.
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

/// An SQLite error, with damage and foreign files told apart from other failures.
pub(crate) fn classify(path: &Path, action: &'static str, e: rusqlite::Error) -> SqliteStoreError {
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
