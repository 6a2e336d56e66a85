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

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::image::BuildImage;
use crate::docker::run::{Container, RunSpec, tail_details};
use crate::error::{Error, Result};
use crate::native::Arch;
use crate::plan::BuildPlan;
use crate::runtime::python;

/// Wheels built under emulation, at most this many rounds (each round handles the requirements pip
/// newly reported without a wheel, e.g. a dependency of a source-only package).
const MAX_ROUNDS: usize = 4;

/// pip platform tags a runtime of `glibc` on `arch` accepts, newest first.
pub fn pip_platforms(arch: Arch, glibc: (u32, u32)) -> Vec<String> {
    let machine = arch.name();
    let mut tags: Vec<String> = (17..=glibc.1)
        .rev()
        .map(|minor| format!("manylinux_2_{minor}_{machine}"))
        .collect();
    tags.push(format!("manylinux2014_{machine}"));
    if arch == Arch::X86_64 {
        // manylinux2010 and manylinux1 are glibc 2.12 and 2.5, x86 only.
        tags.push("manylinux2010_x86_64".into());
        tags.push("manylinux1_x86_64".into());
    }
    // What `pip wheel` tags a wheel it builds: only fclayer's own, built on the runtime's image
    // under emulation, carry it (an index may not serve such wheels).
    tags.push(format!("linux_{machine}"));
    tags
}

/// npm's name for a machine.
pub fn npm_cpu(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x64",
        Arch::Aarch64 => "arm64",
    }
}

/// The requirement specs pip reported it has no matching distribution for.
pub fn missing_specs(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.split_once("No matching distribution found for ")
                .map(|(_, s)| s)
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    out.dedup();
    out
}

/// What ran where, for the user and the report.
#[derive(Debug, Default)]
pub struct Paths {
    pub native: Vec<String>,
    pub emulated: Vec<String>,
}

