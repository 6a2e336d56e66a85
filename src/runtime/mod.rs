//! The table of Function Compute runtimes: which Debian release each runs on, its glibc and
//! C++ runtime, the languages it carries, the build image that matches it. And the kinds of
//! layer content (the languages, with system packages counted as one), each in a file of its own.
//!
//! Facts come from FC's runtime documentation and the public `aliyun/fc-docker` Dockerfiles
//! (see `docs/runtimes.md`). Every runtime is x86_64: FC has no ARM runtimes.
//!
//! ## One file per kind
//! `apt.rs`, `python.rs`, `node.rs`, `java.rs` and `php.rs` have the same shape, top to bottom:
//! a `LANGUAGE` static (name, installer, project files, folders in the ZIP, default runtime,
//! which runtimes load it, and the two functions below), the check of its project files, its
//! version reader for the provenance manifest, then its installer's environment and the text
//! that describes it. Everything else asks [`Kind::language`], so adding a package manager
//! (a lockfile, a second installer) means editing that one file and its install script.
//!
//! `Language` is a plain struct of data and function pointers, one `static` per file, rather
//! than a trait: the facts are constants, the functions take the same arguments for every
//! kind, and a table of statics needs neither generics nor `dyn` to be listed or looked up.
//! `Kind` stays the enum the rest of the code matches and stores (plans, caches, serde), and
//! [`Kind::language`] is the one `match` that names every kind.

pub mod apt;
pub mod java;
pub mod node;
pub mod node_pm;
pub mod php;
pub mod platform;
pub(crate) mod project_text;
pub mod pyformats;
pub mod python;

pub use platform::Arch;

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;

/// One kind of layer content: what detects it, what installs it, where it goes, how its
/// versions are read back. Each kind's file defines its own as `LANGUAGE`.
#[derive(Debug)]
pub struct Language {
    /// The name users write (`kind = "python"`) and the manifest's package group.
    pub name: &'static str,
    /// The tool that installs it, for messages.
    pub installer: &'static str,
    /// Files whose presence in the project calls for this kind, most exact first; the first is
    /// the one messages name.
    pub project_files: &'static [&'static str],
    /// The folders inside the ZIP (and so under `/opt`) it fills.
    pub layer_dirs: &'static [&'static str],
    /// Where in the ZIP the runtime looks for it, for the runtime table.
    pub search_path: &'static str,
    /// The runtime used when neither `--runtime` nor the project file names one.
    pub default_runtime: &'static str,
    /// Whether a runtime can load this kind of layer.
    pub runs_on: fn(&Runtime) -> bool,
    /// Check a project file before any container starts: a mistake is reported with its file
    /// and line.
    pub check: fn(&Path) -> Result<()>,
    /// The `(package, version)` pairs one entry of a built layer tells, given its path in the
    /// ZIP and a way to read its bytes (called only when the path is one the kind reads).
    pub versions: fn(&str, ReadEntry<'_>) -> Vec<(String, String)>,
}

/// Reads the bytes of the layer entry being looked at; `None` when it cannot be read.
pub type ReadEntry<'a> = &'a mut dyn FnMut() -> Option<Vec<u8>>;

impl Language {
    /// The first of this kind's project files that `dir` holds.
    pub fn project_file_in(&self, dir: &Path) -> Option<&'static str> {
        self.project_files
            .iter()
            .copied()
            .find(|f| dir.join(f).is_file())
    }
}

/// A layer entry's bytes as JSON, for the version readers; unreadable or bad JSON is `None`
/// (the manifest lists what it can read, the installer already succeeded).
fn json_entry(read: ReadEntry<'_>) -> Option<serde_json::Value> {
    let text = String::from_utf8(read()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// A Debian release that FC runtimes are built on, with the ABI levels it provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Debian {
    Stretch,
    Buster,
    Bullseye,
    Bookworm,
}

impl Debian {
    #[cfg(test)]
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
}

impl fmt::Display for Debian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Debian {} ({})", self.number(), self.codename())
    }
}

/// What a layer is built from, which decides the installer and the folders in the ZIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// System packages (`--apt`, `apt.txt`): executables into `bin/`, libraries into `lib/`.
    /// First, so language installers in the same build can use them.
    Apt,
    /// `requirements.txt`, installed with pip into `python/`.
    Python,
    /// `package.json` (+ lockfile), installed with npm into `nodejs/node_modules/`.
    Node,
    /// `pom.xml`: Maven copies the runtime dependencies' jars into `java/lib/`.
    Java,
    /// `composer.json` (+ lock), installed with Composer into `php/vendor/`.
    Php,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Apt, Kind::Python, Kind::Node, Kind::Java, Kind::Php];

    /// Everything fclayer knows about this kind, from the kind's own file. The one `match`
    /// that names every kind.
    pub fn language(self) -> &'static Language {
        match self {
            Kind::Apt => &apt::LANGUAGE,
            Kind::Python => &python::LANGUAGE,
            Kind::Node => &node::LANGUAGE,
            Kind::Java => &java::LANGUAGE,
            Kind::Php => &php::LANGUAGE,
        }
    }

    pub fn name(self) -> &'static str {
        self.language().name
    }

    /// The folders inside the ZIP (and so under `/opt`) this kind fills.
    pub fn layer_dirs(self) -> &'static [&'static str] {
        self.language().layer_dirs
    }

    /// Where in the ZIP the runtime looks for this kind's content, for the runtime table.
    pub fn search_path(self) -> &'static str {
        self.language().search_path
    }

    /// The project file that marks a project of this kind, as messages name it.
    pub fn project_file(self) -> &'static str {
        self.language().project_files[0]
    }

    /// The tool that installs this kind, for messages.
    pub fn installer(self) -> &'static str {
        self.language().installer
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

