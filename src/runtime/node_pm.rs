//! Which Node.js package manager installs a project, read from its files before any container
//! starts: the lockfile (package-lock.json, pnpm-lock.yaml, yarn.lock in its v1 or berry form)
//! and package.json's `packageManager` field (`pnpm@9.15.9+sha512...`). The install itself is
//! images/install/node.sh (npm) and images/install/node-pm.sh (pnpm, Yarn).
//!
//! Everything a user can get wrong here is an input error with what to do: two lockfiles and no
//! `packageManager` to choose, Yarn's Plug'n'Play (it writes no node_modules, so a layer would
//! hold nothing `require` finds), a package manager the runtime's Node.js cannot run, bun.

use std::path::Path;

use super::project_text::read_text;
use crate::error::{Error, Result};

/// The package managers fclayer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pm {
    Npm,
    Pnpm,
    /// Yarn 1 (`# yarn lockfile v1`).
    YarnClassic,
    /// Yarn 2 and later, from npm's `@yarnpkg/cli-dist`.
    YarnBerry,
}

impl Pm {
    /// The name node.sh is told (FCLAYER_NODE_PM).
    pub fn name(self) -> &'static str {
        match self {
            Pm::Npm => "npm",
            Pm::Pnpm => "pnpm",
            Pm::YarnClassic => "yarn",
            Pm::YarnBerry => "berry",
        }
    }

    /// The command, for progress lines: "pnpm 9.15.9".
    pub fn name_for_messages(self) -> &'static str {
        match self {
            Pm::Npm => "npm",
            Pm::Pnpm => "pnpm",
            Pm::YarnClassic | Pm::YarnBerry => "yarn",
        }
    }

    /// For messages.
    pub fn display(self) -> &'static str {
        match self {
            Pm::Npm => "npm",
            Pm::Pnpm => "pnpm",
            Pm::YarnClassic => "Yarn classic",
            Pm::YarnBerry => "Yarn berry",
        }
    }
}

/// The package manager a project uses, its version, and (pnpm) the layout asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    pub pm: Pm,
    /// The version to install (`9.15.9`, or a major such as `9` that npm resolves), empty for
    /// npm: npm is the build image's own.
    pub version: String,
    /// Where the choice came from, for the output: "pnpm-lock.yaml", "packageManager".
    pub from: String,
    /// pnpm's symlinked layout (`node-linker=isolated` in the project's .npmrc): kept as asked.
    pub isolated: bool,
}

/// The lockfiles fclayer knows, and whose they are.
const LOCKFILES: &[(&str, Option<Pm>)] = &[
    ("package-lock.json", Some(Pm::Npm)),
    ("npm-shrinkwrap.json", Some(Pm::Npm)),
    ("pnpm-lock.yaml", Some(Pm::Pnpm)),
    ("yarn.lock", None),
    ("bun.lockb", None),
    ("bun.lock", None),
];

/// Read the project's package manager from the folder of its package.json.
pub fn detect(dir: &Path, package_json: &serde_json::Value) -> Result<Manager> {
    let declared = declared(dir, package_json)?;
    let mut found: Vec<(&str, Pm)> = Vec::new();
    for (file, pm) in LOCKFILES {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let pm = match (*file, pm) {
            (_, Some(pm)) => *pm,
            ("yarn.lock", None) => yarn_flavour(&path)?,
            _ => return Err(bun_refused(dir, file)),
        };
        found.push((file, pm));
    }
    // package-lock.json beside npm-shrinkwrap.json is npm's own affair.
    found.dedup_by_key(|(_, pm)| *pm);
    let (pm, from) = match (found.as_slice(), &declared) {
        ([], None) => (Pm::Npm, "package.json".to_string()),
        ([], Some((pm, _))) if *pm == Pm::Npm => (Pm::Npm, "packageManager".to_string()),
        ([], Some((pm, _))) => return Err(no_lockfile(dir, *pm)),
        ([(file, pm)], None) => (*pm, file.to_string()),
        (several, Some((pm, _))) => match several.iter().find(|(_, p)| p == pm) {
            Some((file, _)) => (*pm, format!("packageManager and {file}")),
            None => return Err(declared_mismatch(dir, *pm, several)),
        },
        (several, None) => return Err(several_lockfiles(dir, several)),
    };
    let version = match &declared {
        Some((d, v)) if *d == pm => v.clone(),
        _ => default_version(dir, pm)?,
    };
    if pm == Pm::YarnBerry {
        check_berry(dir, &version)?;
    }
    let isolated = pm == Pm::Pnpm && pnpm_isolated(dir);
    Ok(Manager {
        pm,
        version,
        from,
        isolated,
    })
}

