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
//! The same cast in another topic (same keys, topic key and randomness) takes
//! nothing of it: no message read in any mode, no introduction answered, no reply
//! or rekey taken. A topic without a topic id refuses every v2 message that parses
//! with `NoTopicId`.

use std::cell::RefCell;

use stringphone_core::v2::ProtocolVersion;
use stringphone_core::{Backend, DecodeMode, Error, Message, PublicKey};
use stringphone_testkit::TestRng;

use crate::raw::{outcome, snapshot, topic, Outcome, Snapshot, B, MODES, T};

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

/// Which topic a v2 topic of the cast names itself (every v2 operation needs it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    /// The topic the templates are made for.
    Fuzz,
    /// Another topic, with the same cast, keys and randomness: nothing made for
    /// the first may be taken here.
    Other,
    /// No topic id: every v2 operation refuses with `NoTopicId`.
    Unnamed,
}

fn v2_topic(seed: [u8; 32], key: Option<[u8; 32]>, trusted: &[PublicKey], named: Named) -> T {
    let names: Vec<String> = trusted.iter().map(hex).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut t = topic(seed, key, &names);
    t.set_protocol(ProtocolVersion::V2);
    let name: &[u8] = match named {
        Named::Fuzz => b"fuzz topic",
        Named::Other => b"another fuzz topic",
        Named::Unnamed => return t,
    };
    t.set_topic_id(stringphone_core::v2::TopicId::from_name(name))
        .expect("a fresh topic takes a topic id");
    t
}

/// The receiver: the key, trusting the sender and the joiner.
fn receiver_in(named: Named) -> T {
    v2_topic(
        RECEIVER,
        Some(KEY),
        &[public(SENDER), public(JOINER)],
        named,
    )
}

fn receiver() -> T {
    receiver_in(Named::Fuzz)
}

/// The joiner, its introduction pending (none without a topic id), trusting the
/// receiver (v2 replies are signed, and a joiner takes the key only from a replier
/// it trusts).
fn joiner_in(named: Named) -> T {
    let mut j = v2_topic(JOINER, None, &[public(RECEIVER)], named);
    let intro = j.construct_intro_with(&mut TestRng::replay(&[&JOINER_RNG]));
    if named == Named::Unnamed {
        assert!(matches!(intro, Err(Error::NoTopicId)));
    } else {
        intro.expect("v2 intro");
    }
    j
}

fn joiner() -> T {
    joiner_in(Named::Fuzz)
}

/// The sender as a member: trusts the receiver as admin, for rekeys.
fn member_in(named: Named) -> T {
    let mut m = v2_topic(SENDER, Some(KEY), &[public(RECEIVER)], named);
    m.add_admin(public(RECEIVER)).expect("admin key");
    m
}

fn member() -> T {
    member_in(Named::Fuzz)
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
        let mut sender = v2_topic(SENDER, Some(KEY), &[], Named::Fuzz);
        let message = sender
            .encode_with_rng(&mut TestRng::replay(&[&RNG]), PLAINTEXT)
            .expect("v2 encode");
        let mut j = v2_topic(JOINER, None, &[], Named::Fuzz);
        let intro = j
            .construct_intro_with(&mut TestRng::replay(&[&JOINER_RNG]))
            .expect("v2 intro")
            .to_vec();
        let reply = receiver()
            .construct_reply_with(&mut TestRng::replay(&[&RNG]), &intro)
            .expect("v2 reply")
            .to_vec();
        let mut admin = receiver();
        admin.add_admin(public(RECEIVER)).expect("admin key");
        let rekey = admin
            .rotate_with(&mut TestRng::replay(&[&RNG]), None)
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
                        matches!(again, Outcome::Err(Error::Replayed { .. })),
                        "{mode:?}: a message accepted twice: {again:?}"
                    );
                    let naive = outcome(t.decode(data, DecodeMode::Naive));
                    assert!(
                        matches!(naive, Outcome::Err(Error::Replayed { .. })),
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
    match t.construct_reply_with(&mut TestRng::replay(&[&RNG]), data) {
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
            assert_ne!(unchanged, Some(3), "the template rekey was refused: {e:?}");
        }
    }
}

/// A topic without a topic id refuses every v2 message that parses with
/// `NoTopicId` (after the parse and the protocol check), in every entry point, and
/// changes nothing.
fn check_unnamed(data: &[u8]) {
    if data.first() != Some(&0x02) {
        return;
    }
    let expected = match crate::raw::v2_framing(data) {
        Ok(_) => Error::NoTopicId,
        Err(e) => e,
    };
    let mut t = receiver_in(Named::Unnamed);
    let before = state(&t);
    for mode in MODES {
        assert_eq!(
            outcome(t.decode(data, mode)),
            Outcome::Err(expected.clone()),
            "{mode:?}"
        );
    }
    let reply = t.construct_reply_with(&mut TestRng::replay(&[&RNG]), data);
    assert_eq!(reply.err(), Some(expected.clone()));
    assert_eq!(state(&t), before, "an unnamed topic changed");
    let mut j = joiner_in(Named::Unnamed);
    assert_eq!(j.parse_reply(data).err(), Some(expected.clone()));
    let mut m = member_in(Named::Unnamed);
    let before = state(&m);
    assert_eq!(m.accept_rekey(data).err(), Some(expected));
    assert_eq!(state(&m), before, "an unnamed topic changed");
}

/// Nothing made for the fuzz topic is taken by the same cast in another topic (the
/// same keys, topic key and randomness: only the topic id differs), whatever the
/// bytes: no message is read in any mode, no introduction answered, no reply
/// installed, no rekey followed; and a refusal changes nothing.
fn check_other_topic(data: &[u8]) {
    let mut t = receiver_in(Named::Other);
    let before = state(&t);
    for mode in MODES {
        let got = outcome(t.decode(data, mode));
        assert!(
            !matches!(got, Outcome::Message { .. }),
            "{mode:?}: read in another topic: {got:?}"
        );
    }
    let reply = t.construct_reply_with(&mut TestRng::replay(&[&RNG]), data);
    assert!(reply.is_err(), "answered in another topic");
    assert_eq!(state(&t), before, "another topic changed");
    let mut j = joiner_in(Named::Other);
    let before = state(&j);
    assert!(
        j.parse_reply(data).is_err(),
        "a reply taken in another topic"
    );
    assert_eq!(state(&j), before, "another topic's joiner changed");
    let mut m = member_in(Named::Other);
    let before = state(&m);
    let got = m.accept_rekey(data);
    assert!(got.is_err(), "a rekey taken in another topic: {got:?}");
    assert_eq!(state(&m), before, "another topic's member changed");
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
        check_unnamed(&message);
        check_other_topic(&message);
    });
}
