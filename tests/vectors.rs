//! The classic wire format against the vectors the original Python implementation
//! produced (`vectors/classic.json`, or `$STRINGPHONE_VECTORS`).

mod common;

use common::{category, topic_key, unhex, unhex32, ReplayRng};
use serde_json::Value;
use stringphone::protocol::Topic;
use stringphone::wire::Introduction;
use stringphone::{
    Backend, DecodeMode, Decoded, Error, MemoryTrustStore, Message, ParticipantId, PublicKey,
    SigningSeed, TopicKey,
};

const SECTIONS: [&str; 4] = ["simple", "intro", "reply", "invalid"];

/// The file's sections; a missing or empty one is an error, not a silent pass.
fn sections(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    for s in SECTIONS {
        match v.get(s).and_then(Value::as_array) {
            Some(a) if !a.is_empty() => {}
            Some(_) => return Err(format!("section `{s}` is empty")),
            None => return Err(format!("section `{s}` is missing")),
        }
    }
    Ok(v)
}

fn load() -> Value {
    let path = common::vector_path("STRINGPHONE_VECTORS", "classic.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    sections(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<'a>(e: &'a Value, field: &str) -> &'a str {
    e[field]
        .as_str()
        .unwrap_or_else(|| panic!("field `{field}` missing in {e}"))
}

type T<B> = Topic<B, MemoryTrustStore>;

fn topic<B: Backend>(seed: &str, key: Option<&str>) -> T<B> {
    Topic::new(SigningSeed::from_bytes(unhex32(seed)), key.map(topic_key))
}

fn check_simple<B: Backend>(e: &Value) {
    let mut sender = topic::<B>(s(e, "sender_seed"), Some(s(e, "topic_key")));
    assert_eq!(sender.public_key().to_string(), s(e, "sender_public_key"));
    assert_eq!(sender.id().to_string(), s(e, "sender_id"));
    let plaintext = unhex(s(e, "plaintext"));
    let message = unhex(s(e, "message"));
    let mut rng = ReplayRng::new(&[&unhex(s(e, "nonce"))]);
    let encoded = sender.encode_with_rng(&mut rng, &plaintext).unwrap();
    assert!(
        encoded == message,
        "encode differs for {} B",
        plaintext.len()
    );
    assert!(rng.exhausted());

    // Any seed but the sender's (a receiver with the sender's own id sees an echo).
    let receiver_seed = if s(e, "sender_seed") == "42".repeat(32) {
        "43".repeat(32)
    } else {
        "42".repeat(32)
    };
    let mut receiver = topic::<B>(&receiver_seed, Some(s(e, "topic_key")));
    receiver.add_participant(sender.public_key()).unwrap();
    match receiver.decode(&message, DecodeMode::Strict).unwrap() {
        Decoded::Message {
            sender: id,
            verified,
            plaintext: p,
        } => {
            assert_eq!(id, sender.id());
            assert!(verified);
            assert!(p == plaintext);
        }
        other => panic!("expected a message, got {other:?}"),
    }
    // The allocation-free paths give the same plaintext.
    let mut out = vec![0u8; plaintext.len()];
    let got = receiver
        .decode_into(&message, DecodeMode::Strict, &mut out)
        .unwrap();
    assert!(got.plaintext().unwrap() == &plaintext[..]);
    let mut in_place = message.clone();
    let got = receiver
        .decode_in_place(&mut in_place, DecodeMode::Strict)
        .unwrap();
    assert!(got.plaintext().unwrap() == &plaintext[..]);
}

fn check_intro<B: Backend>(e: &Value) {
    let mut t = topic::<B>(s(e, "seed"), None);
    let mut rng = ReplayRng::new(&[&unhex(s(e, "ephemeral_secret"))]);
    let intro = t.construct_intro_with(&mut rng).unwrap();
    assert_eq!(hex::encode(&intro), s(e, "message"));
    assert!(rng.exhausted());
    let Message::Introduction(view) = Message::parse(&intro).unwrap() else {
        panic!("not parsed as an introduction");
    };
    assert_eq!(view.sender_key().to_string(), s(e, "public_key"));
    assert_eq!(Introduction::sender_id::<B>(&view).to_string(), s(e, "id"));
    assert_eq!(view.encryption_key().to_string(), s(e, "ephemeral_public"));
    assert_eq!(t.public_key().to_string(), s(e, "public_key"));
}

fn check_reply<B: Backend>(e: &Value) {
    let mut joiner = topic::<B>(s(e, "joiner_seed"), None);
    assert_eq!(joiner.id().to_string(), s(e, "joiner_id"));
    let intro = joiner
        .construct_intro_with(&mut ReplayRng::new(&[&unhex(s(
            e,
            "joiner_ephemeral_secret",
        ))]))
        .unwrap();
    assert_eq!(hex::encode(&intro), s(e, "intro"));

    let mut replier = topic::<B>(s(e, "replier_seed"), Some(s(e, "topic_key")));
    assert_eq!(replier.public_key().to_string(), s(e, "replier_public_key"));
    replier.add_participant(joiner.public_key()).unwrap();
    let mut rng = ReplayRng::new(&[
        &unhex(s(e, "replier_ephemeral_secret")),
        &unhex(s(e, "nonce")),
    ]);
    let reply = replier.construct_reply_with(&mut rng, &intro).unwrap();
    assert_eq!(hex::encode(reply), s(e, "message"));
    assert!(rng.exhausted());

    let replier_key = joiner.parse_reply(&unhex(s(e, "message"))).unwrap();
    assert_eq!(replier_key.to_string(), s(e, "replier_public_key"));
    assert_eq!(joiner.topic_key(), Some(&topic_key(s(e, "topic_key"))));
    assert!(!joiner.has_pending_introduction());
}

#[derive(Debug, PartialEq)]
struct State {
    topic_key: Option<TopicKey>,
    trusted: Vec<(ParticipantId, PublicKey)>,
    pending_intro: bool,
}

fn state<B: Backend>(t: &T<B>) -> State {
    State {
        topic_key: t.topic_key().cloned(),
        trusted: t.participants().unwrap().collect(),
        pending_intro: t.has_pending_introduction(),
    }
}

fn check_invalid<B: Backend>(e: &Value) {
    let r = &e["receiver"];
    let what = s(e, "description");
    let mut t = topic::<B>(s(r, "seed"), r["topic_key"].as_str());
    for key in r["trusts"].as_array().expect("trusts") {
        t.add_participant(PublicKey::from_bytes(unhex32(key.as_str().unwrap())))
            .unwrap();
    }
    if let Some(secret) = r["ephemeral_secret"].as_str() {
        t.construct_intro_with(&mut ReplayRng::new(&[&unhex(secret)]))
            .unwrap();
    }
    let before = state::<B>(&t);
    let message = unhex(s(e, "message"));
    let expected = s(e, "error");

    let results: Vec<Error> = match s(e, "op") {
        "decode" => {
            // Every decode variant refuses, and gives no plaintext.
            let mut out = vec![0u8; message.len()];
            let mut in_place = message.clone();
            vec![
                t.decode(&message, DecodeMode::Strict).unwrap_err(),
                t.decode_into(&message, DecodeMode::Strict, &mut out)
                    .unwrap_err(),
                t.decode_in_place(&mut in_place, DecodeMode::Strict)
                    .unwrap_err(),
            ]
        }
        "construct_reply" => vec![t.construct_reply(&message).unwrap_err()],
        "parse_reply" => vec![t.parse_reply(&message).unwrap_err()],
        op => panic!("unknown op {op}"),
    };
    for err in results {
        assert_eq!(category(&err), expected, "{what}: got {err:?}");
    }
    assert_eq!(state::<B>(&t), before, "{what}: state changed");
}

fn run<B: Backend>(backend: &str) {
    let v = load();
    for (section, check) in [
        ("simple", check_simple::<B> as fn(&Value)),
        ("intro", check_intro::<B>),
        ("reply", check_reply::<B>),
        ("invalid", check_invalid::<B>),
    ] {
        let entries = v[section].as_array().unwrap();
        for e in entries {
            check(e);
        }
        println!("{backend}: {section}: {} entries checked", entries.len());
    }
}

for_each_backend!(run);

#[test]
fn a_file_with_a_missing_or_empty_section_is_refused() {
    let full = r#"{"simple":[{}],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
    assert!(sections(full).is_ok());
    let empty = r#"{"simple":[],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
    assert_eq!(sections(empty).unwrap_err(), "section `simple` is empty");
    let missing = r#"{"simple":[{}],"intro":[{}],"reply":[{}]}"#;
    assert_eq!(
        sections(missing).unwrap_err(),
        "section `invalid` is missing"
    );
    assert!(sections("not json").is_err());
}
