//! The Python project formats a layer can be built from, and their conversion into one complete,
//! pinned, hashed requirements file that pip installs with `--no-deps --require-hashes`.
//!
//! Each lock is plain data (TOML or JSON), so fclayer converts it itself, in the plan, before any
//! container starts: a bad or stale lock fails with its file and line, the markers are evaluated
//! for the TARGET (the runtime's Python, the target machine; `marker.rs`), and the same generated
//! file serves the native install and the cross-platform fetch. Running the lock's own tool
//! (`uv export`, `poetry export`) in the build image would need that tool for every runtime
//! (poetry needs a plugin since 2.0, none of them runs on python3.6) and would evaluate markers
//! for the build container rather than the runtime.
//!
//! Detection order (`ORDER`): the most exact first, a lock over a bare manifest.

pub mod index;
mod marker;
mod pipfile;
mod poetry;
mod pylock;
mod pyproject;
mod uv;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use index::Index;

pub use marker::{Env, evaluate, normalize, specifier_matches};

use super::project_text::{line_col, read_text};
use super::{Arch, Runtime};
use crate::error::{Error, Result};

/// What a Python layer is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Uv,
    Poetry,
    Pipfile,
    Pylock,
    Pyproject,
    Requirements,
}

/// Detection order: file name and format, most exact first.
pub const ORDER: &[(&str, Format)] = &[
    ("uv.lock", Format::Uv),
    ("poetry.lock", Format::Poetry),
    ("Pipfile.lock", Format::Pipfile),
    ("pylock.toml", Format::Pylock),
    ("pyproject.toml", Format::Pyproject),
    ("requirements.txt", Format::Requirements),
];

impl Format {
    /// The format of a file named by `--requirements`, from its name.
    pub fn of_file(name: &str) -> Format {
        if let Some((_, f)) = ORDER.iter().find(|(n, _)| *n == name) {
            return *f;
        }
        if name.starts_with("pylock.") && name.ends_with(".toml") {
            return Format::Pylock;
        }
        Format::Requirements
    }

    /// The tool that writes (and refreshes) this format, for hints.
    pub fn tool(self) -> &'static str {
        match self {
            Format::Uv => "uv lock",
            Format::Poetry => "poetry lock",
            Format::Pipfile => "pipenv lock",
            Format::Pylock => "uv export --format pylock.toml (or pip lock)",
            Format::Pyproject | Format::Requirements => "",
        }
    }
}

/// The groups and extras the user selected (`--with`, `--extras`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub groups: Vec<String>,
    pub extras: Vec<String>,
}

/// The target a lock is converted for.
#[derive(Debug, Clone)]
pub struct Target {
    pub runtime: &'static Runtime,
    pub arch: Arch,
}

impl Target {
    pub fn env(&self, sel: &Selection, groups: &[&str]) -> Env {
        let py = self.runtime.python.expect("a Python runtime");
        Env {
            python_version: py.version.into(),
            python_full_version: py.full.into(),
            machine: self.arch.name().into(),
            extras: sel.extras.iter().map(|e| normalize(e)).collect(),
            groups: groups.iter().map(|g| normalize(g)).collect(),
        }
    }

    fn describe(&self) -> String {
        format!("{} on {}", self.runtime.name, self.arch.name())
    }
}

/// One locked distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// `sha256:HEX`, every file the lock lists.
    pub hashes: Vec<String>,
    /// The file names the lock lists (wheels and sdists), when it lists them (Pipfile.lock
    /// does not): checked against the target's tags.
    pub files: Vec<String>,
    /// The index the lock takes it from, when that is not PyPI.
    pub index: Option<Index>,
}

