//! The repository's vector files (`vectors/`, see its README), found and read.
//!
//! Each loader refuses a file that is missing, empty or malformed: a test that read
//! nothing must not pass. Another file of the same format is tested by naming it in
//! the loader's environment variable.

use std::path::PathBuf;

use serde_json::Value;

/// The environment variable naming another classic wire-vector file.
///
/// ```
/// // STRINGPHONE_VECTORS=/path/to/other.json cargo test -p stringphone-ring --test conformance
/// assert_eq!(stringphone_testkit::vectors::CLASSIC_VAR, "STRINGPHONE_VECTORS");
/// ```
pub const CLASSIC_VAR: &str = "STRINGPHONE_VECTORS";
/// The environment variable naming another Ed25519 edge-case file.
///
/// ```
/// assert_eq!(stringphone_testkit::vectors::ED25519_VAR, "STRINGPHONE_ED25519_VECTORS");
/// ```
pub const ED25519_VAR: &str = "STRINGPHONE_ED25519_VECTORS";

/// The file named by the environment variable `var`, or `vectors/NAME` of this
/// repository (where this kit's sources live: `crates/stringphone-testkit/../../`).
///
/// ```
/// let path = stringphone_testkit::vectors::path("NO_SUCH_VARIABLE", "classic.json");
/// assert!(path.ends_with("vectors/classic.json"));
/// ```
#[must_use]
pub fn path(var: &str, name: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../vectors")
            .join(name),
    }
}

fn read(var: &str, name: &str) -> Result<(PathBuf, String), String> {
    let path = path(var, name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((path, text))
}

/// Lowercase or uppercase hex to bytes.
///
/// ```
/// assert_eq!(stringphone_testkit::vectors::unhex("0aff"), Ok(vec![10, 255]));
/// assert!(stringphone_testkit::vectors::unhex("0g").is_err());
/// ```
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("bad hex ({e}): {s:.40}"))
}

/// Hex of exactly 32 bytes.
///
/// ```
/// assert_eq!(stringphone_testkit::vectors::unhex32(&"01".repeat(32)), Ok([1; 32]));
/// assert!(stringphone_testkit::vectors::unhex32("01").is_err());
/// ```
pub fn unhex32(s: &str) -> Result<[u8; 32], String> {
    unhex(s)?
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes, got {}: {s:.40}", b.len()))
}

// ----- classic.json -------------------------------------------------------------------

/// The sections of the classic wire-vector file.
///
/// ```
/// assert!(stringphone_testkit::vectors::CLASSIC_SECTIONS.contains(&"invalid"));
/// ```
pub const CLASSIC_SECTIONS: [&str; 4] = ["simple", "intro", "reply", "invalid"];

/// The classic wire-vector file's content, checked to hold every section, none
/// empty.
///
/// ```
/// use stringphone_testkit::vectors::parse_classic;
/// let full = r#"{"simple":[{}],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
/// assert!(parse_classic(full).is_ok());
/// let empty = r#"{"simple":[],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
/// assert_eq!(parse_classic(empty).unwrap_err(), "section `simple` is empty");
/// ```
pub fn parse_classic(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    for s in CLASSIC_SECTIONS {
        match v.get(s).and_then(Value::as_array) {
            Some(a) if !a.is_empty() => {}
            Some(_) => return Err(format!("section `{s}` is empty")),
            None => return Err(format!("section `{s}` is missing")),
        }
    }
    Ok(v)
}

/// `vectors/classic.json`, or the file named by [`CLASSIC_VAR`].
///
/// ```
/// let v = stringphone_testkit::vectors::load_classic().unwrap();
/// assert!(!v["simple"].as_array().unwrap().is_empty());
/// ```
pub fn load_classic() -> Result<Value, String> {
    let (path, text) = read(CLASSIC_VAR, "classic.json")?;
    parse_classic(&text).map_err(|e| format!("{}: {e}", path.display()))
}

// ----- ed25519-edge.json --------------------------------------------------------------