/// `packageManager`: `name@version`, optionally `+sha...` (Corepack's hash, which fclayer does
/// not check: the tool comes from the npm registry, whose own integrity npm checks).
fn declared(dir: &Path, package_json: &serde_json::Value) -> Result<Option<(Pm, String)>> {
    let Some(field) = package_json.get("packageManager") else {
        return Ok(None);
    };
    let bad = |why: &str| {
        Error::input(format!(
            "{}: packageManager {field}: {why}",
            dir.join("package.json").display()
        ))
        .with_hint("write it as NAME@VERSION, e.g. \"packageManager\": \"pnpm@9.15.9\"")
    };
    let text = field.as_str().ok_or_else(|| bad("not a string"))?;
    let (name, version) = text.split_once('@').ok_or_else(|| bad("no @VERSION"))?;
    let version = version.split('+').next().unwrap_or_default();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-');
    if version.is_empty() || !version.chars().all(plain) || !version.starts_with(char_digit) {
        return Err(bad("the version must be a release, e.g. 9.15.9"));
    }
    let pm = match name {
        "npm" => Pm::Npm,
        "pnpm" => Pm::Pnpm,
        "yarn" if major(version) == Some(1) => Pm::YarnClassic,
        "yarn" => Pm::YarnBerry,
        "bun" => return Err(bun_refused(dir, "packageManager")),
        _ => return Err(bad("fclayer runs npm, pnpm and yarn")),
    };
    Ok(Some((pm, version.to_string())))
}

fn char_digit(c: char) -> bool {
    c.is_ascii_digit()
}

/// The leading number of a version.
pub fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// Yarn 1 writes `# yarn lockfile v1` at the top of yarn.lock; berry writes YAML with
/// `__metadata`.
fn yarn_flavour(path: &Path) -> Result<Pm> {
    let text = read_text(path)?;
    let head: Vec<&str> = text.lines().take(5).collect();
    Ok(if head.iter().any(|l| l.trim() == "# yarn lockfile v1") {
        Pm::YarnClassic
    } else {
        Pm::YarnBerry
    })
}

/// The version when `packageManager` does not name one: pnpm's from its lockfile's format
/// (9.0 is pnpm 9 and 10's; 6.0 pnpm 8's; 5.x pnpm 7's), Yarn 1.22, Yarn 4 for berry.
fn default_version(dir: &Path, pm: Pm) -> Result<String> {
    Ok(match pm {
        Pm::Npm => String::new(),
        Pm::YarnClassic => "1.22.22".into(),
        Pm::YarnBerry => "4".into(),
        Pm::Pnpm => {
            let text = read_text(&dir.join("pnpm-lock.yaml"))?;
            let format = text
                .lines()
                .find_map(|l| l.strip_prefix("lockfileVersion:"))
                .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
                .unwrap_or_default();
            match major(&format) {
                Some(9) => "9",
                Some(6) => "8",
                Some(5) => "7",
                _ => {
                    return Err(Error::input(format!(
                        "{}: lockfileVersion {format:?} is not one fclayer knows (5.x, 6.0, 9.0)",
                        dir.join("pnpm-lock.yaml").display()
                    ))
                    .with_hint(
                        "name the pnpm that wrote it in package.json, e.g. \"packageManager\": \"pnpm@9.15.9\"",
                    ));
                }
            }
            .into()
        }
    })
}