/// The Python input of a build: which file, and what pip gets.
#[derive(Debug, Clone)]
pub struct PythonInput {
    /// The file read, relative to the project (e.g. `uv.lock`).
    pub file: String,
    pub format: Format,
    /// Other Python project files the folder holds, not read.
    pub ignored: Vec<String>,
    /// The generated requirements file, when fclayer wrote one (locks and pyproject.toml).
    pub generated: Option<String>,
    /// The pins of a lock (empty for pyproject.toml and requirements.txt).
    pub pins: Vec<Pin>,
    pub selection: Selection,
    /// The netrc file of the lock's indexes' logins (see `index`), and the values in it.
    pub netrc: Option<String>,
    pub secrets: Vec<String>,
    /// The hosts of the lock's plain-http indexes, for pip's `PIP_TRUSTED_HOST`.
    pub trusted_hosts: Vec<String>,
}

/// Where the generated requirements file goes in the build container (never /opt, never over a
/// user's file).
pub const GENERATED: &str = "/fclayer/lock/requirements.txt";

impl PythonInput {
    /// Whether the installer gets a complete, hashed set (`FCLAYER_LOCKED=1`).
    pub fn locked(&self) -> bool {
        !self.pins.is_empty()
    }

    /// A requirements.txt with no other Python file beside it: the build as it always was.
    pub fn is_plain(&self) -> bool {
        self.format == Format::Requirements
            && self.file == "requirements.txt"
            && self.ignored.is_empty()
    }

    /// The requirements file pip reads, as the installer scripts see it (they run in
    /// /fclayer/src).
    pub fn requirements_path(&self) -> String {
        match self.generated {
            Some(_) => GENERATED.into(),
            None => self.file.clone(),
        }
    }

    /// The one line that says what the build reads.
    pub fn describe(&self, target: &Target) -> String {
        let what = match self.format {
            Format::Requirements => format!("{} (pip resolves it)", self.file),
            Format::Pyproject => format!(
                "{} [project].dependencies, resolved at build time (no lock, no hashes)",
                self.file
            ),
            _ => {
                let indexes = index::distinct(self.pins.iter().filter_map(|p| p.index.as_ref()));
                let from = match indexes.as_slice() {
                    [] => String::new(),
                    list => format!(
                        ", from {}{}",
                        list.iter()
                            .map(|i| i.url.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if self.netrc.is_some() {
                            " (login from the environment)"
                        } else {
                            ""
                        }
                    ),
                };
                format!(
                    "{}: {} pinned package{} with their hashes for {}{from}",
                    self.file,
                    self.pins.len(),
                    if self.pins.len() == 1 { "" } else { "s" },
                    target.describe()
                )
            }
        };
        let mut sel = Vec::new();
        if !self.selection.groups.is_empty() {
            sel.push(format!("groups {}", self.selection.groups.join(", ")));
        }
        if !self.selection.extras.is_empty() {
            sel.push(format!("extras {}", self.selection.extras.join(", ")));
        }
        let sel = if sel.is_empty() {
            String::new()
        } else {
            format!(" ({})", sel.join("; "))
        };
        let ignored = if self.ignored.is_empty() {
            String::new()
        } else {
            format!(
                "; not read: {} (--requirements FILE picks another)",
                self.ignored.join(", ")
            )
        };
        format!("{what}{sel}{ignored}")
    }
}

/// Whether `dir/pyproject.toml` makes the folder a Python project: it declares
/// `[project].dependencies` or is a Poetry project. One that does not parse counts, so that its
/// error (with the line) is reported rather than a folder with nothing to build.
pub fn declares_dependencies(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("pyproject.toml")) else {
        return false;
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return true;
    };
    let deps = doc
        .get("project")
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.as_array())
        .is_some_and(|d| !d.is_empty());
    let poetry = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("dependencies"))
        .is_some();
    deps || poetry
}

/// What a build's Python input gives the installer (a plain requirements.txt without one).
pub fn reqs(input: Option<&PythonInput>) -> super::python::Reqs {
    match input {
        None => super::python::Reqs::plain(),
        Some(i) => super::python::Reqs {
            path: i.requirements_path(),
            locked: i.locked(),
        },
    }
}

