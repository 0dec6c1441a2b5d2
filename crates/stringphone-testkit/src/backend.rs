//! What every [`Backend`] must do: the contract its docs promise, as checks.
//!
//! Each check is a plain function, generic over the backend, that returns
//! `Err(what went wrong)`; [`backend_conformance!`](crate::backend_conformance) makes a
//! `#[test]` of each. The expected answers come from outside our code: the vector
//! files (made by the original, and libsodium's verdicts), the RFCs' own test vectors,
//! libsodium's answers where no RFC has one, and independent arithmetic
//! (curve25519-dalek, sha2) for what the docs define as a formula.

use std::collections::{BTreeMap, BTreeSet};

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519::Signature;
use serde_json::Value;
use sha2::{Digest, Sha256};
use signature::{Signer, Verifier};
use stringphone_core::backend::BatchEntry;
use stringphone_core::reexports::aead::{AeadInPlace, KeyInit};
use stringphone_core::wire::Introduction;
use stringphone_core::{
    rule, verify_signature, Backend, BoxPublicKey, BoxSecret, DecodeMode, Error, Identity,
    MemoryTrustStore, Message, ParticipantId, PublicKey, SigningSeed, Topic, TopicKey,
};

use crate::vectors::{self, unhex, unhex32, EdgeCase};
use crate::{ensure, Check, TestRng};

type T<B> = Topic<B, MemoryTrustStore>;

fn hex32(s: &str) -> [u8; 32] {
    unhex32(s).expect("a constant of this file")
}

// ----- Ed25519: the verification rule -------------------------------------------------

/// A backend's answer on one edge case.
///
/// ```
/// use stringphone_testkit::backend::Verdict;
/// assert!(Verdict::Accepted.accepted());
/// assert!(!Verdict::WrongLength.accepted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The signature verifies.
    Accepted,
    /// `verify_signature` refused it with `BadSignature`.
    Refused,
    /// A key that is not 32 bytes or a signature that is not 64: no verifier can be
    /// handed it, so it is refused, and counted apart.
    WrongLength,
}

impl Verdict {
    /// Whether it is an acceptance.
    ///
    /// ```
    /// assert!(!stringphone_testkit::backend::Verdict::Refused.accepted());
    /// ```
    #[must_use]
    pub fn accepted(self) -> bool {
        self == Verdict::Accepted
    }
}

/// The verdict of backend `B` on `case`, through the call decode makes
/// ([`verify_signature`]); an error other than `BadSignature` is a failure.
///
/// ```
/// use stringphone_testkit::backend::verdict;
/// let case = &stringphone_testkit::vectors::load_edge_cases().unwrap()[0];
/// let v = verdict::<stringphone_rustcrypto::RustCrypto>(case).unwrap();
/// assert_eq!(v.accepted(), case.libsodium_accepts);
/// ```
pub fn verdict<B: Backend>(case: &EdgeCase) -> Result<Verdict, String> {
    let Some((key, signature)) = case.sized() else {
        return Ok(Verdict::WrongLength);
    };
    match verify_signature::<B>(&PublicKey::from_bytes(key), &case.message, &signature) {
        Ok(()) => Ok(Verdict::Accepted),
        Err(Error::BadSignature) => Ok(Verdict::Refused),
        Err(other) => Err(format!(
            "{}: verify_signature gave {other:?}, not BadSignature",
            case.name()
        )),
    }
}

/// Counts of one row of [`tally`].
///
/// ```
/// let t = stringphone_testkit::backend::Tally::default();
/// assert_eq!(t.cases, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases in the row.
    pub cases: usize,
    /// How many libsodium accepts.
    pub libsodium_accepts: usize,
    /// How many the backend accepted.
    pub accepted: usize,
    /// How many it refused (wrong lengths included).
    pub refused: usize,
    /// How many were refused for a wrong length.
    pub wrong_length: usize,
    /// How many verdicts equal libsodium's.
    pub agree: usize,
}

