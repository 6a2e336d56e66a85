//! Cross-platform builds without the wait. When the engine's own platform differs from the target
//! (an Apple Silicon laptop building FC's linux/amd64 layers; here, mirrored, this x86_64 host
//! building linux/arm64 ones), most of a layer needs no emulation: prebuilt wheels and per-platform
//! npm packages only have to be chosen and unpacked for the target. Only what must be compiled or
//! run for the target goes to the emulated build image.
//!
//! - Python: the fetch image (engine's platform) runs pip with the target's platform tags, Python
//!   version and ABI, wheels only. Each requirement pip finds no wheel for is built into a wheel
//!   under emulation (`pip wheel --no-deps`, just those), and the native install runs again with
//!   those wheels beside the index: one resolver run decides the whole set, so the merged layer
//!   is consistent.
//! - Node.js: the fetch image runs npm with the target's os and cpu and no install scripts. If a
//!   package needs the target (binding.gyp, or an install script that builds), the whole Node.js
//!   install goes under emulation instead (a node_modules tree is resolved as a whole), saying
//!   which package and why.

use std::collections::BTreeSet;

use super::images;
use super::install::{install as install_on_target, installer_env};
use crate::console::Console;
use crate::docker::Engine;
use crate::docker::image::BuildImage;
use crate::docker::run::{Container, Exit, RunSpec, tail_details};
use crate::error::{Error, Result};
use crate::plan::BuildPlan;
use crate::runtime::{Kind, node, python};

/// Wheels built under emulation, at most this many rounds (each round handles the requirements pip
/// newly reported without a wheel, e.g. a dependency of a source-only package).
const MAX_ROUNDS: usize = 4;

/// A cross-platform build: Python and Node.js from the fetch image on the engine's platform,
/// whatever needs the target (source-only requirements, Node.js packages that build, apt, Java,
/// PHP) in the runtime's build image under emulation. Returns the containers holding /opt.
pub(super) async fn install(
    plan: &BuildPlan,
    inputs: &[u8],
    fetch: &BuildImage,
    native: &str,
    engine: &Engine,
    console: &Console,
) -> Result<Vec<Container>> {
    // The target's build image is made once, and only if a part needs it.
    let target = tokio::sync::OnceCell::new();
    let target_image = || async {
        target
            .get_or_try_init(|| images::target_image(plan, engine, console))
            .await
            .cloned()
    };
    let kinds = plan.mode.kinds();
    let env = installer_env(plan, kinds);
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
        let inputs = inputs.to_vec();
        let container = install_on_target(plan, &emulated, inputs, &image, engine, console);
        containers.push(container.await?);
    }
    Ok(containers)
}

/// Containers and knowledge shared by the cross-platform steps.
struct Cross<'a> {
    plan: &'a BuildPlan,
    engine: &'a Engine,
    console: &'a Console,
    fetch: &'a BuildImage,
    native_platform: &'a str,
    inputs: &'a [u8],
    env: &'a [(String, String)],
    native_volume: String,
}

/// How one native pip round ended.
enum Round {
    /// Everything installed from wheels: the container holds /opt/python. `bytecode_deferred`:
    /// the fetch image has no interpreter of the runtime's Python, so its byte-code is still to
    /// be compiled (`bytecode_emulated`).
    Done {
        container: Box<Container>,
        bytecode_deferred: bool,
    },
    /// pip found no wheel for these requirements (none of them built before).
    Missing(Vec<String>),
}

