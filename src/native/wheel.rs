//! Python wheels' compatibility tags (`*.dist-info/WHEEL`, `Tag:` lines) against a runtime.
//!
//! The ELF check sees what a wheel's binaries need; the tags say what the wheel promised, and
//! they name the fix: `manylinux_2_28_x86_64` in a glibc 2.24 runtime means "pin a release that
//! still ships manylinux2014 wheels". A wheel is fine when any one of its tags fits, because
//! its tags are alternatives (a `manylinux_2_17` wheel is also tagged `manylinux2014`).

use serde::Serialize;

use super::target::Target;
use super::version::Version;

/// The platform part of a wheel tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Pure Python.
    Any,
    /// `linux_x86_64`: built locally, no glibc promise (its ELF files are checked instead).
    Linux {
        arch: String,
    },
    /// PEP 600 `manylinux_X_Y_arch` and the legacy aliases, with the glibc they require.
    Manylinux {
        glibc: Version,
        arch: String,
    },
    Musllinux {
        arch: String,
    },
    /// macOS, Windows, anything else.
    Other(String),
}

/// Parse a platform tag such as `manylinux_2_17_x86_64` or `manylinux2014_aarch64`.
pub fn parse_platform(tag: &str) -> Platform {
    if tag == "any" {
        return Platform::Any;
    }
    // PEP 600 defines the legacy names as these glibc versions.
    for (legacy, glibc) in [
        ("manylinux1_", [2, 5]),
        ("manylinux2010_", [2, 12]),
        ("manylinux2014_", [2, 17]),
    ] {
        if let Some(arch) = tag.strip_prefix(legacy) {
            return Platform::Manylinux {
                glibc: Version::new(&glibc),
                arch: arch.to_string(),
            };
        }
    }
    let versioned = |rest: &str| -> Option<(Version, String)> {
        let mut parts = rest.splitn(3, '_');
        let major = parts.next()?;
        let minor = parts.next()?;
        let arch = parts.next()?;
        Some((
            Version::parse(&format!("{major}.{minor}"))?,
            arch.to_string(),
        ))
    };
    if let Some(rest) = tag.strip_prefix("manylinux_")
        && let Some((glibc, arch)) = versioned(rest)
    {
        return Platform::Manylinux { glibc, arch };
    }
    if let Some(rest) = tag.strip_prefix("musllinux_")
        && let Some((_, arch)) = versioned(rest)
    {
        return Platform::Musllinux { arch };
    }
    if let Some(arch) = tag.strip_prefix("linux_") {
        return Platform::Linux {
            arch: arch.to_string(),
        };
    }
    Platform::Other(tag.to_string())
}

/// One wheel whose tags do not fit the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WheelFinding {
    /// `numpy-2.1.0`, from the `.dist-info` folder's name.
    pub wheel: String,
    /// The WHEEL file inside the layer.
    pub path: String,
    /// The tags that share this problem.
    pub tags: Vec<String>,
    pub problem: String,
}

impl WheelFinding {
    pub fn message(&self) -> String {
        let s = if self.tags.len() == 1 { "" } else { "s" };
        format!(
            "wheel {} (tag{s} {}): {}",
            self.wheel,
            self.tags.join(", "),
            self.problem
        )
    }
}

/// Whether `path` (inside the layer) is a wheel's metadata file.
pub fn is_wheel_file(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/WHEEL") else {
        return false;
    };
    dir.rsplit('/')
        .next()
        .is_some_and(|d| d.ends_with(".dist-info"))
}

/// Check one WHEEL file. No findings when any tag fits, or when it names no tags.
pub fn check(path: &str, text: &str, target: &Target) -> Vec<WheelFinding> {
    let tags: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Tag:"))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let mut problems: Vec<(String, Vec<String>)> = Vec::new();
    for tag in &tags {
        let Err(problem) = check_tag(tag, target) else {
            return Vec::new();
        };
        match problems.iter_mut().find(|(p, _)| *p == problem) {
            Some((_, t)) => t.push(tag.to_string()),
            None => problems.push((problem, vec![tag.to_string()])),
        }
    }
    let dir = path.strip_suffix("/WHEEL").unwrap_or(path);
    let name = dir.rsplit('/').next().unwrap_or(dir);
    let wheel = name.strip_suffix(".dist-info").unwrap_or(name).to_string();
    problems
        .into_iter()
        .map(|(problem, tags)| WheelFinding {
            wheel: wheel.clone(),
            path: path.to_string(),
            tags,
            problem,
        })
        .collect()
}

