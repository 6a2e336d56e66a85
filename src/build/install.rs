//! Step 4 of an installer build: create a labelled container of the build image for the target
//! platform, upload the inputs (project files, installer scripts, CA bundle) through the archive
//! API and run the installers in order (images/install/entry.sh). On failure the error names the
//! installer that failed, its exit code and the end of its log. A cross-platform build goes
//! through `cross` instead, which comes back here for what needs the target.

use super::inputs::INPUT_ROOT;
use crate::console::Console;
use crate::docker::Engine;
use crate::docker::image::BuildImage;
use crate::docker::platform::Execution;
use crate::docker::run::{Container, Exit, RunSpec, tail_details};
use crate::docker::volume;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::plan::BuildPlan;
use crate::runtime::{Kind, apt, java, node, php, python};

/// What the installers report: apt's installed versions into the manifest; what --slim removed
/// and what the Node.js install removed or needs (shown).
pub(super) async fn read_reports(
    containers: &[Container],
    manifest: &mut Manifest,
    console: &Console,
) -> Result<()> {
    for container in containers {
        if let Some(report) = container.read_file("/fclayer/report/apt.txt").await? {
            let versions = manifest::parse_versions(&String::from_utf8_lossy(&report));
            manifest.packages.insert("apt".into(), versions);
        }
        if let Some(report) = container.read_file("/fclayer/report/node.txt").await? {
            node::report(&String::from_utf8_lossy(&report), console);
        }
        crate::slim::report_container(container, manifest, console).await?;
    }
    Ok(())
}

/// Create the container, upload the inputs, run the installers `kinds`.
pub(super) async fn install(
    plan: &BuildPlan,
    kinds: &[Kind],
    inputs: Vec<u8>,
    image: &BuildImage,
    engine: &Engine,
    console: &Console,
) -> Result<Container> {
    let rt = plan.runtime;
    let execution = engine
        .probe_platform(plan.platform, &image.tag, console)
        .await?;
    let env = installer_env(plan, kinds);
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
        opt_on_disk: false,
    };
    let installers: Vec<String> = kinds.iter().map(|k| describe(*k, plan)).collect();
    let (container, exit) = run_once_more_on_qemu_faults(
        plan,
        &spec,
        &inputs,
        &installers.join(", "),
        execution,
        engine,
        console,
    )
    .await?;
    if exit.code != 0 {
        container.remove().await?;
        return Err(failure(&exit, kinds, plan));
    }
    Ok(container)
}

/// Run the installer container; a crash that `retry_under_emulation` blames on QEMU gets one
/// more container. Returns the last container and how it exited.
async fn run_once_more_on_qemu_faults(
    plan: &BuildPlan,
    spec: &RunSpec,
    inputs: &[u8],
    installers: &str,
    execution: Execution,
    engine: &Engine,
    console: &Console,
) -> Result<(Container, Exit)> {
    let mut attempt = 0;
    let mut spec = spec.clone();
    loop {
        attempt += 1;
        let container = engine.create_container(&spec).await?;
        container.upload("/", inputs.to_vec()).await?;
        let step = console.step(
            "Installing",
            format!("with {installers} in container {}", container.short_id()),
        );
        let exit = container.run(plan.timeout, console, &plan.secrets).await?;
        if exit.code == 0 {
            step.done("done");
            return Ok((container, exit));
        }
        drop(step);
        if container.opt_in_memory() && outgrew_memory(&exit) {
            console.warn(format!(
                "the layer outgrew the memory-backed /opt ({}); running the installer once more with /opt on the container's disk (FCLAYER_OPT_ON_DISK=1 goes there at once)",
                crate::layer::human_bytes(engine.opt_memory().await.unwrap_or(0))
            ));
            container.remove().await?;
            spec.opt_on_disk = true;
            continue;
        }
        if retry_under_emulation(exit.code, execution, attempt) {
            console.warn(format!(
                "the installer was {} under emulation, a known QEMU fault; running it once more",
                exit.describe()
            ));
            container.remove().await?;
            continue;
        }
        return Ok((container, exit));
    }
}

/// An installer that failed because its memory-backed /opt was full (ENOSPC), or whose
/// container the OOM killer ended: on disk it may fit.
pub(super) fn outgrew_memory(exit: &Exit) -> bool {
    exit.oom
        || exit
            .tail
            .iter()
            .any(|l| l.contains("No space left on device") || l.contains("ENOSPC"))
}

