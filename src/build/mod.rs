//! `fclayer build` of one layer: one straight path from a validated plan to a layer ZIP. Each
//! step is a function of its own; `build` below calls them in this order, numbered the same.
//!
//! 1. Inputs (`inputs`; the caller runs it, with the output prepared: temporary files beside the
//!    target). The tar of the project, whose symlinks must stay inside it, so an unwritable path
//!    or a hostile project fails before any engine is contacted.
//! 2. Images (`images::resolve`): the runtime's build image on its base; for a cross-platform
//!    build the fetch image on the engine's own platform instead (the target's build image is
//!    made later, only if something needs emulation). Dockerfile mode builds the user's image
//!    (`dockerfile`).
//! 3. Cache (`cached`): hash everything that decides the result into a key; on a hit, copy the
//!    cached ZIP into place without starting a container. That ends the build.
//! 4. Install (`run_installers`: `install` natively, `cross` for another platform): create a labelled container for the target platform, upload
//!    the inputs (project files, installer scripts, CA bundle) through the archive API and run
//!    the installers in order; on failure show the exit code and the end of the log. Dockerfile
//!    mode: create a container from the built image and run nothing.
//! 5. Copy out (`copy_out`): stream `/opt` out of each container as a tar straight into the
//!    packer (validated entry by entry, compressed in parallel, never unpacked on disk).
//! 6. Gate (`finish::write_and_check`): write the ordered ZIP, enforce the size budget, hash it,
//!    run the ELF gate and --frozen's comparison, while the containers are removed.
//! 7. Finish (`finish::commit`): move the ZIP into place, write the manifest beside it
//!    (`record`, shared with a cache hit), store it in the cache, print the summary.

mod cached;
mod cross;
mod dockerfile;
mod finish;
mod images;
mod inputs;
mod install;
mod record;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::Container;
use crate::error::{Error, Result};
use crate::layer::pack::{Counted, PackOptions, Packer};
use crate::layer::{LayerInfo, Output, human_bytes};
use crate::plan::{BuildPlan, Mode};
use images::Images;

pub use inputs::{Inputs, inputs};

/// What a build produced, for the summary and `--json`.
#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub layer: LayerInfo,
    pub cache_hit: bool,
    pub image: String,
    pub image_id: String,
    pub seconds: f64,
}

/// The containers whose /opt is the layer (a cross build has one per path taken), and what the
/// finish records about them.
struct Made {
    containers: Vec<Container>,
    /// The image tag the report names (empty in Dockerfile mode).
    image: String,
    /// The cache key to store the layer under (none in Dockerfile mode).
    cache_key: Option<String>,
}

/// Build one layer from its plan and inputs (step 1, see `inputs`) into `output`.
pub async fn build(
    plan: &BuildPlan,
    inputs: Inputs,
    output: Output,
    engine: &Engine,
    console: &Console,
    cancel: Arc<AtomicBool>,
) -> Result<Outcome> {
    let started = Instant::now();
    announce(plan, console);
    let mut manifest = finish::fresh_manifest(plan, engine);
    let pack = PackOptions {
        cancel: Some(cancel),
        ..PackOptions::default()
    };
    let made = match (&plan.mode, inputs) {
        (Mode::Install { .. }, Inputs::Install { tar, files }) => {
            manifest.inputs = files;
            // 2. Images.
            let images = images::resolve(plan, engine, console).await?;
            manifest.build_image = images.image_ref();
            // 3. Cache: a hit is the whole build.
            let key = cached::key(plan, &images, &tar, &manifest, &pack);
            if let Some(hit) = cached::lookup(plan, &key) {
                return hit.commit(plan, output, manifest, started, console);
            }
            // 4. Install.
            let containers = run_installers(plan, &images, tar, engine, console).await?;
            install::read_reports(&containers, &mut manifest, console).await?;
            Made {
                containers,
                image: manifest.build_image.tag.clone(),
                cache_key: Some(key),
            }
        }
        (
            Mode::Dockerfile(spec),
            Inputs::Dockerfile {
                context,
                dockerfile,
            },
        ) => {
            // 2. and 4. The user's image, and a container of it that never runs (no cache).
            let (container, image) =
                dockerfile::container(plan, spec, context, dockerfile, engine, console).await?;
            manifest.build_image = image;
            Made {
                containers: vec![container],
                image: String::new(),
                cache_key: None,
            }
        }
        _ => unreachable!("inputs are made from the same plan"),
    };
    // 5. Copy out.
    let packer = copy_out(plan, &output, pack, &made.containers, engine, console).await?;
    // 6. Gate, while the containers are removed.
    let (finished, manifest) =
        finish::write_and_check(plan, output, packer, manifest, made.containers, console).await?;
    if plan.slim && matches!(plan.mode, Mode::Install { .. }) {
        // A slim layer must still load: verify's checks, before it takes its place.
        crate::slim::verify_slim(plan, finished.zip_path(), engine, console).await?;
    }
    // 7. Finish.
    finish::commit(
        plan,
        finished,
        manifest,
        made.image,
        made.cache_key,
        started,
        console,
    )
}