/// Counts per set (and a "total" row, last), in file order of first appearance.
///
/// ```
/// use stringphone_testkit::backend::{tally, Verdict};
/// let cases = stringphone_testkit::vectors::load_edge_cases().unwrap();
/// let verdicts = vec![Verdict::Refused; cases.len()];
/// let rows = tally(&cases, &verdicts);
/// assert_eq!(rows.last().unwrap().0, "total");
/// assert_eq!(rows.last().unwrap().1.cases, cases.len());
/// ```
#[must_use]
pub fn tally(cases: &[EdgeCase], verdicts: &[Verdict]) -> Vec<(String, Tally)> {
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
    rows.sort_by_key(|(n, _)| n == "total");
    rows
}

/// Every case of the Ed25519 edge-case file gets libsodium's verdict.
///
/// ```
/// use stringphone_testkit::backend::edge_cases_get_libsodiums_verdict;
/// edge_cases_get_libsodiums_verdict::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn edge_cases_get_libsodiums_verdict<B: Backend>() -> Check {
    let cases = vectors::load_edge_cases()?;
    let verdicts = cases
        .iter()
        .map(verdict::<B>)
        .collect::<Result<Vec<_>, _>>()?;
    for (set, t) in tally(&cases, &verdicts) {
        println!(
            "{set}: {} cases, {} accepted, {} refused ({} for a wrong length); \
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
    ensure!(
        wrong.is_empty(),
        "differs from libsodium on {} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    Ok(())
}

// ----- Ed25519: which public keys a topic takes ---------------------------------------

/// A key whose encoding is `y` with `sign` as the sign bit.
///
/// ```
/// let k = stringphone_testkit::backend::key_y(1, true);
/// assert_eq!((k[0], k[31]), (1, 0x80));
/// ```
#[must_use]
pub fn key_y(y: u8, sign: bool) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = y;
    k[31] = u8::from(sign) << 7;
    k
}

/// `p + k` (non-canonical encodings of small `y`), for `k < 19`.
///
/// ```
/// let e = stringphone_testkit::backend::p_plus(0);
/// assert_eq!((e[0], e[31]), (0xed, 0x7f));
/// ```
#[must_use]
pub fn p_plus(k: u8) -> [u8; 32] {
    let mut e = [0xff; 32];
    e[0] = 0xed + k;
    e[31] = 0x7f;
    e
}

/// What every backend must answer for a public key: the key half of the rule
/// (canonical, not of small order) and a curve point (by curve25519-dalek).
///
/// ```
/// use stringphone_testkit::backend::{expected_key_verdict, key_y};
/// assert!(!expected_key_verdict(&key_y(1, false))); // the identity: small order
/// ```
#[must_use]
pub fn expected_key_verdict(key: &[u8; 32]) -> bool {
    rule::public_key_passes(key) && CompressedEdwardsY(*key).decompress().is_some()
}

/// Public keys to try: every 32-byte key of the edge cases, `y` = 0..64 with both
/// sign bits (21 of those `y` are not on the curve), and the non-canonical encodings
/// `p`..`p+18`.
///
/// ```
/// let keys = stringphone_testkit::backend::keys_to_try(&[]);
/// assert_eq!(keys.len(), 64 * 2 + 19);
/// ```
#[must_use]
pub fn keys_to_try(cases: &[EdgeCase]) -> BTreeSet<[u8; 32]> {
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
///
/// ```
/// use stringphone_testkit::backend::{key_y, takes_key};
/// use stringphone_rustcrypto::RustCrypto;
/// assert_eq!(takes_key::<RustCrypto>(&key_y(1, false)), Ok(false));
/// ```
pub fn takes_key<B: Backend>(key: &[u8; 32]) -> Result<bool, String> {
    let mut t: T<B> = Topic::new(SigningSeed::from_bytes([9; 32]), None);
    match t.add_participant(PublicKey::from_bytes(*key)) {
        Ok(id) => {
            if t.trusted_key(&id).map_err(|e| format!("{e:?}"))?
                != Some(PublicKey::from_bytes(*key))
            {
                return Err("taken but not stored".into());
            }
            Ok(true)
        }
        Err(Error::InvalidPublicKey) => {
            if t.participants().map_err(|e| format!("{e:?}"))?.count() != 0 {
                return Err("refused but stored".into());
            }
            Ok(false)
        }
        Err(other) => Err(format!("unexpected {other:?}")),
    }
}

/// A key is taken exactly when it is canonical, not of small order and a curve point
/// (`verifying_key` fails on the rest), and every key under which libsodium accepted
/// a signature is taken.
///
/// ```
/// use stringphone_testkit::backend::public_keys_are_taken_by_the_rule;
/// public_keys_are_taken_by_the_rule::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn public_keys_are_taken_by_the_rule<B: Backend>() -> Check {
    let cases = vectors::load_edge_cases()?;
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
        // The backend's own entry point: it refuses every key off the curve and takes
        // every usable one (on the rest, small order or non-canonical, either answer
        // is allowed: the core refuses those keys before asking).
        let decompresses = B::verifying_key(&PublicKey::from_bytes(*key)).is_ok();
        let on_curve = CompressedEdwardsY(*key).decompress().is_some();
        if (decompresses && !on_curve) || (!decompresses && expected) {
            wrong.push(format!(
                "{}: verifying_key {}",
                hex::encode(key),
                if decompresses {
                    "took it"
                } else {
                    "refused it"
                }
            ));
        }
    }
    for c in cases.iter().filter(|c| c.libsodium_accepts) {
        let key = <[u8; 32]>::try_from(c.public_key.as_slice())
            .map_err(|_| format!("{}: libsodium accepts a key that is not 32 bytes", c.name()))?;
        ensure!(
            takes_key::<B>(&key) == Ok(true),
            "{}: the key libsodium accepted is not taken",
            c.name()
        );
    }
    println!("add_participant on {} keys: {counts:?}", keys.len());
    ensure!(
        counts.get("not a curve point").copied().unwrap_or(0) >= 42,
        "fewer keys off the curve than y = 0..64 gives: {counts:?}"
    );
    ensure!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

// ----- Ed25519: keys and signatures -----------------------------------------------------

/// RFC 8032 section 7.1, TEST 1, 2 and 3: (secret key, public key, message,
/// signature).
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

/// `signing_key` is RFC 8032's: its public key and its (deterministic) signatures are
/// the RFC's; signing twice gives the same bytes; the signature verifies through
/// `verifying_key` and `verify_signature`, and one flipped bit anywhere is refused.
///
/// ```
/// use stringphone_testkit::backend::signatures_are_rfc8032s;
/// signatures_are_rfc8032s::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn signatures_are_rfc8032s<B: Backend>() -> Check {
    for (i, (secret, public, message, signature)) in RFC8032.iter().enumerate() {
        let key = B::signing_key(&SigningSeed::from_bytes(hex32(secret)));
        let message = unhex(message)?;
        ensure!(
            hex::encode(key.public_key().as_bytes()) == *public,
            "RFC 8032 test {}: public key {}",
            i + 1,
            key.public_key()
        );
        let a: Signature = key.try_sign(&message).map_err(|e| format!("{e}"))?;
        let b: Signature = key.try_sign(&message).map_err(|e| format!("{e}"))?;
        ensure!(
            hex::encode(a.to_bytes()) == *signature,
            "RFC 8032 test {}: signature {}",
            i + 1,
            hex::encode(a.to_bytes())
        );
        ensure!(a == b, "signing twice gave two signatures");
        let verifier = B::verifying_key(&key.public_key()).map_err(|e| format!("{e:?}"))?;
        ensure!(
            verifier.verify(&message, &a).is_ok(),
            "the Verifier refuses RFC 8032 test {}",
            i + 1
        );
        let mut tampered_message = message.clone();
        tampered_message.push(0);
        ensure!(
            verifier.verify(&tampered_message, &a).is_err(),
            "the Verifier takes a signature over other bytes"
        );
        let sig = a.to_bytes();
        for bit in (0..512).step_by(7) {
            let mut s = sig;
            s[bit / 8] ^= 1 << (bit % 8);
            ensure!(
                verify_signature::<B>(&key.public_key(), &message, &s).is_err(),
                "RFC 8032 test {}: bit {bit} of the signature flipped, still accepted",
                i + 1
            );
        }
        ensure!(
            verify_signature::<B>(&key.public_key(), &message, &sig).is_ok(),
            "verify_signature refuses RFC 8032 test {}",
            i + 1
        );
    }
    Ok(())
}

