//! Node.js layers: the project's package manager (npm, pnpm, Yarn classic or berry: see
//! `node_pm`) installs package.json's production dependencies into `/opt/nodejs/node_modules`
//! (frozen to the lockfile when there is one), building native addons with the runtime's Node
//! headers (images/install/node.sh, images/install/node-pm.sh). Per-platform optional packages
//! that do not match the target (linux, its cpu, glibc) are removed after the install
//! (images/install/node-platform.js): npm before 10 does not know libc and installs both of
//! sharp's `@img/sharp-linux-x64` and `@img/sharp-linuxmusl-x64`.

use std::path::Path;

use super::node_pm::{self, Manager};
use super::project_text::check_json_manifest;
use super::{Arch, Debian, Lang, Language, RUNTIMES, ReadEntry, Runtime};
use crate::error::{Error, Result};

pub static LANGUAGE: Language = Language {
    name: "node",
    installer: "npm",
    project_files: &["package.json"],
    layer_dirs: &["nodejs"],
    search_path: "nodejs/node_modules/",
    default_runtime: "nodejs20",
    runs_on: |rt| rt.node.is_some() || brings_own_node(rt),
    check: check_package_json,
    versions,
};

/// package.json, and package-lock.json when there is one, must be JSON objects with their
/// dependency maps as objects; the package manager they call for must be one fclayer runs.
pub fn check_package_json(path: &Path) -> Result<()> {
    manager(path).map(|_| ())
}

/// The checked package.json's package manager (`node_pm::detect`).
fn manager(path: &Path) -> Result<Manager> {
    let value = check_json_manifest(
        path,
        &["dependencies", "optionalDependencies", "devDependencies"],
    )?;
    let lock = path.with_file_name("package-lock.json");
    if lock.is_file() {
        check_json_manifest(&lock, &[])?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    node_pm::detect(dir, &value)
}

/// The checks that need the runtime: the Node.js to build for is known, and runs the package
/// manager asked for.
pub fn check_for_runtime(project: &Path, runtime: &Runtime, asked: Option<&str>) -> Result<()> {
    let m = manager(&project.join("package.json"))?;
    let node = node_for(runtime, project, asked)?;
    node_pm::check_node(&m, runtime.name, node.full)
}

/// Custom runtimes on Debian 11 and 12 carry no Node.js: their functions bring their own
/// (often FC's official Node.js layer), and the layer is built for the major they name.
fn brings_own_node(rt: &Runtime) -> bool {
    rt.custom && rt.node.is_none() && rt.debian >= Debian::Bullseye
}

/// The Node.js a layer is built for: the runtime's; for a runtime that brings none, the major
/// the user names (`--node`, `node` in fclayer.toml), else the one package.json's
/// `engines.node` names (its lowest: `>=18`, `18.x`, `^18.12` and `18 || 20` are 18), at the
/// release FC's own runtime of that major runs.
pub fn node_for(runtime: &Runtime, project: &Path, asked: Option<&str>) -> Result<Lang> {
    let majors: Vec<Lang> = RUNTIMES
        .iter()
        .filter(|r| !r.custom)
        .filter_map(|r| r.node)
        .collect();
    let names: Vec<&str> = majors.iter().map(|l| l.version).collect();
    if let Some(node) = runtime.node {
        return match asked {
            Some(m) if m != node.version => Err(Error::input(format!(
                "Node.js {m} asked for (--node, or `node` in fclayer.toml), but {} runs Node.js {}",
                runtime.name, node.version
            ))
            .with_hint(
                "--node is for custom runtimes, which bring no Node.js; choose the runtime of that Node.js instead, e.g. --runtime nodejs20",
            )),
            _ => Ok(node),
        };
    }
    if let Some(m) = asked {
        return majors.into_iter().find(|l| l.version == m).ok_or_else(|| {
            Error::input(format!(
                "Node.js {m} (--node, or `node` in fclayer.toml): not a major fclayer builds for"
            ))
            .with_hint(format!("give one of {}", names.join(", ")))
        });
    }
    let path = project.join("package.json");
    let value: serde_json::Value =
        serde_json::from_str(&super::project_text::read_text(&path)?).unwrap_or_default();
    let range = value["engines"]["node"].as_str().unwrap_or_default();
    let major: String = range
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    majors.into_iter().find(|l| l.version == major).ok_or_else(|| {
        let what = if range.is_empty() {
            format!("{} names no engines.node", path.display())
        } else {
            format!(
                "{}: engines.node {range:?} is not a Node.js major fclayer builds for",
                path.display()
            )
        };
        Error::input(format!("{} brings no Node.js of its own, and {what}", runtime.name))
            .with_hint(format!(
                "name the Node.js your function runs: --node 18 (or `node = \"18\"` in fclayer.toml), or in package.json \"engines\": {{\"node\": \"18\"}} (one of {})",
                names.join(", ")
            ))
    })
}

/// Installed packages: the package.json at the root of each package below
/// `nodejs/node_modules/`, labelled by its name, or by its path when that differs (a nested
/// copy: `a/node_modules/b`).
pub fn versions(name: &str, read: ReadEntry<'_>) -> Vec<(String, String)> {
    let Some(rest) = name.strip_prefix("nodejs/node_modules/") else {
        return Vec::new();
    };
    if !rest.ends_with("/package.json") || rest.contains("/test/") || !is_package_root(rest) {
        return Vec::new();
    }
    let Some(v) = super::json_entry(read) else {
        return Vec::new();
    };
    let (Some(n), Some(ver)) = (v["name"].as_str(), v["version"].as_str()) else {
        return Vec::new();
    };
    let key = rest.trim_end_matches("/package.json");
    // pnpm's symlinked layout keeps each package once, in `.pnpm/<name>@<version>/node_modules/
    // <name>`: that is the package itself, not a nested copy.
    let in_pnpm_store = key.starts_with(".pnpm/") && key.ends_with(&format!("/node_modules/{n}"));
    let label = if key == n || in_pnpm_store { n } else { key };
    vec![(label.to_string(), ver.to_string())]
}

/// `<pkg>/package.json`, `@scope/<pkg>/package.json`, or either below a nested node_modules;
/// not the package.json files some packages keep in their own subfolders.
fn is_package_root(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [_, "package.json"] => true,
        [s, _, "package.json"] => s.starts_with('@'),
        _ => {
            rest.contains("/node_modules/") && {
                let tail = rest.rsplit_once("/node_modules/").map_or("", |(_, t)| t);
                let t: Vec<&str> = tail.split('/').collect();
                matches!(t.as_slice(), [_, "package.json"])
                    || matches!(t.as_slice(), [s, _, "package.json"] if s.starts_with('@'))
            }
        }
    }
}

