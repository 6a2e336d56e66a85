//! Everything the user reads goes through here: named steps with their elapsed time on stderr,
//! progress bars where there is a size to show, warnings, the container's output in `--verbose`,
//! errors with their hint. stdout is kept for data (`--json`, tables). Bars and colour only on a
//! terminal (not with TERM=dumb); no colour with NO_COLOR; off a terminal every step is a plain
//! line, so CI logs read top to bottom.
//!
//! Every line is masked on its way out: credentials the run knows of (passwords in proxy and
//! index URLs, `.npmrc` tokens) are replaced by `****`, whoever printed them (`secrets::Masker`).

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::layer::pack::Reporter;
use crate::secrets::Masker;

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
    /// Strings never to print.
    secrets: Mutex<Masker>,
    /// The bar of the running step (and its step's number): other output is printed above it,
    /// not through it.
    bar: Mutex<Option<(u64, ProgressBar)>>,
    steps: std::sync::atomic::AtomicU64,
}

const GREEN: &str = "\x1b[1;32m";
const YELLOW: &str = "\x1b[1;33m";
const RED: &str = "\x1b[1;31m";
const CYAN: &str = "\x1b[1;36m";
const RESET: &str = "\x1b[0m";

impl Console {
    pub fn new(quiet: bool, verbose: bool) -> Console {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let tty = std::io::stderr().is_terminal() && !dumb;
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Console {
            inner: Arc::new(Inner {
                quiet,
                verbose,
                color,
                tty,
                secrets: Mutex::new(Masker::default()),
                bar: Mutex::new(None),
                steps: std::sync::atomic::AtomicU64::new(0),
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

    /// Strings to mask in everything printed from now on (shorter than 3 bytes: ignored, they
    /// would mask ordinary text).
    pub fn add_secrets<I: IntoIterator<Item = String>>(&self, secrets: I) {
        self.inner
            .secrets
            .lock()
            .expect("console lock")
            .add(secrets);
    }

    /// `text` with every known secret replaced by `****`.
    pub fn mask(&self, text: &str) -> String {
        self.inner.secrets.lock().expect("console lock").mask(text)
    }

    /// Write whole lines to stderr, masked, above the running step's bar if there is one.
    fn emit(&self, text: &str) {
        let text = self.mask(text);
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        };
        match self.inner.bar.lock().expect("console lock").as_ref() {
            Some((_, bar)) => bar.suspend(write),
            None => write(),
        }
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
        self.emit(&format!("{verb} {}{msg}\n", self.prefix()));
    }

    /// A cargo-style status line: `    Building image ...`.
    pub fn status(&self, verb: &str, msg: impl Display) {
        self.line(GREEN, verb, msg);
    }

    pub fn note(&self, msg: impl Display) {
        if self.inner.quiet {
            return;
        }
        self.emit(&format!(
            "{}{}: {msg}\n",
            self.prefix(),
            self.paint(CYAN, "note")
        ));
    }

    pub fn warn(&self, msg: impl Display) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(self.mask(&msg.to_string()));
        }
        if self.inner.quiet {
            return;
        }
        self.emit(&format!(
            "{}{}: {msg}\n",
            self.prefix(),
            self.paint(YELLOW, "warning")
        ));
    }

    /// A block of report lines (e.g. the ELF check's findings), unless --quiet.
    pub fn block(&self, text: &str) {
        if !self.inner.quiet {
            self.emit(text);
        }
    }

    /// A line of the build container's output; shown only with --verbose.
    pub fn container_line(&self, line: &str) {
        if self.inner.verbose && !self.inner.quiet {
            self.emit(&format!("{}  | {line}\n", self.prefix()));
        }
    }

    /// Print an error the way every command ends on failure: what, details, hint. Shown even
    /// with --quiet.
    pub fn error(&self, err: &Error) {
        let mut out = format!(
            "{}{}: {}\n",
            self.prefix(),
            self.paint(RED, "error"),
            err.message
        );
        for line in &err.details {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(hint) = &err.hint {
            out.push_str(&format!("{}: {hint}\n", self.paint(CYAN, "hint")));
        }
        self.emit(&out);
    }

    /// Start a named step. It shows as a spinner on a terminal and as a line elsewhere; when it
    /// ends, its line says how long it took.
    pub fn step(&self, verb: &str, msg: impl Display) -> Step {
        let msg = self.mask(&msg.to_string());
        let id = self
            .inner
            .steps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bar = if self.inner.tty && !self.inner.quiet && self.prefix.is_none() {
            // Configured while hidden, so its first frame already shows the message.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(spinner_style());
            bar.set_prefix(self.paint(GREEN, &format!("{verb:>12}")));
            bar.set_message(msg.clone());
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
            // A step that never finished (dropped on an error) must not keep its bar current.
            let old = self
                .inner
                .bar
                .lock()
                .expect("console lock")
                .replace((id, bar.clone()));
            if let Some((_, old)) = old {
                old.finish_and_clear();
            }
            Some(bar)
        } else {
            self.status(verb, &msg);
            None
        };
        Step {
            console: self.clone(),
            id,
            verb: verb.to_string(),
            msg,
            start: Instant::now(),
            bar,
            finished: false,
        }
    }

    /// Forget step `id`'s bar as the current one (the step ended).
    fn release(&self, id: u64) {
        let mut current = self.inner.bar.lock().expect("console lock");
        if current.as_ref().is_some_and(|(i, _)| *i == id) {
            *current = None;
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {msg} {spinner} {elapsed}").expect("valid template")
}

/// A step's progress, shareable with worker threads (indicatif bars are). Does nothing off a
/// terminal, so callers report progress without asking where it goes.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress that shows nothing (tests, `fclayer pack` into a pipe).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn set_length(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(n);
            bar.set_position(0);
        }
    }
}

/// The packer reports through this; it knows nothing of bars.
impl Reporter for Progress {
    fn set_length(&self, n: u64) {
        Progress::set_length(self, n);
    }

