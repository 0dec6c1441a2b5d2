//! Key files, the state directory and the pending introduction secret.
//!
//! A key file holds one 32-byte key on one line, mode 0600: a word saying what the key
//! is ([`KeyKind::tag`]), a space, 64 lowercase hex digits and a newline. So a seed
//! handed where a topic key is expected (or the other way round) is refused instead of
//! used. A bare line of 64 hex digits (what versions before the word wrote) still
//! reads as whatever kind is expected. Writes go through a temporary file in the same directory (fsynced), which is
//! then linked into place (refused if the target exists) or, with `--force`, renamed
//! over it; the directory is fsynced last. A crash never leaves half a key behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use stringphone::{HexError, ParticipantId, SigningSeed, TopicKey};
use zeroize::Zeroizing;

use crate::error::Failure;

/// The state directory: `--state-dir`, else `$XDG_DATA_HOME/stringphone`, else
/// `$HOME/.local/share/stringphone`.
pub fn state_dir(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        // The XDG spec says relative values are invalid and to be ignored.
        if xdg.is_absolute() {
            return Ok(xdg.join("stringphone"));
        }
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local/share/stringphone")),
        _ => Err(Failure::new(
            "cannot find a data directory ($XDG_DATA_HOME and $HOME are unset): pass --state-dir",
        )),
    }
}

/// Lowercase hex of secret bytes, in a buffer that is wiped on drop.
pub fn secret_hex(bytes: &[u8; 32]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(65));
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    s
}

/// What a key file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A signing seed: an identity (`--seed-file`).
    Seed,
    /// A topic key (`--key-file`).
    TopicKey,
    /// The ephemeral secret behind a pending introduction (`<state dir>/pending/<id>`).
    IntroSecret,
}

impl KeyKind {
    const ALL: [KeyKind; 3] = [KeyKind::Seed, KeyKind::TopicKey, KeyKind::IntroSecret];

    /// The word that starts the file.
    pub fn tag(self) -> &'static str {
        match self {
            KeyKind::Seed => "stringphone-seed",
            KeyKind::TopicKey => "stringphone-topic-key",
            KeyKind::IntroSecret => "stringphone-intro-secret",
        }
    }

    /// How errors name the file: "seed file", ...
    pub fn file(self) -> &'static str {
        match self {
            KeyKind::Seed => "seed file",
            KeyKind::TopicKey => "topic key file",
            KeyKind::IntroSecret => "pending introduction file",
        }
    }

    /// What the key is, with an article: "a signing seed", ...
    fn held(self) -> &'static str {
        match self {
            KeyKind::Seed => "a signing seed",
            KeyKind::TopicKey => "a topic key",
            KeyKind::IntroSecret => "the secret of a pending introduction",
        }
    }
}

/// The hex digits of a key file's text, once its word (if any) says it is `kind`.
fn key_digits<'t>(text: &'t str, kind: KeyKind, path: &Path) -> Result<&'t str, Failure> {
    let text = text.trim();
    if !text.starts_with("stringphone-") {
        return Ok(text); // written before key files said what they hold
    }
    let (tag, digits) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    match KeyKind::ALL.into_iter().find(|k| k.tag() == tag) {
        Some(found) if found == kind => Ok(digits.trim_start()),
        Some(found) => {
            let swapped = matches!(
                (kind, found),
                (KeyKind::Seed, KeyKind::TopicKey) | (KeyKind::TopicKey, KeyKind::Seed)
            );
            Err(Failure::new(format!(
                "{} {} holds {}, not {}{}",
                kind.file(),
                path.display(),
                found.held(),
                kind.held(),
                if swapped {
                    ": are --seed-file and --key-file swapped?"
                } else {
                    ""
                }
            )))
        }
        None => Err(Failure::new(format!(
            "{} {} is not a key file: it starts with {tag:?}, which names no kind of key",
            kind.file(),
            path.display()
        ))),
    }
}

fn describe_hex(e: HexError) -> String {
    match e {
        HexError::Length { expected, found } => {
            format!("expected {expected} hex digits and a newline, found {found} characters")
        }
        HexError::InvalidChar { position } => {
            format!("character {} is not a hex digit", position + 1)
        }
        other => other.to_string(),
    }
}

/// Reads a key file that must hold a `kind` key (or be untyped).
pub fn read_key<T>(
    path: &Path,
    kind: KeyKind,
    parse: impl FnOnce(&str) -> Result<T, HexError>,
) -> Result<T, Failure> {
    let what = kind.file();
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| {
        Failure::new(format!(
            "cannot read {what} {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Failure::new(format!(
            "{what} {} is not a key file: it is not text",
            path.display()
        ))
    })?;
    parse(key_digits(text, kind, path)?).map_err(|e| {
        Failure::new(format!(
            "{what} {} is not a key file: {}",
            path.display(),
            describe_hex(e)
        ))
    })
}

/// The OS error without Rust's " (os error N)" suffix.
pub fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn open_private_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or a new link in `dir` durable (on Unix; elsewhere the rename is all
/// there is).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes one secret key as a `kind` key file, mode 0600. Without `force` an existing
/// file (of any kind) is refused and left alone.
pub fn write_key(path: &Path, kind: KeyKind, key: &[u8; 32], force: bool) -> Result<(), Failure> {
    let what = kind.file();
    let exists = || {
        Failure::new(format!(
            "{what} {} already exists: refusing to overwrite it (use --force to replace it)",
            path.display()
        ))
    };
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(exists());
    }
    let fail = |action: &str, e: io::Error| {
        Failure::new(format!(
            "cannot {action} {what} {}: {}",
            path.display(),
            io_reason(&e)
        ))
    };
    let dir = parent_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| Failure::new(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);

    let result = (|| {
        let mut file = open_private_new(&tmp).map_err(|e| fail("create", e))?;
        let mut text = Zeroizing::new(String::with_capacity(96));
        text.push_str(kind.tag());
        text.push(' ');
        text.push_str(&secret_hex(key));
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail("write", e))?;
        drop(file);
        if force {
            fs::rename(&tmp, path).map_err(|e| fail("replace", e))?;
        } else {
            // A hard link never replaces an existing file: the check above cannot race.
            match fs::hard_link(&tmp, path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
                Err(e) => return Err(fail("create", e)),
            }
        }
        sync_dir(dir).map_err(|e| fail("sync the directory of", e))
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// Where the ephemeral secret of our pending introduction is kept: one file per
/// identity, `<state dir>/pending/<participant id>`.
pub fn pending_path(state_dir: &Path, id: &ParticipantId) -> PathBuf {
    state_dir.join("pending").join(id.to_string())
}

/// Creates the state directory (and `sub`, if given) with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Failure::new(format!(
            "cannot create directory {}: {}",
            dir.display(),
            io_reason(&e)
        ))
    })
}

/// Reads a signing seed from its key file.
pub fn read_seed(path: &Path) -> Result<SigningSeed, Failure> {
    read_key(path, KeyKind::Seed, SigningSeed::from_hex)
}

/// Reads a topic key from its key file.
pub fn read_topic_key(path: &Path) -> Result<TopicKey, Failure> {
    read_key(path, KeyKind::TopicKey, TopicKey::from_hex)
}