/// Read the project's Python input: `explicit` (`--requirements`), else the first of `ORDER`
/// the folder holds; convert a lock for `target`. Errors carry file and line.
pub fn read(
    project: &Path,
    explicit: Option<&Path>,
    sel: &Selection,
    target: &Target,
) -> Result<PythonInput> {
    let (file, format, ignored) = choose(project, explicit)?;
    if !sel.groups.is_empty() && !matches!(format, Format::Uv | Format::Poetry | Format::Pylock) {
        return Err(Error::input(format!(
            "--with {} selects a dependency group, but {file} has none",
            sel.groups.join(",")
        ))
        .with_hint("groups come from uv.lock, poetry.lock or pylock.toml"));
    }
    let path = project.join(&file);
    let mut input = PythonInput {
        file,
        format,
        ignored,
        generated: None,
        pins: Vec::new(),
        selection: sel.clone(),
        netrc: None,
        secrets: Vec::new(),
        trusted_hosts: Vec::new(),
    };
    let pins = match format {
        Format::Requirements => {
            if !sel.extras.is_empty() {
                return Err(Error::input(format!(
                    "--extras selects optional dependencies, but {} is a requirements file",
                    input.file
                ))
                .with_hint("write the extra into the requirement, e.g. `requests[socks]`"));
            }
            super::python::check_requirements(&path)?;
            return Ok(input);
        }
        Format::Pyproject => {
            let mut text = header(&input.file, target, false);
            for l in pyproject::requirements(&path, sel, target)? {
                text.push_str(&l);
                text.push('\n');
            }
            input.generated = Some(text);
            return Ok(input);
        }
        Format::Uv => uv::pins(&path, sel, target)?,
        Format::Poetry => poetry::pins(&path, sel, target)?,
        Format::Pipfile => pipfile::pins(&path, sel, target)?,
        Format::Pylock => pylock::pins(&path, sel, target)?,
    };
    if pins.is_empty() {
        return Err(Error::input(format!(
            "{} locks no package for {}",
            path.display(),
            target.describe()
        ))
        .with_hint(
            "a layer needs at least one dependency; add one to the project and lock it again",
        ));
    }
    for pin in &pins {
        check_installable(pin, &input.file, target)?;
    }
    let indexes = index::distinct(pins.iter().filter_map(|p| p.index.as_ref()));
    (input.netrc, input.secrets) = index::netrc(&indexes)?;
    input.trusted_hosts = index::trusted_hosts(&indexes);
    input.generated = Some(render(&input.file, &pins, &indexes, target));
    input.pins = pins;
    Ok(input)
}

/// The file to read (`explicit`, else the first of `ORDER` present), its format, and the other
/// Python files the folder holds that are not read.
fn choose(project: &Path, explicit: Option<&Path>) -> Result<(String, Format, Vec<String>)> {
    // A pyproject.toml of tool settings only is no Python input (a requirements.txt beside it is).
    let present: Vec<&str> = ORDER
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| project.join(n).is_file())
        .filter(|n| *n != "pyproject.toml" || declares_dependencies(project))
        .collect();
    let (file, format) = match explicit {
        Some(p) => {
            let rel = relative_in(project, p)?;
            let name = Path::new(&rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (rel, Format::of_file(&name))
        }
        None => {
            let first = present.first().ok_or_else(|| {
                Error::input(format!(
                    "{} holds no Python project file",
                    project.display()
                ))
            })?;
            let f = ORDER.iter().find(|(n, _)| n == first).expect("listed").1;
            (first.to_string(), f)
        }
    };
    // pyproject.toml is read as the lock's manifest, not as a separate input.
    let ignored = present
        .iter()
        .filter(|n| {
            **n != file
                && !(**n == "pyproject.toml" && matches!(format, Format::Uv | Format::Poetry))
        })
        .map(|n| n.to_string())
        .collect();
    Ok((file, format, ignored))
}

