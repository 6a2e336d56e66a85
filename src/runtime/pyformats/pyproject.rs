//! `pyproject.toml`: PEP 621 `[project].dependencies` (and `optional-dependencies` by
//! `--extras`), for a project with no lock (resolved at build time, like a requirements file) and
//! as the manifest a uv or Poetry lock is compared with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::{Req, Selection, Target, evaluate, normalize, parse_req, parse_toml};
use crate::error::{Error, Result};

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(super) struct Pyproject {
    pub project: Option<Project>,
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub dependency_groups: BTreeMap<String, Vec<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(super) struct Project {
    pub dependencies: Option<Vec<String>>,
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
pub(super) struct Tool {
    pub poetry: Option<toml::Table>,
}

pub(super) fn load(path: &Path) -> Result<(Pyproject, String)> {
    parse_toml(path)
}

/// Parse one PEP 508 string of `path`, or say where it is.
pub(super) fn req(path: &Path, text: &str, s: &str) -> Result<Req> {
    parse_req(s).map_err(|why| {
        Error::input(format!(
            "{}:{}: {why}",
            path.display(),
            super::line_of(text, s)
        ))
        .with_hint("each dependency is a PEP 508 string, e.g. \"requests>=2.31\"")
    })
}

/// Every requirement pyproject.toml declares for the project (main and optional), as
/// (name, specifiers, extras): what a uv lock records in its `requires-dist`.
pub(super) fn declared(path: &Path) -> Result<BTreeSet<(String, String, Vec<String>)>> {
    let (py, text) = load(path)?;
    let project = py.project.unwrap_or_default();
    let mut out = BTreeSet::new();
    let all = project
        .dependencies
        .iter()
        .flatten()
        .chain(project.optional_dependencies.values().flatten());
    for s in all {
        let r = req(path, &text, s)?;
        let mut extras = r.extras.clone();
        extras.sort();
        out.insert((normalize(&r.name), r.spec, extras));
    }
    Ok(out)
}

/// The requirement lines of a project with no lock: markers evaluated for the target, the false
/// ones left out, the true ones written without them.
pub(super) fn requirements(path: &Path, sel: &Selection, target: &Target) -> Result<Vec<String>> {
    let (py, text) = load(path)?;
    let Some(project) = py.project else {
        let hint = if py.tool.poetry.is_some() {
            "this is a Poetry project: run `poetry lock` and build with its poetry.lock"
        } else {
            "declare the dependencies in a [project] table (PEP 621), or use a requirements.txt"
        };
        return Err(Error::input(format!(
            "{} has no [project] table, so no dependencies to install",
            path.display()
        ))
        .with_hint(hint));
    };
    let mut strings: Vec<&String> = project.dependencies.iter().flatten().collect();
    for extra in &sel.extras {
        let deps = project
            .optional_dependencies
            .iter()
            .find(|(k, _)| normalize(k) == normalize(extra))
            .ok_or_else(|| {
                let known: Vec<&str> = project
                    .optional_dependencies
                    .keys()
                    .map(String::as_str)
                    .collect();
                Error::input(format!("{} has no extra `{extra}`", path.display())).with_details([
                    format!(
                        "[project.optional-dependencies] declares: {}",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ])
            })?;
        strings.extend(deps.1);
    }
    if strings.is_empty() {
        return Err(Error::input(format!(
            "{} declares no [project].dependencies",
            path.display()
        ))
        .with_hint("list what the layer should hold in [project].dependencies"));
    }
    let env = target.env(sel, &[]);
    let mut out = Vec::new();
    for s in strings {
        let r = req(path, &text, s)?;
        let keep = match &r.marker {
            None => true,
            Some(m) => evaluate(m, &env).map_err(|why| super::bad_marker(path, &text, m, why))?,
        };
        if keep {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, target};
    use super::super::{Format, Selection, read};
    use crate::runtime::Arch;

    #[test]
    fn a_bare_pyproject_becomes_requirements_with_markers_evaluated() {
        let t = target("python3.9", Arch::X86_64);
        let input = read(&fixture("pyproject"), None, &Selection::default(), &t).unwrap();
        assert_eq!(input.format, Format::Pyproject);
        assert!(!input.locked());
        let text = input.generated.unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            ["six>=1.16", "tomli>=2"],
            "colorama is for Windows only"
        );
        let t312 = target("python3.12", Arch::X86_64);
        let extras = Selection {
            groups: vec![],
            extras: vec!["attrs".into()],
        };
        let text = read(&fixture("pyproject"), None, &extras, &t312)
            .unwrap()
            .generated
            .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["six>=1.16", "attrs>=23"]);
        let bad = Selection {
            groups: vec![],
            extras: vec!["nope".into()],
        };
        let e = read(&fixture("pyproject"), None, &bad, &t).unwrap_err();
        assert!(
            e.message.contains("no extra `nope`") && e.details[0].contains("attrs"),
            "{e:?}"
        );
    }
}