impl Cross<'_> {
    fn spec(
        &self,
        image: &str,
        platform: &str,
        script: &str,
        extra: &[(String, String)],
        volume: &str,
    ) -> RunSpec {
        let mut env: Vec<String> = self
            .env
            .iter()
            .chain(extra)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.sort();
        RunSpec {
            image: image.to_string(),
            platform: platform.to_string(),
            cmd: vec![
                "/bin/sh".into(),
                "/fclayer/install/entry.sh".into(),
                script.into(),
            ],
            env,
            workdir: Some("/fclayer/src".into()),
            network_disabled: false,
            volumes: vec![(volume.to_string(), crate::docker::volume::MOUNT.to_string())],
            hold: false,
            opt_on_disk: false,
        }
    }

    /// Byte-code must carry the runtime's magic number, and the fetch image has no interpreter of
    /// the runtime's Python version (its python3 is its Debian's): the fetched /opt/python moves
    /// into a container of the target's build image, which compiles it with its own interpreter
    /// under emulation (images/install/python-staged.sh, then entry.sh's byte-code step). Only
    /// the compilation is emulated; --slim already ran natively. Returns the container holding
    /// /opt/python now.
    async fn bytecode_emulated<F, Fut>(
        &self,
        fetched: Container,
        mut target_image: F,
    ) -> Result<Container>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(BuildImage, String)>>,
    {
        let plan = self.plan;
        let tree = fetched.read_tree("/opt/python").await;
        fetched.remove().await?;
        let tree = tree?;
        let (image, volume) = target_image().await?;
        let mut spec = self.spec(&image.tag, plan.platform, "python-staged", &[], &volume);
        spec.env.retain(|e| !e.starts_with("FCLAYER_SLIM="));
        spec.env.push("FCLAYER_SLIM=0".into());
        spec.hold = true;
        let container = self.engine.create_container(&spec).await?;
        container.upload("/", self.inputs.to_vec()).await?;
        let mut stage = crate::tarball::TarBuilder::new();
        stage.dir("fclayer/stage")?;
        container.upload("/", stage.finish()?).await?;
        container.upload("/fclayer/stage", tree).await?;
        let step = self.console.step(
            "Compiling",
            format!(
                "byte-code under emulation in container {} (the fetch image has no Python {})",
                container.short_id(),
                plan.runtime.python.map_or("3", |l| l.version)
            ),
        );
        let exit = container
            .run(plan.timeout, self.console, &plan.secrets)
            .await?;
        if exit.code != 0 {
            drop(step);
            container.remove().await?;
            return Err(Error::build(format!(
                "compiling byte-code for {} under emulation failed ({})",
                plan.platform,
                exit.describe()
            ))
            .with_details(tail_details(&exit.tail))
            .with_hint("--no-bytecode builds the layer without byte-code"));
        }
        step.done("done");
        Ok(container)
    }

    /// Python for the target from the engine's own platform; wheels for requirements that have
    /// none are built under emulation in `target_image()`, and the native round runs again with
    /// them. Returns the container holding /opt/python.
    async fn python<F, Fut>(&self, mut target_image: F) -> Result<Container>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(BuildImage, String)>>,
    {
        let mut emulated: BTreeSet<String> = BTreeSet::new();
        let mut wheels: Option<Vec<u8>> = None;
        for _round in 0..MAX_ROUNDS {
            let missing = match self.fetch_round(wheels.as_deref(), &emulated).await? {
                Round::Done {
                    container,
                    bytecode_deferred,
                } => {
                    if bytecode_deferred {
                        return self.bytecode_emulated(*container, target_image).await;
                    }
                    return Ok(*container);
                }
                Round::Missing(missing) => missing,
            };
            self.console.note(format!(
                "no {} wheel for {}: building under emulation",
                self.plan.arch.name(),
                missing.join(", ")
            ));
            let (image, volume) = target_image().await?;
            wheels = Some(self.build_wheels(&missing, &image, &volume).await?);
            emulated.extend(missing);
        }
        Err(Error::build(format!(
            "requirements kept needing source builds after {MAX_ROUNDS} rounds: {}",
            emulated.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .with_hint("use --emulate to install everything under emulation"))
    }

    /// One native pip run for the target, with the wheels built so far (`emulated` names them)
    /// beside the index.
    async fn fetch_round(
        &self,
        wheels: Option<&[u8]>,
        emulated: &BTreeSet<String>,
    ) -> Result<Round> {
        let plan = self.plan;
        let pyver = python::version(plan.runtime);
        let reqs = crate::runtime::pyformats::reqs(plan.python.as_ref());
        let extra = python::fetch_env(plan.runtime, plan.arch, plan.python_installer, &reqs);
        let mut spec = self.spec(
            &self.fetch.tag,
            self.native_platform,
            "python-fetch",
            &extra,
            &self.native_volume,
        );
        // Its /opt is the layer's (see `RunSpec::hold`).
        spec.hold = true;
        let container = self.engine.create_container(&spec).await?;
        container.upload("/", self.inputs.to_vec()).await?;
        if let Some(w) = wheels {
            container.upload("/fclayer", w.to_vec()).await?;
        }
        let step = self.console.step(
            "Fetching",
            format!(
                "wheels for {} natively in container {} ({} on {} for CPython {pyver})",
                plan.platform,
                container.short_id(),
                installer_name(plan.python_installer),
                self.native_platform
            ),
        );
        let exit = container.run_collect(plan.timeout, self.console).await?;
        if exit.code == 0 {
            let count = python::installed_count(&exit.lines);
            step.done(fetched(count, emulated, plan.arch.name()));
            let bytecode_deferred = exit.lines.iter().any(|l| l.contains("byte-code: deferred"));
            return Ok(Round::Done {
                container: Box::new(container),
                bytecode_deferred,
            });
        }
        drop(step);
        let in_memory = container.opt_in_memory();
        container.remove().await?;
        self.fetch_failure(&exit, emulated, in_memory)
    }

    /// Why a native pip run failed: a hash the lock does not match, or requirements with no
    /// wheel (to build under emulation, which a lock cannot take), or another error.
    fn fetch_failure(
        &self,
        exit: &Exit,
        emulated: &BTreeSet<String>,
        in_memory: bool,
    ) -> Result<Round> {
        let plan = self.plan;
        if let Some(e) = super::install::hash_failure(exit, plan) {
            return Err(e);
        }
        if in_memory && super::install::outgrew_memory(exit) {
            return Err(Error::build(format!(
                "{} (for {}) ran out of room for the layer ({})",
                plan.python_installer.name(),
                plan.platform,
                exit.describe()
            ))
            .with_details(tail_details(&exit.tail))
            .with_hint(format!(
                "the build container's /opt is in memory, a quarter of the engine's: set {}=1 to put it on disk, or give the engine more memory",
                crate::docker::OPT_ON_DISK
            )));
        }
        let source = plan
            .python
            .as_ref()
            .map_or("requirements.txt", |p| p.file.as_str());
        let missing: Vec<String> = python::missing_specs(&exit.lines)
            .into_iter()
            .filter(|s| !emulated.contains(s))
            .collect();
        if let Some(py) = plan
            .python
            .as_ref()
            .filter(|p| p.locked() && !missing.is_empty())
        {
            // A wheel built here would carry a hash the lock cannot know.
            return Err(Error::build(format!(
                "{} locks {} with no wheel for {}: it must be built from its source archive",
                py.file,
                missing.join(", "),
                plan.platform
            ))
            .with_hint("--emulate installs the whole lock on the target under emulation, building it there from the locked (hashed) source archive"));
        }
        if missing.is_empty() {
            let failed = python::failed_specs(&exit.lines);
            let on = if failed.is_empty() {
                String::new()
            } else {
                format!(" (no usable distribution for {})", failed.join(", "))
            };
            return Err(Error::build(format!(
                "{} (for {} from {}) failed ({}) installing {source}{on}",
                plan.python_installer.name(),
                plan.platform,
                self.native_platform,
                exit.describe()
            ))
            .with_details(tail_details(&exit.tail))
            .with_hint(format!(
                "check {source}; --emulate runs the whole install under emulation instead"
            )));
        }
        Ok(Round::Missing(missing))
    }

    /// Build wheels of `missing` under emulation in the target's build `image`; returns the tar
    /// of /fclayer/wheels.
    async fn build_wheels(
        &self,
        missing: &[String],
        image: &BuildImage,
        volume: &str,
    ) -> Result<Vec<u8>> {
        let plan = self.plan;
        let env = python::wheels_env(
            plan.runtime,
            plan.arch,
            missing,
            &crate::runtime::pyformats::reqs(plan.python.as_ref()),
        );
        let spec = self.spec(&image.tag, plan.platform, "python-wheels", &env, volume);
        let builder = self.engine.create_container(&spec).await?;
        builder.upload("/", self.inputs.to_vec()).await?;
        let step = self.console.step(
            "Building",
            format!("wheels under emulation in container {}", builder.short_id()),
        );
        let exit = builder
            .run(plan.timeout, self.console, &plan.secrets)
            .await?;
        if exit.code != 0 {
            drop(step);
            builder.remove().await?;
            return Err(Error::build(format!(
                "building {} for {} under emulation failed ({})",
                missing.join(", "),
                plan.platform,
                exit.describe()
            ))
            .with_details(tail_details(&exit.tail))
            .with_hint("the source distribution needs what the build image lacks, or the requirement does not exist"));
        }
        step.done("done");
        let wheels = builder.read_tree("/fclayer/wheels").await?;
        builder.remove().await?;
        Ok(wheels)
    }

    /// Node.js for the target from the engine's own platform. `None` when a package needs the
    /// target platform (then the caller installs Node.js under emulation); the reasons were said.
    async fn node(&self) -> Result<Option<Container>> {
        let plan = self.plan;
        let extra = node::fetch_env(plan.arch);
        let mut spec = self.spec(
            &self.fetch.tag,
            self.native_platform,
            "node-fetch",
            &extra,
            &self.native_volume,
        );
        // Its /opt is the layer's (see `RunSpec::hold`).
        spec.hold = true;
        let container = self.engine.create_container(&spec).await?;
        container.upload("/", self.inputs.to_vec()).await?;
        let step = self.console.step(
            "Fetching",
            format!(
                "Node.js packages for {} natively in container {}",
                plan.platform,
                container.short_id()
            ),
        );
        let exit = container.run_collect(plan.timeout, self.console).await?;
        match exit.code {
            0 => {
                step.done("no package needs the target platform");
                Ok(Some(container))
            }
            75 => {
                drop(step);
                container.remove().await?;
                let why: Vec<String> = exit
                    .lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("fclayer: needs the target platform: "))
                    .map(str::to_string)
                    .collect();
                self.console.note(format!(
                    "Node.js goes under emulation: {} (a node_modules tree installs as a whole)",
                    why.join("; ")
                ));
                Ok(None)
            }
            _ => {
                drop(step);
                container.remove().await?;
                Err(Error::build(format!(
                    "npm (for {} from {}) failed ({}) installing package.json",
                    plan.platform,
                    self.native_platform,
                    exit.describe()
                ))
                .with_details(tail_details(&exit.tail))
                .with_hint(
                    "check package.json; --emulate runs the whole install under emulation instead",
                ))
            }
        }
    }
}

/// The installer of the native round, for its step: "uv 0.13.9", "pip".
fn installer_name(installer: python::Installer) -> String {
    match installer {
        python::Installer::Uv => format!("uv {}", python::UV_VERSION),
        python::Installer::Pip => "pip".into(),
    }
}

/// The end of a successful native round: how many packages came from wheels, and which were
/// built under emulation.
fn fetched(count: usize, emulated: &BTreeSet<String>, arch: &str) -> String {
    let built = emulated.len();
    if built == 0 {
        return format!("{count} packages from wheels natively; none built under emulation");
    }
    format!(
        "{} packages from wheels natively; {built} built under emulation: {} (no {arch} wheel)",
        count.saturating_sub(built),
        emulated.iter().cloned().collect::<Vec<_>>().join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_says_what_was_built_under_emulation() {
        let none = BTreeSet::new();
        assert_eq!(
            fetched(5, &none, "aarch64"),
            "5 packages from wheels natively; none built under emulation"
        );
        let built: BTreeSet<String> = ["fclayer-cext==1.0".to_string()].into();
        assert_eq!(
            fetched(5, &built, "aarch64"),
            "4 packages from wheels natively; 1 built under emulation: fclayer-cext==1.0 (no aarch64 wheel)"
        );
    }
}
