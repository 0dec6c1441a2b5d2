//! The terminal: lines typed (a message, or a `/` command), and lines shown, one event
//! a line.

use std::io::{self, BufRead, Write};
use std::sync::mpsc::Sender;

use stringphone::{Error, Message};

use super::{Chat, Event};
use crate::error::explain;
use crate::files;
use crate::proto::who;

const HELP: &str = "\
commands (a line that starts with / is never sent; start it with // to send it):
  /approve [FINGERPRINT]   trust the newcomer (or replier) asked about; send it the key
                           (v2, once the epoch lists its members: an admin rotates it in)
  /refuse [FINGERPRINT]    do not
  /trust PUBLIC_KEY        trust this key (or the fingerprint of one that introduced itself)
  /intro                   introduce ourselves again: whoever approves us then trusts us
  /pending                 show the questions waiting for an answer
  v2:
  /rotate                  (admins) a new topic key for every trusted participant
  /remove WHO              stop trusting WHO; an admin also rotates it out of the topic
  /admin WHO               accept the rotations of WHO (a public key, or a fingerprint)
  /group                   show the epoch, its members and the admins
  /rejoin                  forget our epoch's key and ask a member for the current one
  /help                    this
  Ctrl-D                   leave";

/// One line on stdout (errors ignored: a closed terminal must not stop the chat
/// from leaving cleanly).
pub(super) fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// `<id> <fp>` of the sender a message names, or `- -`.
pub(super) fn sender_of(bytes: &[u8]) -> String {
    Message::parse(bytes)
        .ok()
        .and_then(|m| m.sender_id())
        .map_or_else(|| "- -".into(), |id| who(&id))
}

/// The stdin thread: every line typed becomes an event (invalid UTF-8 replaced, so
/// that a stray byte cannot end the chat), then the end of input.
pub(super) fn read_lines(tx: &Sender<Event>) {
    let mut stdin = io::stdin().lock();
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match stdin.read_until(b'\n', &mut buffer) {
            Ok(0) => break,
            Ok(_) => {
                if buffer.last() == Some(&b'\n') {
                    buffer.pop();
                }
                let line = String::from_utf8_lossy(&buffer).into_owned();
                if tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("warning: cannot read stdin: {}", files::io_reason(&e));
                break;
            }
        }
    }
    let _ = tx.send(Event::StdinEnd);
}

impl Chat {
    /// One line on stdout, counted for the reminder of pending questions.
    pub(super) fn show(&mut self, line: &str) {
        say(line);
        self.since_questions += 1;
    }

    pub(super) fn on_line(&mut self, line: &str) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let text = match line.strip_prefix('/') {
            Some(escaped) if escaped.starts_with('/') => escaped,
            Some(command) => return self.command(command),
            None => line,
        };
        if text.is_empty() {
            return;
        }
        match self.topic.encode(text.as_bytes()) {
            Ok(wire) => {
                self.lines += 1;
                self.publish(&wire, Some((self.lines, text.to_string())));
            }
            Err(Error::MissingTopicKey) => {
                eprintln!("cannot send: no topic key yet (waiting for a reply to our introduction)")
            }
            Err(e) => eprintln!("cannot send: {}", explain(&e)),
        }
    }

    /// A typed command (the line without its `/`).
    pub(super) fn command(&mut self, command: &str) {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        if words.next().is_some() {
            eprintln!("/{name}: one argument at most (/help lists the commands)");
            return;
        }
        match name {
            "approve" | "a" => self.answer(arg, true),
            "refuse" | "r" => self.answer(arg, false),
            "trust" => self.trust_command(arg),
            "intro" => self.reintroduce(),
            "rotate" => self.rotate_command(arg),
            "remove" => self.remove_command(arg),
            "admin" => self.admin_command(arg),
            "group" => self.group_command(),
            "rejoin" => self.rejoin_command(),
            "pending" => {
                if self.approvals.is_empty() {
                    eprintln!("no question is waiting for an answer");
                }
                self.show_questions();
            }
            "help" => eprintln!("{HELP}"),
            _ => eprintln!(
                "unknown command /{name}: /help lists the commands (start a line with // \
                 to send a line that begins with /)"
            ),
        }
    }
}
