//! Protocol v2 on the device, without a heap (the `v2` feature): the topic's lists in
//! fixed capacities. Bob joins through a v2 introduction and Alice's signed reply, the
//! two exchange a message, both accept the rekey of the topic's gateway (Gail, an
//! admin they trust, who rotated on the host: `build.rs`), then a message of the new
//! epoch; and the refusals v2 promises, each checked for its reason: a replay, a
//! sender past the topic's capacity, a rekey fed twice, a message of a topic with
//! another id, the first message again after the rotation, a message relabelled to
//! suite 0x01. The topic is in suite 0x02 (SHA-256 digest), so the image links no
//! BLAKE3.

use stringphone_core::v2::wire::{
    FLOOR_ENTRY_LEN, INTRODUCTION_LEN, MESSAGE_OVERHEAD, REPLY_FIXED_LEN,
};
use stringphone_core::v2::{ProtocolVersion, RekeyOutcome, Suite, TopicId};
use stringphone_core::{DecodeMode, Decoded, Error, PublicKey};

use crate::{check, BoardRng, Device, Run, TEXT, TOPIC_KEY};

const KITCHEN: &[u8] = b"home/kitchen";

/// The longest v2 message this session sends.
const MESSAGE: usize = 64 + MESSAGE_OVERHEAD;
/// A reply to a newcomer of a topic whose first epoch lists no members, carrying the
/// replay floors of the replier and one more sender.
const REPLY: usize = REPLY_FIXED_LEN + 2 * FLOOR_ENTRY_LEN;
/// The gateway's public key and its rekey of the first epoch to Alice, Bob and itself.
const GATEWAY: &[u8; 32] = include_bytes!(concat!(env!("OUT_DIR"), "/gateway.pub"));
const GATEWAY_REKEY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rekey.bin"));

/// A device of the topic `name`, speaking v2.
fn device(seed: u8, key: Option<[u8; 32]>, name: &[u8]) -> Result<Device, &'static str> {
    let mut device = crate::device(seed, key);
    device
        .set_topic_id(TopicId::from_name_in(Suite::Sha256, name))
        .map_err(|_| "v2: topic id refused")?;
    device.set_protocol(ProtocolVersion::V2);
    Ok(device)
}

/// Bob opens `wire` as a message from `sender` reading `text`.
fn opens(bob: &mut Device, wire: &[u8], sender: &Device, text: &[u8]) -> bool {
    let mut plain = [0u8; MESSAGE];
    let sender_id = sender.id();
    match bob.decode_into(wire, DecodeMode::Strict, &mut plain) {
        Ok(Decoded::Message {
            sender,
            verified,
            plaintext,
        }) => sender == sender_id && verified && plaintext == text,
        _ => false,
    }
}

