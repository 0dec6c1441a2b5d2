//! `v2_topics`: participant 0 in two topics, X and Y, and an attacker relaying
//! between them.
//!
//! Issue 11's first class: before topic ids, epoch 0's id was the same in every
//! topic and nothing signed named the topic, so a rekey or a reply made in X was
//! taken in Y by a participant of both. Here the receiver under test (cast member
//! 0) runs one instance per topic, each with its own store, model and senders (the
//! cast of [`crate::v2_structured`], the same keys, the same admins, the same
//! starting topic key and counters in both topics: only the topic id tells them
//! apart). Every message any of them makes joins one pool, so each delivery may
//! hand an instance bytes made for the other topic (as made, edited, re-signed for
//! either topic or for a third), besides its own.
//!
//! Asserted, besides everything `v2_structured` asserts of each instance (its
//! model predicts every outcome, relayed bytes included):
//! - nothing made for X is taken by Y's instance, nor the other way round: a
//!   message sealed for one topic is never read in the other, in any mode, even
//!   signed again for it; a reply made for one topic is never taken in the other;
//!   a rekey, a reply or an introduction is taken or answered only when its
//!   signature is one made for the topic that takes it;
//! - senders never answer an introduction made for the other topic.
//!
//! [`TopicsPrelude`]s start a case from histories that relay at the interesting
//! moments (a rotation, a rejoin in both topics, introductions, a restart).

use arbitrary::Arbitrary;

use crate::v2_structured::{
    chatter, plain_delivery, rotate, sealed_delivery, with_world, Action, Seal, Traffic, ALL, CAST,
};

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct TopicsCase {
    /// A history to start from (first, so that a seed input can pick it).
    prelude: TopicsPrelude,
    /// Both instances start with the same topic key (or none).
    receiver_has_key: bool,
    /// `% 4` messages of grace for the previous epoch; `None`: the default.
    grace: Option<u8>,
    /// Where each sender's counter starts (its stored mark), in both topics.
    starts: [Option<u64>; CAST],
    seed: u8,
    steps: Vec<Step>,
}

/// An action in one of the two topics.
#[derive(Arbitrary, Debug)]
pub struct Step {
    /// Topic Y (else X): whose receiver gets a delivery, whose cast acts.
    y: bool,
    action: Action,
}

/// Histories across the two topics.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TopicsPrelude {
    /// No history: the actions start on fresh casts.
    None,
    /// Chatter in X and Y; admin 1 rotates X, X's receiver takes it, Y's gets it as
    /// made and signed again by admin 1 for Y; chatter in X; X's messages to Y.
    Relay,
    /// Admin 1 rotates both topics, both receivers miss it; both forget their epoch
    /// and introduce themselves; member 4 replies in each; each reply goes to both
    /// receivers; chatter in both; X's messages to Y.
    Rejoin,
    /// Member 4 introduces itself in X and in Y; each introduction goes to both
    /// receivers (and, signed again for Y, X's to Y).
    Answer,
    /// Chatter in both; X's receiver restarts; each topic's messages to the other.
    Mirror,
}

const X: usize = 0;
const Y: usize = 1;

fn in_topic(steps: &mut Vec<(usize, Action)>, lane: usize, actions: Vec<Action>) {
    steps.extend(actions.into_iter().map(|a| (lane, a)));
}

fn chatter_in(steps: &mut Vec<(usize, Action)>, lane: usize, round: u8) {
    let mut a = Vec::new();
    chatter(&mut a, round);
    in_topic(steps, lane, a);
}

/// Plain deliveries to `lane` of messages `picks`, the oldest first (`pick` 0 is the
/// latest).
fn deliver_again(steps: &mut Vec<(usize, Action)>, lane: usize, picks: std::ops::Range<u8>) {
    for pick in picks.rev() {
        steps.push((lane, plain_delivery(pick)));
    }
}

/// Admin 1 rotates `lane` for everyone, every sender taking it.
fn rotation_in(steps: &mut Vec<(usize, Action)>, lane: usize) {
    let mut a = Vec::new();
    rotate(&mut a, 1, ALL, ALL);
    in_topic(steps, lane, a);
}

/// Signed again by cast member `member` for topic Y.
fn resign_for_y(member: u8) -> Seal {
    Seal::Resign { member, topic: 1 }
}

impl TopicsPrelude {
    fn steps(self) -> Vec<(usize, Action)> {
        let mut s = Vec::new();
        match self {
            TopicsPrelude::None => {}
            TopicsPrelude::Relay => relay(&mut s),
            TopicsPrelude::Rejoin => rejoin(&mut s),
            TopicsPrelude::Answer => answer(&mut s),
            TopicsPrelude::Mirror => {
                chatter_in(&mut s, X, 0);
                chatter_in(&mut s, Y, 0);
                s.push((X, Action::RestartReceiver { exact: false }));
                deliver_again(&mut s, Y, 5..10);
                deliver_again(&mut s, X, 0..5);
            }
        }
        s
    }
}

/// [`TopicsPrelude::Relay`].
fn relay(s: &mut Vec<(usize, Action)>) {
    chatter_in(s, X, 0);
    chatter_in(s, Y, 0);
    rotation_in(s, X);
    s.push((X, plain_delivery(0)));
    s.push((Y, plain_delivery(0)));
    s.push((Y, sealed_delivery(0, resign_for_y(1))));
    chatter_in(s, X, 1);
    deliver_again(s, Y, 0..5);
}

/// [`TopicsPrelude::Rejoin`].
fn rejoin(s: &mut Vec<(usize, Action)>) {
    rotation_in(s, X);
    rotation_in(s, Y);
    // A topic holding a key moves only through rekeys: both forget their epoch to
    // rejoin through a reply.
    s.push((X, Action::Forget));
    s.push((Y, Action::Forget));
    s.push((X, Action::Introduce));
    s.push((Y, Action::Introduce));
    // Pool: rekey X, rekey Y, intro X, intro Y, then each reply.
    for lane in [X, Y] {
        let reply = Action::Reply {
            replier: 4,
            pick: 1,
        };
        s.push((lane, reply));
    }
    s.push((Y, plain_delivery(1)));
    s.push((X, plain_delivery(0)));
    s.push((X, plain_delivery(1)));
    s.push((Y, plain_delivery(0)));
    chatter_in(s, X, 0);
    chatter_in(s, Y, 0);
    deliver_again(s, Y, 5..10);
}

/// [`TopicsPrelude::Answer`].
fn answer(s: &mut Vec<(usize, Action)>) {
    s.push((X, Action::SenderIntroduce(4)));
    s.push((Y, Action::SenderIntroduce(4)));
    s.push((X, plain_delivery(0)));
    s.push((Y, plain_delivery(1)));
    s.push((Y, sealed_delivery(1, resign_for_y(4))));
    // Pool: intro X, intro Y, Y's reply to the re-signed intro X.
    s.push((X, plain_delivery(2)));
    s.push((Y, plain_delivery(2)));
    chatter_in(s, X, 0);
}

/// Runs one fuzz case.
pub fn check(case: &TopicsCase) {
    with_world(|world| {
        let mut t = Traffic::new(
            world,
            &[X, Y],
            case.receiver_has_key,
            case.grace,
            case.seed,
            case.starts,
        );
        for (lane, action) in case.prelude.steps() {
            t.run(lane, &action);
        }
        for step in case.steps.iter().take(32) {
            t.run(usize::from(step.y), &step.action);
        }
        t.end();
    });
}
