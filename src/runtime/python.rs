//! Python layers: uv (or pip) installs requirements.txt into `/opt/python` with the runtime's own
//! interpreter version, capped at the runtime's glibc (images/install/python.sh). A lock or
//! pyproject.toml is first converted into a requirements file by `pyformats`.
//!
//! uv is the default where it works: it installs the same set several times faster than pip. pip
//! stays for python3.6 (uv is not proven there) and for `--installer pip`. The glibc cap is exact
//! with both: pip asks fclayer's PEP 600 hook, uv is told the newest manylinux tag the runtime can
//! load (`uv_platform`).

use std::path::Path;

use super::project_text::read_text;
use super::{Arch, Language, ReadEntry, Runtime};
use crate::error::{Error, Result};

pub static LANGUAGE: Language = Language {
    name: "python",
    installer: "pip",
    // requirements.txt first, as messages name it; which one a build reads, when a folder holds
    // several, is `pyformats::ORDER`'s choice. pyproject.toml alone is not here: many projects
    // of other languages keep one for their tools, so it counts only when it declares
    // dependencies (`pyformats::declares_dependencies`, asked by the plan).
    project_files: &[
        "requirements.txt",
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pylock.toml",
    ],
    layer_dirs: &["python"],
    search_path: "python/",
    default_runtime: "python3.10",
    runs_on: |rt| rt.python.is_some(),
    check: check_requirements,
    versions,
};

/// Check requirements.txt line by line, so a typo is reported with its line before any container
/// starts. Lenient: pip's own options, paths and URLs pass; only what cannot be a requirement fails.
pub fn check_requirements(path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = i + 1;
        }
        // Comments start at a # preceded by whitespace (pip's rule).
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(line);
        let entry = logical.trim().to_string();
        logical.clear();
        if entry.is_empty() || entry.starts_with('-') || looks_like_path_or_url(&entry) {
            continue;
        }
        if let Err(why) = check_requirement(&entry) {
            return Err(Error::input(format!(
                "{}:{start_line}: `{entry}` is not a valid requirement: {why}",
                path.display()
            ))
            .with_hint(
                "write one requirement per line, e.g. `numpy>=1.21` or `requests[socks]==2.32.3`",
            ));
        }
    }
    Ok(())
}

fn looks_like_path_or_url(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.contains("://")
        || s.ends_with(".whl")
        || s.ends_with(".tar.gz")
        || s.ends_with(".zip")
}

/// A PEP 508 requirement, checked loosely: a name, optional [extras], then specifiers, a URL
/// (`@ ...`) or markers (`; ...`).
fn check_requirement(s: &str) -> std::result::Result<(), String> {
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("expected a package name first".into());
    }
    let mut rest = s[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("`[` of the extras is never closed")?;
        rest = after[close + 1..].trim_start();
    }
    let (spec, _markers) = rest.split_once(';').unwrap_or((rest, ""));
    let spec = spec.trim();
    if spec.is_empty() || spec.starts_with('@') {
        return Ok(());
    }
    let spec = spec.trim_start_matches('(').trim_end_matches(')');
    for clause in spec.split(',') {
        let clause = clause.trim();
        let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| {
                format!("expected a version operator (==, >=, ~=, ...) before `{clause}`")
            })?;
        let version = clause[op_len..].trim();
        if version.is_empty() {
            return Err(format!("`{clause}` has no version after its operator"));
        }
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_'))
        {
            return Err(format!("`{version}` is not a version"));
        }
    }
    Ok(())
}

/// Installed distributions, from the name alone: `python/NAME-VERSION.dist-info/METADATA`,
/// the folder named NAME-VERSION with '-' in names escaped to '_' (the wheel format's rule).
pub fn versions(name: &str, _read: ReadEntry<'_>) -> Vec<(String, String)> {
    name.strip_prefix("python/")
        .and_then(|r| r.strip_suffix(".dist-info/METADATA"))
        .filter(|d| !d.contains('/'))
        .and_then(|d| d.rsplit_once('-'))
        .map(|(pkg, ver)| (pkg.to_lowercase(), ver.to_string()))
        .into_iter()
        .collect()
}

/// uv, pinned: common/setup-uv.sh puts this version into every Python build image.
pub const UV_VERSION: &str = "0.13.9";

/// The program that installs a Python layer's requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    Pip,
    Uv,
}

impl Installer {
    pub fn name(self) -> &'static str {
        match self {
            Installer::Pip => "pip",
            Installer::Uv => "uv",
        }
    }
}

