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

use super::lifecycle::{Signals, announce_engine, collect_leftovers, finish_run};
use super::print_report;
use crate::build::{Inputs, Outcome};
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
    /// The engine this run used (Docker or Podman, versions).
    engine: crate::docker::discover::Identity,
    #[serde(flatten)]
    outcome: Option<Outcome>,
    /// `--check`: whether the rebuild reproduced the existing ZIP byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    reproduced: Option<bool>,
    warnings: Vec<String>,
    error: Option<String>,
    /// The FC layer version, when the layer was published after the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    published: Option<crate::publish::Published>,
}

/// One layer's work: its plan, the prepared output and the inputs read for it.
type Prepared<'a> = (&'a BuildPlan, Output, Inputs);

/// One layer's result, with the warnings it printed.
type Built<'a> = (&'a BuildPlan, Result<Outcome>, Vec<String>);

/// `fclayer build`: plan every layer, prepare their outputs and inputs, then build them (at most
/// `-j` at a time) and report each.
pub async fn run(args: BuildArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let host = plan::Host::from_process();
    let specs = plan::layer_specs(&args)?;
    if args.publish.is_some() && specs.len() > 1 {
        return Err(Error::input(format!(
            "--publish names one FC layer, but this builds {} layers",
            specs.len()
        ))
        .with_hint("give each layer a `[layer.publish]` table with its own layer_name, or build one layer: fclayer build NAME --publish ..."));
    }
    let plans: Vec<BuildPlan> = specs
        .iter()
        .map(|s| BuildPlan::new(s, &args, &host))
        .collect::<Result<_>>()?;
    for plan in &plans {
        console.add_secrets(plan.secrets.iter().cloned());
    }
    let prepared = prepare(&plans, args.check)?;
    let cleanup = Arc::new(Cleanup::new());
    let cancel = Arc::new(AtomicBool::new(false));
    let engine = tokio::select! {
        r = Engine::connect(Arc::clone(&cleanup)) => r?,
        s = signals.recv() => {
            layer::remove_temporaries();
            return Err(Error::interrupted(s));
        }
    };
    announce_engine(&engine, console);
    let jobs = match args.jobs {
        Some(j) => j,
        None => engine.cpus().await.clamp(1, 8),
    };
    collect_leftovers(&engine, console).await;
    let work = build_all(prepared, jobs, &engine, console, &cancel);
    let results = tokio::select! {
        r = work => r,
        s = signals.recv() => {
            cancel.store(true, Ordering::Relaxed);
            return finish_run(&engine, console, Err(Error::interrupted(s)), &mut signals).await;
        }
    };
    let results = finish_run(&engine, console, Ok(results), &mut signals).await?;
    let (results, published) = publish_built(results, &specs, &args, console, &mut signals).await;
    let (reports, failures) = report(results, published, args.check, &engine, console);
    print_report(args.json, &reports, String::new)?;
    let several = plans.len() > 1;
    if several {
        let built = reports.iter().filter(|r| r.ok).count();
        console.status(
            "Summary",
            format!("{built} of {} layers built", reports.len()),
        );
    }
    outcome(failures, reports.len(), several)
}

/// Outputs and inputs first: an unwritable path or a project with links leading out of it
/// fails before any engine is contacted. With --check each layer is rebuilt into a scratch file
/// beside its (existing) output.
fn prepare(plans: &[BuildPlan], check: bool) -> Result<Vec<Prepared<'_>>> {
    let mut out = Vec::new();
    for plan in plans {
        let target = if check {
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
        out.push((plan, output, inputs));
    }
    Ok(out)
}

/// Build every layer, `jobs` at a time, each with its own progress lines when there are several
/// (and its error shown as it happens).
async fn build_all<'a>(
    prepared: Vec<Prepared<'a>>,
    jobs: usize,
    engine: &Engine,
    console: &Console,
    cancel: &Arc<AtomicBool>,
) -> Vec<Built<'a>> {
    let several = prepared.len() > 1;
    futures::stream::iter(prepared.into_iter().map(|(plan, output, inputs)| {
        let console = if several {
            console.for_layer(&plan.name)
        } else {
            console.clone()
        };
        let cancel = Arc::clone(cancel);
        async move {
            let result = crate::build::build(plan, inputs, output, engine, &console, cancel).await;
            if several && let Err(e) = &result {
                console.error(e);
            }
            (plan, result, console.warnings())
        }
    }))
    .buffered(jobs)
    .collect::<Vec<_>>()
    .await
}

