//! What a layer is checked against: a runtime's architecture, its glibc and libstdc++ ABI
//! levels, and the shared libraries its image provides.
//!
//! The soname lists live in `provided/debian*.txt`, one per Debian release, each with a header
//! saying which part was measured in a real image and which was derived from documentation.
//! glibc's own libraries and the GCC runtime libraries are in every image of every release, so
//! they are added here rather than repeated in each file.

use std::collections::BTreeSet;

use serde::Serialize;

use super::elf::Machine;
use super::version::{Family, Version};
use crate::error::Result;
use crate::runtime::{Debian, Runtime};

pub use crate::runtime::Arch;

/// The ELF side of an architecture (the type itself is the runtime table's, `runtime::platform`).
impl Arch {
    /// The dynamic loader's soname (also what PT_INTERP names, under /lib or /lib64).
    pub fn loader(self) -> &'static str {
        match self {
            Arch::X86_64 => "ld-linux-x86-64.so.2",
            Arch::Aarch64 => "ld-linux-aarch64.so.1",
        }
    }

    pub fn machine(self) -> Machine {
        match self {
            Arch::X86_64 => Machine::X86_64,
            Arch::Aarch64 => Machine::Aarch64,
        }
    }

    /// The architecture part of a wheel's platform tag (`manylinux_2_28_x86_64`).
    pub fn wheel_arch(self) -> &'static str {
        self.name()
    }
}

/// glibc's libraries, present wherever glibc is. libstdc++ and libgcc_s come with every Debian
/// image too (apt is C++), so a layer never needs to carry them for a runtime that has them.
const ALWAYS: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libcrypt.so.1",
    "libanl.so.1",
    "libnsl.so.1",
    "libBrokenLocale.so.1",
    "libthread_db.so.1",
    "libnss_files.so.2",
    "libnss_dns.so.2",
    "libnss_compat.so.2",
    "libmvec.so.1",
    "libstdc++.so.6",
    "libgcc_s.so.1",
];

/// The list file of a release, embedded at build time.
pub fn provided_list(debian: Debian) -> &'static str {
    match debian {
        Debian::Stretch => include_str!("provided/debian9.txt"),
        Debian::Buster => include_str!("provided/debian10.txt"),
        Debian::Bullseye => include_str!("provided/debian11.txt"),
        Debian::Bookworm => include_str!("provided/debian12.txt"),
    }
}

/// Sonames in a list file: one a line, `#` starts a comment. Every name applies to every
/// runtime of the release unless a directive line narrows the names after it: `@only rt...` or
/// `@except rt...` (until the next directive), `@all` to end that. Debian 9 needs this: FC's
/// php7.2 image is built on another base than its other Debian 9 images.
pub fn parse_list<'a>(text: &'a str, runtime: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut applies = true;
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(move |l| {
            if let Some(directive) = l.strip_prefix('@') {
                let mut words = directive.split_whitespace();
                let listed = |mut w: std::str::SplitWhitespace<'_>| w.any(|r| r == runtime);
                applies = match words.next() {
                    Some("only") => listed(words),
                    Some("except") => !listed(words),
                    _ => true,
                };
                return false;
            }
            applies && !l.is_empty()
        })
}

/// The runtime a layer is checked against.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub runtime: &'static str,
    pub debian: u32,
    pub codename: &'static str,
    pub arch: Arch,
    pub glibc: Version,
    pub glibcxx: Version,
    pub cxxabi: Version,
    /// The Python the runtime runs functions with, where it has one.
    pub python: Option<&'static str>,
    /// Custom runtimes put neither /opt/lib on LD_LIBRARY_PATH nor /opt/python on sys.path.
    pub custom: bool,
    /// Sonames the runtime image provides (not serialised: it is the list file's content).
    #[serde(skip)]
    pub provided: BTreeSet<String>,
}