/// The installer a runtime's build uses: the one asked for, else uv where fclayer has proven it
/// (every Python from 3.7; FC's python3.6 image is not available to test, so it keeps pip).
pub fn installer(runtime: &Runtime, asked: Option<Installer>) -> Installer {
    asked.unwrap_or(if version(runtime) == "3.6" {
        Installer::Pip
    } else {
        Installer::Uv
    })
}

/// uv's `--python-platform` for a runtime: the newest manylinux uv knows that the runtime's glibc
/// can load. uv has manylinux_2_17 and 2_28 to 2_40, nothing between: Debian 9 (glibc 2.24) gets
/// 2_17, so wheels tagged only 2_18..2_24 are built from source (or refused with --only-binary).
pub fn uv_platform(arch: Arch, glibc: (u32, u32)) -> String {
    let minor = match glibc.1 {
        m if m >= 40 => 40,
        m if m >= 28 => m,
        _ => 17,
    };
    format!("{}-manylinux_2_{minor}", arch.name())
}

/// The interpreter command for a runtime, e.g. `python3.9`.
pub fn interpreter(runtime: &Runtime) -> String {
    format!("python{}", runtime.python.map_or("3", |l| l.version))
}

/// The installer for messages and the manifest: "uv 0.13.9 (python3.9)", "pip (python3.6)".
pub fn describe(runtime: &Runtime, installer: Installer) -> String {
    match installer {
        Installer::Uv => format!("uv {UV_VERSION} ({})", interpreter(runtime)),
        Installer::Pip => format!("pip ({})", interpreter(runtime)),
    }
}

/// What the Python installer reads: the requirements file (relative to the project, or the one
/// fclayer generated from a lock) and whether it is complete, pinned and hashed.
#[derive(Debug, Clone)]
pub struct Reqs {
    pub path: String,
    pub locked: bool,
}

impl Reqs {
    /// A plain requirements.txt, as before any lock.
    pub fn plain() -> Reqs {
        Reqs {
            path: "requirements.txt".into(),
            locked: false,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("FCLAYER_REQUIREMENTS".into(), self.path.clone())];
        if self.locked {
            // Complete, pinned and hashed: `--no-deps --require-hashes` (python.sh).
            env.push(("FCLAYER_LOCKED".into(), "1".into()));
        }
        env
    }
}

/// The packages pip or uv refused because their file's hash is not the one the requirements file
/// (a lock) gives: the `NAME==VERSION from URL:` lines after pip's "DO NOT MATCH THE HASHES".
/// uv says it per package: "cause: Hash mismatch for `NAME==VERSION`".
pub fn hash_mismatches(lines: &[String]) -> Vec<String> {
    let uv: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split_once("Hash mismatch for `"))
        .filter_map(|(_, rest)| rest.split_once('`'))
        .map(|(spec, _)| spec.to_string())
        .collect();
    if !uv.is_empty() {
        return uv;
    }
    let Some(at) = lines
        .iter()
        .position(|l| l.contains("DO NOT MATCH THE HASHES"))
    else {
        return Vec::new();
    };
    lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.contains("==") && l.ends_with(':'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Environment for images/install/python.sh.
/// (The target machine, FCLAYER_ARCH, is set for every installer by the build.)
pub fn installer_env(
    runtime: &Runtime,
    arch: Arch,
    installer: Installer,
    reqs: &Reqs,
) -> Vec<(String, String)> {
    let (major, minor) = runtime.debian.glibc();
    let mut env = vec![
        ("FCLAYER_PYTHON".into(), interpreter(runtime)),
        ("FCLAYER_GLIBC".into(), format!("{major}.{minor}")),
        ("FCLAYER_INSTALLER".into(), installer.name().into()),
        (
            "FCLAYER_UV_PLATFORM".into(),
            uv_platform(arch, (major, minor)),
        ),
    ];
    env.extend(reqs.env());
    env
}

// Added by the build/verify restructuring (issue 12): failure hints, cross-platform fetch and
// verify's module discovery.

/// What to do when the installer failed.
pub fn installer_hint(runtime: &Runtime, installer: Installer) -> String {
    let (g1, g2) = runtime.debian.glibc();
    let other = match installer {
        Installer::Uv => "; `--installer pip` tries pip instead",
        Installer::Pip => "",
    };
    format!(
        "check the names and versions in requirements.txt: each must exist on the package index for {} on {} (glibc {g1}.{g2}); run with --verbose to see all of {}'s output{other}",
        interpreter(runtime),
        runtime.arch(),
        installer.name()
    )
}

/// The Python version a runtime's functions run with, e.g. `3.9` ("3" where it has none).
pub fn version(runtime: &Runtime) -> &'static str {
    runtime.python.map_or("3", |l| l.version)
}

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