/// Publish what built, when asked to (`--publish`, a `publish` table); never under --check. A
/// failed publish makes the layer's result that error. Returns what each layer became on FC.
async fn publish_built<'a>(
    results: Vec<Built<'a>>,
    specs: &[plan::LayerSpec],
    args: &BuildArgs,
    console: &Console,
    signals: &mut Signals,
) -> (Vec<Built<'a>>, Vec<Option<crate::publish::Published>>) {
    let mut out = Vec::new();
    let mut published = Vec::new();
    for ((plan, result, warnings), spec) in results.into_iter().zip(specs) {
        let mut done = None;
        let result = match (result, &spec.publish) {
            (Ok(outcome), Some(decl)) if !args.check => {
                let (zip, rt) = (&outcome.layer.path, plan.runtime.name);
                super::publish::after_build(decl, &plan.name, zip, rt, args, console, signals)
                    .await
                    .map(|p| {
                        done = Some(p);
                        outcome
                    })
            }
            (r, _) => r,
        };
        out.push((plan, result, warnings));
        published.push(done);
    }
    (out, published)
}

/// Each layer's report line (with --check's comparison folded in), and the failures by name.
fn report(
    results: Vec<Built<'_>>,
    published: Vec<Option<crate::publish::Published>>,
    check: bool,
    engine: &Engine,
    console: &Console,
) -> (Vec<Report>, Vec<(String, Error)>) {
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for ((plan, result, warnings), published) in results.into_iter().zip(published) {
        let mut reproduced = None;
        let result = match (result, check) {
            (Ok(outcome), true) => {
                let verdict = compare(&plan.output, &outcome.layer.path, console);
                let _ = std::fs::remove_file(&outcome.layer.path);
                let _ = std::fs::remove_file(crate::manifest::path_for(&outcome.layer.path));
                reproduced = Some(verdict.is_ok());
                verdict.map(|()| outcome)
            }
            (r, _) => r,
        };
        let (outcome, error) = match result {
            Ok(outcome) => (Some(outcome), None),
            Err(e) => {
                // stdout does not pass through the console: mask here.
                let message = console.mask(&e.message);
                failures.push((plan.name.clone(), e));
                (None, Some(message))
            }
        };
        reports.push(Report {
            name: plan.name.clone(),
            ok: error.is_none(),
            engine: engine.identity().clone(),
            outcome,
            reproduced,
            warnings,
            error,
            published,
        });
    }
    (reports, failures)
}

/// The command's result: one layer's own error, or for several how many failed, with the exit
/// code of the most serious (each error was shown as it happened).
fn outcome(mut failures: Vec<(String, Error)>, layers: usize, several: bool) -> Result<()> {
    match failures.len() {
        0 => Ok(()),
        1 if !several => Err(failures.remove(0).1),
        n => {
            let kind = failures
                .iter()
                .map(|(_, e)| e.kind)
                .max()
                .expect("at least one failure");
            let mut err = Error::build(format!("{n} of {layers} layers failed")).with_details(
                failures
                    .iter()
                    .map(|(name, e)| format!("{name}: {}", e.message)),
            );
            err.kind = kind;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_failures_exit_with_the_most_serious_kind() {
        let failures = vec![
            ("a".to_string(), Error::input("bad")),
            ("b".to_string(), Error::engine("gone")),
            ("c".to_string(), Error::build("failed")),
        ];
        let e = outcome(failures, 4, true).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Engine);
        assert_eq!(e.message, "3 of 4 layers failed");
        assert_eq!(e.details, ["a: bad", "b: gone", "c: failed"]);
        let one = outcome(vec![("a".into(), Error::input("bad"))], 1, false).unwrap_err();
        assert_eq!(
            (one.kind, one.message.as_str()),
            (crate::error::Kind::BadInput, "bad")
        );
        assert!(outcome(Vec::new(), 2, true).is_ok());
    }

    #[test]
    fn the_check_rebuild_goes_beside_the_output() {
        assert_eq!(
            scratch_path(Path::new("out/layer.zip")),
            Path::new("out/.layer.zip.check.zip")
        );
    }
}
