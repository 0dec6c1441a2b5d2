//! The original's "Getting started" session, step by step: Alice and Bob already share
//! a topic key and learn to trust each other.
//!
//! Run it with `cargo run --example quickstart`.

use stringphone::{DecodeMode, Decoded, Error, SigningSeed, Topic, TopicKey};

fn show(step: &str, result: Result<Decoded<Vec<u8>>, Error>) {
    match result {
        Ok(Decoded::Message {
            sender, plaintext, ..
        }) => println!(
            "{step}\n    -> {:?} (from {})",
            String::from_utf8_lossy(&plaintext),
            sender.fingerprint()
        ),
        Ok(Decoded::Ignored { sender }) => {
            println!(
                "{step}\n    -> nothing: ignored the untrusted sender {}",
                sender.fingerprint()
            )
        }
        Ok(Decoded::Own) => println!("{step}\n    -> nothing: our own message"),
        // `Decoded` grows with the protocol (`#[non_exhaustive]`).
        Ok(other) => println!("{step}\n    -> {other:?}"),
        Err(e) => println!("{step}\n    -> refused as expected: {e}"),
    }
}

// Whole on purpose (73 lines): it replays the original's "Getting started" session
// call by call, printing each step in the documented order, so it reads as the
// session does; split into functions, a reader would jump about to follow it.
fn main() -> Result<(), Error> {
    // A topic key to share between the participants (OS randomness).
    let topic_key = TopicKey::generate();
    println!("topic key: {topic_key:?} (secrets never print)");

    // Each participant keeps a signing seed: its identity.
    let alice_seed = SigningSeed::generate();
    let bob_seed = SigningSeed::generate();

    let mut alice = Topic::new(alice_seed, Some(topic_key.clone()));
    let mut bob = Topic::new(bob_seed, Some(topic_key));
    println!(
        "alice: id {} fingerprint {}",
        alice.id(),
        alice.id().fingerprint()
    );
    println!(
        "bob:   id {} fingerprint {}",
        bob.id(),
        bob.id().fingerprint()
    );

    // Alice encrypts and signs a message for Bob.
    let alice_message = alice.encode("Hi Bob!")?;
    println!(
        "alice.encode(\"Hi Bob!\") -> {} bytes on the wire",
        alice_message.len()
    );

    // Bob has never seen Alice and does not trust her.
    show(
        "bob.decode(alice_message, Strict)",
        bob.decode(&alice_message, DecodeMode::Strict),
    );
    // Decrypting without checking who wrote it: VERY VERY BAD, but possible.
    show(
        "bob.decode(alice_message, Naive)",
        bob.decode(&alice_message, DecodeMode::Naive),
    );
    // Or quietly skip messages from strangers.
    show(
        "bob.decode(alice_message, IgnoreUntrusted)",
        bob.decode(&alice_message, DecodeMode::IgnoreUntrusted),
    );

    // Bob trusts Alice's public key, received over some secure channel.
    bob.add_participant(alice.public_key())?;
    println!("bob.add_participant(alice.public_key())");
    show(
        "bob.decode(alice_message, Strict)",
        bob.decode(&alice_message, DecodeMode::Strict),
    );

    // Bob answers; Alice does not trust him yet.
    let bob_message = bob.encode("Hey Alice!")?;
    show(
        "alice.decode(bob_message, Strict)",
        alice.decode(&bob_message, DecodeMode::Strict),
    );
    alice.add_participant(bob.public_key())?;
    println!("alice.add_participant(bob.public_key())");
    show(
        "alice.decode(bob_message, Strict)",
        alice.decode(&bob_message, DecodeMode::Strict),
    );

    // Channels echo a publisher's own messages back; those are recognised.
    show(
        "alice.decode(alice_message, Strict)",
        alice.decode(&alice_message, DecodeMode::Strict),
    );
    Ok(())
}
