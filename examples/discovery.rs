//! The original's "Discovery" session: Bob joins without the topic key and gets it
//! from Alice.
//!
//! Run it with `cargo run --example discovery`.

use stringphone::{DecodeMode, Error, Message, Topic, TopicKey};

// Whole on purpose (71 lines): it replays the original's "Discovery" session call by
// call, printing each step in the documented order, so it reads as the session does;
// split into functions, a reader would jump about to follow it.
fn main() -> Result<(), Error> {
    // Alice has the topic key, Bob has nothing but a fresh identity.
    let mut alice = Topic::generate(Some(TopicKey::generate()));
    let mut bob = Topic::generate(None);
    println!(
        "alice: {}  bob: {}",
        alice.id().fingerprint(),
        bob.id().fingerprint()
    );

    // Bob asks for the key with an introduction.
    let intro = bob.construct_intro()?;
    println!("bob.construct_intro() -> {} bytes", intro.len());

    // Alice's decode tells her this is an introduction, not a message.
    match alice.decode(&intro, DecodeMode::Strict) {
        Err(e @ Error::Introduction) => println!("alice.decode(intro) -> refused as expected: {e}"),
        other => panic!("expected an introduction, got {other:?}"),
    }

    // She looks at who it is from. A real application asks its user here (comparing
    // the fingerprint out of band) or trusts newcomers only during a pairing window.
    let message = Message::parse(&intro)?;
    let bob_key = message.sender_key().ok_or(Error::Introduction)?;
    println!("the introduction's sender key: {bob_key}");

    // Replying before trusting Bob is refused: a reply hands over the whole topic.
    match alice.construct_reply(&intro) {
        Err(e @ Error::UntrustedSender(_)) => {
            println!("alice.construct_reply(intro) before trusting -> refused as expected: {e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    alice.add_participant(bob_key)?;
    let reply = alice.construct_reply(&intro)?;
    println!(
        "alice.add_participant(bob); alice.construct_reply(intro) -> {} bytes",
        reply.len()
    );

    // Bob's decode tells him this is a reply.
    match bob.decode(&reply, DecodeMode::Strict) {
        Err(e @ Error::IntroductionReply) => {
            println!("bob.decode(reply) -> refused as expected: {e}")
        }
        other => panic!("expected a reply, got {other:?}"),
    }

    // Bob installs the key, and trusts the participant who sent it.
    let replier = bob.parse_reply(&reply)?;
    println!(
        "bob.parse_reply(reply) -> key installed: {}",
        bob.topic_key().is_some()
    );
    bob.add_participant(replier)?;

    // Now they talk.
    let message = bob.encode(b"Hey, Alice! Thanks for the key!")?;
    let text = alice
        .decode(&message, DecodeMode::Strict)?
        .plaintext()
        .unwrap_or_default();
    println!("alice.decode -> {:?}", String::from_utf8_lossy(&text));
    let message = alice.encode(b"Hey Bob! No problem!")?;
    let text = bob
        .decode(&message, DecodeMode::Strict)?
        .plaintext()
        .unwrap_or_default();
    println!("bob.decode -> {:?}", String::from_utf8_lossy(&text));
    Ok(())
}