/// `Ok` when the tag fits the target, else why not.
fn check_tag(tag: &str, target: &Target) -> Result<(), String> {
    // A tag in a WHEEL file is expanded (one per line), but tolerate a compressed one
    // (`py2.py3-none-any`): it fits when any of its expansions fits.
    let mut parts = tag.splitn(3, '-');
    let (Some(py), Some(abi), Some(platforms)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("is not a python-abi-platform tag".into());
    };
    let mut first_err = None;
    for platform in platforms.split('.') {
        match check_platform(platform, target).and_then(|()| check_python(py, abi, target)) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| "has an empty platform".into()))
}

fn check_platform(platform: &str, target: &Target) -> Result<(), String> {
    let want = target.arch.wheel_arch();
    let arch_ok = |arch: &str| {
        if arch == want {
            Ok(())
        } else {
            Err(format!(
                "built for {arch}, the runtime is {}",
                target.arch.name()
            ))
        }
    };
    match parse_platform(platform) {
        Platform::Any => Ok(()),
        Platform::Linux { arch } => arch_ok(&arch),
        Platform::Manylinux { glibc, arch } => {
            arch_ok(&arch)?;
            if glibc > target.glibc {
                Err(format!(
                    "needs glibc {glibc}, the runtime has glibc {}",
                    target.glibc
                ))
            } else {
                Ok(())
            }
        }
        Platform::Musllinux { .. } => Err(format!(
            "built for musl libc (Alpine); FC runtimes use glibc {}",
            target.glibc
        )),
        Platform::Other(p) => Err(format!("built for another operating system ({p})")),
    }
}

/// `cp310` → 3.10. Python tags put the major version in one digit and the minor in the rest.
fn cpython_version(tag: &str) -> Option<Version> {
    let digits = tag.strip_prefix("cp")?;
    let digits = digits.trim_end_matches(['m', 'u', 'd', 't']);
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Version::parse(&format!("{}.{}", &digits[..1], &digits[1..]))
}

