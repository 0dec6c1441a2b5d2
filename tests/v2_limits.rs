//! The size limits of the v2 wire format, played at their edges: a topic of 10,000
//! participants (issue 13's scale) can be rotated to all of them, and a rekey or reply
//! one member past [`MAX_MEMBERS`] is refused by the parser before anything else looks
//! at it. Before `MAX_MEMBERS` went from 1,024 to 16,384 the rotation test failed with
//! `TooManyMembers(10001)` (Alice and her 10,000).

mod common;

use common::v2::{member, text, ALICE, X};
use stringphone::v2::wire::{
    V2Message, V2Type, HEADER_LEN, MAX_FLOORS, MAX_MEMBERS, REKEY_ENTRY_LEN, REKEY_FIXED_LEN,
    REPLY_FIXED_LEN, SIGNATURE_LEN, SUITE_BLAKE3, VERSION,
};
use stringphone::v2::{ProtocolVersion, RekeyOutcome};
use stringphone::wire::MessageType;
use stringphone::{Backend, DecodeMode, Identity, ParseError, SigningSeed};

/// A topic of this many participants besides its admin.
const PARTICIPANTS: usize = 10_000;

/// The identity seed of participant `n` (distinct for every `n`, none equal to the
/// cast's `[seed; 32]`).
fn seed(n: usize) -> SigningSeed {
    let mut s = [0xa5; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    SigningSeed::from_bytes(s)
}

/// Alice, admin of topic X, trusts 10,000 participants and rotates to all of them; the
/// one listed last takes the new key and reads Alice's next message. The rekey carries
/// one entry per member, and its size is what the format says.
fn a_rotation_reaches_every_one_of_ten_thousand_members<B: Backend>(_: &str) {
    let mut alice = member::<B>(ALICE, Some(X));
    let mut last = common::v2::T::<B>::with_store(seed(PARTICIPANTS - 1), None, Default::default());
    last.set_protocol(ProtocolVersion::V2);
    last.set_topic_id(alice.topic_id().unwrap()).unwrap();
    last.add_admin(alice.public_key()).unwrap();
    for n in 0..PARTICIPANTS {
        let key = B::signing_key(&seed(n)).public_key();
        alice.add_participant(key).unwrap();
    }

    let rekey = alice
        .rotate(None)
        .expect("a rotation to 10,000 members is refused");
    let m = V2Message::parse(&rekey).unwrap();
    let entries = m.rekey_entries().count();
    assert!(
        entries >= PARTICIPANTS,
        "{entries} entries for {PARTICIPANTS} members"
    );
    assert_eq!(rekey.len(), REKEY_FIXED_LEN + entries * REKEY_ENTRY_LEN);

    assert_eq!(
        last.accept_rekey(&rekey).unwrap(),
        RekeyOutcome::Rotated { epoch: 1 }
    );
    assert_eq!(
        last.topic_key().map(|k| *k.expose_secret()),
        alice.topic_key().map(|k| *k.expose_secret()),
        "the last member holds another key than the admin"
    );
    let said = alice.encode("to all 10,000").unwrap();
    assert_eq!(
        text(last.decode(&said, DecodeMode::Strict)),
        "to all 10,000"
    );
}
for_each_backend!(a_rotation_reaches_every_one_of_ten_thousand_members);

/// A v2 header of type `t` (epoch 1, zero ids, session and counter).
fn header(t: V2Type) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_LEN];
    h[0] = VERSION;
    h[1] = t.byte();
    h[2] = SUITE_BLAKE3;
    h[6] = 1;
    h
}

/// Whether the parser refuses `bytes` as a malformed message of type `t`.
fn is_malformed(bytes: &[u8], t: V2Type) -> bool {
    V2Message::parse(bytes).err()
        == Some(ParseError::Malformed {
            message_type: Some(MessageType::V2(t)),
            len: bytes.len(),
        })
}

/// A rekey whose count field says `count`, with exactly the bytes that count needs.
fn rekey_listing(count: usize) -> Vec<u8> {
    let mut bytes = header(V2Type::Rekey);
    bytes.extend_from_slice(&[0u8; 64]);
    bytes.extend_from_slice(&(count as u16).to_be_bytes());
    bytes.resize(bytes.len() + count * REKEY_ENTRY_LEN + SIGNATURE_LEN, 0);
    assert_eq!(bytes.len(), REKEY_FIXED_LEN + count * REKEY_ENTRY_LEN);
    bytes
}

/// A reply whose member count says `members` (no floors), with exactly those bytes.
fn reply_listing(members: usize) -> Vec<u8> {
    let mut bytes = header(V2Type::Reply);
    let counts_at = REPLY_FIXED_LEN - SIGNATURE_LEN - 4;
    bytes.resize(counts_at, 0);
    bytes.extend_from_slice(&(members as u16).to_be_bytes());
    bytes.resize(bytes.len() + 16 * members, 0);
    bytes.extend_from_slice(&0u16.to_be_bytes());
    bytes.resize(bytes.len() + SIGNATURE_LEN, 0);
    assert_eq!(bytes.len(), REPLY_FIXED_LEN + 16 * members);
    bytes
}

/// The parser takes a rekey and a reply listing exactly `MAX_MEMBERS` members and
/// refuses both one past it, and a rekey listing none, whatever their lengths say.
#[test]
fn the_member_limit_is_enforced_at_the_parser() {
    // The limits fit their 2-byte count fields and leave room for 10,000 members.
    const { assert!(MAX_MEMBERS > PARTICIPANTS) };
    const { assert!(MAX_MEMBERS <= u16::MAX as usize && MAX_FLOORS <= u16::MAX as usize) };

    assert!(V2Message::parse(&rekey_listing(MAX_MEMBERS)).is_ok());
    assert!(is_malformed(&rekey_listing(MAX_MEMBERS + 1), V2Type::Rekey));
    assert!(is_malformed(&rekey_listing(0), V2Type::Rekey));

    assert!(V2Message::parse(&reply_listing(MAX_MEMBERS)).is_ok());
    assert!(is_malformed(&reply_listing(MAX_MEMBERS + 1), V2Type::Reply));
}
