//! The checks behind the `v2` target: every entry point of protocol v2 on bytes.
//!
//! A topic that speaks v2 (see `stringphone_core::v2`) takes four kinds of message
//! from the network: messages (`decode`), introductions (`construct_reply`),
//! replies (`parse_reply`) and rekeys (`accept_rekey`). The input is either used as
//! it is, or, when it starts with `0xff`, picks one of four valid v2 messages made
//! here (a message, an introduction, the reply to it, a rekey) and XORs bytes into
//! it at chosen positions, so the fuzzer reaches every check past the signature.
//!
//! Every call runs on a fresh topic (v2 receivers keep replay windows, which would
//! make outcomes depend on earlier inputs). What must hold: no panic; a refusal
//! changes nothing (key, epoch, pending introduction, trust store) and leaves an
//! in-place buffer as it was; a strict decode gives only verified messages from
//! trusted senders and a naive one only unverified ones; a message accepted once
//! is refused as replayed the second time; the unedited messages are accepted.
//!
//! Like `raw.rs`, this file depends on the core and the RustCrypto backend only, so
//! `tests/fuzz_regressions.rs` includes it and replays saved inputs on stable.

use std::cell::RefCell;

use stringphone_core::v2::ProtocolVersion;
use stringphone_core::{Backend, DecodeMode, Message, PublicKey};

use crate::raw::{err_str, outcome, snapshot, topic, FixedRng, Outcome, Snapshot, B, MODES, T};

/// The topic key of the v2 cast.
const KEY: [u8; 32] = [0x5e; 32];
/// Seeds: the receiver (also replier and admin), a sender, a joiner.
const RECEIVER: [u8; 32] = [0x11; 32];
const SENDER: [u8; 32] = [0x12; 32];
const JOINER: [u8; 32] = [0x13; 32];
/// The randomness the joiner draws for its introduction (session, then secret).
const JOINER_RNG: [u8; 64] = [0x21; 64];
/// The randomness of every other call that draws.
const RNG: [u8; 256] = [0x37; 256];
/// The plaintext of the template message.
const PLAINTEXT: &[u8] = b"a v2 message";

thread_local! {
    /// Public keys by seed, derived once.
    static PUBLIC: RefCell<Vec<([u8; 32], PublicKey)>> = const { RefCell::new(Vec::new()) };
}

fn public(seed: [u8; 32]) -> PublicKey {
    PUBLIC.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, key)) = cache.iter().find(|(s, _)| *s == seed) {
            return *key;
        }
        let key = stringphone_core::Identity::public_key(&B::signing_key(
            &stringphone_core::SigningSeed::from_bytes(seed),
        ));
        cache.push((seed, key));
        key
    })
}

fn hex(key: &PublicKey) -> String {
    key.to_string()
}

fn v2_topic(seed: [u8; 32], key: Option<[u8; 32]>, trusted: &[PublicKey]) -> T {
    let names: Vec<String> = trusted.iter().map(hex).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = topic(seed, key, &names);
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(stringphone_core::v2::TopicId::from_name(b"fuzz topic"))
        .expect("a fresh topic takes a topic id");
    t
}

/// The receiver: the key, trusting the sender and the joiner.
fn receiver() -> T {
    v2_topic(RECEIVER, Some(KEY), &[public(SENDER), public(JOINER)])
}

/// The joiner, its introduction pending, trusting the receiver (v2 replies are
/// signed, and a joiner takes the key only from a replier it trusts).
fn joiner() -> T {
    let mut j = v2_topic(JOINER, None, &[public(RECEIVER)]);
    j.construct_intro_with(&mut FixedRng::new(&JOINER_RNG))
        .expect("v2 intro");
    j
}

/// The sender as a member: trusts the receiver as admin, for rekeys.
fn member() -> T {
    let mut m = v2_topic(SENDER, Some(KEY), &[public(RECEIVER)]);
    m.add_admin(public(RECEIVER)).expect("admin key");
    m
}

/// The four valid v2 messages the `0xff` inputs start from.
pub struct Templates {
    /// A message from the sender.
    pub message: Vec<u8>,
    /// The joiner's introduction.
    pub intro: Vec<u8>,
    /// The receiver's reply to it.
    pub reply: Vec<u8>,
    /// A rekey by the receiver as admin.
    pub rekey: Vec<u8>,
}

impl Templates {
    fn new() -> Templates {
        let mut sender = v2_topic(SENDER, Some(KEY), &[]);
        let message = sender
            .encode_with_rng(&mut FixedRng::new(&RNG), PLAINTEXT)
            .expect("v2 encode");
        let mut j = v2_topic(JOINER, None, &[]);
        let intro = j
            .construct_intro_with(&mut FixedRng::new(&JOINER_RNG))
            .expect("v2 intro")
            .to_vec();
        let reply = receiver()
            .construct_reply_with(&mut FixedRng::new(&RNG), &intro)
            .expect("v2 reply")
            .to_vec();
        let mut admin = receiver();
        admin.add_admin(public(RECEIVER)).expect("admin key");
        let rekey = admin
            .rotate_with(&mut FixedRng::new(&RNG), None)
            .expect("v2 rekey");
        for m in [&message, &intro, &reply, &rekey] {
            assert!(matches!(Message::parse(m), Ok(Message::V2(_))));
        }
        Templates {
            message,
            intro,
            reply,
            rekey,
        }
    }

    fn pick(&self, i: u8) -> &[u8] {
        match i % 4 {
            0 => &self.message,
            1 => &self.intro,
            2 => &self.reply,
            _ => &self.rekey,
        }
    }
}

