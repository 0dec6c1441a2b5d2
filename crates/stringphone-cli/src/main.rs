//! `stringphone`: encrypted, signed group messaging from the shell.
//!
//! Keys live in key files (what the key is, 64 hex digits and a newline, mode 0600);
//! whom you trust lives in a state directory (a crash-safe file store); `chat` talks
//! over an MQTT broker. Every refusal is one line on stderr, exit code 1, and nothing
//! on stdout; bad arguments are reported by clap (the error, the usage, a hint) with
//! exit code 2. See the README for the command reference.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chat;
mod files;
mod group;
mod proto;
mod rotate;

use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use stringphone::{
    DecodeMode, Decoded, Error, MemoryTrustStore, Message, ParticipantId, PublicKey, SigningSeed,
    Topic, TopicKey, TrustStore,
};

use crate::files::KeyKind;
use crate::proto::{fingerprint, id_of, who, CliStore, Discovery, Protocol};

/// A refusal: one line for stderr.
#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message carries.
        for (i, line) in self.message.lines().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(line.trim())?;
        }
        Ok(())
    }
}

/// The protocol's errors, said for someone at a shell.
pub fn explain(e: &Error) -> String {
    match e {
        Error::UntrustedSender(id) => format!(
            "sender {id} (fingerprint {}) is not trusted: add its public key with \
             `stringphone trust add` (or `--trust`) once you have compared it out of band",
            id.fingerprint()
        ),
        Error::BadSignature => {
            "the signature does not verify: the message was tampered with or forged".into()
        }
        Error::DecryptFailed => {
            "the message does not open under the topic key: it was tampered with, \
             or this is the wrong topic key file"
                .into()
        }
        Error::UnknownType(b) => {
            format!("not a stringphone message: unknown message type byte 0x{b:02x}")
        }
        Error::Introduction => {
            "this is an introduction, not a message: answer it with `stringphone reply`".into()
        }
        Error::IntroductionReply => "this is an introduction reply, not a message: open it with \
             `stringphone accept-reply`"
            .into(),
        Error::MissingTopicKey => "no topic key".into(),
        Error::Replayed {
            sender,
            counter,
            too_old: false,
        } => format!(
            "replayed message: message {counter} of {} was already accepted here; refused",
            who(sender)
        ),
        Error::Replayed {
            sender,
            counter,
            too_old: true,
        } => format!(
            "replayed message (or one that came too late): message {counter} of {} is \
             older than what was already accepted from that sender here; refused",
            who(sender)
        ),
        Error::ProtocolRefused { version: 1, .. } => "this is a classic message and this \
             topic speaks v2 only: refused (--protocol both reads classic messages too)"
            .into(),
        Error::ProtocolRefused { version: 2, .. } => {
            "this is a v2 message: read it with --protocol v2 (or both)".into()
        }
        Error::UntrustedReplier { id, .. } => format!(
            "the reply is signed by {}, who is not trusted: compare its fingerprint out of \
             band and trust it",
            who(id)
        ),
        Error::Store(e) => chain(e),
        Error::Rekey => "this is a v2 rekey (a rotation of the topic key), not a message: \
             a chat with --protocol v2 takes it"
            .into(),
        Error::NotAnAdmin(id) => format!(
            "{} is not an admin of this topic: only admins rotate the topic key, and only \
             their rotations are accepted",
            who(id)
        ),
        Error::NotAMember(id) => format!(
            "{} is not a member of this epoch: the rotation that started it left it out",
            who(id)
        ),
        Error::EpochMismatch { current, got } => format!(
            "epoch {got} does not follow this topic's epoch {current}: refused (epochs \
             only move forward, one rotation at a time)"
        ),
        Error::UnknownEpoch(n) => {
            format!("sealed under epoch {n}, whose key this topic does not hold")
        }
        Error::TopicMismatch => "the state directory holds the group of another topic: one \
             state directory serves one topic (use another --state-dir)"
            .into(),
        other => chain(other),
    }
}

/// An error and each of its causes (`source()`), once each: "what: why: why". An OS
/// error is said without Rust's " (os error N)".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        if !out.is_empty() {
            out.push_str(": ");
        }
        match cause.downcast_ref::<io::Error>() {
            Some(os) => out.push_str(&files::io_reason(os)),
            None => out.push_str(&cause.to_string()),
        }
        next = cause.source();
    }
    out
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::new(explain(&e))
    }
}