/// Yarn berry must write a node_modules folder (`nodeLinker: node-modules`), and its
/// production install (`workspaces focus`) is built in from Yarn 4 on.
fn check_berry(dir: &Path, version: &str) -> Result<()> {
    let rc = dir.join(".yarnrc.yml");
    let text = if rc.is_file() {
        read_text(&rc)?
    } else {
        String::new()
    };
    let linker = text.lines().find_map(|l| {
        let v = l.strip_prefix("nodeLinker:")?;
        Some(v.trim().trim_matches(['\'', '"']).to_string())
    });
    if linker.as_deref() != Some("node-modules") {
        let what = match &linker {
            None => "sets no nodeLinker, so Yarn uses Plug'n'Play".to_string(),
            Some(l) => format!("sets nodeLinker: {l}"),
        };
        return Err(Error::input(format!(
            "{} {what}: a layer needs a node_modules folder that require() finds",
            rc.display()
        ))
        .with_hint(
            "add `nodeLinker: node-modules` to .yarnrc.yml, run `yarn install` once to update yarn.lock, and build again",
        ));
    }
    if major(version).is_some_and(|m| m < 4) && !text.contains("plugin-workspace-tools") {
        return Err(Error::input(format!(
            "Yarn {version} installs production dependencies only with its workspace-tools plugin, which {} does not list",
            rc.display()
        ))
        .with_hint(
            "use Yarn 4 (\"packageManager\": \"yarn@4.18.1\"), or add the plugin: `yarn plugin import workspace-tools`",
        ));
    }
    Ok(())
}

/// pnpm's symlinked layout, asked for in the project's own pnpm settings.
fn pnpm_isolated(dir: &Path) -> bool {
    let setting = |file: &str, key: &str| {
        std::fs::read_to_string(dir.join(file)).is_ok_and(|t| {
            t.lines().any(|l| {
                l.split_once([':', '=']).is_some_and(|(k, v)| {
                    k.trim() == key && v.trim().trim_matches(['\'', '"']) == "isolated"
                })
            })
        })
    };
    setting(".npmrc", "node-linker") || setting("pnpm-workspace.yaml", "nodeLinker")
}

/// The oldest Node.js each package manager's major runs on (their package.json `engines`).
pub fn node_needed(pm: Pm, version: &str) -> Option<(u32, u32)> {
    let m = major(version)?;
    match pm {
        // What each npm's own package.json asks for (npm 8: ^12.13; 9: ^14.17; 10: ^18.17;
        // 11: ^20.17).
        Pm::Npm => Some(match m {
            ..=6 => (6, 0),
            7 => (10, 0),
            8 => (12, 13),
            9 => (14, 17),
            10 => (18, 17),
            _ => (20, 17),
        }),
        Pm::Pnpm => Some(match m {
            ..=6 => (12, 17),
            7 => (14, 6),
            8 => (16, 14),
            _ => (18, 12),
        }),
        Pm::YarnClassic => Some((4, 0)),
        Pm::YarnBerry => Some(match m {
            ..=3 => (12, 0),
            _ => (18, 12),
        }),
    }
}

/// A package manager the runtime's Node.js (`full`, e.g. 16.15.1) cannot run: the error says
/// what to pin instead.
pub fn check_node(m: &Manager, runtime: &str, full: &str) -> Result<()> {
    let Some((need_major, need_minor)) = node_needed(m.pm, &m.version) else {
        return Ok(());
    };
    let mut parts = full.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if have >= (need_major, need_minor) {
        return Ok(());
    }
    let instead = match m.pm {
        Pm::Npm if have >= (18, 17) => "npm@10.9.2",
        Pm::Npm if have >= (14, 17) => "npm@9.9.4",
        Pm::Npm if have >= (12, 13) => "npm@8.19.4",
        Pm::Npm => "npm@6.14.18",
        Pm::Pnpm if have >= (16, 14) => "pnpm@8.15.9",
        Pm::Pnpm if have >= (14, 6) => "pnpm@7.33.7",
        Pm::Pnpm => "pnpm@6.35.1",
        Pm::YarnBerry if have.0 >= 12 => "yarn@3.8.7 (or Yarn classic, yarn@1.22.22)",
        _ => "yarn@1.22.22",
    };
    Err(Error::input(format!(
        "{} {} needs Node.js {need_major}.{need_minor} or later; {runtime} runs Node.js {full}",
        m.pm.display(),
        m.version
    ))
    .with_hint(format!(
        "pin a version that runs there in package.json, \"packageManager\": \"{instead}\" (and make the lockfile with it), or build for a newer runtime"
    )))
}

