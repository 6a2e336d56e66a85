//! `pylock.toml` (PEP 751): every package whose `marker` holds for the target (with the selected
//! extras and dependency groups, `default-groups` when none is selected), each wheel's and
//! sdist's hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Pin, Selection, Target, bad_marker, evaluate, normalize, parse_toml, url_file};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Lock {
    lock_version: String,
    requires_python: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    #[serde(default)]
    dependency_groups: Vec<String>,
    #[serde(default)]
    default_groups: Vec<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    requires_python: Option<String>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
    archive: Option<toml::Value>,
    /// The index it comes from (PEP 751 `packages.index`).
    index: Option<String>,
}

#[derive(Deserialize)]
struct File {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

pub(super) fn pins(path: &Path, sel: &Selection, target: &Target) -> Result<Vec<Pin>> {
    let (lock, text): (Lock, String) = parse_toml(path)?;
    if !lock.lock_version.starts_with("1.") {
        return Err(Error::input(format!(
            "{}: lock-version {} is not one fclayer reads (1.x)",
            path.display(),
            lock.lock_version
        )));
    }
    super::check_requires_python(path, lock.requires_python.as_deref(), target)?;
    for (what, asked, known) in [
        ("extra", &sel.extras, &lock.extras),
        ("dependency group", &sel.groups, &lock.dependency_groups),
    ] {
        if let Some(bad) = asked
            .iter()
            .find(|a| !known.iter().any(|k| normalize(k) == normalize(a)))
        {
            return Err(
                Error::input(format!("{} has no {what} `{bad}`", path.display())).with_details([
                    format!(
                        "it declares: {}",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ]),
            );
        }
    }
    let groups: Vec<&str> = if sel.groups.is_empty() {
        lock.default_groups.iter().map(String::as_str).collect()
    } else {
        sel.groups.iter().map(String::as_str).collect()
    };
    let env = target.env(sel, &groups);
    let py = target.runtime.python.expect("a Python runtime").full;
    let mut pins = Vec::new();
    for p in &lock.packages {
        pins.extend(pin_of(p, &env, py, path, &text)?);
    }
    super::finish_pins(pins, path)
}

/// A package's pin when its marker and requires-python hold for the target.
fn pin_of(p: &Package, env: &super::Env, py: &str, path: &Path, text: &str) -> Result<Option<Pin>> {
    if let Some(m) = &p.marker
        && !evaluate(m, env).map_err(|why| bad_marker(path, text, m, why))?
    {
        return Ok(None);
    }
    if p.requires_python
        .as_deref()
        .is_some_and(|r| !super::specifier_matches(py, r))
    {
        return Ok(None);
    }
    let (Some(version), None, None, None) = (&p.version, &p.vcs, &p.directory, &p.archive) else {
        return Err(Error::input(format!(
            "{}:{}: {} is not a versioned package from an index (a VCS, directory or archive source)",
            path.display(),
            super::line_of(text, &format!("name = \"{}\"", p.name)),
            p.name
        ))
        .with_hint("fclayer installs locked packages from an index with their hashes; publish the package to an index, or use a requirements.txt"));
    };
    let mut hashes = Vec::new();
    let mut files = Vec::new();
    for f in p.sdist.iter().chain(&p.wheels) {
        if let Some(h) = f.hashes.get("sha256") {
            hashes.push(format!("sha256:{h}"));
        }
        files.extend(
            f.name
                .clone()
                .or_else(|| f.url.as_deref().or(f.path.as_deref()).map(url_file)),
        );
    }
    Ok(Some(Pin {
        name: p.name.clone(),
        version: version.clone(),
        hashes,
        files,
        index: p
            .index
            .as_deref()
            .and_then(|url| super::index::Index::at(url, None)),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, pinned, target};
    use super::super::{Format, Selection, read};
    use crate::runtime::Arch;

    #[test]
    fn pylock_gives_the_packages_of_the_target_environment() {
        let t = target("python3.9", Arch::X86_64);
        let input = read(&fixture("pylock"), None, &Selection::default(), &t).unwrap();
        assert_eq!(input.format, Format::Pylock);
        assert_eq!(pinned(&input), ["six==1.17.0", "tomli==2.5.0"]);
        let text = input.generated.unwrap();
        let tomli = text.lines().find(|l| l.starts_with("tomli==")).unwrap();
        assert!(
            tomli.matches("--hash=sha256:").count() > 10,
            "every wheel's hash: {tomli}"
        );
        let t312 = target("python3.12", Arch::Aarch64);
        assert_eq!(
            pinned(&read(&fixture("pylock"), None, &Selection::default(), &t312).unwrap()),
            ["six==1.17.0"]
        );
        let bad = Selection {
            groups: vec!["dev".into()],
            extras: vec![],
        };
        assert!(
            read(&fixture("pylock"), None, &bad, &t)
                .unwrap_err()
                .message
                .contains("no dependency group `dev`")
        );
    }
}
