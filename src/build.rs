//! `fclayer build`: one straight path from a validated plan to a layer ZIP.
//!
//! 1. (Before this runs, the caller prepared the output: temporary files beside the target, so an
//!    unwritable path fails before any engine is contacted.)
//! 2. Find or build the runtime's build image on its base.
//! 3. Create a labelled container for the runtime's platform and upload the inputs (project
//!    files, installer scripts, CA bundle) through the archive API.
//! 4. Run the installer; on failure show its exit code and the end of its log.
//! 5. Stream `/opt` out of the container as a tar straight into the packer (validated entry by
//!    entry, compressed in parallel, never unpacked on disk), remove the container.
//! 6. Write the ordered ZIP, enforce the size budget, hash it, move it into place.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::{RunSpec, tail_details};
use crate::error::{Error, Result};
use crate::images;
use crate::layer::pack::PackOptions;
use crate::layer::{LayerInfo, Output, human_bytes};
use crate::plan::BuildPlan;
use crate::project;
use crate::runtime::{Kind, python};
use crate::tarball::TarBuilder;

/// Where inputs land in the build container.
const INPUT_ROOT: &str = "fclayer";

pub async fn build(
    plan: &BuildPlan,
    output: Output,
    engine: &Engine,
    console: &Console,
    cancel: Arc<AtomicBool>,
) -> Result<LayerInfo> {
    let started = Instant::now();
    let rt = plan.runtime;
    let (g1, g2) = rt.debian.glibc();
    if plan.runtime_from == "default" {
        console.note(format!(
            "no --runtime given: using {} for {} (the default; set it with --runtime or in fclayer.toml)",
            rt.name,
            plan.kind.manifest()
        ));
    }
    console.status(
        "Building",
        format!(
            "{} layer for {} ({}, glibc {g1}.{g2}, {}) from {}",
            plan.kind,
            rt.name,
            rt.debian,
            plan.platform,
            plan.project.display()
        ),
    );

    let inputs = input_archive(plan, &output)?;

    let image = engine
        .ensure_build_image(
            &format!("fclayer/build-{}", rt.name),
            images::build_context(rt)?,
            &plan.base_image,
            plan.platform,
            console,
        )
        .await?;

    let mut env: Vec<(String, String)> = match plan.kind {
        Kind::Python => python::installer_env(rt, plan.kind.manifest()),
    };
    env.extend(plan.env.iter().cloned());
    if plan.ca.is_some() {
        for name in [
            "SSL_CERT_FILE",
            "PIP_CERT",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "GIT_SSL_CAINFO",
        ] {
            env.push((name.into(), format!("/{INPUT_ROOT}/ca-bundle.crt")));
        }
        env.push((
            "NODE_EXTRA_CA_CERTS".into(),
            format!("/{INPUT_ROOT}/ca.crt"),
        ));
    }
    let spec = RunSpec {
        image: image.tag.clone(),
        platform: plan.platform.to_string(),
        cmd: vec![
            "/bin/sh".into(),
            format!("/{INPUT_ROOT}/install/entry.sh"),
            plan.kind.name().into(),
        ],
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        workdir: Some(format!("/{INPUT_ROOT}/src")),
        network_disabled: false,
    };
    let container = engine.create_container(&spec).await?;
    container.upload("/", inputs).await?;

    let step = console.step(
        "Installing",
        format!(
            "{} with {} in container {}",
            plan.kind.manifest(),
            installer_name(plan),
            container.short_id()
        ),
    );
    let exit = container.run(plan.timeout, console, &plan.secrets).await?;
    if exit.code != 0 {
        drop(step);
        return Err(Error::build(format!(
            "{} failed ({}) installing {}",
            installer_name(plan),
            exit.describe(),
            plan.kind.manifest()
        ))
        .with_details(tail_details(&exit.tail))
        .with_hint(installer_hint(plan)));
    }
    step.done("done");

    let step = console.step("Packing", "/opt from the container into the layer");
    let mut packer = output.packer(PackOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..PackOptions::default()
    })?;
    let reader = SyncIoBridge::new(StreamReader::new(container.export("/opt")));
    let packer = tokio::task::spawn_blocking(move || -> Result<_> {
        packer.add_tar(reader, Some("opt"))?;
        Ok(packer)
    })
    .await
    .map_err(|e| Error::build(format!("packing stopped: {e}")))??;
    container.remove().await?;
    if packer.files_seen() == 0 {
        return Err(Error::build(format!(
            "the installer put no files in /opt/{}",
            plan.kind.layer_dir()
        ))
        .with_hint(format!(
            "check that {} lists at least one package",
            plan.kind.manifest()
        )));
    }
    let max_size = plan.max_size;
    let info = tokio::task::spawn_blocking(move || output.commit(packer, max_size))
        .await
        .map_err(|e| Error::build(format!("packing stopped: {e}")))??;
    step.done(format!(
        "{} files, {} unpacked",
        info.files,
        human_bytes(info.unpacked_size)
    ));
    summary(console, &info, started);
    Ok(info)
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

fn installer_name(plan: &BuildPlan) -> String {
    match plan.kind {
        Kind::Python => format!("pip ({})", python::interpreter(plan.runtime)),
    }
}

fn installer_hint(plan: &BuildPlan) -> String {
    match plan.kind {
        Kind::Python => format!(
            "check the names and versions in requirements.txt: each must exist on the package index for {} on {} (glibc {}.{}); run with --verbose to see all of pip's output",
            python::interpreter(plan.runtime),
            plan.runtime.arch(),
            plan.runtime.debian.glibc().0,
            plan.runtime.debian.glibc().1
        ),
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
    tar.dir(&format!("{INPUT_ROOT}/src"))?;
    project::add_inputs(
        &mut tar,
        &plan.project,
        &format!("{INPUT_ROOT}/src"),
        &[output.target().to_path_buf()],
    )?;
    tar.finish()
}