/// One case of the Ed25519 edge-case file.
///
/// ```
/// let cases = stringphone_testkit::vectors::load_edge_cases().unwrap();
/// assert!(cases.iter().any(|c| c.libsodium_accepts));
/// println!("{}", cases[0].name());
/// ```
#[derive(Clone, Debug)]
pub struct EdgeCase {
    /// Which collection the case comes from.
    pub set: String,
    /// Its id in that collection.
    pub id: String,
    /// What it tries.
    pub description: String,
    /// The key (any length: a wrong one is a case too).
    pub public_key: Vec<u8>,
    /// The signed bytes.
    pub message: Vec<u8>,
    /// The signature (any length).
    pub signature: Vec<u8>,
    /// libsodium's verdict: the answer every backend must give.
    pub libsodium_accepts: bool,
}

impl EdgeCase {
    /// "set #id (description)", for messages.
    ///
    /// ```
    /// # let case = stringphone_testkit::vectors::load_edge_cases().unwrap().remove(0);
    /// assert!(case.name().contains(&case.set));
    /// ```
    #[must_use]
    pub fn name(&self) -> String {
        format!("{} #{} ({})", self.set, self.id, self.description)
    }

    /// The key and signature as a verifier takes them; `None` when a length is wrong
    /// (no verifier can be handed it, so it is refused).
    ///
    /// ```
    /// # let mut case = stringphone_testkit::vectors::load_edge_cases().unwrap().remove(0);
    /// case.signature.push(0);
    /// assert!(case.sized().is_none());
    /// ```
    #[must_use]
    pub fn sized(&self) -> Option<([u8; 32], [u8; 64])> {
        Some((
            self.public_key.as_slice().try_into().ok()?,
            self.signature.as_slice().try_into().ok()?,
        ))
    }
}

fn field<'a>(e: &'a Value, name: &str, i: usize) -> Result<&'a Value, String> {
    e.get(name)
        .ok_or_else(|| format!("case {i}: field `{name}` is missing"))
}

fn text<'a>(e: &'a Value, name: &str, i: usize) -> Result<&'a str, String> {
    field(e, name, i)?
        .as_str()
        .ok_or_else(|| format!("case {i}: field `{name}` is not a string"))
}

fn bytes(e: &Value, name: &str, i: usize) -> Result<Vec<u8>, String> {
    hex::decode(text(e, name, i)?).map_err(|err| format!("case {i}: field `{name}`: {err}"))
}

/// The edge-case file's cases. Anything missing, empty or malformed is an error.
///
/// ```
/// use stringphone_testkit::vectors::parse_edge_cases;
/// assert_eq!(parse_edge_cases("{}").unwrap_err(), "no `cases` array");
/// assert_eq!(parse_edge_cases(r#"{"cases":[]}"#).unwrap_err(), "`cases` is empty");
/// ```
pub fn parse_edge_cases(text_: &str) -> Result<Vec<EdgeCase>, String> {
    let v: Value = serde_json::from_str(text_).map_err(|e| format!("not JSON: {e}"))?;
    let cases = v
        .get("cases")
        .ok_or("no `cases` array")?
        .as_array()
        .ok_or("`cases` is not an array")?;
    if cases.is_empty() {
        return Err("`cases` is empty".into());
    }
    cases
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(EdgeCase {
                set: text(e, "set", i)?.to_owned(),
                id: match field(e, "id", i)? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                description: text(e, "description", i)?.to_owned(),
                public_key: bytes(e, "public_key", i)?,
                message: bytes(e, "message", i)?,
                signature: bytes(e, "signature", i)?,
                libsodium_accepts: field(e, "libsodium_accepts", i)?
                    .as_bool()
                    .ok_or_else(|| format!("case {i}: `libsodium_accepts` is not a boolean"))?,
            })
        })
        .collect()
}

/// `vectors/ed25519-edge.json`, or the file named by [`ED25519_VAR`].
///
/// ```
/// assert!(!stringphone_testkit::vectors::load_edge_cases().unwrap().is_empty());
/// ```
pub fn load_edge_cases() -> Result<Vec<EdgeCase>, String> {
    let (path, text) = read(ED25519_VAR, "ed25519-edge.json")?;
    parse_edge_cases(&text).map_err(|e| format!("{}: {e}", path.display()))
}
