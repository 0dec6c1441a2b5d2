//! The security review of issue 11's rebuild, on a real state directory: what a
//! restart must keep of the v2 group state (`docs/protocol-v2.md`: "A topic built on a
//! persistent trust store (`stringphone-store-file`, ...) saves its group state on
//! every change and resumes it on the first v2 operation after a restart"). Asserts the
//! SECURE outcome; failed on the code it was written against.

use stringphone_core::DecodeMode;
use stringphone_testkit::TempDir as Dir;

mod common;
use common::{first_key, start as start_with, T};

/// A process starting as identity `seed` on `dir`, with the key it was first given.
fn start(dir: &Dir, seed: u8) -> T {
    start_with(dir, seed, Some(&first_key()))
}

/// Alice (admin) removes Carol and rotates; Bob accepts (epoch 1: Alice and Bob). Bob's
/// process restarts on his state directory. What must hold: he resumes epoch 1 with
/// its key and Alice as his admin; removed Carol (holding epoch 0's key) reads nothing
/// he sends.
#[test]
fn a_restart_on_a_state_directory_resumes_the_group_state() {
    let (a, b, c) = (
        Dir::new("store-redteam-a"),
        Dir::new("store-redteam-b"),
        Dir::new("store-redteam-c"),
    );
    let mut alice = start(&a, 1);
    let mut bob = start(&b, 2);
    let mut carol = start(&c, 3);
    alice.add_participant(bob.public_key()).unwrap();
    carol.add_participant(bob.public_key()).unwrap();
    bob.add_admin(alice.public_key()).unwrap();
    bob.add_participant(carol.public_key()).unwrap();
    bob.accept_rekey(&alice.rotate(None).unwrap()).unwrap();
    assert_eq!(bob.epoch(), 1);
    drop(bob);

    let mut bob = start(&b, 2);
    assert_eq!(bob.epoch(), 1, "the restart lost the epoch");
    assert!(bob.is_admin(&alice.id()), "the restart lost the admin");
    let m = bob.encode("not for Carol").unwrap();
    let by_carol = carol.decode(&m, DecodeMode::Strict);
    assert!(
        by_carol.is_err(),
        "Carol, not in epoch 1, read Bob after his restart"
    );
}
