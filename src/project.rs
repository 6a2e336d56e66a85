//! The user's project: its optional `fclayer.toml`, the kinds of layer its files call for (each
//! language in `runtime/` names and checks its own project files), and the input files sent into
//! the build container or, in Dockerfile mode, the `docker build` context.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::extract;
use crate::runtime::Kind;
use crate::runtime::project_text::{line_col, read_text};
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
    /// Only this kind of content (python, node, java, php, apt) when the folder has several.
    pub kind: Option<String>,
    /// Debian packages for the layer's bin/ and lib/.
    #[serde(default)]
    pub apt: Vec<String>,
    /// Output ZIP, relative to the project file.
    pub output: Option<PathBuf>,
    pub platform: Option<String>,
    pub base_image: Option<String>,
    /// Build this Dockerfile (relative to the project file) instead of running installers.
    pub dockerfile: Option<PathBuf>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Publish the ZIP to FC after a successful build (`[layer.publish]`).
    pub publish: Option<crate::publish::PublishDecl>,
    /// Python byte-code in the layer (default true; `--no-bytecode` turns it off).
    pub bytecode: Option<bool>,
    /// `--slim` for this layer.
    pub slim: Option<bool>,
    /// Python layers: `uv` or `pip` (`--installer`).
    pub installer: Option<crate::runtime::python::Installer>,
    /// `--node MAJOR` for this layer (a custom runtime's Node.js).
    pub node: Option<String>,
    /// Python: the file to read (`--requirements`), relative to the layer's source folder.
    pub requirements: Option<PathBuf>,
    /// Python: dependency groups to install besides the main ones (`--with`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Python: extras to install (`--extras`).
    #[serde(default)]
    pub extras: Vec<String>,
}

impl ProjectFile {
    /// Read `dir/fclayer.toml` if there is one.
    pub fn load(dir: &Path) -> Result<Option<ProjectFile>> {
        let path = dir.join(PROJECT_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = read_text(&path)?;
        let parsed: ProjectFile = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
            Error::input(format!("{}:{line}:{col}: {}", path.display(), e.message()))
                .with_hint("see the README's fclayer.toml section for the keys a [[layer]] takes")
        })?;
        Ok(Some(parsed))
    }
}

/// The kinds of layer the files in `dir` call for.
pub fn detect_kinds(dir: &Path) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.language().project_file_in(dir).is_some())
        .collect()
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
) -> Result<BTreeMap<String, String>> {
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
    let keep = |full: &Path, _rel: &str, is_dir: bool| {
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if is_dir {
            return !SKIP_DIRS.contains(&name.as_ref());
        }
        !(exclude.iter().any(|x| x == full)
            || name.ends_with(".partial")
            || name.ends_with(".spool"))
    };
    let root = dir.canonicalize().at("open", dir)?;
    let mut listed = BTreeMap::new();
    walk_inputs(tar, &root, &root, dest, &keep, &mut listed)?;
    Ok(listed)
}

/// A `docker build` context of `dir`, honouring `.dockerignore` the way the Docker CLI does.
/// Returns the tar and the Dockerfile's name inside it (the Dockerfile is always sent, and is
/// added under a private name when it lies outside the context).
pub fn docker_context(dir: &Path, dockerfile: &Path) -> Result<(Vec<u8>, String)> {
    let root = dir.canonicalize().at("open", dir)?;
    let dockerfile = dockerfile.canonicalize().at("open", dockerfile)?;
    let ignore = DockerIgnore::load(&root)?;
    let inside = dockerfile
        .strip_prefix(&root)
        .ok()
        .and_then(|p| p.to_str())
        .map(str::to_string);
    let keep = |_full: &Path, rel: &str, is_dir: bool| {
        Some(rel) == inside.as_deref() || rel == ".dockerignore" || !ignore.excluded(rel, is_dir)
    };
    let mut tar = TarBuilder::new();
    let mut listed = BTreeMap::new();
    walk_inputs(&mut tar, &root, &root, "", &keep, &mut listed)?;
    let name = match inside {
        Some(rel) => rel,
        None => {
            let name = ".fclayer.Dockerfile".to_string();
            tar.file_from_disk(&name, &dockerfile, false)?;
            name
        }
    };
    Ok((tar.finish()?, name))
}