/// QEMU sometimes crashes an emulated process with SIGSEGV or SIGILL where the same program runs
/// fine natively (buildx #1170, esbuild #3153): such a crash gets one more try, said aloud.
fn retry_under_emulation(code: i64, execution: Execution, attempt: u32) -> bool {
    matches!(code, 132 | 139) && execution == Execution::Emulated && attempt == 1
}

/// The error of a failed installer container: which installer, why, what to do.
fn failure(exit: &Exit, kinds: &[Kind], plan: &BuildPlan) -> Error {
    // The scripts announce each installer as it starts; the last announced one failed.
    let failed = exit
        .tail
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("fclayer: running "))
        .and_then(|name| Kind::parse(name.trim()))
        .or(kinds.last().copied())
        .unwrap_or(Kind::Apt);
    let py = plan.python.as_ref();
    if failed == Kind::Python
        && let Some(e) = hash_failure(exit, plan)
    {
        return e;
    }
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
            installer_hint(failed, plan),
        )
    };
    // pip and uv name the requirement they could not install in different words; the message
    // names it either way.
    let specs = match failed {
        Kind::Python => python::failed_specs(&exit.tail),
        _ => Vec::new(),
    };
    let on = if specs.is_empty() {
        String::new()
    } else {
        format!(
            " (no usable distribution or build for {})",
            specs.join(", ")
        )
    };
    let source = match (failed, py) {
        (Kind::Python, Some(py)) => py.file.clone(),
        _ => source_of(failed).to_string(),
    };
    Error::build(format!(
        "{} {what} installing {source}{on}",
        describe(failed, plan)
    ))
    .with_details(tail_details(&exit.tail))
    .with_hint(hint)
}

/// pip refused a file whose hash is not the lock's: say which package, and that the lock's hash
/// does not match what the index serves.
pub(super) fn hash_failure(exit: &Exit, plan: &BuildPlan) -> Option<Error> {
    let py = plan.python.as_ref();
    let bad = python::hash_mismatches(&exit.lines);
    let bad = if bad.is_empty() {
        python::hash_mismatches(&exit.tail)
    } else {
        bad
    };
    if bad.is_empty() {
        return None;
    }
    let file = py.map_or("requirements.txt", |p| p.file.as_str());
    let tool = py.map_or("", |p| p.format.tool());
    let redo = if tool.is_empty() {
        String::new()
    } else {
        format!(" (`{tool}`)")
    };
    Some(
        Error::build(format!(
            "{}: the hash {file} gives for {} does not match the file the package index served",
            describe(Kind::Python, plan),
            bad.join(", ")
        ))
        .with_details(tail_details(&exit.tail))
        .with_hint(format!(
            "nothing was installed. If {file} was edited by hand, write it again with its tool{redo}; otherwise the file on the index (or a proxy between) differs from the one locked: find out why before trusting it"
        )),
    )
}

/// The environment of an installer container: each installer's settings, the target machine,
/// the host's proxies and index URLs, the CA bundle, and where the download caches are.
pub(super) fn installer_env(plan: &BuildPlan, kinds: &[Kind]) -> Vec<(String, String)> {
    let rt = plan.runtime;
    let mut env: Vec<(String, String)> = Vec::new();
    for kind in kinds {
        env.extend(match kind {
            Kind::Apt => apt::installer_env(rt, plan.mode.apt()),
            Kind::Python => python::installer_env(
                rt,
                plan.arch,
                plan.python_installer,
                &crate::runtime::pyformats::reqs(plan.python.as_ref()),
            ),
            Kind::Node => node::installer_env(rt, &plan.project, plan.node.as_deref()),
            Kind::Java => java::installer_env(rt),
            Kind::Php => php::installer_env(rt),
        });
    }
    env.push(("FCLAYER_ARCH".into(), plan.arch.name().into()));
    // A lock's index logins: entry.sh writes them to a netrc file outside /opt for pip and uv.
    if let Some(py) = plan.python.as_ref() {
        if let Some(netrc) = &py.netrc {
            env.push(("FCLAYER_NETRC".into(), netrc.clone()));
        }
        if !py.trusted_hosts.is_empty() {
            env.push(("FCLAYER_TRUSTED_HOSTS".into(), py.trusted_hosts.join(" ")));
        }
    }
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
        ("UV_CACHE_DIR", "uv"),
        ("npm_config_cache", "npm"),
        ("COMPOSER_CACHE_DIR", "composer"),
        ("FCLAYER_M2", "m2"),
    ] {
        env.push((name.into(), format!("{}/{dir}", volume::MOUNT)));
    }
    // One value per name: sorted by name, then value, and dedup keeps the first, so where two
    // sources set one name the value that sorts first wins. That is a tie-break, not a policy:
    // no two sources set one name with different values today (the installers' settings are
    // FCLAYER_*, the host's are proxies, index URLs and npm tokens).
    env.sort();
    env.dedup_by(|a, b| a.0 == b.0);
    env
}