/// Environment for images/install/node.sh: the Node.js major (and release, which a build image
/// without it installs), and for anything but npm the package manager and its version (the plan
/// checked the project, see `check_package_json` and `check_for_runtime`).
pub fn installer_env(
    runtime: &Runtime,
    project: &Path,
    asked: Option<&str>,
) -> Vec<(String, String)> {
    let Ok(node) = node_for(runtime, project, asked) else {
        return Vec::new();
    };
    let mut env = vec![("FCLAYER_NODE_MAJOR".into(), node.version.into())];
    if runtime.node.is_none() {
        env.push(("FCLAYER_NODE_FULL".into(), node.full.into()));
        env.push(("FCLAYER_NODE_BROUGHT".into(), runtime.name.into()));
    }
    let m = manager(&project.join("package.json"));
    if let Ok(m) = &m
        && m.pm == node_pm::Pm::Npm
        && !m.version.is_empty()
    {
        // packageManager: npm@X: node.sh installs that npm.
        env.push(("FCLAYER_NPM_VERSION".into(), m.version.clone()));
    }
    if let Ok(m) = m
        && m.pm != node_pm::Pm::Npm
    {
        env.push(("FCLAYER_NODE_PM".into(), m.pm.name().into()));
        env.push(("FCLAYER_NODE_PM_VERSION".into(), m.version));
        let linker = if m.isolated { "isolated" } else { "hoisted" };
        env.push(("FCLAYER_PNPM_LINKER".into(), linker.into()));
    }
    env
}

