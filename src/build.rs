//! `fclayer build` of one layer: one straight path from a validated plan to a layer ZIP.
//!
//! 1. (Before this runs, the caller prepared the output, temporary files beside the target, and
//!    the inputs: the tar of the project, whose symlinks must stay inside it. So an unwritable
//!    path or a hostile project fails before any engine is contacted.)
//! 2. Find or build the image: the runtime's build image on its base, or the user's Dockerfile.
//! 3. Installer mode: hash everything that decides the result into a cache key; on a hit, copy
//!    the cached ZIP into place without starting a container. Otherwise create a labelled
//!    container for the target platform, upload the inputs (project files, installer scripts, CA
//!    bundle) through the archive API and run the installers in order; on failure show the exit
//!    code and the end of the log. Dockerfile mode: create a container from the built image and
//!    run nothing.
//! 4. Stream `/opt` out of the container as a tar straight into the packer (validated entry by
//!    entry, compressed in parallel, never unpacked on disk), remove the container.
//! 5. Write the ordered ZIP, enforce the size budget, hash it, run the ELF gate (and --frozen's
//!    comparison), move it into place, write the manifest beside it, store it in the cache.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::cache::{self, BuildCache, KeyBuilder};
use crate::console::Console;
use crate::cross::Cross;
use crate::docker::Engine;
use crate::docker::image::BuildImage;
use crate::docker::platform::Execution;
use crate::docker::run::{Container, RunSpec, mask_secrets, tail_details};
use crate::docker::volume;
use crate::error::{Error, Result};
use crate::images;
use crate::layer::pack::{Counted, PackOptions, Packer};
use crate::layer::{LayerInfo, Output, human_bytes};
use crate::manifest::{self, ImageRef, LayerRef, Manifest};
use crate::native::Target;
use crate::plan::{BuildPlan, DockerfileSpec, Mode};
use crate::project;
use crate::runtime::{Kind, Runtime, apt, java, node, php, python};
use crate::tarball::TarBuilder;

/// Where inputs land in the build container.
const INPUT_ROOT: &str = "fclayer";

/// What a build produced, for the summary and `--json`.
#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub layer: LayerInfo,
    pub cache_hit: bool,
    pub image: String,
    pub image_id: String,
    pub seconds: f64,
    #[serde(skip)]
    pub manifest: Manifest,
}