/// `participant_id` is the first 16 bytes of SHA-256 of the key (computed here with
/// sha2), for the vector keys and for any bytes at all.
///
/// ```
/// use stringphone_testkit::backend::participant_ids_are_sha256_prefixes;
/// participant_ids_are_sha256_prefixes::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn participant_ids_are_sha256_prefixes<B: Backend>() -> Check {
    let mut rng = TestRng::seeded(16);
    for n in 0..64u8 {
        let mut bytes = [n; 32];
        if n >= 32 {
            rand_core::RngCore::fill_bytes(&mut rng, &mut bytes);
        }
        let key = PublicKey::from_bytes(bytes);
        let expected = &Sha256::digest(bytes)[..16];
        ensure!(
            B::participant_id(&key).as_bytes()[..] == *expected,
            "participant_id({key}) is not SHA-256's first 16 bytes"
        );
    }
    Ok(())
}

// ----- the classic wire format: the original's vectors --------------------------------

fn s<'a>(e: &'a Value, field: &str) -> Result<&'a str, String> {
    e[field]
        .as_str()
        .ok_or_else(|| format!("field `{field}` missing in {e}"))
}

fn classic_topic<B: Backend>(seed: &str, key: Option<&str>) -> Result<T<B>, String> {
    let key = key.map(unhex32).transpose()?.map(TopicKey::from_bytes);
    Ok(Topic::new(SigningSeed::from_bytes(unhex32(seed)?), key))
}

