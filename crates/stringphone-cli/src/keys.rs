//! `keygen`, `pubkey` and `topic-key`: making keys and saying who a seed is.

use stringphone::{SigningSeed, Topic, TopicKey};

use crate::args::{KeygenArgs, TopicKeyArgs};
use crate::error::Result;
use crate::files::{self, KeyKind};
use crate::stdio::out;

/// Writes a new signing seed, then prints its identity.
pub fn keygen(a: KeygenArgs) -> Result<()> {
    let seed = SigningSeed::generate();
    files::write_key(&a.seed_file, KeyKind::Seed, seed.expose_secret(), a.force)?;
    print_identity(seed)
}

/// Prints the public key, id and fingerprint of `seed`, as `keygen` and `pubkey` do.
pub fn print_identity(seed: SigningSeed) -> Result<()> {
    let topic = Topic::new(seed, None);
    let id = topic.id();
    out(&format!(
        "public-key  {}\nid          {id}\nfingerprint {}",
        topic.public_key(),
        id.fingerprint()
    ))
}

/// Writes a new topic key.
pub fn topic_key(a: TopicKeyArgs) -> Result<()> {
    let key = TopicKey::generate();
    files::write_key(&a.key_file, KeyKind::TopicKey, key.expose_secret(), a.force)?;
    out(&format!(
        "wrote a new topic key to {}",
        a.key_file.display()
    ))
}
