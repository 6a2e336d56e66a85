//! stdout: where data goes (JSON reports, tables, completion scripts), and nothing else; people
//! read stderr (see `console`). Every write to it goes through here, so that a reader that stops
//! early and a full disk are handled once, the same way for every command.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe (`fclayer runtimes | head -c 100`) is an
//! EPIPE error, which `println!` turns into a panic (exit 101). A C tool dies of the signal there,
//! quietly; ripgrep, which has the same problem, treats EPIPE as the end of its output and exits
//! 0. So do we, and the command's own outcome (its exit code) stands: a reader that has seen
//! enough is not a failure, and a build that failed still says so. (Cargo instead restores the
//! default SIGPIPE, which needs `unsafe` code here, forbidden, and hides nothing more.) Any other
//! failure, such as ENOSPC from `> /dev/full`, is an error: the data the user asked for is lost.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Set once a write found the pipe closed: later writes are skipped, no reader is left.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `text` to stdout whole, and flush it.
pub fn write(text: &str) -> Result<()> {
    write_bytes(text.as_bytes())
}

/// Write `text` and a newline.
pub fn line(text: &str) -> Result<()> {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    write(&s)
}

/// Write `value` as pretty JSON and a newline (JSON escapes every control character itself).
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::build(format!("cannot write the report as JSON: {e}")))?;
    text.push('\n');
    write(&text)
}

pub fn write_bytes(bytes: &[u8]) -> Result<()> {
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => handle(e),
    }
}

fn handle(e: io::Error) -> Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
        return Ok(());
    }
    let msg = e.to_string();
    let msg = msg.find(" (os error").map_or(msg.as_str(), |i| &msg[..i]);
    let err = Error::build(format!("cannot write the output to stdout: {msg}"));
    Err(match e.raw_os_error() {
        // ENOSPC, EDQUOT
        Some(28) | Some(122) => err.with_hint(
            "stdout goes to a full disk: free some space, or redirect the output elsewhere",
        ),
        _ => err.with_hint("check where stdout is redirected to"),
    })
}

/// `text` with every control character (C0, DEL, C1) and bidirectional-text override written
/// as an escape (`\n`, `\t`, `\u{1b}`), so that a name someone else chose cannot clear the
/// screen, set the terminal's title or make text read backwards. Names come from ZIPs and cache
/// entries made elsewhere.
pub fn printable(text: &str) -> Cow<'_, str> {
    let bad =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if bad(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("python/six.py"), "python/six.py");
        assert!(matches!(printable("héllo"), Cow::Borrowed(_)));
        assert_eq!(printable("a\x1b]0;pwned\x07b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(printable("x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(printable("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(printable("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
        assert_eq!(printable("\x7f"), "\\u{7f}");
    }

    #[test]
    fn a_full_disk_is_an_error_and_a_closed_pipe_is_not() {
        let e = handle(io::Error::from_raw_os_error(28)).unwrap_err();
        assert_eq!(
            e.message,
            "cannot write the output to stdout: No space left on device"
        );
        assert!(e.hint.unwrap().contains("full disk"));
        assert!(handle(io::Error::from_raw_os_error(32)).is_ok());
        assert!(CLOSED.load(Ordering::Relaxed));
        CLOSED.store(false, Ordering::Relaxed);
    }
}