/// What node.sh left in /fclayer/report/node.txt, one note a line: the per-platform packages it
/// removed (images/install/node-platform.js).
pub fn report(text: &str, console: &crate::console::Console) {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        console.note(line.to_string());
    }
}

/// The installer for messages: "npm (Node.js 18)", "pnpm 9.15.9 (Node.js 18)".
pub fn describe(runtime: &Runtime, project: &Path, asked: Option<&str>) -> String {
    let node = node_for(runtime, project, asked).map_or("?", |l| l.version);
    match manager(&project.join("package.json")) {
        Ok(m) if m.pm != node_pm::Pm::Npm || !m.version.is_empty() => format!(
            "{} {} (Node.js {node})",
            m.pm.name_for_messages(),
            m.version
        ),
        _ => format!("npm (Node.js {node})"),
    }
}

// Added by the build/verify restructuring (issue 12): the failure hint, cross-platform fetch and
// verify's package discovery.

/// What to do when the package manager failed.
pub fn installer_hint(runtime: &Runtime, project: &Path) -> String {
    if runtime.node.is_none() {
        return "if Node.js could not be installed into the build container (see above), use a --base-image that has it or a major the release ships (Debian 12: 18); else check package.json and its lockfile, with --verbose for all of the output".into();
    }
    let lock = match manager(&project.join("package.json")).map(|m| m.pm) {
        Ok(node_pm::Pm::Pnpm) => "pnpm-lock.yaml",
        Ok(node_pm::Pm::YarnClassic | node_pm::Pm::YarnBerry) => "yarn.lock",
        _ => "package-lock.json",
    };
    format!(
        "check the names and versions in package.json (and that {lock} matches it); run with --verbose to see all of the package manager's output"
    )
}

/// npm's name for a machine.
pub fn npm_cpu(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x64",
        Arch::Aarch64 => "arm64",
    }
}

/// Environment for the native npm run of a cross-platform build (images/install/node-fetch.sh).
pub fn fetch_env(arch: Arch) -> Vec<(String, String)> {
    vec![("FCLAYER_NPM_CPU".into(), npm_cpu(arch).into())]
}