/// `p` (from `--requirements`) as a path inside `project`.
fn relative_in(project: &Path, p: &Path) -> Result<String> {
    // Relative to the project first (as fclayer.toml's `requirements` is), then as given.
    let candidates = [project.join(p), p.to_path_buf()];
    let found = candidates.iter().find(|c| c.is_file()).ok_or_else(|| {
        Error::input(format!("--requirements {}: no such file", p.display()))
            .with_hint("give a file inside the project folder, e.g. --requirements uv.lock")
    })?;
    let (Ok(full), Ok(root)) = (found.canonicalize(), project.canonicalize()) else {
        return Err(Error::input(format!(
            "--requirements {}: cannot open",
            p.display()
        )));
    };
    full.strip_prefix(&root)
        .ok()
        .and_then(|r| r.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::input(format!(
                "--requirements {} is outside the project folder {}",
                p.display(),
                project.display()
            ))
            .with_hint(
                "only the project's own files are sent into the build; move the file into it",
            )
        })
}

fn header(file: &str, target: &Target, hashed: bool) -> String {
    let how = if hashed {
        "every pin with its hashes: install with --no-deps --require-hashes"
    } else {
        "markers evaluated, resolved at build time"
    };
    format!(
        "# Written by fclayer from {file} for {}: {how}.\n",
        target.describe()
    )
}

/// The complete requirements file of a lock: one line per pin, its hashes on the same line (so
/// scripts that keep a file's option lines, such as python-wheels.sh, never see a bare `--hash`).
fn render(file: &str, pins: &[Pin], indexes: &[&Index], target: &Target) -> String {
    let mut text = header(file, target, true);
    text.push_str(&index::requirement_lines(indexes));
    for pin in pins {
        text.push_str(&format!("{}=={}", pin.name, pin.version));
        for h in &pin.hashes {
            text.push_str(&format!(" --hash={h}"));
        }
        text.push('\n');
    }
    text
}

/// Sort by normalised name and check each name is locked once.
fn finish_pins(mut pins: Vec<Pin>, path: &Path) -> Result<Vec<Pin>> {
    pins.sort_by_key(|p| normalize(&p.name));
    for w in pins.windows(2) {
        if normalize(&w[0].name) == normalize(&w[1].name) && w[0].version != w[1].version {
            return Err(Error::input(format!(
                "{} selects two versions of {} ({} and {}) for one environment",
                path.display(),
                w[0].name,
                w[0].version,
                w[1].version
            ))
            .with_hint("lock the project again; if it persists, report the lock file"));
        }
    }
    pins.dedup_by(|a, b| normalize(&a.name) == normalize(&b.name));
    for p in &pins {
        if p.hashes.is_empty() {
            return Err(Error::input(format!(
                "{}: {}=={} has no hash in the lock",
                path.display(),
                p.name,
                p.version
            ))
            .with_hint("fclayer installs locks in pip's hash-checking mode; lock the project again with hashes"));
        }
    }
    Ok(pins)
}

/// A TOML lock file, parsed into `T`; errors carry the file and line.
fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String)> {
    let text = read_text(path)?;
    let parsed = toml::from_str(&text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
        Error::input(format!(
            "{}:{line}:{col}: {}",
            path.display(),
            e.message().trim()
        ))
        .with_hint("the file is not a lock fclayer can read; write it again with its tool")
    })?;
    Ok((parsed, text))
}

/// The 1-based line where `needle` first occurs in `text` (for errors about a parsed value).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle).map_or(0, |at| line_col(text, at).0)
}

/// A bad marker in a lock, with where it is.
fn bad_marker(path: &Path, text: &str, marker: &str, why: String) -> Error {
    Error::input(format!(
        "{}:{}: marker `{marker}`: {why}",
        path.display(),
        line_of(text, marker)
    ))
    .with_hint("the lock's markers must follow PEP 508; lock the project again")
}

/// A PEP 508 requirement, split: `name[extras] spec ; marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    pub name: String,
    pub extras: Vec<String>,
    /// Version specifiers without spaces (`>=2,<3`), or `@ URL`.
    pub spec: String,
    pub marker: Option<String>,
}

