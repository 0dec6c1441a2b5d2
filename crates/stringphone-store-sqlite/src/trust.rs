//! Trust: the participants, each row checked to be a key under its own id; and the
//! [`TrustStore`] contract, each call one transaction.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::{MarkSlot, ParticipantId, PublicKey, StoreError, TrustStore};

use crate::error::{classify, SqliteStoreError};
use crate::{participant_id, SqliteTrustStore};

impl SqliteTrustStore {
    /// A trust row as read: checked to be a key under its own id.
    pub(crate) fn trust_row(
        &self,
        id: &[u8],
        key: &[u8],
    ) -> Result<(ParticipantId, PublicKey), SqliteStoreError> {
        let (Ok(id), Ok(key)) = (<[u8; 16]>::try_from(id), <[u8; 32]>::try_from(key)) else {
            return Err(self.corrupt("a trust row of the wrong length"));
        };
        let (id, key) = (ParticipantId::from_bytes(id), PublicKey::from_bytes(key));
        if participant_id(&key) != id {
            return Err(self.corrupt(format!(
                "trust row {id}: the id is not the SHA-256 prefix of the key"
            )));
        }
        Ok((id, key))
    }

    /// Every trusted participant, in id order, each checked to be a key under its own
    /// id.
    ///
    /// ```
    /// use stringphone_core::{PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-entries-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// assert_eq!(store.entries()?, vec![(participant_id(&key), key)]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entries(&self) -> Result<Vec<(ParticipantId, PublicKey)>, SqliteStoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, key FROM trust ORDER BY id")
            .map_err(self.sql_err("read trust"))?;
        let mut rows = stmt.query([]).map_err(self.sql_err("read trust"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.sql_err("read trust"))? {
            let id = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read trust"))?;
            let key = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(self.sql_err("read trust"))?;
            out.push(self.trust_row(id, key)?);
        }
        Ok(out)
    }

    /// How many participants are trusted.
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-len-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// assert_eq!(store.len()?, 0);
    /// assert!(store.is_empty()?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn len(&self) -> Result<usize, SqliteStoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM trust")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(self.sql_err("count trust"))?;
        Ok(n as usize)
    }

    /// Whether nobody is trusted.
    ///
    /// ```
    /// use stringphone_core::{PublicKey, TrustStore};
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-empty-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let key = PublicKey::from_bytes([7; 32]);
    /// store.insert(participant_id(&key), key)?;
    /// assert!(!store.is_empty()?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, SqliteStoreError> {
        Ok(self.len()? == 0)
    }

    /// Trusts every key in `keys`, in one transaction (all or none): how a gateway
    /// loads thousands of participants without a commit each. Returns how many were
    /// new.
    ///
    /// ```
    /// use stringphone_core::PublicKey;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-all-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let keys: Vec<PublicKey> = (1..=3u8).map(|n| PublicKey::from_bytes([n; 32])).collect();
    /// assert_eq!(store.insert_all(keys.iter().copied())?, 3);
    /// assert_eq!(store.insert_all(keys)?, 0);
    /// assert_eq!(store.len()?, 3);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn insert_all(
        &mut self,
        keys: impl IntoIterator<Item = PublicKey>,
    ) -> Result<usize, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "store trust", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO trust (id, key) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET key = excluded.key WHERE key != excluded.key",
                )
                .map_err(err)?;
            let mut exists = tx
                .prepare_cached("SELECT 1 FROM trust WHERE id = ?1")
                .map_err(err)?;
            for key in keys {
                let id = participant_id(&key);
                let id = id.as_bytes();
                if !exists.exists([&id[..]]).map_err(err)? {
                    added += 1;
                }
                stmt.execute(params![&id[..], &key.as_bytes()[..]])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Stops trusting every id in `ids`, in one transaction (all or none). Returns how
    /// many were trusted.
    ///
    /// ```
    /// use stringphone_core::PublicKey;
    /// use stringphone_store_sqlite::{participant_id, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-rmall-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// let keys: Vec<PublicKey> = (1..=3u8).map(|n| PublicKey::from_bytes([n; 32])).collect();
    /// store.insert_all(keys.iter().copied())?;
    /// assert_eq!(store.remove_all(keys[..2].iter().map(participant_id))?, 2);
    /// assert_eq!(store.len()?, 1);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn remove_all(
        &mut self,
        ids: impl IntoIterator<Item = ParticipantId>,
    ) -> Result<usize, SqliteStoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, "remove trust", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut removed = 0;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM trust WHERE id = ?1")
                .map_err(err)?;
            for id in ids {
                removed += stmt.execute([&id.as_bytes()[..]]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }
}