/// Environment for the native run of a cross-platform build (images/install/python-fetch.sh):
/// the target's platform tags (pip's list, uv's one), Python version and requirements.
pub fn fetch_env(
    runtime: &Runtime,
    arch: Arch,
    installer: Installer,
    reqs: &Reqs,
) -> Vec<(String, String)> {
    let glibc = runtime.debian.glibc();
    let mut env = vec![
        (
            "FCLAYER_TARGET_PLATFORMS".into(),
            pip_platforms(arch, glibc).join(" "),
        ),
        ("FCLAYER_UV_PLATFORM".into(), uv_platform(arch, glibc)),
        ("FCLAYER_INSTALLER".into(), installer.name().into()),
        ("FCLAYER_PYVER".into(), version(runtime).into()),
    ];
    env.extend(reqs.env());
    env
}

/// Environment for building wheels of `missing` under emulation
/// (images/install/python-wheels.sh, always pip): the installer's own, plus the requirements.
pub fn wheels_env(
    runtime: &Runtime,
    arch: Arch,
    missing: &[String],
    reqs: &Reqs,
) -> Vec<(String, String)> {
    let mut env = vec![("FCLAYER_WHEELS".into(), missing.join(" "))];
    env.extend(installer_env(runtime, arch, Installer::Pip, reqs));
    env
}