pub fn parse_req(s: &str) -> std::result::Result<Req, String> {
    let (body, marker) = match s.split_once(';') {
        Some((b, m)) => (b, Some(m.trim().to_string()).filter(|m| !m.is_empty())),
        None => (s, None),
    };
    let body = body.trim();
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(body.len());
    let name = &body[..end];
    if name.is_empty() {
        return Err(format!("`{s}` does not start with a package name"));
    }
    let mut rest = body[end..].trim_start();
    let mut extras = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or_else(|| format!("`{s}`: `[` is never closed"))?;
        extras = after[..close]
            .split(',')
            .map(normalize)
            .filter(|e| !e.is_empty())
            .collect();
        rest = after[close + 1..].trim_start();
    }
    let spec = if rest.starts_with('@') {
        rest.to_string()
    } else {
        let mut clauses: Vec<String> = rest
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|c| c.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .filter(|c| !c.is_empty())
            .collect();
        clauses.sort();
        clauses.join(",")
    };
    Ok(Req {
        name: name.to_string(),
        extras,
        spec,
        marker,
    })
}

impl fmt::Display for Req {
    /// The requirement without its marker (markers are evaluated by fclayer).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.extras.is_empty() {
            write!(f, "[{}]", self.extras.join(","))?;
        }
        if self.spec.starts_with('@') {
            write!(f, " {}", self.spec)
        } else {
            f.write_str(&self.spec)
        }
    }
}

/// The tags of a wheel file name: (python tags, abi tags, platform tags).
fn wheel_tags(file: &str) -> Option<(Vec<&str>, Vec<&str>, Vec<&str>)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    let n = parts.len();
    Some((
        parts[n - 3].split('.').collect(),
        parts[n - 2].split('.').collect(),
        parts[n - 1].split('.').collect(),
    ))
}

/// Whether a wheel file installs on the target: its interpreter (cpXY, abi3, py3-none), glibc
/// (manylinux up to the runtime's Debian) and machine.
pub fn wheel_fits(file: &str, target: &Target) -> bool {
    let Some((pys, abis, plats)) = wheel_tags(file) else {
        return false;
    };
    let py = target.runtime.python.expect("a Python runtime");
    let minor: u32 = py
        .version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let cp = format!("cp3{minor}");
    let interp = pys.iter().any(|p| {
        abis.iter().any(|a| {
            let cp_minor = p.strip_prefix("cp3").and_then(|m| m.parse::<u32>().ok());
            (*p == cp && (*a == cp || *a == format!("{cp}m") || *a == "none"))
                || (*a == "abi3" && cp_minor.is_some_and(|m| m <= minor))
                || (*a == "none" && (*p == "py3" || *p == format!("py3{minor}")))
        })
    });
    let machine = target.arch.name();
    let (g1, g2) = target.runtime.debian.glibc();
    let platform = plats.iter().any(|t| {
        if *t == "any" {
            return true;
        }
        let Some(rest) = t.strip_suffix(machine).and_then(|r| r.strip_suffix('_')) else {
            return false;
        };
        let need = match rest {
            "manylinux2014" => Some((2, 17)),
            "manylinux2010" => Some((2, 12)),
            "manylinux1" => Some((2, 5)),
            "linux" => Some((0, 0)),
            _ => rest.strip_prefix("manylinux_").and_then(|v| {
                let (a, b) = v.split_once('_')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            }),
        };
        need.is_some_and(|n: (u32, u32)| n <= (g1, g2))
    });
    interp && platform
}

