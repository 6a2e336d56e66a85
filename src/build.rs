//! `fclayer build`: one straight path from a validated plan to a layer ZIP.
//!
//! 1. (Before this runs, the caller prepared the output, temporary files beside the target, and
//!    the inputs: the tar of the project, whose symlinks must stay inside it. So an unwritable
//!    path or a hostile project fails before any engine is contacted.)
//! 2. Find or build the image: the runtime's build image on its base, or the user's Dockerfile.
//! 3. Installer mode: create a labelled container for the runtime's platform, upload the inputs
//!    (project files, installer scripts, CA bundle) through the archive API and run the installers
//!    in order; on failure show the exit code and the end of the log. Dockerfile mode: create a
//!    container from the built image and run nothing.
//! 4. Stream `/opt` out of the container as a tar straight into the packer (validated entry by
//!    entry, compressed in parallel, never unpacked on disk), remove the container.
//! 5. Write the ordered ZIP, enforce the size budget, hash it, move it into place.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::{Container, RunSpec, tail_details};
use crate::error::{Error, Result};
use crate::images;
use crate::layer::pack::{Counted, PackOptions, Packer};
use crate::layer::{LayerInfo, Output, human_bytes};
use crate::plan::{BuildPlan, DockerfileSpec, Mode};
use crate::project;
use crate::runtime::{Kind, Runtime, apt, java, node, php, python};
use crate::tarball::TarBuilder;

/// Where inputs land in the build container.
const INPUT_ROOT: &str = "fclayer";

/// What is sent to the engine, read from the project before any engine is contacted.
pub enum Inputs {
    /// The tar uploaded at `/` of the build container (see `input_archive`).
    Install(Vec<u8>),
    /// The `docker build` context and the Dockerfile's name in it.
    Dockerfile {
        context: Vec<u8>,
        dockerfile: String,
    },
}

/// Read the project into what the engine will get, refusing what must not leave the host
/// (symlinks pointing outside the project).
pub fn inputs(plan: &BuildPlan, output: &Output) -> Result<Inputs> {
    match &plan.mode {
        Mode::Install { .. } => Ok(Inputs::Install(input_archive(plan, output)?)),
        Mode::Dockerfile(spec) => {
            let (context, dockerfile) = project::docker_context(&plan.project, &spec.dockerfile)?;
            Ok(Inputs::Dockerfile {
                context,
                dockerfile,
            })
        }
    }
}

pub async fn build(
    plan: &BuildPlan,
    inputs: Inputs,
    output: Output,
    engine: &Engine,
    console: &Console,
    cancel: Arc<AtomicBool>,
) -> Result<LayerInfo> {
    let started = Instant::now();
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

    let container = match (&plan.mode, inputs) {
        (Mode::Install { kinds, apt }, Inputs::Install(tar)) => {
            install(plan, kinds, apt, tar, engine, console).await?
        }
        (
            Mode::Dockerfile(spec),
            Inputs::Dockerfile {
                context,
                dockerfile,
            },
        ) => from_dockerfile(plan, spec, context, dockerfile, engine, console).await?,
        _ => unreachable!("inputs are made from the same plan"),
    };

    // Copying out and compressing run together: the tar stream of /opt goes straight into the
    // packer's spool, so "copying out" ends when the last entry is compressed.
    let step = console.step(
        "Copying out",
        format!("/opt from container {}", container.short_id()),
    );
    let copied = step.bytes(None);
    let mut packer = output.packer(PackOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..PackOptions::default()
    })?;
    let stream = StreamReader::new(container.export("/opt"));
    let reader = SyncIoBridge::new(stream);
    let streamed = tokio::task::spawn_blocking(move || -> Result<_> {
        packer.add_tar(Counted::new(reader, &copied), Some("opt"))?;
        Ok(packer)
    })
    .await
    .map_err(|e| Error::build(format!("packing stopped: {e}")))?;
    let mut packer = match streamed {
        Ok(p) => p,
        Err(e) => return Err(engine.explain(e).await),
    };
    step.done(format!(
        "{} files, {}",
        packer.files_seen(),
        human_bytes(packer.bytes_seen())
    ));
    container.remove().await?;
    check_produced(plan, &packer)?;

    let step = console.step(
        "Packing",
        format!("{} in path order", output.target().display()),
    );
    packer.set_progress(step.items(packer.entries_seen() as u64, "entries"));
    let packed = tokio::task::spawn_blocking(move || output.write(packer))
        .await
        .map_err(|e| Error::build(format!("packing stopped: {e}")))??;
    let stats = packed.stats();
    step.done(format!(
        "{} files, {} unpacked, {} zipped",
        stats.files,
        human_bytes(stats.bytes),
        human_bytes(stats.zip_bytes)
    ));

    let step = console.step("Checking", "size budget and digests");
    let hashed = step.bytes(Some(stats.zip_bytes));
    let max_size = plan.max_size;
    let info = tokio::task::spawn_blocking(move || packed.check(max_size, &hashed))
        .await
        .map_err(|e| Error::build(format!("packing stopped: {e}")))??;
    step.done(format!(
        "{} of at most {}",
        human_bytes(info.size),
        human_bytes(max_size)
    ));
    summary(console, &info, started);
    Ok(info)
}

