//! A gateway's batch (`decode_batch`, and `decode_batch_parallel` on 1 to 8 threads)
//! gives every message the verdict decoding it alone gives it, leaves the same state
//! (replay windows, marks, the previous epoch's grace period) and the same buffers,
//! with classic and v2 messages mixed: honest, replayed within the batch, too old,
//! tampered, untrusted, own, from a non-member, of an epoch whose grace period ends in
//! the middle of the batch, and rekeys.
//!
//! The receivers compared are built twice from the same inputs, so they start equal.

mod common;

use stringphone::protocol::batch::BATCH_CHUNK;
use stringphone::protocol::v2::{ProtocolVersion, TopicId};
use stringphone::protocol::{MarkSlot, Topic};
use stringphone::{
    Backend, DecodeMode, Decoded, Error, MemoryTrustStore, ParticipantId, SigningSeed, TopicKey,
    TrustStore,
};

type T<B> = Topic<B, MemoryTrustStore>;

const KEY: [u8; 32] = [0x21; 32];

fn topic<B: Backend>(seed: u8, key: Option<TopicKey>, protocol: ProtocolVersion) -> T<B> {
    let mut t = T::<B>::new(SigningSeed::from_bytes([seed; 32]), key);
    t.set_protocol(protocol);
    t.set_topic_id(TopicId::from_name(b"gateway")).unwrap();
    t
}

/// Everything needed to build a receiver again, and the inbox.
struct World {
    admin: ParticipantId,
    admin_key: stringphone::PublicKey,
    trusted: Vec<stringphone::PublicKey>,
    rekeys: Vec<Vec<u8>>,
    inbox: Vec<Vec<u8>>,
    senders: Vec<ParticipantId>,
}

impl World {
    /// A receiver at epoch 2, reading epoch 1 for 3 more messages of epoch 2.
    fn receiver<B: Backend>(&self) -> T<B> {
        let mut r = topic::<B>(2, Some(TopicKey::from_bytes(KEY)), ProtocolVersion::Both);
        r.set_grace_messages(3).unwrap();
        assert_eq!(r.add_admin(self.admin_key).unwrap(), self.admin);
        for k in &self.trusted {
            r.add_participant(*k).unwrap();
        }
        for rekey in &self.rekeys {
            r.accept_rekey(rekey).unwrap();
        }
        assert_eq!(r.epoch(), 2);
        r
    }
}

/// The senders of the inbox: an admin, twelve members, an outsider (trusted by
/// everyone, but the rotations leave it out) and a stranger nobody trusts.
struct Cast<B: Backend> {
    admin: T<B>,
    senders: Vec<T<B>>,
    /// Whom the rotations list: the members and the receiver.
    listed: Vec<ParticipantId>,
    outsider: T<B>,
    stranger: T<B>,
}

/// What the cast sent over three epochs.
struct Sent {
    epoch0: Vec<Vec<u8>>,
    rekey1: Vec<u8>,
    epoch1: Vec<Vec<u8>>,
    /// The outsider's two messages in epoch 1.
    outsider1: [Vec<u8>; 2],
    rekey2: Vec<u8>,
    /// Four messages of each member in epoch 2.
    epoch2: Vec<Vec<Vec<u8>>>,
    /// Far ahead: a counter that pushes the window past the others.
    far: Vec<u8>,
}

fn cast<B: Backend>() -> Cast<B> {
    let key = TopicKey::from_bytes(KEY);
    let mut admin = topic::<B>(1, Some(key.clone()), ProtocolVersion::Both);
    let mut senders: Vec<T<B>> = (10..22)
        .map(|s| topic::<B>(s, Some(key.clone()), ProtocolVersion::Both))
        .collect();
    let receiver_id = topic::<B>(2, None, ProtocolVersion::Both).id();
    let receiver_key = topic::<B>(2, None, ProtocolVersion::Both).public_key();
    admin.add_participant(receiver_key).unwrap();
    for s in &mut senders {
        s.add_admin(admin.public_key()).unwrap();
        admin.add_participant(s.public_key()).unwrap();
    }
    let mut listed: Vec<ParticipantId> = senders.iter().map(|s| s.id()).collect();
    listed.push(receiver_id);
    Cast {
        admin,
        senders,
        listed,
        outsider: topic::<B>(40, Some(key.clone()), ProtocolVersion::Both),
        stranger: topic::<B>(41, Some(key), ProtocolVersion::Both),
    }
}

