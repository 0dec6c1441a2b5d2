//! The v2 group state: its file's format, and what a save may replace (see
//! [Group state](crate#group-state)).

use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};
use stringphone_core::reexports::zeroize::Zeroizing;
use stringphone_core::v2::GroupState;

use crate::error::{io_err, FileStoreError};
use crate::text::{
    canonical_u64, hex, hex_value, is_lower_hex, lines_under_header, missing_trailer, HEX,
};
use crate::{FileTrustStore, GROUP_HEADER, GROUP_TMP_NAME};

impl FileTrustStore {
    /// The v2 group-state file.
    pub fn group_path(&self) -> &Path {
        &self.group_path
    }

    /// The v2 group state stored (the bytes of [`GroupState::to_bytes`]), read from
    /// the file now and checked (its length, its SHA-256, and that the bytes are a
    /// group state); `None` if there is none. The bytes hold the topic key: they are
    /// zeroized when dropped.
    ///
    /// ```
    /// use stringphone_core::v2::{GroupState, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_file::FileTrustStore;
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-doc-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let seed = SigningSeed::from_bytes([2; 32]);
    /// let key = TopicKey::from_bytes([1; 32]);
    /// let mut topic = Topic::<RustCrypto, _>::with_store(seed.clone(), Some(key), FileTrustStore::open(&dir)?);
    /// topic.set_topic_id(TopicId::from_name(b"home/kitchen"))?; // saved to the store
    ///
    /// let bytes = FileTrustStore::open(&dir)?.group_state()?.expect("saved");
    /// let state = GroupState::from_bytes(&bytes)?;
    /// assert_eq!(state.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    ///
    /// // A restarted process resumes it on its first v2 operation.
    /// let mut restarted = Topic::<RustCrypto, _>::with_store(seed, None, FileTrustStore::open(&dir)?);
    /// assert!(restarted.resume()?);
    /// assert_eq!(restarted.topic_id(), Some(TopicId::from_name(b"home/kitchen")));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_state(&self) -> Result<Option<Zeroizing<Vec<u8>>>, FileStoreError> {
        let bytes = match fs::read(&self.group_path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &self.group_path)(e)),
        };
        let corrupt = |(line, reason)| FileStoreError::CorruptGroupState {
            path: self.group_path.clone(),
            line,
            reason,
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|_| corrupt((1, "not UTF-8 text".into())))?;
        let state = parse_group(text).map_err(corrupt)?;
        // The checksum proves the bytes are what was saved; this proves they are a
        // group state this version reads, so the error names the file.
        GroupState::from_bytes(&state).map_err(|e| corrupt((3, e.to_string())))?;
        Ok(Some(state))
    }

    /// Stores `state` (the bytes of [`GroupState::to_bytes`]) durably as the group
    /// state, replacing the one stored: under the writers' lock, through `group.tmp`
    /// (mode 0600), fsync and a rename. Refused, writing nothing, when the bytes are
    /// not a group state ([`FileStoreError::NotAGroupState`]), when the stored one is
    /// corrupt, belongs to another topic ([`FileStoreError::GroupTopicMismatch`]) or
    /// is at a higher epoch ([`FileStoreError::StaleGroupState`]). See
    /// [Group state](crate#group-state).
    ///
    /// ```
    /// use stringphone_core::v2::{ProtocolVersion, TopicId};
    /// use stringphone_core::{SigningSeed, Topic, TopicKey};
    /// use stringphone_rustcrypto::RustCrypto;
    /// use stringphone_store_file::{FileStoreError, FileTrustStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("sp-doc-store-group-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let mut admin = Topic::<RustCrypto, _>::new(SigningSeed::from_bytes([2; 32]), Some(TopicKey::from_bytes([1; 32])));
    /// admin.set_topic_id(TopicId::from_name(b"home/kitchen"))?;
    /// admin.set_protocol(ProtocolVersion::V2);
    /// let at_zero = admin.group_state().to_bytes();
    /// admin.rotate(None)?;
    ///
    /// let mut store = FileTrustStore::open(&dir)?;
    /// store.store_group_state(&admin.group_state().to_bytes())?;
    /// // A process still at epoch 0 cannot take the directory back there.
    /// let err = FileTrustStore::open(&dir)?.store_group_state(&at_zero).unwrap_err();
    /// assert!(matches!(err, FileStoreError::StaleGroupState { stored: 1, saving: 0, .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_group_state(&mut self, state: &[u8]) -> Result<(), FileStoreError> {
        let saving = GroupState::from_bytes(state).map_err(|e| FileStoreError::NotAGroupState {
            reason: e.to_string(),
        })?;
        let lock = self.lock_writers()?;
        if let Some(stored) = self.group_state()? {
            let stored =
                GroupState::from_bytes(&stored).map_err(|e| FileStoreError::CorruptGroupState {
                    path: self.group_path.clone(),
                    line: 3,
                    reason: e.to_string(),
                })?;
            if stored.topic_id().is_some() && stored.topic_id() != saving.topic_id() {
                return Err(FileStoreError::GroupTopicMismatch {
                    path: self.group_path.clone(),
                });
            }
            if saving.epoch() < stored.epoch() {
                return Err(FileStoreError::StaleGroupState {
                    path: self.group_path.clone(),
                    stored: stored.epoch(),
                    saving: saving.epoch(),
                });
            }
        }
        self.replace(GROUP_TMP_NAME, &self.group_path, &serialize_group(state))?;
        drop(lock); // closing the file releases the lock
        Ok(())
    }
}

/// The group-state file's text: header, `<length> <SHA-256>`, the bytes in hex,
/// `end`. Zeroized when dropped: it holds the topic key.
pub(crate) fn serialize_group(state: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(128 + state.len() * 2));
    out.push_str(GROUP_HEADER);
    out.push('\n');
    out.push_str(&format!(
        "{} {}\n",
        state.len(),
        hex(&Sha256::digest(state))
    ));
    for b in state {
        // Through a fixed table, not `format!`, so no unzeroized copy is made.
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.push_str("\nend\n");
    out
}

/// Parses a whole group-state file exactly; on failure, the 1-based line and the
/// reason.
pub(crate) fn parse_group(text: &str) -> Result<Zeroizing<Vec<u8>>, (usize, String)> {
    let lines = lines_under_header(text, GROUP_HEADER)?;
    let (len, digest) = lines
        .get(1)
        .and_then(|l| l.split_once(' '))
        .and_then(|(len, digest)| {
            let len = usize::try_from(canonical_u64(len)?).ok()?;
            (digest.len() == 64 && is_lower_hex(digest)).then_some((len, digest))
        })
        .ok_or((2, "expected `<length> <64 hex digit SHA-256>`".to_string()))?;
    let data = lines
        .get(3)
        .and(lines.get(2))
        .ok_or_else(|| missing_trailer(lines.len()))?;
    if len.checked_mul(2) != Some(data.len()) {
        return Err((
            3,
            format!(
                "{} hex digits, the length line says {len} bytes",
                data.len()
            ),
        ));
    }
    let mut state = Zeroizing::new(Vec::with_capacity(len));
    for pair in data.as_bytes().chunks_exact(2) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(high), Some(low)) => state.push(high << 4 | low),
            _ => return Err((3, "expected lowercase hex digits".into())),
        }
    }
    if hex(&Sha256::digest(&state[..])) != digest {
        return Err((3, "the bytes do not match their SHA-256: damaged".into()));
    }
    match lines.get(3..) {
        Some(["end"]) => Ok(state),
        Some(["end", ..]) => Err((5, "text after the trailer".into())),
        _ => Err(missing_trailer(3)),
    }
}
