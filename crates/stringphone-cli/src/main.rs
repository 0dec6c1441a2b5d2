//! `stringphone`: encrypted, signed group messaging from the shell.
//!
//! Keys live in key files (what the key is, 64 hex digits and a newline, mode 0600);
//! whom you trust lives in a state directory (a crash-safe file store); `chat` talks
//! over an MQTT broker. Every refusal is one line on stderr, exit code 1, and nothing
//! on stdout; bad arguments are reported by clap (the error, the usage, a hint) with
//! exit code 2. See the README for the command reference.
//!
//! Where things are: `args` (the command line, as clap reads it), `error` (refusals,
//! and the protocol's errors said for a shell), `stdio` (stdin and stdout); one module
//! per group of commands (`keys`, `messages`, `discovery`, `trust`, `rotate`, `chat`);
//! and what they share: `files` (key files, the state directory), `proto` (the store
//! and the protocol's glue, text helpers), `group` (the v2 group) and `mqtt` (reaching
//! a broker).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod chat;
mod discovery;
mod error;
mod files;
mod group;
mod keys;
mod messages;
mod mqtt;
mod proto;
mod rotate;
mod stdio;
mod trust;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::error::{Failure, Result};
use crate::files::read_seed;
use crate::proto::Protocol;
use crate::stdio::out_bytes;

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
        Command::Keygen(a) => keys::keygen(a),
        Command::Pubkey(a) => keys::print_identity(read_seed(&a.seed_file)?),
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "stringphone", &mut text);
            out_bytes(&text, false)
        }
        Command::TopicKey(a) => keys::topic_key(a),
        Command::Encode(a) => {
            // Only v2 keeps state (its counter): classic encoding needs no directory.
            let state = match a.protocol {
                Protocol::Classic => None,
                Protocol::V2 | Protocol::Both => Some(state()?),
            };
            messages::encode(a, state.as_deref())
        }
        Command::Decode(a) => messages::decode(a, &state()?),
        Command::Intro(a) => discovery::intro(a, &state()?),
        Command::Reply(a) => discovery::reply(a, &state()?),
        Command::AcceptReply(a) => discovery::accept_reply(a, &state()?),
        Command::Trust(t) => trust::run(t, &state()?),
        Command::Chat(a) => chat::run(a, &state()?),
        Command::Rotate(a) => rotate::run(a, &state()?),
    }
}
