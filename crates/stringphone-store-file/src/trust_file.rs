//! The trust file's format (version 1): a header, one entry per line in ascending id
//! order, a trailer with the entry count.

use std::collections::BTreeMap;

use stringphone_core::{ParticipantId, PublicKey};

use crate::text::{
    check_trailer, is_lower_hex, lines_under_header, missing_trailer, numbered_after_header,
};
use crate::{participant_id, HEADER};

/// The file's text for `entries`.
#[must_use]
pub fn serialize(entries: &BTreeMap<ParticipantId, PublicKey>) -> String {
    let mut out = String::with_capacity(32 + entries.len() * 98);
    out.push_str(HEADER);
    out.push('\n');
    for (id, key) in entries {
        out.push_str(&format!("{id} {key}\n"));
    }
    out.push_str(&format!("end {}\n", entries.len()));
    out
}

/// Parses a whole store file exactly; on failure, the 1-based line and the reason.
#[allow(clippy::type_complexity)]
pub fn parse(text: &str) -> Result<BTreeMap<ParticipantId, PublicKey>, (usize, String)> {
    let lines = lines_under_header(text, HEADER)?;
    let total = lines.len();
    let mut entries = BTreeMap::new();
    let mut last: Option<ParticipantId> = None;
    for (n, line) in numbered_after_header(&lines) {
        if let Some(count) = line.strip_prefix("end ") {
            check_trailer(n, total, count, entries.len())?;
            return Ok(entries);
        }
        let (id_hex, key_hex) = line
            .split_once(' ')
            .filter(|(i, k)| i.len() == 32 && k.len() == 64 && is_lower_hex(i) && is_lower_hex(k))
            .ok_or((n, "expected `<32 hex id> <64 hex public key>`".to_string()))?;
        let id = ParticipantId::from_hex(id_hex).map_err(|e| (n, e.to_string()))?;
        let key = PublicKey::from_hex(key_hex).map_err(|e| (n, e.to_string()))?;
        if participant_id(&key) != id {
            return Err((n, "the id is not the SHA-256 prefix of the key".into()));
        }
        if last.is_some_and(|prev| prev >= id) {
            return Err((n, "entries out of order or repeated".into()));
        }
        last = Some(id);
        entries.insert(id, key);
    }
    Err(missing_trailer(total))
}