impl From<stringphone_store_sqlite::SqliteStoreError> for Failure {
    fn from(e: stringphone_store_sqlite::SqliteStoreError) -> Self {
        Failure::new(chain(&e))
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

/// Encrypted, signed group messaging over any one-to-many channel.
///
/// Key files hold one key (the kind of key, 64 hex digits and a newline; mode 0600) and
/// are never overwritten without --force. Whom you trust is kept in the state directory.
#[derive(Parser, Debug)]
#[command(name = "stringphone", version, propagate_version = true)]
struct Cli {
    /// Directory of the trust store and pending introductions
    /// [default: $XDG_DATA_HOME/stringphone, or ~/.local/share/stringphone]
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new signing seed (your identity); print its public key, id and fingerprint
    Keygen(KeygenArgs),
    /// Print the public key, id and fingerprint of an existing signing seed
    Pubkey(PubkeyArgs),
    /// Write a new topic key (the secret every participant of a topic shares)
    TopicKey(TopicKeyArgs),
    /// Encrypt and sign stdin; write the wire message to stdout
    Encode(EncodeArgs),
    /// Check and decrypt a wire message from stdin; write the plaintext to stdout
    Decode(DecodeArgs),
    /// Start discovery: write an introduction to stdout and remember its secret
    Intro(IntroArgs),
    /// Answer an introduction from stdin with the topic key, for a trusted newcomer
    Reply(ReplyArgs),
    /// Open the reply to our introduction from stdin and save the topic key it carries
    AcceptReply(AcceptReplyArgs),
    /// Show or change whom you trust
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Chat on an MQTT topic: type lines to send them, see what others send
    ///
    /// Each line typed is confirmed (`sent N`) once the broker has it; lines typed while
    /// the broker is unreachable are queued and sent on reconnection. A line that starts
    /// with / is a command, never sent: /approve and /refuse answer the questions asked
    /// about newcomers, /trust trusts a key, /help lists them all. With --protocol v2,
    /// admins rotate the topic key (/rotate, /remove WHO), rotations are taken from the
    /// admins named (--admin, /admin), and the epoch is kept in the state directory.
    Chat(chat::ChatArgs),
    /// Rotate the topic key of a v2 topic (admins): a new epoch for the members kept
    ///
    /// Without --remove, the new epoch lists every trusted participant (as /rotate in a
    /// chat); with it, the current epoch's members but those named, who are also removed
    /// from the trust store (as /remove). Connects first, then rotates (the new epoch is
    /// saved in the state directory), publishes the rekey (retained: members offline now
    /// get it when they next join) and waits for the broker's acknowledgement; prints
    /// `rotated <epoch> <id> <fingerprint> <n> members`. A chat of the same identity
    /// running on the same state directory holds the right to send: this command is then
    /// refused, and /rotate or /remove in that chat does the same.
    Rotate(rotate::RotateArgs),
    /// Print a completion script for a shell to stdout
    ///
    /// bash: `stringphone completions bash > ~/.local/share/bash-completion/completions/stringphone`;
    /// zsh: into a directory of your $fpath, as `_stringphone`;
    /// fish: `stringphone completions fish > ~/.config/fish/completions/stringphone.fish`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
struct PubkeyArgs {
    /// The signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
}

#[derive(Args, Debug)]
struct KeygenArgs {
    /// Where to write the seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct TopicKeyArgs {
    /// Where to write the topic key
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct EncodeArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
    /// Wire format to send: classic, or v2 (v2 and both send v2, and keep this
    /// identity's message counter in the state directory)
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    protocol: Protocol,
    /// The topic's name (the MQTT topic or room every participant uses): v2 binds
    /// every message to it. Needed with --protocol v2 or both
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// Write the message as hex and a newline instead of raw bytes
    #[arg(long)]
    hex: bool,
}

#[derive(Args, Debug)]
struct DecodeArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
    /// Also trust this public key (64 hex digits), for this run only; repeatable
    #[arg(long = "trust", value_name = "PUBKEY_HEX")]
    trust: Vec<String>,
    /// Skip the trust and signature checks: anyone with the topic key can then write
    /// as anyone (VERY BAD; the sender shown is only a claim)
    #[arg(long, conflicts_with = "ignore_untrusted")]
    naive: bool,
    /// Print nothing and succeed when the sender is not trusted
    #[arg(long)]
    ignore_untrusted: bool,
    /// Wire formats to accept: classic, v2 (refuses classic; refuses replays, keeping
    /// what it accepted in the state directory), or both
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    protocol: Protocol,
    /// The topic's name (the MQTT topic or room every participant uses): v2 binds
    /// every message to it. Needed with --protocol v2 or both
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// Read the message as hex instead of raw bytes
    #[arg(long)]
    hex: bool,
}

#[derive(Args, Debug)]
struct IntroArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// Write the introduction as hex and a newline instead of raw bytes
    #[arg(long)]
    hex: bool,
}

#[derive(Args, Debug)]
struct ReplyArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// The topic key to hand over
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
    /// Trust the newcomer first, if its fingerprint (or id, or public key) is this one:
    /// compare it with the newcomer out of band
    #[arg(long, value_name = "FINGERPRINT")]
    approve: Option<String>,
    /// Read the introduction as hex and write the reply as hex
    #[arg(long)]
    hex: bool,
}

