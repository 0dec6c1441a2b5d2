//! Durable, atomic writes under the writers' lock: every file of the store is
//! replaced through a temporary file, fsync, a rename and a directory fsync, by a
//! writer holding the exclusive lock on `trust.lock`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::error::{io_err, FileStoreError};
use crate::{FileTrustStore, LOCK_NAME};

impl FileTrustStore {
    /// Takes the exclusive lock every writer takes, creating the directory and the lock
    /// file if needed. Dropping the returned file releases the lock.
    pub(crate) fn lock_writers(&self) -> Result<File, FileStoreError> {
        create_private_dir(&self.dir)?;
        let lock_path = self.dir.join(LOCK_NAME);
        let lock = private_file(&lock_path, false).map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        Ok(lock)
    }

    /// Replaces `target` with `text` atomically: written to `tmp_name` in the state
    /// directory, fsynced, renamed over `target`, then the directory is fsynced. A
    /// failure before the rename leaves `target` as it was. Call under the lock.
    pub(crate) fn replace(
        &self,
        tmp_name: &str,
        target: &Path,
        text: &str,
    ) -> Result<(), FileStoreError> {
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
}

/// Locks a mutex whose value is only ever replaced whole (so a panic elsewhere cannot
/// leave it half-updated).
pub(crate) fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), FileStoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err("create directory", dir))
}

/// Opens `path` for writing (mode 0600 when created), truncating it if asked.
pub(crate) fn private_file(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a rename in `dir` durable (on Unix; elsewhere the rename is all there is).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), FileStoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
