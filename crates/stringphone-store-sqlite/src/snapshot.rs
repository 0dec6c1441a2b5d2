//! [`Snapshot`]: everything a store holds, read in one transaction and imported
//! into an empty store in one.

use std::collections::BTreeMap;
use std::fmt;

use rusqlite::{params, TransactionBehavior};
use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::GroupState;
use stringphone_core::{MarkSlot, ParticipantId, PublicKey};

use crate::error::{classify, SqliteStoreError};
use crate::marks::slot_key;
use crate::{participant_id, SqliteTrustStore};

/// Everything a store holds, for [`SqliteTrustStore::import`] and
/// [`SqliteTrustStore::snapshot`]: the trusted participants, the replay marks and the
/// group state (whose bytes hold the topic key: zeroized when dropped).
///
/// ```
/// use stringphone_store_sqlite::Snapshot;
/// let empty = Snapshot::default();
/// assert!(empty.trust.is_empty() && empty.marks.is_empty() && empty.group_state.is_none());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every trusted participant.
    pub trust: BTreeMap<ParticipantId, PublicKey>,
    /// Every replay mark.
    pub marks: BTreeMap<MarkSlot, u64>,
    /// The group state's bytes ([`GroupState::to_bytes`]), if any.
    pub group_state: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("trust", &self.trust.len())
            .field("marks", &self.marks)
            .field(
                "group_state",
                &self
                    .group_state
                    .as_ref()
                    .map(|s| format!("{} bytes", s.len())),
            )
            .finish()
    }
}

impl SqliteTrustStore {
    /// Everything this database holds, read in one transaction (a consistent view).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-snap-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// store.save_mark(MarkSlot::Received(participant_id(&key)), 300)?;
    /// let snap = store.snapshot()?;
    /// assert_eq!(snap.trust.len(), 1);
    /// assert_eq!(snap.marks.len(), 1);
    /// assert!(snap.group_state.is_none());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Result<Snapshot, SqliteStoreError> {
        // The reads below run inside this one read transaction (same connection), so
        // they see one state.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.sql_err("read the database"))?;
        let snapshot = Snapshot {
            trust: self.entries()?.into_iter().collect(),
            marks: self.marks()?,
            group_state: self.group_state()?,
        };
        drop(tx);
        Ok(snapshot)
    }

    /// Writes `snapshot` (a state read from another store: the one-time import of a
    /// text store's state directory, say) into this database in one transaction, all
    /// or nothing. Refused, writing nothing, unless the database is empty
    /// ([`SqliteStoreError::NotEmpty`]), or when a trust entry's id is not its key's
    /// ([`SqliteStoreError::IdMismatch`]) or the group state's bytes are not one
    /// ([`SqliteStoreError::NotAGroupState`]). Marks are written as they are, owned by
    /// nobody (no handle can lower them).
    ///
    /// ```
    /// use stringphone_core::{MarkSlot, PublicKey};
    /// use stringphone_store_sqlite::{participant_id, Snapshot, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-import-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let key = PublicKey::from_bytes([7; 32]);
    /// let mut snap = Snapshot::default();
    /// snap.trust.insert(participant_id(&key), key);
    /// snap.marks.insert(MarkSlot::OwnCounter, 2048);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.import(&snap)?;
    /// assert_eq!(store.snapshot()?, snap);
    /// assert!(store.import(&snap).is_err()); // only into an empty database
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn import(&mut self, snapshot: &Snapshot) -> Result<(), SqliteStoreError> {
        for (id, key) in &snapshot.trust {
            let expected = participant_id(key);
            if expected != *id {
                return Err(SqliteStoreError::IdMismatch { id: *id, expected });
            }
        }
        if let Some(state) = &snapshot.group_state {
            GroupState::from_bytes(state).map_err(|e| SqliteStoreError::NotAGroupState {
                reason: e.to_string(),
            })?;
        }
        let path = self.path.clone();
        let err = |e| classify(&path, "import", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let held: i64 = tx
            .query_row(
                "SELECT (SELECT count(*) FROM trust) + (SELECT count(*) FROM marks)
                      + (SELECT count(*) FROM group_state)",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if held != 0 {
            return Err(SqliteStoreError::NotEmpty { path });
        }
        for (id, key) in &snapshot.trust {
            tx.execute(
                "INSERT INTO trust (id, key) VALUES (?1, ?2)",
                params![&id.as_bytes()[..], &key.as_bytes()[..]],
            )
            .map_err(err)?;
        }
        for (slot, mark) in &snapshot.marks {
            // Writer 0: no handle's token (tokens are random), so nobody owns them.
            tx.execute(
                "INSERT INTO marks (slot, mark, writer) VALUES (?1, ?2, 0)",
                params![slot_key(slot), &mark.to_be_bytes()[..]],
            )
            .map_err(err)?;
        }
        if let Some(state) = &snapshot.group_state {
            let digest: [u8; 32] = Sha256::digest(&state[..]).into();
            tx.execute(
                "INSERT INTO group_state (one, state, sha256) VALUES (1, ?1, ?2)",
                params![&state[..], &digest[..]],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}
