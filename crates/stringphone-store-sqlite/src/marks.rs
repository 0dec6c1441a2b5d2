//! Replay marks: read, and stored by the rule for shared stores (a handle lowers
//! only a mark it raised itself); see [Replay marks](crate#replay-marks).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use stringphone_core::{MarkSlot, ParticipantId};

use crate::error::{classify, SqliteStoreError};
use crate::lease::{lease_path, take_lease};
use crate::SqliteTrustStore;

/// A token for the marks one handle writes: distinct across handles and processes
/// (std's `RandomState` is keyed from OS randomness), so a handle can tell whether it
/// wrote a mark last.
pub(crate) fn new_writer_token() -> i64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static HANDLES: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = RandomState::new().hash_one((
        std::process::id(),
        now,
        HANDLES.fetch_add(1, Ordering::Relaxed),
    )) as i64;
    // 0 is the writer of imported marks, which no handle may lower.
    if token == 0 {
        1
    } else {
        token
    }
}

/// The empty blob is this identity's own counter; a sender's slot is its id.
pub(crate) fn slot_key(slot: &MarkSlot) -> &[u8] {
    match slot {
        MarkSlot::OwnCounter => &[],
        MarkSlot::Received(id) => id.as_bytes(),
    }
}

impl SqliteTrustStore {
    /// The v2 mark stored under `slot`, read from the database now; `None` if there is
    /// none.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, None);
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.mark(&MarkSlot::OwnCounter)?, Some(7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn mark(&self, slot: &MarkSlot) -> Result<Option<u64>, SqliteStoreError> {
        let mark = read_mark(&self.conn, &self.path, slot)?.map(|(mark, _)| mark);
        if *slot == MarkSlot::OwnCounter {
            self.own_seen.set(Some(mark.unwrap_or(0)));
        }
        Ok(mark)
    }

    /// Every v2 mark stored.
    ///
    /// ```
    /// use stringphone_core::MarkSlot;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-marks-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.store_mark(MarkSlot::OwnCounter, 7)?;
    /// assert_eq!(store.marks()?.get(&MarkSlot::OwnCounter), Some(&7));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn marks(&self) -> Result<BTreeMap<MarkSlot, u64>, SqliteStoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT slot, mark FROM marks")
            .map_err(self.sql_err("read marks"))?;
        let mut rows = stmt.query([]).map_err(self.sql_err("read marks"))?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().map_err(self.sql_err("read marks"))? {
            let slot = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read marks"))?;
            let slot = match <[u8; 16]>::try_from(slot) {
                _ if slot.is_empty() => MarkSlot::OwnCounter,
                Ok(id) => MarkSlot::Received(ParticipantId::from_bytes(id)),
                Err(_) => return Err(self.corrupt("a mark row with a slot of the wrong length")),
            };
            let mark = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read marks"))?;
            let mark =
                decode_mark(mark).ok_or_else(|| self.corrupt("a mark of the wrong length"))?;
            out.insert(slot, mark);
        }
        Ok(out)
    }

