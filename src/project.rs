//! The user's project: its optional `fclayer.toml`, the kind of layer its files call for, a
//! check of its manifest, and the input files sent into the build container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::extract;
use crate::runtime::Kind;
use crate::tarball::TarBuilder;

pub const PROJECT_FILE: &str = "fclayer.toml";

/// `fclayer.toml`: one or more layers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    #[serde(default, rename = "layer")]
    pub layers: Vec<LayerDecl>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LayerDecl {
    pub name: Option<String>,
    pub runtime: Option<String>,
    /// Project directory, relative to the project file.
    pub source: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub base_image: Option<String>,
}

impl ProjectFile {
    /// Read `dir/fclayer.toml` if there is one.
    pub fn load(dir: &Path) -> Result<Option<ProjectFile>> {
        let path = dir.join(PROJECT_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).at("read", &path)?;
        let parsed: ProjectFile = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
            Error::input(format!("{}:{line}:{col}: {}", path.display(), e.message()))
                .with_hint("see the README's fclayer.toml section for the keys a [[layer]] takes")
        })?;
        Ok(Some(parsed))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// The kinds of layer the files in `dir` call for.
pub fn detect_kinds(dir: &Path) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| dir.join(k.manifest()).is_file())
        .collect()
}

/// Check requirements.txt line by line, so a typo is reported with its line before any container
/// starts. Lenient: pip's own options, paths and URLs pass; only what cannot be a requirement fails.
pub fn check_requirements(path: &Path) -> Result<()> {
    let text = std::fs::read(path).at("read", path)?;
    let text = String::from_utf8(text)
        .map_err(|_| Error::input(format!("{} is not UTF-8 text", path.display())))?;
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = i + 1;
        }
        // Comments start at a # preceded by whitespace (pip's rule).
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(line);
        let entry = logical.trim().to_string();
        logical.clear();
        if entry.is_empty() || entry.starts_with('-') || looks_like_path_or_url(&entry) {
            continue;
        }
        if let Err(why) = check_requirement(&entry) {
            return Err(Error::input(format!(
                "{}:{start_line}: `{entry}` is not a valid requirement: {why}",
                path.display()
            ))
            .with_hint(
                "write one requirement per line, e.g. `numpy>=1.21` or `requests[socks]==2.32.3`",
            ));
        }
    }
    Ok(())
}

fn looks_like_path_or_url(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.contains("://")
        || s.ends_with(".whl")
        || s.ends_with(".tar.gz")
        || s.ends_with(".zip")
}

/// A PEP 508 requirement, checked loosely: a name, optional [extras], then specifiers, a URL
/// (`@ ...`) or markers (`; ...`).
fn check_requirement(s: &str) -> std::result::Result<(), String> {
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("expected a package name first".into());
    }
    let mut rest = s[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("`[` of the extras is never closed")?;
        rest = after[close + 1..].trim_start();
    }
    let (spec, _markers) = rest.split_once(';').unwrap_or((rest, ""));
    let spec = spec.trim();
    if spec.is_empty() || spec.starts_with('@') {
        return Ok(());
    }
    let spec = spec.trim_start_matches('(').trim_end_matches(')');
    for clause in spec.split(',') {
        let clause = clause.trim();
        let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| {
                format!("expected a version operator (==, >=, ~=, ...) before `{clause}`")
            })?;
        let version = clause[op_len..].trim();
        if version.is_empty() {
            return Err(format!("`{clause}` has no version after its operator"));
        }
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_'))
        {
            return Err(format!("`{version}` is not a version"));
        }
    }
    Ok(())
}

/// Folders never sent into a build container: VCS data, local environments, build output.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".fclayer",
    ".aws-sam",
    ".s",
];

/// The project's files as a tar rooted at `dest` (e.g. `fclayer/src`), sorted by path.
/// `exclude` lists host paths left out (the output ZIP and its temporaries). Symlinks must stay
/// inside the project: a link leading out of it is refused, never followed.
pub fn add_inputs(
    tar: &mut TarBuilder,
    dir: &Path,
    dest: &str,
    exclude: &[PathBuf],
) -> Result<BTreeMap<String, u64>> {
    let root = dir.canonicalize().at("open", dir)?;
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| {
            let parent = p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            parent
                .canonicalize()
                .ok()
                .map(|d| d.join(p.file_name().unwrap_or_default()))
        })
        .collect();
    let mut listed = BTreeMap::new();
    walk_inputs(tar, &root, &root, dest, &exclude, &mut listed)?;
    Ok(listed)
}