fn bun_refused(dir: &Path, what: &str) -> Error {
    Error::input(format!(
        "{}: bun ({what}) is not a package manager fclayer runs",
        dir.display()
    ))
    .with_hint("FC runs Node.js: lock the dependencies with npm, pnpm or yarn instead")
}

fn no_lockfile(dir: &Path, pm: Pm) -> Error {
    let (file, cmd) = match pm {
        Pm::Pnpm => ("pnpm-lock.yaml", "pnpm install"),
        _ => ("yarn.lock", "yarn install"),
    };
    Error::input(format!(
        "package.json's packageManager names {}, but {} has no {file}",
        pm.display(),
        dir.display()
    ))
    .with_hint(format!(
        "run `{cmd}` once to write {file} (a layer installs exactly the locked versions)"
    ))
}

fn several_lockfiles(dir: &Path, found: &[(&str, Pm)]) -> Error {
    let files: Vec<&str> = found.iter().map(|(f, _)| *f).collect();
    Error::input(format!(
        "{} holds lockfiles of several package managers: {}",
        dir.display(),
        files.join(", ")
    ))
    .with_hint(format!(
        "delete the ones you do not use, or choose in package.json, e.g. \"packageManager\": \"{}\"",
        example(found[0].1)
    ))
}

fn declared_mismatch(dir: &Path, pm: Pm, found: &[(&str, Pm)]) -> Error {
    let files: Vec<&str> = found.iter().map(|(f, _)| *f).collect();
    Error::input(format!(
        "package.json's packageManager names {}, but {} holds {} and no lockfile of it",
        pm.display(),
        dir.display(),
        files.join(", ")
    ))
    .with_hint(
        "make packageManager name the tool that wrote the lockfile, or lock with the one it names",
    )
}