#[derive(Args, Debug)]
struct AcceptReplyArgs {
    /// Your signing seed (the one `intro` used)
    #[arg(long, value_name = "PATH")]
    seed_file: PathBuf,
    /// Where to write the topic key
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
    /// Replace an existing topic key file
    #[arg(long)]
    force: bool,
    /// Also trust the public key the replier claims (replies are not signed: do this
    /// only if its fingerprint is the one you expect)
    #[arg(long)]
    trust_replier: bool,
    /// Read the reply as hex
    #[arg(long)]
    hex: bool,
}

#[derive(Subcommand, Debug)]
enum TrustCommand {
    /// Trust public keys (64 hex digits each)
    Add {
        /// The public keys
        #[arg(required = true, value_name = "PUBKEY_HEX")]
        keys: Vec<String>,
    },
    /// Stop trusting participants, named by public key, id or fingerprint (an admin of a
    /// v2 topic loses that right too; the topic key is not taken back: see `rotate`)
    Remove {
        /// Public keys (64 hex), ids (32 hex) or fingerprints (xxxx-xxxx-xxxx-xxxx)
        #[arg(required = true, value_name = "WHO")]
        who: Vec<String>,
    },
    /// List trusted participants: id, fingerprint, public key (and, for a v2 topic,
    /// who is an admin or a member, and the epoch)
    List,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!(
            "error: internal error ({}): please report it",
            Failure::new(message)
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // As clap writes it: the whole error (the missing argument's name, the
            // "a similar subcommand exists" tip), the usage, and --help. Help and
            // --version go to stdout with 0; errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let state = || files::state_dir(cli.state_dir.as_deref());
    match cli.command {
        Command::Keygen(a) => keygen(a),
        Command::Pubkey(a) => print_identity(read_seed(&a.seed_file)?),
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "stringphone", &mut text);
            out_bytes(&text, false)
        }
        Command::TopicKey(a) => {
            let key = TopicKey::generate();
            files::write_key(&a.key_file, KeyKind::TopicKey, key.expose_secret(), a.force)?;
            out(&format!(
                "wrote a new topic key to {}",
                a.key_file.display()
            ))
        }
        Command::Encode(a) => {
            // Only v2 keeps state (its counter): classic encoding needs no directory.
            let state = match a.protocol {
                Protocol::Classic => None,
                Protocol::V2 | Protocol::Both => Some(state()?),
            };
            encode(a, state.as_deref())
        }
        Command::Decode(a) => decode(a, &state()?),
        Command::Intro(a) => intro(a, &state()?),
        Command::Reply(a) => reply(a, &state()?),
        Command::AcceptReply(a) => accept_reply(a, &state()?),
        Command::Trust(t) => trust(t, &state()?),
        Command::Chat(a) => chat::run(a, &state()?),
        Command::Rotate(a) => rotate::run(a, &state()?),
    }
}

/// Writes one line to stdout.
pub(crate) fn out(line: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(format!("cannot write to stdout: {}", files::io_reason(&e))))
}

/// Refuses, before anything is done, to write a wire message as raw bytes to a
/// terminal: it would be garbage on screen, and could drive the terminal.
fn refuse_binary_to_terminal(hex: bool) -> Result<()> {
    if !hex && io::stdout().is_terminal() {
        return Err(Failure::new(
            "refusing to write a binary message to a terminal: add --hex, or redirect \
             stdout to a file or a pipe",
        ));
    }
    Ok(())
}