fn ok<V, E: std::fmt::Debug>(r: Result<V, E>, what: &str) -> Result<V, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn check_simple<B: Backend>(e: &Value) -> Check {
    let mut sender = classic_topic::<B>(s(e, "sender_seed")?, Some(s(e, "topic_key")?))?;
    ensure!(sender.public_key().to_string() == s(e, "sender_public_key")?);
    ensure!(sender.id().to_string() == s(e, "sender_id")?);
    let plaintext = unhex(s(e, "plaintext")?)?;
    let message = unhex(s(e, "message")?)?;
    let mut rng = TestRng::replay(&[&unhex(s(e, "nonce")?)?]);
    let encoded = ok(sender.encode_with_rng(&mut rng, &plaintext), "encode")?;
    ensure!(
        encoded == message,
        "encode differs for {} B",
        plaintext.len()
    );
    ensure!(rng.exhausted(), "encode drew less than the original");

    // Any seed but the sender's (a receiver with the sender's own id sees an echo).
    let receiver_seed = if s(e, "sender_seed")? == "42".repeat(32) {
        "43".repeat(32)
    } else {
        "42".repeat(32)
    };
    let mut receiver = classic_topic::<B>(&receiver_seed, Some(s(e, "topic_key")?))?;
    ok(receiver.add_participant(sender.public_key()), "trust")?;
    let decoded = ok(receiver.decode(&message, DecodeMode::Strict), "decode")?;
    crate::verified_message(&decoded, sender.id(), &plaintext)?;
    // The allocation-free paths give the same plaintext.
    let mut out = vec![0u8; plaintext.len()];
    let got = ok(
        receiver.decode_into(&message, DecodeMode::Strict, &mut out),
        "decode_into",
    )?;
    ensure!(
        got.plaintext().map(|p| &p[..]) == Some(&plaintext[..]),
        "decode_into"
    );
    let mut in_place = message.clone();
    let got = ok(
        receiver.decode_in_place(&mut in_place, DecodeMode::Strict),
        "decode_in_place",
    )?;
    ensure!(
        got.plaintext().map(|p| &p[..]) == Some(&plaintext[..]),
        "decode_in_place"
    );
    Ok(())
}

