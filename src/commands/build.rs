//! `fclayer build`: resolve which layers the command line names (one project folder, or the
//! layers of a project file), check them all before contacting Docker, then build them, several
//! at a time with -j, each with its own progress lines. One failure does not hide the others'
//! results; the exit code says something failed. `--check` rebuilds into a scratch file and
//! compares its bytes with the existing output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use serde::Serialize;

use super::{Signals, collect_leftovers, finish_run};
use crate::build::Outcome;
use crate::cli::BuildArgs;
use crate::console::Console;
use crate::docker::{Cleanup, Engine};
use crate::error::{Error, Result};
use crate::layer::{self, Output};
use crate::plan::{self, BuildPlan};

/// One layer's line in the `--json` report.
#[derive(Serialize)]
struct Report {
    name: String,
    ok: bool,
    #[serde(flatten)]
    outcome: Option<Outcome>,
    /// `--check`: whether the rebuild reproduced the existing ZIP byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    reproduced: Option<bool>,
    warnings: Vec<String>,
    error: Option<String>,
}

pub async fn run(args: BuildArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let specs = plan::layer_specs(&args)?;
    let plans: Vec<BuildPlan> = specs
        .iter()
        .map(|s| BuildPlan::new(s, &args))
        .collect::<Result<_>>()?;
    for plan in &plans {
        console.add_secrets(plan.secrets.iter().cloned());
    }
    // Outputs and inputs first: an unwritable path or a project with links leading out of it
    // fails before any engine is contacted.
    let mut outputs = Vec::new();
    for plan in &plans {
        let target = if args.check {
            if !plan.output.is_file() {
                return Err(Error::input(format!(
                    "--check compares with {}, which does not exist",
                    plan.output.display()
                ))
                .with_hint("build it once without --check (and commit it), then check it in CI"));
            }
            scratch_path(&plan.output)
        } else {
            plan.output.clone()
        };
        let output = Output::prepare(&target)?;
        let inputs = crate::build::inputs(plan, &output)?;
        outputs.push((output, inputs));
    }

    let cleanup = Arc::new(Cleanup::new());
    let cancel = Arc::new(AtomicBool::new(false));
    let engine = tokio::select! {
        r = Engine::connect(Arc::clone(&cleanup)) => r?,
        s = signals.recv() => {
            layer::remove_temporaries();
            return Err(Error::interrupted(s));
        }
    };
    let several = plans.len() > 1;
    let jobs = match args.jobs {
        Some(j) => j,
        None => engine.cpus().await.clamp(1, 8),
    };

    collect_leftovers(&engine, console).await;
    let work = futures::stream::iter(plans.iter().zip(outputs).map(|(plan, (output, inputs))| {
        let console = if several {
            console.for_layer(&plan.name)
        } else {
            console.clone()
        };
        let (engine, cancel) = (&engine, Arc::clone(&cancel));
        async move {
            let result = crate::build::build(plan, inputs, output, engine, &console, cancel).await;
            if several && let Err(e) = &result {
                console.error(e);
            }
            (plan, result, console.warnings())
        }
    }))
    .buffered(jobs)
    .collect::<Vec<_>>();
    let results = tokio::select! {
        r = work => r,
        s = signals.recv() => {
            cancel.store(true, Ordering::Relaxed);
            return finish_run(&engine, console, Err(Error::interrupted(s)), &mut signals).await;
        }
    };
    let results = finish_run(&engine, console, Ok(results), &mut signals).await?;

    let mut reports = Vec::new();
    let mut failures: Vec<(String, Error)> = Vec::new();
    for (plan, result, warnings) in results {
        let mut reproduced = None;
        let result = match (result, args.check) {
            (Ok(outcome), true) => {
                let verdict = compare(&plan.output, &outcome.layer.path, console);
                let _ = std::fs::remove_file(&outcome.layer.path);
                let _ = std::fs::remove_file(crate::manifest::path_for(&outcome.layer.path));
                reproduced = Some(verdict.is_ok());
                verdict.map(|()| outcome)
            }
            (r, _) => r,
        };
        match result {
            Ok(outcome) => reports.push(Report {
                name: plan.name.clone(),
                ok: true,
                outcome: Some(outcome),
                reproduced,
                warnings,
                error: None,
            }),
            Err(e) => {
                reports.push(Report {
                    name: plan.name.clone(),
                    ok: false,
                    outcome: None,
                    reproduced,
                    warnings,
                    error: Some(e.message.clone()),
                });
                failures.push((plan.name.clone(), e));
            }
        }
    }
    if args.json {
        crate::stdout::json(&reports)?;
    }
    if several {
        let built = reports.iter().filter(|r| r.ok).count();
        console.status(
            "Summary",
            format!("{built} of {} layers built", reports.len()),
        );
    }
    match failures.len() {
        0 => Ok(()),
        1 if !several => Err(failures.remove(0).1),
        n => {
            // Each error was shown as it happened; the exit code is the most serious one's.
            let code_kind = failures
                .iter()
                .map(|(_, e)| e.kind)
                .max_by_key(|k| match k {
                    crate::error::Kind::Interrupted => 4,
                    crate::error::Kind::Engine => 3,
                    crate::error::Kind::BuildFailed => 2,
                    crate::error::Kind::BadInput => 1,
                })
                .expect("at least one failure");
            let mut err = Error::build(format!("{n} of {} layers failed", reports.len()))
                .with_details(
                    failures
                        .iter()
                        .map(|(name, e)| format!("{name}: {}", e.message)),
                );
            err.kind = code_kind;
            Err(err)
        }
    }
}

/// Where `--check` writes its rebuild: beside the output, never over it.
fn scratch_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layer.zip".into());
    output.with_file_name(format!(".{name}.check.zip"))
}

/// `--check`: the rebuild must be byte-identical to the committed ZIP.
fn compare(committed: &Path, rebuilt: &Path, console: &Console) -> Result<()> {
    let digest = |p: &Path| -> Result<crate::layer::digest::Digests> {
        let f = std::fs::File::open(p).map_err(|e| Error::io("read", p, e))?;
        crate::layer::digest::Digests::of_reader(std::io::BufReader::new(f))
            .map_err(|e| Error::io("read", p, e))
    };
    let (old, new) = (digest(committed)?, digest(rebuilt)?);
    if old == new {
        console.status(
            "Reproduced",
            format!(
                "{} byte for byte (sha256 {})",
                committed.display(),
                old.sha256
            ),
        );
        return Ok(());
    }
    Err(Error::build(format!(
        "rebuilding {} gives different bytes",
        committed.display()
    ))
    .with_details([
        format!("committed: sha256 {} crc64 {}", old.sha256, old.crc64),
        format!("rebuilt:   sha256 {} crc64 {}", new.sha256, new.crc64),
    ])
    .with_hint("an input or an upstream package changed: compare the manifests, or pin versions and commit a lockfile"))
}
