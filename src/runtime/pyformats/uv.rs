//! `uv.lock` (+ pyproject.toml): walk the graph from the project's own package (the one whose
//! source is `editable = "."` or `virtual = "."`), following only the edges whose marker holds
//! for the target. uv forks a lock per Python version: one name may be locked at several
//! versions, each with its `resolution-markers`; an edge then names the `version` it means.
//! The project itself is not installed; dev groups only with `--with`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use serde::Deserialize;

use super::{Pin, Selection, Target, bad_marker, evaluate, normalize, parse_toml, url_file};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Lock {
    #[allow(dead_code)]
    version: u32,
    requires_python: Option<String>,
    #[serde(default, rename = "package")]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    resolution_markers: Vec<String>,
    #[serde(default)]
    dependencies: Vec<Dep>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dep>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<Dep>>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize, Clone)]
struct Dep {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    url: Option<String>,
    path: Option<String>,
    filename: Option<String>,
    hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    #[serde(default)]
    requires_dist: Vec<MetaReq>,
}

#[derive(Deserialize)]
struct MetaReq {
    name: String,
    specifier: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
}

impl Package {
    fn is_root(&self) -> bool {
        ["editable", "virtual"]
            .iter()
            .any(|k| self.source.get(*k).and_then(|v| v.as_str()) == Some("."))
    }

    fn source_kind(&self) -> &str {
        self.source.keys().next().map_or("", String::as_str)
    }
}

/// The pins of `path` (a uv.lock) for the target.
pub(super) fn pins(path: &Path, sel: &Selection, target: &Target) -> Result<Vec<Pin>> {
    let (lock, text): (Lock, String) = parse_toml(path)?;
    super::check_requires_python(path, lock.requires_python.as_deref(), target)?;
    let roots: Vec<&Package> = lock.packages.iter().filter(|p| p.is_root()).collect();
    let root = match roots.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::input(format!(
                "{} has no project package (`source = {{ editable = \".\" }}` or `virtual = \".\"`)",
                path.display()
            ))
            .with_hint("run `uv lock` in the folder that holds pyproject.toml"));
        }
        _ => {
            return Err(Error::input(format!(
                "{} is the lock of a uv workspace with several members at the root",
                path.display()
            ))
            .with_hint("build one member's folder with its own lock, or export it: uv export --format pylock.toml"));
        }
    };
    check_fresh(path, root)?;
    let index_names = super::index::uv_names(path);
    let env = target.env(sel, &[]);
    let holds = |m: &Option<String>| -> Result<bool> {
        match m {
            None => Ok(true),
            Some(m) => evaluate(m, &env).map_err(|why| bad_marker(path, &text, m, why)),
        }
    };
    let mut start: Vec<Dep> = root.dependencies.clone();
    for extra in &sel.extras {
        let deps = root
            .optional_dependencies
            .iter()
            .find(|(k, _)| normalize(k) == normalize(extra))
            .ok_or_else(|| unknown(path, "extra", extra, root.optional_dependencies.keys()))?;
        start.extend(deps.1.iter().cloned());
    }
    for group in &sel.groups {
        let deps = root
            .dev_dependencies
            .iter()
            .find(|(k, _)| normalize(k) == normalize(group))
            .ok_or_else(|| unknown(path, "group", group, root.dev_dependencies.keys()))?;
        start.extend(deps.1.iter().cloned());
    }
    let mut queue: VecDeque<Dep> = start.into();
    let mut seen: BTreeSet<(String, String, Vec<String>)> = BTreeSet::new();
    let mut pins = Vec::new();
    while let Some(dep) = queue.pop_front() {
        if !holds(&dep.marker)? {
            continue;
        }
        let pkg = choose(&lock.packages, &dep, path, &text, &env)?;
        let version = pkg.version.clone().unwrap_or_default();
        let key = (normalize(&pkg.name), version.clone(), dep.extra.clone());
        if !seen.insert(key) {
            continue;
        }
        if pkg.is_root() {
            continue;
        }
        pins.push(pin_of(pkg, path, &index_names)?);
        queue.extend(pkg.dependencies.iter().cloned());
        for extra in &dep.extra {
            if let Some(deps) = pkg.optional_dependencies.get(extra) {
                queue.extend(deps.iter().cloned());
            }
        }
    }
    super::finish_pins(pins, path)
}