    fn inc(&self, n: u64) {
        Progress::inc(self, n);
    }
}

/// A running step; see [`Console::step`].
pub struct Step {
    console: Console,
    id: u64,
    verb: String,
    msg: String,
    start: Instant,
    bar: Option<ProgressBar>,
    finished: bool,
}

impl Step {
    /// Replace the step's message while it runs (e.g. "step 2/4"). Off a terminal, where there
    /// is no bar to update, `plain` (when given) is printed as a line of its own instead.
    pub fn update(&self, msg: impl Display, plain: Option<&str>) {
        match &self.bar {
            Some(bar) => bar.set_message(self.console.mask(&msg.to_string())),
            None => {
                if let Some(line) = plain {
                    self.console.status("", line);
                }
            }
        }
    }

    /// Turn the step's spinner into a bar of bytes: with `total`, a bar filling up to it;
    /// without, a running count.
    pub fn bytes(&self, total: Option<u64>) -> Progress {
        self.progress(
            total,
            // Decimal units, as every size fclayer prints.
            "{prefix} {msg} [{bar:24}] {decimal_bytes}/{decimal_total_bytes} {elapsed}",
            "{prefix} {msg} {spinner} {decimal_bytes} ({decimal_bytes_per_sec}) {elapsed}",
        )
    }

    /// Turn the step's spinner into a bar counting `total` items.
    pub fn items(&self, total: u64, unit: &str) -> Progress {
        self.progress(
            Some(total),
            &format!("{{prefix}} {{msg}} [{{bar:24}}] {{pos}}/{{len}} {unit} {{elapsed}}"),
            "",
        )
    }

    fn progress(&self, total: Option<u64>, with_len: &str, without: &str) -> Progress {
        let Some(bar) = &self.bar else {
            return Progress::hidden();
        };
        let template = if total.is_some() { with_len } else { without };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(0);
        match total {
            Some(n) => bar.set_length(n),
            None => bar.unset_length(),
        }
        Progress {
            bar: Some(bar.clone()),
        }
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
                bar.finish_with_message(self.console.mask(&text));
                self.console.release(self.id);
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
            self.console.release(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_whole_whatever_order_they_were_added_in() {
        let c = Console::new(true, false);
        c.add_secrets(["tok".to_string(), "ab".to_string()]);
        c.add_secrets([
            "tok-12345".to_string(),
            "abcd".to_string(),
            "cdef".to_string(),
        ]);
        assert_eq!(
            c.mask("https://u:tok-12345@idx/ tok ab abcdef"),
            "https://u:****@idx/ **** ab ****"
        );
    }
}
