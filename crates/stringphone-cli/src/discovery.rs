//! `intro`, `reply` and `accept-reply`: classic discovery from the shell, one message
//! a step, the introduction's secret kept in the state directory in between.

use std::path::Path;

use stringphone::{Error, Message, Topic, TrustStore};

use crate::args::{AcceptReplyArgs, IntroArgs, ReplyArgs};
use crate::error::{Failure, Result};
use crate::files::{self, read_seed, read_topic_key, KeyKind};
use crate::proto::{self, fingerprint, id_of, names_key, who, Discovery};
use crate::stdio::{out, out_bytes, read_wire, refuse_binary_to_terminal};

pub fn intro(a: IntroArgs, state: &Path) -> Result<()> {
    refuse_binary_to_terminal(a.hex)?;
    let seed = read_seed(&a.seed_file)?;
    let id = Topic::new(seed.clone(), None).id();
    let discovery = Discovery::new(seed);
    let message = discovery.intro()?;
    let path = files::pending_path(state, &id);
    files::create_private_dir(path.parent().unwrap_or(state))?;
    files::write_key(
        &path,
        KeyKind::IntroSecret,
        discovery.secret().expose_secret(),
        true,
    )?;
    eprintln!(
        "introduction of {}; its secret is kept in {} until `accept-reply`",
        who(&id),
        path.display()
    );
    out_bytes(&message, a.hex)
}

pub fn reply(a: ReplyArgs, state: &Path) -> Result<()> {
    refuse_binary_to_terminal(a.hex)?;
    let seed = read_seed(&a.seed_file)?;
    let key = read_topic_key(&a.key_file)?;
    let intro = read_wire(a.hex, "introduction")?;
    let parsed = Message::parse(&intro).map_err(stringphone::Error::from)?;
    let Message::Introduction(newcomer) = parsed else {
        let hint = if matches!(parsed, Message::Simple(_)) {
            ": read it with `stringphone decode`"
        } else if matches!(parsed, Message::IntroductionReply(_)) {
            ": open it with `stringphone accept-reply`"
        } else if matches!(parsed, Message::V2(_)) {
            " (`reply` answers classic introductions; v2 discovery runs in `chat --protocol v2`)"
        } else {
            ""
        };
        return Err(Failure::new(format!(
            "this is {}, not an introduction{hint}",
            parsed.message_type()
        )));
    };
    let newcomer_key = newcomer.sender_key();
    // Never trust a key before its introduction is known to be signed by it.
    stringphone::verify_signature::<stringphone::DefaultBackend>(
        &newcomer_key,
        newcomer.encryption_key().as_bytes(),
        newcomer.signature(),
    )
    .map_err(|_| Failure::new("the introduction's signature does not verify: forged or damaged"))?;
    let newcomer_id = id_of(&newcomer_key);
    let mut topic = Topic::with_store(seed, Some(key), proto::open_store(state)?);
    if topic.trusted_key(&newcomer_id)? != Some(newcomer_key) {
        match &a.approve {
            Some(approved) if names_key(approved, &newcomer_key) => {
                topic.add_participant(newcomer_key)?;
                eprintln!("trusted newcomer {}", who(&newcomer_id));
            }
            Some(approved) => {
                return Err(Failure::new(format!(
                    "the newcomer's fingerprint is {}, not {}: not approved, no reply sent",
                    newcomer_id.fingerprint(),
                    approved.trim()
                )))
            }
            None => {
                return Err(Failure::new(format!(
                    "newcomer {newcomer_id} (fingerprint {}) is not trusted: compare its \
                     fingerprint out of band, then run again with --approve {}",
                    newcomer_id.fingerprint(),
                    newcomer_id.fingerprint()
                )))
            }
        }
    }
    let reply = topic.construct_reply(&intro)?;
    out_bytes(&reply, a.hex)
}

pub fn accept_reply(a: AcceptReplyArgs, state: &Path) -> Result<()> {
    let seed = read_seed(&a.seed_file)?;
    let id = Topic::new(seed.clone(), None).id();
    if !a.force && std::fs::symlink_metadata(&a.key_file).is_ok() {
        return Err(Failure::new(format!(
            "topic key file {} already exists: refusing to overwrite it (use --force to replace it)",
            a.key_file.display()
        )));
    }
    let reply = read_wire(a.hex, "reply")?;
    let pending = files::pending_path(state, &id);
    if !pending.exists() {
        return Err(Failure::new(format!(
            "no introduction is pending for {} in {}: run `stringphone intro` first",
            who(&id),
            state.display()
        )));
    }
    let secret = files::read_key(&pending, KeyKind::IntroSecret, |s| {
        stringphone::BoxSecret::from_hex(s)
    })?;
    let discovery = Discovery::restore(seed, secret);
    let (replier, key) = discovery.open(&reply).map_err(|e| match e {
        Error::NotForUs { recipient } => Failure::new(format!(
            "this reply is for participant {recipient}, not for {id}"
        )),
        Error::DecryptFailed => Failure::new(
            "the reply does not open with our introduction's secret: it answers another \
             introduction, or it was tampered with",
        ),
        Error::WrongType { found, .. } => {
            Failure::new(format!("this is {found}, not an introduction reply"))
        }
        other => Failure::from(other),
    })?;
    files::write_key(&a.key_file, KeyKind::TopicKey, key.expose_secret(), a.force)?;
    let _ = std::fs::remove_file(&pending);
    let replier_id = id_of(&replier);
    if a.trust_replier {
        let mut store = proto::open_store(state)?;
        if stringphone::rule::public_key_passes(replier.as_bytes()) {
            store.insert(replier_id, replier)?;
            eprintln!("trusted replier {}", who(&replier_id));
        } else {
            return Err(Failure::new(format!(
                "the topic key was saved to {}, but the replier's key is not a usable public \
                 key: not trusted",
                a.key_file.display()
            )));
        }
    }
    eprintln!("topic key saved to {}", a.key_file.display());
    out(&format!(
        "replier {replier} {} {}",
        replier_id,
        fingerprint(&replier)
    ))
}
