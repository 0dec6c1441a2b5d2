//! The sender lease across real processes: this test binary runs itself again as a
//! second process (the ignored `child_sends` test, selected by name and told the
//! state directory through the environment), so the lock is tried by another pid,
//! as `stringphone encode` beside a running `chat` would; and a sender forks.

use std::path::Path;
use std::process::Command;

use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{DecodeMode, Decoded, SigningSeed, Topic, TopicKey};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_file::FileTrustStore;
use stringphone_testkit::{error_chain, TempDir};

type T = Topic<RustCrypto, FileTrustStore>;

const CHILD_DIR: &str = "SP_LEASE_CHILD_DIR";

/// Alice's process on `dir`, v2 only.
fn alice(dir: &Path) -> T {
    let mut t = T::with_store(
        SigningSeed::from_bytes([1; 32]),
        Some(TopicKey::from_bytes([9; 32])),
        FileTrustStore::open(dir).unwrap(),
    );
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(b"lease")).unwrap();
    t
}

/// Runs the second process on `dir`: it sends one message as Alice and exits at once
/// (no clean shutdown, no destructor: as a crash would). Returns its stdout: `sent
/// <hex>` or `refused: <error>`.
fn second_process(dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_sends", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("sent ") || stdout.contains("refused: "),
        "the second process said nothing: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The second process itself; run only by [`second_process`].
#[test]
#[ignore = "the second process of the other tests, which run it by name"]
fn child_sends() {
    let dir = std::env::var_os(CHILD_DIR).expect("run by second_process");
    let mut topic = alice(Path::new(&dir));
    match topic.encode("from the second process") {
        Ok(wire) => {
            let hex: String = wire.iter().map(|b| format!("{b:02x}")).collect();
            println!("\nsent {hex}");
        }
        Err(e) => println!("\nrefused: {}", error_chain(&e)),
    }
    std::process::exit(0);
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_second_process_is_refused_while_the_first_sends_then_goes_on_after_it() {
    let d = TempDir::new("store-lease-two");
    let mut bob = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    bob.set_protocol(ProtocolVersion::V2);
    bob.set_topic_id(TopicId::from_name(b"lease")).unwrap();

    let mut first = alice(d.path());
    bob.add_participant(first.public_key()).unwrap();
    let m = first.encode("from the first process").unwrap();
    assert!(matches!(
        bob.decode(&m, DecodeMode::Strict),
        Ok(Decoded::Message { .. })
    ));

    // While the first lives, the second is refused, in one line naming the first.
    let said = second_process(d.path());
    let line = said
        .lines()
        .find(|l| l.starts_with("refused: "))
        .unwrap_or_else(|| panic!("the second process sent beside the first: {said}"));
    assert!(
        line.contains(&format!(
            "another process (pid {}) is sending as this identity from this state directory",
            std::process::id()
        )),
        "{line}"
    );
    // The first goes on, and Bob gets it.
    let m = first.encode("the first goes on").unwrap();
    assert!(matches!(
        bob.decode(&m, DecodeMode::Strict),
        Ok(Decoded::Message { .. })
    ));

    // The first exits: the second sends now, above the first's counters, and exits
    // without a clean shutdown; its lease goes with the process.
    drop(first);
    let said = second_process(d.path());
    let wire = said
        .lines()
        .find_map(|l| l.strip_prefix("sent "))
        .unwrap_or_else(|| panic!("the second process was refused after the first exited: {said}"));
    let got = bob.decode(&unhex(wire), DecodeMode::Strict);
    assert!(matches!(got, Ok(Decoded::Message { .. })), "{got:?}");
    let mut again = alice(d.path());
    let m = again.encode("after the second exited").unwrap();
    let got = bob.decode(&m, DecodeMode::Strict);
    assert!(matches!(got, Ok(Decoded::Message { .. })), "{got:?}");
}

/// A sender forks (a daemon forking workers, say): the child holds a copy of the
/// parent's open lock file, so the lock, but the sending is the parent's. The child's
/// first message must be refused with the lease's line naming the parent, and Bob
/// must get every message of the parent, before and after the fork.
#[cfg(unix)]
#[test]
fn a_forked_child_of_a_sender_is_refused_and_the_parent_loses_nothing() {
    let d = TempDir::new("store-lease-fork");
    let mut bob = Topic::<RustCrypto, _>::new(
        SigningSeed::from_bytes([2; 32]),
        Some(TopicKey::from_bytes([9; 32])),
    );
    bob.set_protocol(ProtocolVersion::V2);
    bob.set_topic_id(TopicId::from_name(b"lease")).unwrap();
    let mut parent = alice(d.path());
    bob.add_participant(parent.public_key()).unwrap();
    let mut sent = vec![parent.encode("before the fork").unwrap()];
    let report = d.path().with_extension("child");

    // SAFETY: fork in a test process: the child only encodes, writes one file and
    // leaves with `_exit` (no unwinding, no destructors, back to nothing of the
    // harness's).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let said = match parent.encode("from the child") {
            Ok(_) => "sent".to_string(),
            Err(e) => format!("refused: {}", error_chain(&e)),
        };
        let code = i32::from(std::fs::write(&report, said).is_err());
        // SAFETY: ends the child without returning into the test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let said = std::fs::read_to_string(&report).unwrap();
    let _ = std::fs::remove_file(&report);
    assert!(
        said.contains(&format!(
            "another process (pid {}) is sending as this identity from this state directory",
            std::process::id()
        )),
        "the forked child: {said}"
    );

    for i in 0..3 {
        sent.push(parent.encode(format!("after the fork #{i}")).unwrap());
    }
    for w in &sent {
        let got = bob.decode(w, DecodeMode::Strict);
        assert!(matches!(got, Ok(Decoded::Message { .. })), "{got:?}");
    }
}
