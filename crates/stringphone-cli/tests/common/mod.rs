//! Helpers shared by the command's process tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_stringphone");

/// Generous bound for any one step of a process test on a loaded machine.
pub const STEP: Duration = Duration::from_secs(20);

/// A fresh directory, removed on drop (`TempDir::created`).
pub use stringphone_testkit::TempDir;

/// The command with a private HOME and no XDG_DATA_HOME, so no test touches the
/// real user's data.
pub fn cmd(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", home).env_remove("XDG_DATA_HOME");
    c
}

/// Runs `args` with `stdin` as input.
pub fn run(home: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = cmd(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stringphone");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Asserts success and returns stdout as text.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a refusal as the command promises it: non-zero exit, nothing on stdout,
/// exactly one line on stderr (no panic trace) containing `needle`.
pub fn refused(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a refusal containing {needle:?}, but it succeeded; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "a refusal wrote to stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "a refusal must be one line on stderr, got: {stderr:?}"
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} does not mention {needle:?}"
    );
    stderr
}

/// Asserts bad arguments reported as clap writes them: exit code 2, nothing on stdout,
/// the error (containing `needle`) first, then clap's pointer to --help; no panic.
pub fn usage_error(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} does not mention {needle:?}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("For more information, try '--help'."),
        "{stderr:?}"
    );
    stderr
}

/// What `keygen` printed: (public key, id, fingerprint).
pub fn keygen(home: &Path, seed_file: &Path) -> (String, String, String) {
    let out = ok(&run(
        home,
        &["keygen", "--seed-file", seed_file.to_str().unwrap()],
        b"",
    ));
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("keygen printed no {name}: {out}"))
    };
    (field("public-key"), field("id"), field("fingerprint"))
}

/// Lines a child writes, gathered by a thread, waited on with a deadline.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    pub fn follow(stream: impl Read + Send + 'static) -> Self {
        let lines = Lines::default();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(mut line) = line else { break };
                // A pseudo-terminal ends lines with \r\n.
                if line.ends_with('\r') {
                    line.pop();
                }
                let (store, cv) = &*sink.0;
                store.lock().unwrap().push(line);
                cv.notify_all();
            }
        });
        lines
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().clone()
    }

    /// The first line satisfying `pred`, waiting up to `timeout` for it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (store, cv) = &*self.0;
        let mut guard = store.lock().unwrap();
        loop {
            if let Some(l) = guard.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

/// A long-running child (a chat, a broker) with its output followed; killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub out: Lines,
    pub err: Lines,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let out = Lines::follow(child.stdout.take().unwrap());
        let err = Lines::follow(child.stderr.take().unwrap());
        Proc {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    pub fn send(&self, line: &str) {
        let mut stdin: &ChildStdin = self.stdin.as_ref().expect("stdin closed");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn transcript(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            self.out.snapshot().join("\n"),
            self.name,
            self.err.snapshot().join("\n")
        )
    }

    /// Waits for a stdout line; panics with the transcript if none comes in time.
    pub fn expect(&self, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.out.wait_for(timeout, pred).unwrap_or_else(|| {
            panic!(
                "{} did not print {what} within {timeout:?}\n{}",
                self.name,
                self.transcript()
            )
        })
    }

    /// Waits up to `STEP` for a stdout line starting with `prefix`.
    pub fn expect_start(&self, what: &str, prefix: impl AsRef<str>) -> String {
        self.expect(STEP, what, |l| l.starts_with(prefix.as_ref()))
    }

    /// Waits up to `STEP` for the stdout line `line`, whole.
    pub fn expect_line(&self, what: &str, line: impl AsRef<str>) -> String {
        self.expect(STEP, what, |l| l == line.as_ref())
    }

    /// Waits up to `STEP` for a stderr line; panics with the transcript if none comes.
    pub fn expect_err(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.err.wait_for(STEP, pred).unwrap_or_else(|| {
            panic!(
                "{} did not print {what} on stderr within {STEP:?}\n{}",
                self.name,
                self.transcript()
            )
        })
    }

    pub fn has_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.out.snapshot().iter().any(|l| pred(l))
    }

    /// Closes stdin and waits (bounded) for the exit.
    pub fn finish(&mut self, timeout: Duration) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {timeout:?} of its stdin closing\n{}",
                    self.name,
                    self.transcript()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mosquitto"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/sbin/mosquitto".into());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "mosquitto not found: this test runs a real MQTT broker; install it with \
                 `apt-get install -y mosquitto`"
            )
        })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts mosquitto on a free loopback port; retries if the port got taken.
pub fn start_broker(dir: &Path) -> (Proc, u16) {
    for _ in 0..5 {
        let port = free_port();
        if let Some(broker) = start_broker_on(dir, port) {
            return (broker, port);
        }
    }
    panic!("could not start mosquitto on a loopback port");
}