/// What is sent to the engine, read from the project before any engine is contacted.
pub enum Inputs {
    /// The tar uploaded at `/` of the build container (see `input_archive`), and the project's
    /// files in it with their sha256.
    Install {
        tar: Vec<u8>,
        files: BTreeMap<String, String>,
    },
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
        Mode::Install { .. } => {
            let mut tar = TarBuilder::new();
            let files = input_archive(plan, output, &mut tar)?;
            Ok(Inputs::Install {
                tar: tar.finish()?,
                files,
            })
        }
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
) -> Result<Outcome> {
    let started = Instant::now();
    // The ZIP's path: the output, or --check's scratch file beside it.
    let target_path = output.target().to_path_buf();
    announce(plan, console);
    let mut manifest = Manifest {
        fclayer: env!("CARGO_PKG_VERSION").into(),
        runtime: plan.runtime.name.into(),
        platform: plan.platform.into(),
        installers: plan
            .mode
            .kinds()
            .iter()
            .map(|k| k.name().to_string())
            .collect(),
        env: plan
            .env
            .iter()
            .map(|(k, v)| (k.clone(), mask_secrets(v, &plan.secrets)))
            .collect(),
        ..Manifest::default()
    };
    let pack_options = PackOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..PackOptions::default()
    };
    let mut cache_key = None;

    let (containers, image_tag) = match (&plan.mode, inputs) {
        (Mode::Install { kinds, apt }, Inputs::Install { tar: inputs, files }) => {
            manifest.inputs = files;
            let native = engine.native_platform().await?;
            let cross = native != plan.platform
                && !plan.emulate
                && kinds.iter().any(|k| matches!(k, Kind::Python | Kind::Node));
            let context = images::build_context(plan.runtime)?;
            // Cross builds start from the fetch image on the engine's own platform; the target's
            // build image is built (under emulation) only if something needs it.
            let (identity, fetch, target_image) = if cross {
                let base = engine
                    .ensure_base(&plan.base_image, plan.platform, console)
                    .await?;
                let fetch = engine
                    .ensure_build_image(
                        "fclayer/fetch",
                        images::fetch_context()?,
                        &plan.native_base,
                        &native,
                        console,
                    )
                    .await?;
                manifest.build_image = ImageRef {
                    tag: fetch.tag.clone(),
                    id: fetch.id.clone(),
                    base: plan.base_image.clone(),
                    base_id: base.id.clone().unwrap_or_default(),
                };
                let identity = format!(
                    "cross {} {} {}",
                    fetch.id,
                    base.id.unwrap_or_default(),
                    context.hash
                );
                (identity, Some(fetch), None)
            } else {
                let image = engine
                    .ensure_build_image(
                        &format!("fclayer/build-{}", plan.runtime.name),
                        context,
                        &plan.base_image,
                        plan.platform,
                        console,
                    )
                    .await?;
                manifest.build_image = ImageRef {
                    tag: image.tag.clone(),
                    id: image.id.clone(),
                    base: image.base.clone(),
                    base_id: image.base_id.clone(),
                };
                (image.id.clone(), None, Some(image))
            };
            let key = build_key(
                plan,
                &identity,
                kinds,
                apt,
                &inputs,
                &manifest,
                &pack_options,
            );
            if plan.use_cache
                && let Some((zip, meta)) = BuildCache::open().lookup(&key)
            {
                let tag = manifest.build_image.tag.clone();
                let id = manifest.build_image.id.clone();
                return cached(
                    plan,
                    output,
                    &zip,
                    &meta,
                    manifest,
                    (&tag, &id),
                    started,
                    console,
                );
            }
            cache_key = Some(key);
            let containers = match (fetch, target_image) {
                (Some(fetch), _) => {
                    cross_install(plan, kinds, apt, &inputs, &fetch, &native, engine, console)
                        .await?
                }
                (None, Some(image)) => {
                    vec![install(plan, kinds, apt, inputs, &image, engine, console).await?]
                }
                (None, None) => unreachable!("one of the two images is always found"),
            };
            for container in &containers {
                if let Some(report) = container.read_file("/fclayer/report/apt.txt").await? {
                    let versions = manifest::parse_versions(&String::from_utf8_lossy(&report));
                    manifest.packages.insert("apt".into(), versions);
                }
                crate::slim::report_container(container, console).await?;
            }
            let tag = manifest.build_image.tag.clone();
            (containers, tag)
        }
        (
            Mode::Dockerfile(spec),
            Inputs::Dockerfile {
                context,
                dockerfile,
            },
        ) => {
            let (container, image) =
                from_dockerfile(plan, spec, context, dockerfile, engine, console).await?;
            let container = vec![container];
            manifest.build_image = ImageRef {
                tag: spec.dockerfile.display().to_string(),
                id: image,
                base: String::new(),
                base_id: String::new(),
            };
            (container, String::new())
        }
        _ => unreachable!("inputs are made from the same plan"),
    };

    // Copying out and compressing run together: the tar stream of /opt goes straight into the
    // packer's spool, so "copying out" ends when the last entry is compressed. Every container's
    // /opt goes into the one layer (a cross build has one per path taken). The installer's
    // container is still running (it holds, see `RunSpec::hold`); stopping and removing it
    // happens while the ZIP is written, and the build waits for both (on every path, so a
    // failing build leaves no container in removal).
    let mut packer = output.packer(pack_options)?;
    let mut copied_out = Vec::new();
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
        copied_out.push(container);
    }
    check_produced(plan, &packer)?;

    let step = console.step(
        "Packing",
        format!("{} in path order", output.target().display()),
    );
    packer.set_progress(step.items(packer.entries_seen() as u64, "entries"));
    let max_size = plan.max_size;
    let target = Target::new(plan.runtime, Some(plan.platform))?;
    let name = plan.output.display().to_string();
    let (allow, gate_console) = (plan.allow_incompatible, console.clone());
    let frozen = plan.frozen.then(|| manifest::path_for(&plan.output));
    // Writing the ZIP, then the ELF gate and --frozen's comparison on it, while the containers
    // are removed (removal took 0.15 s here, writing 0.02 s and the gate 0.1 s). The ZIP takes
    // its place only when all of it is done and no container is left.
    let checking = tokio::task::spawn_blocking(move || -> Result<_, (bool, Error)> {
        let finished = output.finish(packer, max_size).map_err(|e| (true, e))?;
        step.done(format!(
            "{} files, {} unpacked, {} zipped",
            finished.info.files,
            human_bytes(finished.info.unpacked_size),
            human_bytes(finished.info.size)
        ));
        let mut check = || -> Result<()> {
            let zip = finished.zip_path();
            gate(zip, &name, &target, allow, &gate_console)?;
            for (kind, versions) in manifest::packages_in(zip)? {
                manifest.packages.entry(kind).or_default().extend(versions);
            }
            manifest.layer = layer_ref(&finished.info);
            if let Some(path) = &frozen {
                frozen_check(path, &manifest)?;
            }
            Ok(())
        };
        check().map_err(|e| (false, e))?;
        Ok((finished, manifest))
    });
    let (removed, checked) = tokio::join!(
        futures::future::join_all(copied_out.into_iter().map(Container::remove)),
        checking
    );
    let checked = checked.map_err(|e| Error::build(format!("packing stopped: {e}")))?;
    // A packing error first (the layer could not be written), then a container that could not be
    // removed, then what the checks found.
    if let Err((true, e)) = checked {
        return Err(e);
    }
    for r in removed {
        r?;
    }
    let (finished, manifest) = checked.map_err(|(_, e)| e)?;
    if plan.slim && matches!(plan.mode, Mode::Install { .. }) {
        crate::slim::verify_slim(plan, finished.zip_path(), engine, console).await?;
    }
    // A rename into place.
    let info = finished.persist()?;
    write_manifest(&target_path, &manifest, console);
    if let Some(key) = cache_key {
        let meta = cache_meta(&key, plan, &info, &manifest);
        if let Err(e) = BuildCache::open().store(&key, &target_path, &meta) {
            console.warn(format!(
                "could not store the layer in the build cache: {}",
                e.message
            ));
        }
    }
    summary(console, &info, started, false);
    Ok(Outcome {
        layer: info,
        cache_hit: false,
        image: image_tag,
        image_id: manifest.build_image.id.clone(),
        seconds: started.elapsed().as_secs_f64(),
        manifest,
    })
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
}