/// Installer mode: the runtime's build image, the inputs uploaded, the installers run.
async fn install(
    plan: &BuildPlan,
    kinds: &[Kind],
    apt_packages: &[String],
    inputs: Vec<u8>,
    engine: &Engine,
    console: &Console,
) -> Result<Container> {
    let rt = plan.runtime;
    let image = engine
        .ensure_build_image(
            &format!("fclayer/build-{}", rt.name),
            images::build_context(rt)?,
            &plan.base_image,
            plan.platform,
            console,
        )
        .await?;

    let mut env: Vec<(String, String)> = Vec::new();
    for kind in kinds {
        env.extend(match kind {
            Kind::Apt => apt::installer_env(rt, apt_packages),
            Kind::Python => python::installer_env(rt, kind.manifest()),
            Kind::Node => node::installer_env(rt),
            Kind::Java => java::installer_env(rt),
            Kind::Php => php::installer_env(rt),
        });
    }
    env.push(("FCLAYER_ARCH".into(), rt.arch().into()));
    env.extend(plan.env.iter().cloned());
    if plan.ca.is_some() {
        for name in [
            "SSL_CERT_FILE",
            "PIP_CERT",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "GIT_SSL_CAINFO",
            "npm_config_cafile",
        ] {
            env.push((name.into(), format!("/{INPUT_ROOT}/ca-bundle.crt")));
        }
        env.push((
            "NODE_EXTRA_CA_CERTS".into(),
            format!("/{INPUT_ROOT}/ca.crt"),
        ));
    }
    env.sort();
    env.dedup_by(|a, b| a.0 == b.0);
    let mut cmd = vec![
        "/bin/sh".to_string(),
        format!("/{INPUT_ROOT}/install/entry.sh"),
    ];
    cmd.extend(kinds.iter().map(|k| k.name().to_string()));
    let spec = RunSpec {
        image: image.tag.clone(),
        platform: plan.platform.to_string(),
        cmd,
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        workdir: Some(format!("/{INPUT_ROOT}/src")),
        network_disabled: false,
    };
    let container = engine.create_container(&spec).await?;
    container.upload("/", inputs).await?;

    let installers: Vec<String> = kinds.iter().map(|k| describe(*k, rt)).collect();
    let step = console.step(
        "Installing",
        format!(
            "with {} in container {}",
            installers.join(", "),
            container.short_id()
        ),
    );
    let exit = container.run(plan.timeout, console, &plan.secrets).await?;
    if exit.code != 0 {
        drop(step);
        // The scripts announce each installer as it starts; the last announced one failed.
        let failed = exit
            .tail
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("fclayer: running "))
            .and_then(|name| Kind::parse(name.trim()))
            .or(kinds.last().copied())
            .unwrap_or(Kind::Apt);
        let (what, hint) = if exit.oom {
            (
                format!("ran out of memory ({})", exit.describe()),
                "the kernel's OOM killer stopped the build container: give the engine more memory (Docker Desktop: Settings, Resources), or split the layer".to_string(),
            )
        } else if exit.code > 128 {
            // The container's first process died of a signal: nothing in the installer exits
            // that way by itself.
            (
                format!("was stopped ({})", exit.describe()),
                "something outside fclayer stopped the build container (`docker kill`, `docker stop`, a restart of the engine); run the build again".to_string(),
            )
        } else {
            (
                format!("failed ({})", exit.describe()),
                installer_hint(failed, rt),
            )
        };
        return Err(Error::build(format!(
            "{} {what} installing {}",
            describe(failed, rt),
            source_of(failed)
        ))
        .with_details(tail_details(&exit.tail))
        .with_hint(hint));
    }
    step.done("done");
    Ok(container)
}

