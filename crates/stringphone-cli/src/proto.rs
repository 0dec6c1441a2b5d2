//! Glue between the command and the protocol: the protocol setting, the trust store
//! the commands use, the pending introduction kept across processes, and text helpers.

use std::path::Path;

use stringphone::protocol::MarkSlot;
use stringphone::v2::{ProtocolVersion, TopicId};
use stringphone::{
    rule, Backend, BoxSecret, DefaultBackend, Error, Fingerprint, MemoryTrustStore, Message,
    ParticipantId, PublicKey, SigningSeed, StoreError, Topic, TopicKey, TrustStore,
};
use stringphone_store_sqlite::{Snapshot, SqliteTrustStore};

use crate::Failure;

/// Which wire formats a command speaks (`--protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The original's format, what the Python stringphone speaks (the default)
    #[default]
    Classic,
    /// v2 only: replay protection and signed discovery; classic messages are refused
    V2,
    /// Reads classic and v2, sends v2: for moving a group over to v2
    Both,
}

/// The v2 topic id of a topic name (an MQTT topic, `--topic`).
pub fn topic_id(name: &str) -> TopicId {
    TopicId::from_name(name.as_bytes())
}

impl Protocol {
    /// The topic setting.
    pub fn version(self) -> ProtocolVersion {
        match self {
            Protocol::Classic => ProtocolVersion::Classic,
            Protocol::V2 => ProtocolVersion::V2,
            Protocol::Both => ProtocolVersion::Both,
        }
    }
}

/// The participant id of `key` on the backend in use.
pub fn id_of(key: &PublicKey) -> ParticipantId {
    DefaultBackend::participant_id(key)
}

/// `<id> <fingerprint>`, the way every output line names a participant.
pub fn who(id: &ParticipantId) -> String {
    format!("{id} {}", id.fingerprint())
}

/// The fingerprint of a key.
pub fn fingerprint(key: &PublicKey) -> Fingerprint {
    id_of(key).fingerprint()
}

/// Parses a public key given on the command line and checks that it can ever verify
/// a signature (the same check `add_participant` makes).
pub fn parse_public_key(text: &str, what: &str) -> Result<PublicKey, Failure> {
    let key = PublicKey::from_hex(text).map_err(|e| {
        Failure::new(format!(
            "{what} {text:?} is not a public key: {e} (a public key is 64 hex digits)"
        ))
    })?;
    if !rule::public_key_passes(key.as_bytes()) || DefaultBackend::verifying_key(&key).is_err() {
        return Err(Failure::new(format!(
            "{what} {text} is not a usable Ed25519 public key"
        )));
    }
    Ok(key)
}

/// The database of a state directory: trust, v2 replay marks and group state.
pub const DATABASE: &str = "state.db";

/// Opens the state directory's database (`<state>/state.db`, see
/// `stringphone-store-sqlite`), creating it if missing. A state directory written by
/// the text store of earlier versions (`trust`, `marks`, `group`) is imported first,
/// once: its contents go into a new database in one transaction, which then takes the
/// database's name, and one line on stderr says so. The old files are left as they
/// were (an older stringphone still reads them; changes made from now on are not
/// written back to them).
pub fn open_store(state: &Path) -> Result<SqliteTrustStore, Failure> {
    let db = state.join(DATABASE);
    if std::fs::symlink_metadata(&db).is_err() {
        import_text_store(state, &db)?;
    }
    Ok(SqliteTrustStore::open(&db)?)
}

/// The one-time import of a text store's state directory, if `state` holds one.
fn import_text_store(state: &Path, db: &Path) -> Result<(), Failure> {
    let Some(snapshot) = text_store_snapshot(state)? else {
        return Ok(());
    };
    // Built under a name of its own and linked into place whole, so that no process
    // ever opens a half-imported database; a link never replaces one another process
    // made meanwhile (theirs is the same import, or newer).
    let tmp = state.join(format!("{DATABASE}.import-{}", std::process::id()));
    let cleanup = |tmp: &Path| {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = tmp.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(std::path::PathBuf::from(p));
        }
    };
    cleanup(&tmp);
    let result = (|| {
        let mut fresh = SqliteTrustStore::open(&tmp)?;
        fresh.import(&snapshot)?;
        drop(fresh); // the last connection folds the log into the file
        match std::fs::hard_link(&tmp, db) {
            Ok(()) => {
                crate::files::sync_dir(state).map_err(|e| import_failure(state, &e))?;
                eprintln!(
                    "imported the text store of {} ({} trusted, {} replay marks, {}) into {}; \
                     its files are left as they were",
                    state.display(),
                    snapshot.trust.len(),
                    snapshot.marks.len(),
                    if snapshot.group_state.is_some() {
                        "a v2 group state"
                    } else {
                        "no group state"
                    },
                    db.display()
                );
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(import_failure(state, &e)),
        }
    })();
    cleanup(&tmp);
    result
}