fn check_intro<B: Backend>(e: &Value) -> Check {
    let mut t = classic_topic::<B>(s(e, "seed")?, None)?;
    let mut rng = TestRng::replay(&[&unhex(s(e, "ephemeral_secret")?)?]);
    let intro = ok(t.construct_intro_with(&mut rng), "construct_intro")?;
    ensure!(
        hex::encode(&intro) == s(e, "message")?,
        "introduction bytes"
    );
    ensure!(
        rng.exhausted(),
        "construct_intro drew less than the original"
    );
    let Ok(Message::Introduction(view)) = Message::parse(&intro) else {
        return Err("not parsed as an introduction".into());
    };
    ensure!(view.sender_key().to_string() == s(e, "public_key")?);
    ensure!(Introduction::sender_id::<B>(&view).to_string() == s(e, "id")?);
    ensure!(view.encryption_key().to_string() == s(e, "ephemeral_public")?);
    ensure!(t.public_key().to_string() == s(e, "public_key")?);
    Ok(())
}

fn check_reply<B: Backend>(e: &Value) -> Check {
    let mut joiner = classic_topic::<B>(s(e, "joiner_seed")?, None)?;
    ensure!(joiner.id().to_string() == s(e, "joiner_id")?);
    let joiner_secret = unhex(s(e, "joiner_ephemeral_secret")?)?;
    let intro = ok(
        joiner.construct_intro_with(&mut TestRng::replay(&[&joiner_secret])),
        "construct_intro",
    )?;
    ensure!(hex::encode(&intro) == s(e, "intro")?, "introduction bytes");

    let mut replier = classic_topic::<B>(s(e, "replier_seed")?, Some(s(e, "topic_key")?))?;
    ensure!(replier.public_key().to_string() == s(e, "replier_public_key")?);
    ok(replier.add_participant(joiner.public_key()), "trust")?;
    let mut rng = TestRng::replay(&[
        &unhex(s(e, "replier_ephemeral_secret")?)?,
        &unhex(s(e, "nonce")?)?,
    ]);
    let reply = ok(
        replier.construct_reply_with(&mut rng, &intro),
        "construct_reply",
    )?;
    ensure!(hex::encode(reply) == s(e, "message")?, "reply bytes");
    ensure!(
        rng.exhausted(),
        "construct_reply drew less than the original"
    );

    let replier_key = ok(joiner.parse_reply(&unhex(s(e, "message")?)?), "parse_reply")?;
    ensure!(replier_key.to_string() == s(e, "replier_public_key")?);
    ensure!(joiner.topic_key() == Some(&TopicKey::from_bytes(unhex32(s(e, "topic_key")?)?)));
    ensure!(!joiner.has_pending_introduction());
    Ok(())
}

/// The vectors' error category of an error (`vectors/README.md`).
///
/// ```
/// use stringphone_core::Error;
/// assert_eq!(stringphone_testkit::backend::category(&Error::BadSignature), "BadSignature");
/// ```
#[must_use]
pub fn category(e: &Error) -> &'static str {
    match e {
        Error::Malformed { .. } => "Malformed",
        Error::UnknownType(_) => "UnknownType",
        Error::BadSignature => "BadSignature",
        Error::UntrustedSender(_) => "UntrustedSender",
        Error::DecryptFailed => "DecryptFailed",
        Error::Introduction => "Introduction",
        Error::IntroductionReply => "IntroductionReply",
        Error::NotForUs { .. } => "NotForUs",
        Error::MissingTopicKey => "MissingTopicKey",
        _ => "other",
    }
}

