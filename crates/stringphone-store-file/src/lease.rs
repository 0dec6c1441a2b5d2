//! The sender lease: one process sends as one identity from one state directory
//! (see [Sender lease](crate#sender-lease)).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};

use crate::error::{io_err, FileStoreError};
use crate::{FileTrustStore, SENDER_LOCK_NAME};

/// The sender lease this handle holds: the locked `sender.lock`, and the process that
/// locked it.
pub(crate) struct Lease {
    /// Kept open for the handle's lifetime: closing it releases the lock.
    _file: File,
    /// A forked child inherits the open file, and with it the lock; it must not count
    /// that as its own (see [`FileTrustStore::holds_lease`]).
    pid: u32,
}

impl FileTrustStore {
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
    pub(crate) fn take_lease(&mut self) -> Result<Lease, FileStoreError> {
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
}
