//! The one-time import of a state directory written by the text store of earlier
//! versions (`trust`, `marks`, `group`): the first command that needs the state moves
//! everything into `state.db` and says so on one line; the old files are left byte for
//! byte; later commands never import again (a participant removed after the import
//! stays removed); a damaged text store is refused and nothing is created.

mod common;

use std::fs;
use std::path::Path;

use common::{keygen, ok, run, TempDir};
use stringphone::protocol::MarkSlot;
use stringphone::v2::{ProtocolVersion, TopicId};
use stringphone::{ParticipantId, PublicKey, SigningSeed, Topic, TopicKey, TrustStore};
use stringphone_store_file::FileTrustStore;
use stringphone_store_sqlite::SqliteTrustStore;

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_text_state_directory_is_imported_once_and_left_as_it_was() {
    let dir = TempDir::created("import");
    let home = dir.path();
    let state = dir.join("state");
    let (alice_hex, alice_id, _) = keygen(home, &dir.join("alice.seed"));
    let (bob_hex, bob_id, _) = keygen(home, &dir.join("bob.seed"));
    let alice = PublicKey::from_hex(&alice_hex).unwrap();
    let bob = PublicKey::from_hex(&bob_hex).unwrap();

    let group = a_text_store_of_an_earlier_version(&state, alice, &alice_id, bob);
    let before = files_of(&state);
    assert!(before.iter().any(|(name, _)| name == "group"), "{before:?}");

    the_first_command_imports_it(home, &state, [&alice_id, &bob_id], &group);
    // The old files, byte for byte (the database and its companions are new).
    let after: Vec<_> = files_of(&state)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("state.db"))
        .collect();
    assert_eq!(after, before);
    assert!(
        !files_of(&state).iter().any(|(n, _)| n.contains("import")),
        "the import's temporary database was left behind"
    );
    a_removal_after_the_import_stays(home, &state, &alice_id, &bob_id);
}

/// The state an earlier version left in `state`: Alice and Bob trusted, a mark for
/// Alice (`alice_id`), and a v2 group state (returned).
fn a_text_store_of_an_earlier_version(
    state: &Path,
    alice: PublicKey,
    alice_id: &str,
    bob: PublicKey,
) -> Vec<u8> {
    let mut text = FileTrustStore::open(state).unwrap();
    text.insert(stringphone_store_file::participant_id(&alice), alice)
        .unwrap();
    text.insert(stringphone_store_file::participant_id(&bob), bob)
        .unwrap();
    text.store_mark(
        MarkSlot::Received(ParticipantId::from_hex(alice_id).unwrap()),
        4242,
    )
    .unwrap();
    let mut t = Topic::with_store(
        SigningSeed::from_bytes([9; 32]),
        Some(TopicKey::from_bytes([1; 32])),
        text,
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(b"home/kitchen")).unwrap();
    t.rotate(None).unwrap();
    let bytes = t.group_state().to_bytes().to_vec();
    drop(t); // the lease taken by the rotation ends here
    bytes
}

/// The first command that needs the state (`trust list`) imports it, saying so on
/// one line, and lists both; everything arrived in the database.
fn the_first_command_imports_it(home: &Path, state: &Path, ids: [&str; 2], group: &[u8]) {
    let listed = run(
        home,
        &["--state-dir", state.to_str().unwrap(), "trust", "list"],
        b"",
    );
    let stdout = ok(&listed);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(
        stderr.contains("imported the text store of")
            && stderr.contains("(2 trusted, 2 replay marks, a v2 group state)")
            && stderr.contains("its files are left as they were"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stdout.contains(ids[0]) && stdout.contains(ids[1]),
        "{stdout}"
    );
    let db = SqliteTrustStore::open(state.join("state.db")).unwrap();
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.trust.len(), 2);
    assert_eq!(
        snap.marks.get(&MarkSlot::Received(
            ParticipantId::from_hex(ids[0]).unwrap()
        )),
        Some(&4242)
    );
    assert!(snap.marks.contains_key(&MarkSlot::OwnCounter));
    assert_eq!(snap.group_state.as_ref().map(|g| &g[..]), Some(group));
}

/// Never again: a removal after the import stays, and the text store (not written
/// to any more) still holds Bob.
fn a_removal_after_the_import_stays(home: &Path, state: &Path, alice_id: &str, bob_id: &str) {
    let state_dir = state.to_str().unwrap();
    let removed = run(
        home,
        &["--state-dir", state_dir, "trust", "remove", bob_id],
        b"",
    );
    ok(&removed);
    assert!(
        !String::from_utf8_lossy(&removed.stderr).contains("imported"),
        "imported twice"
    );
    let listed = run(home, &["--state-dir", state_dir, "trust", "list"], b"");
    let stdout = ok(&listed);
    // Trusted participants' lines start with their id (Bob may still be named on a
    // `member` line of the v2 epoch, which trust does not change).
    let trusted = |id: &str| stdout.lines().any(|l| l.starts_with(id));
    assert!(trusted(alice_id) && !trusted(bob_id), "{stdout}");
    assert!(
        listed.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(
        FileTrustStore::open(state)
            .unwrap()
            .entries()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_damaged_text_store_is_refused_and_nothing_is_created() {
    let dir = TempDir::created("import-damaged");
    let home = dir.path();
    let state = dir.join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("trust"), "stringphone-trust 1\nend 3\n").unwrap();
    let out = run(
        home,
        &["--state-dir", state.to_str().unwrap(), "trust", "list"],
        b"",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot import the text store") && stderr.contains("corrupt"),
        "{stderr}"
    );
    assert_eq!(
        files_of(&state),
        vec![(
            "trust".to_string(),
            b"stringphone-trust 1\nend 3\n".to_vec()
        )]
    );
}

#[test]
fn a_new_state_directory_gets_a_database_and_no_import_line() {
    let dir = TempDir::created("import-none");
    let home = dir.path();
    let state = dir.join("state");
    let (alice_hex, _, _) = keygen(home, &dir.join("alice.seed"));
    let out = run(
        home,
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "trust",
            "add",
            &alice_hex,
        ],
        b"",
    );
    ok(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.join("state.db").exists());
    assert!(!state.join("trust").exists());
}