/// A pin with no wheel for the target and no sdist cannot be installed: say so before any
/// container starts, with the platforms the lock has.
fn check_installable(pin: &Pin, file: &str, target: &Target) -> Result<()> {
    if pin.files.is_empty() {
        return Ok(());
    }
    let sdist = pin
        .files
        .iter()
        .any(|f| f.ends_with(".tar.gz") || f.ends_with(".zip") || f.ends_with(".tar.bz2"));
    if sdist || pin.files.iter().any(|f| wheel_fits(f, target)) {
        return Ok(());
    }
    let mut has: BTreeSet<String> = BTreeSet::new();
    for f in &pin.files {
        if let Some((p, a, pl)) = wheel_tags(f) {
            has.insert(format!("{}-{}-{}", p.join("."), a.join("."), pl.join(".")));
        }
    }
    let (g1, g2) = target.runtime.debian.glibc();
    let list: Vec<String> = has.into_iter().take(12).collect();
    Err(Error::input(format!(
        "{file}: {}=={} has no wheel for {} (CPython {}, glibc {g1}.{g2}) and no source archive",
        pin.name,
        pin.version,
        target.describe(),
        target.runtime.python.map_or("3", |l| l.version),
    ))
    .with_details([format!("the lock has wheels for: {}", list.join(", "))])
    .with_hint(format!(
        "pin a version of {} that has a wheel for this runtime (or choose a runtime on a newer Debian), then lock again",
        pin.name
    )))
}

