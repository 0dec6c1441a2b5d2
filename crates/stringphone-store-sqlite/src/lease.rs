//! The sender lease: one process at a time sends under this identity (a lock file
//! beside the database); see [Sender lease](crate#sender-lease).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::SqliteStoreError;
use crate::SqliteTrustStore;

/// The sender lease this handle holds: the locked lock file, and the process that
/// locked it.
pub(crate) struct Lease {
    /// Kept open for the handle's lifetime: closing it releases the lock.
    _file: File,
    /// A forked child inherits the open file, and with it the lock; it must not count
    /// that as its own (see [`SqliteTrustStore::holds_lease`]).
    pid: u32,
}

impl SqliteTrustStore {
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
}

pub(crate) fn lease_path(db: &Path) -> PathBuf {
    let mut name = db.to_path_buf().into_os_string();
    name.push("-sender.lock");
    PathBuf::from(name)
}

/// Takes the sender lease: a non-blocking exclusive lock on the lock file, with this
/// process's pid written in it for whoever is refused next.
pub(crate) fn take_lease(db: &Path, path: &Path) -> Result<Lease, SqliteStoreError> {
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
