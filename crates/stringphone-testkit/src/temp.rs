//! Fresh directories for tests that touch the disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh path under the system's temporary directory, unique to this process and
/// call, and removed (with everything in it) on drop.
///
/// [`TempDir::new`] leaves it absent (a store that must create its own directory);
/// [`TempDir::created`] makes it.
///
/// ```
/// use stringphone_testkit::TempDir;
/// let dir = TempDir::new("example");
/// assert!(!dir.path().exists());
/// let made = TempDir::created("example");
/// assert!(made.path().is_dir());
/// let path = made.path().to_owned();
/// drop(made);
/// assert!(!path.exists());
/// ```
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A path named after `name` that does not exist (anything left there by an
    /// earlier run is removed).
    ///
    /// ```
    /// let dir = stringphone_testkit::TempDir::new("store");
    /// assert!(dir.path().to_string_lossy().contains("store"));
    /// ```
    #[must_use]
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sp-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// Like [`TempDir::new`], with the directory made. Panics if it cannot be made:
    /// the test cannot run.
    ///
    /// ```
    /// assert!(stringphone_testkit::TempDir::created("x").path().is_dir());
    /// ```
    #[must_use]
    pub fn created(name: &str) -> Self {
        let dir = TempDir::new(name);
        if let Err(e) = std::fs::create_dir_all(&dir.0) {
            panic!("cannot make {}: {e}", dir.0.display());
        }
        dir
    }

    /// The directory.
    ///
    /// ```
    /// let dir = stringphone_testkit::TempDir::new("p");
    /// assert!(dir.path().is_absolute());
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    ///
    /// ```
    /// let dir = stringphone_testkit::TempDir::new("j");
    /// assert!(dir.join("state.db").ends_with("state.db"));
    /// ```
    #[must_use]
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `records` to `path`, each as a 4-byte big-endian length and its bytes: how
/// a test hands messages or states to a child process and back.
///
/// ```
/// use stringphone_testkit::{read_records, write_records, TempDir};
/// let dir = TempDir::created("records");
/// write_records(&dir.join("r"), &[b"one".to_vec(), Vec::new()]);
/// assert_eq!(read_records(&dir.join("r")), [b"one".to_vec(), Vec::new()]);
/// ```
pub fn write_records(path: &Path, records: &[Vec<u8>]) {
    let mut out = Vec::new();
    for r in records {
        let len = u32::try_from(r.len()).expect("a test record under 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(r);
    }
    if let Err(e) = std::fs::write(path, out) {
        panic!("cannot write {}: {e}", path.display());
    }
}

/// The records [`write_records`] wrote to `path`. Panics on a file that is not such
/// records: the test cannot go on.
///
/// ```
/// # use stringphone_testkit::{read_records, write_records, TempDir};
/// # let dir = TempDir::created("records-read");
/// write_records(&dir.join("r"), &[vec![7; 300]]);
/// assert_eq!(read_records(&dir.join("r"))[0].len(), 300);
/// ```
#[must_use]
pub fn read_records(path: &Path) -> Vec<Vec<u8>> {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some(record) = tail.get(..len) else {
            panic!("{}: a record runs past the end", path.display());
        };
        out.push(record.to_vec());
        rest = &tail[len..];
    }
    assert!(
        rest.is_empty(),
        "{}: a partial length at the end",
        path.display()
    );
    out
}