/// `.dockerignore` rules: Go-style globs relative to the context (`*` stops at `/`, `**` spans
/// folders), a match on a folder excludes what is below it, `!` re-includes, the last matching
/// rule wins.
struct DockerIgnore {
    rules: Vec<(globset::GlobMatcher, bool)>,
}

impl DockerIgnore {
    fn load(root: &Path) -> Result<DockerIgnore> {
        let path = root.join(".dockerignore");
        let mut rules = Vec::new();
        if !path.is_file() {
            return Ok(DockerIgnore { rules });
        }
        let text = read_text(&path)?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::input(format!(
                        "{}:{}: bad pattern `{line}`: {e}",
                        path.display(),
                        i + 1
                    ))
                })?;
            rules.push((glob.compile_matcher(), exclude));
        }
        Ok(DockerIgnore { rules })
    }

    fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        let mut out = false;
        for (glob, exclude) in &self.rules {
            let hit = glob.is_match(rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob.is_match(&rel[..i]));
            if hit {
                out = *exclude;
            }
        }
        // Keep walking into an excluded folder when a later `!` rule might bring files back.
        if out && is_dir && self.rules.iter().any(|(_, ex)| !ex) {
            return false;
        }
        out
    }
}

fn walk_inputs(
    tar: &mut TarBuilder,
    root: &Path,
    dir: &Path,
    dest: &str,
    keep: &dyn Fn(&Path, &str, bool) -> bool,
    listed: &mut BTreeMap<String, String>,
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
        let meta = std::fs::symlink_metadata(&full).at("read", &full)?;
        let ft = meta.file_type();
        if !keep(&full, rel_str, ft.is_dir()) {
            continue;
        }
        let target_path = if dest.is_empty() {
            rel_str.to_string()
        } else {
            format!("{dest}/{rel_str}")
        };
        if ft.is_dir() {
            tar.dir(&target_path)?;
            walk_inputs(tar, root, &full, dest, keep, listed)?;
        } else if ft.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            let sha = tar.file_from_disk(&target_path, &full, exec)?;
            listed.insert(rel_str.to_string(), sha);
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

    #[test]
    fn kinds_are_detected_from_each_languages_project_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect_kinds(dir.path()).is_empty());
        std::fs::write(dir.path().join("requirements.txt"), "six\n").unwrap();
        std::fs::write(dir.path().join("apt.txt"), "curl\n").unwrap();
        std::fs::create_dir(dir.path().join("package.json")).unwrap();
        assert_eq!(
            detect_kinds(dir.path()),
            vec![Kind::Apt, Kind::Python],
            "a folder named package.json is not a project file"
        );
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
    fn dockerignore_follows_docker_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join(".dockerignore"),
            "# comment\n*.log\nbuild/\n**/secret.txt\n!build/keep.txt\n",
        )
        .unwrap();
        let ig = DockerIgnore::load(p).unwrap();
        assert!(ig.excluded("a.log", false));
        assert!(
            !ig.excluded("sub/a.log", false),
            "`*` does not cross folders"
        );
        assert!(ig.excluded("build/x.o", false));
        assert!(!ig.excluded("build/keep.txt", false));
        assert!(ig.excluded("deep/er/secret.txt", false));
        assert!(!ig.excluded("src/main.c", false));
    }

    #[test]
    fn docker_context_sends_the_dockerfile_even_if_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(p.join("big.bin"), "x").unwrap();
        std::fs::write(p.join(".dockerignore"), "Dockerfile\n*.bin\n").unwrap();
        let (tar, name) = docker_context(p, &p.join("Dockerfile")).unwrap();
        assert_eq!(name, "Dockerfile");
        let mut ar = tar::Archive::new(&tar[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![".dockerignore", "Dockerfile"]);
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
