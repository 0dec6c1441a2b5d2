//! The trust file's format (version 1): a header, one entry per line in ascending id
//! order, a trailer with the entry count.

use std::collections::BTreeMap;

use stringphone_core::{ParticipantId, PublicKey};

use crate::text::is_lower_hex;
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
    let Some(body) = text.strip_suffix('\n') else {
        let line = text.split('\n').count();
        return Err((
            line,
            "the file does not end with a newline: truncated?".into(),
        ));
    };
    let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, HEADER)) => {}
        Some((_, other)) if other.starts_with("stringphone-trust ") => {
            return Err((1, format!("unsupported version header {other:?}")))
        }
        _ => return Err((1, format!("missing header {HEADER:?}"))),
    }
    let mut entries = BTreeMap::new();
    let mut last: Option<ParticipantId> = None;
    for (n, line) in lines {
        if let Some(count) = line.strip_prefix("end ") {
            let canonical = count.bytes().all(|b| b.is_ascii_digit())
                && !count.is_empty()
                && (count == "0" || !count.starts_with('0'));
            if !canonical || count.parse::<usize>().ok() != Some(entries.len()) {
                return Err((
                    n,
                    format!(
                        "trailer says {count:?} entries, the file has {}",
                        entries.len()
                    ),
                ));
            }
            if n != body.split('\n').count() {
                return Err((n + 1, "text after the trailer".into()));
            }
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
    Err((
        body.split('\n').count() + 1,
        "missing `end` trailer: truncated?".into(),
    ))
}