/// The package `require` finds at a path below `nodejs/node_modules/` of a layer:
/// `bcrypt/package.json` → bcrypt; `@scope/name/package.json` → @scope/name. Type-only
/// packages (@types/*) have nothing to require.
pub fn package_name(rest: &str) -> Option<String> {
    let parts: Vec<&str> = rest.split('/').collect();
    let name = match parts.as_slice() {
        [scope, pkg, "package.json"] if scope.starts_with('@') => format!("{scope}/{pkg}"),
        [pkg, "package.json"] if !pkg.starts_with('.') && !pkg.starts_with('@') => pkg.to_string(),
        _ => return None,
    };
    (!name.starts_with("@types/")).then_some(name)
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    #[test]
    fn node_packages_include_scoped_ones_but_not_types() {
        assert_eq!(
            package_name("bcrypt/package.json").as_deref(),
            Some("bcrypt")
        );
        assert_eq!(
            package_name("@scope/x/package.json").as_deref(),
            Some("@scope/x")
        );
        assert_eq!(package_name("@types/node/package.json"), None);
        assert_eq!(package_name("bcrypt/lib/package.json"), None);
        assert_eq!(package_name(".bin/package.json"), None);
        assert_eq!(npm_cpu(Arch::Aarch64), "arm64");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_reports_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("package.json");
        std::fs::write(
            &p,
            "{\n  \"name\": \"x\",\n  \"dependencies\": {\"a\": \"1\"\n}\n",
        )
        .unwrap();
        let e = check_package_json(&p).unwrap_err();
        assert!(e.message.contains("package.json:5:"), "{}", e.message);
        std::fs::write(&p, "{\"dependencies\": [\"a\"]}").unwrap();
        assert!(
            check_package_json(&p)
                .unwrap_err()
                .message
                .contains("must be an object")
        );
    }

    #[test]
    fn versions_come_from_package_roots_only() {
        let read = |body: &'static str| move || Some(body.as_bytes().to_vec());
        let v = versions(
            "nodejs/node_modules/@scope/x/package.json",
            &mut read(r#"{"name":"@scope/x","version":"1.2.3"}"#),
        );
        assert_eq!(v, vec![("@scope/x".to_string(), "1.2.3".to_string())]);
        let v = versions(
            "nodejs/node_modules/a/node_modules/b/package.json",
            &mut read(r#"{"name":"b","version":"2.0.0"}"#),
        );
        assert_eq!(
            v,
            vec![("a/node_modules/b".to_string(), "2.0.0".to_string())]
        );
        let v = versions(
            "nodejs/node_modules/.pnpm/@img+x@1.0.0/node_modules/@img/x/package.json",
            &mut read(r#"{"name":"@img/x","version":"1.0.0"}"#),
        );
        assert_eq!(v, vec![("@img/x".to_string(), "1.0.0".to_string())]);
        let mut unread = || -> Option<Vec<u8>> { panic!("not a package root") };
        assert!(versions("nodejs/node_modules/a/lib/package.json", &mut unread).is_empty());
        assert!(versions("nodejs/node_modules/a/test/package.json", &mut unread).is_empty());
        assert!(versions("nodejs/node_modules/a/index.js", &mut unread).is_empty());
        assert!(versions("nodejs/node_modules/a/package.json", &mut read("{")).is_empty());
    }
}

#[cfg(test)]
mod custom_runtime_tests {
    use super::*;

    fn project(package_json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), package_json).unwrap();
        dir
    }

    #[test]
    fn custom_runtimes_on_debian_11_and_12_build_for_the_node_engines_names() {
        let d12 = Runtime::find("custom.debian12").unwrap();
        assert!(d12.supports(super::super::Kind::Node));
        assert!(
            Runtime::find("custom.debian11")
                .unwrap()
                .supports(super::super::Kind::Node)
        );
        for range in ["18", ">=18", "18.x", "^18.12.0", "18 || 20", ">= 18 < 21"] {
            let d = project(&format!(r#"{{"engines": {{"node": "{range}"}}}}"#));
            let node = node_for(d12, d.path(), None).unwrap();
            assert_eq!((node.version, node.full), ("18", "18.19.0"), "{range}");
        }
        let env = installer_env(d12, project(r#"{"engines": {"node": "20"}}"#).path(), None);
        assert!(env.contains(&("FCLAYER_NODE_MAJOR".into(), "20".into())));
        assert!(env.contains(&("FCLAYER_NODE_BROUGHT".into(), "custom.debian12".into())));
        // The runtime's own Node.js wins over engines.
        let n18 = Runtime::find("nodejs18").unwrap();
        let d = project(r#"{"engines": {"node": "20"}}"#);
        assert_eq!(node_for(n18, d.path(), None).unwrap().version, "18");
        assert!(
            !installer_env(n18, d.path(), None)
                .iter()
                .any(|(k, _)| k == "FCLAYER_NODE_BROUGHT")
        );
    }

    #[test]
    fn a_custom_runtime_without_a_known_node_major_says_how_to_name_one() {
        let d12 = Runtime::find("custom.debian12").unwrap();
        let e = node_for(d12, project("{}").path(), None).unwrap_err();
        assert!(e.message.contains("names no engines.node"), "{}", e.message);
        assert!(e.hint.unwrap().contains(r#""engines": {"node": "18"}"#));
        let e = node_for(d12, project(r#"{"engines": {"node": "99"}}"#).path(), None).unwrap_err();
        assert!(
            e.message.contains("\"99\" is not a Node.js major"),
            "{}",
            e.message
        );
        // --node wins over engines.node, and is refused where the runtime has its own Node.js.
        let d = project(r#"{"engines": {"node": "18"}}"#);
        assert_eq!(node_for(d12, d.path(), Some("20")).unwrap().full, "20.10.0");
        let e = node_for(d12, d.path(), Some("7")).unwrap_err();
        assert!(e.message.contains("Node.js 7 (--node"), "{}", e.message);
        let n18 = Runtime::find("nodejs18").unwrap();
        assert!(node_for(n18, d.path(), Some("18")).is_ok());
        let e = node_for(n18, d.path(), Some("20")).unwrap_err();
        assert!(
            e.message.contains("nodejs18 runs Node.js 18"),
            "{}",
            e.message
        );
    }
}
