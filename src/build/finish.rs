//! Steps 6 and 7 of a build: write the ZIP, gate it and compare it with --frozen while the
//! containers are removed; then move it into place, write the manifest beside it, store it in
//! the cache and print the summary.

use std::path::Path;
use std::time::Instant;

use super::Outcome;
use super::record::{frozen_with_lock, write_manifest};
use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::{Container, mask_secrets};
use crate::error::{Error, Result};
use crate::layer::pack::Packer;
use crate::layer::{Finished, Output, human_bytes};
use crate::manifest::{self, LayerRef, Manifest};
use crate::native::{Report, Target};
use crate::plan::BuildPlan;

/// Why step 6 failed: the layer could not be written, or a check refused it. The two rank
/// differently against a container that could not be removed (see `first_error`).
#[derive(Debug)]
pub(super) enum Failed {
    Pack(Error),
    Check(Error),
}

/// This build's manifest as far as the plan knows it: the image, inputs, packages and layer
/// are filled in by the steps.
pub(super) fn fresh_manifest(plan: &BuildPlan, engine: &Engine) -> Manifest {
    Manifest {
        fclayer: env!("CARGO_PKG_VERSION").into(),
        engine: Some(engine.identity().clone()),
        runtime: plan.runtime.name.into(),
        platform: plan.platform.into(),
        // A Python layer names its installer too: uv and pip write different metadata.
        installers: plan
            .mode
            .kinds()
            .iter()
            .map(|k| match k {
                crate::runtime::Kind::Python => {
                    format!("python ({})", super::install::describe(*k, plan))
                }
                _ => k.name().to_string(),
            })
            .collect(),
        env: plan
            .env
            .iter()
            .map(|(k, v)| (k.clone(), mask_secrets(v, &plan.secrets)))
            .collect(),
        ..Manifest::default()
    }
}

/// What the gate needs, owned, to run on a blocking thread.
struct Gate {
    target: Target,
    name: String,
    allow: bool,
    frozen: Option<std::path::PathBuf>,
    /// The Python lock the layer was built from, for --frozen.
    lock: Option<crate::runtime::pyformats::PythonInput>,
    console: Console,
}

/// Step 6: write the ZIP, then the ELF gate and --frozen's comparison on it, while the
/// containers are removed (removal took 0.15 s here, writing 0.02 s and the gate 0.1 s). The
/// build waits for both on every path, so a failing build leaves no container in removal.
pub(super) async fn write_and_check(
    plan: &BuildPlan,
    output: Output,
    mut packer: Packer,
    manifest: Manifest,
    containers: Vec<Container>,
    console: &Console,
) -> Result<(Finished, Manifest)> {
    let step = console.step(
        "Packing",
        format!("{} in path order", output.target().display()),
    );
    packer.set_progress(step.items(packer.entries_seen() as u64, "entries"));
    let max_size = plan.max_size;
    let gate = Gate {
        target: Target::new(plan.runtime, Some(plan.platform))?,
        name: plan.output.display().to_string(),
        allow: plan.allow_incompatible,
        frozen: plan.frozen.then(|| manifest::path_for(&plan.output)),
        lock: plan.python.clone(),
        console: console.clone(),
    };
    let checking = tokio::task::spawn_blocking(move || {
        let finished = output.finish(packer, max_size).map_err(Failed::Pack)?;
        step.done(format!(
            "{} files, {} unpacked, {} zipped",
            finished.info.files,
            human_bytes(finished.info.unpacked_size),
            human_bytes(finished.info.size)
        ));
        let manifest = check(&finished, manifest, &gate).map_err(Failed::Check)?;
        Ok((finished, manifest))
    });
    let (removed, checked) = tokio::join!(
        futures::future::join_all(containers.into_iter().map(Container::remove)),
        checking
    );
    let checked = checked.map_err(|e| Error::build(format!("packing stopped: {e}")))?;
    first_error(checked, removed)
}

