//! The command as a user runs it: every subcommand once, every refusal.

mod common;

use std::fs;
use std::path::Path;

use common::{cmd, keygen, ok, on_terminal, refused, run, usage_error, TempDir};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A home with Alice (seed, topic key) and Bob (seed), and a message from Alice.
struct World {
    dir: TempDir,
    alice: (String, String, String),
    bob: (String, String, String),
}

impl World {
    fn new(name: &str) -> Self {
        let dir = TempDir::created(name);
        let alice = keygen(dir.path(), &dir.join("alice.seed"));
        let bob = keygen(dir.path(), &dir.join("bob.seed"));
        ok(&run(
            dir.path(),
            &["topic-key", "--key-file", s(&dir.join("topic.key"))],
            b"",
        ));
        World { dir, alice, bob }
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `encode` with the seed and key files named, whatever it answers.
    fn run_encode(&self, seed: &str, key: &str, plaintext: &[u8]) -> std::process::Output {
        run(
            self.home(),
            &[
                "encode",
                "--seed-file",
                &self.p(seed),
                "--key-file",
                &self.p(key),
            ],
            plaintext,
        )
    }

    fn encode(&self, seed: &str, plaintext: &[u8]) -> Vec<u8> {
        let out = self.run_encode(seed, "topic.key", plaintext);
        ok(&out);
        out.stdout
    }

    /// Bob decodes, with his own state dir and the extra arguments.
    fn bob_decodes(&self, message: &[u8], extra: &[&str]) -> std::process::Output {
        self.as_person("bob", "decode", "topic.key", extra, message)
    }

    /// `command` as `who` (`alice` or `bob`: its state directory `<who>-state` and its
    /// seed), with the key file `key`, then `extra`; `stdin` as input.
    fn as_person(
        &self,
        who: &str,
        command: &str,
        key: &str,
        extra: &[&str],
        stdin: &[u8],
    ) -> std::process::Output {
        let state = self.p(&format!("{who}-state"));
        let seed = self.p(&format!("{who}.seed"));
        let key = self.p(key);
        let mut args = vec![
            "--state-dir",
            &state,
            command,
            "--seed-file",
            &seed,
            "--key-file",
            &key,
        ];
        args.extend(extra);
        run(self.home(), &args, stdin)
    }
}

#[test]
fn every_command_has_help() {
    let dir = TempDir::created("help");
    for cmd in [
        vec![],
        vec!["keygen"],
        vec!["topic-key"],
        vec!["encode"],
        vec!["decode"],
        vec!["intro"],
        vec!["reply"],
        vec!["accept-reply"],
        vec!["trust"],
        vec!["trust", "add"],
        vec!["trust", "remove"],
        vec!["trust", "list"],
        vec!["chat"],
        vec!["pubkey"],
        vec!["completions"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = ok(&run(dir.path(), &args, b""));
        assert!(out.contains("Usage: stringphone"), "{cmd:?}: {out}");
    }
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_the_identity() {
    let dir = TempDir::created("keygen");
    let seed = dir.join("me.seed");
    let (pk, id, fp) = keygen(dir.path(), &seed);
    // One line: what the key is, then 64 hex digits.
    let text = fs::read_to_string(&seed).unwrap();
    let digits = text
        .strip_prefix("stringphone-seed ")
        .and_then(|t| t.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(digits.len(), 64);
    assert!(digits.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(pk.len(), 64);
    assert_eq!(id.len(), 32);
    // The fingerprint is the id's first 8 bytes, grouped.
    assert_eq!(fp.replace('-', ""), id[..16]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&seed).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn existing_files_are_never_overwritten_without_force() {
    let w = World::new("force");
    let seed_before = fs::read(w.dir.join("alice.seed")).unwrap();
    let key_before = fs::read(w.dir.join("topic.key")).unwrap();

    let out = run(
        w.home(),
        &["keygen", "--seed-file", &w.p("alice.seed")],
        b"",
    );
    refused(&out, "already exists");
    let out = run(
        w.home(),
        &["topic-key", "--key-file", &w.p("topic.key")],
        b"",
    );
    refused(&out, "already exists");
    assert_eq!(fs::read(w.dir.join("alice.seed")).unwrap(), seed_before);
    assert_eq!(fs::read(w.dir.join("topic.key")).unwrap(), key_before);
    // Not even a directory or a dangling name is replaced.
    fs::create_dir(w.dir.join("adir")).unwrap();
    refused(
        &run(w.home(), &["topic-key", "--key-file", &w.p("adir")], b""),
        "already exists",
    );

    // With --force they are replaced, still private.
    ok(&run(
        w.home(),
        &["topic-key", "--key-file", &w.p("topic.key"), "--force"],
        b"",
    ));
    assert_ne!(fs::read(w.dir.join("topic.key")).unwrap(), key_before);
    ok(&run(
        w.home(),
        &["keygen", "--seed-file", &w.p("alice.seed"), "--force"],
        b"",
    ));
    assert_ne!(fs::read(w.dir.join("alice.seed")).unwrap(), seed_before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(w.dir.join("topic.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary files left behind.
    let names: Vec<_> = fs::read_dir(w.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn encode_then_decode_with_trust_given_on_the_command_line() {
    let w = World::new("roundtrip");
    let wire = w.encode("alice.seed", b"Hi Bob!");
    assert_eq!(wire.len(), 7 + 121);
    assert_eq!(wire[0], b's');
    let out = w.bob_decodes(&wire, &["--trust", &w.alice.0]);
    assert_eq!(ok(&out), "Hi Bob!");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&w.alice.2),
        "sender fingerprint shown: {stderr}"
    );

    // Hex both ways.
    let out = run(
        w.home(),
        &[
            "encode",
            "--seed-file",
            &w.p("alice.seed"),
            "--key-file",
            &w.p("topic.key"),
            "--hex",
        ],
        b"hex too",
    );
    let hex = ok(&out);
    assert!(hex.ends_with('\n') && hex.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let out = w.bob_decodes(hex.as_bytes(), &["--trust", &w.alice.0, "--hex"]);
    assert_eq!(ok(&out), "hex too");
}

#[test]
fn decode_uses_the_trust_store() {
    let w = World::new("store");
    let wire = w.encode("alice.seed", b"stored trust");
    let state = w.p("bob-state");
    let out = ok(&run(
        w.home(),
        &["--state-dir", &state, "trust", "add", &w.alice.0],
        b"",
    ));
    assert_eq!(out, format!("trusted {} {}\n", w.alice.1, w.alice.2));
    assert_eq!(ok(&w.bob_decodes(&wire, &[])), "stored trust");

    let list = ok(&run(
        w.home(),
        &["--state-dir", &state, "trust", "list"],
        b"",
    ));
    assert_eq!(list, format!("{} {} {}\n", w.alice.1, w.alice.2, w.alice.0));

    // Removed by fingerprint: refused again.
    let out = ok(&run(
        w.home(),
        &["--state-dir", &state, "trust", "remove", &w.alice.2],
        b"",
    ));
    assert!(out.starts_with("removed "), "{out}");
    refused(&w.bob_decodes(&wire, &[]), "is not trusted");
    refused(
        &run(
            w.home(),
            &["--state-dir", &state, "trust", "remove", &w.alice.0],
            b"",
        ),
        "is not trusted",
    );
    let list = ok(&run(
        w.home(),
        &["--state-dir", &state, "trust", "list"],
        b"",
    ));
    assert_eq!(list, "");
}

#[test]
fn refuses_an_untrusted_sender() {
    let w = World::new("untrusted");
    let wire = w.encode("alice.seed", b"from a stranger");
    let err = refused(&w.bob_decodes(&wire, &[]), "is not trusted");
    assert!(
        err.contains(&w.alice.1) && err.contains(&w.alice.2),
        "{err}"
    );
    // Trusting someone else does not help.
    refused(
        &w.bob_decodes(&wire, &["--trust", &w.bob.0]),
        "is not trusted",
    );

    // --ignore-untrusted: nothing printed, success.
    let out = w.bob_decodes(&wire, &["--ignore-untrusted"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());

    // --naive opens it, with a warning.
    let out = w.bob_decodes(&wire, &["--naive"]);
    assert_eq!(ok(&out), "from a stranger");
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT verified"));

    // The two modes exclude each other: a usage error.
    let out = w.bob_decodes(&wire, &["--naive", "--ignore-untrusted"]);
    usage_error(
        &out,
        "the argument '--naive' cannot be used with '--ignore-untrusted'",
    );
}

#[test]
fn refuses_a_tampered_message() {
    let w = World::new("tamper");
    let wire = w.encode("alice.seed", b"do not touch");
    let trust = ["--trust", w.alice.0.as_str()];
    // Any byte after the type changed: the signature no longer verifies (the sender
    // id byte changes the sender instead: then it is an untrusted sender).
    for i in [1, 64, 81, 100, 110, 121, wire.len() - 1] {
        let mut bad = wire.clone();
        bad[i] ^= 0x01;
        refused(&w.bob_decodes(&bad, &trust), "signature does not verify");
    }
    let mut bad = wire.clone();
    bad[70] ^= 0x01;
    refused(&w.bob_decodes(&bad, &trust), "is not trusted");
    // Naive mode skips the signature: the box still catches it.
    let mut bad = wire.clone();
    bad[wire.len() - 1] ^= 0x01;
    refused(
        &w.bob_decodes(&bad, &["--naive"]),
        "does not open under the topic key",
    );
    // Truncated, or with a byte more: malformed or forged.
    refused(&w.bob_decodes(&wire[..120], &trust), "malformed message");
    let mut longer = wire.clone();
    longer.push(0);
    refused(&w.bob_decodes(&longer, &trust), "signature does not verify");
    refused(&w.bob_decodes(b"", &trust), "malformed message: empty");
}

#[test]
fn refuses_an_unknown_message_type() {
    let w = World::new("type");
    let mut wire = w.encode("alice.seed", b"typed");
    wire[0] = b'x';
    refused(
        &w.bob_decodes(&wire, &["--trust", &w.alice.0]),
        "unknown message type byte 0x78",
    );
    // Discovery messages are named, not decoded.
    let intro = run(
        w.home(),
        &[
            "--state-dir",
            &w.p("st"),
            "intro",
            "--seed-file",
            &w.p("alice.seed"),
        ],
        b"",
    );
    let intro = {
        ok(&intro);
        intro.stdout
    };
    refused(&w.bob_decodes(&intro, &[]), "this is an introduction");
}

#[test]
fn refuses_a_wrong_key_file() {
    let w = World::new("wrongkey");
    let wire = w.encode("alice.seed", b"secret");
    let seed = w.p("bob.seed");
    let decode_with = |key: &str| {
        run(
            w.home(),
            &[
                "--state-dir",
                &w.p("st"),
                "decode",
                "--seed-file",
                &seed,
                "--key-file",
                key,
                "--trust",
                &w.alice.0,
            ],
            &wire,
        )
    };
    // Missing.
    refused(&decode_with(&w.p("nope.key")), "cannot read topic key file");
    // Another topic's key.
    ok(&run(
        w.home(),
        &["topic-key", "--key-file", &w.p("other.key")],
        b"",
    ));
    refused(
        &decode_with(&w.p("other.key")),
        "does not open under the topic key",
    );
    // Not a key file at all.
    fs::write(w.dir.join("notes.txt"), "hello\n").unwrap();
    refused(&decode_with(&w.p("notes.txt")), "is not a key file");
    fs::write(w.dir.join("short.key"), "abcd\n").unwrap();
    refused(&decode_with(&w.p("short.key")), "expected 64 hex digits");
    fs::write(w.dir.join("bin.key"), [0xffu8; 65]).unwrap();
    refused(&decode_with(&w.p("bin.key")), "not text");
    // A directory.
    refused(
        &decode_with(w.home().to_str().unwrap()),
        "cannot read topic key file",
    );
    // A bad seed file is named as such.
    let out = w.run_encode("short.key", "topic.key", b"x");
    refused(&out, "seed file");
}

#[test]
fn refuses_malformed_hex() {
    let w = World::new("hex");
    let mut text = fs::read_to_string(w.dir.join("topic.key")).unwrap();
    let digits = text.find(' ').unwrap() + 1;
    text.replace_range(digits + 10..digits + 11, "g");
    fs::write(w.dir.join("bad.key"), &text).unwrap();
    let out = w.run_encode("alice.seed", "bad.key", b"x");
    refused(&out, "character 11 is not a hex digit");

    let wire = w.encode("alice.seed", b"x");
    refused(
        &w.bob_decodes(&wire, &["--trust", "not-hex"]),
        "is not a public key",
    );
    refused(
        &w.bob_decodes(&wire, &["--trust", &"zz".repeat(32)]),
        "is not a public key",
    );
    // A point that is not on the curve (or of small order) is refused too.
    refused(
        &w.bob_decodes(&wire, &["--trust", &"00".repeat(32)]),
        "not a usable Ed25519 public key",
    );
    refused(&w.bob_decodes(b"73zz\n", &["--hex"]), "not valid hex");
    refused(
        &w.bob_decodes(b"737\n", &["--hex"]),
        "odd number of hex digits",
    );
    refused(
        &run(
            w.home(),
            &["--state-dir", &w.p("st"), "trust", "add", "1234"],
            b"",
        ),
        "is not a public key",
    );
    refused(
        &run(
            w.home(),
            &["--state-dir", &w.p("st"), "trust", "remove", "xyz"],
            b"",
        ),
        "neither a public key",
    );
}

#[test]
fn refuses_its_own_message() {
    let w = World::new("own");
    let wire = w.encode("bob.seed", b"mine");
    refused(&w.bob_decodes(&wire, &[]), "sent by this very identity");
}

/// Alice's and Bob's commands in `discovery_from_the_shell`: hex on the wire.
impl World {
    /// `reply --hex` as Alice (the topic key) to `intro`, with `--approve` of
    /// `approve` if given.
    fn alice_replies(&self, intro: &str, approve: Option<&str>) -> std::process::Output {
        let mut extra = vec!["--hex"];
        if let Some(a) = approve {
            extra.extend(["--approve", a]);
        }
        self.as_person("alice", "reply", "topic.key", &extra, intro.as_bytes())
    }

    /// `accept-reply --hex` as Bob (the key into `bob-topic.key`) of `reply`, with
    /// `extra` arguments.
    fn bob_accepts(&self, reply: &str, extra: &[&str]) -> std::process::Output {
        let extra = [&["--hex"][..], extra].concat();
        self.as_person(
            "bob",
            "accept-reply",
            "bob-topic.key",
            &extra,
            reply.as_bytes(),
        )
    }
}

#[test]
fn discovery_from_the_shell() {
    let w = World::new("discovery");
    let (intro, pending) = bob_introduces_himself(&w);
    let reply_hex = alice_answers_once_she_approves_bob(&w, &intro);
    a_tampered_or_misdirected_reply_is_refused(&w, &reply_hex);
    bob_accepts_alices_key(&w, &reply_hex, &pending);
    alice_and_bob_talk_through_their_stores(&w);
}

/// Bob introduces himself; the secret waits in his state dir, private. Returns the
/// introduction (hex) and the secret's file.
fn bob_introduces_himself(w: &World) -> (String, std::path::PathBuf) {
    let out = run(
        w.home(),
        &[
            "--state-dir",
            &w.p("bob-state"),
            "intro",
            "--seed-file",
            &w.p("bob.seed"),
            "--hex",
        ],
        b"",
    );
    let intro = ok(&out);
    let pending = w.dir.join("bob-state/pending").join(&w.bob.1);
    assert!(pending.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&pending).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    (intro, pending)
}

/// Alice will not answer a stranger, nor one whose fingerprint differs, but answers
/// once she approves his fingerprint, and trusts him from then on. Returns her reply
/// (hex).
fn alice_answers_once_she_approves_bob(w: &World, intro: &str) -> String {
    let err = refused(&w.alice_replies(intro, None), "is not trusted");
    assert!(err.contains(&format!("--approve {}", w.bob.2)), "{err}");
    refused(
        &w.alice_replies(intro, Some("0000-0000-0000-0000")),
        "not approved",
    );
    let reply_hex = ok(&w.alice_replies(intro, Some(&w.bob.2)));
    let list = ok(&run(
        w.home(),
        &["--state-dir", &w.p("alice-state"), "trust", "list"],
        b"",
    ));
    assert!(list.contains(&w.bob.0), "{list}");
    ok(&w.alice_replies(intro, None));
    reply_hex
}

/// A tampered reply (here: a bit of the sealed topic key) is refused and changes
/// nothing. (The replier's key at the end is not covered by anything: replies are
/// not signed in the classic format.) Alice cannot use Bob's reply (it is not for
/// her).
fn a_tampered_or_misdirected_reply_is_refused(w: &World, reply_hex: &str) {
    let mut bad = reply_hex.trim().to_string();
    let flipped = if &bad[120..121] == "0" { "1" } else { "0" };
    bad.replace_range(120..121, flipped);
    refused(&w.bob_accepts(&bad, &[]), "does not open");
    assert!(!w.dir.join("bob-topic.key").exists());
    let alices = w.as_person(
        "alice",
        "accept-reply",
        "x.key",
        &["--hex"],
        reply_hex.as_bytes(),
    );
    refused(&alices, "no introduction is pending");
}

/// Bob accepts: he gets Alice's topic key and, as asked, trusts her; the pending
/// secret is forgotten, so the reply is not accepted again.
fn bob_accepts_alices_key(w: &World, reply_hex: &str, pending: &Path) {
    let printed = ok(&w.bob_accepts(reply_hex, &["--trust-replier"]));
    assert_eq!(
        printed,
        format!("replier {} {} {}\n", w.alice.0, w.alice.1, w.alice.2)
    );
    assert_eq!(
        fs::read(w.dir.join("bob-topic.key")).unwrap(),
        fs::read(w.dir.join("topic.key")).unwrap()
    );
    assert!(!pending.exists(), "the pending secret is forgotten");
    refused(
        &w.bob_accepts(reply_hex, &["--force"]),
        "no introduction is pending",
    );
    refused(&w.bob_accepts(reply_hex, &[]), "already exists");
}

/// And they talk, both ways, each trusting the other through its store.
fn alice_and_bob_talk_through_their_stores(w: &World) {
    let wire = w.encode("alice.seed", b"welcome, Bob");
    assert_eq!(ok(&w.bob_decodes(&wire, &[])), "welcome, Bob");
    let out = w.run_encode("bob.seed", "bob-topic.key", b"thanks, Alice");
    let wire = {
        ok(&out);
        out.stdout
    };
    let out = w.as_person("alice", "decode", "topic.key", &[], &wire);
    assert_eq!(ok(&out), "thanks, Alice");
}

#[test]
fn reply_refuses_what_is_not_an_introduction() {
    let w = World::new("notintro");
    let wire = w.encode("bob.seed", b"hi");
    let out = run(
        w.home(),
        &[
            "--state-dir",
            &w.p("st"),
            "reply",
            "--seed-file",
            &w.p("alice.seed"),
            "--key-file",
            &w.p("topic.key"),
        ],
        &wire,
    );
    refused(&out, "not an introduction");
    // A forged introduction: Bob's key, a signature that is not his.
    let intro = run(
        w.home(),
        &[
            "--state-dir",
            &w.p("st"),
            "intro",
            "--seed-file",
            &w.p("bob.seed"),
        ],
        b"",
    );
    let mut intro = {
        ok(&intro);
        intro.stdout
    };
    intro[40] ^= 1;
    let out = run(
        w.home(),
        &[
            "--state-dir",
            &w.p("st"),
            "reply",
            "--seed-file",
            &w.p("alice.seed"),
            "--key-file",
            &w.p("topic.key"),
            "--approve",
            &w.bob.2,
        ],
        &intro,
    );
    refused(&out, "signature does not verify");
    // Nothing was trusted on the way.
    let list = ok(&run(
        w.home(),
        &["--state-dir", &w.p("st"), "trust", "list"],
        b"",
    ));
    assert_eq!(list, "");
}

#[test]
fn a_corrupt_trust_store_is_refused_and_kept() {
    let w = World::new("corrupt");
    let state = w.p("st");
    ok(&run(
        w.home(),
        &["--state-dir", &state, "trust", "add", &w.alice.0],
        b"",
    ));
    let path = w.dir.join("st/state.db");
    let full = fs::read(&path).unwrap();
    let cut = &full[..full.len() / 2];
    fs::write(&path, cut).unwrap();
    refused(
        &run(w.home(), &["--state-dir", &state, "trust", "list"], b""),
        "refusing to use it",
    );
    refused(
        &run(
            w.home(),
            &["--state-dir", &state, "trust", "add", &w.bob.0],
            b"",
        ),
        "refusing to use it",
    );
    let wire = w.encode("alice.seed", b"x");
    let out = run(
        w.home(),
        &[
            "--state-dir",
            &state,
            "decode",
            "--seed-file",
            &w.p("bob.seed"),
            "--key-file",
            &w.p("topic.key"),
        ],
        &wire,
    );
    refused(&out, "refusing to use it");
    assert_eq!(fs::read(&path).unwrap(), cut, "never replaced");
}

#[test]
fn the_default_state_dir_follows_xdg() {
    let w = World::new("xdg");
    let xdg = w.dir.join("xdg");
    let out = common::cmd(w.home())
        .env("XDG_DATA_HOME", &xdg)
        .args(["trust", "add", &w.alice.0])
        .output()
        .unwrap();
    ok(&out);
    assert!(xdg.join("stringphone/state.db").exists());
    // Without XDG_DATA_HOME: ~/.local/share/stringphone.
    ok(&run(w.home(), &["trust", "add", &w.alice.0], b""));
    assert!(w.dir.join(".local/share/stringphone/state.db").exists());
}

impl World {
    /// Alice encodes with `--protocol`, her state in `alice-state`.
    fn encode_v2(&self, protocol: &str, plaintext: &[u8]) -> Vec<u8> {
        let state = self.p("alice-state");
        let out = run(
            self.home(),
            &[
                "--state-dir",
                &state,
                "encode",
                "--protocol",
                protocol,
                "--topic",
                "t",
                "--seed-file",
                &self.p("alice.seed"),
                "--key-file",
                &self.p("topic.key"),
            ],
            plaintext,
        );
        ok(&out);
        out.stdout
    }

    /// Bob trusts Alice in his state directory.
    fn bob_trusts_alice(&self) {
        ok(&run(
            self.home(),
            &[
                "--state-dir",
                &self.p("bob-state"),
                "trust",
                "add",
                &self.alice.0,
            ],
            b"",
        ));
    }
}

fn v2_counter(wire: &[u8]) -> u64 {
    u64::from_be_bytes(wire[39..47].try_into().unwrap())
}

#[test]
fn v2_messages_are_read_once_and_replays_refused() {
    let w = World::new("v2");
    w.bob_trusts_alice();
    // One process per message: counters still go up by one (the exact mark is
    // stored on the way out), and each reaches Bob.
    let first = w.encode_v2("v2", b"transfer 100");
    let second = w.encode_v2("both", b"transfer 200");
    assert_eq!(first[0], 0x02, "v2 wire format");
    assert_eq!(first.len(), 12 + 127);
    assert_eq!((v2_counter(&first), v2_counter(&second)), (0, 1));
    assert!(w.dir.join("alice-state/state.db").exists());

    let out = w.bob_decodes(&first, &["--protocol", "v2", "--topic", "t"]);
    assert_eq!(ok(&out), "transfer 100");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&w.alice.2));
    // The same message again, in a new process: refused, saying why.
    let err = refused(
        &w.bob_decodes(&first, &["--protocol", "v2", "--topic", "t"]),
        "replayed message",
    );
    assert!(
        err.contains("already accepted") && err.contains(&w.alice.2),
        "{err}"
    );
    // The next one still gets through (it is above the exact mark stored on exit),
    // once; `both` reads v2 as well and keeps the same marks.
    assert_eq!(
        ok(&w.bob_decodes(&second, &["--protocol", "both", "--topic", "t"])),
        "transfer 200"
    );
    refused(
        &w.bob_decodes(&second, &["--protocol", "v2", "--topic", "t"]),
        "replayed",
    );
    refused(
        &w.bob_decodes(&first, &["--protocol", "both", "--topic", "t"]),
        "replayed",
    );
    // Hex in, as for classic.
    let third = w.encode_v2("v2", b"hex");
    let hex: String = third.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        ok(&w.bob_decodes(
            hex.as_bytes(),
            &["--protocol", "v2", "--topic", "t", "--hex"]
        )),
        "hex"
    );
    // A classic reader (the default) names what it was handed.
    refused(&w.bob_decodes(&third, &[]), "this is a v2 message");
}

#[test]
fn a_v2_topic_refuses_classic_messages() {
    let w = World::new("v2-classic");
    w.bob_trusts_alice();
    let classic = w.encode("alice.seed", b"old format");
    assert_eq!(classic[0], b's');
    refused(
        &w.bob_decodes(&classic, &["--protocol", "v2", "--topic", "t"]),
        "this is a classic message and this topic speaks v2 only",
    );
    // Migration mode reads it.
    assert_eq!(
        ok(&w.bob_decodes(&classic, &["--protocol", "both", "--topic", "t"])),
        "old format"
    );
    // A bad value is a usage error.
    let out = w.bob_decodes(&classic, &["--protocol", "v3"]);
    usage_error(&out, "invalid value 'v3' for '--protocol <VERSION>'");
}

#[test]
fn a_v2_message_refused_for_a_wrong_key_file_can_still_be_read() {
    // Bob's decode stores Alice's replay mark ahead before it opens the message; a
    // refusal must take it back, or the retry would be refused as old.
    let w = World::new("v2-wrongkey");
    w.bob_trusts_alice();
    let wire = w.encode_v2("v2", b"secret");
    ok(&run(
        w.home(),
        &["topic-key", "--key-file", &w.p("other.key")],
        b"",
    ));
    let state = w.p("bob-state");
    let decode_with = |key: &str| {
        run(
            w.home(),
            &[
                "--state-dir",
                &state,
                "decode",
                "--protocol",
                "v2",
                "--topic",
                "t",
                "--seed-file",
                &w.p("bob.seed"),
                "--key-file",
                key,
            ],
            &wire,
        )
    };
    refused(
        &decode_with(&w.p("other.key")),
        "does not open under the topic key",
    );
    assert_eq!(ok(&decode_with(&w.p("topic.key"))), "secret");
    refused(&decode_with(&w.p("topic.key")), "replayed message");
}

#[test]
fn another_programs_database_is_refused_and_kept() {
    let w = World::new("foreign-db");
    w.bob_trusts_alice();
    let wire = w.encode_v2("v2", b"x");
    let db = w.dir.join("bob-state/state.db");
    fs::remove_file(&db).unwrap();
    {
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = fs::read(&db).unwrap();
    refused(
        &w.bob_decodes(&wire, &["--protocol", "v2", "--topic", "t"]),
        "another program's SQLite database",
    );
    refused(
        &run(
            w.home(),
            &["--state-dir", &w.p("bob-state"), "trust", "list"],
            b"",
        ),
        "refusing to touch it",
    );
    assert_eq!(fs::read(&db).unwrap(), before);
}

/// Bad arguments are reported as clap writes them: the missing argument named in full,
/// typo suggestions kept, exit code 2.
#[test]
fn usage_errors_name_the_argument_and_suggest_fixes() {
    let dir = TempDir::created("usage");
    let home = dir.path();
    let out = run(home, &["keygen"], b"");
    let err = usage_error(&out, "the following required arguments were not provided:");
    assert!(err.contains("--seed-file <PATH>"), "{err}");
    assert!(
        err.contains("Usage: stringphone keygen --seed-file <PATH>"),
        "{err}"
    );

    let out = run(home, &["encode", "--seed-file", "s"], b"");
    usage_error(&out, "--key-file <PATH>");

    let out = run(home, &["kegen", "--seed-file", "x"], b"");
    usage_error(&out, "tip: a similar subcommand exists: 'keygen'");
    let out = run(home, &["keygen", "--seed-fil", "x"], b"");
    usage_error(&out, "tip: a similar argument exists: '--seed-file'");
    let out = run(home, &["decode", "--protocol", "v22"], b"");
    usage_error(&out, "[possible values: classic, v2, both]");
    // --admit-newcomers only means something with a pairing window.
    let out = run(
        home,
        &[
            "chat",
            "--broker",
            "mqtt://127.0.0.1:1",
            "--topic",
            "t",
            "--seed-file",
            "s",
            "--admit-newcomers",
        ],
        b"",
    );
    usage_error(&out, "--pair-for <SECONDS>");
    assert!(!dir.join("s").exists());
}

/// `trust remove A B` with B unknown changes nothing.
#[test]
fn trust_remove_is_all_or_nothing() {
    let w = World::new("remove");
    let state = w.p("st");
    let carol = keygen(w.home(), &w.dir.join("carol.seed"));
    let trust = |args: &[&str]| {
        let mut all = vec!["--state-dir", state.as_str(), "trust"];
        all.extend(args);
        run(w.home(), &all, b"")
    };
    ok(&trust(&["add", &w.alice.0, &w.bob.0]));
    let before = ok(&trust(&["list"]));
    let store = fs::read(w.dir.join("st/state.db")).unwrap();

    // Carol is not trusted: Alice stays trusted too, and nothing was printed.
    let err = refused(&trust(&["remove", &w.alice.2, &carol.1]), "nothing removed");
    assert!(err.contains(&carol.1) && !err.contains(&w.alice.1), "{err}");
    refused(&trust(&["remove", &w.alice.0, &carol.0]), "nothing removed");
    // A fingerprint nobody has is refused before anything changes, too.
    refused(
        &trust(&["remove", &w.alice.1, &carol.2]),
        "no trusted participant has fingerprint",
    );
    assert_eq!(ok(&trust(&["list"])), before);
    assert_eq!(fs::read(w.dir.join("st/state.db")).unwrap(), store);

    // All known (one named twice): all removed, each said once.
    let out = ok(&trust(&["remove", &w.alice.1, &w.bob.2, &w.alice.0]));
    assert_eq!(
        out,
        format!(
            "removed {} {}\nremoved {} {}\n",
            w.alice.1, w.alice.2, w.bob.1, w.bob.2
        )
    );
    assert_eq!(ok(&trust(&["list"])), "");
}

impl World {
    /// Runs the command with `args` at a pseudo-terminal, nothing on stdin: its exit
    /// code and what the terminal showed.
    fn at_terminal(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut c = cmd(self.home());
        c.args(args);
        let out = on_terminal(&c)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// A wire message is never written as raw bytes to a terminal; hex is.
#[test]
fn binary_output_is_refused_at_a_terminal() {
    let w = World::new("tty");
    let state = w.p("st");
    let seed = w.p("alice.seed");
    let key = w.p("topic.key");
    for args in [
        vec!["encode", "--seed-file", &seed, "--key-file", &key],
        vec![
            "--state-dir",
            &state,
            "encode",
            "--seed-file",
            &seed,
            "--key-file",
            &key,
            "--protocol",
            "v2",
        ],
        vec!["--state-dir", &state, "intro", "--seed-file", &seed],
        vec![
            "--state-dir",
            &state,
            "reply",
            "--seed-file",
            &seed,
            "--key-file",
            &key,
        ],
    ] {
        let (code, screen) = w.at_terminal(&args);
        assert_eq!(code, Some(1), "{args:?}: {screen}");
        assert!(
            screen.contains(
                "error: refusing to write a binary message to a terminal: add --hex, or \
                 redirect stdout to a file or a pipe"
            ),
            "{args:?}: {screen:?}"
        );
    }
    // Refused before anything was done: no v2 counter taken, no pending introduction.
    assert!(!w.dir.join("st").exists());
    hex_goes_to_a_terminal_and_raw_bytes_down_a_pipe(&w);
}

/// With --hex, the terminal gets hex; piped, raw bytes are fine.
fn hex_goes_to_a_terminal_and_raw_bytes_down_a_pipe(w: &World) {
    let (state, seed) = (w.p("st"), w.p("alice.seed"));
    let (code, screen) = w.at_terminal(&[
        "--state-dir",
        &state,
        "intro",
        "--seed-file",
        &seed,
        "--hex",
    ]);
    assert_eq!(code, Some(0), "{screen}");
    let hex = screen
        .lines()
        .map(str::trim)
        .find(|l| l.len() > 100 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no hex line: {screen:?}"));
    assert!(hex.starts_with("69"), "{hex}"); // 'i', an introduction
    let out = run(
        w.home(),
        &["--state-dir", &state, "intro", "--seed-file", &seed],
        b"",
    );
    assert_eq!(ok(&out).as_bytes()[0], b'i');
}

/// Key files say what they hold: a seed where a topic key is expected (or the other
/// way round) is refused; files written before (64 bare hex digits) still read.
#[test]
fn key_files_say_what_they_hold() {
    let w = World::new("kinds");
    let (seed, key) = (w.p("alice.seed"), w.p("topic.key"));
    assert!(fs::read_to_string(&seed)
        .unwrap()
        .starts_with("stringphone-seed "));
    assert!(fs::read_to_string(&key)
        .unwrap()
        .starts_with("stringphone-topic-key "));
    a_key_file_of_the_wrong_kind_is_refused(&w);
    key_files_of_64_bare_hex_digits_still_read(&w);
}

/// Swapped: refused, naming the mix-up; a kind nobody knows: refused.
fn a_key_file_of_the_wrong_kind_is_refused(w: &World) {
    let (seed, key) = (w.p("alice.seed"), w.p("topic.key"));
    let out = run(
        w.home(),
        &["encode", "--seed-file", &key, "--key-file", &seed],
        b"x",
    );
    let err = refused(&out, "holds a topic key, not a signing seed");
    assert!(
        err.contains("are --seed-file and --key-file swapped?"),
        "{err}"
    );
    let out = run(
        w.home(),
        &["encode", "--seed-file", &seed, "--key-file", &seed],
        b"x",
    );
    refused(
        &out,
        "holds a signing seed, not a topic key: are --seed-file and --key-file swapped?",
    );
    refused(
        &run(w.home(), &["pubkey", "--seed-file", &key], b""),
        "holds a topic key, not a signing seed",
    );
    fs::write(
        w.dir.join("odd.key"),
        format!("stringphone-thing {}\n", "ab".repeat(32)),
    )
    .unwrap();
    refused(
        &run(w.home(), &["pubkey", "--seed-file", &w.p("odd.key")], b""),
        "names no kind of key",
    );
}

/// Written before key files said what they hold: 64 hex digits and a newline. Such a
/// seed and topic key still encode, and pubkey shows what keygen showed, for the new
/// file and the old one alike.
fn key_files_of_64_bare_hex_digits_still_read(w: &World) {
    let bare = |from: &str, to: &str| {
        let text = fs::read_to_string(w.dir.join(from)).unwrap();
        let digits = text.split_whitespace().last().unwrap().to_string();
        assert_eq!(digits.len(), 64);
        fs::write(w.dir.join(to), format!("{digits}\n")).unwrap();
    };
    bare("alice.seed", "old.seed");
    bare("topic.key", "old.key");
    let wire = {
        let out = w.run_encode("old.seed", "old.key", b"from an old file");
        ok(&out);
        out.stdout
    };
    let out = w.bob_decodes(&wire, &["--trust", &w.alice.0]);
    assert_eq!(ok(&out), "from an old file");

    let shown = format!(
        "public-key  {}\nid          {}\nfingerprint {}\n",
        w.alice.0, w.alice.1, w.alice.2
    );
    for seed in ["alice.seed", "old.seed"] {
        let out = run(w.home(), &["pubkey", "--seed-file", &w.p(seed)], b"");
        assert_eq!(ok(&out), shown, "{seed}");
    }
    refused(
        &run(w.home(), &["pubkey", "--seed-file", &w.p("none.seed")], b""),
        "cannot read seed file",
    );
}

/// Hex handed where raw bytes are expected (and the other way round) is named.
#[test]
fn hex_and_raw_messages_are_told_apart() {
    let w = World::new("hexraw");
    let wire = w.encode("alice.seed", b"x");
    let hex: String = wire.iter().map(|b| format!("{b:02x}")).collect();
    let hex = format!("{hex}\n");
    let trust = ["--trust", w.alice.0.as_str()];
    refused(
        &w.bob_decodes(hex.as_bytes(), &trust),
        "the message on stdin is hex text of a stringphone message: add --hex",
    );
    let mut args = trust.to_vec();
    args.push("--hex");
    refused(
        &w.bob_decodes(&wire, &args),
        "(it is a raw stringphone message: drop --hex)",
    );
    assert_eq!(ok(&w.bob_decodes(hex.as_bytes(), &args)), "x");
}

#[test]
fn completions_for_every_shell() {
    let dir = TempDir::created("completions");
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef stringphone"),
        ("fish", "complete -c stringphone"),
        ("elvish", "stringphone"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = ok(&run(dir.path(), &["completions", shell], b""));
        assert!(out.contains(marker), "{shell}: {out}");
        for word in ["keygen", "pubkey", "chat", "seed-file", "admit-newcomers"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    usage_error(
        &run(dir.path(), &["completions", "tcsh"], b""),
        "invalid value 'tcsh'",
    );
}

#[test]
fn a_store_that_cannot_be_read_is_refused_with_each_cause_once() {
    let w = World::new("unreadable");
    let state = w.p("st");
    // The trust file is a directory: opening works, reading fails ("Is a directory").
    fs::create_dir_all(w.dir.join("st/trust")).unwrap();
    let wire = w.encode("alice.seed", b"x");
    let (seed, key) = (w.p("bob.seed"), w.p("topic.key"));
    let decode = [
        "--state-dir",
        &state,
        "decode",
        "--seed-file",
        &seed,
        "--key-file",
        &key,
    ];
    for out in [
        run(w.home(), &["--state-dir", &state, "trust", "list"], b""),
        run(w.home(), &decode, &wire),
    ] {
        let line = refused(&out, "cannot read");
        let path = w.dir.join("st/trust");
        let path = path.to_str().unwrap();
        assert_eq!(line.matches(path).count(), 1, "{line}");
        assert_eq!(line.matches("directory").count(), 1, "{line}");
        assert!(!line.contains("os error"), "{line}");
    }
}
