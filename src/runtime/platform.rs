//! The machines a layer can target. FC runs linux/amd64; linux/arm64 is the other platform
//! fclayer builds for. The plan, the build, verify and the ELF gate all use it, so it sits
//! with the runtime table rather than in the gate (which adds the ELF details: loader, machine).

use serde::Serialize;

use crate::error::{Error, Result};

/// A CPU architecture a layer can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The Docker platform string.
    pub fn platform(self) -> &'static str {
        match self {
            Arch::X86_64 => "linux/amd64",
            Arch::Aarch64 => "linux/arm64",
        }
    }

    /// Parse a `--platform` value: Docker's `linux/amd64` and `linux/arm64[/v8]`, plus the
    /// kernel's names for the same (`x86_64`, `aarch64`), with or without `linux/`.
    pub fn from_platform(s: &str) -> Option<Arch> {
        let arch = s.strip_prefix("linux/").unwrap_or(s);
        match arch {
            "amd64" | "x86_64" | "x86-64" => Some(Arch::X86_64),
            "arm64" | "arm64/v8" | "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// A `--platform` value given by the user, or the error that says which ones there are.
    pub fn parse(platform: &str) -> Result<Arch> {
        Arch::from_platform(platform).ok_or_else(|| {
            Error::input(format!("unknown platform `{platform}`"))
                .with_hint("use linux/amd64 (every FC runtime) or linux/arm64")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_in_docker_and_kernel_spelling() {
        for p in ["linux/amd64", "amd64", "x86_64", "linux/x86-64"] {
            assert_eq!(Arch::parse(p).unwrap(), Arch::X86_64, "{p}");
        }
        for p in ["linux/arm64", "linux/arm64/v8", "aarch64"] {
            assert_eq!(Arch::parse(p).unwrap(), Arch::Aarch64, "{p}");
        }
        let e = Arch::parse("linux/s390x").unwrap_err();
        assert_eq!(e.message, "unknown platform `linux/s390x`");
        assert!(e.hint.unwrap().contains("linux/arm64"));
        assert_eq!(Arch::Aarch64.platform(), "linux/arm64");
    }
}