thread_local! {
    static TEMPLATES: RefCell<Option<Templates>> = const { RefCell::new(None) };
}

/// The input as the entry points see it, and which template it is if it is one
/// unchanged.
fn message_from(data: &[u8], templates: &Templates) -> (Vec<u8>, Option<u8>) {
    let [0xff, which, edits @ ..] = data else {
        return (data.to_vec(), None);
    };
    let template = templates.pick(*which);
    let mut m = template.to_vec();
    for edit in edits.chunks_exact(3).take(16) {
        let pos = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % m.len();
        m[pos] ^= edit[2];
    }
    let unchanged = (m == template).then_some(which % 4);
    (m, unchanged)
}

/// The state a refusal must leave as it was.
fn state(t: &T) -> (Snapshot, u32) {
    (snapshot(t), t.epoch())
}

fn check_decode(data: &[u8], unchanged: Option<u8>) {
    for mode in MODES {
        let mut t = receiver();
        let before = state(&t);
        let got = outcome(t.decode(data, mode));
        match &got {
            Outcome::Message {
                sender, verified, ..
            } => {
                assert_eq!(*verified, mode != DecodeMode::Naive, "{mode:?}");
                if *verified {
                    assert!(t.trusted_key(sender).expect("store").is_some());
                }
                let again = outcome(t.decode(data, mode));
                if *verified {
                    // Replay protection: the same message again is refused, in
                    // every mode.
                    assert!(
                        matches!(&again, Outcome::Err(e) if e.starts_with("Replayed")),
                        "{mode:?}: a message accepted twice: {again:?}"
                    );
                    let naive = outcome(t.decode(data, DecodeMode::Naive));
                    assert!(
                        matches!(&naive, Outcome::Err(e) if e.starts_with("Replayed")),
                        "{mode:?} then naive: a message accepted twice: {naive:?}"
                    );
                } else {
                    // Only verified messages move a replay window (an unverified
                    // sender id could be anyone's): naive decoding checks the
                    // window but has no replay protection of its own.
                    assert_eq!(again, got, "a naive decode changed the topic");
                }
            }
            Outcome::Err(_) => {
                assert_eq!(state(&t), before, "{mode:?}: a refusal changed the topic")
            }
            Outcome::Ignored(_) => assert_eq!(mode, DecodeMode::IgnoreUntrusted),
            Outcome::Own => {}
        }
        if unchanged == Some(0) {
            assert!(
                matches!(&got, Outcome::Message { plaintext, .. } if plaintext == PLAINTEXT),
                "{mode:?}: the template message was not accepted: {got:?}"
            );
        }

        // In place, on a fresh receiver: the same outcome; a refusal leaves the bytes.
        let mut t = receiver();
        let mut buf = data.to_vec();
        let in_place = outcome(t.decode_in_place(&mut buf, mode));
        assert_eq!(in_place, got, "decode vs decode_in_place ({mode:?})");
        if !matches!(in_place, Outcome::Message { .. }) {
            assert_eq!(buf, data, "a refused decode_in_place changed the buffer");
        }
    }
}

fn check_construct_reply(data: &[u8], unchanged: Option<u8>) {
    let mut t = receiver();
    let before = state(&t);
    match t.construct_reply_with(&mut FixedRng::new(&RNG), data) {
        Ok(reply) => {
            let Ok(Message::V2(intro)) = Message::parse(data) else {
                panic!("answered something that is not a v2 introduction");
            };
            let Ok(Message::V2(r)) = Message::parse(&reply) else {
                panic!("construct_reply made something that is not a v2 message");
            };
            let newcomer = intro.identity().expect("an introduction carries a key");
            assert_eq!(r.recipient_id(), Some(B::participant_id(&newcomer)));
            assert!(t.trusted_key(&B::participant_id(&newcomer)).expect("store") == Some(newcomer));
        }
        Err(e) => {
            assert_eq!(
                state(&t),
                before,
                "a refused construct_reply changed the topic"
            );
            assert_ne!(unchanged, Some(1), "the template intro was refused: {e:?}");
        }
    }
}

fn check_parse_reply(data: &[u8], unchanged: Option<u8>) {
    let mut j = joiner();
    let before = state(&j);
    match j.parse_reply(data) {
        Ok(_) => {
            assert_eq!(j.topic_key().map(|k| *k.expose_secret()), Some(KEY));
            assert!(!j.has_pending_introduction());
        }
        Err(e) => {
            assert_eq!(
                state(&j),
                before,
                "a refused parse_reply changed the joiner"
            );
            assert_ne!(unchanged, Some(2), "the template reply was refused: {e:?}");
        }
    }
}

fn check_accept_rekey(data: &[u8], unchanged: Option<u8>) {
    let mut m = member();
    let before = state(&m);
    match m.accept_rekey(data) {
        Ok(outcome) => {
            let _ = outcome;
            assert!(m.topic_key().is_some());
        }
        Err(e) => {
            assert_eq!(state(&m), before, "a refused rekey changed the member");
            assert_ne!(
                unchanged,
                Some(3),
                "the template rekey was refused: {}",
                err_str(&e)
            );
        }
    }
}

/// Every v2 entry point on `data` (see the module docs).
pub fn check_v2(data: &[u8]) {
    TEMPLATES.with(|t| {
        let mut t = t.borrow_mut();
        let templates = t.get_or_insert_with(Templates::new);
        let (message, unchanged) = message_from(data, templates);
        check_decode(&message, unchanged);
        check_construct_reply(&message, unchanged);
        check_parse_reply(&message, unchanged);
        check_accept_rekey(&message, unchanged);
    });
}
