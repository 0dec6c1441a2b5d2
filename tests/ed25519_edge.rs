//! One Ed25519 verification rule for every backend: each case of
//! `vectors/ed25519-edge.json` (or `$STRINGPHONE_ED25519_VECTORS`) goes through
//! each backend's verifier entry point, the one decode calls
//! ([`stringphone::verify_signature`]), and the verdict must be libsodium's. With both
//! backends compiled in, they must not disagree on any case.
//!
//! The same goes for public keys: whether `add_participant` takes a key must not
//! depend on the backend.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use curve25519_dalek::edwards::CompressedEdwardsY;
use serde_json::Value;
use stringphone::protocol::Topic;
use stringphone::{
    rule, verify_signature, Backend, Error, MemoryTrustStore, PublicKey, SigningSeed,
};

#[derive(Debug)]
struct Case {
    set: String,
    id: String,
    description: String,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    libsodium_accepts: bool,
}

impl Case {
    fn name(&self) -> String {
        format!("{} #{} ({})", self.set, self.id, self.description)
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

/// The file's cases. Anything missing, empty or malformed is an error: a test that
/// read nothing must not pass.
fn parse(text_: &str) -> Result<Vec<Case>, String> {
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
            Ok(Case {
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

fn load() -> Vec<Case> {
    let path = common::vector_path("STRINGPHONE_ED25519_VECTORS", "ed25519-edge.json");
    let content = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&content).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Refused,
    /// A key that is not 32 bytes or a signature that is not 64: no verifier can be
    /// handed it, so it is refused, and counted apart.
    WrongLength,
}

impl Verdict {
    fn accepted(self) -> bool {
        self == Verdict::Accepted
    }
}

/// The key and signature as the verifier takes them; `None` when a length is wrong.
fn sized(case: &Case) -> Option<([u8; 32], [u8; 64])> {
    Some((
        case.public_key.as_slice().try_into().ok()?,
        case.signature.as_slice().try_into().ok()?,
    ))
}

/// The verdict of backend `B`, through the call decode makes.
fn verdict<B: Backend>(case: &Case) -> Verdict {
    let Some((key, signature)) = sized(case) else {
        return Verdict::WrongLength;
    };
    match verify_signature::<B>(&PublicKey::from_bytes(key), &case.message, &signature) {
        Ok(()) => Verdict::Accepted,
        Err(Error::BadSignature) => Verdict::Refused,
        Err(other) => panic!(
            "{}: verify_signature gave {other:?}, not BadSignature",
            case.name()
        ),
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    libsodium_accepts: usize,
    accepted: usize,
    refused: usize,
    wrong_length: usize,
    agree: usize,
}

/// Counts per set (and a "total" row), in file order of first appearance.
fn tally(cases: &[Case], verdicts: &[Verdict]) -> Vec<(String, Tally)> {
    let mut rows: Vec<(String, Tally)> = Vec::new();
    for (case, v) in cases.iter().zip(verdicts) {
        for name in [case.set.as_str(), "total"] {
            let i = match rows.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    rows.push((name.to_owned(), Tally::default()));
                    rows.len() - 1
                }
            };
            let t = &mut rows[i].1;
            t.cases += 1;
            t.libsodium_accepts += usize::from(case.libsodium_accepts);
            match v {
                Verdict::Accepted => t.accepted += 1,
                Verdict::Refused => t.refused += 1,
                Verdict::WrongLength => {
                    t.refused += 1;
                    t.wrong_length += 1;
                }
            }
            t.agree += usize::from(v.accepted() == case.libsodium_accepts);
        }
    }
    // "total" last.
    rows.sort_by_key(|(n, _)| n == "total");
    rows
}

fn run<B: Backend>(backend: &str) {
    let cases = load();
    let verdicts: Vec<Verdict> = cases.iter().map(verdict::<B>).collect();
    for (set, t) in tally(&cases, &verdicts) {
        println!(
            "{backend}: {set}: {} cases, {} accepted, {} refused ({} for a wrong length); \
             libsodium accepts {}; {} of {} verdicts equal libsodium's",
            t.cases, t.accepted, t.refused, t.wrong_length, t.libsodium_accepts, t.agree, t.cases
        );
    }
    let wrong: Vec<String> = cases
        .iter()
        .zip(&verdicts)
        .filter(|(c, v)| v.accepted() != c.libsodium_accepts)
        .map(|(c, v)| {
            format!(
                "{}: {v:?}, libsodium accepts: {}",
                c.name(),
                c.libsodium_accepts
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{backend} differs from libsodium on {} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

for_each_backend!(run);

#[cfg(all(feature = "rustcrypto", feature = "ring"))]
#[test]
fn the_backends_never_disagree() {
    let cases = load();
    let disagreements: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let a = verdict::<stringphone::RustCrypto>(c);
            let b = verdict::<stringphone::Ring>(c);
            (a != b).then(|| format!("{}: rustcrypto {a:?}, ring {b:?}", c.name()))
        })
        .collect();
    println!(
        "rustcrypto vs ring: {} cases, {} disagreements",
        cases.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

// ----- which public keys a topic takes ------------------------------------------------

/// Whether `y` (0..64, sign bit clear) is the y of a curve point, i.e. whether
/// `(y^2 - 1) / (d y^2 + 1)` is a square mod p: bit `y` of this mask. Computed
/// independently of the Rust code, with Python's big integers:
/// `pow(u * pow(v, p - 2, p) % p, (p - 1) // 2, p) in (0, 1)`.
const SMALL_Y_ON_CURVE: u64 = 0xf7d9_1dab_7fad_c67b;

/// A key whose encoding is `y` with `sign` as the sign bit.
fn key_y(y: u8, sign: bool) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = y;
    k[31] = u8::from(sign) << 7;
    k
}

/// `p + k` (non-canonical encodings of small `y`), for `k < 19`.
fn p_plus(k: u8) -> [u8; 32] {
    let mut e = [0xff; 32];
    e[0] = 0xed + k;
    e[31] = 0x7f;
    e
}

/// What every backend must answer: the key half of the rule (canonical, not of small
/// order) and a curve point.
fn expected_key_verdict(key: &[u8; 32]) -> bool {
    rule::public_key_passes(key) && CompressedEdwardsY(*key).decompress().is_some()
}

/// Public keys to try: every 32-byte key of the file, `y` = 0..64 with both sign bits
/// (21 of those `y` are not on the curve), and the non-canonical encodings `p`..`p+18`.
fn keys_to_try(cases: &[Case]) -> BTreeSet<[u8; 32]> {
    let mut keys: BTreeSet<[u8; 32]> = cases
        .iter()
        .filter_map(|c| <[u8; 32]>::try_from(c.public_key.as_slice()).ok())
        .collect();
    for y in 0..64 {
        keys.insert(key_y(y, false));
        keys.insert(key_y(y, true));
    }
    for k in 0..19 {
        keys.insert(p_plus(k));
    }
    keys
}

/// `add_participant` on backend `B`: `Ok(true)` when taken, `Ok(false)` when refused
/// with `InvalidPublicKey` (and nothing stored), `Err` for anything else.
fn takes_key<B: Backend>(key: &[u8; 32]) -> Result<bool, String> {
    let mut t: Topic<B, MemoryTrustStore> = Topic::new(SigningSeed::from_bytes([9; 32]), None);
    match t.add_participant(PublicKey::from_bytes(*key)) {
        Ok(id) => {
            if t.trusted_key(&id).unwrap() != Some(PublicKey::from_bytes(*key)) {
                return Err("taken but not stored".into());
            }
            Ok(true)
        }
        Err(Error::InvalidPublicKey) => {
            if t.participants().unwrap().count() != 0 {
                return Err("refused but stored".into());
            }
            Ok(false)
        }
        Err(other) => Err(format!("unexpected {other:?}")),
    }
}

#[test]
fn the_key_oracle_matches_independent_arithmetic() {
    for y in 0..64u8 {
        let on_curve = SMALL_Y_ON_CURVE >> y & 1 == 1;
        for sign in [false, true] {
            let decompresses = CompressedEdwardsY(key_y(y, sign)).decompress().is_some();
            assert_eq!(decompresses, on_curve, "y = {y}, sign {sign}");
        }
    }
    assert_eq!(SMALL_Y_ON_CURVE.count_zeros(), 21);
}

fn keys<B: Backend>(backend: &str) {
    let cases = load();
    let keys = keys_to_try(&cases);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for key in &keys {
        let expected = expected_key_verdict(key);
        let kind = if !rule::point_is_canonical(key) {
            "non-canonical"
        } else if rule::has_small_order(key) {
            "small order"
        } else if !expected {
            "not a curve point"
        } else {
            "usable"
        };
        *counts.entry(kind).or_default() += 1;
        match takes_key::<B>(key) {
            Ok(taken) if taken == expected => {}
            other => wrong.push(format!(
                "{}: {other:?}, expected {expected}",
                hex::encode(key)
            )),
        }
    }
    // A key under which libsodium accepted a signature must be taken.
    for c in cases.iter().filter(|c| c.libsodium_accepts) {
        let key = <[u8; 32]>::try_from(c.public_key.as_slice()).unwrap();
        assert_eq!(takes_key::<B>(&key), Ok(true), "{}", c.name());
    }
    println!(
        "{backend}: add_participant on {} keys: {counts:?}",
        keys.len()
    );
    assert!(counts.get("not a curve point").copied().unwrap_or(0) >= 42);
    assert!(wrong.is_empty(), "{backend}:\n{}", wrong.join("\n"));
}

mod key_acceptance {
    use super::*;
    for_each_backend!(keys);
}

#[cfg(all(feature = "rustcrypto", feature = "ring"))]
#[test]
fn the_backends_take_the_same_keys() {
    let keys = keys_to_try(&load());
    let mut disagreements = Vec::new();
    for key in &keys {
        let a = takes_key::<stringphone::RustCrypto>(key);
        let b = takes_key::<stringphone::Ring>(key);
        if a != b {
            disagreements.push(format!(
                "{}: rustcrypto {a:?}, ring {b:?}",
                hex::encode(key)
            ));
        }
    }
    println!(
        "rustcrypto vs ring: add_participant on {} keys, {} disagreements",
        keys.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

// ----- the loader itself --------------------------------------------------------------

#[test]
fn missing_empty_or_malformed_content_is_refused() {
    let good = r#"{"cases":[{"set":"s","id":"0","description":"d","public_key":"00",
        "message":"","signature":"00","libsodium_accepts":false}]}"#;
    assert_eq!(parse(good).unwrap().len(), 1);
    assert!(parse("").unwrap_err().starts_with("not JSON"));
    assert_eq!(parse("{}").unwrap_err(), "no `cases` array");
    assert_eq!(
        parse(r#"{"cases":{}}"#).unwrap_err(),
        "`cases` is not an array"
    );
    assert_eq!(parse(r#"{"cases":[]}"#).unwrap_err(), "`cases` is empty");
    let no_verdict = good.replace(r#","libsodium_accepts":false"#, "");
    assert_eq!(
        parse(&no_verdict).unwrap_err(),
        "case 0: field `libsodium_accepts` is missing"
    );
    let bad_hex = good.replace(r#""public_key":"00""#, r#""public_key":"0g""#);
    assert!(parse(&bad_hex)
        .unwrap_err()
        .starts_with("case 0: field `public_key`"));
}

#[test]
fn wrong_lengths_are_refused_and_counted() {
    let case = |pk: usize, sig: usize| Case {
        set: "t".into(),
        id: "0".into(),
        description: String::new(),
        public_key: vec![0; pk],
        message: vec![],
        signature: vec![0; sig],
        libsodium_accepts: false,
    };
    let cases = [case(32, 63), case(31, 64), case(32, 65), case(32, 0)];
    assert!(cases.iter().all(|c| sized(c).is_none()));
    assert!(sized(&case(32, 64)).is_some());
    let verdicts = [Verdict::WrongLength; 4];
    let rows = tally(&cases, &verdicts);
    let total = &rows.last().unwrap().1;
    assert_eq!(
        (total.cases, total.refused, total.wrong_length, total.agree),
        (4, 4, 4, 4)
    );
}