impl Target {
    /// The target for a runtime, on its own architecture unless `platform` overrides it.
    pub fn new(runtime: &'static Runtime, platform: Option<&str>) -> Result<Target> {
        let arch = match platform {
            None => Arch::from_platform(runtime.platform()).unwrap_or(Arch::X86_64),
            Some(p) => Arch::parse(p)?,
        };
        let debian = runtime.debian;
        let mut provided: BTreeSet<String> = parse_list(provided_list(debian), runtime.name)
            .chain(ALWAYS.iter().copied())
            .map(str::to_string)
            .collect();
        // The lists were measured on x86_64; the sonames are the same on aarch64 except for the
        // loader (and libmvec, which aarch64 glibc only gained in 2.35).
        if arch != Arch::X86_64 {
            provided.remove(Arch::X86_64.loader());
            provided.remove("libmvec.so.1");
        }
        provided.insert(arch.loader().to_string());
        let (g1, g2) = debian.glibc();
        let (x1, x2, x3) = debian.glibcxx();
        let (c1, c2, c3) = debian.cxxabi();
        Ok(Target {
            runtime: runtime.name,
            debian: debian.number(),
            codename: debian.codename(),
            arch,
            glibc: Version::new(&[g1, g2]),
            glibcxx: Version::new(&[x1, x2, x3]),
            cxxabi: Version::new(&[c1, c2, c3]),
            python: runtime.python.map(|l| l.version),
            custom: runtime.custom,
            provided,
        })
    }

    /// The target for a runtime named on the command line.
    pub fn named(runtime: &str, platform: Option<&str>) -> Result<Target> {
        Target::new(Runtime::lookup(runtime)?, platform)
    }

    pub fn provides(&self, soname: &str) -> bool {
        self.provided.contains(soname)
    }

    /// The highest version of a symbol-version family the runtime has.
    pub fn level(&self, family: Family) -> &Version {
        match family {
            Family::Glibc => &self.glibc,
            Family::Glibcxx => &self.glibcxx,
            Family::Cxxabi => &self.cxxabi,
        }
    }