/// Writes bytes (raw) or their hex and a newline to stdout.
fn out_bytes(bytes: &[u8], hex: bool) -> Result<()> {
    if hex {
        return out(&proto::to_hex(bytes));
    }
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(format!("cannot write to stdout: {}", files::io_reason(&e))))
}

/// Reads all of stdin.
fn read_stdin() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(format!("cannot read stdin: {}", files::io_reason(&e))))?;
    Ok(bytes)
}

/// Reads a wire message (`what`: "message", "reply"...) from stdin: hex text with
/// `hex`, raw bytes otherwise. Each way, the other form is recognised and named.
fn read_wire(hex: bool, what: &str) -> Result<Vec<u8>> {
    let bytes = read_stdin()?;
    if !hex {
        if proto::hex_message(&bytes).is_some() {
            return Err(Failure::new(format!(
                "the {what} on stdin is hex text of a stringphone message: add --hex"
            )));
        }
        return Ok(bytes);
    }
    let raw_hint = || {
        if Message::parse(&bytes).is_ok() {
            " (it is a raw stringphone message: drop --hex)"
        } else {
            ""
        }
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::new(format!("the {what} on stdin is not hex text{}", raw_hint())))?;
    proto::from_hex(text).map_err(|e| {
        Failure::new(format!(
            "the {what} on stdin is not valid hex: {e}{}",
            raw_hint()
        ))
    })
}

pub(crate) fn read_seed(path: &Path) -> Result<SigningSeed> {
    files::read_key(path, KeyKind::Seed, SigningSeed::from_hex)
}

pub(crate) fn read_topic_key(path: &Path) -> Result<TopicKey> {
    files::read_key(path, KeyKind::TopicKey, TopicKey::from_hex)
}

fn keygen(a: KeygenArgs) -> Result<()> {
    let seed = SigningSeed::generate();
    files::write_key(&a.seed_file, KeyKind::Seed, seed.expose_secret(), a.force)?;
    print_identity(seed)
}

/// Prints the public key, id and fingerprint of `seed`, as `keygen` and `pubkey` do.
fn print_identity(seed: SigningSeed) -> Result<()> {
    let topic = Topic::new(seed, None);
    let id = topic.id();
    out(&format!(
        "public-key  {}\nid          {id}\nfingerprint {}",
        topic.public_key(),
        id.fingerprint()
    ))
}

/// The v2 topic id of `--topic`, which v2 needs.
fn v2_topic(name: Option<&str>) -> Result<stringphone::v2::TopicId> {
    name.map(proto::topic_id).ok_or_else(|| {
        Failure::new(
            "v2 needs --topic NAME: the topic's name (the MQTT topic or room), the same for every participant",
        )
    })
}

fn encode(a: EncodeArgs, state: Option<&Path>) -> Result<()> {
    refuse_binary_to_terminal(a.hex)?;
    let seed = read_seed(&a.seed_file)?;
    let key = read_topic_key(&a.key_file)?;
    let plaintext = read_stdin()?;
    let Some(state) = state else {
        let mut topic = Topic::new(seed, Some(key));
        return out_bytes(&topic.encode(&plaintext)?, a.hex);
    };
    // v2: the counter comes from the state directory's marks, so it never repeats
    // across runs; the exact mark is stored back so that the next run goes on at +1.
    let mut topic = Topic::with_store(seed, Some(key), proto::open_store(state)?);
    topic.set_protocol(a.protocol.version());
    topic.set_topic_id(v2_topic(a.topic.as_deref())?)?;
    let wire = topic.encode(&plaintext)?;
    if let Err(e) = topic.save_replay_marks() {
        // Harmless: the block reserved before encoding stays stored; counters skip it.
        eprintln!("warning: {}", Failure::from(e));
    }
    out_bytes(&wire, a.hex)
}