/// An installer for messages: "uv 0.13.9 (python3.9)", "apt (Debian 9 (stretch))", "pnpm
/// 9.15.9 (Node.js 18)" (the project tells which Node.js package manager).
pub(super) fn describe(kind: Kind, plan: &BuildPlan) -> String {
    let rt = plan.runtime;
    match kind {
        Kind::Apt => apt::describe(rt),
        Kind::Python => python::describe(rt, plan.python_installer),
        Kind::Node => node::describe(rt, &plan.project, plan.node.as_deref()),
        Kind::Java => java::describe(rt),
        Kind::Php => php::describe(rt),
    }
}

/// What an installer installs from, for messages.
pub(super) fn source_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Apt => apt::SOURCE,
        other => other.project_file(),
    }
}

/// What to do when an installer failed.
fn installer_hint(kind: Kind, plan: &BuildPlan) -> String {
    let rt = plan.runtime;
    match kind {
        Kind::Apt => apt::installer_hint(rt),
        Kind::Python => python::installer_hint(rt, plan.python_installer),
        Kind::Node => node::installer_hint(rt, &plan.project),
        Kind::Java => java::installer_hint(),
        Kind::Php => php::installer_hint(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::plan_for;

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

    fn exit(code: i64, oom: bool, tail: &[&str]) -> Exit {
        Exit {
            code,
            oom,
            tail: tail.iter().map(|s| s.to_string()).collect(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn the_last_announced_installer_is_the_one_that_failed() {
        let plan = plan_for(&["--runtime", "python3.9", "--installer", "pip"], &[]);
        let kinds = [Kind::Apt, Kind::Python];
        let e = failure(
            &exit(1, false, &["fclayer: running apt", "E: no"]),
            &kinds,
            &plan,
        );
        assert!(e.message.starts_with("apt (Debian 9"), "{}", e.message);
        assert!(e.message.ends_with("installing the apt packages"));
        let e = failure(&exit(1, false, &["nothing announced"]), &kinds, &plan);
        assert!(
            e.message.starts_with("pip (python3.9) failed"),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("requirements.txt"));
        let e = failure(&exit(137, true, &[]), &kinds, &plan);
        assert!(e.message.contains("ran out of memory"), "{}", e.message);
        let e = failure(&exit(143, false, &[]), &kinds, &plan);
        assert!(e.message.contains("was stopped"), "{}", e.message);
    }

    #[test]
    fn the_installer_env_is_sorted_by_name_once_each() {
        let plan = plan_for(&["--runtime", "python3.9", "--apt", "libxml2"], &[]);
        let env = installer_env(&plan, plan.mode.kinds());
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(env.contains(&("FCLAYER_APT".into(), "libxml2".into())));
        assert!(env.contains(&("FCLAYER_ARCH".into(), "x86_64".into())));
        assert!(!names.contains(&"SSL_CERT_FILE"), "no CA given");
        assert!(env.contains(&("FCLAYER_INSTALLER".into(), "uv".into())));
        assert!(env.contains(&("UV_CACHE_DIR".into(), format!("{}/uv", volume::MOUNT))));
    }

    #[test]
    fn a_failed_uv_install_names_the_requirement() {
        let plan = plan_for(&["--runtime", "python3.9"], &[]);
        let tail = [
            "fclayer: running python",
            "  ╰─▶ Because fclayer-nope was not found in the package registry and you require fclayer-nope==1.0, we can conclude that your requirements are unsatisfiable.",
        ];
        let e = failure(&exit(1, false, &tail), &[Kind::Python], &plan);
        assert!(
            e.message
                .starts_with(&format!("uv {} (python3.9) failed", python::UV_VERSION)),
            "{}",
            e.message
        );
        assert!(e.message.contains("for fclayer-nope)"), "{}", e.message);
        assert!(e.hint.unwrap().contains("--installer pip"));
    }
}