/// Everything the text store of `state` holds, if it holds one (any of its files).
fn text_store_snapshot(state: &Path) -> Result<Option<Snapshot>, Failure> {
    use stringphone_store_file::{FileTrustStore, FILE_NAME, GROUP_NAME, MARKS_NAME};
    let present = [FILE_NAME, MARKS_NAME, GROUP_NAME]
        .iter()
        .any(|name| std::fs::symlink_metadata(state.join(name)).is_ok());
    if !present {
        return Ok(None);
    }
    let fail = |e: &(dyn std::error::Error + 'static)| import_failure(state, e);
    let text = FileTrustStore::open(state).map_err(|e| fail(&e))?;
    Ok(Some(Snapshot {
        trust: text.entries().map_err(|e| fail(&e))?.into_iter().collect(),
        marks: text.marks().map_err(|e| fail(&e))?,
        group_state: text.group_state().map_err(|e| fail(&e))?,
    }))
}

/// A failure to import the text store of `state`: each cause said once, the whole
/// chain (an I/O error's reason included).
fn import_failure(state: &Path, e: &(dyn std::error::Error + 'static)) -> Failure {
    Failure::new(format!(
        "cannot import the text store of {}: {}",
        state.display(),
        crate::error::chain(e)
    ))
}

/// The database, with keys trusted for this one run (`decode --trust`) on top.
/// Writes go to the database, and so do v2 replay marks, whoever the sender.
pub struct CliStore {
    /// Trusted for this run only.
    pub extra: MemoryTrustStore,
    /// The persistent store.
    pub db: SqliteTrustStore,
}

impl TrustStore for CliStore {
    type Iter<'a> = std::vec::IntoIter<(ParticipantId, PublicKey)>;

    fn get(&self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        match self.extra.get(id)? {
            Some(key) => Ok(Some(key)),
            None => self.db.get(id),
        }
    }

    fn insert(&mut self, id: ParticipantId, key: PublicKey) -> Result<(), StoreError> {
        self.db.insert(id, key)
    }

    fn remove(&mut self, id: &ParticipantId) -> Result<Option<PublicKey>, StoreError> {
        let extra = self.extra.remove(id)?;
        Ok(self.db.remove(id)?.or(extra))
    }

    fn iter(&self) -> Result<Self::Iter<'_>, StoreError> {
        let mut all: Vec<_> = self.extra.iter()?.collect();
        all.extend(self.db.iter()?);
        Ok(all.into_iter())
    }

    fn load_mark(&self, slot: &MarkSlot) -> Result<Option<u64>, StoreError> {
        self.db.load_mark(slot)
    }

    fn save_mark(&mut self, slot: MarkSlot, mark: u64) -> Result<(), StoreError> {
        self.db.save_mark(slot, mark)
    }

    fn load_group_state(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        self.db.load_group_state()
    }

    fn save_group_state(&mut self, state: &[u8]) -> Result<(), StoreError> {
        self.db.save_group_state(state)
    }
}

/// A pending introduction: our identity and the ephemeral secret behind the intro.
/// It can be rebuilt from these two at any time, in any process.
pub struct Discovery {
    seed: SigningSeed,
    secret: BoxSecret,
}

impl Discovery {
    /// A fresh introduction for `seed`.
    pub fn new(seed: SigningSeed) -> Self {
        Discovery {
            seed,
            secret: BoxSecret::generate(),
        }
    }

    /// The introduction behind a stored secret.
    pub fn restore(seed: SigningSeed, secret: BoxSecret) -> Self {
        Discovery { seed, secret }
    }

    /// The ephemeral secret, to store.
    pub fn secret(&self) -> &BoxSecret {
        &self.secret
    }

    /// A scratch topic with this identity whose pending introduction is ours, and the
    /// introduction message.
    fn topic(&self) -> Result<(Topic, stringphone::wire::DiscoveryBytes), Failure> {
        let mut topic = Topic::new(self.seed.clone(), None);
        let mut buf = [0u8; stringphone::wire::INTRODUCTION_LEN];
        let n = topic
            .resume_introduction_into(self.secret.clone(), &mut buf)
            .map_err(Failure::from)?;
        let intro = stringphone::wire::DiscoveryBytes::from_slice(&buf[..n]).ok_or_else(|| {
            Failure::new("internal error: an introduction longer than its own kind")
        })?;
        Ok((topic, intro))
    }

    /// The introduction message to broadcast.
    pub fn intro(&self) -> Result<stringphone::wire::DiscoveryBytes, Failure> {
        Ok(self.topic()?.1)
    }

    /// Opens a reply to our introduction: the public key the replier claims and the
    /// topic key it carries. Can be called for every reply that arrives.
    pub fn open(&self, reply: &[u8]) -> Result<(PublicKey, TopicKey), Error> {
        let (mut topic, _) = self.topic().map_err(|_| Error::NoPendingIntroduction)?;
        let replier = topic.parse_reply(reply)?;
        let key = topic.topic_key().cloned().ok_or(Error::MissingTopicKey)?;
        Ok((replier, key))
    }
}

/// Hex of arbitrary bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Bytes from hex (surrounding whitespace ignored).
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim().as_bytes();
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", text.len()));
    }
    let digit = |i: usize| -> Result<u8, String> {
        let c = text[i];
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("character {} is not a hex digit", i + 1))
    };
    (0..text.len() / 2)
        .map(|i| Ok((digit(2 * i)? << 4) | digit(2 * i + 1)?))
        .collect()
}