/// How many packages the native pip run installed (its last `fclayer: installed N` line).
pub fn installed_count(lines: &[String]) -> usize {
    lines
        .iter()
        .rev()
        .find_map(|l| {
            l.strip_prefix("fclayer: installed ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(0)
}

/// The requirements the installer found no usable wheel for, which a cross-platform build can
/// build under emulation. pip says "No matching distribution found for SPEC" (also for a name
/// that does not exist at all); uv explains its resolution: "Because SPEC has no usable wheels"
/// or "SPEC has no wheels with a matching platform tag".
pub fn missing_specs(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        if let Some((_, s)) = line.split_once("No matching distribution found for ") {
            push_spec(&mut out, s);
        }
        for (at, _) in line.match_indices(" has no ") {
            let after = &line[at + " has no ".len()..];
            if after.starts_with("usable wheels") || after.starts_with("wheels with") {
                push_spec(&mut out, last_word(&line[..at]));
            }
        }
    }
    out
}

/// The requirements an install failed on, for the error message: those with no usable
/// distribution (`missing_specs`), those uv found nowhere ("Because NAME was not found in the
/// package registry") and those that failed to build ("Failed to build `SPEC`", pip's "Failed
/// building wheel for NAME").
pub fn failed_specs(lines: &[String]) -> Vec<String> {
    let mut out = missing_specs(lines);
    for line in lines {
        for (at, _) in line.match_indices(" was not found in the") {
            push_spec(&mut out, last_word(&line[..at]));
        }
        if let Some((_, rest)) = line.split_once("Failed to build `") {
            push_spec(&mut out, rest.split('`').next().unwrap_or(""));
        }
        if let Some((_, rest)) = line.split_once("Failed building wheel for ") {
            push_spec(&mut out, rest);
        }
    }
    out
}

fn last_word(s: &str) -> &str {
    s.rsplit(' ').next().unwrap_or("")
}

fn push_spec(out: &mut Vec<String>, spec: &str) {
    let spec = spec.trim().trim_matches(['`', ',', '.']).trim();
    if !spec.is_empty() && !out.iter().any(|s| s == spec) {
        out.push(spec.to_string());
    }
}

/// The module `import` finds at a path below `python/` of a layer: `numpy/__init__.py` →
/// numpy; `six.py` → six; `_cffi_backend.cpython-39-x86_64-linux-gnu.so` → _cffi_backend.
/// Metadata, scripts and bundled-library folders are not modules.
pub fn module_name(rest: &str) -> Option<String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    match rest.split_once('/') {
        Some((pkg, "__init__.py")) if ident(pkg) => Some(pkg.to_string()),
        None => {
            let stem = rest.strip_suffix(".py").or_else(|| {
                rest.strip_suffix(".so")
                    .map(|s| s.split('.').next().unwrap_or(s))
            })?;
            (ident(stem) && stem != "__init__").then(|| stem.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requirements.txt");
        std::fs::write(&p, text).unwrap();
        check_requirements(&p)
    }

    #[test]
    fn good_requirements_pass() {
        check("numpy\nlxml>=4 # parser\nrequests[socks]==2.32.3\n\n-r other.txt\n--index-url https://x/simple\nfoo @ https://x/foo.whl\nbar; python_version<'3.10'\n./local-pkg\nbaz==1.*\n").unwrap();
    }

    #[test]
    fn bad_requirements_name_file_and_line() {
        let e = check("numpy\nlxml>>4\n").unwrap_err();
        assert!(e.message.contains("requirements.txt:2:"), "{}", e.message);
        assert!(e.message.contains("lxml>>4"));
        let e = check("numpy==\n").unwrap_err();
        assert!(
            e.message.contains(":1:") && e.message.contains("no version"),
            "{}",
            e.message
        );
        let e = check("requests[socks\n").unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn versions_come_from_dist_info_folder_names() {
        let mut unread = || -> Option<Vec<u8>> { panic!("the name alone tells") };
        assert_eq!(
            versions(
                "python/charset_normalizer-3.4.0.dist-info/METADATA",
                &mut unread
            ),
            vec![("charset_normalizer".to_string(), "3.4.0".to_string())]
        );
        assert_eq!(
            versions("python/PyYAML-6.0.2.dist-info/METADATA", &mut unread),
            vec![("pyyaml".to_string(), "6.0.2".to_string())]
        );
        assert!(versions("python/x/y-1.dist-info/METADATA", &mut unread).is_empty());
        assert!(versions("python/numpy-2.0.2.dist-info/RECORD", &mut unread).is_empty());
    }

    #[test]
    fn python39_caps_wheels_at_debian9_glibc() {
        let rt = Runtime::find("python3.9").unwrap();
        let env = installer_env(rt, Arch::X86_64, Installer::Uv, &Reqs::plain());
        assert!(env.contains(&("FCLAYER_PYTHON".into(), "python3.9".into())));
        assert!(env.contains(&("FCLAYER_GLIBC".into(), "2.24".into())));
        // uv has no manylinux_2_24: Debian 9 gets 2_17, never 2_28.
        assert!(env.contains(&("FCLAYER_UV_PLATFORM".into(), "x86_64-manylinux_2_17".into())));
        let rt = Runtime::find("custom.debian12").unwrap();
        assert_eq!(interpreter(rt), "python3.11");
    }
}

#[cfg(test)]
mod fetch_tests {
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

    #[test]
    fn missing_and_failed_specs_come_from_uvs_error() {
        let lines: Vec<String> = [
            "  × No solution found when resolving dependencies:",
            "  ╰─▶ Because fclayer-cext==1.0 has no usable wheels and you require fclayer-cext==1.0, we can conclude that your requirements are unsatisfiable.",
            "      Because only cryptography<=46 is available and cryptography==46.0.1 has no wheels with a matching platform tag (e.g., `manylinux_2_17_x86_64`), we can conclude",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            missing_specs(&lines),
            vec!["fclayer-cext==1.0", "cryptography==46.0.1"]
        );
        let lines: Vec<String> = [
            "  ╰─▶ Because fclayer-no-such-package-4f9a1c was not found in the package registry and you require fclayer-no-such-package-4f9a1c==1.0, we can conclude that your requirements are unsatisfiable.",
            "  × Failed to build `badpkg==0.1`",
        ]
        .map(String::from)
        .to_vec();
        assert!(missing_specs(&lines).is_empty(), "not buildable elsewhere");
        assert_eq!(
            failed_specs(&lines),
            vec!["fclayer-no-such-package-4f9a1c", "badpkg==0.1"]
        );
    }

    #[test]
    fn uv_platforms_never_exceed_the_runtime_glibc() {
        assert_eq!(uv_platform(Arch::X86_64, (2, 24)), "x86_64-manylinux_2_17");
        assert_eq!(uv_platform(Arch::X86_64, (2, 28)), "x86_64-manylinux_2_28");
        assert_eq!(uv_platform(Arch::X86_64, (2, 31)), "x86_64-manylinux_2_31");
        assert_eq!(
            uv_platform(Arch::Aarch64, (2, 36)),
            "aarch64-manylinux_2_36"
        );
        assert_eq!(uv_platform(Arch::X86_64, (2, 41)), "x86_64-manylinux_2_40");
    }

    #[test]
    fn uv_is_the_default_except_for_python36() {
        let py39 = Runtime::find("python3.9").unwrap();
        let py36 = Runtime::find("python3.6").unwrap();
        assert_eq!(installer(py39, None), Installer::Uv);
        assert_eq!(installer(py36, None), Installer::Pip);
        assert_eq!(installer(py39, Some(Installer::Pip)), Installer::Pip);
        assert_eq!(
            describe(py39, Installer::Uv),
            format!("uv {UV_VERSION} (python3.9)")
        );
        assert_eq!(describe(py36, Installer::Pip), "pip (python3.6)");
    }

    #[test]
    fn the_image_script_pins_the_same_uv() {
        let script = crate::images::IMAGES
            .get_file("common/setup-uv.sh")
            .and_then(|f| f.contents_utf8())
            .unwrap();
        assert!(
            script.contains(&format!("\nversion={UV_VERSION}\n")),
            "setup-uv.sh pins another uv than UV_VERSION"
        );
    }

    #[test]
    fn hash_mismatches_name_the_packages_pip_refused() {
        let lines = [
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.",
            "    six==1.17.0 from https://files.pythonhosted.org/packages/b7/ce/six-1.17.0-py2.py3-none-any.whl:",
            "        Expected sha256 0000",
            "             Got        4721",
        ]
        .map(String::from);
        assert_eq!(hash_mismatches(&lines), ["six==1.17.0"]);
        assert!(hash_mismatches(&lines[1..]).is_empty());
        let uv = [
            "error: Failed to download `six==1.17.0`",
            "  cause: Hash mismatch for `six==1.17.0`",
            "         Expected:",
        ]
        .map(String::from);
        assert_eq!(hash_mismatches(&uv), ["six==1.17.0"]);
    }

    #[test]
    fn the_installed_count_is_the_last_one_reported() {
        let lines = [
            "fclayer: installed 3 packages",
            "fclayer: installed 7 packages",
            "x",
        ]
        .map(String::from);
        assert_eq!(installed_count(&lines), 7);
        assert_eq!(installed_count(&["nothing".to_string()]), 0);
    }

    #[test]
    fn wheel_builds_get_the_installer_env_and_the_specs() {
        let rt = Runtime::find("python3.9").unwrap();
        let env = wheels_env(
            rt,
            Arch::Aarch64,
            &["a==1".into(), "b".into()],
            &Reqs::plain(),
        );
        assert!(env.contains(&("FCLAYER_WHEELS".into(), "a==1 b".into())));
        assert!(env.contains(&("FCLAYER_GLIBC".into(), "2.24".into())));
        assert!(env.contains(&("FCLAYER_REQUIREMENTS".into(), "requirements.txt".into())));
        assert!(
            env.contains(&("FCLAYER_INSTALLER".into(), "pip".into())),
            "wheels are built with pip"
        );
        let fetch = fetch_env(rt, Arch::Aarch64, Installer::Uv, &Reqs::plain());
        assert!(fetch.contains(&("FCLAYER_PYVER".into(), "3.9".into())));
        assert!(fetch.contains(&(
            "FCLAYER_UV_PLATFORM".into(),
            "aarch64-manylinux_2_17".into()
        )));
        assert!(!fetch.iter().any(|(k, _)| k == "FCLAYER_LOCKED"));
        let locked = Reqs {
            path: "/fclayer/lock/requirements.txt".into(),
            locked: true,
        };
        let fetch = fetch_env(rt, Arch::Aarch64, Installer::Uv, &locked);
        assert!(fetch.contains(&("FCLAYER_LOCKED".into(), "1".into())));
        assert!(fetch.contains(&(
            "FCLAYER_REQUIREMENTS".into(),
            "/fclayer/lock/requirements.txt".into()
        )));
    }

    #[test]
    fn python_modules_are_found_the_way_import_sees_them() {
        assert_eq!(module_name("numpy/__init__.py").as_deref(), Some("numpy"));
        assert_eq!(module_name("six.py").as_deref(), Some("six"));
        assert_eq!(
            module_name("_cffi_backend.cpython-39-x86_64-linux-gnu.so").as_deref(),
            Some("_cffi_backend")
        );
        assert_eq!(module_name("numpy/core/__init__.py"), None);
        assert_eq!(module_name("numpy-2.0.2.dist-info/METADATA"), None);
        assert_eq!(module_name("bin/f2py"), None);
        assert_eq!(module_name("numpy.libs/libopenblas.so"), None);
    }
}