    /// "python3.12 (Debian 11, x86_64)".
    pub fn describe(&self) -> String {
        format!(
            "{} (Debian {}, {})",
            self.runtime,
            self.debian,
            self.arch.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(rt: &str) -> Target {
        Target::named(rt, None).unwrap()
    }

    #[test]
    fn every_list_parses_to_plain_sonames() {
        for debian in Debian::ALL {
            let text = provided_list(debian);
            assert!(
                text.starts_with("# "),
                "Debian {} list lacks its source header",
                debian.number()
            );
            let names: Vec<&str> = parse_list(text, "any").collect();
            assert!(
                names.len() > 30,
                "Debian {}: {}",
                debian.number(),
                names.len()
            );
            for n in &names {
                assert!(
                    n.starts_with("lib") || n.starts_with("ld-"),
                    "Debian {}: odd entry {n:?}",
                    debian.number()
                );
                assert!(n.contains(".so"), "{n:?}");
                assert!(!n.contains(char::is_whitespace), "{n:?}");
            }
        }
    }

    #[test]
    fn releases_provide_their_own_sonames_only() {
        let d9 = target("python3.9");
        let d10 = target("python3.10");
        let d11 = target("python3.12");
        let d12 = target("custom.debian12");
        // OpenSSL: 1.1 on stretch (FC's libssl-dev) and in bullseye's minbase, 3 on bookworm
        // (through python3), none measured or documented on buster.
        assert!(d9.provides("libssl.so.1.1"));
        assert!(!d10.provides("libssl.so.1.1"));
        assert!(d11.provides("libssl.so.1.1"));
        assert!(d12.provides("libssl.so.3"));
        assert!(!d11.provides("libssl.so.3"));
        assert!(!d12.provides("libssl.so.1.1"));
        // libffi's soname changed every release.
        assert!(d10.provides("libffi.so.6"));
        assert!(d11.provides("libffi.so.7") && !d11.provides("libffi.so.8"));
        assert!(d12.provides("libffi.so.8"));
        for t in [&d9, &d10, &d11, &d12] {
            for lib in [
                "libc.so.6",
                "libpthread.so.0",
                "libcrypt.so.1",
                "libstdc++.so.6",
                "libgcc_s.so.1",
                "ld-linux-x86-64.so.2",
                "libz.so.1",
            ] {
                assert!(t.provides(lib), "{} lacks {lib}", t.runtime);
            }
            assert!(!t.provides("libnotthere.so.1"));
            // Commonly bundled by wheels and absent from a minimal image: must not be assumed.
            assert!(!t.provides("libgfortran.so.5"), "{}", t.runtime);
            assert!(!t.provides("libopenblas.so.0"), "{}", t.runtime);
        }
    }

    #[test]
    fn debian9_images_on_other_bases_get_only_their_own_packages() {
        let py = target("python3.9");
        let node = target("nodejs14");
        let php = target("php7.2");
        let custom = target("custom");
        for lib in [
            "libssl.so.1.0.0",
            "libpng12.so.0",
            "libtk8.6.so",
            "libgomp.so.1",
        ] {
            assert!(py.provides(lib) && node.provides(lib), "{lib}");
            assert!(!php.provides(lib) && !custom.provides(lib), "{lib}");
        }
        assert!(php.provides("libMagickWand-6.Q16.so.3"));
        assert!(!custom.provides("libMagickWand-6.Q16.so.3"));
        assert!(custom.provides("libcurl.so.4") && !php.provides("libcurl.so.4"));
        for t in [&py, &php, &custom] {
            assert!(t.provides("libssl.so.1.1"), "{}", t.runtime);
            assert!(t.provides("libz.so.1"), "{}", t.runtime);
            assert!(!t.provides("@all") && !t.provides("@only"));
        }
        let text = "a.so\n@only x y\nb.so\n@except y\nc.so\n@all\nd.so\n";
        assert_eq!(
            parse_list(text, "x").collect::<Vec<_>>(),
            ["a.so", "b.so", "c.so", "d.so"]
        );
        assert_eq!(
            parse_list(text, "y").collect::<Vec<_>>(),
            ["a.so", "b.so", "d.so"]
        );
        assert_eq!(
            parse_list(text, "z").collect::<Vec<_>>(),
            ["a.so", "c.so", "d.so"]
        );
    }

    #[test]
    fn abi_levels_come_from_the_runtime_table() {
        let t = target("python3.9");
        assert_eq!(t.glibc, Version::new(&[2, 24]));
        assert_eq!(t.glibcxx, Version::new(&[3, 4, 22]));
        assert_eq!(t.cxxabi, Version::new(&[1, 3, 10]));
        assert_eq!(t.arch, Arch::X86_64);
        assert_eq!(target("custom.debian12").glibc, Version::new(&[2, 36]));
        assert_eq!(target("python3").runtime, "python3.6");
    }

    #[test]
    fn platform_override_swaps_the_loader() {
        let t = Target::named("custom.debian12", Some("linux/arm64")).unwrap();
        assert_eq!(t.arch, Arch::Aarch64);
        assert!(t.provides("ld-linux-aarch64.so.1"));
        assert!(!t.provides("ld-linux-x86-64.so.2"));
        assert!(t.provides("libc.so.6"));
        for ok in ["linux/amd64", "x86_64", "linux/arm64/v8", "aarch64"] {
            assert!(Arch::from_platform(ok).is_some(), "{ok}");
        }
        for bad in ["linux/arm", "windows/amd64", "arm64/v7", ""] {
            assert!(Arch::from_platform(bad).is_none(), "{bad}");
        }
        let e = Target::named("python3.9", Some("linux/s390x")).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        let e = Target::named("python9", None).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        assert!(e.message.contains("python9"));
    }
}
