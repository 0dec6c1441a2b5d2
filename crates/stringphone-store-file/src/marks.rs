//! The v2 replay marks: the marks file's format, and the policy that decides what a
//! save stores (see [Replay marks](crate#replay-marks)).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use stringphone_core::{MarkSlot, ParticipantId};

use crate::atomic::lock_ignoring_poison;
use crate::error::{io_err, FileStoreError};
use crate::lease::Lease;
use crate::text::{
    canonical_u64, check_trailer, is_lower_hex, lines_under_header, missing_trailer,
    numbered_after_header,
};
use crate::{FileTrustStore, MARKS_HEADER, MARKS_TMP_NAME};

/// One mark in the marks file: its value and the token of the handle that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarkEntry {
    pub(crate) mark: u64,
    pub(crate) writer: u64,
}

/// A token for the marks one handle writes: distinct across handles and processes
/// (std's `RandomState` is keyed from OS randomness, and moves on at every call), so
/// a handle can tell whether it wrote a mark last.
pub(crate) fn new_writer_token() -> u64 {
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

impl FileTrustStore {
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
            let stored = current.map_or(0, |e| e.mark);
            match self.lease_to_send(mark, stored)? {
                Some(lease) => new_lease = Some(lease),
                None => return Ok(stored),
            }
        }
        let stored = match self.mark_to_write(&slot, mark, current) {
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

    /// What storing `mark` as the own counter's mark takes from a handle without the
    /// sender lease, `stored` being the mark stored now: nothing (`None`) when it
    /// reserves nothing above what this handle saw and what is stored (a clean exit
    /// after its first send was refused: no counter to send with, so no lease needed,
    /// and nothing to write); else the lease, refused when another process sent since
    /// this handle read the mark.
    fn lease_to_send(&mut self, mark: u64, stored: u64) -> Result<Option<Lease>, FileStoreError> {
        let seen = *lock_ignoring_poison(&self.own_seen);
        if mark <= stored && mark <= seen.unwrap_or(0) {
            return Ok(None);
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
        Ok(Some(lease))
    }

    /// The marks policy: what saving `mark` under `slot` writes over `current`, as
    /// `(floor, new)` (store `new`; `floor` is the mark this handle found, below which it
    /// never lowers it), or `None` to leave the stored mark as it is.
    fn mark_to_write(
        &self,
        slot: &MarkSlot,
        mark: u64,
        current: Option<MarkEntry>,
    ) -> Option<(u64, u64)> {
        let ours = current
            .filter(|e| e.writer == self.writer)
            .and_then(|_| self.raised_from.get(slot).copied());
        match (current, ours) {
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
        }
    }

    /// Reads and parses the marks file (no cache: the protocol reads a mark once per
    /// sender and topic instance).
    pub(crate) fn load_marks(&self) -> Result<BTreeMap<MarkSlot, MarkEntry>, FileStoreError> {
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
}

/// The marks file's text.
pub(crate) fn serialize_marks(marks: &BTreeMap<MarkSlot, MarkEntry>) -> String {
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

/// A writer token: exactly 16 lowercase hex digits.
fn writer_token(s: &str) -> Option<u64> {
    (s.len() == 16 && is_lower_hex(s))
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
}

/// Parses a whole marks file exactly; on failure, the 1-based line and the reason.
pub(crate) fn parse_marks(text: &str) -> Result<BTreeMap<MarkSlot, MarkEntry>, (usize, String)> {
    let lines = lines_under_header(text, MARKS_HEADER)?;
    let total = lines.len();
    let mut marks = BTreeMap::new();
    let mut last: Option<MarkSlot> = None;
    for (n, line) in numbered_after_header(&lines) {
        if let Some(count) = line.strip_prefix("end ") {
            check_trailer(n, total, count, marks.len())?;
            return Ok(marks);
        }
        let (slot, entry) = parse_mark_line(n, line)?;
        if last.is_some_and(|prev| prev >= slot) {
            return Err((
                n,
                "entries out of order or repeated (`own` first, then senders by id)".into(),
            ));
        }
        last = Some(slot);
        marks.insert(slot, entry);
    }
    Err(missing_trailer(total))
}

/// Parses line `n` of a marks file, an `own` or a `recv` line.
fn parse_mark_line(n: usize, line: &str) -> Result<(MarkSlot, MarkEntry), (usize, String)> {
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
    Ok((slot, MarkEntry { mark, writer }))
}