#[derive(Debug, PartialEq)]
struct State {
    topic_key: Option<TopicKey>,
    trusted: Vec<(ParticipantId, PublicKey)>,
    pending_intro: bool,
}

fn state<B: Backend>(t: &T<B>) -> Result<State, String> {
    Ok(State {
        topic_key: t.topic_key().cloned(),
        trusted: ok(t.participants(), "participants")?.collect(),
        pending_intro: t.has_pending_introduction(),
    })
}

fn check_invalid<B: Backend>(e: &Value) -> Check {
    let r = &e["receiver"];
    let what = s(e, "description")?;
    let mut t = classic_topic::<B>(s(r, "seed")?, r["topic_key"].as_str())?;
    for key in r["trusts"].as_array().ok_or("no `trusts`")? {
        let key = unhex32(key.as_str().ok_or("a trusted key is not a string")?)?;
        ok(t.add_participant(PublicKey::from_bytes(key)), "trust")?;
    }
    if let Some(secret) = r["ephemeral_secret"].as_str() {
        ok(
            t.construct_intro_with(&mut TestRng::replay(&[&unhex(secret)?])),
            "construct_intro",
        )?;
    }
    let before = state::<B>(&t)?;
    let message = unhex(s(e, "message")?)?;
    let expected = s(e, "error")?;

    let results = match s(e, "op")? {
        "decode" => {
            // Every decode variant refuses, and gives no plaintext.
            let mut out = vec![0u8; message.len()];
            let mut in_place = message.clone();
            vec![
                t.decode(&message, DecodeMode::Strict).err(),
                t.decode_into(&message, DecodeMode::Strict, &mut out).err(),
                t.decode_in_place(&mut in_place, DecodeMode::Strict).err(),
            ]
        }
        "construct_reply" => vec![t.construct_reply(&message).err()],
        "parse_reply" => vec![t.parse_reply(&message).err()],
        op => return Err(format!("unknown op {op}")),
    };
    for err in results {
        let got = err.as_ref().map_or("accepted", category);
        ensure!(got == expected, "{what}: got {err:?}, expected {expected}");
    }
    ensure!(state::<B>(&t)? == before, "{what}: state changed");
    Ok(())
}

/// The original's wire vectors (`vectors/classic.json`): the topic cipher
/// (XSalsa20-Poly1305), the discovery box (crypto_box), the keys and ids of the seeds
/// and the signatures all give the original's bytes, and every invalid message is
/// refused with its category, changing nothing.
///
/// ```
/// use stringphone_testkit::backend::classic_vectors;
/// classic_vectors::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn classic_vectors<B: Backend>() -> Check {
    let v = vectors::load_classic()?;
    type Entry<'a> = fn(&'a Value) -> Check;
    let sections: [(&str, Entry<'_>); 4] = [
        ("simple", check_simple::<B>),
        ("intro", check_intro::<B>),
        ("reply", check_reply::<B>),
        ("invalid", check_invalid::<B>),
    ];
    for (section, check) in sections {
        let entries = v[section].as_array().ok_or("a section is not an array")?;
        for (i, e) in entries.iter().enumerate() {
            check(e).map_err(|err| format!("{section} #{i}: {err}"))?;
        }
        println!("{section}: {} entries checked", entries.len());
    }
    Ok(())
}

// ----- X25519, the boxes, the v2 primitives -------------------------------------------