/// The order errors are reported in: a packing error first (the layer could not be written),
/// then a container that could not be removed, then what the checks found.
fn first_error<T>(checked: Result<T, Failed>, removed: Vec<Result<()>>) -> Result<T> {
    if let Err(Failed::Pack(e)) = checked {
        return Err(e);
    }
    for r in removed {
        r?;
    }
    checked.map_err(|(Failed::Pack(e) | Failed::Check(e))| e)
}

/// The checks on a written ZIP: the ELF gate, the package versions it holds, --frozen.
fn check(finished: &Finished, mut manifest: Manifest, gate: &Gate) -> Result<Manifest> {
    let zip = finished.zip_path();
    run_gate(zip, &gate.name, &gate.target, gate.allow, &gate.console)?;
    for (kind, versions) in manifest::packages_in(zip)? {
        manifest.packages.entry(kind).or_default().extend(versions);
    }
    manifest.layer = layer_ref(&finished.info);
    if let Some(path) = &gate.frozen {
        frozen_with_lock(gate.lock.as_ref(), path, &manifest)?;
    }
    Ok(manifest)
}

/// Step 7: a rename into place, the manifest beside the ZIP, the cache, the summary.
pub(super) fn commit(
    plan: &BuildPlan,
    finished: Finished,
    manifest: Manifest,
    image: String,
    cache_key: Option<String>,
    started: Instant,
    console: &Console,
) -> Result<Outcome> {
    let info = finished.persist()?;
    write_manifest(&info.path, &manifest, console);
    if let Some(key) = cache_key {
        super::cached::store(&key, plan, &info.path, &info, &manifest, console);
    }
    super::summary(console, &info, started, false);
    Ok(Outcome {
        layer: info,
        cache_hit: false,
        image,
        image_id: manifest.build_image.id.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The ELF gate on the finished ZIP, before it is moved into place: every native file must load
/// on the target runtime. With --allow-incompatible the findings are shown and the layer kept.
fn run_gate(zip: &Path, name: &str, target: &Target, allow: bool, console: &Console) -> Result<()> {
    let step = console.step(
        "Checking",
        format!("native files against {}", target.describe()),
    );
    let mut report = crate::native::check_zip(zip, target)?;
    report.layer = name.to_string();
    if report.passed() {
        step.done(format!(
            "{} ELF files and {} wheels fit",
            report.elf_checked, report.wheels_checked
        ));
        return Ok(());
    }
    drop(step);
    let (text, err) = gate_failure(&report);
    console.block(&text);
    if allow {
        console.warn(format!("{} (kept: --allow-incompatible)", err.message));
        return Ok(());
    }
    Err(err.with_details(["(--allow-incompatible writes the layer anyway)"]))
}

/// A failed gate's report text and its error: the same `fclayer check` prints.
fn gate_failure(report: &Report) -> (String, Error) {
    (report.render_text(), report.to_error())
}

fn layer_ref(info: &crate::layer::LayerInfo) -> LayerRef {
    LayerRef {
        sha256: info.sha256.clone(),
        crc64: info.crc64.clone(),
        size: info.size,
        files: info.files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(failures: &[&str]) -> Vec<Result<()>> {
        let mut out = vec![Ok(())];
        out.extend(failures.iter().map(|m| Err(Error::engine(*m))));
        out
    }

    #[test]
    fn a_packing_error_comes_before_a_container_left_behind() {
        let r = first_error::<()>(
            Err(Failed::Pack(Error::build("disk full"))),
            removed(&["container stuck"]),
        );
        assert_eq!(r.unwrap_err().message, "disk full");
    }

    #[test]
    fn a_container_left_behind_comes_before_what_the_checks_found() {
        let r = first_error::<()>(
            Err(Failed::Check(Error::build("gate refused"))),
            removed(&["container stuck"]),
        );
        assert_eq!(r.unwrap_err().message, "container stuck");
        let r = first_error::<()>(
            Err(Failed::Check(Error::build("gate refused"))),
            removed(&[]),
        );
        assert_eq!(r.unwrap_err().message, "gate refused");
        let r = first_error(Ok(7), removed(&["container stuck"]));
        assert_eq!(r.unwrap_err().message, "container stuck");
        assert_eq!(first_error(Ok(7), removed(&[])).unwrap(), 7);
    }
}