/// A language version a runtime carries: the version functions see, and the exact release
/// a build image installs when its base lacks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Lang {
    pub version: &'static str,
    pub full: &'static str,
}

const fn lang(version: &'static str, full: &'static str) -> Option<Lang> {
    Some(Lang { version, full })
}

/// One FC runtime.
#[derive(Debug, PartialEq, Eq)]
pub struct Runtime {
    /// FC's own identifier, as used in `compatibleRuntime` and `s.yaml`.
    pub name: &'static str,
    pub debian: Debian,
    /// Python functions run with (built in for custom runtimes).
    pub python: Option<Lang>,
    pub node: Option<Lang>,
    pub java: Option<Lang>,
    pub php: Option<Lang>,
    /// A custom runtime: FC adds no language paths; `/opt/bin` and `/opt/lib` are the user's job.
    pub custom: bool,
    /// FC's official build image (FC 3.0 tooling names, version 3.1.0).
    pub fc_build_image: &'static str,
    /// FC's official run image.
    pub fc_run_image: &'static str,
}

/// FC runtime images live on Docker Hub (and registry.cn-beijing.aliyuncs.com for users in China).
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

/// A row with no languages; the table fills them in.
const fn rt(name: &'static str, debian: Debian, images: (&'static str, &'static str)) -> Runtime {
    Runtime {
        name,
        debian,
        python: None,
        node: None,
        java: None,
        php: None,
        custom: false,
        fc_build_image: images.0,
        fc_run_image: images.1,
    }
}

use Debian::{Bookworm, Bullseye, Buster, Stretch};

/// Every runtime fclayer builds for, in the order `fclayer runtimes` prints them. Language
/// versions are those of FC's images (aliyun/fc-docker, FC's runtime docs).
pub static RUNTIMES: &[Runtime] = &[
    Runtime {
        python: lang("3.6", "3.6.15"),
        ..rt("python3.6", Stretch, fc_images!("python3.6"))
    },
    Runtime {
        python: lang("3.9", "3.9.8"),
        ..rt("python3.9", Stretch, fc_images!("python3.9"))
    },
    Runtime {
        python: lang("3.10", "3.10.9"),
        ..rt("python3.10", Buster, fc_images!("python3.10"))
    },
    Runtime {
        python: lang("3.12", "3.12.4"),
        ..rt("python3.12", Bullseye, fc_images!(new "python3.12"))
    },
    Runtime {
        node: lang("8", "8.17.0"),
        ..rt("nodejs8", Stretch, fc_images!("nodejs8"))
    },
    Runtime {
        node: lang("10", "10.24.1"),
        ..rt("nodejs10", Stretch, fc_images!("nodejs10"))
    },
    Runtime {
        node: lang("12", "12.22.1"),
        ..rt("nodejs12", Stretch, fc_images!("nodejs12"))
    },
    Runtime {
        node: lang("14", "14.18.1"),
        ..rt("nodejs14", Stretch, fc_images!("nodejs14"))
    },
    Runtime {
        node: lang("16", "16.15.1"),
        ..rt("nodejs16", Stretch, fc_images!("nodejs16"))
    },
    Runtime {
        node: lang("18", "18.19.0"),
        ..rt("nodejs18", Buster, fc_images!("nodejs18"))
    },
    Runtime {
        node: lang("20", "20.10.0"),
        ..rt("nodejs20", Buster, fc_images!("nodejs20"))
    },
    Runtime {
        java: lang("8", "8"),
        ..rt("java8", Stretch, fc_images!("java8"))
    },
    Runtime {
        java: lang("11", "11"),
        ..rt("java11", Stretch, fc_images!("java11"))
    },
    Runtime {
        php: lang("7.2", "7.2.34"),
        ..rt("php7.2", Stretch, fc_images!("php7.2"))
    },
    Runtime {
        python: lang("3.7", "3.7.4"),
        node: lang("10", "10.16.2"),
        custom: true,
        ..rt("custom", Stretch, fc_images!("custom"))
    },
    Runtime {
        python: lang("3.10", "3.10.9"),
        node: lang("20", "20.10.0"),
        custom: true,
        ..rt("custom.debian10", Buster, fc_images!("custom.debian10"))
    },
    Runtime {
        python: lang("3.12", "3.12.4"),
        custom: true,
        ..rt(
            "custom.debian11",
            Bullseye,
            fc_images!(new "custom.debian11"),
        )
    },
    Runtime {
        python: lang("3.11", "3.11.2"),
        custom: true,
        ..rt(
            "custom.debian12",
            Bookworm,
            fc_images!(new "custom.debian12"),
        )
    },
];