/// The message behind `text`, if `text` is hex text (surrounding whitespace ignored)
/// of bytes that parse as a stringphone message: what the original's MQTT example
/// publishes. A raw message is never hex text (no message type byte is a hex digit).
pub fn hex_message(text: &[u8]) -> Option<Vec<u8>> {
    let bytes = from_hex(std::str::from_utf8(text).ok()?).ok()?;
    Message::parse(&bytes).ok()?;
    Some(bytes)
}

/// Unicode's bidirectional formatting characters (the Bidi_Control property): they
/// reorder the text around them on screen, so a message could make the rest of the
/// line (a sender's name, say) read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from another participant, safe to print on one terminal line: invalid UTF-8
/// replaced, control characters (escape sequences, newlines) and bidirectional
/// formatting characters escaped.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Does `approved` (as typed by the user) name this key: its fingerprint, id or
/// public key?
pub fn names_key(approved: &str, key: &PublicKey) -> bool {
    let approved = approved.trim().to_ascii_lowercase();
    let id = id_of(key);
    approved == id.fingerprint().to_string()
        || approved == id.to_string()
        || approved == key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_and_bidi_formatting() {
        assert_eq!(printable(b"bad \xff utf-8"), "bad \u{fffd} utf-8");
        assert_eq!(printable(b"a\tb\x1b[2J"), "a\\tb\\u{1b}[2J");
        for c in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let text = format!("evil{c}txt.exe");
            let shown = printable(text.as_bytes());
            assert_eq!(shown, format!("evil\\u{{{:x}}}txt.exe", c as u32));
            assert!(!shown.contains(c));
        }
        // Other non-ASCII text is kept as it is.
        assert_eq!(printable("ünï ✓ שלום".as_bytes()), "ünï ✓ שלום");
    }

    #[test]
    fn hex_message_needs_hex_of_a_message() {
        let intro = Discovery::new(SigningSeed::from_bytes([1; 32]))
            .intro()
            .unwrap();
        let hex = to_hex(&intro);
        assert_eq!(hex_message(hex.as_bytes()), Some(intro.to_vec()));
        assert_eq!(
            hex_message(format!("{hex}\n").as_bytes()),
            Some(intro.to_vec())
        );
        assert_eq!(hex_message(&intro), None);
        assert_eq!(hex_message(b"6869"), None); // hex, but of no message
        assert_eq!(hex_message(b"hello"), None);
    }
}