/// Everything that decides the layer's bytes, hashed (see `cache`).
fn build_key(
    plan: &BuildPlan,
    identity: &str,
    kinds: &[Kind],
    apt: &[String],
    inputs: &[u8],
    manifest: &Manifest,
    pack: &PackOptions,
) -> String {
    let mut k = KeyBuilder::new();
    k.part("runtime", plan.runtime.name.as_bytes())
        .part("platform", plan.platform.as_bytes())
        .part("image", identity.as_bytes())
        .part("inputs", &Sha256::digest(inputs))
        .part("apt", apt.join(" ").as_bytes())
        .part("mtime", format!("{:?}", pack.mtime).as_bytes())
        .part("level", &pack.level.to_le_bytes())
        .part("zip", crate::layer::pack::FORMAT.as_bytes())
        .part("bytecode", &[u8::from(plan.bytecode)])
        .part("slim", &[u8::from(plan.slim)]);
    for kind in kinds {
        k.part("kind", kind.name().as_bytes());
    }
    for (name, value) in &manifest.env {
        k.part(name, value.as_bytes());
    }
    k.finish()
}

/// A cache hit: the stored ZIP goes into place; no container starts.
#[allow(clippy::too_many_arguments)]
fn cached(
    plan: &BuildPlan,
    output: Output,
    zip: &Path,
    meta: &cache::Meta,
    fresh: Manifest,
    image: (&str, &str),
    started: Instant,
    console: &Console,
) -> Result<Outcome> {
    let mut manifest: Manifest =
        serde_json::from_value(meta.manifest.clone()).unwrap_or_else(|_| fresh.clone());
    // The stored manifest names the output it was first written to; the rest is this build's.
    manifest.build_image = fresh.build_image;
    manifest.inputs = fresh.inputs;
    if plan.frozen {
        frozen_check(&manifest::path_for(&plan.output), &manifest)?;
    }
    let target_path = output.target().to_path_buf();
    output.commit_copy(zip, &meta.sha256)?;
    let info = meta.layer_info(&target_path);
    write_manifest(&target_path, &manifest, console);
    summary(console, &info, started, true);
    Ok(Outcome {
        layer: info,
        cache_hit: true,
        image: image.0.to_string(),
        image_id: image.1.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        manifest,
    })
}