impl TrustStore for SqliteTrustStore {
    type Iter<'a> = std::vec::IntoIter<(ParticipantId, PublicKey)>;

    /// One indexed read of the database, so a change by another process is seen at
    /// once.
    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        let key = self
            .conn
            .prepare_cached("SELECT key FROM trust WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([&id.as_bytes()[..]], |r| {
                    Ok(<[u8; 32]>::try_from(r.get_ref(0)?.as_blob()?).ok())
                })
                .optional()
            })
            .map_err(self.sql_err("read trust"))?;
        match key {
            None => Ok(None),
            Some(Some(key)) => Ok(Some(PublicKey::from_bytes(key))),
            Some(None) => Err(self.corrupt("a trust row of the wrong length").into()),
        }
    }

    /// One statement, so one transaction. Refuses an id that is not the key's.
    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        let expected = participant_id(&key);
        if expected != id {
            return Err(SqliteStoreError::IdMismatch { id, expected }.into());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO trust (id, key) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key WHERE key != excluded.key",
            )
            .and_then(|mut s| s.execute(params![&id.as_bytes()[..], &key.as_bytes()[..]]))
            .map_err(self.sql_err("store trust"))?;
        Ok(())
    }

    /// One statement (`DELETE ... RETURNING`), so one transaction.
    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        let key = self
            .conn
            .prepare_cached("DELETE FROM trust WHERE id = ?1 RETURNING key")
            .and_then(|mut s| {
                s.query_row([&id.as_bytes()[..]], |r| {
                    Ok(<[u8; 32]>::try_from(r.get_ref(0)?.as_blob()?).ok())
                })
                .optional()
            })
            .map_err(self.sql_err("remove trust"))?;
        Ok(key.flatten().map(PublicKey::from_bytes))
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        Ok(self.entries()?.into_iter())
    }

    /// One read transaction (`BEGIN DEFERRED`) around `reads`, ended when `reads`
    /// returns or panics: its reads see the database as it was at the first of them,
    /// and cost one transaction rather than one each. Inside a transaction already
    /// (or if `BEGIN` fails), `reads` runs as it is, each read its own transaction
    /// as outside.
    fn with_read_snapshot<R>(&self, reads: impl FnOnce() -> R) -> R {
        if !self.conn.is_autocommit() || self.conn.execute_batch("BEGIN DEFERRED").is_err() {
            return reads();
        }
        let _end = EndRead(&self.conn);
        reads()
    }

    /// [`SqliteTrustStore::mark`]: read from the database now.
    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        Ok(self.mark(slot)?)
    }

    /// [`SqliteTrustStore::store_mark`]: one transaction; a lower mark is stored only
    /// when it takes back this handle's own reservation.
    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.store_mark(slot, mark)?;
        Ok(())
    }

    /// [`SqliteTrustStore::group_state`]: read and checked now.
    fn load_group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.group_state()?)
    }

    /// [`SqliteTrustStore::store_group_state`]: one transaction; never to a lower
    /// epoch or another topic than the one stored.
    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.store_group_state(state)?;
        Ok(())
    }
}

/// Ends a read transaction when dropped, also on a panic, so that the handle is never
/// left inside one (its later writes would join a transaction nobody commits).
struct EndRead<'c>(&'c rusqlite::Connection);

impl Drop for EndRead<'_> {
    fn drop(&mut self) {
        // A read transaction has nothing to lose; ROLLBACK is the fallback should
        // COMMIT ever fail, and if both fail the next write reports it.
        if self.0.execute_batch("COMMIT").is_err() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}
