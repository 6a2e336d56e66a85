//! One function per command: parse-level arguments in, an operation called, output printed.
//! Long-running commands race their work against SIGINT/SIGTERM; whichever way they end, the
//! run's containers and temporary files are removed before the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

mod build;
mod cache;
pub(crate) mod check;
mod inspect;
mod stack;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::{Cli, Command, PackArgs, RuntimesArgs};
use crate::console::Console;
use crate::docker::{Cleanup, Engine};
use crate::error::{Error, Result};
use crate::layer::{self, pack::PackOptions};
use crate::runtime::{Kind, RUNTIMES};

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
    }
}

/// SIGINT and SIGTERM, registered once at the start of a command so none is missed.
pub(super) struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    pub(super) fn new() -> Result<Signals> {
        let make =
            |kind| signal(kind).map_err(|e| Error::build(format!("cannot watch for signals: {e}")));
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
        })
    }

    pub(super) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT (Ctrl-C)",
            _ = self.term.recv() => "SIGTERM",
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
    let report = finish_run(&engine, console, result).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        for item in &report.items {
            match &item.error {
                None => println!("PASS  {:<8} {}", item.check, item.item),
                Some(e) => println!("FAIL  {:<8} {}: {e}", item.check, item.item),
            }
        }
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

/// Remove what the run created, whatever the result, and report cleanup problems.
pub(super) async fn finish_run<T>(
    engine: &Engine,
    console: &Console,
    result: Result<T>,
) -> Result<T> {
    layer::remove_temporaries();
    let cleanup = engine.cleanup().run(engine);
    match tokio::time::timeout(std::time::Duration::from_secs(60), cleanup).await {
        Ok((_, errors)) if errors.is_empty() => {}
        Ok((_, errors)) => {
            for e in errors {
                console.warn(format!("could not remove {e}; `fclayer gc` will"));
            }
        }
        Err(_) => {
            console.warn("cleanup did not finish within 60 s; `fclayer gc` removes what is left")
        }
    }
    result
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
        opts.threads = j.max(1);
    }
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
        println!(
            "{}",
            serde_json::to_string_pretty(&info).expect("layer info serialises")
        );
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
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialise")
        );
        return Ok(());
    }
    println!(
        "{:<16} {:<14} {:<6} {:<7} {:<12} {:<12} BUILD IMAGE (FC official; --base-image overrides)",
        "RUNTIME", "DEBIAN", "GLIBC", "ARCH", "LANGUAGE", "LAYER PATHS"
    );
    for r in &rows {
        println!(
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
    println!();
    println!(
        "Custom runtimes add no language paths: set PYTHONPATH=/opt/python (and LD_LIBRARY_PATH=/opt/lib) yourself."
    );
    Ok(())
}