fn walk_inputs(
    tar: &mut TarBuilder,
    root: &Path,
    dir: &Path,
    dest: &str,
    exclude: &[PathBuf],
    listed: &mut BTreeMap<String, u64>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .at("read directory", dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .at("read directory", dir)?;
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = full.strip_prefix(root).expect("below root");
        let rel_str = rel.to_str().ok_or_else(|| {
            Error::input(format!("{} has a name that is not UTF-8", full.display()))
        })?;
        let name_str = name.to_string_lossy();
        if exclude.iter().any(|x| x == &full)
            || name_str.ends_with(".partial")
            || name_str.ends_with(".spool")
        {
            continue;
        }
        let meta = std::fs::symlink_metadata(&full).at("read", &full)?;
        let ft = meta.file_type();
        let target_path = format!("{dest}/{rel_str}");
        if ft.is_dir() {
            if SKIP_DIRS.contains(&name_str.as_ref()) {
                continue;
            }
            tar.dir(&target_path)?;
            walk_inputs(tar, root, &full, dest, exclude, listed)?;
        } else if ft.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            tar.file_from_disk(&target_path, &full, exec)?;
            listed.insert(rel_str.to_string(), meta.len());
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&full).at("read link", &full)?;
            let target_str = target.to_string_lossy();
            let inside = if target.is_absolute() {
                target.starts_with(root)
            } else {
                extract::link_target(rel_str, &target_str).is_ok()
            };
            if !inside {
                return Err(Error::input(format!(
                    "{} is a symlink to {}, outside the project",
                    full.display(),
                    target.display()
                ))
                .with_hint("fclayer sends only the project's own files into the build; copy the file into the project instead of linking to it"));
            }
            if target.is_absolute() {
                // Re-express inside the container's copy of the project.
                let rel_target = target.strip_prefix(root).expect("checked above");
                let depth = rel.components().count() - 1;
                let up = "../".repeat(depth);
                tar.symlink(&target_path, &format!("{up}{}", rel_target.display()))?;
            } else {
                tar.symlink(&target_path, &target_str)?;
            }
        }
        // Sockets, FIFOs and devices are not inputs; leave them out.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requirements.txt");
        std::fs::write(&p, text).unwrap();
        check_requirements(&p)
    }

    #[test]
    fn good_requirements_pass() {
        check("numpy\nlxml>=4 # parser\nrequests[socks]==2.32.3\n\n-r other.txt\n--index-url https://x/simple\nfoo @ https://x/foo.whl\nbar; python_version<'3.10'\n./local-pkg\nbaz==1.*\n").unwrap();
    }

    #[test]
    fn bad_requirements_name_file_and_line() {
        let e = check("numpy\nlxml>>4\n").unwrap_err();
        assert!(e.message.contains("requirements.txt:2:"), "{}", e.message);
        assert!(e.message.contains("lxml>>4"));
        let e = check("numpy==\n").unwrap_err();
        assert!(
            e.message.contains(":1:") && e.message.contains("no version"),
            "{}",
            e.message
        );
        let e = check("requests[socks\n").unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn project_file_errors_have_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "[[layer]]\nname = \"a\"\nruntim = \"python3.9\"\n",
        )
        .unwrap();
        let e = ProjectFile::load(dir.path()).unwrap_err();
        assert!(e.message.contains("fclayer.toml:3:"), "{}", e.message);
        assert!(e.message.contains("runtim"), "{}", e.message);
    }

    #[test]
    fn inputs_skip_vcs_and_refuse_escaping_links() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("requirements.txt"), "six\n").unwrap();
        std::fs::create_dir(p.join(".git")).unwrap();
        std::fs::write(p.join(".git/HEAD"), "x").unwrap();
        std::os::unix::fs::symlink("requirements.txt", p.join("req.txt")).unwrap();
        let mut tar = TarBuilder::new();
        let listed = add_inputs(&mut tar, p, "fclayer/src", &[]).unwrap();
        assert_eq!(listed.keys().collect::<Vec<_>>(), vec!["requirements.txt"]);

        std::os::unix::fs::symlink("/etc/passwd", p.join("evil")).unwrap();
        let mut tar = TarBuilder::new();
        let e = add_inputs(&mut tar, p, "fclayer/src", &[]).unwrap_err();
        assert!(e.message.contains("outside the project"), "{}", e.message);
    }
}
