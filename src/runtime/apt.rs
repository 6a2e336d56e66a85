//! System-package layers: apt installs the packages in the build container, their executables go
//! to `/opt/bin` and their shared libraries to `/opt/lib`, then every ELF file's needed libraries
//! are followed and copied in unless the runtime image already has them (images/install/apt.sh).

use std::collections::BTreeMap;
use std::path::Path;

use super::project_text::read_text;
use super::{Language, ReadEntry, Runtime};
use crate::error::{Error, Result};

pub static LANGUAGE: Language = Language {
    name: "apt",
    installer: "apt",
    project_files: &["apt.txt"],
    layer_dirs: &["bin", "lib"],
    search_path: "bin/ lib/",
    default_runtime: "custom.debian10",
    // Every runtime can load executables and libraries from /opt.
    runs_on: |_| true,
    check: |path| read_apt_list(path).map(drop),
    versions,
};

/// Package names from apt.txt: whitespace-separated, `#` starts a comment.
pub fn read_apt_list(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for name in line.split_whitespace() {
            check_apt_name(name).map_err(|why| {
                Error::input(format!("{}:{}: `{name}` {why}", path.display(), i + 1))
                    .with_hint("list Debian package names, e.g. `postgresql-client`")
            })?;
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

/// Debian policy: lower case letters, digits, `+ - .`, at least two characters, starting with
/// a letter or digit; optionally `=VERSION`.
pub fn check_apt_name(spec: &str) -> std::result::Result<(), String> {
    let (name, version) = spec
        .split_once('=')
        .map_or((spec, None), |(n, v)| (n, Some(v)));
    let valid = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err("is not a Debian package name".into());
    }
    if version.is_some_and(|v| v.is_empty() || v.contains(char::is_whitespace)) {
        return Err("has an empty or malformed version after `=`".into());
    }
    Ok(())
}

/// Nothing in the ZIP tells a Debian package's version: the installer reports them
/// ([`parse_versions`]).
pub fn versions(_name: &str, _read: ReadEntry<'_>) -> Vec<(String, String)> {
    Vec::new()
}

/// `package=version` lines (the apt installer's report) as a map.
pub fn parse_versions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

pub fn installer_env(runtime: &Runtime, packages: &[String]) -> Vec<(String, String)> {
    vec![
        ("FCLAYER_APT".into(), packages.join(" ")),
        ("FCLAYER_DEBIAN".into(), runtime.debian.number().to_string()),
    ]
}

// Added by the build/verify restructuring (issue 12): messages, and which ELF files verify loads.

/// What the apt installer installs from, for messages.
pub const SOURCE: &str = "the apt packages";

/// The installer for messages: "apt (Debian 9 (stretch))".
pub fn describe(runtime: &Runtime) -> String {
    format!("apt ({})", runtime.debian)
}

/// What to do when apt failed.
pub fn installer_hint(runtime: &Runtime) -> String {
    format!(
        "check the package names: each must exist in {} for {}; run with --verbose to see all of apt's output",
        runtime.debian,
        runtime.arch()
    )
}

/// ELF files the loader maps, shared objects and programs (what apt's `bin/` and `lib/` hold);
/// object files and archives are not loaded.
pub fn loadable(name: &str) -> bool {
    !(name.ends_with(".o") || name.ends_with(".a") || name.ends_with(".ko"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_lists_take_debian_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("apt.txt");
        std::fs::write(
            &p,
            "# tools\npostgresql-client libpq5=15.10-0+deb12u1\n\nlibc++1\n",
        )
        .unwrap();
        assert_eq!(
            read_apt_list(&p).unwrap(),
            vec!["postgresql-client", "libpq5=15.10-0+deb12u1", "libc++1"]
        );
        std::fs::write(&p, "ok-pkg\nBad_Name\n").unwrap();
        let e = read_apt_list(&p).unwrap_err();
        assert!(
            e.message.contains("apt.txt:2:") && e.message.contains("Bad_Name"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_installer_report_gives_the_versions() {
        let v = parse_versions("libpq5=15.10-0+deb12u1\n\n  curl=7.88.1-10 \nnoise\n");
        assert_eq!(v["libpq5"], "15.10-0+deb12u1");
        assert_eq!(v["curl"], "7.88.1-10");
        assert_eq!(v.len(), 2);
    }
}