    /// Stores `mark` under `slot` in one transaction, durable as [`Durability`](crate::Durability) says,
    /// by the rule for shared stores (see [Replay marks](crate#replay-marks)); returns
    /// the mark stored now. Storing the own counter's mark takes the sender lease
    /// first ([`SqliteStoreError::SenderBusy`], [`SqliteStoreError::SenderRaced`]).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-store-mark-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let slot = MarkSlot::Received(participant_id(&PublicKey::from_bytes([1; 32])));
    /// let mut a = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let mut b = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(a.store_mark(slot, 300)?, 300);
    /// assert_eq!(b.store_mark(slot, 400)?, 400); // B raises A's mark...
    /// assert_eq!(a.store_mark(slot, 45)?, 400); // ...so A can no longer lower it.
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn store_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<u64, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "store a mark", e);
        let holds_lease = self.holds_lease();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current = read_mark(&tx, &path, &slot)?;
        // The own counter: saving it is what sending takes, so it takes the lease.
        let mut new_lease = None;
        if slot == MarkSlot::OwnCounter && !holds_lease {
            let seen = self.own_seen.get();
            let stored = current.map_or(0, |(m, _)| m);
            // Reserving nothing above what this handle saw and what is stored (a clean
            // exit after its first send was refused): no counter to send with, so no
            // lease needed, and nothing to write.
            if mark <= stored && mark <= seen.unwrap_or(0) {
                return Ok(stored);
            }
            // A forked child's copy of its parent's lease is not its own.
            self.lease = None;
            let lease = take_lease(&self.path, &lease_path(&self.path))?;
            if let Some(read) = seen.filter(|read| stored > *read) {
                // Another process reserved counters after this handle read the mark,
                // then let the lease go: the counters above `read` may be its.
                return Err(SqliteStoreError::SenderRaced { path, read, stored });
            }
            new_lease = Some(lease);
        }
        let ours = current
            .filter(|(_, writer)| *writer == self.writer)
            .and_then(|_| self.raised_from.get(&slot).copied());
        let stored = match mark_to_write(current.map(|(m, _)| m), ours, mark) {
            Some((floor, new)) => {
                tx.execute(
                    "INSERT INTO marks (slot, mark, writer) VALUES (?1, ?2, ?3)
                     ON CONFLICT (slot) DO UPDATE SET mark = excluded.mark, writer = excluded.writer",
                    params![slot_key(&slot), &new.to_be_bytes()[..], self.writer],
                )
                .and_then(|_| tx.commit())
                .map_err(err)?;
                self.raised_from.insert(slot, floor);
                new
            }
            None => current.map_or(mark, |(m, _)| m.max(mark)),
        };
        if new_lease.is_some() {
            self.lease = new_lease;
        }
        if slot == MarkSlot::OwnCounter {
            self.own_seen.set(Some(stored));
        }
        Ok(stored)
    }
}

pub(crate) fn decode_mark(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// The mark and its writer's token stored under `slot`.
pub(crate) fn read_mark(
    conn: &Connection,
    path: &Path,
    slot: &MarkSlot,
) -> Result<Option<(u64, i64)>, SqliteStoreError> {
    let row = conn
        .prepare_cached("SELECT mark, writer FROM marks WHERE slot = ?1")
        .and_then(|mut s| {
            s.query_row([slot_key(slot)], |r| {
                Ok((r.get_ref(0)?.as_blob()?.to_vec(), r.get::<_, i64>(1)?))
            })
            .optional()
        })
        .map_err(|e| classify(path, "read a mark", e))?;
    match row {
        None => Ok(None),
        Some((mark, writer)) => match decode_mark(&mark) {
            Some(mark) => Ok(Some((mark, writer))),
            None => Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "a mark of the wrong length".into(),
            }),
        },
    }
}

/// The rule for shared stores, as a decision: what storing `mark` writes over the
/// mark `stored` (if any), given the mark this handle found before it raised it,
/// `ours` (only while the stored mark is still this handle's): `None` to write
/// nothing, else `(floor, new)`: the mark to write and the one below which this
/// handle may not take it back.
fn mark_to_write(stored: Option<u64>, ours: Option<u64>, mark: u64) -> Option<(u64, u64)> {
    match (stored, ours) {
        // Nothing stored yet: nothing of anyone else's to protect.
        (None, _) => Some((0, mark)),
        // Our own reservation: raise it, or take it back down to where we found it.
        (Some(stored), Some(floor)) => {
            let new = mark.max(floor);
            (new != stored).then_some((floor, new))
        }
        // Someone else's mark (or one from before this handle): raise it or leave it.
        // An equal save is written too, so that its last writer (who may be about to
        // lower it) no longer owns it: this handle relies on it from now on.
        (Some(stored), None) if mark >= stored => Some((stored, mark)),
        (Some(_), None) => None,
    }
}
