//! Standard input and output: wire messages in (raw or hex), lines and bytes out, and
//! the refusal to write binary to a terminal.

use std::io::{self, IsTerminal, Read, Write};

use stringphone::Message;

use crate::error::{Failure, Result};
use crate::{files, proto};

/// Writes one line to stdout.
pub fn out(line: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(format!("cannot write to stdout: {}", files::io_reason(&e))))
}

/// Refuses, before anything is done, to write a wire message as raw bytes to a
/// terminal: it would be garbage on screen, and could drive the terminal.
pub fn refuse_binary_to_terminal(hex: bool) -> Result<()> {
    if !hex && io::stdout().is_terminal() {
        return Err(Failure::new(
            "refusing to write a binary message to a terminal: add --hex, or redirect \
             stdout to a file or a pipe",
        ));
    }
    Ok(())
}

/// Writes bytes (raw) or their hex and a newline to stdout.
pub fn out_bytes(bytes: &[u8], hex: bool) -> Result<()> {
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
pub fn read_stdin() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(format!("cannot read stdin: {}", files::io_reason(&e))))?;
    Ok(bytes)
}

/// Reads a wire message (`what`: "message", "reply"...) from stdin: hex text with
/// `hex`, raw bytes otherwise. Each way, the other form is recognised and named.
pub fn read_wire(hex: bool, what: &str) -> Result<Vec<u8>> {
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

/// True when stdin is a terminal (chat prompts only then).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}
