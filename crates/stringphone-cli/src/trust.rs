//! `trust add`, `trust remove` and `trust list`: whom the state directory trusts.

use std::path::Path;

use stringphone::{ParticipantId, PublicKey, SigningSeed, Topic, TrustStore};
use stringphone_store_sqlite::SqliteTrustStore;

use crate::args::TrustCommand;
use crate::error::{explain, Failure, Result};
use crate::group;
use crate::proto::{self, id_of, who};
use crate::stdio::{out, out_bytes};

/// A participant named on the command line by key, id or fingerprint.
fn resolve(text: &str, entries: &[(ParticipantId, PublicKey)]) -> Result<ParticipantId> {
    let t = text.trim().to_ascii_lowercase();
    match t.len() {
        64 => Ok(id_of(&PublicKey::from_hex(&t).map_err(|e| {
            Failure::new(format!("{text:?} is not a public key: {e}"))
        })?)),
        32 => ParticipantId::from_hex(&t)
            .map_err(|e| Failure::new(format!("{text:?} is not a participant id: {e}"))),
        19 => {
            let found: Vec<_> = entries
                .iter()
                .filter(|(id, _)| id.fingerprint().to_string() == t)
                .collect();
            match found.as_slice() {
                [(id, _)] => Ok(*id),
                [] => Err(Failure::new(format!(
                    "no trusted participant has fingerprint {t}"
                ))),
                _ => Err(Failure::new(format!(
                    "several trusted participants have fingerprint {t}: name one by id"
                ))),
            }
        }
        _ => Err(Failure::new(format!(
            "{text:?} is neither a public key (64 hex digits), an id (32) nor a fingerprint \
             (xxxx-xxxx-xxxx-xxxx)"
        ))),
    }
}

/// Runs `trust add`, `trust remove` or `trust list` on the state directory's store.
pub fn run(command: TrustCommand, state: &Path) -> Result<()> {
    let store = proto::open_store(state)?;
    match command {
        TrustCommand::Add { keys } => add(store, &keys),
        TrustCommand::Remove { who: names } => remove(store, &names),
        TrustCommand::List => list(&store),
    }
}

/// `trust add`: every key checked before any is trusted.
fn add(mut store: SqliteTrustStore, keys: &[String]) -> Result<()> {
    // Check them all before changing anything.
    let keys = keys
        .iter()
        .map(|k| proto::parse_public_key(k, "key"))
        .collect::<Result<Vec<_>>>()?;
    for key in keys {
        let id = id_of(&key);
        store.insert(id, key)?;
        out(&format!("trusted {}", who(&id)))?;
    }
    Ok(())
}

/// `trust remove`: all or nothing, every name a trusted participant before anything is
/// removed; a v2 group's members are told to be rotated out.
fn remove(store: SqliteTrustStore, names: &[String]) -> Result<()> {
    let entries = store.entries()?;
    let mut ids: Vec<ParticipantId> = Vec::new();
    for name in names {
        let id = resolve(name, &entries)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !entries.iter().any(|(trusted, _)| trusted == *id))
        .map(who)
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::new(format!(
            "{} {} not trusted: nothing removed",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" }
        )));
    }
    let group = group::stored_state(&store)?;
    remove_all(store, &ids)?;
    for id in &ids {
        out(&format!("removed {}", who(id)))?;
    }
    if let Some(group) = group {
        for id in &ids {
            eprintln!(
                "note: {} still holds the key of epoch {}: an admin shuts it out by \
                 rotating (`stringphone rotate --remove`, or /remove in a chat)",
                who(id),
                group.epoch()
            );
        }
    }
    Ok(())
}

/// `trust list`: each trusted participant with its roles in the v2 group, then the
/// group's epoch and the members and admins the store does not trust.
fn list(store: &SqliteTrustStore) -> Result<()> {
    let group = group::stored_state(store)?;
    let entries = store.entries()?;
    let admins: Vec<ParticipantId> = group
        .iter()
        .flat_map(|g| g.admins().copied().collect::<Vec<_>>())
        .collect();
    let members: Option<Vec<ParticipantId>> = group
        .as_ref()
        .and_then(|g| g.members().map(|m| m.copied().collect()));
    let roles = |id: &ParticipantId| {
        let mut roles = String::new();
        if admins.contains(id) {
            roles.push_str(" admin");
        }
        if members.as_ref().is_some_and(|m| m.contains(id)) {
            roles.push_str(" member");
        }
        roles
    };
    let mut text = String::new();
    for (id, key) in &entries {
        text.push_str(&format!("{} {key}{}\n", who(id), roles(id)));
    }
    if let Some(group) = &group {
        let trusted = |id: &ParticipantId| entries.iter().any(|(t, _)| t == id);
        text.push_str(&untrusted_group(
            group.epoch(),
            members.as_deref(),
            &admins,
            trusted,
        ));
    }
    out_bytes(text.as_bytes(), false)
}

/// The v2 group's lines of `trust list`: its epoch, then the members and admins the
/// trust store does not hold (this identity, typically).
fn untrusted_group(
    epoch: u32,
    members: Option<&[ParticipantId]>,
    admins: &[ParticipantId],
    trusted: impl Fn(&ParticipantId) -> bool,
) -> String {
    let mut text = match members {
        Some(m) => format!("epoch {epoch} members {}\n", m.len()),
        None => format!("epoch {epoch} members unlisted\n"),
    };
    for id in members.iter().copied().flatten().filter(|id| !trusted(id)) {
        let admin = if admins.contains(id) { " admin" } else { "" };
        text.push_str(&format!("member {}{admin}\n", who(id)));
    }
    let listed = |id: &ParticipantId| members.is_some_and(|m| m.contains(id));
    for id in admins.iter().filter(|id| !trusted(id) && !listed(id)) {
        text.push_str(&format!("admin {}\n", who(id)));
    }
    text
}

/// Removes every one of `ids`, or (putting back what it had removed) none. Goes
/// through a topic, so that an admin of the v2 group kept in the directory loses that
/// right too (the core saves the group state first): trusting it again later does not
/// give the right back. The group state does not depend on whose identity edits it, so
/// a scratch one does (it sends nothing, and keeps the stored counter reservation).
fn remove_all<S: TrustStore>(store: S, ids: &[ParticipantId]) -> Result<()> {
    let mut topic = Topic::with_store(SigningSeed::generate(), None, store);
    let mut removed: Vec<(ParticipantId, PublicKey)> = Vec::new();
    let mut failure = None;
    for id in ids {
        match topic.remove_participant(id) {
            Ok(Some(key)) => removed.push((*id, key)),
            Ok(None) => {
                failure = Some(format!(
                    "{} was removed meanwhile by another process: nothing removed",
                    who(id)
                ));
                break;
            }
            Err(e) => {
                failure = Some(format!("{}: nothing removed", explain(&e)));
                break;
            }
        }
    }
    let Some(failure) = failure else {
        return Ok(());
    };
    for (id, key) in &removed {
        if let Err(e) = topic.trust_store_mut().insert(*id, *key) {
            return Err(Failure::new(format!(
                "{failure}, but {} could not be trusted again ({e}): add it back with \
                 `stringphone trust add {key}`",
                who(id)
            )));
        }
    }
    Err(Failure::new(failure))
}