/// Containers and knowledge shared by the cross-platform steps.
pub struct Cross<'a> {
    pub plan: &'a BuildPlan,
    pub engine: &'a Engine,
    pub console: &'a Console,
    pub fetch: &'a BuildImage,
    pub native_platform: &'a str,
    pub inputs: &'a [u8],
    pub env: &'a [(String, String)],
    pub native_volume: String,
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
    /// none are built under emulation in `target_image()`. Returns the container holding
    /// /opt/python.
    pub async fn python<F, Fut>(&self, mut target_image: F) -> Result<Container>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(BuildImage, String)>>,
    {
        let plan = self.plan;
        let rt = plan.runtime;
        let pyver = rt.python.map_or("3", |l| l.version);
        let extra = vec![
            (
                "FCLAYER_TARGET_PLATFORMS".to_string(),
                pip_platforms(plan.arch, rt.debian.glibc()).join(" "),
            ),
            ("FCLAYER_PYVER".to_string(), pyver.to_string()),
            (
                "FCLAYER_REQUIREMENTS".to_string(),
                "requirements.txt".to_string(),
            ),
        ];
        let mut emulated: BTreeSet<String> = BTreeSet::new();
        let mut wheels: Option<Vec<u8>> = None;
        for _round in 0..MAX_ROUNDS {
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
            if let Some(w) = &wheels {
                container.upload("/fclayer", w.clone()).await?;
            }
            let step = self.console.step(
                "Fetching",
                format!(
                    "wheels for {} natively in container {} ({} for CPython {pyver})",
                    plan.platform,
                    container.short_id(),
                    self.native_platform
                ),
            );
            let exit = container.run_collect(plan.timeout, self.console).await?;
            if exit.code == 0 {
                let count = exit
                    .lines
                    .iter()
                    .rev()
                    .find_map(|l| {
                        l.strip_prefix("fclayer: installed ")
                            .and_then(|r| r.split_whitespace().next())
                            .and_then(|n| n.parse::<usize>().ok())
                    })
                    .unwrap_or(0);
                let built = emulated.len();
                step.done(if built == 0 {
                    format!("{count} packages from wheels natively; none built under emulation")
                } else {
                    format!(
                        "{} packages from wheels natively; {built} built under emulation: {} (no {} wheel)",
                        count.saturating_sub(built),
                        emulated.iter().cloned().collect::<Vec<_>>().join(", "),
                        plan.arch.name()
                    )
                });
                if exit.lines.iter().any(|l| l.contains("byte-code: deferred")) {
                    return self.bytecode_emulated(container, target_image).await;
                }
                return Ok(container);
            }
            drop(step);
            container.remove().await?;
            let missing: Vec<String> = missing_specs(&exit.lines)
                .into_iter()
                .filter(|s| !emulated.contains(s))
                .collect();
            if missing.is_empty() {
                return Err(Error::build(format!(
                    "pip (for {} from {}) failed ({}) installing requirements.txt",
                    plan.platform,
                    self.native_platform,
                    exit.describe()
                ))
                .with_details(tail_details(&exit.tail))
                .with_hint("check requirements.txt; --emulate runs the whole install under emulation instead"));
            }
            self.console.note(format!(
                "no {} wheel for {}: building under emulation",
                plan.arch.name(),
                missing.join(", ")
            ));
            let (image, volume) = target_image().await?;
            let mut env = vec![
                ("FCLAYER_WHEELS".to_string(), missing.join(" ")),
                ("FCLAYER_PYTHON".to_string(), python::interpreter(rt)),
                (
                    "FCLAYER_REQUIREMENTS".to_string(),
                    "requirements.txt".to_string(),
                ),
            ];
            let (g1, g2) = rt.debian.glibc();
            env.push(("FCLAYER_GLIBC".to_string(), format!("{g1}.{g2}")));
            let spec = self.spec(&image.tag, plan.platform, "python-wheels", &env, &volume);
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
            wheels = Some(builder.read_tree("/fclayer/wheels").await?);
            builder.remove().await?;
            emulated.extend(missing);
        }
        Err(Error::build(format!(
            "requirements kept needing source builds after {MAX_ROUNDS} rounds: {}",
            emulated.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .with_hint("use --emulate to install everything under emulation"))
    }

    /// Node.js for the target from the engine's own platform. `None` when a package needs the
    /// target platform (then the caller installs Node.js under emulation); the reasons were said.
    pub async fn node(&self) -> Result<Option<Container>> {
        let plan = self.plan;
        let extra = vec![(
            "FCLAYER_NPM_CPU".to_string(),
            npm_cpu(plan.arch).to_string(),
        )];
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
                "npm packages for {} natively in container {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_tags_stop_at_the_runtime_glibc() {
        let tags = pip_platforms(Arch::Aarch64, (2, 28));
        assert_eq!(tags.first().unwrap(), "manylinux_2_28_aarch64");
        assert!(tags.contains(&"manylinux_2_17_aarch64".to_string()));
        assert!(tags.contains(&"manylinux2014_aarch64".to_string()));
        assert!(!tags.iter().any(|t| t.contains("2_29")));
        assert!(!tags.iter().any(|t| t.contains("x86_64")));
        let x86 = pip_platforms(Arch::X86_64, (2, 24));
        assert!(x86.contains(&"manylinux1_x86_64".to_string()));
        assert_eq!(x86.first().unwrap(), "manylinux_2_24_x86_64");
    }

    #[test]
    fn missing_specs_come_from_pips_error() {
        let lines = vec![
            "ERROR: Could not find a version that satisfies the requirement fclayer-cext==1.0 (from versions: none)".to_string(),
            "ERROR: No matching distribution found for fclayer-cext==1.0".to_string(),
        ];
        assert_eq!(missing_specs(&lines), vec!["fclayer-cext==1.0"]);
        assert!(missing_specs(&["all good".to_string()]).is_empty());
    }
}
