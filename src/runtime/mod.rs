//! The table of Function Compute runtimes: which Debian release each runs on, its glibc and
//! C++ runtime, the languages it carries, the build image that matches it, and where each kind
//! of layer content goes inside the ZIP.
//!
//! Facts come from FC's runtime documentation and the public `aliyun/fc-docker` Dockerfiles
//! (see `docs/runtimes.md`). Every runtime is x86_64: FC has no ARM runtimes.

pub mod python;

use std::fmt;

use serde::Serialize;

/// A Debian release that FC runtimes are built on, with the ABI levels it provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Debian {
    Stretch,
    Buster,
    Bullseye,
    Bookworm,
}

impl Debian {
    pub const ALL: [Debian; 4] = [
        Debian::Stretch,
        Debian::Buster,
        Debian::Bullseye,
        Debian::Bookworm,
    ];

    pub fn number(self) -> u32 {
        match self {
            Debian::Stretch => 9,
            Debian::Buster => 10,
            Debian::Bullseye => 11,
            Debian::Bookworm => 12,
        }
    }

    pub fn codename(self) -> &'static str {
        match self {
            Debian::Stretch => "stretch",
            Debian::Buster => "buster",
            Debian::Bullseye => "bullseye",
            Debian::Bookworm => "bookworm",
        }
    }

    /// glibc version of the release (PEP 600's table: manylinux_2_24 is Debian 9, and so on).
    pub fn glibc(self) -> (u32, u32) {
        match self {
            Debian::Stretch => (2, 24),
            Debian::Buster => (2, 28),
            Debian::Bullseye => (2, 31),
            Debian::Bookworm => (2, 36),
        }
    }

    /// Highest `GLIBCXX_3.4.N` symbol version of the release's libstdc++ (GCC 6, 8, 10, 12).
    pub fn glibcxx(self) -> (u32, u32, u32) {
        match self {
            Debian::Stretch => (3, 4, 22),
            Debian::Buster => (3, 4, 25),
            Debian::Bullseye => (3, 4, 28),
            Debian::Bookworm => (3, 4, 30),
        }
    }

    /// Highest `CXXABI_1.3.N` symbol version of the release's libstdc++.
    pub fn cxxabi(self) -> (u32, u32, u32) {
        match self {
            Debian::Stretch => (1, 3, 10),
            Debian::Buster => (1, 3, 11),
            Debian::Bullseye => (1, 3, 12),
            Debian::Bookworm => (1, 3, 13),
        }
    }

    /// Tag of a plain Debian image of this release, for `--base-image`-style overrides.
    pub fn docker_tag(self) -> String {
        format!("debian:{}", self.number())
    }

    /// Whether the release's packages have moved to archive.debian.org (its mirrors are gone).
    pub fn archived(self) -> bool {
        matches!(self, Debian::Stretch | Debian::Buster)
    }
}

impl fmt::Display for Debian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Debian {} ({})", self.number(), self.codename())
    }
}

/// What a layer is built from, which decides the installer and the folder in the ZIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `requirements.txt`, installed with pip into `python/`.
    Python,
}

