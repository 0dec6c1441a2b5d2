//! `encode` and `decode`: one message from stdin to stdout.

use std::path::Path;

use stringphone::{DecodeMode, Decoded, MemoryTrustStore, Topic, TrustStore};

use crate::args::{DecodeArgs, EncodeArgs};
use crate::error::{Failure, Result};
use crate::files::{read_seed, read_topic_key};
use crate::proto::{self, id_of, who, CliStore, Protocol};
use crate::stdio::{out_bytes, read_stdin, read_wire, refuse_binary_to_terminal};

/// The v2 topic id of `--topic`, which v2 needs.
fn v2_topic(name: Option<&str>) -> Result<stringphone::v2::TopicId> {
    name.map(proto::topic_id).ok_or_else(|| {
        Failure::new(
            "v2 needs --topic NAME: the topic's name (the MQTT topic or room), the same for every participant",
        )
    })
}

/// `encode`: encrypts and signs stdin, writes the wire message to stdout.
pub fn encode(a: EncodeArgs, state: Option<&Path>) -> Result<()> {
    refuse_binary_to_terminal(a.hex)?;
    let seed = read_seed(&a.message.seed_file)?;
    let key = read_topic_key(&a.message.key_file)?;
    let plaintext = read_stdin()?;
    let Some(state) = state else {
        let mut topic = Topic::new(seed, Some(key));
        return out_bytes(&topic.encode(&plaintext)?, a.hex);
    };
    // v2: the counter comes from the state directory's marks, so it never repeats
    // across runs; the exact mark is stored back so that the next run goes on at +1.
    let mut topic = Topic::with_store(seed, Some(key), proto::open_store(state)?);
    topic.set_protocol(a.protocol.version());
    topic.set_topic_id(v2_topic(a.message.topic.as_deref())?)?;
    let wire = topic.encode(&plaintext)?;
    if let Err(e) = topic.save_replay_marks() {
        // Harmless: the block reserved before encoding stays stored; counters skip it.
        eprintln!("warning: {}", Failure::from(e));
    }
    out_bytes(&wire, a.hex)
}

/// `decode`: checks and opens the message on stdin, writes its plaintext to stdout
/// and says its sender on stderr.
pub fn decode(a: DecodeArgs, state: &Path) -> Result<()> {
    let seed = read_seed(&a.message.seed_file)?;
    let key = read_topic_key(&a.message.key_file)?;
    let store = CliStore {
        extra: trusted_for_this_run(&a.trust)?,
        db: proto::open_store(state)?,
    };
    let message = read_wire(a.hex, "message")?;
    let mut topic = Topic::with_store(seed, Some(key), store);
    topic.set_protocol(a.protocol.version());
    if a.protocol != Protocol::Classic {
        topic.set_topic_id(v2_topic(a.message.topic.as_deref())?)?;
    }
    let mode = if a.naive {
        DecodeMode::Naive
    } else if a.ignore_untrusted {
        DecodeMode::IgnoreUntrusted
    } else {
        DecodeMode::Strict
    };
    // A refused message stores nothing (core moves a sender's mark only once the
    // message opened), so a wrong key file does not make the sender's next messages
    // look old.
    // Written without an exhaustive match, so that a future kind of outcome is a
    // refusal here rather than a compile error.
    let decoded = topic.decode(&message, mode)?;
    // Accepted: store the exact mark, so that the sender's next message is not taken
    // for an old one by the next run. Failing that, the mark stored ahead stays,
    // which refuses no replay but may refuse the sender's next messages.
    if let Err(e) = topic.save_replay_marks() {
        eprintln!("warning: {}", Failure::from(e));
    }
    print_decoded(decoded)
}

/// The `--trust` keys, in a store of their own for this run.
fn trusted_for_this_run(keys: &[String]) -> Result<MemoryTrustStore> {
    let mut extra = MemoryTrustStore::new();
    for text in keys {
        let pk = proto::parse_public_key(text, "--trust")?;
        extra.insert(id_of(&pk), pk)?;
    }
    Ok(extra)
}

/// What `decode` says of what it decoded: the plaintext on stdout and its sender on
/// stderr, or why there is nothing to print.
fn print_decoded(decoded: Decoded<Vec<u8>>) -> Result<()> {
    if let Decoded::Message {
        sender,
        verified,
        plaintext,
    } = decoded
    {
        if verified {
            eprintln!("from {}", who(&sender));
        } else {
            eprintln!(
                "warning: NOT verified (--naive): the message claims to be from {}",
                who(&sender)
            );
        }
        return out_bytes(&plaintext, false);
    }
    if let Decoded::Ignored { sender } = decoded {
        eprintln!("ignored: sender {} is not trusted", who(&sender));
        return Ok(());
    }
    if matches!(decoded, Decoded::Own) {
        return Err(Failure::new(
            "this message was sent by this very identity: it is not decoded",
        ));
    }
    Err(Failure::new("this message holds nothing to print"))
}
