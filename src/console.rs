//! Everything the user reads goes through here: named steps with their elapsed time on stderr,
//! warnings, the container's output in `--verbose`, errors with their hint. stdout is kept for
//! data (`--json`, tables). Colour only on a terminal and never with NO_COLOR.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;

#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
    /// `[name] ` in front of every line when several layers build at once.
    prefix: Option<Arc<str>>,
    /// Warnings said through this console, for reports (`--json`).
    warnings: Arc<Mutex<Vec<String>>>,
}

struct Inner {
    quiet: bool,
    verbose: bool,
    color: bool,
    tty: bool,
}

const GREEN: &str = "\x1b[1;32m";
const YELLOW: &str = "\x1b[1;33m";
const RED: &str = "\x1b[1;31m";
const CYAN: &str = "\x1b[1;36m";
const RESET: &str = "\x1b[0m";

impl Console {
    pub fn new(quiet: bool, verbose: bool) -> Console {
        let tty = std::io::stderr().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Console {
            inner: Arc::new(Inner {
                quiet,
                verbose,
                color,
                tty,
            }),
            prefix: None,
            warnings: Arc::default(),
        }
    }

    /// A console for one of several layers building at once: its lines carry the layer's name
    /// and it draws no spinners (they would fight over the terminal).
    pub fn for_layer(&self, name: &str) -> Console {
        Console {
            inner: Arc::clone(&self.inner),
            prefix: Some(format!("[{name}] ").into()),
            warnings: Arc::default(),
        }
    }

    /// The warnings said so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    pub fn verbose(&self) -> bool {
        self.inner.verbose
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.inner.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn line(&self, color: &str, verb: &str, msg: impl Display) {
        if self.inner.quiet {
            return;
        }
        let verb = self.paint(color, &format!("{verb:>12}"));
        let _ = writeln!(std::io::stderr().lock(), "{verb} {}{msg}", self.prefix());
    }

    /// A cargo-style status line: `    Building image ...`.
    pub fn status(&self, verb: &str, msg: impl Display) {
        self.line(GREEN, verb, msg);
    }

    pub fn note(&self, msg: impl Display) {
        if self.inner.quiet {
            return;
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}{}: {msg}",
            self.prefix(),
            self.paint(CYAN, "note")
        );
    }

    pub fn warn(&self, msg: impl Display) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(msg.to_string());
        }
        if self.inner.quiet {
            return;
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}{}: {msg}",
            self.prefix(),
            self.paint(YELLOW, "warning")
        );
    }

    /// A block of report lines (e.g. the ELF check's findings), unless --quiet.
    pub fn block(&self, text: &str) {
        if !self.inner.quiet {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }

    /// A line of the build container's output; shown only with --verbose.
    pub fn container_line(&self, line: &str) {
        if self.inner.verbose && !self.inner.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}  | {line}", self.prefix());
        }
    }

    /// Print an error the way every command ends on failure: what, details, hint.
    pub fn error(&self, err: &Error) {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{}: {}", self.paint(RED, "error"), err.message);
        for line in &err.details {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(hint) = &err.hint {
            let _ = writeln!(out, "{}: {hint}", self.paint(CYAN, "hint"));
        }
    }

    /// Start a named step. It shows as a spinner on a terminal and as a line elsewhere; when it
    /// ends, its line says how long it took.
    pub fn step(&self, verb: &str, msg: impl Display) -> Step {
        let msg = msg.to_string();
        let bar = if self.inner.tty && !self.inner.quiet && self.prefix.is_none() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} {msg} {spinner} {elapsed}")
                    .expect("valid template"),
            );
            bar.set_prefix(self.paint(GREEN, &format!("{verb:>12}")));
            bar.set_message(msg.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            self.status(verb, &msg);
            None
        };
        Step {
            console: self.clone(),
            verb: verb.to_string(),
            msg,
            start: Instant::now(),
            bar,
            finished: false,
        }
    }
}

/// A running step; see [`Console::step`].
pub struct Step {
    console: Console,
    verb: String,
    msg: String,
    start: Instant,
    bar: Option<ProgressBar>,
    finished: bool,
}

impl Step {
    /// Replace the step's message while it runs (e.g. "copying out 12.3 MB").
    pub fn update(&self, msg: impl Display) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_string());
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// End the step, saying what came of it.
    pub fn done(mut self, outcome: impl Display) {
        self.finish(&outcome.to_string());
    }

    fn finish(&mut self, outcome: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        let secs = self.start.elapsed().as_secs_f64();
        let text = if outcome.is_empty() {
            format!("{} ({secs:.1} s)", self.msg)
        } else {
            format!("{}: {outcome} ({secs:.1} s)", self.msg)
        };
        match self.bar.take() {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("{prefix} {msg}").expect("valid template"),
                );
                bar.finish_with_message(text);
            }
            None => self.console.status(&self.verb, text),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step dropped without done() failed or was interrupted: clear its spinner.
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