/// Starts mosquitto on `port` (loopback, anonymous, no persistence), or None if it
/// does not come up there within 10 s (the port was taken, say).
pub fn start_broker_on(dir: &Path, port: u16) -> Option<Proc> {
    let conf = dir.join(format!("mosquitto-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\nlog_type error\nlog_type warning\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(mosquitto_binary());
    command.arg("-c").arg(&conf);
    let mut broker = Proc::spawn("mosquitto", command);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(broker);
        }
        if let Ok(Some(_)) = broker.child.try_wait() {
            break; // the port was taken meanwhile
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "mosquitto did not start on port {port}:\n{}",
        broker.transcript()
    );
    let _ = broker.child.kill();
    None
}

/// A command line for util-linux `script`, which runs `command` on a pseudo-terminal
/// (its stdin, stdout and stderr): what a person at a terminal would see and type.
pub fn on_terminal(command: &Command) -> Command {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let mut line: Vec<String> = vec![quote(command.get_program())];
    line.extend(command.get_args().map(quote));
    let mut script = Command::new("script");
    script
        .args(["-q", "-f", "-e", "-c"])
        .arg(line.join(" "))
        .arg("/dev/null");
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    script
}

/// A participant of the process tests: a seed, a topic key file and a state directory
/// in the test's directory, and what `keygen` printed for the seed.
pub struct Person {
    pub name: &'static str,
    pub pk: String,
    pub id: String,
    pub fp: String,
    pub seed: PathBuf,
    pub key: PathBuf,
    pub state: PathBuf,
}

impl Person {
    /// A new identity `name` in `dir` (its key file and state directory not made yet).
    pub fn new(dir: &TempDir, name: &'static str) -> Self {
        let seed = dir.join(format!("{name}.seed"));
        let (pk, id, fp) = keygen(dir.path(), &seed);
        Person {
            name,
            pk,
            id,
            fp,
            seed,
            key: dir.join(format!("{name}.key")),
            state: dir.join(format!("{name}-state")),
        }
    }

    /// `topic-key`: a new topic key in this person's key file.
    pub fn make_topic_key(&self, home: &Path) {
        ok(&run(
            home,
            &["topic-key", "--key-file", self.key.to_str().unwrap()],
            b"",
        ));
    }

    /// `<id> <fingerprint>`, as the chat prints a participant.
    pub fn who(&self) -> String {
        format!("{} {}", self.id, self.fp)
    }

    /// `chat` as this person (its state directory and seed) on the broker at
    /// 127.0.0.1:`port`, topic `topic`; each test adds the rest.
    pub fn chat_on(&self, home: &Path, port: u16, topic: &str) -> Command {
        let mut c = cmd(home);
        c.arg("--state-dir")
            .arg(&self.state)
            .args(["chat", "--broker"])
            .arg(format!("mqtt://127.0.0.1:{port}"))
            .args(["--topic", topic, "--seed-file"])
            .arg(&self.seed);
        c
    }

    /// `trust add` of each of `others`.
    pub fn trust(&self, home: &Path, others: &[&Person]) {
        for other in others {
            ok(&run(
                home,
                &[
                    "--state-dir",
                    self.state.to_str().unwrap(),
                    "trust",
                    "add",
                    &other.pk,
                ],
                b"",
            ));
        }
    }

    /// `trust remove` of `whom` (a key, id or fingerprint): what it printed.
    pub fn untrust(&self, home: &Path, whom: &str) -> String {
        let state = self.state.to_str().unwrap();
        ok(&run(
            home,
            &["--state-dir", state, "trust", "remove", whom],
            b"",
        ))
    }

    /// What `trust list` prints.
    pub fn trust_list(&self, home: &Path) -> String {
        ok(&run(
            home,
            &["--state-dir", self.state.to_str().unwrap(), "trust", "list"],
            b"",
        ))
    }

    /// The ids `trust list` names, sorted.
    pub fn trusted(&self, home: &Path) -> Vec<String> {
        let mut ids: Vec<String> = self
            .trust_list(home)
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

/// Closes each one's stdin and waits up to `timeout`: each must exit with success and
/// no panic.
pub fn finish_all(procs: &mut [&mut Proc], timeout: Duration) {
    for p in procs.iter_mut() {
        let status = p.finish(timeout);
        assert!(
            status.success(),
            "{} exited with {status}\n{}",
            p.name,
            p.transcript()
        );
        assert!(
            !p.err.snapshot().iter().any(|l| l.contains("panicked")),
            "{}",
            p.transcript()
        );
    }
}

/// A predicate: the line starts with `prefix`.
pub fn starts(prefix: String) -> impl Fn(&str) -> bool {
    move |l: &str| l.starts_with(&prefix)
}
