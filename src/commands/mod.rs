//! One function per command: parse-level arguments in, an operation called, output printed.
//! Long-running commands race their work against SIGINT/SIGTERM/SIGHUP; whichever way they end,
//! the run's containers and temporary files are removed before the process exits. A second signal
//! during that cleanup skips it (and says what `fclayer gc` will remove later), so a user who
//! presses Ctrl-C twice is never held up by an engine that does not answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

mod build;
mod cache;
pub(crate) mod check;
mod inspect;
mod stack;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::{Cli, Command, CompletionsArgs, GcArgs, PackArgs, RuntimesArgs};
use crate::console::Console;
use crate::docker::{Cleanup, Engine, gc};
use crate::error::{Error, Result};
use crate::layer::{self, pack::PackOptions};
use crate::runtime::{Kind, RUNTIMES};
use crate::stdout;

pub async fn dispatch(cli: Cli, console: &Console) -> Result<()> {
    match cli.command {
        Command::Runtimes(args) => runtimes(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Stack(args) => stack::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Verify(args) => verify(args, console).await,
        Command::Cache(args) => cache::run(args, console).await,
        Command::Pack(args) => pack(args, console).await,
        Command::Build(args) => build::run(args, console).await,
        Command::Gc(args) => gc(args, console).await,
        Command::Completions(args) => completions(&args),
    }
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session), registered once at the start
/// of a command so none is missed. Once registered, none of them kills the process: the command
/// decides, and cleans up first.
pub(super) struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    pub(super) fn new() -> Result<Signals> {
        let make =
            |kind| signal(kind).map_err(|e| Error::build(format!("cannot watch for signals: {e}")));
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    pub(super) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT (Ctrl-C)",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

async fn verify(args: crate::cli::VerifyArgs, console: &Console) -> Result<()> {
    use crate::verify::{ImageChoice, VerifyPlan};
    let mut signals = Signals::new()?;
    let runtime = crate::runtime::Runtime::find(&args.runtime)
        .ok_or_else(|| crate::plan::unknown_runtime(&args.runtime))?;
    let arch = match &args.platform {
        None => crate::native::Arch::X86_64,
        Some(p) => crate::native::Arch::from_platform(p).ok_or_else(|| {
            Error::input(format!("unknown platform `{p}`"))
                .with_hint("use linux/amd64 (every FC runtime) or linux/arm64")
        })?,
    };
    if !args.zip.is_file() {
        return Err(
            Error::input(format!("{} is not a file", args.zip.display()))
                .with_hint("give the layer ZIP to verify"),
        );
    }
    let plan = VerifyPlan {
        zip: &args.zip,
        runtime,
        platform: arch.platform(),
        image: match (&args.image, &args.base_image) {
            (Some(i), _) => ImageChoice::Image(i.clone()),
            (None, Some(b)) => ImageChoice::BuildImageOn(b.clone()),
            (None, None) => ImageChoice::FcRunImage,
        },
        imports: args.imports.clone(),
        requires: args.requires.clone(),
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
    };
    let cleanup = Arc::new(Cleanup::new());
    let engine = tokio::select! {
        r = Engine::connect(Arc::clone(&cleanup)) => r?,
        s = signals.recv() => return Err(Error::interrupted(s)),
    };
    let result = tokio::select! {
        r = crate::verify::verify(&plan, &engine, console) => r,
        s = signals.recv() => Err(Error::interrupted(s)),
    };
    let report = finish_run(&engine, console, result, &mut signals).await?;
    if args.json {
        stdout::json(&report)?;
    } else {
        let mut text = String::new();
        for item in &report.items {
            let name = stdout::printable(&item.item);
            text.push_str(&match &item.error {
                None => format!("PASS  {:<8} {name}\n", item.check),
                Some(e) => format!("FAIL  {:<8} {name}: {}\n", item.check, stdout::printable(e)),
            });
        }
        stdout::write(&text)?;
    }
    if report.passed() {
        console.status(
            "Verified",
            format!(
                "{} items load on {} ({})",
                report.items.len(),
                report.runtime,
                report.image
            ),
        );
        Ok(())
    } else {
        let failed: Vec<String> = report
            .items
            .iter()
            .filter(|i| !i.passed)
            .map(|i| {
                format!(
                    "{} {}: {}",
                    i.check,
                    i.item,
                    i.error.as_deref().unwrap_or("")
                )
            })
            .collect();
        Err(Error::build(format!(
            "{} of {} items do not load on {}",
            failed.len(),
            report.items.len(),
            report.runtime
        ))
        .with_details(failed.into_iter().take(15))
        .with_hint("`fclayer check` names the cause for native files; an import error names the missing module or library"))
    }
}

/// Print a command's result on stdout: as JSON with --json, else as the text `render` makes.
pub(super) fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    render: impl FnOnce() -> String,
) -> Result<()> {
    if json {
        stdout::json(report)
    } else {
        stdout::write(&render())
    }
}

/// Before a build: remove what earlier runs on this machine left when they were killed (or lost
/// their engine), so leftovers never pile up. Quiet unless something was removed; a failure here
/// never stops the build (`fclayer gc` reports it).
pub(super) async fn collect_leftovers(engine: &Engine, console: &Console) {
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
pub(super) async fn finish_run<T>(
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

async fn gc(args: GcArgs, console: &Console) -> Result<()> {
    let engine = Engine::connect(Arc::new(Cleanup::new())).await?;
    let report = engine.collect_garbage(args.all).await?;
    for item in &report.removed {
        console.status("Removed", format!("{} ({})", item.what, owner(&item.owner)));
    }
    let (live, elsewhere): (Vec<_>, Vec<_>) = report
        .kept
        .iter()
        .partition(|i| matches!(i.owner, gc::Owner::Alive { .. }));
    if !live.is_empty() {
        console.note(format!(
            "kept {} of runs still going",
            plural(live.len(), "object", "objects")
        ));
    }
    if !elsewhere.is_empty() {
        let what: Vec<String> = elsewhere
            .iter()
            .map(|i| format!("{} ({})", i.what, owner(&i.owner)))
            .collect();
        console.note(format!(
            "kept {} made elsewhere, which cannot be judged from here: {}; `fclayer gc --all` removes them",
            plural(elsewhere.len(), "object", "objects"),
            what.join(", ")
        ));
    }
    console.status(
        "Finished",
        format!(
            "removed {}",
            plural(report.removed.len(), "object", "objects")
        ),
    );
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(Error::build(format!(
            "could not remove {}",
            plural(report.errors.len(), "object", "objects")
        ))
        .with_details(report.errors))
    }
}

fn owner(o: &gc::Owner) -> String {
    match o {
        gc::Owner::Alive { pid } => format!("run of pid {pid}, still going"),
        gc::Owner::Dead { pid } => format!("run of pid {pid}, gone"),
        gc::Owner::Unknown { host } => format!("made on {host}"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn completions(args: &CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "fclayer", &mut script);
    stdout::write_bytes(&script)
}

async fn pack(args: PackArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut opts = PackOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..PackOptions::default()
    };
    if let Some(j) = args.jobs {
        opts.threads = j;
    }
    // Refused before anything is said to happen.
    layer::check_replaceable(&args.output)?;
    let step = console.step("Packing", args.dir.display());
    let (dir, out, max) = (args.dir.clone(), args.output.clone(), args.max_size);
    let work = tokio::task::spawn_blocking(move || layer::pack_dir(&dir, &out, opts, max));
    let info = tokio::select! {
        r = work => r.map_err(|e| Error::build(format!("packing stopped: {e}")))?,
        s = signals.recv() => {
            cancel.store(true, Ordering::Relaxed);
            layer::remove_temporaries();
            return Err(Error::interrupted(s));
        }
    };
    layer::remove_temporaries();
    let info = info?;
    step.done(format!("{} files", info.files));
    crate::build::summary(console, &info, started, false);
    if args.json {
        stdout::json(&info)?;
    }
    Ok(())
}

fn runtimes(args: &RuntimesArgs) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Row {
        name: &'static str,
        debian: u32,
        codename: &'static str,
        glibc: String,
        arch: &'static str,
        language: String,
        custom: bool,
        layer_paths: Vec<String>,
        fc_build_image: &'static str,
        fc_run_image: &'static str,
        dockerfile: String,
    }
    let rows: Vec<Row> = RUNTIMES
        .iter()
        .map(|rt| {
            let (a, b) = rt.debian.glibc();
            Row {
                name: rt.name,
                debian: rt.debian.number(),
                codename: rt.debian.codename(),
                glibc: format!("{a}.{b}"),
                arch: rt.arch(),
                language: rt.languages().join(", "),
                custom: rt.custom,
                layer_paths: Kind::ALL
                    .iter()
                    .filter(|k| rt.supports(**k))
                    .map(|k| k.search_path().to_string())
                    .collect(),
                fc_build_image: rt.fc_build_image,
                fc_run_image: rt.fc_run_image,
                dockerfile: format!("images/{}/Dockerfile", rt.dockerfile_dir()),
            }
        })
        .collect();
    if args.json {
        return stdout::json(&rows);
    }
    // Written whole at the end: the table is small, and one write fails (or not) as a whole.
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<14} {:<6} {:<7} {:<12} {:<12} BUILD IMAGE (FC official; --base-image overrides)",
        "RUNTIME", "DEBIAN", "GLIBC", "ARCH", "LANGUAGE", "LAYER PATHS"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:<6} {:<7} {:<12} {:<12} {}",
            r.name,
            format!("{} ({})", r.debian, r.codename),
            r.glibc,
            r.arch,
            r.language,
            r.layer_paths.join(" "),
            r.fc_build_image
        );
    }
    out.push_str(
        "\nCustom runtimes add no language paths: set PYTHONPATH=/opt/python (and LD_LIBRARY_PATH=/opt/lib) yourself.\n",
    );
    stdout::write(&out)
}
