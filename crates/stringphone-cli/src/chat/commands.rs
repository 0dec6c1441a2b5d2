//! The `/` commands typed in a chat (but `/approve`, `/refuse` and `/pending`: see
//! `questions`).

use stringphone::PublicKey;

use super::Chat;
use crate::error::explain;
use crate::group::{self, find_key, Found};
use crate::proto::{id_of, parse_public_key, who, Discovery};

impl Chat {
    /// `/trust PUBLIC_KEY`, or the fingerprint (or id) of a key seen introducing itself.
    pub(super) fn trust_command(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            return eprintln!(
                "/trust needs a public key (64 hex digits), or the fingerprint of a participant \
                 that introduced itself here"
            );
        };
        let key = if name.trim().len() == 64 {
            match parse_public_key(name, "/trust") {
                Ok(key) => key,
                Err(e) => return eprintln!("{e}"),
            }
        } else {
            match find_key(name, self.seen.values()) {
                Found::One(key) => *key,
                Found::Several => {
                    return eprintln!("/trust: {name} matches several keys: give its public key")
                }
                Found::None => {
                    return eprintln!(
                        "/trust: no participant with fingerprint {name} introduced itself here: \
                         give its public key (its owner's `stringphone pubkey --seed-file SEED` \
                         prints it)"
                    )
                }
            }
        };
        if self.is_trusted(&key) {
            return eprintln!("/trust: {} is already trusted", who(&id_of(&key)));
        }
        self.trust(key, "by-command");
    }

    /// `/intro`: our classic introduction again, so that whoever approves newcomers
    /// (the original's example approves everyone) trusts us; a reply to it is checked
    /// as any reply to our introduction.
    pub(super) fn reintroduce(&mut self) {
        if self.topic.protocol().sends_v2() {
            return eprintln!(
                "/intro: only classic introductions can be sent again (v2 sends one on joining)"
            );
        }
        let seed = self.seed.clone();
        let discovery = self.discovery.get_or_insert_with(|| Discovery::new(seed));
        match discovery.intro() {
            Ok(intro) => {
                self.publish(&intro, None);
                self.show("intro-sent");
            }
            Err(e) => eprintln!("/intro: {e}"),
        }
    }

    /// `/rotate`: a new topic key for every trusted participant (admins).
    pub(super) fn rotate_command(&mut self, arg: Option<&str>) {
        if arg.is_some() {
            return eprintln!("/rotate takes no argument (/remove WHO leaves someone out)");
        }
        self.rotate_to(None, &[]);
    }

    /// `/remove WHO`: stops trusting WHO (and its admin right); an admin of a v2 topic
    /// also rotates to the remaining members, so that WHO reads nothing new.
    pub(super) fn remove_command(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            return eprintln!("/remove needs a participant: its fingerprint, id or public key");
        };
        let known = match group::known_ids(&self.topic) {
            Ok(ids) => ids,
            Err(e) => return eprintln!("/remove: {}", explain(&e)),
        };
        let id = match group::find(name, known.iter().copied()) {
            Found::One(id) if known.contains(&id) => id,
            Found::Several => {
                return eprintln!("/remove: {name} matches several participants: give more of it")
            }
            _ => return eprintln!("/remove: nobody trusted here, nor any member, is {name}"),
        };
        if id == self.topic.id() {
            return eprintln!("/remove: that is this very identity");
        }
        let v2 = self.topic.protocol().sends_v2();
        let rotation = if v2 && group::rotation_refusal(&self.topic).is_none() {
            match group::kept_members(&self.topic, &[id]) {
                Ok(kept) => Some(kept),
                Err(e) => return eprintln!("/remove: {}", explain(&e)),
            }
        } else {
            None
        };
        match self.topic.remove_participant(&id) {
            Ok(Some(_)) => self.show(&format!("removed {}", who(&id))),
            Ok(None) => {}
            Err(e) => return eprintln!("/remove: {}", explain(&e)),
        }
        match rotation {
            Some((kept, untrusted)) => self.rotate_to(Some(kept), &untrusted),
            None if v2 => eprintln!(
                "/remove: {} is no longer trusted here, but still holds the topic key \
                 until an admin rotates it out (/remove in an admin's chat, or \
                 `stringphone rotate --remove`)",
                who(&id)
            ),
            None => eprintln!(
                "/remove: {} is no longer trusted here, but still holds the topic key: a \
                 classic topic shuts someone out only with a new topic key",
                who(&id)
            ),
        }
    }

    /// `/admin WHO`: accepts the rotations of WHO from now on (and trusts it).
    pub(super) fn admin_command(&mut self, name: Option<&str>) {
        if !self.topic.protocol().accepts_v2() {
            return eprintln!("/admin: admins rotate v2 topics: chat with --protocol v2 (or both)");
        }
        let Some(name) = name else {
            return eprintln!(
                "/admin needs a public key (64 hex digits), or the fingerprint of a trusted \
                 participant (or of one that introduced itself here)"
            );
        };
        let key = if name.trim().len() == 64 {
            match parse_public_key(name, "/admin") {
                Ok(key) => key,
                Err(e) => return eprintln!("{e}"),
            }
        } else {
            let mut keys: Vec<PublicKey> = match self.topic.participants() {
                Ok(entries) => entries.map(|(_, key)| key).collect(),
                Err(e) => return eprintln!("/admin: {}", explain(&e)),
            };
            keys.extend(self.seen.values().copied());
            match find_key(name, keys.iter()) {
                Found::One(key) => *key,
                Found::Several => {
                    return eprintln!("/admin: {name} matches several keys: give its public key")
                }
                Found::None => {
                    return eprintln!(
                        "/admin: nobody trusted here (nor any participant that introduced \
                         itself) has fingerprint {name}: give its public key"
                    )
                }
            }
        };
        let id = id_of(&key);
        if self.topic.is_admin(&id) && self.is_trusted(&key) {
            return eprintln!("/admin: {} is already an admin", who(&id));
        }
        if !self.is_trusted(&key) && !self.trust(key, "by-command") {
            return;
        }
        match self.topic.add_admin(key) {
            Ok(_) => {
                self.show(&format!("admin {}", who(&id)));
                self.retry_rekeys(&id);
            }
            Err(e) => eprintln!("/admin: {}", explain(&e)),
        }
    }

    /// `/group`: the epoch, its members and the admins.
    pub(super) fn group_command(&mut self) {
        if !self.topic.protocol().accepts_v2() {
            return eprintln!("/group: a classic topic has no group (v2: --protocol v2 or both)");
        }
        let me = self.topic.id();
        for line in group::describe(&self.topic.group_state(), Some(&me)) {
            self.show(&line);
        }
    }

    /// `/rejoin`: forgets the key of the epoch we hold and introduces us again, for a
    /// member that can no longer follow the rotations (it missed one): a member of the
    /// current epoch answers with its key, or an admin's rotation lists us.
    pub(super) fn rejoin_command(&mut self) {
        if !self.topic.protocol().sends_v2() {
            return eprintln!("/rejoin is for v2 topics (classic: /intro)");
        }
        if let Err(e) = self.topic.forget_epoch() {
            return eprintln!("/rejoin: {}", explain(&e));
        }
        match self.topic.construct_intro() {
            Ok(intro) => {
                self.publish(&intro, None);
                self.show("intro-sent");
            }
            Err(e) => eprintln!("/rejoin: {}", explain(&e)),
        }
    }
}
