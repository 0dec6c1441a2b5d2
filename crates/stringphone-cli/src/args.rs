//! The command line: every command and its arguments, as clap reads them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::proto::Protocol;

/// Encrypted, signed group messaging over any one-to-many channel.
///
/// Key files hold one key (the kind of key, 64 hex digits and a newline; mode 0600) and
/// are never overwritten without --force. Whom you trust is kept in the state directory.
#[derive(Parser, Debug)]
#[command(name = "stringphone", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Directory of the trust store and pending introductions
    /// [default: $XDG_DATA_HOME/stringphone, or ~/.local/share/stringphone]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
    Chat(ChatArgs),
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
    Rotate(RotateArgs),
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
pub(crate) struct PubkeyArgs {
    /// The signing seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Where to write the seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct TopicKeyArgs {
    /// Where to write the topic key
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
}

/// The options `encode` and `decode` share: whose message, under which key, on which
/// topic.
#[derive(Args, Debug)]
pub(crate) struct MessageArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
    /// The topic key
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: PathBuf,
    /// The topic's name (the MQTT topic or room every participant uses): v2 binds
    /// every message to it. Needed with --protocol v2 or both
    #[arg(long, value_name = "NAME")]
    pub(crate) topic: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct EncodeArgs {
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// Wire format to send: classic, or v2 (v2 and both send v2, and keep this
    /// identity's message counter in the state directory)
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    pub(crate) protocol: Protocol,
    /// Write the message as hex and a newline instead of raw bytes
    #[arg(long)]
    pub(crate) hex: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DecodeArgs {
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// Also trust this public key (64 hex digits), for this run only; repeatable
    #[arg(long = "trust", value_name = "PUBKEY_HEX")]
    pub(crate) trust: Vec<String>,
    /// Skip the trust and signature checks: anyone with the topic key can then write
    /// as anyone (VERY BAD; the sender shown is only a claim)
    #[arg(long, conflicts_with = "ignore_untrusted")]
    pub(crate) naive: bool,
    /// Print nothing and succeed when the sender is not trusted
    #[arg(long)]
    pub(crate) ignore_untrusted: bool,
    /// Wire formats to accept: classic, v2 (refuses classic; refuses replays, keeping
    /// what it accepted in the state directory), or both
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    pub(crate) protocol: Protocol,
    /// Read the message as hex instead of raw bytes
    #[arg(long)]
    pub(crate) hex: bool,
}

#[derive(Args, Debug)]
pub(crate) struct IntroArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
    /// Write the introduction as hex and a newline instead of raw bytes
    #[arg(long)]
    pub(crate) hex: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ReplyArgs {
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
    /// The topic key to hand over
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: PathBuf,
    /// Trust the newcomer first, if its fingerprint (or id, or public key) is this one:
    /// compare it with the newcomer out of band
    #[arg(long, value_name = "FINGERPRINT")]
    pub(crate) approve: Option<String>,
    /// Read the introduction as hex and write the reply as hex
    #[arg(long)]
    pub(crate) hex: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AcceptReplyArgs {
    /// Your signing seed (the one `intro` used)
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
    /// Where to write the topic key
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: PathBuf,
    /// Replace an existing topic key file
    #[arg(long)]
    pub(crate) force: bool,
    /// Also trust the public key the replier claims (replies are not signed: do this
    /// only if its fingerprint is the one you expect)
    #[arg(long)]
    pub(crate) trust_replier: bool,
    /// Read the reply as hex
    #[arg(long)]
    pub(crate) hex: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum TrustCommand {
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

/// Where a command that talks over MQTT talks, and as whom: the options `chat` and
/// `rotate` share.
#[derive(Args, Debug)]
pub(crate) struct MqttArgs {
    /// The broker, as mqtt://HOST:PORT (plain TCP; the port defaults to 1883)
    #[arg(long, value_name = "URL")]
    pub(crate) broker: String,
    /// The MQTT topic: the topic's name, the same for every participant (the
    /// original's MQTT example uses "stringphone")
    #[arg(long, value_name = "NAME")]
    pub(crate) topic: String,
    /// Your signing seed
    #[arg(long, value_name = "PATH")]
    pub(crate) seed_file: PathBuf,
}

/// Chat on an MQTT topic.
///
/// Joins the topic; without a topic key, sends an introduction and waits for a reply.
/// Newcomers get the key only once approved: already trusted, approved at a terminal
/// (`/approve`), or introducing themselves during the pairing window of a chat that
/// started with the topic key (of any chat, with --admit-newcomers). Each line typed
/// is sent and confirmed (`sent N`) once the broker has it; while the broker is
/// unreachable lines are queued and sent on reconnection. Lines starting with `/` are
/// commands (`/help`). Without a terminal on stdin nothing is ever asked, and the
/// command leaves once stdin ends and --linger has passed.
///
/// v2 (--protocol v2 or both): rotations of the topic key are taken from the admins
/// named (--admin, /admin); an admin rotates with /rotate, and /remove WHO rotates WHO
/// out. The epoch, its key and members are kept in the state directory, and a restart
/// resumes them (the key file then counts no more).
#[derive(Args, Debug)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) mqtt: MqttArgs,
    /// The topic key; if this file does not exist, discovery runs and saves the key
    /// there. Without it, the key obtained is kept in memory only
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// For this many seconds from the start, trust whoever answers our introduction;
    /// a chat that starts with the topic key also trusts every newcomer introducing
    /// itself, and hands it the key
    #[arg(long, value_name = "SECONDS")]
    pub(crate) pair_for: Option<u64>,
    /// In the pairing window of a chat that starts without the topic key, also trust
    /// every newcomer and hand it the key (once we have it)
    #[arg(long, requires = "pair_for")]
    pub(crate) admit_newcomers: bool,
    /// Publish and read every message as hex text, as the original's MQTT example does
    #[arg(long)]
    pub(crate) hex: bool,
    /// Once stdin ends, keep receiving for this many seconds before leaving
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds)]
    pub(crate) linger: Duration,
    /// Wire format: classic, v2 (refuses classic messages and replays; signed
    /// discovery; rotations), or both (reads both, sends v2)
    #[arg(long, value_enum, default_value_t = Protocol::Classic, value_name = "VERSION")]
    pub(crate) protocol: Protocol,
    /// v2: trust this public key (64 hex digits) as an admin of the topic, whose
    /// rotations of the topic key this chat accepts (kept in the state directory);
    /// repeatable. A chat that starts a topic with its key is an admin itself
    #[arg(long = "admin", value_name = "PUBKEY_HEX")]
    pub(crate) admins: Vec<String>,
}

fn parse_seconds(s: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds"))
}

/// `stringphone rotate`'s arguments (its help is on the `Rotate` command).
#[derive(Args, Debug)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    pub(crate) mqtt: MqttArgs,
    /// The topic key the topic started with (as `chat --key-file`); after a rotation
    /// the state directory holds the current one
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// Leave this participant out of the new epoch and stop trusting it: a public key,
    /// id or fingerprint; repeatable
    #[arg(long, value_name = "WHO")]
    pub(crate) remove: Vec<String>,
    /// Publish the rekey as hex text (for a topic whose chats run with --hex)
    #[arg(long)]
    pub(crate) hex: bool,
}