/// `box_public_key` is X25519 (RFC 7748 section 6.1's keys), and the two sides'
/// `box_cipher` share a key: what one seals, the other opens; a third key cannot.
///
/// ```
/// use stringphone_testkit::backend::boxes_are_x25519s;
/// boxes_are_x25519s::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn boxes_are_x25519s<B: Backend>() -> Check {
    let alice = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    let alice_public = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let bob = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    let bob_public = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    let (a, b) = (
        BoxSecret::from_bytes(hex32(alice)),
        BoxSecret::from_bytes(hex32(bob)),
    );
    let (pa, pb) = (B::box_public_key(&a), B::box_public_key(&b));
    ensure!(pa.to_string() == alice_public, "X25519(alice) = {pa}");
    ensure!(pb.to_string() == bob_public, "X25519(bob) = {pb}");

    let nonce = [7u8; 24];
    let mut buffer = *b"sealed by alice for bob";
    let tag = B::box_cipher(&pb, &a)
        .encrypt_in_place_detached((&nonce).into(), b"", &mut buffer)
        .map_err(|_| "crypto_box seal failed")?;
    let mut opened = buffer;
    B::box_cipher(&pa, &b)
        .decrypt_in_place_detached((&nonce).into(), b"", &mut opened, &tag)
        .map_err(|_| "bob cannot open what alice sealed to him")?;
    ensure!(&opened == b"sealed by alice for bob");
    let eve = BoxSecret::from_bytes([0x45; 32]);
    let mut stolen = buffer;
    ensure!(
        B::box_cipher(&pa, &eve)
            .decrypt_in_place_detached((&nonce).into(), b"", &mut stolen, &tag)
            .is_err(),
        "a third key opens the box"
    );
    Ok(())
}

/// v2's message cipher is ChaCha20-Poly1305 (RFC 8439 section 2.8.2's vector, header
/// as associated data), and a changed byte of the associated data is refused.
///
/// ```
/// use stringphone_testkit::backend::message_cipher_is_rfc8439s;
/// message_cipher_is_rfc8439s::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn message_cipher_is_rfc8439s<B: Backend>() -> Check {
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let aad = unhex("50515253c0c1c2c3c4c5c6c7")?;
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let nonce = unhex("070000004041424344454647")?;
    let expected = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
    let expected_tag = "1ae10b594f09e26a7e902ecbd0600691";
    let cipher = B::MessageCipher::new(key.as_slice().into());
    let mut buffer = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(nonce.as_slice().into(), &aad, &mut buffer)
        .map_err(|_| "seal failed")?;
    ensure!(hex::encode(&buffer) == expected, "ciphertext differs");
    ensure!(hex::encode(tag) == expected_tag, "tag differs");
    let mut other_aad = aad.clone();
    other_aad[0] ^= 1;
    let mut copy = buffer.clone();
    ensure!(
        cipher
            .decrypt_in_place_detached(nonce.as_slice().into(), &other_aad, &mut copy, &tag)
            .is_err(),
        "opened under other associated data"
    );
    cipher
        .decrypt_in_place_detached(nonce.as_slice().into(), &aad, &mut buffer, &tag)
        .map_err(|_| "cannot open its own seal")?;
    ensure!(buffer == plaintext);
    Ok(())
}

/// `hkdf_sha256` is RFC 5869's HKDF-SHA256 (test case 1, the first 32 bytes), with
/// `info` taken as the concatenation of its parts.
///
/// ```
/// use stringphone_testkit::backend::hkdf_is_rfc5869s;
/// hkdf_is_rfc5869s::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn hkdf_is_rfc5869s<B: Backend>() -> Check {
    let ikm = [0x0b; 22];
    let salt: Vec<u8> = (0..=0x0c).collect();
    let info: Vec<u8> = (0xf0..=0xf9).collect();
    let expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf";
    let whole = B::hkdf_sha256(&salt, &ikm, &[&info]);
    ensure!(
        hex::encode(*whole) == expected,
        "okm {}",
        hex::encode(*whole)
    );
    let parts = B::hkdf_sha256(&salt, &ikm, &[&info[..3], &[], &info[3..]]);
    ensure!(*parts == *whole, "info in parts gives another key");
    Ok(())
}

