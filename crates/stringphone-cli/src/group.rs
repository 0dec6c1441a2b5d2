//! The v2 group as the command sees it: who is an admin, who is a member, who a
//! rotation keeps, and the right to send.
//!
//! Shared by `chat` (rekeys received, `/rotate`, `/remove`, `/admin`, `/group`), the
//! one-shot `stringphone rotate` and `trust list`. The group state itself (epoch, key,
//! members, admins) lives in the state directory's `group` file, and the core saves it
//! on every change before the change takes effect: nothing here saves it by hand. All
//! store access goes through the [`TrustStore`] trait.

use stringphone::protocol::MarkSlot;
use stringphone::v2::GroupState;
use stringphone::{Error, ParticipantId, PublicKey, Topic, TrustStore};

use crate::proto::{id_of, names_key, who};
use crate::Failure;

/// Takes the right to send as this identity from this state directory before anything
/// is sent: the store's sender lease, which the file store hands to the first handle
/// that stores this identity's counter mark, for as long as it lives. Storing one
/// above the mark found reserves one counter (the topic's own counters go on above it),
/// so a second process of the same identity on the same directory (a second chat, a
/// `stringphone rotate` beside a chat) is refused here, with the store's one line,
/// rather than at its first line typed.
pub fn claim_sending<S: TrustStore>(topic: &mut Topic<S>) -> Result<(), Failure> {
    let store = topic.trust_store_mut();
    let mark = store.load_mark(&MarkSlot::OwnCounter)?.unwrap_or(0);
    store.save_mark(MarkSlot::OwnCounter, mark.saturating_add(1))?;
    Ok(())
}

/// Why this topic may not rotate now, if it may not: rotation is v2, needs the current
/// key, and belongs to admins who are members of the current epoch (the core checks
/// the same; asking first lets a command refuse before it connects or changes trust).
pub fn rotation_refusal<S: TrustStore>(topic: &Topic<S>) -> Option<String> {
    let me = topic.id();
    if !topic.protocol().sends_v2() {
        return Some(
            "rotation is a v2 feature: run with --protocol v2 (or both); a classic topic \
             shuts someone out only with a new topic key"
                .into(),
        );
    }
    if topic.topic_key().is_none() {
        return Some("no topic key: only a member holding the current key can rotate".into());
    }
    if !topic.is_admin(&me) {
        return Some(format!(
            "this identity ({}) is not an admin of this topic: only admins rotate (whoever \
             started the topic with its key is one; others are named with `chat --admin` \
             or /admin by each member)",
            who(&me)
        ));
    }
    if !is_listed(topic, &me) {
        return Some(format!(
            "this identity was left out of epoch {}: an admin that is no longer a member \
             may not rotate",
            topic.epoch()
        ));
    }
    None
}

/// Whether `id` is a member of the current epoch: listed by the rotation that started
/// it, or (no list: the first epoch, or one joined through a reply) anyone.
pub fn is_listed<S: TrustStore>(topic: &Topic<S>, id: &ParticipantId) -> bool {
    topic.members().is_none_or(|mut m| m.any(|x| x == id))
}

/// Whether the current epoch lists its members (after a rotation).
pub fn lists_members<S: TrustStore>(topic: &Topic<S>) -> bool {
    topic.members().is_some()
}

/// The members a rotation keeps when it leaves out `removed`: the current epoch's list
/// when it has one (so a rotation never adds back someone another admin rotated out),
/// else every trusted participant; without `removed` and this identity (the rotation
/// adds it). A rotation seals the key to trusted keys only, so listed members this
/// identity does not trust are returned apart (second), to be said.
pub fn kept_members<S: TrustStore>(
    topic: &Topic<S>,
    removed: &[ParticipantId],
) -> Result<(Vec<ParticipantId>, Vec<ParticipantId>), Error> {
    let me = topic.id();
    let trusted: Vec<ParticipantId> = topic.participants()?.map(|(id, _)| id).collect();
    let base: Vec<ParticipantId> = match topic.members() {
        Some(members) => members.copied().collect(),
        None => trusted.clone(),
    };
    let (kept, untrusted): (Vec<_>, Vec<_>) = base
        .into_iter()
        .filter(|id| *id != me && !removed.contains(id))
        .partition(|id| trusted.contains(id));
    Ok((kept, untrusted))
}

/// `rotated <epoch> <admin id> <admin fp> <n> members`: the line for a rotation, made
/// here or accepted from an admin.
pub fn rotated_line<S: TrustStore>(topic: &Topic<S>, admin: &ParticipantId) -> String {
    let members = topic.members().map_or(0, |m| m.count());
    format!("rotated {} {} {members} members", topic.epoch(), who(admin))
}