/// The package an edge leads to: the version it names, else the one fork whose resolution
/// markers hold for the target.
fn choose<'a>(
    packages: &'a [Package],
    dep: &Dep,
    path: &Path,
    text: &str,
    env: &super::Env,
) -> Result<&'a Package> {
    let named: Vec<&Package> = packages
        .iter()
        .filter(|p| normalize(&p.name) == normalize(&dep.name))
        .filter(|p| dep.version.is_none() || p.version == dep.version)
        .collect();
    if named.len() == 1 {
        return Ok(named[0]);
    }
    for p in &named {
        let mut fits = p.resolution_markers.is_empty();
        for m in &p.resolution_markers {
            fits |= evaluate(m, env).map_err(|why| bad_marker(path, text, m, why))?;
        }
        if fits {
            return Ok(p);
        }
    }
    Err(Error::input(format!(
        "{}: the dependency on {} leads to {} locked packages, none for this runtime",
        path.display(),
        dep.name,
        named.len()
    ))
    .with_hint("the lock is incomplete or out of date: run `uv lock`"))
}

fn pin_of(pkg: &Package, path: &Path, index_names: &[(String, String)]) -> Result<Pin> {
    if pkg.source_kind() != "registry" {
        return Err(Error::input(format!(
            "{}: {} comes from a {} source ({}), not a package index",
            path.display(),
            pkg.name,
            pkg.source_kind(),
            pkg.source
                .values()
                .next()
                .and_then(|v| v.as_str())
                .unwrap_or("?")
        ))
        .with_hint("fclayer installs locked packages from an index with their hashes; publish the package to an index, or build it into a wheel and use a requirements.txt"));
    }
    let mut hashes = Vec::new();
    let mut files = Vec::new();
    for f in pkg.sdist.iter().chain(&pkg.wheels) {
        if let Some(h) = &f.hash {
            hashes.push(h.clone());
        }
        let name = f
            .filename
            .clone()
            .or_else(|| f.url.as_deref().or(f.path.as_deref()).map(url_file));
        files.extend(name);
    }
    let index = pkg
        .source
        .get("registry")
        .and_then(|v| v.as_str())
        .and_then(|url| super::index::uv(url, index_names));
    Ok(Pin {
        name: pkg.name.clone(),
        version: pkg.version.clone().unwrap_or_default(),
        hashes,
        files,
        index,
    })
}