fn decode(a: DecodeArgs, state: &Path) -> Result<()> {
    let seed = read_seed(&a.seed_file)?;
    let key = read_topic_key(&a.key_file)?;
    let mut extra = MemoryTrustStore::new();
    for text in &a.trust {
        let pk = proto::parse_public_key(text, "--trust")?;
        extra.insert(id_of(&pk), pk)?;
    }
    let store = CliStore {
        extra,
        db: proto::open_store(state)?,
    };
    let message = read_wire(a.hex, "message")?;
    let mut topic = Topic::with_store(seed, Some(key), store);
    topic.set_protocol(a.protocol.version());
    if a.protocol != Protocol::Classic {
        topic.set_topic_id(v2_topic(a.topic.as_deref())?)?;
    }
    let mode = if a.naive {
        DecodeMode::Naive
    } else if a.ignore_untrusted {
        DecodeMode::IgnoreUntrusted
    } else {
        DecodeMode::Strict
    };
    // A refused message stores nothing (core moves a sender's mark only once the
    // message opened), so a wrong key file does not make the sender's next messages
    // look old.
    // Written without an exhaustive match, so that a future kind of outcome is a
    // refusal here rather than a compile error.
    let decoded = topic.decode(&message, mode)?;
    // Accepted: store the exact mark, so that the sender's next message is not taken
    // for an old one by the next run. Failing that, the mark stored ahead stays,
    // which refuses no replay but may refuse the sender's next messages.
    if let Err(e) = topic.save_replay_marks() {
        eprintln!("warning: {}", Failure::from(e));
    }
    if let Decoded::Message {
        sender,
        verified,
        plaintext,
    } = decoded
    {
        if verified {
            eprintln!("from {}", who(&sender));
        } else {
            eprintln!(
                "warning: NOT verified (--naive): the message claims to be from {}",
                who(&sender)
            );
        }
        return out_bytes(&plaintext, false);
    }
    if let Decoded::Ignored { sender } = decoded {
        eprintln!("ignored: sender {} is not trusted", who(&sender));
        return Ok(());
    }
    if matches!(decoded, Decoded::Own) {
        return Err(Failure::new(
            "this message was sent by this very identity: it is not decoded",
        ));
    }
    Err(Failure::new("this message holds nothing to print"))
}

fn intro(a: IntroArgs, state: &Path) -> Result<()> {
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

/// Does `approved` (as typed by the user) name this key?
fn names_key(approved: &str, key: &PublicKey) -> bool {
    let approved = approved.trim().to_ascii_lowercase();
    let id = id_of(key);
    approved == id.fingerprint().to_string()
        || approved == id.to_string()
        || approved == key.to_string()
}

fn reply(a: ReplyArgs, state: &Path) -> Result<()> {
    refuse_binary_to_terminal(a.hex)?;
    let seed = read_seed(&a.seed_file)?;
    let key = read_topic_key(&a.key_file)?;
    let intro = read_wire(a.hex, "introduction")?;
    let parsed = Message::parse(&intro)?;
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

fn accept_reply(a: AcceptReplyArgs, state: &Path) -> Result<()> {
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

fn trust(command: TrustCommand, state: &Path) -> Result<()> {
    let mut store = proto::open_store(state)?;
    match command {
        TrustCommand::Add { keys } => {
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
        TrustCommand::Remove { who: names } => {
            // All or nothing: every name must be a trusted participant before anything
            // is removed.
            let entries = store.entries()?;
            let mut ids: Vec<ParticipantId> = Vec::new();
            for name in &names {
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
        TrustCommand::List => {
            let group = group::stored_state(&store)?;
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
                // The v2 group: its epoch, then the members and admins the trust store
                // does not hold (this identity, typically).
                match &members {
                    Some(m) => {
                        text.push_str(&format!("epoch {} members {}\n", group.epoch(), m.len()))
                    }
                    None => text.push_str(&format!("epoch {} members unlisted\n", group.epoch())),
                }
                let trusted = |id: &ParticipantId| entries.iter().any(|(t, _)| t == id);
                for id in members.iter().flatten().filter(|id| !trusted(id)) {
                    let admin = if admins.contains(id) { " admin" } else { "" };
                    text.push_str(&format!("member {}{admin}\n", who(id)));
                }
                let listed = |id: &ParticipantId| members.as_ref().is_some_and(|m| m.contains(id));
                for id in admins.iter().filter(|id| !trusted(id) && !listed(id)) {
                    text.push_str(&format!("admin {}\n", who(id)));
                }
            }
            out_bytes(text.as_bytes(), false)
        }
    }
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

/// True when stdin is a terminal (chat prompts only then).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

impl From<stringphone::StoreError> for Failure {
    fn from(e: stringphone::StoreError) -> Self {
        Failure::new(chain(&e))
    }
}