impl<B: Backend> Cast<B> {
    /// The members send in epoch 0; the admin rotates to epoch 1, which the outsider
    /// gets from a backup of a member's state; members and outsider send; the admin
    /// rotates to epoch 2, in which the members send.
    fn send_over_three_epochs(&mut self) -> Sent {
        let senders = &mut self.senders;
        let epoch0: Vec<Vec<u8>> = senders
            .iter_mut()
            .map(|s| s.encode(b"e0").unwrap())
            .collect();
        let rekey1 = self.admin.rotate(Some(&self.listed)).unwrap();
        for s in senders.iter_mut() {
            s.accept_rekey(&rekey1).unwrap();
        }
        self.outsider
            .restore_group_state(senders[0].group_state())
            .unwrap();
        let epoch1: Vec<Vec<u8>> = senders
            .iter_mut()
            .map(|s| s.encode(b"epoch one").unwrap())
            .collect();
        let outsider1 = [
            self.outsider.encode(b"let me in").unwrap(),
            self.outsider.encode(b"let me in again").unwrap(),
        ];
        let rekey2 = self.admin.rotate(Some(&self.listed)).unwrap();
        for s in senders.iter_mut() {
            s.accept_rekey(&rekey2).unwrap();
        }
        let epoch2: Vec<Vec<Vec<u8>>> = senders
            .iter_mut()
            .map(|s| {
                (0..4)
                    .map(|i| s.encode(format!("epoch two #{i}")).unwrap())
                    .collect()
            })
            .collect();
        let mut far = senders[3].encode(b"far").unwrap();
        for _ in 0..300 {
            far = senders[3].encode(b"far").unwrap();
        }
        Sent {
            epoch0,
            rekey1,
            epoch1,
            outsider1,
            rekey2,
            epoch2,
            far,
        }
    }
}

/// `honest` tampered with: the epoch, sender, session and counter in the header, the
/// ciphertext, the tag, the signature; then cut one byte short.
fn tampered(honest: &[u8]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for at in [
        1usize,
        3,
        7,
        30,
        50,
        60,
        75,
        honest.len() - 70,
        honest.len() - 5,
    ] {
        let mut t = honest.to_vec();
        t[at] ^= 0x10;
        all.push(t);
    }
    all.push(honest[..honest.len() - 1].to_vec());
    all
}

/// The inbox, in an order that makes the state matter.
fn inbox<B: Backend>(cast: &mut Cast<B>, sent: &Sent) -> Vec<Vec<u8>> {
    let (epoch1, mut epoch2) = (&sent.epoch1, sent.epoch2.clone());
    let mut inbox = Vec::new();
    inbox.push(sent.outsider1[0].clone()); // epoch 1 lists its members: not a member
    inbox.extend(epoch1.iter().take(4).cloned()); // the previous epoch, in its grace
    inbox.push(sent.epoch0[0].clone()); // two epochs back: unknown
    for m in &epoch2 {
        inbox.push(m[0].clone());
    } // epoch 2: the grace period ends after 3 of these
    inbox.push(sent.outsider1[1].clone()); // epoch 1 is gone: unknown epoch, not "not a member"
    inbox.extend(epoch1.iter().skip(4).cloned()); // gone too
    for m in &mut epoch2 {
        inbox.push(m[2].clone());
        inbox.push(m[1].clone()); // out of order, within the window
        inbox.push(m[2].clone()); // replayed within the batch
    }
    inbox.push(sent.far.clone());
    inbox.push(epoch2[3][3].clone()); // below the window now: too old
    inbox.push(sent.far.clone()); // replayed
    let honest = epoch2[5][3].clone();
    inbox.extend(tampered(&honest));
    inbox.push(honest);
    inbox.push(cast.stranger.encode(b"who?").unwrap()); // untrusted
    let key2 = cast.senders[0].topic_key().cloned();
    let mut classic = topic::<B>(10, key2.clone(), ProtocolVersion::Classic);
    let mut classic_outsider = topic::<B>(40, key2, ProtocolVersion::Classic);
    inbox.push(classic.encode(b"old format").unwrap());
    inbox.push(classic_outsider.encode(b"old format, left out").unwrap());
    inbox.push(sent.rekey2.clone());
    inbox.push(Vec::new());
    for m in epoch2.iter_mut() {
        inbox.push(m.pop().unwrap());
    }
    inbox
}

fn world<B: Backend>() -> World {
    let mut cast = cast::<B>();
    let sent = cast.send_over_three_epochs();
    let inbox = inbox(&mut cast, &sent);
    let Cast {
        admin,
        senders,
        outsider,
        stranger,
        ..
    } = cast;
    let mut trusted: Vec<_> = senders.iter().map(|s| s.public_key()).collect();
    trusted.push(outsider.public_key());
    World {
        admin: admin.id(),
        admin_key: admin.public_key(),
        trusted,
        rekeys: vec![sent.rekey1, sent.rekey2],
        inbox,
        senders: senders
            .iter()
            .map(|s| s.id())
            .chain([outsider.id(), stranger.id()])
            .collect(),
    }
}