/// The file name at the end of a URL.
fn url_file(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap_or(url)
        .split(['#', '?'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The runtime's Python must satisfy the lock's `requires-python`.
fn check_requires_python(path: &Path, spec: Option<&str>, target: &Target) -> Result<()> {
    let Some(spec) = spec else { return Ok(()) };
    let py = target.runtime.python.expect("a Python runtime");
    if specifier_matches(py.full, spec) {
        return Ok(());
    }
    Err(Error::input(format!(
        "{} is locked for Python {spec}, and {} runs Python {}",
        path.display(),
        target.runtime.name,
        py.full
    ))
    .with_hint(
        "choose a runtime whose Python the lock supports, or widen requires-python and lock again",
    ))
}

/// A path beside `path` (the lock's pyproject.toml).
fn sibling(path: &Path, name: &str) -> PathBuf {
    path.parent().unwrap_or(Path::new(".")).join(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pyformats")
            .join(name)
    }

    pub(crate) fn target(rt: &str, arch: Arch) -> Target {
        Target {
            runtime: Runtime::find(rt).unwrap(),
            arch,
        }
    }

    pub(crate) fn pinned(input: &PythonInput) -> Vec<String> {
        input
            .pins
            .iter()
            .map(|p| format!("{}=={}", normalize(&p.name), p.version))
            .collect()
    }

    #[test]
    fn a_pyproject_counts_as_python_only_when_it_declares_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!declares_dependencies(dir.path()));
        let write = |t: &str| std::fs::write(dir.path().join("pyproject.toml"), t).unwrap();
        write("[tool.ruff]\nline-length = 100\n");
        assert!(!declares_dependencies(dir.path()), "a tool's settings only");
        write("[project]\nname = \"x\"\ndependencies = []\n");
        assert!(!declares_dependencies(dir.path()));
        write("[project]\nname = \"x\"\ndependencies = [\"six\"]\n");
        assert!(declares_dependencies(dir.path()));
        write("[tool.poetry.dependencies]\npython = \"^3.9\"\n");
        assert!(declares_dependencies(dir.path()));
        write("[project\n");
        assert!(
            declares_dependencies(dir.path()),
            "its parse error is worth showing"
        );
    }

    #[test]
    fn wheels_fit_by_interpreter_glibc_and_machine() {
        let t = target("python3.9", Arch::X86_64);
        assert!(wheel_fits("six-1.17.0-py2.py3-none-any.whl", &t));
        assert!(wheel_fits(
            "numpy-2.0.2-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            &t
        ));
        assert!(
            !wheel_fits("numpy-2.0.2-cp39-cp39-manylinux_2_28_x86_64.whl", &t),
            "Debian 9 has glibc 2.24"
        );
        assert!(!wheel_fits(
            "numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.whl",
            &t
        ));
        assert!(!wheel_fits(
            "numpy-2.0.2-cp39-cp39-manylinux_2_17_aarch64.whl",
            &t
        ));
        assert!(!wheel_fits(
            "numpy-2.0.2-cp39-cp39-musllinux_1_1_x86_64.whl",
            &t
        ));
        assert!(wheel_fits(
            "cryptography-44.0.0-cp37-abi3-manylinux_2_17_x86_64.whl",
            &t
        ));
        assert!(!wheel_fits("x-1-cp311-abi3-manylinux_2_17_x86_64.whl", &t));
        let arm = target("custom.debian12", Arch::Aarch64);
        assert!(wheel_fits(
            "numpy-2.3.0-cp311-cp311-manylinux_2_28_aarch64.whl",
            &arm
        ));
        assert!(wheel_fits("tomli-2.5.0-py3-none-any.whl", &arm));
    }

    #[test]
    fn requirements_split_into_name_extras_spec_marker() {
        let r = parse_req("tomli (>=2) ; python_version < '3.11'").unwrap();
        assert_eq!((r.name.as_str(), r.spec.as_str()), ("tomli", ">=2"));
        assert_eq!(r.marker.as_deref(), Some("python_version < '3.11'"));
        let r = parse_req("requests[socks, Use_Chardet] <3, >= 2.31").unwrap();
        assert_eq!(r.extras, ["socks", "use-chardet"]);
        assert_eq!(r.spec, "<3,>=2.31");
        assert_eq!(r.to_string(), "requests[socks,use-chardet]<3,>=2.31");
        assert!(parse_req(">=1").is_err());
    }

    #[test]
    fn detection_prefers_the_most_exact_file_and_says_what_it_left() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["uv.lock", "pyproject.toml"] {
            std::fs::copy(fixture("uv").join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(dir.path().join("requirements.txt"), "six\n").unwrap();
        let t = target("python3.9", Arch::X86_64);
        let input = read(dir.path(), None, &Selection::default(), &t).unwrap();
        assert_eq!((input.file.as_str(), input.format), ("uv.lock", Format::Uv));
        assert_eq!(input.ignored, ["requirements.txt"]);
        assert!(
            input.describe(&t).contains("not read: requirements.txt"),
            "{}",
            input.describe(&t)
        );
        let input = read(
            dir.path(),
            Some(Path::new("requirements.txt")),
            &Selection::default(),
            &t,
        )
        .unwrap();
        assert_eq!(input.format, Format::Requirements);
        assert_eq!(input.requirements_path(), "requirements.txt");
        assert!(input.generated.is_none() && !input.locked());
        let e = read(
            dir.path(),
            Some(Path::new("/etc/hostname")),
            &Selection::default(),
            &t,
        );
        assert!(e.is_err());
    }

    #[test]
    fn a_lock_without_a_fitting_wheel_or_sdist_names_package_pin_and_platforms() {
        let pin = Pin {
            name: "fastlib".into(),
            version: "1.0".into(),
            hashes: vec!["sha256:00".into()],
            files: vec![
                "fastlib-1.0-cp39-cp39-manylinux_2_28_x86_64.whl".into(),
                "fastlib-1.0-cp39-cp39-macosx_11_0_arm64.whl".into(),
            ],
            index: None,
        };
        let t = target("python3.9", Arch::X86_64);
        let e = check_installable(&pin, "uv.lock", &t).unwrap_err();
        assert!(
            e.message
                .contains("fastlib==1.0 has no wheel for python3.9 on x86_64"),
            "{}",
            e.message
        );
        assert!(e.message.contains("glibc 2.24"), "{}", e.message);
        assert!(
            e.details[0].contains("cp39-cp39-manylinux_2_28_x86_64"),
            "{:?}",
            e.details
        );
        let newer = target("python3.12", Arch::X86_64);
        let mut p312 = pin.clone();
        p312.files = vec!["fastlib-1.0-cp312-cp312-manylinux_2_28_x86_64.whl".into()];
        assert!(
            check_installable(&p312, "uv.lock", &newer).is_ok(),
            "Debian 11 has glibc 2.31"
        );
        let mut with_sdist = pin;
        with_sdist.files.push("fastlib-1.0.tar.gz".into());
        assert!(check_installable(&with_sdist, "uv.lock", &t).is_ok());
    }
}