fn cache_meta(key: &str, plan: &BuildPlan, info: &LayerInfo, manifest: &Manifest) -> cache::Meta {
    cache::Meta {
        key: key.to_string(),
        runtime: plan.runtime.name.into(),
        platform: plan.platform.into(),
        project: plan.project.display().to_string(),
        sha256: info.sha256.clone(),
        crc64: info.crc64.clone(),
        size: info.size,
        files: info.files,
        dirs: info.dirs,
        symlinks: info.symlinks,
        unpacked_size: info.unpacked_size,
        top_level: info.top_level.clone(),
        manifest: serde_json::to_value(manifest).expect("manifest serialises"),
    }
}

fn layer_ref(info: &LayerInfo) -> LayerRef {
    LayerRef {
        sha256: info.sha256.clone(),
        crc64: info.crc64.clone(),
        size: info.size,
        files: info.files,
    }
}

/// --frozen: the new build must record exactly what the earlier one did.
fn frozen_check(path: &Path, new: &Manifest) -> Result<()> {
    if !path.is_file() {
        return Err(Error::input(format!(
            "--frozen compares with the manifest of an earlier build, and {} does not exist",
            path.display()
        ))
        .with_hint("build once without --frozen (and commit the manifest beside the ZIP)"));
    }
    let old = Manifest::load(path)?;
    let diffs = old.differences(new);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(Error::build(format!(
        "--frozen: this build differs from what {} records",
        path.display()
    ))
    .with_details(diffs.into_iter().take(20))
    .with_hint("pin the versions that moved, or rebuild without --frozen to accept the change"))
}

fn write_manifest(output: &Path, manifest: &Manifest, console: &Console) {
    let path = manifest::path_for(output);
    if let Err(e) = manifest.write(&path) {
        console.warn(format!("could not write the manifest: {}", e.message));
    }
}

/// QEMU sometimes crashes an emulated process with SIGSEGV or SIGILL where the same program runs
/// fine natively (buildx #1170, esbuild #3153): such a crash gets one more try, said aloud.
fn retry_under_emulation(code: i64, execution: Execution, attempt: u32) -> bool {
    matches!(code, 132 | 139) && execution == Execution::Emulated && attempt == 1
}