/// What a name given by the user (a public key, an id, a fingerprint, or a prefix of
/// 4 or more hex digits of an id or fingerprint, dashes optional) designates among
/// participants (their ids, or their keys).
pub enum Found<T = ParticipantId> {
    /// Exactly one.
    One(T),
    /// Several match: the name is too short.
    Several,
    /// None.
    None,
}

/// Finds `name` among `ids` (see [`Found`]). A public key designates its id whether or
/// not it is among them.
pub fn find(name: &str, ids: impl IntoIterator<Item = ParticipantId>) -> Found {
    let name = name.trim().to_ascii_lowercase();
    if name.len() == 64 {
        if let Ok(key) = PublicKey::from_hex(&name) {
            return Found::One(id_of(&key));
        }
    }
    find_by(
        &name,
        ids,
        |id| *id,
        |name, id| name == id.to_string() || name == id.fingerprint().to_string(),
    )
}

/// Finds `name` among `keys` (see [`Found`]): a key named exactly (by public key, id
/// or fingerprint), or by a prefix of its id or fingerprint that only it has.
pub fn find_key<'k>(
    name: &str,
    keys: impl IntoIterator<Item = &'k PublicKey>,
) -> Found<&'k PublicKey> {
    find_by(
        name,
        keys,
        |key| id_of(key),
        |name, key| names_key(name, key),
    )
}

/// Finds `name` among `items`: those `exact` says it names, or whose id (`id_of`)
/// starts with it (4 hex digits or more, dashes dropped). Several distinct matches
/// are [`Found::Several`].
fn find_by<T: Copy + PartialEq>(
    name: &str,
    items: impl IntoIterator<Item = T>,
    id_of: impl Fn(&T) -> ParticipantId,
    exact: impl Fn(&str, &T) -> bool,
) -> Found<T> {
    let name = name.trim().to_ascii_lowercase();
    let bare = name.replace('-', "");
    let by_prefix = bare.len() >= 4 && bare.bytes().all(|b| b.is_ascii_hexdigit());
    let mut found: Option<T> = None;
    let mut several = false;
    for item in items {
        let matches =
            exact(&name, &item) || (by_prefix && id_of(&item).to_string().starts_with(&bare));
        if matches {
            if found.is_some_and(|f| f != item) {
                several = true;
            }
            found = Some(item);
        }
    }
    match (found, several) {
        (Some(_), true) => Found::Several,
        (Some(item), false) => Found::One(item),
        (None, _) => Found::None,
    }
}

/// Everyone a name may designate in a v2 group: the trusted participants, the current
/// epoch's members and the admins.
pub fn known_ids<S: TrustStore>(topic: &Topic<S>) -> Result<Vec<ParticipantId>, Error> {
    let mut ids: Vec<ParticipantId> = topic.participants()?.map(|(id, _)| id).collect();
    let state = topic.group_state();
    ids.extend(state.members().into_iter().flatten().copied());
    ids.extend(state.admins().copied());
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The group state kept in a store, if any (read through the trait, as `trust list`
/// does without an identity).
pub fn stored_state(store: &impl TrustStore) -> Result<Option<GroupState>, Failure> {
    match store.load_group_state()? {
        Some(bytes) => Ok(Some(GroupState::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}

/// The lines that describe a group state: `epoch <n> members <count>` (or `members
/// unlisted`: the trust store alone decides), then `member <id> <fp>` for each listed
/// member and `admin <id> <fp>` for each admin not listed, each followed by ` admin`
/// for a member that is one, and ` you` for `me`.
pub fn describe(state: &GroupState, me: Option<&ParticipantId>) -> Vec<String> {
    let you = |id: &ParticipantId| if Some(id) == me { " you" } else { "" };
    let members: Option<Vec<ParticipantId>> = state.members().map(|m| m.copied().collect());
    let admins: Vec<ParticipantId> = state.admins().copied().collect();
    let mut lines = vec![match &members {
        Some(m) => format!("epoch {} members {}", state.epoch(), m.len()),
        None => format!("epoch {} members unlisted", state.epoch()),
    }];
    for id in members.iter().flatten() {
        let admin = if admins.contains(id) { " admin" } else { "" };
        lines.push(format!("member {}{admin}{}", who(id), you(id)));
    }
    for id in &admins {
        if !members.as_ref().is_some_and(|m| m.contains(id)) {
            lines.push(format!("admin {}{}", who(id), you(id)));
        }
    }
    lines
}
