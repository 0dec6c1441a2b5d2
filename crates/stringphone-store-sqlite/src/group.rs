//! The v2 group state: stored with its SHA-256, checked when read, never replaced
//! by a lower epoch or another topic; see [Group state](crate#group-state).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::GroupState;

use crate::error::{classify, SqliteStoreError};
use crate::SqliteTrustStore;

impl SqliteTrustStore {
    /// The v2 group state stored (the bytes of [`GroupState::to_bytes`]), read now and
    /// checked (its SHA-256, and that the bytes are a group state); `None` if there is
    /// none. The bytes hold the topic key: they are zeroized when dropped.
    ///
    /// ```
    /// use stringphone_core::v2::{GroupState, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_sqlite::SqliteTrustStore;
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let db = dir.join("s.db");
    /// let seed = SigningSeed::from_bytes([2; 32]);
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut topic = Topic::<RustCrypto, _>::with_store(seed.clone(), Some(key), SqliteTrustStore::open(&db)?);
    /// topic.set_topic_id(TopicId::from_name(b"home/kitchen"))?; // saved to the store
    ///
    /// let bytes = SqliteTrustStore::open(&db)?.group_state()?.expect("saved");
    /// assert_eq!(GroupState::from_bytes(&bytes)?.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    ///
    /// // A restarted process resumes it on its first v2 operation.
    /// let mut restarted = Topic::<RustCrypto, _>::with_store(seed, None, SqliteTrustStore::open(&db)?);
    /// assert!(restarted.resume()?);
    /// assert_eq!(restarted.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, SqliteStoreError> {
        read_group_state(&self.conn, &self.path).map(|s| s.map(|(bytes, _)| bytes))
    }

    /// Stores `state` (the bytes of [`GroupState::to_bytes`]) as the group state, in
    /// one transaction, replacing the one stored. Refused, writing nothing, when the
    /// bytes are not a group state ([`SqliteStoreError::NotAGroupState`]), or the
    /// stored one is corrupt, belongs to another topic
    /// ([`SqliteStoreError::GroupTopicMismatch`]) or is at a higher epoch
    /// ([`SqliteStoreError::StaleGroupState`]).
    ///
    /// ```
    /// use stringphone_core::v2::{ProtocolVersion, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_sqlite::{SqliteStoreError, SqliteTrustStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-sg-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut admin = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// admin.set_topic_id(TopicId::from_name(b"home/kitchen"))?;
    /// admin.set_protocol(ProtocolVersion::V2);
    /// let at_zero = admin.group_state().to_bytes();
    /// admin.rotate(None)?;
    ///
    /// let mut store = SqliteTrustStore::open(dir.join("s.db"))?;
    /// store.store_group_state(&admin.group_state().to_bytes())?;
    /// // A process still at epoch 0 cannot take the database back there.
    /// let err = SqliteTrustStore::open(dir.join("s.db"))?.store_group_state(&at_zero).unwrap_err();
    /// assert!(matches!(err, SqliteStoreError::StaleGroupState { stored: 1, saving: 0, .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_group_state(&mut self, state: &[u8]) -> Result<(), SqliteStoreError> {
        let saving =
            GroupState::from_bytes(state).map_err(|e| SqliteStoreError::NotAGroupState {
                reason: e.to_string(),
            })?;
        let path = self.path.clone();
        let err = |e| classify(&path, "store the group state", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some((_, stored)) = read_group_state(&tx, &path)? {
            if stored.topic_id().is_some() && stored.topic_id() != saving.topic_id() {
                return Err(SqliteStoreError::GroupTopicMismatch { path });
            }
            if saving.epoch() < stored.epoch() {
                return Err(SqliteStoreError::StaleGroupState {
                    path,
                    stored: stored.epoch(),
                    saving: saving.epoch(),
                });
            }
        }
        let digest: [u8; 32] = Sha256::digest(state).into();
        tx.execute(
            "INSERT INTO group_state (one, state, sha256) VALUES (1, ?1, ?2)
             ON CONFLICT (one) DO UPDATE SET state = excluded.state, sha256 = excluded.sha256",
            params![state, &digest[..]],
        )
        .and_then(|_| tx.commit())
        .map_err(err)
    }
}

/// A stored group state: its bytes, and what they parse to.
pub(crate) type StoredGroup = (Zeroizing<Vec<u8>>, GroupState);

/// The stored group state, checked.
pub(crate) fn read_group_state(
    conn: &Connection,
    path: &Path,
) -> Result<Option<StoredGroup>, SqliteStoreError> {
    let corrupt = |reason: String| SqliteStoreError::CorruptGroupState {
        path: path.to_path_buf(),
        reason,
    };
    let row = conn
        .prepare_cached("SELECT state, sha256 FROM group_state WHERE one = 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                let state = Zeroizing::new(r.get_ref(0)?.as_blob()?.to_vec());
                let digest = r.get_ref(1)?.as_blob()?.to_vec();
                Ok((state, digest))
            })
            .optional()
        })
        .map_err(|e| classify(path, "read the group state", e))?;
    let Some((state, digest)) = row else {
        return Ok(None);
    };
    if Sha256::digest(&state[..])[..] != digest[..] {
        return Err(corrupt("its SHA-256 does not match".into()));
    }
    let parsed = GroupState::from_bytes(&state).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some((state, parsed)))
}