/// A verdict with its plaintext copied out of the buffer, to compare as a value.
type Outcome = Result<Decoded<Vec<u8>>, Error>;

fn outcome<P: AsRef<[u8]>>(result: &Result<Decoded<P>, Error>) -> Outcome {
    match result {
        Ok(Decoded::Message {
            sender,
            verified,
            plaintext,
        }) => Ok(Decoded::Message {
            sender: *sender,
            verified: *verified,
            plaintext: plaintext.as_ref().to_vec(),
        }),
        Ok(Decoded::Own) => Ok(Decoded::Own),
        Ok(Decoded::Ignored { sender }) => Ok(Decoded::Ignored { sender: *sender }),
        Ok(_) => panic!("an outcome this test does not know"),
        Err(e) => Err(e.clone()),
    }
}

fn outcomes<P: AsRef<[u8]>>(results: &[Result<Decoded<P>, Error>]) -> Vec<Outcome> {
    results.iter().map(outcome).collect()
}

/// What decoding changed: the exported group state (epoch, grace, replay floors from
/// every window) and the marks stored.
fn state<B: Backend>(t: &T<B>, senders: &[ParticipantId]) -> (Vec<u8>, Vec<Option<u64>>) {
    let marks = senders
        .iter()
        .map(|id| t.trust_store().load_mark(&MarkSlot::Received(*id)).unwrap())
        .collect();
    (t.group_state().to_bytes().to_vec(), marks)
}

/// The strict verdicts of decoding the inbox one by one show it holds what it is
/// meant to: messages of non-members and of unknown epochs, replays within the window
/// and below it, tampered messages, an untrusted sender, a rekey, and verified
/// messages.
fn the_inbox_holds_what_it_is_meant_to(expected: &[Outcome]) {
    let count = |what: fn(&Outcome) -> bool| expected.iter().filter(|e| what(e)).count();
    let refused = |e: &Error| {
        expected
            .iter()
            .filter(|o| o.as_ref().err() == Some(e))
            .count()
    };
    assert!(
        count(|o| matches!(o, Err(Error::NotAMember(_)))) >= 2,
        "{expected:#?}"
    );
    assert!(refused(&Error::UnknownEpoch(1)) >= 2, "{expected:#?}");
    assert!(refused(&Error::UnknownEpoch(0)) >= 1, "{expected:#?}");
    let replayed = |old| move |o: &Outcome| matches!(o, Err(Error::Replayed { too_old, .. }) if *too_old == old);
    assert!(
        expected.iter().filter(|o| replayed(false)(o)).count() >= 12,
        "{expected:#?}"
    );
    assert!(
        expected.iter().filter(|o| replayed(true)(o)).count() >= 1,
        "{expected:#?}"
    );
    assert!(refused(&Error::BadSignature) >= 5, "{expected:#?}");
    assert!(
        count(|o| matches!(o, Err(Error::UntrustedSender(_)))) >= 1,
        "{expected:#?}"
    );
    assert!(refused(&Error::Rekey) >= 1, "{expected:#?}");
    let verified = |o: &Outcome| matches!(o, Ok(Decoded::Message { verified: true, .. }));
    assert!(count(verified) >= 40, "{expected:#?}");
}

fn same_verdicts_and_state<B: Backend>(_name: &str)
where
    B::VerifyingKey: Send + Sync,
{
    let world = world::<B>();
    for mode in [
        DecodeMode::Strict,
        DecodeMode::IgnoreUntrusted,
        DecodeMode::Naive,
    ] {
        let expected = batch_decodes_as_alone::<B>(&world, &world.inbox, mode);
        if mode == DecodeMode::Strict {
            the_inbox_holds_what_it_is_meant_to(&expected);
        }
    }
}