/// Dockerfile mode: build the user's image, then a container of it that never runs: /opt is
/// read straight from its filesystem.
async fn from_dockerfile(
    plan: &BuildPlan,
    spec: &DockerfileSpec,
    context: Vec<u8>,
    dockerfile: String,
    engine: &Engine,
    console: &Console,
) -> Result<Container> {
    let image = engine
        .build_user_image(context, dockerfile, spec, plan.platform, console)
        .await?;
    let result = async {
        let container = engine
            .create_container(&RunSpec {
                image: image.clone(),
                platform: plan.platform.to_string(),
                cmd: vec!["/fclayer-never-runs".into()],
                ..RunSpec::default()
            })
            .await?;
        if !container.has_path("/opt").await? {
            container.remove().await?;
            return Err(Error::build(format!(
                "the image built from {} has no /opt: nothing to put in the layer",
                spec.dockerfile.display()
            ))
            .with_hint("install what the layer should hold below /opt in the Dockerfile (e.g. /opt/bin, /opt/lib, /opt/python)"));
        }
        Ok(container)
    }
    .await;
    // The image (a temporary, labelled tag) goes with the run's cleanup, after the container.
    result
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
                source_of(*kind)
            )));
        }
    }
    Ok(())
}

/// The final line of a build or pack: path, size, files, digests, time.
pub fn summary(console: &Console, info: &LayerInfo, started: Instant) {
    console.status(
        "Finished",
        format!(
            "{}: {}, {} files, sha256 {}, crc64 {} ({:.1} s)",
            info.path.display(),
            human_bytes(info.size),
            info.files,
            info.sha256,
            info.crc64,
            started.elapsed().as_secs_f64()
        ),
    );
}

fn describe(kind: Kind, rt: &Runtime) -> String {
    match kind {
        Kind::Apt => format!("apt ({})", rt.debian),
        Kind::Python => python::describe(rt),
        Kind::Node => node::describe(rt),
        Kind::Java => java::describe(rt),
        Kind::Php => php::describe(rt),
    }
}

fn source_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Apt => "the apt packages",
        other => other.manifest(),
    }
}

fn installer_hint(kind: Kind, rt: &Runtime) -> String {
    let (g1, g2) = rt.debian.glibc();
    match kind {
        Kind::Apt => format!(
            "check the package names: each must exist in {} for {}; run with --verbose to see all of apt's output",
            rt.debian,
            rt.arch()
        ),
        Kind::Python => format!(
            "check the names and versions in requirements.txt: each must exist on the package index for {} on {} (glibc {g1}.{g2}); run with --verbose to see all of pip's output",
            python::interpreter(rt),
            rt.arch()
        ),
        Kind::Node => "check the names and versions in package.json (and that package-lock.json matches it); run with --verbose to see all of npm's output".into(),
        Kind::Java => "check pom.xml's dependencies and repositories; run with --verbose to see all of Maven's output".into(),
        Kind::Php => "check composer.json's requirements (and that composer.lock matches it); run with --verbose to see all of Composer's output".into(),
    }
}

/// The tar uploaded at `/` of the build container: `fclayer/install/` (scripts),
/// `fclayer/hooks/`, `fclayer/src/` (the project) and `fclayer/ca.crt`.
fn input_archive(plan: &BuildPlan, output: &Output) -> Result<Vec<u8>> {
    let mut tar = TarBuilder::new();
    tar.dir(INPUT_ROOT)?;
    images::add_tree(&mut tar, "install", &format!("{INPUT_ROOT}/install"))?;
    // The PEP 600 hook sits beside the scripts in the source tree but is looked up on PYTHONPATH.
    tar.dir(&format!("{INPUT_ROOT}/hooks"))?;
    let hook = images::IMAGES
        .get_file("install/hooks/_manylinux.py")
        .expect("hook embedded");
    tar.file(
        &format!("{INPUT_ROOT}/hooks/_manylinux.py"),
        hook.contents(),
        false,
    )?;
    if let Some(ca) = &plan.ca {
        tar.file(&format!("{INPUT_ROOT}/ca.crt"), &ca.pem, false)?;
    }
    if plan.mode.kinds().contains(&Kind::Apt) {
        // The apt installer skips libraries the runtime image already has: the ELF gate's list.
        let target = crate::native::target::Target::new(plan.runtime, None)?;
        let list: String = target.provided.iter().map(|s| format!("{s}\n")).collect();
        tar.file(
            &format!("{INPUT_ROOT}/provided.txt"),
            list.as_bytes(),
            false,
        )?;
    }
    tar.dir(&format!("{INPUT_ROOT}/src"))?;
    project::add_inputs(
        &mut tar,
        &plan.project,
        &format!("{INPUT_ROOT}/src"),
        &[output.target().to_path_buf()],
    )?;
    tar.finish()
}
