//! `poetry.lock` (+ pyproject.toml, with or without `package-mode = false`). Poetry 2 writes for
//! each package the groups that need it and, per group, the marker under which they do
//! (lock-version 2.1): a package is installed when one of the selected groups (`main`, plus
//! `--with`) needs it under a marker that holds for the target, the selected extras included.
//! That is the lock's own record of the resolved graph, so no edge needs re-walking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::{Pin, Selection, Target, bad_marker, evaluate, normalize, parse_toml};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Lock {
    #[serde(default, rename = "package")]
    packages: Vec<Package>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    lock_version: Option<String>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    optional: bool,
    groups: Option<Vec<String>>,
    markers: Option<Markers>,
    #[serde(default)]
    files: Vec<File>,
    source: Option<Source>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Markers {
    All(String),
    PerGroup(BTreeMap<String, String>),
}

#[derive(Deserialize)]
struct File {
    file: String,
    hash: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    reference: Option<String>,
}

/// The pins of `path` (a poetry.lock) for the target and the selected groups and extras.
pub(super) fn pins(path: &Path, sel: &Selection, target: &Target) -> Result<Vec<Pin>> {
    let (lock, text): (Lock, String) = parse_toml(path)?;
    let version = lock
        .metadata
        .and_then(|m| m.lock_version)
        .unwrap_or_default();
    if lock.packages.iter().any(|p| p.groups.is_none()) {
        return Err(Error::input(format!(
            "{} was written by Poetry 1 (lock-version {version}), which does not record each package's groups",
            path.display()
        ))
        .with_hint("run `poetry lock` with Poetry 2 (lock-version 2.1), or `poetry export -o requirements.txt` and build that"));
    }
    let mut groups: Vec<String> = vec!["main".into()];
    groups.extend(sel.groups.iter().map(|g| normalize(g)));
    let manifest = super::sibling(path, "pyproject.toml");
    let declared = declared(&manifest, &groups, sel)?;
    let locked: BTreeSet<String> = lock.packages.iter().map(|p| normalize(&p.name)).collect();
    let missing: Vec<&String> = declared.iter().filter(|d| !locked.contains(*d)).collect();
    if !missing.is_empty() {
        return Err(Error::input(format!(
            "{} is out of date with {}",
            path.display(),
            manifest.display()
        ))
        .with_details([format!(
            "in pyproject.toml, not in the lock: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )])
        .with_hint("run `poetry lock` and commit the updated poetry.lock"));
    }
    let env = target.env(sel, &[]);
    let mut pins = Vec::new();
    for p in &lock.packages {
        let mut needed = false;
        for g in p.groups.iter().flatten() {
            if !groups.contains(&normalize(g)) {
                continue;
            }
            let marker = match &p.markers {
                None => None,
                Some(Markers::All(m)) => Some(m.as_str()),
                Some(Markers::PerGroup(by)) => by.get(g).map(String::as_str),
            };
            if p.optional && marker.is_none() {
                continue;
            }
            needed |= match marker {
                None => true,
                Some(m) => evaluate(m, &env).map_err(|why| bad_marker(path, &text, m, why))?,
            };
        }
        if needed {
            pins.push(pin_of(p, path)?);
        }
    }
    super::finish_pins(pins, path)
}

fn pin_of(p: &Package, path: &Path) -> Result<Pin> {
    if let Some(s) = &p.source
        && !matches!(s.kind.as_str(), "legacy" | "pypi")
    {
        return Err(Error::input(format!(
            "{}: {} comes from a {} source ({}), not a package index",
            path.display(),
            p.name,
            s.kind,
            s.url.as_deref().unwrap_or("?")
        ))
        .with_hint("fclayer installs locked packages from an index with their hashes; publish the package to an index, or build it into a wheel and use a requirements.txt"));
    }
    Ok(Pin {
        name: p.name.clone(),
        version: p.version.clone(),
        hashes: p.files.iter().map(|f| f.hash.clone()).collect(),
        files: p.files.iter().map(|f| f.file.clone()).collect(),
        index: p
            .source
            .as_ref()
            .filter(|s| s.kind == "legacy")
            .and_then(|s| super::index::poetry(s.url.as_deref()?, s.reference.as_deref())),
    })
}

/// The names pyproject.toml declares for the selected groups and extras (`[project]` or
/// `[tool.poetry]`), each of which the lock must hold. Unknown groups and extras are errors.
fn declared(manifest: &Path, groups: &[String], sel: &Selection) -> Result<BTreeSet<String>> {
    if !manifest.is_file() {
        return Err(Error::input(format!(
            "{} has no pyproject.toml beside it",
            manifest
                .parent()
                .unwrap_or(Path::new("."))
                .join("poetry.lock")
                .display()
        ))
        .with_hint(
            "a poetry.lock is read with its pyproject.toml; keep both in the project folder",
        ));
    }
    let (py, text) = super::pyproject::load(manifest)?;
    let mut names = BTreeSet::new();
    let project = py.project.unwrap_or_default();
    for s in project.dependencies.iter().flatten() {
        names.insert(normalize(&super::pyproject::req(manifest, &text, s)?.name));
    }
    let poetry = py.tool.poetry.unwrap_or_default();
    let table_names = |t: Option<&toml::Value>| -> Vec<String> {
        t.and_then(|v| v.as_table())
            .map(|t| {
                t.keys()
                    .filter(|k| *k != "python")
                    .map(|k| normalize(k))
                    .collect()
            })
            .unwrap_or_default()
    };
    names.extend(table_names(poetry.get("dependencies")));
    let poetry_groups = poetry.get("group").and_then(|g| g.as_table());
    for g in groups.iter().filter(|g| *g != "main") {
        let in_poetry = poetry_groups.and_then(|t| t.iter().find(|(k, _)| normalize(k) == *g));
        let in_pep735 = py
            .dependency_groups
            .iter()
            .find(|(k, _)| normalize(k) == *g);
        match (in_poetry, in_pep735) {
            (None, None) => {
                let mut known: Vec<String> = poetry_groups
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                known.extend(py.dependency_groups.keys().cloned());
                return Err(Error::input(format!(
                    "{} has no dependency group `{g}`",
                    manifest.display()
                ))
                .with_details([format!(
                    "groups: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )]));
            }
            (Some((_, t)), _) => names.extend(table_names(t.get("dependencies"))),
            (None, Some((_, list))) => {
                for s in list.iter().filter_map(|v| v.as_str()) {
                    names.insert(normalize(&super::pyproject::req(manifest, &text, s)?.name));
                }
            }
        }
    }
    extra_names(manifest, &text, &project, &poetry, sel, &mut names)?;
    Ok(names)
}

/// The names the selected extras add (`[project.optional-dependencies]` or `[tool.poetry.extras]`).
fn extra_names(
    manifest: &Path,
    text: &str,
    project: &super::pyproject::Project,
    poetry: &toml::Table,
    sel: &Selection,
    names: &mut BTreeSet<String>,
) -> Result<()> {
    let poetry_extras = poetry.get("extras").and_then(|e| e.as_table());
    for e in &sel.extras {
        let pep621 = project
            .optional_dependencies
            .iter()
            .find(|(k, _)| normalize(k) == normalize(e));
        let tool = poetry_extras.and_then(|t| t.iter().find(|(k, _)| normalize(k) == normalize(e)));
        match (pep621, tool) {
            (Some((_, list)), _) => {
                for s in list {
                    names.insert(normalize(&super::pyproject::req(manifest, text, s)?.name));
                }
            }
            (None, Some((_, v))) => {
                names.extend(
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|n| n.as_str())
                        .map(normalize),
                );
            }
            (None, None) => {
                return Err(
                    Error::input(format!("{} has no extra `{e}`", manifest.display())).with_hint(
                        "extras come from [project.optional-dependencies] or [tool.poetry.extras]",
                    ),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, pinned, target};
    use super::super::{Selection, read};
    use crate::runtime::Arch;

    #[test]
    fn poetry_locks_give_the_main_group_unless_more_is_selected() {
        let t = target("python3.9", Arch::X86_64);
        let input = read(&fixture("poetry"), None, &Selection::default(), &t).unwrap();
        assert_eq!(
            pinned(&input),
            [
                "certifi==2026.10.19.post1",
                "charset-normalizer==3.5.3",
                "idna==3.20",
                "requests==2.32.5",
                "tomli==2.5.0",
                "urllib3==2.6.3"
            ]
        );
        let text = input.generated.unwrap();
        assert!(
            !text.contains("pytest") && !text.contains("pyyaml") && !text.contains("six"),
            "{text}"
        );
        let t312 = target("python3.12", Arch::X86_64);
        let input = read(&fixture("poetry"), None, &Selection::default(), &t312).unwrap();
        assert!(!pinned(&input).iter().any(|p| p.starts_with("tomli")));
        let more = Selection {
            groups: vec!["extra".into()],
            extras: vec!["yaml".into()],
        };
        let names = pinned(&read(&fixture("poetry"), None, &more, &t).unwrap());
        assert!(
            names.contains(&"six==1.17.0".into())
                && names.iter().any(|n| n.starts_with("pyyaml==")),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.starts_with("pytest")));
        let dev = Selection {
            groups: vec!["dev".into()],
            extras: vec![],
        };
        let names = pinned(&read(&fixture("poetry"), None, &dev, &t).unwrap());
        assert!(names.iter().any(|n| n.starts_with("pytest==")), "{names:?}");
        assert!(
            !names.iter().any(|n| n.starts_with("colorama")),
            "colorama is for Windows: {names:?}"
        );
        let bad = Selection {
            groups: vec!["docs".into()],
            extras: vec![],
        };
        let e = read(&fixture("poetry"), None, &bad, &t).unwrap_err();
        assert!(
            e.message.contains("no dependency group `docs`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn classic_tool_poetry_dependencies_are_checked_against_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("poetry").join("poetry.lock"),
            dir.path().join("poetry.lock"),
        )
        .unwrap();
        let classic = "[tool.poetry]\nname = \"x\"\nversion = \"1\"\n\n[tool.poetry.dependencies]\npython = \"^3.9\"\nrequests = \">=2.31\"\n";
        std::fs::write(dir.path().join("pyproject.toml"), classic).unwrap();
        let t = target("python3.9", Arch::X86_64);
        let input = read(dir.path(), None, &Selection::default(), &t).unwrap();
        assert!(pinned(&input).contains(&"requests==2.32.5".to_string()));
        let stale = classic.replace("requests = ", "Flask = \"*\"\nrequests = ");
        std::fs::write(dir.path().join("pyproject.toml"), stale).unwrap();
        let e = read(dir.path(), None, &Selection::default(), &t).unwrap_err();
        assert!(e.details[0].contains("flask"), "{:?}", e.details);
    }

    #[test]
    fn a_poetry_lock_missing_a_declared_dependency_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("poetry").join("poetry.lock"),
            dir.path().join("poetry.lock"),
        )
        .unwrap();
        let py = std::fs::read_to_string(fixture("poetry").join("pyproject.toml")).unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            py.replace("\"requests>=2.31\",", "\"requests>=2.31\",\n    \"attrs\","),
        )
        .unwrap();
        let e = read(
            dir.path(),
            None,
            &Selection::default(),
            &target("python3.9", Arch::X86_64),
        )
        .unwrap_err();
        assert!(e.message.contains("out of date"), "{}", e.message);
        assert!(e.details[0].contains("attrs"));
        assert!(e.hint.unwrap().contains("poetry lock"));
    }

    #[test]
    fn a_package_from_a_legacy_source_brings_its_index_into_the_generated_file() {
        let dir = tempfile::tempdir().unwrap();
        let lock = std::fs::read_to_string(fixture("poetry").join("poetry.lock")).unwrap();
        let at = lock
            .find("name = \"requests\"")
            .expect("requests is locked");
        let next = at
            + lock[at..]
                .find("\n[[package]]")
                .expect("a package after it");
        let source = "\n[package.source]\ntype = \"legacy\"\nurl = \"https://pkgs.corp.example/simple\"\nreference = \"corp\"\n";
        let lock = format!("{}{source}{}", &lock[..next], &lock[next..]);
        std::fs::write(dir.path().join("poetry.lock"), lock).unwrap();
        std::fs::copy(
            fixture("poetry").join("pyproject.toml"),
            dir.path().join("pyproject.toml"),
        )
        .unwrap();
        let t = target("python3.9", Arch::X86_64);
        let input = read(dir.path(), None, &Selection::default(), &t).unwrap();
        let text = input.generated.as_deref().unwrap();
        assert_eq!(
            text.matches("--extra-index-url https://pkgs.corp.example/simple\n")
                .count(),
            1,
            "{text}"
        );
        // No POETRY_HTTP_BASIC_CORP_* set here: no login, nothing to trust (https).
        assert!(input.netrc.is_none() && input.trusted_hosts.is_empty());
        assert!(
            input
                .describe(&t)
                .contains(", from https://pkgs.corp.example/simple")
        );
    }
}