/// Run the plan's installers in the images of step 2. Returns the containers holding /opt.
async fn run_installers(
    plan: &BuildPlan,
    images: &Images,
    inputs: Vec<u8>,
    engine: &Engine,
    console: &Console,
) -> Result<Vec<Container>> {
    let kinds = plan.mode.kinds();
    match images {
        Images::Native(image) => Ok(vec![
            install::install(plan, kinds, inputs, image, engine, console).await?,
        ]),
        Images::Cross { fetch, native, .. } => {
            cross::install(plan, &inputs, fetch, native, engine, console).await
        }
    }
}

fn announce(plan: &BuildPlan, console: &Console) {
    let rt = plan.runtime;
    let (g1, g2) = rt.debian.glibc();
    let what = match &plan.mode {
        Mode::Install { kinds, .. } => {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            format!("{} layer", names.join(" + "))
        }
        Mode::Dockerfile(spec) => format!("layer from {}", spec.dockerfile.display()),
    };
    if plan.runtime_from == "default" {
        console.note(format!(
            "no --runtime given: building for {} (the default for this project; set it with --runtime or in fclayer.toml)",
            rt.name
        ));
    }
    console.status(
        "Building",
        format!(
            "{what} for {} ({}, glibc {g1}.{g2}, {}) from {}",
            rt.name,
            rt.debian,
            plan.platform,
            plan.project.display()
        ),
    );
    // Which Python file the build reads, when it is not the plain requirements.txt alone.
    if let Some(py) = plan.python.as_ref().filter(|p| !p.is_plain()) {
        let target = crate::runtime::pyformats::Target {
            runtime: rt,
            arch: plan.arch,
        };
        console.status("Reading", py.describe(&target));
    }
}

/// Step 5: stream each container's /opt into the packer. Copying out and compressing run
/// together: the tar stream goes straight into the packer's spool, so "copying out" ends when
/// the last entry is compressed. Every container's /opt goes into the one layer. The
/// installer's container is still running (it holds, see `RunSpec::hold`); stopping and
/// removing it happens while the ZIP is written (step 6).
async fn copy_out(
    plan: &BuildPlan,
    output: &Output,
    pack: PackOptions,
    containers: &[Container],
    engine: &Engine,
    console: &Console,
) -> Result<Packer> {
    let mut packer = output.packer(pack)?;
    for container in containers {
        let step = console.step(
            "Copying out",
            format!("/opt from container {}", container.short_id()),
        );
        let copied = step.bytes(None);
        let reader = SyncIoBridge::new(StreamReader::new(container.export("/opt")));
        let streamed = tokio::task::spawn_blocking(move || -> Result<_> {
            packer.add_tar(Counted::new(reader, &copied), Some("opt"))?;
            Ok(packer)
        })
        .await
        .map_err(|e| Error::build(format!("packing stopped: {e}")))?;
        packer = match streamed {
            Ok(p) => p,
            Err(e) => return Err(engine.explain(e).await),
        };
        step.done(format!(
            "{} files, {}",
            packer.files_seen(),
            human_bytes(packer.bytes_seen())
        ));
    }
    check_produced(plan, &packer)?;
    Ok(packer)
}

/// Each installer must have put something in its folder.
fn check_produced(plan: &BuildPlan, packer: &Packer) -> Result<()> {
    if packer.files_seen() == 0 {
        return Err(Error::build("the layer is empty: /opt holds no files")
            .with_hint("check that the project lists at least one package"));
    }
    for kind in plan.mode.kinds() {
        let produced = kind
            .layer_dirs()
            .iter()
            .any(|dir| packer.files_below(dir) > 0);
        if !produced {
            return Err(Error::build(format!(
                "{} put no files in /opt/{}",
                kind.installer(),
                kind.layer_dirs().join(" or /opt/")
            ))
            .with_hint(format!(
                "check that {} lists at least one package",
                install::source_of(*kind)
            )));
        }
    }
    Ok(())
}

/// The final line of a build or pack: path, size, files, digests, time.
pub fn summary(console: &Console, info: &LayerInfo, started: Instant, cached: bool) {
    console.status(
        "Finished",
        format!(
            "{}: {}, {} files, sha256 {}, crc64 {}{} ({:.1} s)",
            info.path.display(),
            human_bytes(info.size),
            info.files,
            info.sha256,
            info.crc64,
            if cached { ", cached" } else { "" },
            started.elapsed().as_secs_f64()
        ),
    );
}