// Longer than 60 lines: the session the README's embedded section tells, step by step
// in its order; the devices and buffers live in this one frame, which the "from reset"
// stack figure counts (split into steps, it would count their frames too).
pub fn session(run: &mut Run, rng: &mut BoardRng) -> Result<(), &'static str> {
    let mut alice = device(1, Some(TOPIC_KEY), KITCHEN)?;
    let mut bob = device(2, None, KITCHEN)?;
    alice
        .add_participant(bob.public_key())
        .map_err(|_| "v2 trust: refused a valid key")?;
    bob.add_participant(alice.public_key())
        .map_err(|_| "v2 trust: refused a valid key")?;
    // Both take rekeys from the gateway.
    for device in [&mut alice, &mut bob] {
        device
            .add_admin(PublicKey::from_bytes(*GATEWAY))
            .map_err(|_| "v2 trust: refused the gateway as admin")?;
    }

    // Discovery, each message in a buffer of its own size.
    let mut intro = [0u8; INTRODUCTION_LEN];
    let len = run
        .op("v2 intro", || bob.construct_intro_into(rng, &mut intro))
        .map_err(|_| "v2 intro: failed")?;
    check(len == INTRODUCTION_LEN, "v2 intro: wrong length")?;
    let mut reply = [0u8; REPLY];
    let len = run
        .op("v2 reply", || {
            alice.construct_reply_into(rng, &intro, &mut reply)
        })
        .map_err(|_| "v2 reply: failed")?;
    let reply = &reply[..len];
    let replier = run
        .op("v2 parse_reply", || bob.parse_reply(reply))
        .map_err(|_| "v2 parse_reply: refused Alice's reply")?;
    check(
        replier == alice.public_key(),
        "v2 parse_reply: wrong replier",
    )?;
    check(
        bob.topic_key().map(|k| *k.expose_secret()) == Some(TOPIC_KEY),
        "v2 parse_reply: wrong topic key",
    )?;

    // Messages.
    let mut wire = [0u8; MESSAGE];
    let len = run
        .op("v2 encode", || alice.encode_into(rng, TEXT, &mut wire))
        .map_err(|_| "v2 encode: failed")?;
    check(
        len == TEXT.len() + MESSAGE_OVERHEAD,
        "v2 encode: wrong length",
    )?;
    let first = wire;
    let decoded = run.op("v2 decode", || opens(&mut bob, &first[..len], &alice, TEXT));
    check(decoded, "v2 decode: wrong result")?;
    let mut plain = [0u8; MESSAGE];
    check(
        matches!(
            bob.decode_into(&first[..len], DecodeMode::Strict, &mut plain),
            Err(Error::Replayed { .. })
        ),
        "v2 decode: accepted a replay",
    )?;

    // The suite byte rewritten to 0x01 (BLAKE3): refused for the suite, before any
    // signature is checked.
    let mut relabelled = first;
    relabelled[2] = 0x01;
    check(
        matches!(
            bob.decode_into(&relabelled[..len], DecodeMode::Strict, &mut plain),
            Err(Error::SuiteMismatch {
                topic: 0x02,
                message: 0x01
            })
        ),
        "v2 decode: a message of suite 0x01 not refused",
    )?;

    // A fifth sender is past Bob's capacity of four: refused with the reason, and
    // the senders it tracks keep their windows (no eviction reopens a replay).
    let mut heard = 1; // Alice
    for seed in 10..14u8 {
        let mut peer = device(seed, Some(TOPIC_KEY), KITCHEN)?;
        if bob.add_participant(peer.public_key()).is_err() {
            return Err("v2 trust: refused a peer");
        }
        let len = peer
            .encode_into(rng, TEXT, &mut wire)
            .map_err(|_| "v2 encode: failed for a peer")?;
        let result = bob.decode_into(&wire[..len], DecodeMode::Strict, &mut plain);
        if heard < 4 {
            check(
                result.is_ok(),
                "v2 decode: refused a sender within capacity",
            )?;
            heard += 1;
        } else {
            check(
                matches!(
                    result,
                    Err(Error::CapacityExceeded {
                        list: "senders",
                        capacity: 4
                    })
                ),
                "v2 decode: a sender past capacity not refused for it",
            )?;
        }
    }
    // Rotation: the gateway's rekey, accepted by both.
    let outcome = run
        .op("v2 rekey", || bob.accept_rekey(GATEWAY_REKEY))
        .map_err(|_| "v2 rekey: refused the gateway's rekey")?;
    check(
        outcome == RekeyOutcome::Rotated { epoch: 1 } && bob.epoch() == 1,
        "v2 rekey: not in epoch 1",
    )?;
    check(
        matches!(
            alice.accept_rekey(GATEWAY_REKEY),
            Ok(RekeyOutcome::Rotated { epoch: 1 })
        ),
        "v2 rekey: Alice refused the gateway's rekey",
    )?;
    check(
        bob.topic_key().map(|k| *k.expose_secret()) != Some(TOPIC_KEY)
            && bob.topic_key() == alice.topic_key(),
        "v2 rekey: not the new key",
    )?;
    check(
        matches!(
            bob.accept_rekey(GATEWAY_REKEY),
            Ok(RekeyOutcome::Superseded)
        ),
        "v2 rekey: taken twice",
    )?;
    let len = alice
        .encode_into(rng, TEXT, &mut wire)
        .map_err(|_| "v2 encode: failed in epoch 1")?;
    check(
        opens(&mut bob, &wire[..len], &alice, TEXT),
        "v2 decode: wrong result in epoch 1",
    )?;

    // A message sealed for a topic of another id is refused, though every key matches.
    let mut foreign = device(
        1,
        alice.topic_key().map(|k| *k.expose_secret()),
        b"home/garage",
    )?;
    let len = foreign
        .encode_into(rng, TEXT, &mut wire)
        .map_err(|_| "v2 encode: failed in another topic")?;
    check(
        matches!(
            bob.decode_into(&wire[..len], DecodeMode::Strict, &mut plain),
            Err(Error::BadSignature)
        ),
        "v2 decode: a message of another topic not refused for its signature",
    )?;

    check(
        matches!(
            bob.decode_into(
                &first[..MESSAGE_OVERHEAD + TEXT.len()],
                DecodeMode::Strict,
                &mut plain
            ),
            Err(Error::UnknownEpoch(0) | Error::Replayed { .. })
        ),
        "v2 decode: the first message accepted again",
    )?;
    Ok(())
}