fn example(pm: Pm) -> &'static str {
    match pm {
        Pm::Npm => "npm@10.9.2",
        Pm::Pnpm => "pnpm@9.15.9",
        Pm::YarnClassic => "yarn@1.22.22",
        Pm::YarnBerry => "yarn@4.18.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        dir
    }

    const V1: &str = "# THIS IS AN AUTOGENERATED FILE.\n# yarn lockfile v1\n\n";
    const BERRY: &str = "__metadata:\n  version: 8\n";

    #[test]
    fn the_lockfile_decides_and_packagemanager_gives_the_version() {
        let d = project(&[("package-lock.json", "{}")]);
        assert_eq!(detect(d.path(), &json!({})).unwrap().pm, Pm::Npm);
        let d = project(&[]);
        assert_eq!(detect(d.path(), &json!({})).unwrap().pm, Pm::Npm);
        let d = project(&[("pnpm-lock.yaml", "lockfileVersion: '9.0'\n")]);
        let m = detect(d.path(), &json!({})).unwrap();
        assert_eq!(
            (m.pm, m.version.as_str(), m.isolated),
            (Pm::Pnpm, "9", false)
        );
        let m = detect(
            d.path(),
            &json!({"packageManager": "pnpm@9.15.9+sha512.abc"}),
        )
        .unwrap();
        assert_eq!(m.version, "9.15.9");
        let d = project(&[("pnpm-lock.yaml", "lockfileVersion: '6.0'\n")]);
        assert_eq!(detect(d.path(), &json!({})).unwrap().version, "8");
        let d = project(&[("yarn.lock", V1)]);
        let m = detect(d.path(), &json!({})).unwrap();
        assert_eq!((m.pm, m.version.as_str()), (Pm::YarnClassic, "1.22.22"));
        let d = project(&[
            ("yarn.lock", BERRY),
            (".yarnrc.yml", "nodeLinker: node-modules\n"),
        ]);
        let m = detect(d.path(), &json!({"packageManager": "yarn@4.5.0"})).unwrap();
        assert_eq!((m.pm, m.version.as_str()), (Pm::YarnBerry, "4.5.0"));
    }

    #[test]
    fn pnpm_keeps_its_symlinked_layout_only_when_the_project_asks() {
        let d = project(&[
            ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
            (".npmrc", "node-linker = isolated\n"),
        ]);
        assert!(detect(d.path(), &json!({})).unwrap().isolated);
        let d = project(&[
            ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
            (".npmrc", "node-linker=hoisted\n"),
        ]);
        assert!(!detect(d.path(), &json!({})).unwrap().isolated);
    }

    #[test]
    fn two_lockfiles_need_a_choice() {
        let d = project(&[("package-lock.json", "{}"), ("yarn.lock", V1)]);
        let e = detect(d.path(), &json!({})).unwrap_err();
        assert!(
            e.message.contains("package-lock.json, yarn.lock"),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("packageManager"));
        let m = detect(d.path(), &json!({"packageManager": "yarn@1.22.19"})).unwrap();
        assert_eq!((m.pm, m.version.as_str()), (Pm::YarnClassic, "1.22.19"));
        let e = detect(d.path(), &json!({"packageManager": "pnpm@9.1.0"})).unwrap_err();
        assert!(e.message.contains("no lockfile of it"), "{}", e.message);
    }

    #[test]
    fn yarn_pnp_bun_and_missing_locks_are_refused_with_what_to_do() {
        let d = project(&[("yarn.lock", BERRY)]);
        let e = detect(d.path(), &json!({})).unwrap_err();
        assert!(e.message.contains("Plug'n'Play"), "{}", e.message);
        assert!(e.hint.unwrap().contains("nodeLinker: node-modules"));
        let d = project(&[("yarn.lock", BERRY), (".yarnrc.yml", "nodeLinker: pnp\n")]);
        assert!(
            detect(d.path(), &json!({}))
                .unwrap_err()
                .message
                .contains("nodeLinker: pnp")
        );
        let d = project(&[
            ("yarn.lock", BERRY),
            (".yarnrc.yml", "nodeLinker: node-modules\n"),
        ]);
        let e = detect(d.path(), &json!({"packageManager": "yarn@3.6.0"})).unwrap_err();
        assert!(e.message.contains("workspace-tools"), "{}", e.message);
        let d = project(&[("bun.lockb", "")]);
        assert!(
            detect(d.path(), &json!({}))
                .unwrap_err()
                .message
                .contains("bun")
        );
        let d = project(&[]);
        let e = detect(d.path(), &json!({"packageManager": "pnpm@9.0.0"})).unwrap_err();
        assert!(e.message.contains("no pnpm-lock.yaml"), "{}", e.message);
        let e = detect(d.path(), &json!({"packageManager": "pnpm@latest"})).unwrap_err();
        assert!(e.message.contains("must be a release"), "{}", e.message);
    }

    #[test]
    fn a_runtime_too_old_for_the_package_manager_says_what_to_pin() {
        let m = |pm, v: &str| Manager {
            pm,
            version: v.into(),
            from: String::new(),
            isolated: false,
        };
        assert!(check_node(&m(Pm::Pnpm, "9.15.9"), "nodejs18", "18.19.0").is_ok());
        let e = check_node(&m(Pm::Pnpm, "9.15.9"), "nodejs16", "16.15.1").unwrap_err();
        assert!(e.message.contains("needs Node.js 18.12"), "{}", e.message);
        assert!(e.hint.unwrap().contains("pnpm@8"));
        let e = check_node(&m(Pm::YarnBerry, "4"), "nodejs14", "14.18.1").unwrap_err();
        assert!(e.hint.unwrap().contains("yarn@3"));
        assert!(check_node(&m(Pm::YarnClassic, "1.22.22"), "nodejs8", "8.17.0").is_ok());
        assert!(check_node(&m(Pm::Npm, ""), "nodejs8", "8.17.0").is_ok());
        // packageManager: npm@X is installed and must run on the runtime's Node.js too.
        assert!(check_node(&m(Pm::Npm, "10.9.2"), "nodejs18", "18.19.0").is_ok());
        let e = check_node(&m(Pm::Npm, "10.9.2"), "nodejs16", "16.15.1").unwrap_err();
        assert!(
            e.message.contains("npm 10.9.2 needs Node.js 18.17"),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("npm@9.9.4"));
        assert!(check_node(&m(Pm::Npm, "6.14.18"), "nodejs8", "8.17.0").is_ok());
    }
}