/// The environment of an installer container: each installer's settings, the target machine,
/// the host's proxies and index URLs, the CA bundle, and where the download caches are.
fn installer_env(
    plan: &BuildPlan,
    kinds: &[Kind],
    apt_packages: &[String],
) -> Vec<(String, String)> {
    let rt = plan.runtime;
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
    env.push(("FCLAYER_ARCH".into(), plan.arch.name().into()));
    // Byte-code and --slim run in entry.sh after the installers (images/install/bytecode.py,
    // slim.py); FCLAYER_PYVER is the version whose magic number the byte-code must carry.
    if let Some(py) = rt.python.filter(|_| kinds.contains(&Kind::Python)) {
        env.push(("FCLAYER_PYVER".into(), py.version.into()));
        env.push((
            "FCLAYER_BYTECODE".into(),
            u8::from(plan.bytecode).to_string(),
        ));
    }
    env.push(("FCLAYER_SLIM".into(), u8::from(plan.slim).to_string()));
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
    // Download caches persist between builds in a volume per runtime and platform.
    for (name, dir) in [
        ("PIP_CACHE_DIR", "pip"),
        ("npm_config_cache", "npm"),
        ("COMPOSER_CACHE_DIR", "composer"),
        ("FCLAYER_M2", "m2"),
    ] {
        env.push((name.into(), format!("{}/{dir}", volume::MOUNT)));
    }
    env.sort();
    env.dedup_by(|a, b| a.0 == b.0);
    env
}

/// A cross-platform build: Python and Node.js from the fetch image on the engine's platform,
/// whatever needs the target (source-only requirements, Node.js packages that build, apt, Java,
/// PHP) in the runtime's build image under emulation. Returns the containers holding /opt.
#[allow(clippy::too_many_arguments)]
async fn cross_install(
    plan: &BuildPlan,
    kinds: &[Kind],
    apt_packages: &[String],
    inputs: &[u8],
    fetch: &BuildImage,
    native: &str,
    engine: &Engine,
    console: &Console,
) -> Result<Vec<Container>> {
    let target = tokio::sync::OnceCell::new();
    let target_image = || async {
        target
            .get_or_try_init(|| async {
                let image = engine
                    .ensure_build_image(
                        &format!("fclayer/build-{}", plan.runtime.name),
                        images::build_context(plan.runtime)?,
                        &plan.base_image,
                        plan.platform,
                        console,
                    )
                    .await?;
                engine
                    .probe_platform(plan.platform, &image.tag, console)
                    .await?;
                let volume = engine
                    .download_cache(plan.runtime.name, plan.platform)
                    .await?;
                Ok::<_, Error>((image, volume))
            })
            .await
            .cloned()
    };
    let env = installer_env(plan, kinds, apt_packages);
    let cross = Cross {
        plan,
        engine,
        console,
        fetch,
        native_platform: native,
        inputs,
        env: &env,
        native_volume: engine.download_cache("fetch", native).await?,
    };
    let mut containers = Vec::new();
    let mut emulated: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|k| !matches!(k, Kind::Python | Kind::Node))
        .collect();
    if kinds.contains(&Kind::Python) {
        containers.push(cross.python(target_image).await?);
    }
    if kinds.contains(&Kind::Node) {
        match cross.node().await? {
            Some(c) => containers.push(c),
            None => emulated.push(Kind::Node),
        }
    }
    if !emulated.is_empty() {
        emulated.sort();
        let (image, _) = target_image().await?;
        containers.push(
            install(
                plan,
                &emulated,
                apt_packages,
                inputs.to_vec(),
                &image,
                engine,
                console,
            )
            .await?,
        );
    }
    Ok(containers)
}