/// FC's alias: `python3` is the Python 3.6 runtime.
const ALIASES: &[(&str, &str)] = &[("python3", "python3.6")];

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

    /// The kinds of layer this runtime can load. System packages suit every runtime.
    pub fn supports(&self, kind: Kind) -> bool {
        (kind.language().runs_on)(self)
    }

    /// The languages this runtime carries, for the table: "Python 3.9", "Node.js 20".
    pub fn languages(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(l) = self.python {
            out.push(format!("Python {}", l.version));
        }
        if let Some(l) = self.node {
            out.push(format!("Node.js {}", l.version));
        }
        if let Some(l) = self.java {
            out.push(format!("Java {}", l.version));
        }
        if let Some(l) = self.php {
            out.push(format!("PHP {}", l.version));
        }
        out
    }

    /// Path of this runtime's build-image Dockerfile inside `images/`.
    pub fn dockerfile_dir(&self) -> String {
        format!("debian{}/{}", self.debian.number(), self.name)
    }
}

/// The runtime chosen for a kind of project when neither `--runtime` nor the project file names
/// one: the newest built-in runtime of that language on FC, `custom.debian10` for system
/// packages alone.
pub fn default_runtime(kind: Kind) -> &'static str {
    kind.language().default_runtime
}

// Added by the build/plan restructuring (issue 12): looking a runtime up by name for the plan,
// the gate and verify, and the name of its build image.
impl Runtime {
    /// The runtime a user named (`--runtime`, fclayer.toml), or the error listing valid ones.
    pub fn lookup(name: &str) -> crate::error::Result<&'static Runtime> {
        Runtime::find(name).ok_or_else(|| {
            crate::error::Error::input(format!("unknown runtime `{name}`"))
                .with_details([format!("valid runtimes: {}", Runtime::names().join(", "))])
                .with_hint("`fclayer runtimes` shows each runtime's Debian release and glibc")
        })
    }

    /// Runtimes that can load `kind`, for hints.
    pub fn supporting(kind: Kind) -> Vec<&'static str> {
        RUNTIMES
            .iter()
            .filter(|r| r.supports(kind))
            .map(|r| r.name)
            .collect()
    }

    /// The repository of this runtime's build image (the tag adds the hash of what decides it).
    pub fn build_image_repo(&self) -> String {
        format!("fclayer/build-{}", self.name)
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
    fn every_language_names_its_kind_and_a_project_file() {
        for kind in Kind::ALL {
            let lang = kind.language();
            assert_eq!(Kind::parse(lang.name), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), lang.name);
            assert!(!lang.project_files.is_empty(), "{kind}");
            assert!(!lang.layer_dirs.is_empty(), "{kind}");
        }
        assert_eq!(Kind::Python.project_file(), "requirements.txt");
    }

    #[test]
    fn every_default_runtime_exists_and_supports_its_kind() {
        for kind in Kind::ALL {
            let rt = Runtime::find(default_runtime(kind)).unwrap();
            assert!(rt.supports(kind), "{kind}");
        }
    }

    #[test]
    fn node_java_php_runtimes_match_fc_documentation() {
        for (name, debian) in [
            ("nodejs8", 9),
            ("nodejs16", 9),
            ("nodejs18", 10),
            ("nodejs20", 10),
            ("java8", 9),
            ("java11", 9),
            ("php7.2", 9),
        ] {
            assert_eq!(
                Runtime::find(name).unwrap().debian.number(),
                debian,
                "{name}"
            );
        }
        assert_eq!(
            Runtime::find("nodejs16").unwrap().node.unwrap().full,
            "16.15.1"
        );
        assert!(
            Runtime::find("custom.debian10")
                .unwrap()
                .supports(Kind::Node)
        );
        assert!(!Runtime::find("python3.9").unwrap().supports(Kind::Node));
        assert!(Runtime::find("java11").unwrap().supports(Kind::Apt));
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

    #[test]
    fn unknown_runtime_lists_valid_ones() {
        let e = Runtime::lookup("python9").unwrap_err();
        assert!(e.details[0].contains("python3.9"));
        assert!(e.details[0].contains("custom.debian12"));
        assert_eq!(Runtime::lookup("python3").unwrap().name, "python3.6");
        assert!(Runtime::supporting(Kind::Php).contains(&"php7.2"));
        assert_eq!(
            Runtime::lookup("nodejs20").unwrap().build_image_repo(),
            "fclayer/build-nodejs20"
        );
    }
}