/// v2's static keys: `static_box_public` of RFC 8032 TEST 1's key is what libsodium's
/// `crypto_sign_ed25519_pk_to_curve25519` gives; for any seed it is the X25519 public
/// key of the identity's `static_box_secret` (when the identity reveals one); and it
/// refuses bytes that are not a curve point.
///
/// ```
/// use stringphone_testkit::backend::static_box_keys_agree;
/// static_box_keys_agree::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn static_box_keys_agree<B: Backend>() -> Check {
    // libsodium's crypto_sign_ed25519_pk_to_curve25519 of RFC 8032 TEST 1's key.
    let libsodium = "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e";
    let test1 = PublicKey::from_bytes(hex32(RFC8032[0].1));
    let got = ok(B::static_box_public(&test1), "static_box_public")?;
    ensure!(got.to_string() == libsodium, "static_box_public = {got}");
    for n in 0..8u8 {
        let key = B::signing_key(&SigningSeed::from_bytes([n.wrapping_mul(37); 32]));
        let public: BoxPublicKey = ok(B::static_box_public(&key.public_key()), "static")?;
        if let Some(secret) = key.static_box_secret() {
            ensure!(
                B::box_public_key(&secret) == public,
                "seed {n}: the static secret's X25519 key is not static_box_public's"
            );
        }
    }
    let off_curve = key_y(2, false); // y = 2 is not on the curve
    ensure!(CompressedEdwardsY(off_curve).decompress().is_none());
    ensure!(
        matches!(
            B::static_box_public(&PublicKey::from_bytes(off_curve)),
            Err(Error::InvalidPublicKey)
        ),
        "static_box_public takes bytes off the curve"
    );
    Ok(())
}

/// `key` plus each small-order point: no such key is `batch_eligible`.
fn no_mixed_order_key_is_batch_eligible<B: Backend>(key: &PublicKey) -> Check {
    let point = CompressedEdwardsY(key.to_bytes())
        .decompress()
        .ok_or("the honest key is not a point")?;
    for (i, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let mixed = PublicKey::from_bytes((point + torsion).compress().to_bytes());
        if let Ok(key) = B::verifying_key(&mixed) {
            ensure!(
                !B::batch_eligible(&key),
                "a key with a small-order component (torsion {i}) is batch eligible"
            );
        }
    }
    Ok(())
}

/// Batch verification, where a backend has it: a key with a small-order component is
/// never `batch_eligible`, and no batch holding a signature libsodium refuses (of those
/// the core would hand over) is accepted. A backend without batching passes (it
/// answers `false`).
///
/// ```
/// use stringphone_testkit::backend::batches_never_accept_a_refused_signature;
/// batches_never_accept_a_refused_signature::<stringphone_rustcrypto::RustCrypto>().unwrap();
/// ```
pub fn batches_never_accept_a_refused_signature<B: Backend>() -> Check {
    let signer = B::signing_key(&SigningSeed::from_bytes([0x5b; 32]));
    let honest_key = ok(B::verifying_key(&signer.public_key()), "verifying_key")?;
    let honest_message = b"an honest message";
    let honest: Signature = signer
        .try_sign(honest_message)
        .map_err(|e| format!("{e}"))?;
    let honest = honest.to_bytes();

    no_mixed_order_key_is_batch_eligible::<B>(&signer.public_key())?;

    let mut tried = 0;
    for case in vectors::load_edge_cases()? {
        let Some((key, signature)) = case.sized() else {
            continue;
        };
        if case.libsodium_accepts
            || !rule::public_key_passes(&key)
            || !rule::signature_passes(&signature)
        {
            continue;
        }
        let r: [u8; 32] = signature[..32].try_into().map_err(|_| "R")?;
        if !rule::point_is_canonical(&r) {
            continue;
        }
        let Ok(verifier) = B::verifying_key(&PublicKey::from_bytes(key)) else {
            continue;
        };
        if !B::batch_eligible(&verifier) {
            continue;
        }
        tried += 1;
        let entries = [
            BatchEntry {
                key: &honest_key,
                message: honest_message,
                signature: &honest,
            },
            BatchEntry {
                key: &verifier,
                message: &case.message,
                signature: &signature,
            },
        ];
        ensure!(
            !B::verify_batch(&entries),
            "{}: a batch holding it was accepted",
            case.name()
        );
    }
    println!("{tried} refused edge cases batched with an honest signature");
    Ok(())
}
