//! The life of a long-running command: the signals it watches, the leftovers of killed runs it
//! removes first, and the cleanup of its own containers and temporary files whichever way it
//! ends. A second signal during that cleanup skips it (and says what `fclayer gc` will remove
//! later), so a user who presses Ctrl-C twice is never held up by an engine that does not answer.

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::plural;
use crate::console::Console;
use crate::docker::Engine;
use crate::error::{Error, Result};
use crate::layer;

/// SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session), registered once at the start
/// of a command so none is missed. Once registered, none of them kills the process: the command
/// decides, and cleans up first.
pub(crate) struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    pub(crate) fn new() -> Result<Signals> {
        let make =
            |kind| signal(kind).map_err(|e| Error::build(format!("cannot watch for signals: {e}")));
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT (Ctrl-C)",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// Before a build: remove what earlier runs on this machine left when they were killed (or lost
/// their engine), so leftovers never pile up. Quiet unless something was removed; a failure here
/// never stops the build (`fclayer gc` reports it).
pub(crate) async fn collect_leftovers(engine: &Engine, console: &Console) {
    let pass = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        engine.collect_garbage(false),
    );
    if let Ok(Ok(report)) = pass.await
        && !report.removed.is_empty()
    {
        let what: Vec<&str> = report.removed.iter().map(|i| i.what.as_str()).collect();
        console.note(format!(
            "removed {} left by earlier runs that were killed: {}",
            plural(report.removed.len(), "object", "objects"),
            what.join(", ")
        ));
    }
}

/// Remove what the run created, whatever the result, and report cleanup problems. A signal
/// (after an interrupt: the second) skips the cleanup.
pub(crate) async fn finish_run<T>(
    engine: &Engine,
    console: &Console,
    result: Result<T>,
    signals: &mut Signals,
) -> Result<T> {
    layer::remove_temporaries();
    let interrupted = matches!(&result, Err(e) if e.kind == crate::error::Kind::Interrupted);
    if interrupted && !engine.cleanup().is_empty() {
        console.status(
            "Stopping",
            "removing this run's containers (a second Ctrl-C skips this)",
        );
    }
    let cleanup = engine.cleanup().run(engine);
    tokio::select! {
        done = tokio::time::timeout(std::time::Duration::from_secs(60), cleanup) => match done {
            Ok((_, errors)) if errors.is_empty() => {}
            Ok((_, errors)) if !engine.answers().await => console.warn(format!(
                "the engine does not answer, so {} of this run could not be removed; once it is back, `fclayer gc` (or the next build) removes what is left",
                plural(errors.len(), "object", "objects"),
            )),
            Ok((_, errors)) => {
                for e in errors {
                    console.warn(format!("could not remove {e}; `fclayer gc` will"));
                }
            }
            Err(_) => console
                .warn("cleanup did not finish within 60 s; `fclayer gc` removes what is left"),
        },
        // The outcome stands: a layer already in place is complete, and an error is still the
        // reason the run failed.
        s = signals.recv() => console.warn(format!(
            "cleanup skipped after {s}; `fclayer gc` removes what this run left"
        )),
    }
    result
}

/// Say which engine a run uses when fclayer found it by looking: the user did not name it, so
/// the first line tells them where it is.
pub(super) fn announce_engine(engine: &Engine, console: &Console) {
    if let Some(found) = engine.found_by_looking() {
        console.status("Engine", found);
    }
}