fn unknown<'a>(
    path: &Path,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> Error {
    let known: Vec<&str> = known.map(String::as_str).collect();
    Error::input(format!(
        "{} has no {what} `{name}` for the project",
        path.display()
    ))
    .with_details([format!(
        "{what}s in the lock: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )])
}

/// A lock whose project requirements differ from pyproject.toml's is stale: uv itself refuses
/// it with `--locked`.
fn check_fresh(path: &Path, root: &Package) -> Result<()> {
    let manifest = super::sibling(path, "pyproject.toml");
    if !manifest.is_file() {
        return Err(Error::input(format!(
            "{} has no pyproject.toml beside it",
            path.display()
        ))
        .with_hint("a uv.lock is read with its pyproject.toml; keep both in the project folder"));
    }
    let declared = super::pyproject::declared(&manifest)?;
    let locked: BTreeSet<(String, String, Vec<String>)> = root
        .metadata
        .iter()
        .flat_map(|m| &m.requires_dist)
        .map(|r| {
            let spec = super::parse_req(&format!("x {}", r.specifier.as_deref().unwrap_or("")))
                .map(|q| q.spec)
                .unwrap_or_default();
            let mut extras: Vec<String> = r.extras.iter().map(|e| normalize(e)).collect();
            extras.sort();
            (normalize(&r.name), spec, extras)
        })
        .collect();
    let missing: Vec<String> = declared
        .difference(&locked)
        .map(|(n, s, _)| format!("{n}{s}"))
        .collect();
    let extra: Vec<String> = locked
        .difference(&declared)
        .map(|(n, s, _)| format!("{n}{s}"))
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let mut details = Vec::new();
    if !missing.is_empty() {
        details.push(format!(
            "in pyproject.toml, not in the lock: {}",
            missing.join(", ")
        ));
    }
    if !extra.is_empty() {
        details.push(format!(
            "in the lock, no longer in pyproject.toml: {}",
            extra.join(", ")
        ));
    }
    Err(Error::input(format!(
        "{} is out of date with {}",
        path.display(),
        manifest.display()
    ))
    .with_details(details)
    .with_hint("run `uv lock` and commit the updated uv.lock"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, pinned, target};
    use super::super::{Selection, read};
    use crate::runtime::Arch;

    #[test]
    fn uv_locks_give_the_pins_of_the_runtime_without_dev_or_the_project() {
        let t = target("python3.9", Arch::X86_64);
        let input = read(&fixture("uv"), None, &Selection::default(), &t).unwrap();
        assert_eq!(pinned(&input), ["six==1.17.0", "tomli==2.5.0"]);
        let text = input.generated.as_deref().unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("six==1.17.0 --hash=sha256:")),
            "{text}"
        );
        assert!(
            !text.contains("pytest") && !text.contains("fc-uv-demo"),
            "{text}"
        );
        assert!(!text.contains("python_"), "no markers left: {text}");
        // tomli is only for Python < 3.11.
        let t312 = target("python3.12", Arch::X86_64);
        let input = read(&fixture("uv"), None, &Selection::default(), &t312).unwrap();
        assert_eq!(pinned(&input), ["six==1.17.0"]);
        let dev = Selection {
            groups: vec!["dev".into()],
            extras: vec![],
        };
        let input = read(&fixture("uv"), None, &dev, &t).unwrap();
        let names = pinned(&input);
        assert!(names.contains(&"pytest==8.4.2".to_string()), "{names:?}");
        let input = read(&fixture("uv"), None, &dev, &t312).unwrap();
        assert!(pinned(&input).contains(&"pytest==9.2.0".to_string()));
        let attrs = Selection {
            groups: vec![],
            extras: vec!["attrs".into()],
        };
        let input = read(&fixture("uv"), None, &attrs, &t).unwrap();
        assert_eq!(
            pinned(&input),
            ["attrs==26.1.0", "six==1.17.0", "tomli==2.5.0"]
        );
    }

    #[test]
    fn uv_forks_pick_the_version_locked_for_the_runtimes_python() {
        let v = |rt: &str| {
            let input = read(
                &fixture("uv-fork"),
                None,
                &Selection::default(),
                &target(rt, Arch::X86_64),
            )
            .unwrap();
            pinned(&input)
        };
        assert_eq!(v("python3.9"), ["numpy==2.0.2"]);
        assert_eq!(v("python3.10"), ["numpy==2.2.6"]);
        assert_eq!(v("custom.debian12"), ["numpy==2.4.6"]);
        assert_eq!(v("python3.12"), ["numpy==2.5.5"]);
    }

    #[test]
    fn a_stale_or_broken_uv_lock_fails_before_any_container() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture("uv").join("uv.lock"), dir.path().join("uv.lock")).unwrap();
        let pyproject = std::fs::read_to_string(fixture("uv").join("pyproject.toml")).unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            pyproject.replace("\"six>=1.16\",", "\"six>=1.16\",\n    \"idna\","),
        )
        .unwrap();
        let t = target("python3.9", Arch::X86_64);
        let e = read(dir.path(), None, &Selection::default(), &t).unwrap_err();
        assert!(e.message.contains("out of date"), "{}", e.message);
        assert!(e.details[0].contains("idna"), "{:?}", e.details);
        assert!(e.hint.unwrap().contains("uv lock"));
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        let lock = std::fs::read_to_string(fixture("uv").join("uv.lock")).unwrap();
        std::fs::write(
            dir.path().join("uv.lock"),
            lock.replacen(
                "[[package]]\nname = \"colorama\"",
                "[[package]]\nname = colorama",
                1,
            ),
        )
        .unwrap();
        let e = read(dir.path(), None, &Selection::default(), &t).unwrap_err();
        assert!(
            e.message
                .contains("uv.lock:19:8: string values must be quoted"),
            "{}",
            e.message
        );
        let e = read(
            &fixture("uv"),
            None,
            &Selection {
                groups: vec!["docs".into()],
                extras: vec![],
            },
            &t,
        )
        .unwrap_err();
        assert!(e.message.contains("no group `docs`"), "{}", e.message);
        let e = read(
            &fixture("uv"),
            None,
            &Selection::default(),
            &target("python3.6", Arch::X86_64),
        )
        .unwrap_err();
        assert!(
            e.message.contains("locked for Python >=3.9"),
            "{}",
            e.message
        );
    }
}