/// Decodes `inbox` one by one, then with `decode_batch` and `decode_batch_parallel`
/// on 0 to 8 threads, each on a receiver of its own, and asserts the same verdicts,
/// buffers and state; returns the verdicts.
fn batch_decodes_as_alone<B: Backend>(
    world: &World,
    inbox: &[Vec<u8>],
    mode: DecodeMode,
) -> Vec<Outcome>
where
    B::VerifyingKey: Send + Sync,
{
    let mut alone = world.receiver::<B>();
    let mut expected_buffers = inbox.to_vec();
    let expected: Vec<Outcome> = expected_buffers
        .iter_mut()
        .map(|m| outcome(&alone.decode_in_place(m, mode)))
        .collect();
    let expected_state = state(&alone, &world.senders);

    let mut batch = world.receiver::<B>();
    let mut buffers = inbox.to_vec();
    let got = outcomes(&batch.decode_batch(&mut buffers, mode));
    assert_eq!(got, expected, "decode_batch, {mode:?}");
    assert_eq!(buffers, expected_buffers, "decode_batch buffers, {mode:?}");
    assert_eq!(state(&batch, &world.senders), expected_state, "{mode:?}");

    for threads in [0, 1, 2, 3, 8] {
        let mut parallel = world.receiver::<B>();
        let mut buffers = inbox.to_vec();
        let got = outcomes(&parallel.decode_batch_parallel(&mut buffers, mode, threads));
        assert_eq!(got, expected, "{threads} threads, {mode:?}");
        assert_eq!(
            buffers, expected_buffers,
            "{threads} threads, buffers, {mode:?}"
        );
        assert_eq!(
            state(&parallel, &world.senders),
            expected_state,
            "{threads} threads, state, {mode:?}"
        );
    }
    expected
}

/// The signatures of a long batch are checked in chunks, by whichever thread claims
/// each first, while this one finishes the messages in order: the inbox many times
/// over, shuffled (so replays, tampered copies and the rekey fall in every chunk and
/// on chunk boundaries), still decodes as it does one by one.
fn many_chunks_same_verdicts_and_state<B: Backend>(_name: &str)
where
    B::VerifyingKey: Send + Sync,
{
    let world = world::<B>();
    // Enough copies for more than three chunks, whatever their size.
    let copies = 3 * BATCH_CHUNK / world.inbox.len() + 2;
    let mut inbox: Vec<Vec<u8>> = (0..copies).flat_map(|_| world.inbox.clone()).collect();
    // A fixed permutation (a linear congruential walk), the same every run.
    let mut x: u64 = 0x5eed;
    for i in (1..inbox.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        inbox.swap(i, (x >> 33) as usize % (i + 1));
    }
    assert!(inbox.len() > 3 * BATCH_CHUNK, "{} messages", inbox.len());
    let expected = batch_decodes_as_alone::<B>(&world, &inbox, DecodeMode::Strict);
    let verified = expected
        .iter()
        .filter(|o| matches!(o, Ok(Decoded::Message { verified: true, .. })))
        .count();
    let refused = |e: fn(&Error) -> bool| {
        expected
            .iter()
            .filter(|o| o.as_ref().err().is_some_and(e))
            .count()
    };
    // Enough of each verdict that a verdict given to the wrong message shows.
    assert!(verified >= 40, "{expected:#?}");
    assert!(
        refused(|e| matches!(e, Error::BadSignature)) >= 15,
        "{expected:#?}"
    );
    assert!(
        refused(|e| matches!(e, Error::Replayed { .. })) >= 60,
        "{expected:#?}"
    );
}
mod many_chunks_same_verdicts_and_state_ {
    use super::*;
    for_each_backend!(many_chunks_same_verdicts_and_state);
}

mod same_verdicts_and_state_ {
    use super::*;
    for_each_backend!(same_verdicts_and_state);
}

/// The inbox of a gateway: many senders, one message each, on two threads.
fn many_senders_on_two_threads<B: Backend>(_name: &str)
where
    B::VerifyingKey: Send + Sync,
{
    let key = TopicKey::from_bytes(KEY);
    let mut gateway = topic::<B>(2, Some(key.clone()), ProtocolVersion::Both);
    let mut inbox = Vec::new();
    let mut ids = Vec::new();
    for n in 0..300u32 {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&n.to_le_bytes());
        let mut t = T::<B>::new(SigningSeed::from_bytes(seed), Some(key.clone()));
        t.set_protocol(if n % 2 == 0 {
            ProtocolVersion::V2
        } else {
            ProtocolVersion::Classic
        });
        t.set_topic_id(TopicId::from_name(b"gateway")).unwrap();
        gateway.add_participant(t.public_key()).unwrap();
        inbox.push(t.encode([n as u8; 64]).unwrap());
        ids.push(t.id());
    }
    let results = gateway.decode_batch_parallel(&mut inbox, DecodeMode::Strict, 2);
    for (n, (r, id)) in results.iter().zip(&ids).enumerate() {
        match r {
            Ok(Decoded::Message {
                sender,
                verified: true,
                plaintext,
            }) => {
                assert_eq!(sender, id);
                assert_eq!(&plaintext[..], &[n as u8; 64][..]);
            }
            other => panic!("message {n}: {other:?}"),
        }
    }
}
mod many_senders_on_two_threads_ {
    use super::*;
    for_each_backend!(many_senders_on_two_threads);
}