/// Installer mode: create the container, upload the inputs, run the installers.
async fn install(
    plan: &BuildPlan,
    kinds: &[Kind],
    apt_packages: &[String],
    inputs: Vec<u8>,
    image: &BuildImage,
    engine: &Engine,
    console: &Console,
) -> Result<Container> {
    let rt = plan.runtime;
    let execution = engine
        .probe_platform(plan.platform, &image.tag, console)
        .await?;
    let env = installer_env(plan, kinds, apt_packages);
    let cache_volume = engine.download_cache(rt.name, plan.platform).await?;
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
        volumes: vec![(cache_volume, volume::MOUNT.to_string())],
        hold: true,
    };

    let installers: Vec<String> = kinds.iter().map(|k| describe(*k, rt)).collect();
    let mut attempt = 0;
    let (container, exit) = loop {
        attempt += 1;
        let container = engine.create_container(&spec).await?;
        container.upload("/", inputs.clone()).await?;
        let step = console.step(
            "Installing",
            format!(
                "with {} in container {}",
                installers.join(", "),
                container.short_id()
            ),
        );
        let exit = container.run(plan.timeout, console, &plan.secrets).await?;
        if exit.code == 0 {
            step.done("done");
            break (container, exit);
        }
        drop(step);
        if retry_under_emulation(exit.code, execution, attempt) {
            console.warn(format!(
                "the installer was {} under emulation, a known QEMU fault; running it once more",
                exit.describe()
            ));
            container.remove().await?;
            continue;
        }
        break (container, exit);
    };
    if exit.code != 0 {
        container.remove().await?;
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
    Ok(container)
}

/// Dockerfile mode: build the user's image, then a container of it that never runs: /opt is
/// read straight from its filesystem. Returns the container and the image's ID.
async fn from_dockerfile(
    plan: &BuildPlan,
    spec: &DockerfileSpec,
    context: Vec<u8>,
    dockerfile: String,
    engine: &Engine,
    console: &Console,
) -> Result<(Container, String)> {
    let image = engine
        .build_user_image(context, dockerfile, spec, plan.platform, console)
        .await?;
    let id = engine
        .image(&image)
        .await?
        .and_then(|i| i.id)
        .unwrap_or_default();
    // The temporary image goes with the run's cleanup, after the container.
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
    Ok((container, id))
}

/// The ELF gate on the finished ZIP, before it is moved into place: every native file must load
/// on the target runtime. With --allow-incompatible the findings are shown and the layer kept.
fn gate(zip: &Path, name: &str, target: &Target, allow: bool, console: &Console) -> Result<()> {
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
    console.block(&crate::commands::check::render(&report));
    let err = crate::commands::check::failure(&report);
    if allow {
        console.warn(format!("{} (kept: --allow-incompatible)", err.message));
        return Ok(());
    }
    Err(err.with_details(["(--allow-incompatible writes the layer anyway)"]))
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

/// Fill `tar` with what is uploaded at `/` of the build container: `fclayer/install/` (scripts),
/// `fclayer/hooks/`, `fclayer/src/` (the project), `fclayer/ca.crt`, `fclayer/provided.txt`.
/// Returns the project's input files and their sha256.
fn input_archive(
    plan: &BuildPlan,
    output: &Output,
    tar: &mut TarBuilder,
) -> Result<BTreeMap<String, String>> {
    tar.dir(INPUT_ROOT)?;
    images::add_tree(tar, "install", &format!("{INPUT_ROOT}/install"))?;
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
        let target = Target::new(plan.runtime, Some(plan.platform))?;
        let list: String = target.provided.iter().map(|s| format!("{s}\n")).collect();
        tar.file(
            &format!("{INPUT_ROOT}/provided.txt"),
            list.as_bytes(),
            false,
        )?;
    }
    tar.dir(&format!("{INPUT_ROOT}/src"))?;
    project::add_inputs(
        tar,
        &plan.project,
        &format!("{INPUT_ROOT}/src"),
        &[output.target().to_path_buf()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_emulated_sigsegv_or_sigill_is_retried_and_only_once() {
        assert!(retry_under_emulation(139, Execution::Emulated, 1));
        assert!(retry_under_emulation(132, Execution::Emulated, 1));
        assert!(!retry_under_emulation(139, Execution::Emulated, 2));
        assert!(!retry_under_emulation(139, Execution::Native, 1));
        assert!(!retry_under_emulation(1, Execution::Emulated, 1));
        assert!(
            !retry_under_emulation(137, Execution::Emulated, 1),
            "SIGKILL is not QEMU's"
        );
    }
}