/// Extension modules only import into the CPython they were built for. Custom runtimes are
/// skipped: their functions may run any interpreter the user brings.
fn check_python(py: &str, abi: &str, target: &Target) -> Result<(), String> {
    let (Some(runtime_py), false) = (target.python, target.custom) else {
        return Ok(());
    };
    let Some(have) = Version::parse(runtime_py) else {
        return Ok(());
    };
    if abi == "none" {
        return Ok(());
    }
    if abi == "abi3" {
        // The stable ABI: built against the oldest CPython it supports, loads in every later one.
        return match py.split('.').filter_map(cpython_version).min() {
            Some(min) if min > have => Err(format!(
                "needs CPython {min} or later, the runtime runs Python {have}"
            )),
            _ => Ok(()),
        };
    }
    if abi.starts_with("pypy") || abi.starts_with("pp") || abi.starts_with("graalpy") {
        return Err(format!(
            "built for another Python implementation ({abi}), the runtime runs CPython {have}"
        ));
    }
    match cpython_version(abi) {
        Some(_) if abi.ends_with('t') => Err(format!(
            "built for free-threaded CPython ({abi}), the runtime runs Python {have}"
        )),
        Some(built) if built != have => Err(format!(
            "built for CPython {built}, the runtime runs Python {have}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(rt: &str) -> Target {
        Target::named(rt, None).unwrap()
    }

    fn wheel(tags: &[&str]) -> String {
        let mut s = String::from("Wheel-Version: 1.0\nGenerator: bdist_wheel (0.43.0)\n");
        s.push_str("Root-Is-Purelib: false\n");
        for t in tags {
            s.push_str(&format!("Tag: {t}\n"));
        }
        s
    }

    const PATH: &str = "python/foo-1.0.dist-info/WHEEL";

    #[test]
    fn platform_tags_parse_with_their_glibc() {
        let many = |g: &[u32], a: &str| Platform::Manylinux {
            glibc: Version::new(g),
            arch: a.into(),
        };
        assert_eq!(
            parse_platform("manylinux_2_28_x86_64"),
            many(&[2, 28], "x86_64")
        );
        assert_eq!(
            parse_platform("manylinux_2_17_aarch64"),
            many(&[2, 17], "aarch64")
        );
        assert_eq!(parse_platform("manylinux1_x86_64"), many(&[2, 5], "x86_64"));
        assert_eq!(parse_platform("manylinux2010_i686"), many(&[2, 12], "i686"));
        assert_eq!(
            parse_platform("manylinux2014_x86_64"),
            many(&[2, 17], "x86_64")
        );
        assert_eq!(
            parse_platform("musllinux_1_2_x86_64"),
            Platform::Musllinux {
                arch: "x86_64".into()
            }
        );
        assert_eq!(
            parse_platform("linux_x86_64"),
            Platform::Linux {
                arch: "x86_64".into()
            }
        );
        assert_eq!(parse_platform("any"), Platform::Any);
        assert!(matches!(
            parse_platform("macosx_11_0_arm64"),
            Platform::Other(_)
        ));
        assert!(matches!(parse_platform("win_amd64"), Platform::Other(_)));
    }

    #[test]
    fn newer_manylinux_than_the_runtime_is_flagged_with_the_tag() {
        let text = wheel(&["cp39-cp39-manylinux_2_28_x86_64"]);
        let f = check(PATH, &text, &target("python3.9"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].wheel, "foo-1.0");
        assert_eq!(f[0].tags, ["cp39-cp39-manylinux_2_28_x86_64"]);
        assert!(f[0].problem.contains("glibc 2.28"), "{}", f[0].problem);
        assert!(f[0].problem.contains("2.24"), "{}", f[0].problem);
        assert!(check(PATH, &text, &target("custom.debian12")).is_empty());
        // Exactly the runtime's glibc fits.
        let text = wheel(&["cp39-cp39-manylinux_2_24_x86_64"]);
        assert!(check(PATH, &text, &target("python3.9")).is_empty());
    }

    #[test]
    fn any_fitting_tag_is_enough() {
        let text = wheel(&[
            "cp39-cp39-manylinux_2_28_x86_64",
            "cp39-cp39-manylinux_2_17_x86_64",
            "cp39-cp39-manylinux2014_x86_64",
        ]);
        assert!(check(PATH, &text, &target("python3.9")).is_empty());
        assert!(check(PATH, &wheel(&["py3-none-any"]), &target("python3.9")).is_empty());
        assert!(check(PATH, &wheel(&["py2.py3-none-any"]), &target("python3.6")).is_empty());
        assert!(check(PATH, "Wheel-Version: 1.0\n", &target("python3.6")).is_empty());
    }

    #[test]
    fn musl_and_other_architectures_are_flagged() {
        let t = target("python3.12");
        let f = check(PATH, &wheel(&["cp312-cp312-musllinux_1_2_x86_64"]), &t);
        assert!(f[0].problem.contains("musl"), "{f:?}");
        let text = wheel(&[
            "cp312-cp312-manylinux_2_17_aarch64",
            "cp312-cp312-manylinux2014_aarch64",
        ]);
        let f = check(PATH, &text, &t);
        // Two tags with the same problem make one finding naming both.
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].tags.len(), 2);
        assert!(f[0].problem.contains("aarch64"), "{f:?}");
        let arm = Target::named("python3.12", Some("linux/arm64")).unwrap();
        assert!(check(PATH, &text, &arm).is_empty());
        let f = check(PATH, &wheel(&["cp312-cp312-macosx_11_0_arm64"]), &t);
        assert!(f[0].problem.contains("another operating system"), "{f:?}");
    }

    #[test]
    fn cpython_version_must_match_in_managed_runtimes() {
        let t = target("python3.9");
        let f = check(PATH, &wheel(&["cp310-cp310-manylinux2014_x86_64"]), &t);
        assert!(f[0].problem.contains("CPython 3.10"), "{f:?}");
        assert!(check(PATH, &wheel(&["cp37-abi3-manylinux2014_x86_64"]), &t).is_empty());
        let f = check(PATH, &wheel(&["cp311-abi3-manylinux2014_x86_64"]), &t);
        assert!(f[0].problem.contains("3.11 or later"), "{f:?}");
        let f = check(PATH, &wheel(&["pp39-pypy39_pp73-manylinux2014_x86_64"]), &t);
        assert!(f[0].problem.contains("another Python"), "{f:?}");
        let t = target("python3.6");
        assert!(check(PATH, &wheel(&["cp36-cp36m-manylinux1_x86_64"]), &t).is_empty());
        // Custom runtimes run whatever interpreter the user brings.
        let t = target("custom.debian10");
        assert!(check(PATH, &wheel(&["cp312-cp312-manylinux2014_x86_64"]), &t).is_empty());
    }

    #[test]
    fn wheel_files_are_recognised_by_their_folder() {
        assert!(is_wheel_file("python/numpy-2.1.0.dist-info/WHEEL"));
        assert!(is_wheel_file(
            "python/lib/python3.9/site-packages/a-1.dist-info/WHEEL"
        ));
        assert!(!is_wheel_file("python/numpy/WHEEL"));
        assert!(!is_wheel_file("python/numpy-2.1.0.dist-info/METADATA"));
        assert!(!is_wheel_file("WHEEL"));
    }
}
