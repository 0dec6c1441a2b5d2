//! The store's unit tests: formats, atomic writes, the marks policy, the lease.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use stringphone_core::{MarkSlot, ParticipantId, PublicKey, StoreError, TrustStore};
use stringphone_testkit::damage;
use stringphone_testkit::store::group_state;

use crate::group::{parse_group, serialize_group};
use crate::marks::{parse_marks, serialize_marks, MarkEntry};
use crate::text::hex;
use crate::*;

fn key(n: u8) -> (ParticipantId, PublicKey) {
    let key = PublicKey::from_bytes([n; 32]);
    (participant_id(&key), key)
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Whether `err` is a failure of the filesystem call `action`.
fn is_io(err: &FileStoreError, action: &str) -> bool {
    matches!(err, FileStoreError::Io { action: a, .. } if *a == action)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sp-store-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn round_trip_and_format() {
    let dir = temp_dir("rt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    assert!(!dir.exists(), "opening creates nothing");
    let (a, ka) = key(1);
    let (b, kb) = key(2);
    s.insert(a, ka).unwrap();
    s.insert(b, kb).unwrap();
    let text = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
    assert!(text.starts_with("stringphone-trust 1\n"));
    assert!(text.ends_with("end 2\n"));
    assert_eq!(text.lines().count(), 4);
    assert_eq!(s.remove(&a).unwrap(), Some(ka));
    assert_eq!(s.remove(&a).unwrap(), None);
    let again = FileTrustStore::open(&dir).unwrap();
    assert_eq!(again.entries().unwrap(), vec![(b, kb)]);
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// Display and `source()` of every error in the chain, outermost first.
fn chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts
}

#[test]
fn an_io_failure_prints_each_cause_once_through_the_protocol_error() {
    let dir = temp_dir("chain");
    fs::create_dir_all(dir.join(FILE_NAME)).unwrap(); // the trust file is a directory
    let err = FileTrustStore::open(&dir).unwrap_err();
    assert!(
        matches!(err, FileStoreError::Io { action: "read", .. }),
        "{err:?}"
    );
    let os = match &err {
        FileStoreError::Io { source, .. } => source.to_string(),
        _ => unreachable!(),
    };
    let err = stringphone_core::Error::Store(StoreError::from(err));
    let parts = chain(&err);
    let path = dir.join(FILE_NAME).display().to_string();
    assert_eq!(
        parts,
        [
            "the trust store failed".to_string(),
            format!("cannot read {path}"),
            os.clone()
        ]
    );
    let printed = parts.join(": ");
    assert_eq!(printed.matches(&os).count(), 1, "{printed}");
    assert_eq!(printed.matches(&path).count(), 1, "{printed}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn insert_refuses_an_id_that_is_not_the_keys() {
    let dir = temp_dir("mismatch");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let (_, ka) = key(1);
    let (b, _) = key(2);
    let err = s.insert(b, ka).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert!(!dir.join(FILE_NAME).exists());
}

#[test]
fn every_truncation_is_refused() {
    let map: BTreeMap<_, _> = (1..=3).map(key).collect();
    let text = serialize(&map);
    assert_eq!(parse(&text).unwrap(), map);
    damage::refuses_every_truncation(&text, parse).unwrap();
    // And an empty store is a header and a trailer, not an empty file.
    assert!(parse("").is_err());
    assert!(parse(&serialize(&BTreeMap::new())).unwrap().is_empty());
}

#[test]
fn damage_is_refused() {
    let map: BTreeMap<_, _> = (1..=3).map(key).collect();
    let text = serialize(&map);
    // Every hex digit changed to another: each must be caught.
    damage::refuses_every_hex_digit_change(&text, 0, parse).unwrap();
    let doubled = format!("{text}{text}");
    assert!(parse(&doubled).is_err());
    assert!(parse(&text.replace("end 3", "end 03")).is_err());
    assert!(parse(&text.to_uppercase()).is_err());
    assert!(parse(&text.replace("stringphone-trust 1", "stringphone-trust 2")).is_err());
}

#[test]
fn a_corrupt_file_is_refused_not_replaced() {
    let dir = temp_dir("corrupt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap();
    let path = dir.join(FILE_NAME);
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 4]).unwrap();
    let err = FileTrustStore::open(&dir).unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt { .. }), "{err}");
    // The open handle notices too, on read and on write, and writes nothing.
    assert!(s.get(&a).is_err());
    let (b, kb) = key(2);
    assert!(s.insert(b, kb).is_err());
    assert_eq!(fs::read(&path).unwrap(), &full[..full.len() - 4]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readers_notice_outside_changes() {
    let dir = temp_dir("notice");
    let mut writer = FileTrustStore::open(&dir).unwrap();
    let reader = FileTrustStore::open(&dir).unwrap();
    let (a, ka) = key(1);
    assert_eq!(reader.get(&a).unwrap(), None);
    writer.insert(a, ka).unwrap();
    assert_eq!(reader.get(&a).unwrap(), Some(ka));
    writer.remove(&a).unwrap();
    assert_eq!(reader.get(&a).unwrap(), None);
    // The file removed by hand: an empty store (the user chose to drop it).
    writer.insert(a, ka).unwrap();
    assert_eq!(reader.get(&a).unwrap(), Some(ka));
    fs::remove_file(dir.join(FILE_NAME)).unwrap();
    assert_eq!(reader.get(&a).unwrap(), None);
    fs::remove_dir_all(&dir).unwrap();
}

/// A state directory exactly as this crate wrote it before marks existed: a trust
/// file, its lock file, no marks file.
fn pre_marks_state_dir(name: &str) -> (PathBuf, String) {
    let dir = temp_dir(name);
    fs::create_dir_all(&dir).unwrap();
    let (a, ka) = key(1);
    let (b, kb) = key(2);
    let (first, second) = if a < b {
        ((a, ka), (b, kb))
    } else {
        ((b, kb), (a, ka))
    };
    let text = format!(
        "stringphone-trust 1\n{} {}\n{} {}\nend 2\n",
        first.0, first.1, second.0, second.1
    );
    fs::write(dir.join("trust"), &text).unwrap();
    fs::write(dir.join("trust.lock"), "").unwrap();
    (dir, text)
}

#[test]
fn a_store_from_before_marks_loads_and_keeps_its_trust_file() {
    let (dir, text) = pre_marks_state_dir("pre-marks");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let (a, ka) = key(1);
    assert_eq!(s.get(&a).unwrap(), Some(ka));
    assert_eq!(s.entries().unwrap().len(), 2);
    assert_eq!(s.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
    assert_eq!(s.load_mark(&MarkSlot::Received(a)).unwrap(), None);
    s.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    s.save_mark(MarkSlot::Received(a), 257).unwrap();
    // The trust file is untouched, byte for byte: an older program still reads it.
    assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), text);
    assert_eq!(parse(&text).unwrap().len(), 2);
    let again = FileTrustStore::open(&dir).unwrap();
    assert_eq!(again.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
    assert_eq!(again.load_mark(&MarkSlot::Received(a)).unwrap(), Some(257));
    assert_eq!(again.get(&a).unwrap(), Some(ka));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn marks_round_trip_across_reopen() {
    // What a reopened store loads: tests/conformance.rs. Here, the file.
    let dir = temp_dir("marks-rt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    assert!(!dir.exists(), "opening creates nothing");
    let (a, _) = key(1);
    let (b, _) = key(2);
    s.save_mark(MarkSlot::Received(b), 7).unwrap();
    s.save_mark(MarkSlot::OwnCounter, 2048).unwrap();
    s.save_mark(MarkSlot::Received(a), u64::MAX).unwrap();
    // Marks are not trust: the trust file is not even created.
    assert!(!dir.join(FILE_NAME).exists());
    let text = fs::read_to_string(dir.join(MARKS_NAME)).unwrap();
    assert!(text.starts_with("stringphone-marks 1\nown 2048 "), "{text}");
    assert!(text.ends_with("end 3\n"), "{text}");
    assert_eq!(
        FileTrustStore::open(&dir).unwrap().marks().unwrap().len(),
        3
    );
    assert!(!dir.join(MARKS_TMP_NAME).exists());
    #[cfg(unix)]
    assert_eq!(mode(&dir.join(MARKS_NAME)), 0o600);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_mark_save_leaves_everything_as_it_was() {
    let dir = temp_dir("marks-fail");
    let mut s = FileTrustStore::open(&dir).unwrap();
    s.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    let before = fs::read(dir.join(MARKS_NAME)).unwrap();
    // A directory where the temporary file goes: creating it fails (even as root).
    fs::create_dir(dir.join(MARKS_TMP_NAME)).unwrap();
    let err = s.store_mark(MarkSlot::OwnCounter, 2048).unwrap_err();
    assert!(is_io(&err, "create"), "{err}");
    assert!(s.save_mark(MarkSlot::OwnCounter, 2048).is_err());
    // A lowering attempt fails the same way.
    assert!(s.save_mark(MarkSlot::OwnCounter, 5).is_err());
    assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), before);
    assert_eq!(s.load_mark(&MarkSlot::OwnCounter).unwrap(), Some(1024));
    fs::remove_dir(dir.join(MARKS_TMP_NAME)).unwrap();
    // The handle's own state did not move either: it still owns 1024 (found 0).
    assert_eq!(s.store_mark(MarkSlot::OwnCounter, 5).unwrap(), 5);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_marks_are_a_typed_error_and_are_kept() {
    let dir = temp_dir("marks-corrupt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap();
    s.save_mark(MarkSlot::Received(a), 300).unwrap();
    let path = dir.join(MARKS_NAME);
    let good = fs::read_to_string(&path).unwrap();
    let damaged = [
        good.replace(" 300 ", " 0300 "),
        good.replace(" 300 ", " -1 "),
        good.replace(" 300 ", " 18446744073709551616 "),
        good.replace("recv ", "recv  "),
        good.replace("end 1", "end 2"),
        good[..good.len() - 3].to_string(),
        format!("{good}{good}"),
        good.replace("stringphone-marks 1", "stringphone-marks 2"),
        good.to_uppercase(),
        String::new(),
    ];
    for text in &damaged {
        fs::write(&path, text).unwrap();
        for err in [
            s.mark(&MarkSlot::Received(a)).unwrap_err(),
            s.store_mark(MarkSlot::Received(a), 900).unwrap_err(),
        ] {
            assert!(
                matches!(err, FileStoreError::CorruptMarks { .. }),
                "{text:?}: {err}"
            );
            assert!(err.to_string().contains("replay marks file"), "{err}");
        }
        // Through the trait: the store's error, not a panic, not an empty store.
        let err = s.load_mark(&MarkSlot::OwnCounter).unwrap_err();
        assert!(err.to_string().contains("is corrupt at line"), "{err}");
        assert!(s.save_mark(MarkSlot::OwnCounter, 1).is_err());
        // Nothing written over it, and the trust file still works.
        assert_eq!(fs::read_to_string(&path).unwrap(), *text);
        assert_eq!(s.get(&a).unwrap(), Some(ka));
    }
    fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
    assert!(matches!(
        s.mark(&MarkSlot::OwnCounter),
        Err(FileStoreError::CorruptMarks { line: 1, .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_marks_truncation_is_refused_and_the_format_is_exact() {
    let mut marks = BTreeMap::new();
    marks.insert(
        MarkSlot::OwnCounter,
        MarkEntry {
            mark: 1024,
            writer: 0xab,
        },
    );
    for n in 1..=3 {
        marks.insert(
            MarkSlot::Received(key(n).0),
            MarkEntry {
                mark: u64::from(n) * 1000,
                writer: u64::MAX,
            },
        );
    }
    let text = serialize_marks(&marks);
    assert_eq!(parse_marks(&text).unwrap(), marks);
    damage::refuses_every_truncation(&text, parse_marks).unwrap();
    assert!(parse_marks(&serialize_marks(&BTreeMap::new()))
        .unwrap()
        .is_empty());
    // Out of order: `own` after a sender, senders swapped.
    let lines: Vec<&str> = text.lines().collect();
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    assert!(parse_marks(&(swapped.join("\n") + "\n")).is_err());
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    assert!(parse_marks(&(swapped.join("\n") + "\n")).is_err());
    let mut repeated = lines.clone();
    repeated[3] = repeated[2];
    assert!(parse_marks(&(repeated.join("\n") + "\n")).is_err());
    assert!(parse_marks(&text.replace("own 1024 00000000000000ab", "own 1024 ab")).is_err());
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = temp_dir("concurrent");
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                // Each thread its own handle: its own stale cache, its own lock fd.
                let mut s = FileTrustStore::open(&dir).unwrap();
                for i in 0..10u8 {
                    let (id, k) = key(1 + t * 10 + i);
                    s.insert(id, k).unwrap();
                }
                // And one removal of an entry another thread wrote.
                let (victim, _) = key(1 + ((t + 1) % 4) * 10);
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while s.get(&victim).unwrap().is_none() {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "another writer's entry never appeared: an update was lost"
                    );
                    std::thread::yield_now();
                }
                s.remove(&victim).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = FileTrustStore::open(&dir).unwrap();
    assert_eq!(s.entries().unwrap().len(), 40 - 4);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn group_state_round_trips_privately_and_alone() {
    let dir = temp_dir("group-rt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    assert!(s.group_state().unwrap().is_none());
    assert!(s.load_group_state().unwrap().is_none());
    let state = group_state(b"t", 1);
    s.save_group_state(&state).unwrap();
    let text = fs::read_to_string(dir.join(GROUP_NAME)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], GROUP_HEADER);
    assert_eq!(
        lines[1],
        format!("{} {}", state.len(), hex(&Sha256::digest(&state[..])))
    );
    assert_eq!(lines[2], hex(&state));
    assert_eq!(lines[3], "end");
    // Durable: a new handle finds exactly the bytes saved.
    let again = FileTrustStore::open(&dir).unwrap();
    assert_eq!(again.load_group_state().unwrap().as_deref(), Some(&*state));
    // The state is not trust nor marks, and no temporary file is left.
    assert!(!dir.join(FILE_NAME).exists());
    assert!(!dir.join(MARKS_NAME).exists());
    assert!(!dir.join(GROUP_TMP_NAME).exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode(&dir.join(GROUP_NAME)), 0o600);
        // Even through a stale temporary file someone left readable.
        fs::write(dir.join(GROUP_TMP_NAME), "old").unwrap();
        fs::set_permissions(dir.join(GROUP_TMP_NAME), fs::Permissions::from_mode(0o644)).unwrap();
        s.save_group_state(&group_state(b"t", 2)).unwrap();
        assert_eq!(mode(&dir.join(GROUP_NAME)), 0o600);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_group_truncation_and_damage_is_refused() {
    let state = group_state(b"t", 1);
    let text = serialize_group(&state);
    assert_eq!(&parse_group(&text).unwrap()[..], &state[..]);
    damage::refuses_every_truncation(&text, parse_group).unwrap();
    // Every hex digit changed to another: the length, the checksum or the bytes
    // (the header's own "1" is checked below).
    damage::refuses_every_hex_digit_change(&text, GROUP_HEADER.len(), parse_group).unwrap();
    let bad = [
        text.replace("stringphone-group 1", "stringphone-group 2"),
        text.to_uppercase(),
        format!("{}{}", *text, *text),
        text.replace("\nend\n", "\nend\nextra\n"),
        text.replace("\nend\n", "\n"),
        text.replacen(
            &format!("{} ", state.len()),
            &format!("0{} ", state.len()),
            1,
        ),
        text.replacen(' ', "  ", 1),
        String::new(),
    ];
    for damaged in &bad {
        assert!(parse_group(damaged).is_err(), "{damaged:?} accepted");
    }
    // A checksum that matches bytes which are not a group state: refused by the
    // store too (the checksum only proves the bytes are what was written).
    let dir = temp_dir("group-not-state");
    let s = FileTrustStore::open(&dir).unwrap();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(GROUP_NAME), &*serialize_group(b"not a state")).unwrap();
    assert!(matches!(
        s.group_state(),
        Err(FileStoreError::CorruptGroupState { line: 3, .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_group_state_is_a_typed_error_never_none_and_is_kept() {
    let dir = temp_dir("group-corrupt");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let (a, ka) = key(1);
    s.insert(a, ka).unwrap();
    s.save_group_state(&group_state(b"t", 1)).unwrap();
    let path = dir.join(GROUP_NAME);
    let good = fs::read(&path).unwrap();
    for damaged in [&good[..good.len() - 5], &good[..0], b"\xff\xfe\n"] {
        fs::write(&path, damaged).unwrap();
        let err = s.group_state().unwrap_err();
        assert!(
            matches!(err, FileStoreError::CorruptGroupState { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("group state file"), "{err}");
        // Through the trait: an error, not an empty state.
        assert!(s.load_group_state().is_err());
        // Nothing written over it, whatever the save.
        assert!(s.save_group_state(&group_state(b"t", 3)).is_err());
        assert_eq!(fs::read(&path).unwrap(), damaged);
        // Trust and marks still work.
        assert_eq!(s.get(&a).unwrap(), Some(ka));
        s.save_mark(MarkSlot::Received(a), 7).unwrap();
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_group_save_never_goes_back_an_epoch_nor_to_another_topic() {
    let dir = temp_dir("group-forward");
    let mut a = FileTrustStore::open(&dir).unwrap();
    let mut b = FileTrustStore::open(&dir).unwrap();
    a.save_group_state(&group_state(b"t", 2)).unwrap();
    let stored = fs::read(dir.join(GROUP_NAME)).unwrap();
    // Another process still at epoch 1 (or 0) cannot take the directory back.
    for behind in [1, 0] {
        let err = b.store_group_state(&group_state(b"t", behind)).unwrap_err();
        assert!(
            matches!(err, FileStoreError::StaleGroupState { stored: 2, saving, .. } if saving == behind),
            "{err}"
        );
    }
    let err = b
        .store_group_state(&group_state(b"other topic", 3))
        .unwrap_err();
    assert!(
        matches!(err, FileStoreError::GroupTopicMismatch { .. }),
        "{err}"
    );
    let err = b.store_group_state(b"not a state").unwrap_err();
    assert!(
        matches!(err, FileStoreError::NotAGroupState { .. }),
        "{err}"
    );
    assert_eq!(fs::read(dir.join(GROUP_NAME)).unwrap(), stored);
    // The same epoch or a later one replaces it whole: the last save wins.
    let later = group_state(b"t", 3);
    b.save_group_state(&later).unwrap();
    assert_eq!(a.group_state().unwrap().as_deref(), Some(&*later));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_group_save_leaves_the_stored_state() {
    let dir = temp_dir("group-fail");
    let mut s = FileTrustStore::open(&dir).unwrap();
    let first = group_state(b"t", 1);
    s.save_group_state(&first).unwrap();
    fs::create_dir(dir.join(GROUP_TMP_NAME)).unwrap();
    let err = s.store_group_state(&group_state(b"t", 2)).unwrap_err();
    assert!(is_io(&err, "create"), "{err}");
    assert_eq!(s.group_state().unwrap().as_deref(), Some(&*first));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_sender_is_refused_in_one_line_with_the_holders_pid() {
    let dir = temp_dir("lease");
    let mut first = FileTrustStore::open(&dir).unwrap();
    let mut second = FileTrustStore::open(&dir).unwrap();
    assert_eq!(first.mark(&MarkSlot::OwnCounter).unwrap(), None);
    assert_eq!(second.mark(&MarkSlot::OwnCounter).unwrap(), None);
    first.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    assert!(first.holds_lease());
    let marks = fs::read(dir.join(MARKS_NAME)).unwrap();
    let err = second.store_mark(MarkSlot::OwnCounter, 1024).unwrap_err();
    let FileStoreError::SenderBusy { pid, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains(&format!(
            "another process (pid {}) is sending as this identity from this state directory",
            std::process::id()
        )),
        "{line}"
    );
    assert!(!second.holds_lease());
    // Refused: nothing written.
    assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), marks);
    // The holder goes on raising and taking back its own mark.
    assert_eq!(first.store_mark(MarkSlot::OwnCounter, 2048).unwrap(), 2048);
    assert_eq!(first.store_mark(MarkSlot::OwnCounter, 1030).unwrap(), 1030);
    #[cfg(unix)]
    assert_eq!(mode(&dir.join(SENDER_LOCK_NAME)), 0o600);
    // The lease lives as long as the handle: once it is gone, a new handle sends.
    drop(first);
    let mut third = FileTrustStore::open(&dir).unwrap();
    assert_eq!(third.mark(&MarkSlot::OwnCounter).unwrap(), Some(1030));
    assert_eq!(third.store_mark(MarkSlot::OwnCounter, 2054).unwrap(), 2054);
    assert!(third.holds_lease());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_receiver_never_takes_the_lease() {
    let dir = temp_dir("lease-receiver");
    let mut receiver = FileTrustStore::open(&dir).unwrap();
    let (a, _) = key(1);
    receiver.save_mark(MarkSlot::Received(a), 300).unwrap();
    assert_eq!(receiver.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
    receiver.save_mark(MarkSlot::Received(a), 44).unwrap();
    assert!(!receiver.holds_lease());
    // A sender starts beside the running receiver, and is not refused.
    let mut sender = FileTrustStore::open(&dir).unwrap();
    sender.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    assert!(sender.holds_lease());
    // And the receiver still receives beside it.
    receiver.save_mark(MarkSlot::Received(a), 600).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_senders_clean_exit_needs_no_lease_and_writes_nothing() {
    let dir = temp_dir("lease-exit");
    let mut running = FileTrustStore::open(&dir).unwrap();
    running.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    let mut refused = FileTrustStore::open(&dir).unwrap();
    // What a topic does: read the mark, reserve above it (refused), then on its
    // clean exit store its exact next counter, which is the mark it read.
    assert_eq!(
        refused.load_mark(&MarkSlot::OwnCounter).unwrap(),
        Some(1024)
    );
    assert!(refused.save_mark(MarkSlot::OwnCounter, 2048).is_err());
    let marks = fs::read(dir.join(MARKS_NAME)).unwrap();
    assert_eq!(
        refused.store_mark(MarkSlot::OwnCounter, 1024).unwrap(),
        1024
    );
    assert_eq!(refused.store_mark(MarkSlot::OwnCounter, 3).unwrap(), 1024);
    assert_eq!(fs::read(dir.join(MARKS_NAME)).unwrap(), marks);
    assert!(!refused.holds_lease());
    // But anything above what it read is a reservation, and is refused.
    assert!(refused.store_mark(MarkSlot::OwnCounter, 1025).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sender_that_read_its_counter_before_another_sent_is_refused() {
    let dir = temp_dir("lease-race");
    let mut late = FileTrustStore::open(&dir).unwrap();
    // `late` reads the mark (nothing yet) to reserve above it...
    assert_eq!(late.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
    // ...meanwhile another process sends (counters 0..1024) and exits.
    let mut quick = FileTrustStore::open(&dir).unwrap();
    assert_eq!(quick.load_mark(&MarkSlot::OwnCounter).unwrap(), None);
    quick.save_mark(MarkSlot::OwnCounter, 1024).unwrap();
    quick.save_mark(MarkSlot::OwnCounter, 5).unwrap();
    drop(quick);
    // `late` would use counters from 0: refused, though the lease is free, and it
    // does not keep the lease.
    let err = late.store_mark(MarkSlot::OwnCounter, 1024).unwrap_err();
    assert!(
        matches!(
            err,
            FileStoreError::SenderRaced {
                read: 0,
                stored: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(!late.holds_lease());
    assert_eq!(late.mark(&MarkSlot::OwnCounter).unwrap(), Some(5));
    // A new read is a fresh start: it reserves above 5.
    assert_eq!(late.store_mark(MarkSlot::OwnCounter, 1029).unwrap(), 1029);
    assert!(late.holds_lease());
    fs::remove_dir_all(&dir).unwrap();
}