impl Kind {
    pub const ALL: [Kind; 1] = [Kind::Python];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Python => "python",
        }
    }

    /// The folder inside the ZIP (and so under `/opt`) that the runtime searches.
    pub fn layer_dir(self) -> &'static str {
        match self {
            Kind::Python => "python",
        }
    }

    /// The project file that marks a project of this kind.
    pub fn manifest(self) -> &'static str {
        match self {
            Kind::Python => "requirements.txt",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One FC runtime.
#[derive(Debug, PartialEq, Eq)]
pub struct Runtime {
    /// FC's own identifier, as used in `compatibleRuntime` and `s.yaml`.
    pub name: &'static str,
    pub debian: Debian,
    /// Python interpreter version functions run with (built in for custom runtimes).
    pub python: Option<&'static str>,
    /// A custom runtime: FC adds no language paths; `/opt/bin` and `/opt/lib` are the user's job.
    pub custom: bool,
    /// FC's official build image (FC 3.0 tooling names, version 3.1.0).
    pub fc_build_image: &'static str,
    /// FC's official run image.
    pub fc_run_image: &'static str,
}

/// FC runtime images live on Docker Hub (and registry.cn-beijing.aliyuncs.com for users in China).
const FC_IMAGE_VERSION: &str = "3.1.0";

macro_rules! fc_images {
    ($rt:literal) => {
        (
            concat!("aliyunfc/runtime-", $rt, ":build-3.1.0"),
            concat!("aliyunfc/runtime-", $rt, ":3.1.0"),
        )
    };
    (new $rt:literal) => {
        (
            concat!("aliyunfc/runtime:", $rt, "-build-3.1.0"),
            concat!("aliyunfc/runtime:", $rt, "-3.1.0"),
        )
    };
}

const fn row(
    name: &'static str,
    debian: Debian,
    python: Option<&'static str>,
    custom: bool,
    images: (&'static str, &'static str),
) -> Runtime {
    Runtime {
        name,
        debian,
        python,
        custom,
        fc_build_image: images.0,
        fc_run_image: images.1,
    }
}

/// Every runtime fclayer builds for, in the order `fclayer runtimes` prints them.
pub static RUNTIMES: &[Runtime] = &[
    row(
        "python3.6",
        Debian::Stretch,
        Some("3.6"),
        false,
        fc_images!("python3.6"),
    ),
    row(
        "python3.9",
        Debian::Stretch,
        Some("3.9"),
        false,
        fc_images!("python3.9"),
    ),
    row(
        "python3.10",
        Debian::Buster,
        Some("3.10"),
        false,
        fc_images!("python3.10"),
    ),
    row(
        "python3.12",
        Debian::Bullseye,
        Some("3.12"),
        false,
        fc_images!(new "python3.12"),
    ),
    row(
        "custom",
        Debian::Stretch,
        Some("3.7"),
        true,
        fc_images!("custom"),
    ),
    row(
        "custom.debian10",
        Debian::Buster,
        Some("3.10"),
        true,
        fc_images!("custom.debian10"),
    ),
    row(
        "custom.debian11",
        Debian::Bullseye,
        Some("3.12"),
        true,
        fc_images!(new "custom.debian11"),
    ),
    row(
        "custom.debian12",
        Debian::Bookworm,
        Some("3.11"),
        true,
        fc_images!(new "custom.debian12"),
    ),
];

/// FC's alias: `python3` is the Python 3.6 runtime.
const ALIASES: &[(&str, &str)] = &[("python3", "python3.6")];

/// The runtime chosen when neither `--runtime` nor the project file names one.
pub const DEFAULT_PYTHON_RUNTIME: &str = "python3.10";

impl Runtime {
    pub fn find(name: &str) -> Option<&'static Runtime> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, real)| real);
        RUNTIMES.iter().find(|r| r.name == name)
    }

    /// All names `--runtime` accepts, for error messages.
    pub fn names() -> Vec<&'static str> {
        RUNTIMES.iter().map(|r| r.name).collect()
    }

    /// FC runtimes are x86_64 only.
    pub fn arch(&self) -> &'static str {
        "x86_64"
    }

    pub fn platform(&self) -> &'static str {
        "linux/amd64"
    }

    /// The kinds of layer this runtime can load.
    pub fn supports(&self, kind: Kind) -> bool {
        match kind {
            Kind::Python => self.python.is_some(),
        }
    }

    /// Path of this runtime's build-image Dockerfile inside `images/`.
    pub fn dockerfile_dir(&self) -> String {
        format!("debian{}/{}", self.debian.number(), self.name)
    }

    /// Version part of the FC images' tags.
    pub fn fc_image_version() -> &'static str {
        FC_IMAGE_VERSION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_has_a_dockerfile() {
        for rt in RUNTIMES {
            let path = format!("{}/Dockerfile", rt.dockerfile_dir());
            assert!(
                crate::images::IMAGES.get_file(&path).is_some(),
                "{} has no images/{path}",
                rt.name
            );
        }
    }

    #[test]
    fn python_runtimes_match_fc_documentation() {
        let expect = [
            ("python3.6", 9, (2, 24)),
            ("python3.9", 9, (2, 24)),
            ("python3.10", 10, (2, 28)),
            ("python3.12", 11, (2, 31)),
            ("custom", 9, (2, 24)),
            ("custom.debian10", 10, (2, 28)),
            ("custom.debian11", 11, (2, 31)),
            ("custom.debian12", 12, (2, 36)),
        ];
        for (name, debian, glibc) in expect {
            let rt = Runtime::find(name).unwrap();
            assert_eq!(rt.debian.number(), debian, "{name}");
            assert_eq!(rt.debian.glibc(), glibc, "{name}");
            assert_eq!(rt.arch(), "x86_64");
        }
    }

    #[test]
    fn python3_is_an_alias_of_python36() {
        assert_eq!(Runtime::find("python3").unwrap().name, "python3.6");
        assert!(Runtime::find("python2.7").is_none());
    }

    #[test]
    fn the_default_runtime_exists() {
        assert!(Runtime::find(DEFAULT_PYTHON_RUNTIME).is_some());
    }

    #[test]
    fn image_names_follow_fc3_rules() {
        let rt = Runtime::find("python3.9").unwrap();
        assert_eq!(rt.fc_build_image, "aliyunfc/runtime-python3.9:build-3.1.0");
        let rt = Runtime::find("custom.debian12").unwrap();
        assert_eq!(
            rt.fc_build_image,
            "aliyunfc/runtime:custom.debian12-build-3.1.0"
        );
    }
}
